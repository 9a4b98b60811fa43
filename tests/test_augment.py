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


def test_translation_stays_within_the_bound_in_bfloat16():
    """Shifts are drawn in float32: in bfloat16 a draw just below 1 rounds to 1.0 and overshot the bound by a pixel.
    Each image holds its column index in channel 0 and its row index in channel 1 (exact in bfloat16), so the value
    at the centre gives the shift."""
    batch, size = 4096, 16  # 8192 draws: a few of them lie within bfloat16's rounding distance of 1
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    x = torch.stack([cols, rows]).to(torch.bfloat16).expand(batch, 2, size, size).contiguous()
    out = translation(x, seeded())
    assert out.dtype == torch.bfloat16
    centre = size // 2
    shift_x = centre - out[:, 0, centre, centre].float()
    shift_y = centre - out[:, 1, centre, centre].float()
    for shift in (shift_x, shift_y):
        assert torch.equal(shift, shift.round()), "whole-pixel shifts, no blending"
        assert shift.abs().max() <= 2, "at most 1/8 of 16 pixels"
        assert set(shift.tolist()) == {-2.0, -1.0, 0.0, 1.0, 2.0}
    # The same generator gives the same shifts in float32 and bfloat16.
    torch.testing.assert_close(translation(x.float(), seeded()), out.float())


def test_other_transforms_keep_bfloat16():
    x = images(channels=3).to(torch.bfloat16)
    for transform in (brightness, saturation, contrast, cutout):
        assert transform(x, seeded()).dtype == torch.bfloat16


def test_policy_parsing():
    assert parse_policy(None) == () and parse_policy(" translation , cutout ") == ("translation", "cutout")
    # A YAML list (`augment: [translation, cutout]`) or a tuple works too.
    assert parse_policy(["translation", " cutout"]) == ("translation", "cutout")
    assert parse_policy(("color",)) == ("color",) and parse_policy([]) == ()
    with pytest.raises(ValueError, match=r"Unknown augmentation 'flip'.*color, translation, cutout"):
        parse_policy("translation,flip")
    with pytest.raises(ValueError, match=r"Unknown augmentation 'flip'"):
        parse_policy(["translation", "flip"])
    for bad in (3, True, {"translation": 1}, ["translation", 2]):
        with pytest.raises(ValueError, match="comma-separated string or a list of strings"):
            parse_policy(bad)
    model = DCGANGenerator(latent_dim=8, base_channels=8)
    with pytest.raises(ConfigError, match=r"objective_args\.augment: Unknown augmentation 'flip'"):
        GANObjective(model, get_model("dcgan"), augment="flip", discriminator={"base_channels": 8})
    with pytest.raises(ConfigError, match=r"objective_args\.augment: expected augmentation names"):
        GANObjective(model, get_model("dcgan"), augment=5, discriminator={"base_channels": 8})
    objective = GANObjective(
        model, get_model("dcgan"), augment=["translation", "cutout"], discriminator={"base_channels": 8}
    )
    assert objective.augment == ("translation", "cutout")
