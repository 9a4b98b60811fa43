"""genzoo-sngan's tests: genzoo's shared tester mixin with a tiny configuration, plus what is specific to SNGAN.

Run them with the plugin installed (`pip install -e .`), so that genzoo finds its entry point: `pytest`.
"""

import pytest
import torch
from genzoo import GenPipeline
from genzoo.testing import GeneratorTesterMixin
from torch import nn

from genzoo_sngan import SNGANDiscriminator, SNGANGenerator, SNGANPipeline, truncated_latents


class TestSNGAN(GeneratorTesterMixin):
    model_name = "sngan-example"
    model_args = {"latent_dim": 8, "image_size": 16, "num_channels": 1, "base_channels": 8}
    objective_args = {"discriminator": {"base_channels": 8}}


class TestSNGANRGBWithWGANGP(GeneratorTesterMixin):
    """The same model under another registered objective: WGAN-GP's gradient penalty through a spectrally
    normalised ResNet critic."""

    model_name = "sngan-example"
    model_args = {"latent_dim": 8, "image_size": 16, "num_channels": 3, "base_channels": 8}
    objective_name = "wgan-gp"
    objective_args = {"discriminator": {"base_channels": 8}, "n_critic": 2}


@pytest.mark.parametrize(("size", "blocks"), [(16, 2), (28, 2), (32, 3), (64, 4)])
def test_generator_and_critic_shapes(size, blocks):
    generator = SNGANGenerator(latent_dim=8, image_size=size, num_channels=3, base_channels=8)
    assert len(generator.blocks) == blocks
    images = generator(torch.randn(2, 8))
    assert images.shape == (2, 3, size, size)
    assert SNGANDiscriminator(image_size=size, num_channels=3, base_channels=8)(images).shape == (2,)


def test_every_critic_layer_is_spectrally_normalised():
    critic = SNGANDiscriminator(image_size=16, num_channels=1, base_channels=8)
    layers = [m for m in critic.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert len(layers) == 11  # 2 + 1 shortcut, 2 + 1 shortcut, 2, 2, linear
    assert all(nn.utils.parametrize.is_parametrized(layer, "weight") for layer in layers)


def test_bad_sizes_and_labels_are_refused():
    with pytest.raises(ValueError, match="image_size"):
        SNGANGenerator(image_size=8)
    with pytest.raises(ValueError, match="unconditional"):
        SNGANDiscriminator(num_classes=10)


def test_truncation_bounds_the_latents_and_stays_deterministic():
    model = SNGANGenerator(latent_dim=64, image_size=16, num_channels=1, base_channels=8).eval()
    latents = truncated_latents(model, 32, 0.5, torch.Generator().manual_seed(0))
    assert latents.shape == (32, 64) and latents.abs().max() <= 0.5
    again = truncated_latents(model, 32, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(latents, again)
    pipe = SNGANPipeline(model=model)
    truncated = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), truncation=0.5, output_type="pt")
    expected = pipe(latents=truncated_latents(model, 2, 0.5, torch.Generator().manual_seed(0)), output_type="pt")
    assert torch.equal(truncated.images, expected.images)
    with pytest.raises(ValueError, match="positive"):
        pipe(truncation=0.0)


def test_loads_as_the_registered_pipeline(tmp_path):
    pipe = SNGANPipeline(model=SNGANGenerator(latent_dim=8, image_size=16, num_channels=1, base_channels=8))
    pipe.save_pretrained(tmp_path)
    loaded = GenPipeline.from_pretrained(tmp_path)
    assert isinstance(loaded, SNGANPipeline)
    assert loaded(batch_size=1, truncation=1.0, output_type="np").images.shape == (1, 16, 16, 1)
