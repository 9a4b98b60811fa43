"""The VAE family's disentangling objectives (beta-vae with capacity annealing, beta-tcvae, factor-vae): the shared
tester mixins' training checks on the vae and cvae, the estimators, and bad options."""

import math

import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.registry import get_model, get_objective
from genzoo.testing import GeneratorTesterMixin
from genzoo_vae import BetaTCVAEObjective, BetaVAEObjective, FactorVAEObjective, VAEGenerator
from genzoo_vae.disentangling import log_density_gaussian, permute_dims

TINY = {"latent_dim": 4, "image_size": 28, "num_channels": 1, "base_channels": 4, "hidden_dim": 16}


class _TrainingChecks(GeneratorTesterMixin):
    """Only the training checks: the sampling and loading checks are the vae family's own (tests/test_vae.py)."""

    model_name = "vae"
    model_args = TINY

    def test_registration(self):
        registration = get_objective(self.objective_name)
        # The VAE plugin registers it, and what it registers is a VAE objective (an ELBO with an extra term).
        assert registration.plugin == "vae" and registration.obj.__module__ == "genzoo_vae.disentangling"
        from genzoo_vae.objectives import ELBOObjective

        assert issubclass(registration.obj, ELBOObjective)


for _name in [name for name in dir(GeneratorTesterMixin) if name.startswith("test_")]:
    if _name not in ("test_one_training_step", "test_trains_saves_and_loads_through_the_cli", "test_registration"):
        setattr(_TrainingChecks, _name, None)  # pytest collects only callables


class TestBetaVAECapacity(_TrainingChecks):
    objective_name = "beta-vae"
    objective_args = {"capacity_max": 25.0, "capacity_steps": 10}


class TestBetaTCVAE(_TrainingChecks):
    objective_name = "beta-tcvae"
    objective_args = {"dataset_size": 1000}


class TestFactorVAE(_TrainingChecks):
    objective_name = "factor-vae"
    objective_args = {"discriminator_hidden_dim": 8, "discriminator_layers": 2}


class TestFactorVAEOnCVAE(_TrainingChecks):
    model_name = "cvae"
    model_args = {**TINY, "num_classes": 3, "embedding_dim": 3}
    objective_name = "factor-vae"
    objective_args = {"discriminator_hidden_dim": 8, "discriminator_layers": 2}


class TestBetaTCVAEOnCVAE(TestFactorVAEOnCVAE):
    objective_name = "beta-tcvae"
    objective_args = {}


def test_capacity_grows_linearly_to_its_maximum():
    objective = BetaVAEObjective(VAEGenerator(**TINY), capacity_max=20.0, capacity_steps=100)
    assert [objective.capacity(step) for step in (0, 50, 100, 1000)] == [0.0, 10.0, 20.0, 20.0]
    assert BetaVAEObjective(VAEGenerator(**TINY)).capacity(10) == 0.0  # off: the plain β-VAE, β = 4
    assert BetaVAEObjective(VAEGenerator(**TINY)).beta == 4.0


def test_tc_decomposition_adds_up_and_vanishes_for_independent_codes():
    """MI + TC + dimension-wise KL telescopes to E[log q(z|x) − log p(z)], the KL's one-sample estimate; the total
    correlation grows when the codes depend on each other."""
    objective = BetaTCVAEObjective(VAEGenerator(**TINY), dataset_size=5000)
    torch.manual_seed(0)
    mean, logvar = torch.randn(256, 4), torch.randn(256, 4) * 0.3
    latents = mean + torch.exp(0.5 * logvar) * torch.randn(256, 4)
    mi, tc, dim_kl = objective.decomposed_kl(latents, mean, logvar)
    log_q = log_density_gaussian(latents, mean, logvar).sum(1)
    log_p = log_density_gaussian(latents, torch.zeros(1), torch.zeros(1)).sum(1)
    torch.testing.assert_close(mi + tc + dim_kl, (log_q - log_p).mean())
    # A posterior that ignores x: minibatch-weighted sampling gives the constants log N (MI) and (D − 1)·log N
    # (TC), which shift the loss but not its gradients.
    shared = torch.zeros(512, 4)
    sample = torch.randn(512, 4)
    mi, independent_tc, _ = objective.decomposed_kl(sample, shared, shared)
    assert float(mi) == pytest.approx(math.log(5000), abs=1e-4)
    assert float(independent_tc) == pytest.approx(3 * math.log(5000), abs=1e-3)
    # Codes that copy one dimension four times have a clearly larger total correlation.
    copies = torch.randn(512, 1).expand(512, 4)
    noisy = copies + 0.05 * torch.randn(512, 4)
    _, tc, _ = objective.decomposed_kl(noisy, copies, torch.full((512, 4), math.log(0.05**2)))
    assert float(tc) > float(independent_tc) + 5.0


def test_permuted_dims_keep_each_marginal_and_break_the_joint():
    latents = torch.arange(40.0).view(10, 4)
    shuffled = permute_dims(latents, torch.Generator().manual_seed(0))
    for d in range(4):
        assert sorted(shuffled[:, d].tolist()) == latents[:, d].tolist()
    assert not torch.equal(shuffled, latents)


@pytest.mark.parametrize(
    ("objective_class", "options", "message"),
    [
        (BetaVAEObjective, {"gamma": -1.0}, "gamma must be a non-negative number"),
        (BetaVAEObjective, {"capacity_steps": 0}, "capacity_steps must be at least 1"),
        (BetaTCVAEObjective, {"alpha": float("nan")}, "alpha must be a non-negative number"),
        (BetaTCVAEObjective, {"dataset_size": 0}, "dataset_size must be at least 1"),
        (FactorVAEObjective, {"lr_discriminator": 0.0}, "lr_discriminator must be a positive number"),
    ],
)
def test_bad_options_are_one_line_errors(objective_class, options, message):
    with pytest.raises(ConfigError, match=message) as info:
        objective_class(VAEGenerator(**TINY), get_model("vae"), **options)
    assert "\n" not in str(info.value)


def test_a_model_without_encoder_is_refused():
    dcgan = get_model("dcgan").generator_class(latent_dim=4, base_channels=4)
    with pytest.raises(ConfigError, match="needs a model with an encoder"):
        FactorVAEObjective(dcgan, get_model("dcgan"))
