"""DiffAugment for adversarial objectives: each augmentation's effect, determinism, gradients, configuration, and
its wiring into both updates of the adversarial objectives (and a training run through the command line)."""

import json

import pytest
import torch
from torch import nn

import genzoo.objectives.adversarial
from genzoo import ModelRegistration
from genzoo.cli import main
from genzoo.errors import ConfigError
from genzoo.objectives import GANObjective
from genzoo.objectives.augment import brightness, contrast, cutout, diff_augment, parse_policy, saturation, translation
from genzoo.registry import get_model
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


# --- wiring into the adversarial objectives ---------------------------------------------------------------------
class RecordingCritic(nn.Module):
    """A linear critic that records every batch it sees and whether it was being trained at the time."""

    def __init__(self, image_size: int, num_channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.linear = nn.Linear(num_channels * image_size * image_size, 1)
        self.seen: list[tuple[torch.Tensor, bool]] = []

    def forward(self, images, class_labels=None):
        self.seen.append((images, self.linear.weight.requires_grad))
        return self.linear(images.flatten(1)).flatten()


def _recording_objective(augment, n_critic=1):
    from accelerate import Accelerator

    torch.manual_seed(0)
    registration = ModelRegistration("recording", DCGANGenerator, "tests", discriminator_class=RecordingCritic)
    model = DCGANGenerator(latent_dim=8, image_size=28, num_channels=1, base_channels=8)
    objective = GANObjective(model, registration, augment=augment, n_critic=n_critic)
    objective.bind(Accelerator(cpu=True), objective.networks, objective.configure_optimizers())
    return objective


@pytest.fixture
def augment_spy(monkeypatch):
    """Replace `diff_augment` where the objectives call it; record each call's input, output and policy."""
    calls: list[dict] = []

    def spy(images, policy, generator):
        out = diff_augment(images, policy, generator)
        calls.append({"input": images, "output": out, "policy": policy})
        return out

    monkeypatch.setattr(genzoo.objectives.adversarial, "diff_augment", spy)
    return calls


def test_both_updates_show_the_discriminator_augmented_images(augment_spy):
    objective = _recording_objective("translation,cutout")
    critic = objective.networks["discriminator"]
    real = torch.ones(4, 1, 28, 28)  # cutout leaves exact zeros in an all-ones image
    logs = objective.training_step({"pixel_values": real}, 0, torch.Generator().manual_seed(0))
    assert "loss_g" in logs

    # Three augmentations: real and fake for the discriminator update, fake again for the generator update.
    assert len(augment_spy) == 3 and all(call["policy"] == ("translation", "cutout") for call in augment_spy)
    assert augment_spy[0]["input"] is real
    # The critic saw exactly the augmented batches, in order: two while trained, one while frozen.
    assert len(critic.seen) == 3
    for call, (seen, _) in zip(augment_spy, critic.seen, strict=True):
        assert seen is call["output"]
        assert not torch.equal(seen, call["input"]), "augmentation changed the images"
    assert [trained for _, trained in critic.seen] == [True, True, False]
    assert ((critic.seen[0][0] == 0).flatten(1).sum(1) > 0).all(), "every real image has a cutout square"
    # Discriminator update: detached fakes; generator update: the fakes carry the generator's graph through the
    # augmentation.
    assert not augment_spy[1]["input"].requires_grad
    assert augment_spy[2]["input"].requires_grad and augment_spy[2]["output"].requires_grad
    # Each call draws its own parameters: the two batches of fakes are not cut in the same places.
    holes = [(call["output"] == 0) for call in augment_spy[1:]]
    assert not torch.equal(holes[0], holes[1])


def test_augmentation_per_update_follows_n_critic(augment_spy):
    objective = _recording_objective("translation", n_critic=2)
    counts = []
    for step in range(4):
        before = len(augment_spy)
        objective.training_step({"pixel_values": torch.rand(4, 1, 28, 28) * 2 - 1}, step, torch.Generator())
        counts.append(len(augment_spy) - before)
    assert counts == [2, 3, 2, 3]  # real + fake every step, plus the generator's fakes on every second step


def test_no_policy_shows_the_discriminator_plain_images():
    objective = _recording_objective(None)
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    objective.training_step({"pixel_values": real}, 0, torch.Generator().manual_seed(0))
    assert objective.networks["discriminator"].seen[0][0] is real


@pytest.mark.parametrize("augment", ["translation,cutout", "[translation, cutout]"])
def test_training_with_augmentation_through_the_command_line(tmp_path, augment_spy, augment):
    run = tmp_path / "run"
    main([
        "train", "dcgan", "--output-dir", str(run), "--max-steps", "2", "--batch-size", "4", "--seed", "0",
        "--sample-every", "0", "--checkpoint-every", "0",
        "--set", "model_args.latent_dim=8", "--set", "model_args.base_channels=8",
        "--set", "objective_args.discriminator.base_channels=8", "--set", "log_every=1",
        "--set", "num_sample_images=4", "--set", f"objective_args.augment={augment}",
    ])  # fmt: skip
    assert len(augment_spy) == 6  # two steps, three augmented batches each
    assert all(call["policy"] == ("translation", "cutout") for call in augment_spy)
    rows = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "loss_d" in row] == [1, 2]
    assert all("loss_g" in row for row in rows if "loss_d" in row)
    assert (run / "model_index.json").is_file()
