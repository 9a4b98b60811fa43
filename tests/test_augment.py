"""DiffAugment for adversarial objectives: each augmentation's effect, determinism, gradients, configuration."""

import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.registry import get_model
from genzoo_gan import GANObjective
from genzoo_gan.augment import brightness, contrast, cutout, diff_augment, parse_policy, saturation, translation
from genzoo_gan.modeling_dcgan import DCGANGenerator


def images(batch: int = 6, channels: int = 1, size: int = 16) -> torch.Tensor:
    return torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_translation_moves_whole_pixels_and_repeats_the_edge():
    x = images()
    out = translation(x, seeded())
    for original, moved in zip(x, out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.allclose(moved[:, 4:12, 4:12], original[:, 4 - dy : 12 - dy, 4 - dx : 12 - dx], atol=1e-6)
        ]
        assert len(matches) == 1, "every image is an exact whole-pixel shift of at most 1/8 of its size"
    # a shift never brings in values from outside the image
    assert out.min() >= x.min() - 1e-6 and out.max() <= x.max() + 1e-6


def test_cutout_zeroes_one_square_of_half_the_size():
    x = torch.ones(64, 1, 16, 16)
    zeroed = (cutout(x, seeded()) == 0).sum(dim=(1, 2, 3))
    assert zeroed.max() == 64  # an 8 x 8 square fully inside
    assert (zeroed > 0).all() and (zeroed <= 64).all()


def test_colour_transforms():
    x = images(channels=3)
    offset = brightness(x, seeded()) - x
    assert torch.allclose(offset, offset[:, :1, :1, :1].expand_as(offset), atol=1e-6)  # one offset per image
    assert offset.abs().max() <= 0.5
    grey = images(channels=1)
    assert torch.equal(saturation(grey, seeded()), grey)
    stretched = contrast(x, seeded())
    assert torch.allclose(stretched.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5)  # the mean is kept


def test_same_generator_same_augmentation_and_gradients_flow():
    x = images().requires_grad_(True)
    policy = parse_policy("color,translation,cutout")
    first, second = diff_augment(x, policy, seeded(3)), diff_augment(x, policy, seeded(3))
    assert torch.equal(first, second)
    assert not torch.equal(first, diff_augment(x, policy, seeded(4)))
    first.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_policy_parsing():
    assert parse_policy(None) == () and parse_policy(" translation , cutout ") == ("translation", "cutout")
    with pytest.raises(ValueError, match=r"Unknown augmentation 'flip'.*color, translation, cutout"):
        parse_policy("translation,flip")
    model = DCGANGenerator(latent_dim=8, base_channels=8)
    with pytest.raises(ConfigError, match=r"objective_args\.augment: Unknown augmentation 'flip'"):
        GANObjective(model, get_model("dcgan"), augment="flip", discriminator={"base_channels": 8})
