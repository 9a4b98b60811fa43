"""Adversarial objectives: the original GAN loss, hinge loss and WGAN-GP, with optional R1 and spectral norm.

They work with any model family whose registration names a `discriminator_class` taking
`(image_size, num_channels, num_classes, **discriminator)` and returning one logit per image from
`discriminator(images, class_labels)`.
"""

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from genzoo import Generator, Objective
from genzoo.errors import ConfigError
from genzoo.registry import ModelRegistration

from .augment import diff_augment, parse_policy

__all__ = ["AdversarialObjective", "GANObjective", "HingeObjective", "WGANGPObjective", "apply_spectral_norm"]

# Discriminator arguments the objective fills in from the generator; users set the others.
_SET_BY_OBJECTIVE = ("image_size", "num_channels", "num_classes")


class AdversarialObjective(Objective):
    r"""Alternating discriminator and generator updates.

    Args:
        model (`Generator`): the generator.
        registration (`ModelRegistration`): the model family; its `discriminator_class` is built here.
        loss (`str`): `"gan"` for the original minimax value L = E[log D(x)] + E[log(1 − D(G(z)))], with the
            generator trained on the non-saturating −log D(G(z)); `"hinge"`; or `"wasserstein"`.
        lr (`float`): generator learning rate. lr_d (`float`, *optional*): discriminator learning rate (defaults
            to `lr`).
        betas (`tuple[float, float]`): Adam betas for both networks.
        n_critic (`int`): the discriminator is updated on every step, the generator after every `n_critic`
            discriminator updates (on steps n_critic − 1, 2·n_critic − 1, ...), as in Algorithm 1 of WGAN-GP.
        gradient_penalty (`float`): weight of the WGAN-GP penalty E[(‖∇D(x̂)‖ − 1)²] on real/fake interpolates.
        r1_gamma (`float`): weight γ of the R1 penalty γ/2 · E[‖∇D(x)‖²] on real images (Mescheder et al. 2018).
        spectral_norm (`bool`): wrap every convolution, linear and embedding layer of the discriminator in
            spectral normalisation (Miyato et al. 2018).
        augment (`str` or `list[str]`, *optional*): differentiable augmentations applied to real and generated
            images before the discriminator (DiffAugment, Zhao et al. 2020): a subset of `color`, `translation`,
            `cutout`, comma-separated or as a list, e.g. `"translation,cutout"` for small datasets. Penalties are
            computed on plain images.
        discriminator (`dict`, *optional*): keyword arguments for the discriminator class (e.g. `base_channels`).

    Both penalties are per-sample input gradients, which batch norm would mix across the batch: with a penalty
    on, a discriminator that takes a `norm` argument defaults to layer norm, and a batch-norm one is refused.
    The logged `loss_d` is the adversarial loss without penalties, which are logged on their own.
    """

    loss: str = "gan"
    default_lr: float = 2e-4
    default_betas: tuple[float, float] = (0.5, 0.999)
    default_n_critic: int = 1
    default_gradient_penalty: float = 0.0
    #: Discriminator options this objective uses unless the user sets them (passed only if the class takes them).
    discriminator_defaults: dict[str, Any] = {}
    #: Discriminator options used unless set whenever a gradient penalty or R1 is on.
    penalty_discriminator_defaults: dict[str, Any] = {"norm": "layer"}

    def __init__(
        self,
        model: Generator,
        registration: ModelRegistration,
        *,
        lr: float | None = None,
        lr_d: float | None = None,
        betas: tuple[float, float] | list[float] | None = None,
        n_critic: int | None = None,
        gradient_penalty: float | None = None,
        r1_gamma: float = 0.0,
        spectral_norm: bool = False,
        augment: str | list[str] | tuple[str, ...] | None = None,
        discriminator: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model, registration)
        if registration is None or registration.discriminator_class is None:
            name = registration.name if registration else type(model).__name__
            raise ConfigError(f"Model {name!r} has no discriminator, so adversarial objectives cannot train it.")
        self.lr = self.default_lr if lr is None else float(lr)
        self.lr_d = self.lr if lr_d is None else float(lr_d)
        self.betas = tuple(self.default_betas if betas is None else betas)
        self.n_critic = self.default_n_critic if n_critic is None else int(n_critic)
        self.gradient_penalty = self.default_gradient_penalty if gradient_penalty is None else float(gradient_penalty)
        self.r1_gamma = float(r1_gamma)
        if self.n_critic < 1 or self.lr <= 0 or self.lr_d <= 0 or len(self.betas) != 2:
            raise ConfigError("Objective needs lr > 0, lr_d > 0, n_critic >= 1 and two Adam betas.")
        try:
            self.augment = parse_policy(augment)
        except ValueError as exc:
            raise ConfigError(f"objective_args.augment: {exc}") from exc
        discriminator_module = self._build_discriminator(model, registration, discriminator or {})
        if (self.gradient_penalty or self.r1_gamma) and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator_module.modules()
        ):
            raise ConfigError(
                f"The {registration.name!r} discriminator uses batch norm, which mixes samples, but the gradient "
                "penalty and R1 are per sample; set objective_args.discriminator.norm=layer (or none), or turn the "
                "penalty off."
            )
        if spectral_norm:
            apply_spectral_norm(discriminator_module)
        self.networks["discriminator"] = discriminator_module

    def _build_discriminator(
        self, model: Generator, registration: ModelRegistration, options: dict[str, Any]
    ) -> nn.Module:
        """The registered discriminator class, built for the generator's images with the user's options over this
        objective's defaults (defaults the class does not take are left out, so any family can use any objective)."""
        discriminator_class = registration.discriminator_class
        parameters = inspect.signature(discriminator_class).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        defaults = dict(self.discriminator_defaults)
        if self.gradient_penalty or self.r1_gamma:
            defaults = {**self.penalty_discriminator_defaults, **defaults}
        defaults = {key: value for key, value in defaults.items() if takes_any or key in parameters}
        if not takes_any:
            unknown = sorted(set(options) - set(parameters))
            if unknown:
                valid = ", ".join(name for name in parameters if name not in _SET_BY_OBJECTIVE)
                raise ConfigError(
                    f"objective_args.discriminator has unknown key(s) {', '.join(unknown)} for "
                    f"{discriminator_class.__name__}; valid: {valid}."
                )
        try:
            return discriminator_class(
                image_size=model.config.image_size,
                num_channels=model.config.num_channels,
                num_classes=model.num_classes,
                **{**defaults, **options},
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Cannot build {discriminator_class.__name__}: {exc}") from exc

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "model": torch.optim.Adam(self.networks["model"].parameters(), lr=self.lr, betas=self.betas),
            "discriminator": torch.optim.Adam(
                self.networks["discriminator"].parameters(), lr=self.lr_d, betas=self.betas
            ),
        }

    # --- losses on discriminator logits ---
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.loss == "gan":  # maximise log D(x) + log(1 - D(G(z)))
            return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        if self.loss == "hinge":
            return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        return fake_logits.mean() - real_logits.mean()  # wasserstein

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.loss == "gan":  # non-saturating: minimise -log D(G(z))
            return F.softplus(-fake_logits).mean()
        return -fake_logits.mean()  # hinge and wasserstein

    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        model, discriminator = self.networks["model"], self.networks["discriminator"]
        opt_g, opt_d = self.optimizers["model"], self.optimizers["discriminator"]
        real = batch["pixel_values"]
        labels = batch.get("class_labels") if self.unwrap("model").is_conditional else None
        batch_size = real.shape[0]
        logs: dict[str, torch.Tensor] = {}

        # 1. Discriminator update on real images and detached fakes.
        with torch.no_grad():
            fake = model(self._latents(batch_size, generator, real.device), labels)
        real_logits = discriminator(diff_augment(real, self.augment, generator), labels)
        fake_logits = discriminator(diff_augment(fake, self.augment, generator), labels)
        loss_d = self.discriminator_loss(real_logits, fake_logits)
        logs["loss_d"], logs["d_real"], logs["d_fake"] = (
            loss_d.detach(),
            real_logits.detach().mean(),
            fake_logits.detach().mean(),
        )
        if self.gradient_penalty:
            penalty = self._gradient_penalty(real, fake, labels, generator)
            loss_d = loss_d + self.gradient_penalty * penalty
            logs["gradient_penalty"] = penalty.detach()
        if self.r1_gamma:
            penalty = self._r1_penalty(real, labels)
            loss_d = loss_d + 0.5 * self.r1_gamma * penalty
            logs["r1_penalty"] = penalty.detach()
        opt_d.zero_grad(set_to_none=True)
        self.accelerator.backward(loss_d)
        opt_d.step()

        # 2. Generator update through the (frozen) discriminator, after every n_critic discriminator updates.
        if (step + 1) % self.n_critic == 0:
            # The bare discriminator: it is not being trained here, so DDP must not expect its gradients.
            critic = self.unwrap("discriminator")
            critic.requires_grad_(False)
            fake = model(self._latents(batch_size, generator, real.device), labels)
            loss_g = self.generator_loss(critic(diff_augment(fake, self.augment, generator), labels))
            opt_g.zero_grad(set_to_none=True)
            self.accelerator.backward(loss_g)
            opt_g.step()
            critic.requires_grad_(True)
            logs["loss_g"] = loss_g.detach()
        return logs

    def _latents(self, batch_size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        return self.unwrap("model").sample_latents(batch_size, generator=generator, device=device, dtype=torch.float32)

    def _critic_gradients(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Per-sample gradient norms of the discriminator's output with respect to its input, in float32 (penalties
        are too small for half precision)."""
        images = images.detach().float().requires_grad_(True)
        with torch.autocast(device_type=images.device.type, enabled=False):
            logits = self.unwrap("discriminator")(images, labels)
            (gradients,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
        return gradients.flatten(1).norm(2, dim=1)

    def _gradient_penalty(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device=generator.device).to(real.device)
        interpolates = alpha * real.float() + (1.0 - alpha) * fake.float()
        return ((self._critic_gradients(interpolates, labels) - 1.0) ** 2).mean()

    def _r1_penalty(self, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return (self._critic_gradients(real, labels) ** 2).mean()


class GANObjective(AdversarialObjective):
    """The original GAN loss with a non-saturating generator loss; Adam(2e-4, betas=(0.5, 0.999))."""

    loss = "gan"


class HingeObjective(AdversarialObjective):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018); Adam(2e-4, betas=(0.5, 0.999))."""

    loss = "hinge"


class WGANGPObjective(AdversarialObjective):
    """Wasserstein loss with gradient penalty 10 and 5 critic steps per generator step (Gulrajani et al. 2017);
    Adam(1e-4, betas=(0.0, 0.9)), layer norm in the critic."""

    loss = "wasserstein"
    default_lr = 1e-4
    default_betas = (0.0, 0.9)
    default_n_critic = 5
    default_gradient_penalty = 10.0
    discriminator_defaults = {"norm": "layer"}


_SPECTRAL_NORM_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap every convolution, linear and embedding layer in `module` in spectral normalisation, in place.

    Layers whose weight is already parametrized (a discriminator that applies spectral norm itself) are left as
    they are, so the option is safe to combine with such models.
    """
    for child in list(module.modules()):
        if isinstance(child, _SPECTRAL_NORM_LAYERS) and not parametrize.is_parametrized(child, "weight"):
            nn.utils.parametrizations.spectral_norm(child)
    return module
