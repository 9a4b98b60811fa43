"""The DCGAN plugin: the shared tester mixins plus what is specific to DCGAN."""

import pytest
import torch

from genzoo.config import resolve_train_config
from genzoo.modeling import resolution_plan
from genzoo.registry import get_model, get_objective
from genzoo.testing import GeneratorTesterMixin
from genzoo_gan import TRAINING_DEFAULTS, DCGANDiscriminator, DCGANGenerator


class TestDCGAN(GeneratorTesterMixin):
    model_name = "dcgan"
    model_args = {"latent_dim": 8, "image_size": 28, "num_channels": 1, "base_channels": 8}
    objective_args = {"discriminator": {"base_channels": 8}}


class TestDCGANRGB32(GeneratorTesterMixin):
    model_name = "dcgan"
    model_args = {"latent_dim": 8, "image_size": 32, "num_channels": 3, "base_channels": 8}
    objective_args = {"discriminator": {"base_channels": 8}}


@pytest.mark.parametrize(("size", "expected"), [(28, (7, 2)), (32, (4, 3)), (64, (4, 4)), (48, (6, 3))])
def test_resolution_plan(size, expected):
    assert resolution_plan(size) == expected


@pytest.mark.parametrize("size", [30, 3, 100, 8 * 9])
def test_unsupported_sizes_are_refused(size):
    with pytest.raises(ValueError, match="image_size"):
        DCGANGenerator(image_size=size)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_generator_and_discriminator_shapes(size):
    generator = DCGANGenerator(latent_dim=16, image_size=size, num_channels=3, base_channels=8)
    discriminator = DCGANDiscriminator(image_size=size, num_channels=3, base_channels=8)
    images = generator(torch.randn(2, 16))
    assert images.shape == (2, 3, size, size)
    assert discriminator(images).shape == (2,)


def test_discriminator_norm_options():
    for norm, kind in (("batch", torch.nn.BatchNorm2d), ("layer", torch.nn.GroupNorm)):
        discriminator = DCGANDiscriminator(base_channels=8, norm=norm)
        assert any(isinstance(m, kind) for m in discriminator.modules())
    plain = DCGANDiscriminator(base_channels=8, norm="none")
    assert not any(isinstance(m, torch.nn.BatchNorm2d | torch.nn.GroupNorm) for m in plain.modules())
    with pytest.raises(ValueError, match="norm"):
        DCGANDiscriminator(norm="instance")


def _default_objective(tmp_path, **values):
    """The run config of `genzoo train dcgan --output-dir X` (plus `values`) and the objective it builds, on a tiny
    generator."""
    config = resolve_train_config({"model": "dcgan", "output_dir": str(tmp_path), **values})
    registration = get_model("dcgan")
    model = DCGANGenerator(latent_dim=8, base_channels=8)
    return config, get_objective(config.objective).obj(model, registration, **config.objective_args)


def test_the_main_job_trains_the_hinge_recipe_with_a_spectral_norm_critic(tmp_path):
    """The README's main job: hinge loss, a spectral-norm critic without batch norm, lr 2e-3, betas (0, 0.9) and an
    EMA generator for 1,750 steps, in bf16 where the CPU computes it natively (docs/models/dcgan.md: FID ≤ 1.7 and
    every digit at least 5 % of the samples over five seeds)."""
    config, objective = _default_objective(tmp_path)
    assert config.objective == "hinge" and type(objective).__name__ == "HingeObjective"
    assert config.max_steps == TRAINING_DEFAULTS["max_steps"] == 1750 and config.ema_decay == 0.999
    assert config.mixed_precision == "auto"
    assert (objective.lr, objective.lr_d, objective.betas) == (2e-3, 2e-3, (0.0, 0.9))
    critic = objective.networks["discriminator"]
    assert config.objective_args["discriminator"] == {"base_channels": 32, "norm": "none"}
    assert not any(isinstance(m, torch.nn.BatchNorm2d | torch.nn.GroupNorm) for m in critic.modules())
    convolutions = [m for m in critic.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convolutions)


def test_other_objectives_keep_their_own_settings(tmp_path):
    """The recipe was tuned for the hinge loss: `--objective gan` trains the DCGAN paper's setting (lr 2e-4, betas
    (0.5, 0.999), a batch-norm critic without spectral norm), and keeps the family's critic width."""
    config, objective = _default_objective(tmp_path, objective="gan")
    assert type(objective).__name__ == "GANObjective"
    assert (objective.lr, objective.betas) == (2e-4, (0.5, 0.999))
    assert config.objective_args == {"discriminator": {"base_channels": 32}}
    critic = objective.networks["discriminator"]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in critic.modules())
