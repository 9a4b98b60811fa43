r"""The evidence lower bound (ELBO) objective, with a β weight on the KL term (β-VAE, Higgins et al. 2017)."""

import math
from typing import Any

import torch

from genzoo import Generator, ModelRegistration, Objective
from genzoo.errors import ConfigError

from .modeling_vae import LIKELIHOODS

__all__ = ["ELBOObjective"]


class ELBOObjective(Objective):
    r"""Maximise the ELBO E_q[log p(x|z)] − β·KL(q(z|x) ‖ N(0, I)) with one reparameterised sample per image.

    The loss is the batch mean of −log p(x|z) + β·KL, in nats per image; it logs `loss`, `recon_nll` (−log p(x|z))
    and `kl`. The KL term is exact: −½ Σ (1 + log σ² − μ² − σ²).

    Args:
        model (`VAEGenerator`): a generator with an encoder (its `forward(images=...)` returns a `VAEOutput`).
        registration (`ModelRegistration`, *optional*): the model family.
        likelihood (`str`, *optional*): `"bernoulli"` or `"gaussian"`; by default the model's own
            (`model_args.likelihood`). When given, the model is switched to it, and it is saved with the model,
            because decoding and the NLL depend on it.
        beta (`float`, defaults to 1.0): weight of the KL term (1 is the true ELBO).
        lr (`float`, defaults to 1e-3): Adam learning rate.
        betas (`tuple[float, float]`, defaults to (0.9, 0.999)): Adam betas.
        weight_decay (`float`, defaults to 0.0): Adam weight decay.
    """

    def __init__(
        self,
        model: Generator,
        registration: ModelRegistration | None = None,
        *,
        likelihood: str | None = None,
        beta: float = 1.0,
        lr: float = 1e-3,
        betas: tuple[float, float] | list[float] = (0.9, 0.999),
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, registration)
        if not hasattr(model, "encode") or not hasattr(model, "set_likelihood"):
            name = registration.name if registration else type(model).__name__
            raise ConfigError(
                f"Objective 'elbo' needs a model with an encoder, such as 'vae' or 'cvae'; {name!r} has none."
            )
        if likelihood is not None:
            if likelihood not in LIKELIHOODS:
                raise ConfigError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {likelihood!r}.")
            model.set_likelihood(likelihood)
        self.beta, self.lr, self.betas, self.weight_decay = float(beta), float(lr), tuple(betas), float(weight_decay)
        self.conditional = model.is_conditional
        if (
            self.beta < 0
            or not math.isfinite(self.lr)
            or self.lr <= 0
            or len(self.betas) != 2
            or self.weight_decay < 0
        ):
            raise ConfigError("Objective 'elbo' needs beta >= 0, lr > 0, two Adam betas and weight_decay >= 0.")

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        parameters = [p for p in self.networks["model"].parameters() if p.requires_grad]
        return {"model": torch.optim.Adam(parameters, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)}

    def loss(self, log_likelihood: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        r"""The batch mean of −log p(x|z) + β·KL."""
        return (-log_likelihood + self.beta * kl).mean()

    def autoencode(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> Any:
        """One pass through encoder, posterior sample and decoder (a `VAEOutput`), through the prepared network."""
        # A conditional VAE (the CVAE) encodes and decodes given the class; the VAE ignores labels.
        labels = batch.get("class_labels") if self.conditional else None
        return self.networks["model"](images=batch["pixel_values"], class_labels=labels, generator=generator)

    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        optimizer = self.optimizers["model"]
        output = self.autoencode(batch, generator)
        loss = self.loss(output.log_likelihood, output.kl)
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        optimizer.step()
        return {
            "loss": loss.detach(),
            "recon_nll": -output.log_likelihood.detach().mean(),
            "kl": output.kl.detach().mean(),
        }
