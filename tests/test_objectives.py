"""The adversarial objectives (gan, hinge, wgan-gp) and their options (R1, spectral norm, n_critic), checked against
their written-out definitions, hand-computed penalties on critics with known input gradients, and real training
runs through the command line. (WGAN-GP and R1 under two DDP processes: `test_two_processes_with_accelerate_launch`
in test_training.py, and `bench/check_ddp_penalties.py` for weights kept identical across processes.)"""

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn

from genzoo import ModelRegistration, hookimpl
from genzoo.cli import main
from genzoo.errors import ConfigError
from genzoo.objectives import AdversarialObjective, GANObjective, HingeObjective, WGANGPObjective, apply_spectral_norm
from genzoo.registry import get_model, get_objective
from genzoo.training import train
from genzoo_gan import DCGANGenerator

TINY_DISCRIMINATOR = {"base_channels": 8}


def tiny_generator() -> DCGANGenerator:
    torch.manual_seed(0)
    return DCGANGenerator(latent_dim=8, image_size=28, num_channels=1, base_channels=8)


def dcgan_objective(name: str, **options):
    options.setdefault("discriminator", dict(TINY_DISCRIMINATOR))
    return get_objective(name).obj(tiny_generator(), get_model("dcgan"), **options)


class LinearCritic(nn.Module):
    """D(x) = ⟨w, x⟩ + b: its input gradient is w for every image."""

    def __init__(self, image_size: int, num_channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.linear = nn.Linear(num_channels * image_size * image_size, 1)

    def forward(self, images, class_labels=None):
        return self.linear(images.flatten(1)).flatten()


class QuadraticCritic(nn.Module):
    """D(x) = a/2 · ‖x‖²: its input gradient is a·x, so the penalties depend on `a` through the input gradient."""

    def __init__(self, image_size: int, num_channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.7))

    def forward(self, images, class_labels=None):
        return 0.5 * self.a * images.flatten(1).pow(2).sum(1)


def critic_objective(objective_class, critic_class, **options):
    registration = ModelRegistration("critic-test", DCGANGenerator, "tests", discriminator_class=critic_class)
    return objective_class(tiny_generator(), registration, **options)


# --- loss formulas on fixed logits ------------------------------------------------------------------------------
REAL = torch.tensor([2.0, -1.0, 0.5, 30.0])
FAKE = torch.tensor([-0.5, 1.5, 0.0, -30.0])


def _mean(values):
    return sum(values) / len(values)


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize(
    ("name", "expected_d", "expected_g"),
    [
        (  # minimax: -E[log D(x)] - E[log(1 - D(G(z)))]; non-saturating generator: -E[log D(G(z))]
            "gan",
            -_mean([math.log(_sigmoid(r)) for r in REAL.tolist()])
            - _mean([math.log(1 - _sigmoid(f)) for f in FAKE.tolist()]),
            -_mean([math.log(_sigmoid(f)) if f > -20 else f for f in FAKE.tolist()]),  # log σ(f) ≈ f far below 0
        ),
        (  # E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; generator: -E[D(G(z))]
            "hinge",
            _mean([max(0.0, 1 - r) for r in REAL.tolist()]) + _mean([max(0.0, 1 + f) for f in FAKE.tolist()]),
            -_mean(FAKE.tolist()),
        ),
        (  # critic: E[D(G(z))] - E[D(x)]; generator: -E[D(G(z))]
            "wgan-gp",
            _mean(FAKE.tolist()) - _mean(REAL.tolist()),
            -_mean(FAKE.tolist()),
        ),
    ],
)
def test_losses_match_their_definitions(name, expected_d, expected_g):
    objective = dcgan_objective(name)
    loss_d = objective.discriminator_loss(REAL, FAKE)
    loss_g = objective.generator_loss(FAKE)
    assert torch.isfinite(loss_d) and torch.isfinite(loss_g)  # saturated logits (±30) stay finite
    assert loss_d.item() == pytest.approx(expected_d, rel=1e-5)
    assert loss_g.item() == pytest.approx(expected_g, rel=1e-5)


def test_gan_generator_loss_is_non_saturating():
    """-log D(G(z)) keeps a strong gradient where the discriminator confidently rejects fakes, unlike
    log(1 - D(G(z)))."""
    objective = dcgan_objective("gan")
    fake = torch.tensor([-8.0], requires_grad=True)
    objective.generator_loss(fake).backward()
    assert fake.grad.item() == pytest.approx(-(1 - _sigmoid(-8.0)), rel=1e-5)  # ≈ -1, not ≈ -σ(-8) ≈ -3e-4


@pytest.mark.parametrize(("name", "objective_class"), [("gan", GANObjective), ("hinge", HingeObjective)])
def test_objective_defaults(name, objective_class):
    objective = dcgan_objective(name)
    assert type(objective) is objective_class
    assert (objective.lr, objective.lr_d, objective.betas, objective.n_critic) == (2e-4, 2e-4, (0.5, 0.999), 1)
    assert objective.gradient_penalty == 0 and objective.r1_gamma == 0
    assert any(isinstance(m, nn.BatchNorm2d) for m in objective.networks["discriminator"].modules())


def test_integer_betas_from_the_command_line_train():
    """`--set objective_args.betas=[0,0.9]` gives an int and a float, which torch's Adam refuses unless cast."""
    objective = dcgan_objective("hinge", betas=[0, 0.9])
    assert objective.betas == (0.0, 0.9) and all(type(beta) is float for beta in objective.betas)
    optimizers = objective.configure_optimizers()
    assert optimizers["model"].param_groups[0]["betas"] == (0.0, 0.9)
    with pytest.raises(ConfigError, match="betas must be two numbers"):
        dcgan_objective("hinge", betas=["fast", 0.9])


def test_wgan_gp_defaults_follow_the_paper():
    objective = dcgan_objective("wgan-gp")
    assert (objective.lr, objective.betas, objective.n_critic, objective.gradient_penalty) == (1e-4, (0.0, 0.9), 5, 10)
    critic = objective.networks["discriminator"]
    assert any(isinstance(m, nn.GroupNorm) for m in critic.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    optimizers = objective.configure_optimizers()
    assert optimizers["discriminator"].defaults["lr"] == 1e-4
    assert optimizers["model"].defaults["betas"] == (0.0, 0.9)


def test_options_override_defaults():
    objective = dcgan_objective("hinge", lr=1e-3, lr_d=4e-3, betas=[0.0, 0.99], n_critic=2)
    optimizers = objective.configure_optimizers()
    assert optimizers["model"].defaults["lr"] == 1e-3 and optimizers["discriminator"].defaults["lr"] == 4e-3
    assert optimizers["model"].defaults["betas"] == (0.0, 0.99) and objective.n_critic == 2


@pytest.mark.parametrize("options", [{"n_critic": 0}, {"lr": 0}, {"lr_d": -1.0}, {"betas": [0.5]}])
def test_bad_options_are_refused(options):
    with pytest.raises(ConfigError, match="n_critic"):
        dcgan_objective("gan", **options)


# --- gradient penalty and R1 against hand computations ------------------------------------------------------------
def test_penalties_on_a_linear_critic():
    """A linear critic's input gradient is its weight w everywhere: GP = (‖w‖ - 1)², R1 = ‖w‖²."""
    objective = critic_objective(WGANGPObjective, LinearCritic)
    critic = objective.networks["discriminator"]
    with torch.no_grad():
        critic.linear.weight.copy_(torch.linspace(-0.1, 0.1, 28 * 28)[None])
    norm = critic.linear.weight.norm().item()
    real, fake = torch.rand(5, 1, 28, 28) * 2 - 1, torch.rand(5, 1, 28, 28) * 2 - 1
    penalty = objective.wgan_gradient_penalty(real, fake, None, torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    assert objective.r1_penalty(real, None).item() == pytest.approx(norm**2, rel=1e-5)
    # Double backward: d/dw (‖w‖ - 1)² = 2 (‖w‖ - 1) w / ‖w‖.
    penalty.backward()
    expected = 2 * (norm - 1) * critic.linear.weight / norm
    torch.testing.assert_close(critic.linear.weight.grad, expected.detach(), rtol=1e-4, atol=1e-7)


def test_penalties_on_a_quadratic_critic_use_the_interpolates():
    """D(x) = a/2 ‖x‖² has input gradient a·x, so the penalties see which points they are taken at: R1 at the real
    images, the gradient penalty at x̂ = α·real + (1 - α)·fake with α ~ U(0, 1) per sample."""
    objective = critic_objective(WGANGPObjective, QuadraticCritic)
    a = objective.networks["discriminator"].a
    real, fake = torch.randn(6, 1, 28, 28), torch.randn(6, 1, 28, 28)

    alpha = torch.rand(6, 1, 1, 1, generator=torch.Generator().manual_seed(3))
    norms = (alpha * real + (1 - alpha) * fake).flatten(1).norm(dim=1)
    penalty = objective.wgan_gradient_penalty(real, fake, None, torch.Generator().manual_seed(3))
    assert penalty.item() == pytest.approx(((a.item() * norms - 1) ** 2).mean().item(), rel=1e-5)
    penalty.backward()  # d/da E[(a‖x̂‖ - 1)²] = E[2 (a‖x̂‖ - 1) ‖x̂‖]
    assert a.grad.item() == pytest.approx((2 * (a.item() * norms - 1) * norms).mean().item(), rel=1e-4)

    a.grad = None
    real_norms_sq = real.flatten(1).pow(2).sum(1)
    r1 = objective.r1_penalty(real, None)
    assert r1.item() == pytest.approx((a.item() ** 2 * real_norms_sq).mean().item(), rel=1e-5)
    r1.backward()  # d/da E[a² ‖x‖²] = 2a E[‖x‖²]
    assert a.grad.item() == pytest.approx(2 * a.item() * real_norms_sq.mean().item(), rel=1e-4)


def _bound(objective):
    """An objective bound to a CPU accelerator without preparing (enough for training_step in one process)."""
    from accelerate import Accelerator

    objective.bind(Accelerator(cpu=True), objective.networks, objective.configure_optimizers())
    return objective


def test_training_step_adds_weighted_penalties_to_the_discriminator_loss():
    """One discriminator update with plain SGD: the weight moves by lr · ∇(loss_d + λ·GP + γ/2·R1), where the
    penalty gradients of a linear critic are known in closed form."""
    objective = _bound(critic_objective(GANObjective, LinearCritic, gradient_penalty=3.0, r1_gamma=4.0))
    critic = objective.networks["discriminator"]
    objective.optimizers["discriminator"] = torch.optim.SGD(critic.parameters(), lr=1.0)
    objective.n_critic = 2  # no generator update at step 0
    w, b = critic.linear.weight.detach().clone(), critic.linear.bias.detach().clone()
    norm = w.norm()
    real = torch.rand(4, 1, 28, 28) * 2 - 1

    logs = objective.training_step({"pixel_values": real}, 0, torch.Generator().manual_seed(0))
    assert "loss_g" not in logs
    assert logs["gradient_penalty"].item() == pytest.approx(((norm - 1) ** 2).item(), rel=1e-5)
    assert logs["r1_penalty"].item() == pytest.approx((norm**2).item(), rel=1e-5)
    # Replay the fakes from the same generator stream to get the adversarial part of the gradient.
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        fake = objective.networks["model"](objective._latents(4, generator, real.device))
    w_param = w.clone().requires_grad_(True)
    adversarial = objective.discriminator_loss(
        (real.flatten(1) @ w_param.T + b).flatten(), (fake.flatten(1) @ w_param.T + b).flatten()
    )
    (adversarial_grad,) = torch.autograd.grad(adversarial, w_param)
    penalty_grad = 3.0 * 2 * (norm - 1) * w / norm + 0.5 * 4.0 * 2 * w
    expected = w - (adversarial_grad + penalty_grad)
    torch.testing.assert_close(critic.linear.weight.detach(), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("reuse_fakes", "n_critic", "step", "generator_calls"), [
    (False, 1, 0, 2), (True, 1, 0, 1), (True, 2, 0, 1), (True, 2, 1, 1),
])  # fmt: skip
def test_reuse_fakes_generates_once_and_scores_the_same_images_in_both_updates(
    reuse_fakes, n_critic, step, generator_calls
):
    objective = _bound(dcgan_objective("hinge", reuse_fakes=reuse_fakes, n_critic=n_critic))
    model, critic = objective.networks["model"], objective.networks["discriminator"]
    generated, scored = [], []
    model.register_forward_hook(lambda module, args, output: generated.append(output.requires_grad))
    critic.register_forward_hook(lambda module, args, output: scored.append(args[0].detach().clone()))
    logs = objective.training_step({"pixel_values": torch.rand(4, 1, 28, 28) * 2 - 1}, step, torch.Generator())
    assert len(generated) == generator_calls
    assert ("loss_g" in logs) == ((step + 1) % n_critic == 0)
    if "loss_g" in logs:  # real, fakes in the discriminator update, fakes in the generator update
        assert torch.equal(scored[1], scored[2]) == reuse_fakes
        assert generated[-1]  # the generator update's images carry their graph
    else:  # no generator update: the fakes are made without a graph, as without reuse_fakes
        assert generated == [False]


def test_reuse_fakes_must_be_a_boolean():
    with pytest.raises(ConfigError, match="reuse_fakes must be true or false"):
        dcgan_objective("hinge", reuse_fakes="yes")


def test_penalties_default_to_layer_norm_and_refuse_batch_norm():
    with_r1 = dcgan_objective("gan", r1_gamma=1.0).networks["discriminator"]
    assert any(isinstance(m, nn.GroupNorm) for m in with_r1.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in with_r1.modules())
    for name, options in (("wgan-gp", {}), ("gan", {"r1_gamma": 1.0}), ("hinge", {"gradient_penalty": 1.0})):
        with pytest.raises(ConfigError, match=r"batch norm.*objective_args\.discriminator\.norm=layer"):
            dcgan_objective(name, discriminator={**TINY_DISCRIMINATOR, "norm": "batch"}, **options)


def test_wgan_gp_refuses_batch_norm_on_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main([
            "train", "dcgan", "--objective", "wgan-gp", "--output-dir", str(tmp_path / "run"), "--max-steps", "1",
            "--set", "objective_args.discriminator.norm=batch",
        ])  # fmt: skip
    assert excinfo.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]  # earlier lines: dataset progress bars
    assert error.startswith("genzoo: error: ") and "batch norm" in error and "norm=layer" in error


def test_discriminator_options_are_checked():
    with pytest.raises(
        ConfigError,
        match=r"unknown key\(s\) channels for DCGANDiscriminator. Did you mean 'base_channels'\? Valid: base_channels",
    ):
        dcgan_objective("gan", discriminator={"channels": 8})
    with pytest.raises(ConfigError, match="norm must be"):
        dcgan_objective("gan", discriminator={"norm": "instance"})


def test_objective_defaults_skip_options_a_discriminator_does_not_take():
    """WGAN-GP's layer-norm default only applies to discriminators with a `norm` argument."""
    objective = critic_objective(WGANGPObjective, LinearCritic)
    assert isinstance(objective.networks["discriminator"], LinearCritic)


def test_a_model_without_discriminator_is_refused():
    registration = ModelRegistration("no-critic", DCGANGenerator, "tests")
    with pytest.raises(ConfigError, match="no discriminator"):
        GANObjective(tiny_generator(), registration)


# --- spectral norm ------------------------------------------------------------------------------------------------
def _largest_singular_value(module: nn.Module) -> float:
    weight = module.weight.detach()  # the normalised weight, as the forward pass uses it
    dim = 1 if isinstance(module, nn.ConvTranspose2d) else 0  # torch's convention for the reshaped matrix
    matrix = weight.movedim(dim, 0).reshape(weight.shape[dim], -1)
    return torch.linalg.matrix_norm(matrix, ord=2).item()


def test_spectral_norm_wraps_every_layer_and_bounds_the_largest_singular_value():
    objective = dcgan_objective("hinge", spectral_norm=True)
    critic = objective.networks["discriminator"]
    layers = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
    assert len(layers) == 3
    assert all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    before = [torch.linalg.matrix_norm(m.parametrizations.weight.original.flatten(1), ord=2).item() for m in layers]
    assert all(abs(s - 1) > 0.2 for s in before)  # DCGAN's N(0, 0.02) init is far from 1
    critic.train()
    with torch.no_grad():
        for _ in range(30):  # one power iteration per training forward pass
            critic(torch.randn(2, 1, 28, 28))
    for layer in layers:
        assert _largest_singular_value(layer) == pytest.approx(1.0, abs=1e-2)


def test_apply_spectral_norm_covers_linear_transposed_and_embedding_layers_once():
    module = nn.Sequential(nn.Linear(6, 5), nn.ConvTranspose2d(3, 4, 4), nn.Embedding(10, 7), nn.LayerNorm(5))
    apply_spectral_norm(module)
    apply_spectral_norm(module)  # idempotent: an already wrapped layer is left alone
    for layer in module[:3]:
        assert nn.utils.parametrize.is_parametrized(layer, "weight")
        assert len(layer.parametrizations.weight) == 1
    assert not nn.utils.parametrize.is_parametrized(module[3])
    module.train()
    with torch.no_grad():
        for _ in range(50):
            module[0](torch.randn(2, 6))
            module[1](torch.randn(1, 3, 2, 2))
            module[2](torch.tensor([1]))
    for layer in module[:3]:
        assert _largest_singular_value(layer) == pytest.approx(1.0, abs=1e-2)


# --- n_critic -----------------------------------------------------------------------------------------------------
def test_n_critic_updates_the_generator_after_every_n_critic_steps():
    objective = _bound(dcgan_objective("wgan-gp", n_critic=3))
    model, critic = objective.networks["model"], objective.networks["discriminator"]
    updates = []
    for step in range(7):
        g_before = [p.detach().clone() for p in model.parameters()]
        d_before = [p.detach().clone() for p in critic.parameters()]
        batch = {"pixel_values": torch.rand(4, 1, 28, 28) * 2 - 1}
        logs = objective.training_step(batch, step, torch.Generator().manual_seed(step))
        g_changed = any(not torch.equal(a, b) for a, b in zip(g_before, model.parameters(), strict=True))
        d_changed = any(not torch.equal(a, b) for a, b in zip(d_before, critic.parameters(), strict=True))
        assert d_changed, f"the critic must be updated at every step (step {step})"
        assert g_changed == ("loss_g" in logs)
        assert all(p.requires_grad for p in critic.parameters()), "the critic must be trainable again"
        updates.append(g_changed)
    assert updates == [False, False, True, False, False, True, False]


# --- training through the command line ----------------------------------------------------------------------------
TINY_RUN = [
    "--max-steps", "2", "--batch-size", "4", "--sample-every", "0", "--checkpoint-every", "0",
    "--set", "model_args.latent_dim=8", "--set", "model_args.base_channels=8",
    "--set", "objective_args.discriminator.base_channels=8", "--set", "log_every=1", "--set", "num_sample_images=4",
]  # fmt: skip


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("objective", "options", "logged"),
    [
        ("gan", [], {"loss_d", "loss_g", "d_real", "d_fake"}),
        ("hinge", [], {"loss_d", "loss_g"}),  # DCGAN's tuned hinge recipe: spectral norm, no batch norm in the critic
        ("gan", ["objective_args.spectral_norm=true"], {"loss_d", "loss_g"}),
        ("gan", ["objective_args.r1_gamma=10"], {"loss_d", "loss_g", "r1_penalty"}),
        ("wgan-gp", ["objective_args.n_critic=2"], {"loss_d", "loss_g", "gradient_penalty"}),
    ],
)
def test_each_objective_trains_dcgan_through_the_cli(tmp_path, objective, options, logged):
    run = tmp_path / "run"
    overrides = [arg for option in options for arg in ("--set", option)]
    main(["train", "dcgan", "--objective", objective, "--output-dir", str(run), *TINY_RUN, *overrides])
    rows = _metrics(run)
    assert [row["step"] for row in rows if "loss_d" in row] == [1, 2]
    final = rows[-1]
    assert logged <= set(final), f"missing {logged - set(final)}"
    assert all(math.isfinite(v) for row in rows for k, v in row.items() if isinstance(v, float))
    assert (run / "model_index.json").is_file() and (run / "samples.png").is_file()

    # The discriminator is checkpointed with the options applied: spectral norm shows in its weight names.
    checkpoint = run / "checkpoints" / "step_000002"
    weights = load_file(checkpoint / "model_1.safetensors")
    wrapped = any("parametrizations.weight.original" in key for key in weights)
    assert wrapped == (objective == "hinge" or "objective_args.spectral_norm=true" in options)
    # Penalised critics use layer norm (no running statistics) and the hinge recipe none; the others keep batch norm.
    penalised = objective == "wgan-gp" or any("r1_gamma" in option for option in options)
    assert any("running_mean" in key for key in weights) == (not penalised and objective != "hinge")


# --- extending: a new loss is one subclass, a new regulariser one method ------------------------------------------
class LeastSquaresObjective(AdversarialObjective):
    """LSGAN (Mao et al. 2017): D(x) → 1 and D(G(z)) → 0 for the discriminator, D(G(z)) → 1 for the generator."""

    def discriminator_loss(self, real_logits, fake_logits):
        return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits**2).mean()

    def generator_loss(self, fake_logits):
        return 0.5 * ((fake_logits - 1) ** 2).mean()


class LeastSquaresPlugin:
    @hookimpl
    def register_objectives(self, register):
        register("lsgan", LeastSquaresObjective, aliases=("least-squares",))


def test_a_new_loss_is_one_subclass_registered_by_a_plugin(register_plugin, tiny_train_config):
    """A test plugin registers LSGAN, which only overrides the two losses; the DCGAN then trains with it."""
    register_plugin(LeastSquaresPlugin(), name="lsgan")
    objective = dcgan_objective("least-squares")
    assert type(objective) is LeastSquaresObjective
    assert objective.discriminator_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])).item() == 2.0
    assert objective.generator_loss(torch.tensor([1.0, -1.0])).item() == 1.0

    run = train(tiny_train_config(objective="lsgan"))
    assert yaml.safe_load((run / "run_config.yaml").read_text())["objective"] == "lsgan"
    logged = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    losses = [(row["loss_d"], row["loss_g"]) for row in logged if "loss_d" in row]
    assert len(losses) == 3 and all(math.isfinite(value) for pair in losses for value in pair)


class DriftHinge(HingeObjective):
    """The hinge loss plus ProGAN's drift penalty ε·E[D(x)²], which keeps the critic's outputs near zero."""

    def regularise(self, real, fake, labels, generator):
        terms = super().regularise(real, fake, labels, generator)
        terms["drift"] = (0.5, (self.unwrap("discriminator")(real, labels) ** 2).mean())
        return terms


def test_a_new_regulariser_is_one_method():
    """`regularise` adds a weighted term to the discriminator loss and logs it; R1 keeps working beside it."""
    objective = _bound(critic_objective(DriftHinge, LinearCritic, r1_gamma=2.0))
    critic = objective.networks["discriminator"]
    objective.optimizers["discriminator"] = torch.optim.SGD(critic.parameters(), lr=1.0)
    objective.n_critic = 2  # no generator update at step 0
    w, b = critic.linear.weight.detach().clone(), critic.linear.bias.detach().clone()
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    logs = objective.training_step({"pixel_values": real}, 0, torch.Generator().manual_seed(0))
    real_logits = (real.flatten(1) @ w.T + b).flatten()
    assert logs["drift"].item() == pytest.approx((real_logits**2).mean().item(), rel=1e-5)
    assert logs["r1_penalty"].item() == pytest.approx(w.norm().item() ** 2, rel=1e-5)
    # The bias gets no gradient from R1 (input gradients do not depend on it): only hinge + 0.5 · drift move it.
    with torch.no_grad():
        fake = objective.networks["model"](objective._latents(4, torch.Generator().manual_seed(0), real.device))
    b_param = b.clone().requires_grad_(True)
    loss = (
        objective.discriminator_loss(
            (real.flatten(1) @ w.T + b_param).flatten(), (fake.flatten(1) @ w.T + b_param).flatten()
        )
        + 0.5 * (((real.flatten(1) @ w.T + b_param).flatten()) ** 2).mean()
    )
    (grad,) = torch.autograd.grad(loss, b_param)
    torch.testing.assert_close(critic.linear.bias.detach(), b - grad, rtol=1e-4, atol=1e-6)


def test_the_base_objective_names_the_methods_to_write():
    objective = critic_objective(AdversarialObjective, LinearCritic)
    with pytest.raises(NotImplementedError, match="discriminator_loss"):
        objective.discriminator_loss(REAL, FAKE)
    with pytest.raises(NotImplementedError, match="generator_loss"):
        objective.generator_loss(FAKE)


def test_adversarial_objectives_come_from_the_core_without_the_gan_plugin(monkeypatch):
    """The CGAN (and a third-party SNGAN) name `hinge`; it must not depend on the DCGAN plugin being loaded."""
    from genzoo.config import resolve_train_config
    from genzoo.registry import models

    monkeypatch.setenv("GENZOO_PLUGINS", "cgan")
    assert "dcgan" not in models()
    for name in ("gan", "bce", "non-saturating", "hinge", "wgan-gp", "wgangp"):
        assert get_objective(name).plugin == "genzoo"
    assert resolve_train_config({"model": "cgan"}).objective == "hinge"


def _prepared_dcgan_objective(accumulation: int = 1):
    from accelerate import Accelerator

    from genzoo.training.runtime import skip_per_step_lookups

    objective = dcgan_objective("hinge")
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=accumulation)
    names = list(objective.networks)
    optimizers = objective.configure_optimizers()
    prepared = accelerator.prepare(*objective.networks.values(), *(optimizers[name] for name in names))
    networks = dict(zip(names, prepared[: len(names)], strict=True))
    wrapped = dict(zip(names, prepared[len(names) :], strict=True))
    for optimizer in wrapped.values():  # as the trainer prepares them (genzoo.training.runtime)
        skip_per_step_lookups(optimizer)
    objective.bind(accelerator, networks, wrapped)
    return objective, accelerator


def test_bind_looks_up_the_bare_modules_once(monkeypatch):
    """`unwrap` runs several times per step; Accelerate's unwrap_model is called once per network, at bind time,
    and again only for a network swapped in later."""
    from accelerate import Accelerator

    calls = []
    original = Accelerator.unwrap_model
    monkeypatch.setattr(
        Accelerator, "unwrap_model", lambda self, model, **kw: calls.append(model) or original(self, model)
    )
    objective, _ = _prepared_dcgan_objective()
    assert len(calls) == 2
    for _ in range(3):
        objective.training_step(
            {"pixel_values": torch.rand(4, 1, 28, 28) * 2 - 1}, 0, torch.Generator().manual_seed(0)
        )
    assert len(calls) == 2
    critic = nn.Linear(2, 1)
    objective.networks["discriminator"] = critic
    assert objective.unwrap("discriminator") is critic and len(calls) == 3


def test_bound_optimizers_skip_accelerates_per_step_lookups_and_train_alike(monkeypatch):
    """As the trainer prepares them (`genzoo.training.runtime.skip_per_step_lookups`), an optimizer's step and
    zero_grad no longer probe for packages on every call, and training steps compute exactly what Accelerate's own
    wrapper computes, with and without gradient accumulation."""
    import accelerate.optimizer
    from accelerate.optimizer import AcceleratedOptimizer

    lookups = []
    monkeypatch.setattr(accelerate.optimizer, "is_lomo_available", lambda: lookups.append(1) or False)
    for accumulation in (1, 2):
        lean, accelerator = _prepared_dcgan_objective(accumulation)
        assert all(type(opt) is not AcceleratedOptimizer for opt in lean.optimizers.values())
        assert all(isinstance(opt, AcceleratedOptimizer) for opt in lean.optimizers.values())
        reference, reference_accelerator = _prepared_dcgan_objective(accumulation)
        for optimizer in reference.optimizers.values():
            optimizer.__class__ = AcceleratedOptimizer  # Accelerate's own step, lookups and all
        lookups.clear()
        for step in range(4):
            real = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(step)) * 2 - 1
            for objective, acc in ((lean, accelerator), (reference, reference_accelerator)):
                with acc.accumulate(*objective.networks.values()):
                    objective.training_step({"pixel_values": real}, step, torch.Generator().manual_seed(step))
            if step == 0:
                assert len(lookups) == 4  # the reference's two optimizers, twice per step; the lean ones: none
        for name in lean.networks:
            for a, b in zip(lean.networks[name].parameters(), reference.networks[name].parameters(), strict=True):
                assert torch.equal(a, b)
        assert any(not torch.equal(a, b) for a, b in zip(lean.networks["model"].parameters(),
                                                         tiny_generator().parameters(), strict=True))  # fmt: skip


def test_a_bound_optimizer_still_pickles():
    import pickle

    objective, _ = _prepared_dcgan_objective()
    optimizer = objective.optimizers["model"]
    copy = pickle.loads(pickle.dumps(optimizer))
    assert type(copy) is type(optimizer)
    assert copy.state_dict()["param_groups"] == optimizer.state_dict()["param_groups"]
