"""The DCGAN plugin: the shared tester mixins plus what is specific to DCGAN."""

import pytest
import torch

from genzoo.modeling import resolution_plan
from genzoo.testing import GeneratorTesterMixin
from genzoo_gan import DCGANDiscriminator, DCGANGenerator


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
