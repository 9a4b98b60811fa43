r"""Objectives that trade reconstruction for disentangled latents, for the `vae` and `cvae` families:

- `beta-vae` (Higgins et al. 2017; Burgess et al. 2018): the ELBO with β·KL, or with Burgess's capacity annealing
  γ·|KL − C| with C growing linearly to `capacity_max` nats;
- `beta-tcvae` (Chen et al. 2018): the KL split into index-code mutual information, total correlation and
  dimension-wise KL, estimated on the minibatch by minibatch-weighted sampling, with β on the total correlation;
- `factor-vae` (Kim & Mnih 2018): the ELBO plus γ times the total correlation estimated by a discriminator that
  tells posterior samples from samples whose dimensions were permuted across the batch (its own network and Adam).

Each logs `loss`, `recon_nll` (−log p(x|z)) and `kl` like `elbo`, plus its own terms. Every term is in nats per
image.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from genzoo import Generator, ModelRegistration
from genzoo.errors import ConfigError

from .objectives import ELBOObjective

__all__ = ["BetaTCVAEObjective", "BetaVAEObjective", "FactorVAEObjective", "log_density_gaussian", "permute_dims"]

LOG_2PI = math.log(2.0 * math.pi)


def log_density_gaussian(value: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(value; mean, exp(logvar)) (broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (value - mean).pow(2) * torch.exp(-logvar))


def permute_dims(latents: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Each latent dimension shuffled independently across the batch: samples of Π_d q(z_d) from samples of q(z)
    (Kim & Mnih 2018, Algorithm 1)."""
    batch = latents.shape[0]
    columns = [
        latents[torch.randperm(batch, generator=generator, device=generator.device if generator else "cpu")
                .to(latents.device), d]
        for d in range(latents.shape[1])
    ]  # fmt: skip
    return torch.stack(columns, dim=1)


def _positive(name: str, value: float, allow_zero: bool = True) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"objective_args.{name} must be a {'non-negative' if allow_zero else 'positive'} number, "
                          f"got {value}.")  # fmt: skip
    return value


class BetaVAEObjective(ELBOObjective):
    r"""β-VAE: −log p(x|z) + β·KL, or with capacity annealing −log p(x|z) + γ·|KL − C(t)|, C(t) =
    min(capacity_max, capacity_max · t / capacity_steps) (Burgess et al. 2018, "Understanding disentangling in
    β-VAE").

    Args:
        model, registration, likelihood, lr, betas, weight_decay: as in `ELBOObjective`.
        beta (`float`, defaults to 4.0): weight of the KL term (Higgins et al. use 4 on dSprites).
        capacity_max (`float`, *optional*): the final capacity C in nats; turns annealing on (β is then unused).
            Burgess et al. use 25 on dSprites.
        capacity_steps (`int`, defaults to 100000): steps over which C grows from 0 to `capacity_max`.
        gamma (`float`, defaults to 1000.0): weight of |KL − C| (Burgess et al.'s value).

    Logs `capacity` too when annealing.
    """

    def __init__(
        self,
        model: Generator,
        registration: ModelRegistration | None = None,
        *,
        beta: float = 4.0,
        capacity_max: float | None = None,
        capacity_steps: int = 100000,
        gamma: float = 1000.0,
        **kwargs,
    ) -> None:
        super().__init__(model, registration, beta=beta, **kwargs)
        self.capacity_max = None if capacity_max is None else _positive("capacity_max", capacity_max)
        self.gamma = _positive("gamma", gamma)
        if int(capacity_steps) < 1:
            raise ConfigError(f"objective_args.capacity_steps must be at least 1, got {capacity_steps}.")
        self.capacity_steps = int(capacity_steps)

    def capacity(self, step: int) -> float:
        """C(t) in nats at `step` (0 without annealing)."""
        if self.capacity_max is None:
            return 0.0
        return self.capacity_max * min(1.0, step / self.capacity_steps)

    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        output = self.autoencode(batch, generator)
        recon_nll, kl = -output.log_likelihood.mean(), output.kl.mean()
        logs = {}
        if self.capacity_max is None:
            loss = recon_nll + self.beta * kl
        else:
            capacity = self.capacity(step)
            loss = recon_nll + self.gamma * (kl - capacity).abs()
            logs["capacity"] = torch.tensor(capacity)
        _optimise(self, loss)
        return {"loss": loss.detach(), "recon_nll": recon_nll.detach(), "kl": kl.detach(), **logs}


def _optimise(objective: ELBOObjective, loss: torch.Tensor, name: str = "model") -> None:
    """One update of `name`'s optimizer on `loss`."""
    optimizer = objective.optimizers[name]
    optimizer.zero_grad(set_to_none=True)
    objective.accelerator.backward(loss)
    optimizer.step()


class BetaTCVAEObjective(ELBOObjective):
    r"""β-TCVAE (Chen et al. 2018, "Isolating sources of disentanglement in VAEs"): −log p(x|z) + α·I(x; z) +
    β·TC(z) + γ·Σ_d KL(q(z_d) ‖ p(z_d)), the three terms estimated on the minibatch by minibatch-weighted sampling:
    log q(z) ≈ logsumexp_j log q(z | x_j) − log(N·M), and likewise per dimension, for a batch of M out of N images.

    Args:
        model, registration, likelihood, lr, betas, weight_decay: as in `ELBOObjective`.
        alpha (`float`, defaults to 1.0): weight of the index-code mutual information.
        beta (`float`, defaults to 6.0): weight of the total correlation (Chen et al. use 6 on dSprites).
        gamma (`float`, defaults to 1.0): weight of the dimension-wise KL.
        dataset_size (`int`, *optional*): N; only the logged values depend on it (it shifts each estimate by a
            constant), so by default N = M.

    Logs `mutual_information`, `total_correlation` and `dimension_kl` too.
    """

    def __init__(
        self,
        model: Generator,
        registration: ModelRegistration | None = None,
        *,
        alpha: float = 1.0,
        beta: float = 6.0,
        gamma: float = 1.0,
        dataset_size: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(model, registration, beta=beta, **kwargs)
        self.alpha, self.gamma = _positive("alpha", alpha), _positive("gamma", gamma)
        if dataset_size is not None and int(dataset_size) < 1:
            raise ConfigError(f"objective_args.dataset_size must be at least 1, got {dataset_size}.")
        self.dataset_size = None if dataset_size is None else int(dataset_size)

    def decomposed_kl(
        self, latents: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""`(mutual_information, total_correlation, dimension_kl)`, batch means, by minibatch-weighted sampling."""
        batch = latents.shape[0]
        log_nm = math.log(batch * (self.dataset_size or batch))
        # log q(z_i | x_j) per dimension: (i, j, d)
        pairwise = log_density_gaussian(latents[:, None, :], mean[None, :, :], logvar[None, :, :])
        log_q_z_given_x = log_density_gaussian(latents, mean, logvar).sum(1)
        log_q_z = torch.logsumexp(pairwise.sum(2), dim=1) - log_nm
        log_prod_q_z = (torch.logsumexp(pairwise, dim=1) - log_nm).sum(1)
        log_p_z = log_density_gaussian(latents, torch.zeros_like(latents), torch.zeros_like(latents)).sum(1)
        return (
            (log_q_z_given_x - log_q_z).mean(),
            (log_q_z - log_prod_q_z).mean(),
            (log_prod_q_z - log_p_z).mean(),
        )

    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        output = self.autoencode(batch, generator)
        recon_nll = -output.log_likelihood.mean()
        mutual_information, total_correlation, dimension_kl = self.decomposed_kl(
            output.latents, output.mean, output.logvar
        )
        loss = recon_nll + self.alpha * mutual_information + self.beta * total_correlation + self.gamma * dimension_kl
        _optimise(self, loss)
        return {
            "loss": loss.detach(),
            "recon_nll": recon_nll.detach(),
            "kl": output.kl.detach().mean(),
            "mutual_information": mutual_information.detach(),
            "total_correlation": total_correlation.detach(),
            "dimension_kl": dimension_kl.detach(),
        }


class TCDiscriminator(nn.Module):
    r"""FactorVAE's discriminator: an MLP from a latent to two logits (a sample of q(z), or of Π_d q(z_d)).

    Args:
        latent_dim (`int`): size of z.
        hidden_dim (`int`, defaults to 1000): width of each hidden layer (Kim & Mnih: 6 layers of 1000).
        num_layers (`int`, defaults to 6): hidden layers.
    """

    def __init__(self, latent_dim: int, hidden_dim: int = 1000, num_layers: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_dim), nn.LeakyReLU(0.2)]
            width = hidden_dim
        layers.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.net(latents)


class FactorVAEObjective(ELBOObjective):
    r"""FactorVAE (Kim & Mnih 2018, "Disentangling by factorising"): the ELBO plus γ·TC(z), the total correlation
    estimated by a discriminator D as E_q(z)[log D(z)₀ − log D(z)₁]; D learns to tell posterior samples (class 0)
    from samples whose dimensions were shuffled across the batch (class 1), with its own Adam.

    Args:
        model, registration, likelihood, lr, betas, weight_decay: as in `ELBOObjective` (the VAE's optimizer).
        gamma (`float`, defaults to 10.0): weight of the total correlation (Kim & Mnih use 10-40 on dSprites).
        lr_discriminator (`float`, defaults to 1e-4), betas_discriminator (defaults to (0.5, 0.9)): D's Adam (the
            paper's).
        discriminator_hidden_dim (`int`, defaults to 1000), discriminator_layers (`int`, defaults to 6): D's MLP.

    Logs `total_correlation` (the VAE step's estimate), `loss_d` and `d_accuracy` (D's accuracy on the batch) too.
    """

    def __init__(
        self,
        model: Generator,
        registration: ModelRegistration | None = None,
        *,
        gamma: float = 10.0,
        lr_discriminator: float = 1e-4,
        betas_discriminator: tuple[float, float] | list[float] = (0.5, 0.9),
        discriminator_hidden_dim: int = 1000,
        discriminator_layers: int = 6,
        **kwargs,
    ) -> None:
        super().__init__(model, registration, **kwargs)
        self.gamma = _positive("gamma", gamma)
        self.lr_discriminator = _positive("lr_discriminator", lr_discriminator, allow_zero=False)
        self.betas_discriminator = tuple(float(b) for b in betas_discriminator)
        if int(discriminator_hidden_dim) < 1 or int(discriminator_layers) < 1:
            raise ConfigError("objective_args.discriminator_hidden_dim and discriminator_layers must be at least 1.")
        self.networks["discriminator"] = TCDiscriminator(
            int(model.config.latent_dim), int(discriminator_hidden_dim), int(discriminator_layers)
        )

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = super().configure_optimizers()
        optimizers["discriminator"] = torch.optim.Adam(
            self.networks["discriminator"].parameters(), lr=self.lr_discriminator, betas=self.betas_discriminator
        )
        return optimizers

    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        # 1. The VAE: −ELBO + γ·TC through the frozen discriminator (its bare module: DDP must not expect its grads).
        output = self.autoencode(batch, generator)
        recon_nll, kl = -output.log_likelihood.mean(), output.kl.mean()
        critic = self.unwrap("discriminator")
        critic.requires_grad_(False)
        logits = critic(output.latents)
        total_correlation = (logits[:, 0] - logits[:, 1]).mean()
        loss = recon_nll + self.beta * kl + self.gamma * total_correlation
        _optimise(self, loss)
        critic.requires_grad_(True)

        # 2. The discriminator: posterior samples are class 0, dimension-shuffled ones class 1.
        latents = output.latents.detach()
        shuffled = permute_dims(latents, generator)
        discriminator = self.networks["discriminator"]
        logits_real, logits_permuted = discriminator(latents), discriminator(shuffled)
        zeros = torch.zeros(len(latents), dtype=torch.long, device=latents.device)
        loss_d = 0.5 * (F.cross_entropy(logits_real, zeros) + F.cross_entropy(logits_permuted, zeros + 1))
        _optimise(self, loss_d, "discriminator")
        accuracy = 0.5 * (
            (logits_real.argmax(1) == 0).float().mean() + (logits_permuted.argmax(1) == 1).float().mean()
        )
        return {
            "loss": loss.detach(),
            "recon_nll": recon_nll.detach(),
            "kl": kl.detach(),
            "total_correlation": total_correlation.detach(),
            "loss_d": loss_d.detach(),
            "d_accuracy": accuracy.detach(),
        }
