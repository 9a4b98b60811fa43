"""Adaptive discriminator augmentation (ADA) and LeCam regularisation: the transforms, p's controller, the LeCam
penalty against a hand computation, training steps for dcgan and cgan, and a bit-identical resume."""

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from genzoo import ModelRegistration
from genzoo.cli import main
from genzoo.errors import ConfigError
from genzoo.objectives import AdaptiveAugment, GANObjective, HingeObjective, LeCamAnchors, lecam_penalty
from genzoo.objectives.augment import ADA_AUGMENTATIONS, ada_augment, parse_ada_policy
from genzoo.registry import get_model
from genzoo.training import train
from genzoo_gan.modeling_dcgan import DCGANGenerator

GEOMETRIC = ("xflip", "rotate90", "translation")
COLOUR = ("brightness", "contrast", "saturation")


def images(batch: int = 8, channels: int = 3, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- the transforms -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ADA_AUGMENTATIONS))
def test_transform_keeps_shape_and_dtype_is_identity_at_p0_and_differentiable(name):
    transform = ADA_AUGMENTATIONS[name]
    x = images()
    assert torch.equal(transform(x, 0.0, seeded()), x)
    out = transform(x, 1.0, seeded())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.equal(out, x)
    assert torch.equal(out, transform(x, 1.0, seeded())), "the same generator gives the same augmentation"
    assert transform(x.bfloat16(), 1.0, seeded()).dtype == torch.bfloat16
    leaf = x.clone().requires_grad_(True)
    (transform(leaf, 1.0, seeded()) * torch.linspace(-1, 1, x.numel()).view_as(x)).sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all() and leaf.grad.abs().sum() > 0


@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometric_transforms_only_move_pixels(name):
    x = images()
    out = ADA_AUGMENTATIONS[name](x, 1.0, seeded())
    for before, after in zip(x, out, strict=True):  # every output pixel is one of the image's own pixels
        assert torch.isin(after.flatten(2).transpose(0, 1), before.flatten(2).transpose(0, 1)).all()
    assert out.min() >= x.min() and out.max() <= x.max()


def test_xflip_and_rotate90_draw_among_their_outcomes():
    x = images(batch=64)
    flipped = ADA_AUGMENTATIONS["xflip"](x, 1.0, seeded())
    assert torch.equal(flipped, x.flip(3))
    half = ADA_AUGMENTATIONS["xflip"](x, 0.5, seeded())
    is_flipped = [torch.equal(a, b.flip(2)) for a, b in zip(half, x, strict=True)]
    assert all(torch.equal(a, b) or f for a, b, f in zip(half, x, is_flipped, strict=True))
    assert 16 < sum(is_flipped) < 48
    rotated = ADA_AUGMENTATIONS["rotate90"](x, 1.0, seeded())
    turns = [
        next(k for k in range(4) if torch.equal(a, torch.rot90(b, k, dims=(1, 2))))
        for a, b in zip(rotated, x, strict=True)
    ]
    assert set(turns) == {0, 1, 2, 3}  # ADA draws one of the four quarter turns (0 included) when it applies


def test_translation_shifts_whole_pixels_with_reflected_edges():
    x = images(batch=16, size=32)
    out = ADA_AUGMENTATIONS["translation"](x, 1.0, seeded())
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")  # 0.125 of 32 px: shifts of up to 4 px each way
    shifts = []
    for i in range(len(x)):
        found = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if torch.equal(padded[i, :, dy : dy + 32, dx : dx + 32], out[i])
        ]
        assert found, f"image {i} is not a whole-pixel shift of its input"
        shifts.append(found[0])
    assert len(set(shifts)) > 4


def test_colour_transforms():
    x = images()
    out = ADA_AUGMENTATIONS["brightness"](x, 1.0, seeded())
    offsets = (out - x).flatten(1)
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets), atol=1e-6)  # one offset per image
    out = ADA_AUGMENTATIONS["contrast"](x, 1.0, seeded())
    factors = (out / x).flatten(1)
    assert torch.allclose(factors, factors[:, :1].expand_as(factors), atol=1e-4)  # one factor per image
    out = ADA_AUGMENTATIONS["saturation"](x, 1.0, seeded())
    assert torch.allclose(out.mean(1), x.mean(1), atol=1e-6)  # the grey value of every pixel stays
    grey = images(channels=1)
    assert torch.equal(ADA_AUGMENTATIONS["saturation"](grey, 1.0, seeded()), grey)


def test_the_random_stream_does_not_depend_on_p():
    policy = parse_ada_policy("blit,color")
    states = []
    for p in (0.0, 0.3, 1.0):
        generator = seeded()
        ada_augment(images(), p, policy, generator)
        states.append(generator.get_state())
    assert torch.equal(states[0], states[1]) and torch.equal(states[1], states[2])


def test_policy_parsing():
    assert parse_ada_policy(None) == GEOMETRIC + COLOUR
    assert parse_ada_policy("color, xflip") == ("xflip", *COLOUR)  # pipeline order, whatever the order named
    assert parse_ada_policy(["translation", "translation,blit"]) == GEOMETRIC
    with pytest.raises(ValueError, match=r"Unknown ADA transform 'hue'.*blit, color, xflip"):
        parse_ada_policy("xflip,hue")
    with pytest.raises(ValueError, match="No ADA transforms"):
        parse_ada_policy(" , ")
    with pytest.raises(ValueError, match="comma-separated string or a list of strings"):
        parse_ada_policy(3)


# --- p's controller --------------------------------------------------------------------------------------------------
class ConstantCritic(nn.Module):
    """A critic whose logit is `sign` for every image (plus a trainable offset that starts at 0)."""

    sign = 1.0

    def __init__(self, image_size: int, num_channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, images, class_labels=None):
        self.seen.append(images)
        return images.new_full((images.shape[0],), self.sign) + 0.0 * self.offset + 0.0 * images.mean()


def _objective(critic=ConstantCritic, **options):
    from accelerate import Accelerator

    torch.manual_seed(0)
    registration = ModelRegistration("constant", DCGANGenerator, "tests", discriminator_class=critic)
    model = DCGANGenerator(latent_dim=8, image_size=16, num_channels=3, base_channels=8)
    objective = GANObjective(model, registration, **options)
    objective.bind(Accelerator(cpu=True), objective.networks, objective.configure_optimizers())
    return objective


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_p_rises_while_the_discriminator_overfits_and_falls_otherwise(monkeypatch, sign):
    monkeypatch.setattr(ConstantCritic, "sign", sign)
    objective = _objective(ada_target=0.6, ada_kimg=0.1, ada_interval=2)  # 100 images take p from 0 to 1
    critic = objective.networks["discriminator"]
    critic.ada_p.fill_(0.5)
    ps = []
    for step in range(8):
        logs = objective.training_step({"pixel_values": images(batch=10)}, step, seeded(step))
        assert float(logs["ada_rt"]) == sign
        ps.append(float(critic.ada_p))
    # Every 2 updates p moves by 20 images / 100 images, up while r_t = 1 > 0.6, down while r_t = -1.
    expected = [0.5 + sign * 0.2 * ((step + 1) // 2) for step in range(8)]
    assert ps == pytest.approx([min(max(p, 0.0), 1.0) for p in expected])
    assert float(logs["ada_p"]) == pytest.approx(ps[-2])  # a step logs the p its update used


def test_ada_augments_what_the_discriminator_sees_once_p_is_up(monkeypatch):
    objective = _objective(ada_target=0.6, ada_augment="xflip")
    critic = objective.networks["discriminator"]
    real = images()
    objective.training_step({"pixel_values": real}, 0, seeded())
    assert critic.seen[0] is real  # p starts at 0: the images go through untouched
    critic.ada_p.fill_(1.0)
    critic.seen.clear()
    objective.training_step({"pixel_values": real}, 1, seeded())
    assert torch.equal(critic.seen[0], real.flip(3)) and len(critic.seen) == 3  # real and fake, then the G step


def test_adaptive_augment_refuses_bad_settings():
    for kwargs, message in [
        ({"target": 1.0}, "lie in"),
        ({"kimg": 0.0}, "ada_kimg must be a positive"),
        ({"interval": 0}, "ada_interval must be at least 1"),
    ]:
        settings = {"target": 0.6, "kimg": 10.0, "interval": 4, "policy": ("xflip",), **kwargs}
        with pytest.raises(ValueError, match=message):
            AdaptiveAugment(nn.Module(), **settings)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ada_target": 1.2}, "ada_target must lie strictly between 0 and 1"),
        ({"ada_target": float("nan")}, "ada_target must lie strictly between 0 and 1"),
        ({"ada_target": "high"}, "must be numbers"),
        ({"ada_target": 0.6, "ada_augment": "flip"}, r"ada_augment: Unknown ADA transform 'flip'"),
        ({"ada_target": 0.6, "ada_kimg": -1}, "ada_kimg must be a positive"),
        ({"ada_augment": "xflip"}, "ada_augment has no effect without objective_args.ada_target"),
        ({"lecam_weight": -0.1}, "lecam_weight must be a finite number >= 0"),
        ({"lecam_weight": 0.1, "lecam_decay": 1.0}, r"lecam_decay must lie in \[0, 1\)"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    model = DCGANGenerator(latent_dim=8, base_channels=8)
    with pytest.raises(ConfigError, match=message):
        GANObjective(model, get_model("dcgan"), discriminator={"base_channels": 8}, **options)


# --- LeCam -----------------------------------------------------------------------------------------------------------
def test_lecam_penalty_matches_a_hand_computation():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([-3.0, 1.0])
    # anchors α_R = 0.4, α_F = -0.2: real logits above -0.2 count, fake logits below 0.4 count.
    expected = ((2.2**2 + 0 + 0.7**2) / 3) + ((3.4**2 + 0) / 2)
    assert float(lecam_penalty(real, fake, torch.tensor(0.4), torch.tensor(-0.2))) == pytest.approx(expected)

    owner = nn.Module()
    anchors = LeCamAnchors(owner, decay=0.99)
    assert torch.equal(owner.lecam_anchors, torch.zeros(2))
    anchors.update(real, fake)  # from 0: α = 0.01 · mean
    assert owner.lecam_anchors.tolist() == pytest.approx([0.01 * 0.5, 0.01 * -1.0])
    anchors.update(real, fake)
    assert owner.lecam_anchors.tolist() == pytest.approx([0.0199 * 0.5, 0.0199 * -1.0])
    alpha_r, alpha_f = 0.0199 * 0.5, 0.0199 * -1.0
    by_hand = (
        sum(max(r - alpha_f, 0.0) ** 2 for r in real.tolist()) / 3
        + sum(max(alpha_r - f, 0.0) ** 2 for f in fake.tolist()) / 2
    )
    assert float(anchors.penalty(real, fake)) == pytest.approx(by_hand)


class LinearCritic(nn.Module):
    def __init__(self, image_size: int, num_channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.linear = nn.Linear(num_channels * image_size * image_size, 1)
        self.logits: list[torch.Tensor] = []

    def forward(self, images, class_labels=None):
        logits = self.linear(images.flatten(1)).flatten()
        self.logits.append(logits.detach())
        return logits


def test_lecam_is_added_to_the_discriminator_loss():
    plain, lecam = _objective(LinearCritic), _objective(LinearCritic, lecam_weight=0.3)
    batch = {"pixel_values": images()}
    logs = [objective.discriminator_step(batch["pixel_values"], None, seeded()) for objective in (plain, lecam)]
    assert "lecam_penalty" not in logs[0]
    real, fake = lecam.networks["discriminator"].logits[:2]
    anchor_real, anchor_fake = 0.01 * real.mean(), 0.01 * fake.mean()
    expected = F.relu(real - anchor_fake).pow(2).mean() + F.relu(anchor_real - fake).pow(2).mean()
    assert float(logs[1]["lecam_penalty"]) == pytest.approx(float(expected), rel=1e-5)
    assert torch.equal(logs[0]["loss_d"], logs[1]["loss_d"])  # the logged adversarial loss leaves penalties out
    assert lecam.networks["discriminator"].lecam_anchors.tolist() == pytest.approx(
        [float(anchor_real), float(anchor_fake)]
    )
    # The discriminators took different steps: the penalty's gradient reached the update.
    weights = [objective.networks["discriminator"].linear.weight for objective in (plain, lecam)]
    assert not torch.equal(weights[0], weights[1])


def test_every_adversarial_loss_takes_ada_and_lecam():
    objective = _objective(LinearCritic, ada_target=0.6, lecam_weight=0.1)
    assert isinstance(objective.ada, AdaptiveAugment) and isinstance(objective.lecam, LeCamAnchors)
    model = DCGANGenerator(latent_dim=8, base_channels=8)
    hinge = HingeObjective(
        model, get_model("dcgan"), ada_target=0.6, lecam_weight=0.1, discriminator={"base_channels": 8}
    )
    assert {"ada_p", "ada_signs", "lecam_anchors"} <= set(hinge.networks["discriminator"].state_dict())


# --- training runs ---------------------------------------------------------------------------------------------------
FAST_ADA = [
    "--set", "objective_args.ada_target=0.6", "--set", "objective_args.ada_kimg=0.01",
    "--set", "objective_args.ada_interval=1", "--set", "objective_args.lecam_weight=0.3",
]  # fmt: skip


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_training_with_ada_and_lecam_through_the_command_line(tmp_path, model):
    run = tmp_path / "run"
    main([
        "train", model, "--output-dir", str(run), "--max-steps", "3", "--batch-size", "8", "--seed", "0",
        "--sample-every", "0", "--checkpoint-every", "3", "--set", "log_every=1", "--set", "num_sample_images=4",
        "--set", "model_args.latent_dim=8", "--set", "model_args.base_channels=8",
        "--set", "objective_args.discriminator.base_channels=8", *FAST_ADA,
    ])  # fmt: skip
    rows = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "loss_d" in row]
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert all({"ada_p", "ada_rt", "lecam_penalty"} <= set(row) for row in rows)
    discriminator = load_file(run / "checkpoints" / "step_000003" / "model_1.safetensors")
    assert 0.0 <= float(discriminator["ada_p"]) <= 1.0
    assert float(discriminator["lecam_anchors"].abs().sum()) > 0
    assert (run / "model_index.json").is_file()


def test_resume_with_ada_and_lecam_matches_an_uninterrupted_run(tiny_train_config, tmp_path):
    objective_args = {
        "discriminator": {"base_channels": 8},
        "ada_target": 0.6,
        "ada_kimg": 0.02,  # 8 images a step: p moves by 0.4 every two steps
        "ada_interval": 2,  # a checkpoint at step 3 falls inside an interval, with signs summed but p not moved
        "lecam_weight": 0.3,
    }

    def config(name: str, steps: int, **extra):
        return tiny_train_config(output_dir=str(tmp_path / name), max_steps=steps, checkpoint_every=3,
                                 objective_args=objective_args, **extra)  # fmt: skip

    straight = train(config("straight", 6))
    train(config("resumed", 3))
    resumed = train(config("resumed", 6, resume="latest"))
    for name in ("model.safetensors", "model_1.safetensors"):
        a, b = (load_file(run / "checkpoints" / "step_000006" / name) for run in (straight, resumed))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[key], b[key]) for key in a), name
    discriminator = load_file(straight / "checkpoints" / "step_000006" / "model_1.safetensors")
    halfway = load_file(straight / "checkpoints" / "step_000003" / "model_1.safetensors")
    assert float(halfway["ada_signs"][2]) == 1  # one update into an interval at the checkpoint
    assert float(discriminator["ada_p"]) > 0, "p moved, so the test covers its resume"
    logs = [[json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
            for run in (straight, resumed)]  # fmt: skip
    assert [row.get("ada_p") for row in logs[0]] == [row.get("ada_p") for row in logs[1]]


def test_infogan_feeds_ada_and_lecam_and_pix2pix_refuses_them():
    from accelerate import Accelerator

    from genzoo_infogan.modeling_infogan import InfoGANGenerator
    from genzoo_infogan.objectives import InfoGANObjective
    from genzoo_pix2pix.objectives import Pix2PixObjective

    model = InfoGANGenerator(noise_dim=8, base_channels=8, hidden_dim=16, q_hidden_dim=8)
    objective = InfoGANObjective(model, get_model("infogan"), ada_target=0.6, lecam_weight=0.3, cluster_warmup_steps=0)
    objective.bind(Accelerator(cpu=True), objective.networks, objective.configure_optimizers())
    real = torch.rand(8, 1, 28, 28, generator=seeded()) * 2 - 1
    logs = objective.training_step({"pixel_values": real}, 0, seeded())
    assert {"ada_p", "ada_rt", "lecam_penalty", "loss_g", "info_loss"} <= set(logs)
    assert float(objective.networks["discriminator"].lecam_anchors.abs().sum()) > 0

    pix2pix = get_model("pix2pix")
    with pytest.raises(ConfigError, match=r"does not support objective_args\.ada_target or lecam_weight"):
        Pix2PixObjective(pix2pix.generator_class(), pix2pix, lecam_weight=0.3)
