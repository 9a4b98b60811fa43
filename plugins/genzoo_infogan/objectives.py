r"""InfoGAN's objective: an adversarial loss plus λ times the mutual-information lower bound's loss (Chen et al.
2016), built on genzoo's `AdversarialObjective`.

The information loss is L_I = CE(Q_cat(G(z, c)), c_cat) + λ_cont · NLL_Gaussian(c_cont; Q_μ, Q_σ) on generated
images, the negative variational lower bound of I(c; G(z, c)) up to the codes' (constant) entropy. The discriminator
minimises its adversarial loss + λ·L_I (training the shared trunk and the Q head) and the generator its adversarial
loss + λ·L_I (so that its images keep the codes readable), as in the paper's code.
"""

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from genzoo.errors import ConfigError
from genzoo.objectives import AdversarialObjective

if TYPE_CHECKING:
    from genzoo import Generator, ModelRegistration

__all__ = ["InfoGANObjective"]

CONTINUOUS_LOSSES = ("gaussian", "mse")
ADVERSARIAL_LOSSES = ("gan", "hinge")
# Set from the generator's config: the discriminator's Q network is copied into the generator, so they must match.
_FROM_GENERATOR = ("num_categories", "num_continuous", "base_channels", "hidden_dim", "q_hidden_dim")


class InfoGANObjective(AdversarialObjective):
    r"""InfoGAN: the original GAN loss (or the hinge loss) plus the mutual-information term.

    Args:
        model (`InfoGANGenerator`): the generator (it must have codes and a `recognizer`).
        registration (`ModelRegistration`): the `infogan` family; its discriminator has the Q head.
        info_weight (`float`, defaults to 1.0): λ, the weight of the information loss (the paper's λ = 1).
        continuous_weight (`float`, defaults to 1.0): weight of the continuous codes' term within it.
        continuous_loss (`str`, defaults to `"gaussian"`): `"gaussian"` (the NLL of a factored Gaussian whose mean
            and standard deviation Q predicts, as in the paper) or `"mse"` (a fixed σ: the squared error).
        loss (`str`, defaults to `"gan"`): the adversarial loss, `"gan"` (non-saturating, as in the paper) or
            `"hinge"`.
        lr, lr_d, betas, n_critic, gradient_penalty, r1_gamma, spectral_norm, augment, discriminator: as in
            `AdversarialObjective` (defaults: the paper's Adam, 2e-4 for the discriminator and 1e-3 for the
            generator, β₁ = 0.5). The discriminator's widths come from the generator's config (`model_args`).

    Logs `loss_d`, `loss_g`, `info_loss` (the generator step's L_I) and `code_accuracy` (how often Q reads the
    category of a generated image right).
    """

    default_lr = 1e-3
    default_betas = (0.5, 0.999)

    def __init__(
        self,
        model: "Generator",
        registration: "ModelRegistration",
        *,
        info_weight: float = 1.0,
        continuous_weight: float = 1.0,
        continuous_loss: str = "gaussian",
        loss: str = "gan",
        lr: float | None = None,
        lr_d: float | None = 2e-4,
        **kwargs: Any,
    ) -> None:
        if not callable(getattr(model, "split_latents", None)) or not hasattr(model, "recognizer"):
            name = registration.name if registration else type(model).__name__
            raise ConfigError(
                f"Objective 'infogan' needs a generator with codes, such as 'infogan'; {name!r} has none."
            )
        if continuous_loss not in CONTINUOUS_LOSSES:
            raise ConfigError(
                f"objective_args.continuous_loss must be one of {', '.join(CONTINUOUS_LOSSES)}, "
                f"got {continuous_loss!r}."
            )
        if loss not in ADVERSARIAL_LOSSES:
            raise ConfigError(f"objective_args.loss must be one of {', '.join(ADVERSARIAL_LOSSES)}, got {loss!r}.")
        self.info_weight, self.continuous_weight = float(info_weight), float(continuous_weight)
        if self.info_weight < 0 or self.continuous_weight < 0:
            raise ConfigError("objective_args.info_weight and continuous_weight must be >= 0.")
        self.continuous_loss, self.loss = continuous_loss, loss
        super().__init__(model, registration, lr=lr, lr_d=lr_d, **kwargs)

    def _build_discriminator(self, model: "Generator", registration: "ModelRegistration", options: dict[str, Any]):
        clash = sorted(set(options) & set(_FROM_GENERATOR))
        if clash:
            raise ConfigError(
                f"objective_args.discriminator.{clash[0]} comes from the generator (its copy of the Q network must "
                f"match the discriminator's); set model_args.{clash[0]} instead."
            )
        from_generator = {key: model.config[key] for key in _FROM_GENERATOR}
        return super()._build_discriminator(model, registration, {**options, **from_generator})

    # --- the losses -------------------------------------------------------------------------------------------------
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.loss == "hinge":
            return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.loss == "hinge":
            return -fake_logits.mean()
        return F.softplus(-fake_logits).mean()

    def information_loss(
        self, latents: torch.Tensor, estimates: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""L_I for the codes in `latents` and Q's `(category_logits, mean, log_std)` of their images, and the
        fraction of categories Q read right (detached).

        Returns:
            `(loss, accuracy)`: scalars.
        """
        model = self.unwrap("model")
        _, one_hot, continuous = model.split_latents(latents.float())
        logits, mean, log_std = (t.float() for t in estimates)
        loss = latents.new_zeros((), dtype=torch.float32)
        accuracy = loss.detach()
        if one_hot.shape[1]:
            target = one_hot.argmax(1)
            loss = loss + F.cross_entropy(logits, target)
            accuracy = (logits.detach().argmax(1) == target).float().mean()
        if continuous.shape[1]:
            if self.continuous_loss == "gaussian":  # −log N(c; μ, σ²) without the constant ½·log 2π
                nll = 0.5 * ((continuous - mean) * torch.exp(-log_std)).pow(2) + log_std
            else:
                nll = (continuous - mean).pow(2)
            loss = loss + self.continuous_weight * nll.sum(1).mean()
        return loss, accuracy

    # --- the step ---------------------------------------------------------------------------------------------------
    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """The adversarial step (discriminator, then generator), then the trained Q network (with the batch-norm
        statistics both passes updated) is copied into the generator."""
        logs = super().training_step(batch, step, generator)
        self.sync_recognizer()
        return logs

    def discriminator_step(
        self, real: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        r"""The discriminator (trunk, adversarial head and Q head) on real images and detached fakes: adversarial
        loss + λ·L_I + penalties."""
        model, discriminator = self.networks["model"], self.networks["discriminator"]
        latents = self._latents(real.shape[0], generator, real.device)
        with torch.no_grad():
            fake = model(latents)
        real_logits = discriminator(self.augment_for_discriminator(real, generator))
        fake_logits, estimates = discriminator(self.augment_for_discriminator(fake, generator), return_codes=True)
        info_loss, _ = self.information_loss(latents, estimates)
        loss_d = self.discriminator_loss(real_logits, fake_logits)
        logs = {
            "loss_d": loss_d.detach(),
            "d_real": real_logits.detach().mean(),
            "d_fake": fake_logits.detach().mean(),
            "info_loss_d": info_loss.detach(),
        }
        loss_d = loss_d + self.info_weight * info_loss
        watched, logit_penalties = self.observe_logits(real_logits, fake_logits)  # ADA and LeCam, when on
        logs.update(watched)
        for name, (weight, penalty) in {**logit_penalties, **self.regularise(real, fake, labels, generator)}.items():
            loss_d = loss_d + weight * penalty
            logs[name] = penalty.detach()
        optimizer = self.optimizers["discriminator"]
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss_d)
        optimizer.step()
        return logs

    def generator_step(
        self, batch_size: int, labels: torch.Tensor | None, generator: torch.Generator, device: torch.device
    ) -> dict[str, torch.Tensor]:
        r"""The generator through the frozen discriminator: adversarial loss + λ·L_I."""
        critic = self.unwrap("discriminator")
        critic.requires_grad_(False)
        latents = self._latents(batch_size, generator, device)
        fake = self.networks["model"](latents)
        fake_logits, estimates = critic(self.augment_for_discriminator(fake, generator), return_codes=True)
        info_loss, accuracy = self.information_loss(latents, estimates)
        loss_g = self.generator_loss(fake_logits)
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss_g + self.info_weight * info_loss)
        optimizer.step()
        critic.requires_grad_(True)
        return {"loss_g": loss_g.detach(), "info_loss": info_loss.detach(), "code_accuracy": accuracy}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        trained = [p for p in self.networks["model"].parameters() if p.requires_grad]  # not the Q copy
        return {
            "model": torch.optim.Adam(trained, lr=self.lr, betas=self.betas),
            "discriminator": torch.optim.Adam(
                self.networks["discriminator"].parameters(), lr=self.lr_d, betas=self.betas
            ),
        }

    @torch.no_grad()
    def sync_recognizer(self) -> None:
        """Copy the discriminator's trunk and Q head into the generator's `recognizer`, so that every checkpoint and
        the saved pipeline carry the Q network as trained. Read in eval mode, so that a spectrally normalised layer
        gives its normalised weight without another power iteration."""
        source = self.unwrap("discriminator").recognizer
        target = self.unwrap("model").recognizer
        was_training = source.training
        source.eval()
        try:
            sources, targets = [], []
            for name, module in target.named_modules():
                origin = source.get_submodule(name)
                for key, value in [*module._parameters.items(), *module._buffers.items()]:
                    if value is not None:
                        sources.append(getattr(origin, key).detach().to(value.dtype))
                        targets.append(value.data)
            torch._foreach_copy_(targets, sources)
        finally:
            source.train(was_training)
