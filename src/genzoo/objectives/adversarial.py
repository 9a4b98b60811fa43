"""Adversarial training: a base objective that alternates discriminator and generator updates, and the original GAN
loss, the hinge loss and WGAN-GP built on it, with optional R1, a gradient penalty, LeCam, spectral norm, DiffAugment
and adaptive augmentation (ADA).

They work with any model family whose registration names a `discriminator_class` taking
`(image_size, num_channels, num_classes, **discriminator)` and returning one logit per image from
`discriminator(images, class_labels)`.

A new adversarial loss is one subclass that overrides `discriminator_loss` and `generator_loss`; a new regulariser
overrides `regularise` (calling `super()`). The step itself is `discriminator_step` then `generator_step`.
"""

import inspect
import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ..errors import ConfigError, did_you_mean
from .augment import AdaptiveAugment, diff_augment, parse_ada_policy, parse_policy
from .base import Objective
from .lecam import LeCamAnchors

if TYPE_CHECKING:
    from ..modeling import Generator
    from ..registry import ModelRegistration

__all__ = ["AdversarialObjective", "GANObjective", "HingeObjective", "WGANGPObjective", "apply_spectral_norm"]

# Discriminator arguments the objective fills in from the generator; users set the others.
_SET_BY_OBJECTIVE = ("image_size", "num_channels", "num_classes")
#: Thousands of real images over which ADA's p can go from 0 to 1. The paper's 500 suits runs of millions of
#: images; genzoo's default runs see about 110-130 thousand (1,750-2,000 steps of 64), so p moves ten times as fast.
DEFAULT_ADA_KIMG = 50.0
#: Discriminator updates between two adjustments of ADA's p (the paper's 4).
DEFAULT_ADA_INTERVAL = 4


class AdversarialObjective(Objective):
    r"""Alternating discriminator and generator updates; subclasses define the loss.

    Subclasses override `discriminator_loss` and `generator_loss` (see `GANObjective`, `HingeObjective`,
    `WGANGPObjective`) and may change the class defaults (`default_lr`, `default_betas`, `default_n_critic`,
    `default_gradient_penalty`, `discriminator_defaults`).

    Args:
        model (`Generator`): the generator.
        registration (`ModelRegistration`): the model family; its `discriminator_class` is built here.
        lr (`float`, *optional*): generator learning rate (defaults to the class's `default_lr`).
        lr_d (`float`, *optional*): discriminator learning rate (defaults to `lr`).
        betas (`tuple[float, float]`, *optional*): Adam betas for both networks.
        n_critic (`int`, *optional*): the discriminator is updated on every step, the generator after every
            `n_critic` discriminator updates (on steps n_critic − 1, 2·n_critic − 1, ...), as in Algorithm 1 of
            WGAN-GP.
        gradient_penalty (`float`, *optional*): weight of the WGAN-GP penalty E[(‖∇D(x̂)‖ − 1)²] on real/fake
            interpolates.
        r1_gamma (`float`): weight γ of the R1 penalty γ/2 · E[‖∇D(x)‖²] on real images (Mescheder et al. 2018).
        spectral_norm (`bool`): wrap every convolution, linear and embedding layer of the discriminator in
            spectral normalisation (Miyato et al. 2018).
        augment (`str` or `list[str]`, *optional*): differentiable augmentations applied to real and generated
            images before the discriminator (DiffAugment, Zhao et al. 2020): a subset of `color`, `translation`,
            `cutout`, comma-separated or as a list, e.g. `"translation,cutout"` for small datasets. Penalties are
            computed on plain images.
        ada_target (`float`, *optional*): turns on adaptive discriminator augmentation (Karras et al. 2020): every
            transform of `ada_augment` is applied to each image the discriminator sees (real and generated, in
            both updates) with a probability p that rises while r_t = E[sign(D(real))] is above this target and
            falls while it is below; in (0, 1), 0.6 in the paper. p starts at 0, is logged as `ada_p` (r_t of each
            update as `ada_rt`) and is saved in checkpoints. With `augment` also set, ADA runs first.
        ada_kimg (`float`, *optional*): thousands of real images over which p can go from 0 to 1 (default 50;
            the paper's 500 is for runs of millions of images).
        ada_interval (`int`, *optional*): discriminator updates between adjustments of p (default 4).
        ada_augment (`str` or `list[str]`, *optional*): ADA's transforms, from `xflip`, `rotate90`,
            `translation` (integer), `brightness`, `contrast`, `saturation`, or the groups `blit` (the first three)
            and `color` (the last three); default `"blit,color"`.
        lecam_weight (`float`): weight λ of the LeCam penalty (Tseng et al. 2021) on the discriminator, whose
            logits are pulled toward EMA anchors of its mean real and fake logits; 0 (off) by default, the paper
            uses 0.3 for BigGAN on CIFAR and 0.01 with StyleGAN2. The anchors are saved in checkpoints.
        lecam_decay (`float`): the anchors' EMA decay (0.99).
        reuse_fakes (`bool`): on steps with a generator update, generate once: the discriminator update scores the
            images detached and the generator update scores the same images (kept with their graph) instead of
            generating new ones, as the PyTorch DCGAN example does. One generator forward pass per step instead of
            two: a DCGAN step on a CPU takes 0.77 of the time in bf16 and 0.84 in float32
            (`bench/train_step_speed.py`). The generator then learns from images the discriminator has just been
            updated on, which cost the DCGAN a little FID per step (docs/training.md).
        discriminator (`dict`, *optional*): keyword arguments for the discriminator class (e.g. `base_channels`).

    Both penalties are per-sample input gradients, which batch norm would mix across the batch: with a penalty
    on, a discriminator that takes a `norm` argument defaults to layer norm, and a batch-norm one is refused.
    The logged `loss_d` is the adversarial loss without penalties, which are logged on their own.
    """

    #: The discriminator's options shape its weights: a checkpoint of other ones cannot be resumed.
    resume_sensitive_keys = frozenset({"discriminator", "spectral_norm"})
    #: Learning rates may be lowered on resume (as the stability guard does) without breaking reproducibility.
    resume_tunable_keys = frozenset({"lr", "lr_d"})
    default_lr: float = 2e-4
    default_betas: tuple[float, float] = (0.5, 0.999)
    default_n_critic: int = 1
    default_gradient_penalty: float = 0.0
    #: Discriminator options this objective uses unless the user sets them (passed only if the class takes them).
    discriminator_defaults: dict[str, Any] = {}
    #: Discriminator options used unless set whenever a gradient penalty or R1 is on.
    penalty_discriminator_defaults: dict[str, Any] = {"norm": "layer"}
    #: Whether the steps feed ADA and LeCam (`augment_for_discriminator`, `observe_logits`); a subclass whose own
    #: steps do not sets False, and `ada_target` / `lecam_weight` are then refused rather than ignored.
    supports_ada_and_lecam: bool = True

    def __init__(
        self,
        model: "Generator",
        registration: "ModelRegistration",
        *,
        lr: float | None = None,
        lr_d: float | None = None,
        betas: tuple[float, float] | list[float] | None = None,
        n_critic: int | None = None,
        gradient_penalty: float | None = None,
        r1_gamma: float = 0.0,
        spectral_norm: bool = False,
        augment: str | list[str] | tuple[str, ...] | None = None,
        ada_target: float | None = None,
        ada_kimg: float | None = None,
        ada_interval: int | None = None,
        ada_augment: str | list[str] | tuple[str, ...] | None = None,
        lecam_weight: float = 0.0,
        lecam_decay: float = 0.99,
        reuse_fakes: bool = False,
        discriminator: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model, registration)
        if registration is None or registration.discriminator_class is None:
            name = registration.name if registration else type(model).__name__
            raise ConfigError(f"Model {name!r} has no discriminator, so adversarial objectives cannot train it.")
        self.lr = self.default_lr if lr is None else float(lr)
        self.lr_d = self.lr if lr_d is None else float(lr_d)
        try:  # `--set objective_args.betas=[0,0.9]` parses 0 as an int, which Adam refuses next to a float
            self.betas = tuple(float(beta) for beta in (self.default_betas if betas is None else betas))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"objective_args.betas must be two numbers such as [0.0, 0.9], got {betas!r}.") from exc
        self.n_critic = self.default_n_critic if n_critic is None else int(n_critic)
        self.gradient_penalty = self.default_gradient_penalty if gradient_penalty is None else float(gradient_penalty)
        self.r1_gamma = float(r1_gamma)
        if not isinstance(reuse_fakes, bool):
            raise ConfigError(f"objective_args.reuse_fakes must be true or false, got {reuse_fakes!r}.")
        self.reuse_fakes = reuse_fakes
        finite = math.isfinite(self.lr) and math.isfinite(self.lr_d)
        if self.n_critic < 1 or not finite or self.lr <= 0 or self.lr_d <= 0 or len(self.betas) != 2:
            raise ConfigError(
                f"Objective needs finite lr > 0, lr_d > 0, n_critic >= 1 and two Adam betas; got lr={self.lr}, "
                f"lr_d={self.lr_d}, n_critic={self.n_critic}, betas={list(self.betas)}."
            )
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
        if not self.supports_ada_and_lecam and (ada_target is not None or lecam_weight):
            raise ConfigError(
                f"Objective {type(self).__name__} does not support objective_args.ada_target or lecam_weight; "
                "drop them."
            )
        # ADA's p and LeCam's anchors live in buffers of the discriminator, so checkpoints carry them.
        self.ada = self._build_ada(discriminator_module, ada_target, ada_kimg, ada_interval, ada_augment)
        self.lecam_weight, self.lecam = self._build_lecam(discriminator_module, lecam_weight, lecam_decay)
        self.networks["discriminator"] = discriminator_module

    @staticmethod
    def _build_ada(
        owner: nn.Module,
        target: Any,
        kimg: Any,
        interval: Any,
        policy: str | list[str] | tuple[str, ...] | None,
    ) -> AdaptiveAugment | None:
        if target is None:
            options = {"ada_kimg": kimg, "ada_interval": interval, "ada_augment": policy}
            given = [name for name, value in options.items() if value is not None]
            if given:
                raise ConfigError(
                    f"objective_args.{given[0]} has no effect without objective_args.ada_target; set ada_target "
                    "(e.g. 0.6) to turn ADA on."
                )
            return None
        try:
            target = float(target)
            kimg = DEFAULT_ADA_KIMG if kimg is None else float(kimg)
            interval = DEFAULT_ADA_INTERVAL if interval is None else int(interval)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"objective_args.ada_target, ada_kimg and ada_interval must be numbers, got {target!r}, {kimg!r}, "
                f"{interval!r}."
            ) from exc
        if not 0.0 < target < 1.0:  # also refuses NaN
            raise ConfigError(
                f"objective_args.ada_target must lie strictly between 0 and 1, got {target}; 0.6 is the paper's."
            )
        try:
            policy = parse_ada_policy(policy)
        except ValueError as exc:
            raise ConfigError(f"objective_args.ada_augment: {exc}") from exc
        try:
            return AdaptiveAugment(owner, target, kimg, interval, policy)
        except ValueError as exc:
            raise ConfigError(f"objective_args: {exc}") from exc

    @staticmethod
    def _build_lecam(owner: nn.Module, weight: Any, decay: Any) -> tuple[float, LeCamAnchors | None]:
        try:
            weight, decay = float(weight), float(decay)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"objective_args.lecam_weight and lecam_decay must be numbers, got {weight!r} and {decay!r}."
            ) from exc
        if not (math.isfinite(weight) and weight >= 0):
            raise ConfigError(
                f"objective_args.lecam_weight must be a finite number >= 0, got {weight}; the paper uses 0.3 "
                "(BigGAN) or 0.01 (StyleGAN2), and 0 turns LeCam off."
            )
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"objective_args.lecam_decay must lie in [0, 1), got {decay}; 0.99 is the paper's.")
        return weight, (LeCamAnchors(owner, decay) if weight else None)

    def _build_discriminator(
        self, model: "Generator", registration: "ModelRegistration", options: dict[str, Any]
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
                hint = did_you_mean(unknown[0], [name for name in parameters if name not in _SET_BY_OBJECTIVE])
                raise ConfigError(
                    f"objective_args.discriminator has unknown key(s) {', '.join(unknown)} for "
                    f"{discriminator_class.__name__}.{hint} Valid: {valid}."
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

    # --- the loss: what a new adversarial objective overrides --------------------------------------------------
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        r"""The discriminator's loss (to minimise) from its logits on real and generated images.

        Args:
            real_logits (`torch.Tensor`): one logit per real image, shape `(batch,)`.
            fake_logits (`torch.Tensor`): one logit per generated image, shape `(batch,)`.

        Returns:
            `torch.Tensor`: a scalar.
        """
        raise NotImplementedError(f"{type(self).__name__} must define discriminator_loss(real_logits, fake_logits).")

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        r"""The generator's loss (to minimise) from the discriminator's logits on generated images.

        Args:
            fake_logits (`torch.Tensor`): one logit per generated image, shape `(batch,)`.

        Returns:
            `torch.Tensor`: a scalar.
        """
        raise NotImplementedError(f"{type(self).__name__} must define generator_loss(fake_logits).")

    # --- the step: a discriminator update, then (every n_critic steps) a generator update ----------------------
    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        real = batch["pixel_values"]
        labels = batch.get("class_labels") if self.unwrap("model").is_conditional else None
        update_generator = (step + 1) % self.n_critic == 0
        fake = None
        if self.reuse_fakes and update_generator:  # generated once, with its graph, for both updates
            fake = self.networks["model"](self._latents(real.shape[0], generator, real.device), labels)
        logs = self.discriminator_step(real, labels, generator, fake=None if fake is None else fake.detach())
        if update_generator:
            logs.update(self.generator_step(real.shape[0], labels, generator, real.device, fake=fake))
        return logs

    def discriminator_step(
        self,
        real: torch.Tensor,
        labels: torch.Tensor | None,
        generator: torch.Generator,
        fake: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        r"""One discriminator update on real images and detached fakes: the adversarial loss plus the weighted
        penalties of `regularise`.

        Args:
            fake (`torch.Tensor`, *optional*): detached generated images to score (`reuse_fakes`); by default new
                ones are generated without a graph.

        Returns:
            `dict`: the detached scalars to log (`loss_d`, `d_real`, `d_fake` and one entry per penalty).
        """
        model, discriminator = self.networks["model"], self.networks["discriminator"]
        if fake is None:
            with torch.no_grad():
                fake = model(self._latents(real.shape[0], generator, real.device), labels)
        real_logits = discriminator(self.augment_for_discriminator(real, generator), labels)
        fake_logits = discriminator(self.augment_for_discriminator(fake, generator), labels)
        loss_d = self.discriminator_loss(real_logits, fake_logits)
        logs = {
            "loss_d": loss_d.detach(),
            "d_real": real_logits.detach().mean(),
            "d_fake": fake_logits.detach().mean(),
        }
        watched, logit_penalties = self.observe_logits(real_logits, fake_logits)
        logs.update(watched)
        for name, (weight, penalty) in logit_penalties.items():
            loss_d = loss_d + weight * penalty
            logs[name] = penalty.detach()
        for name, (weight, penalty) in self.regularise(real, fake, labels, generator).items():
            loss_d = loss_d + weight * penalty
            logs[name] = penalty.detach()
        optimizer = self.optimizers["discriminator"]
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss_d)
        optimizer.step()
        return logs

    def generator_step(
        self,
        batch_size: int,
        labels: torch.Tensor | None,
        generator: torch.Generator,
        device: torch.device,
        fake: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        r"""One generator update through the frozen discriminator.

        Args:
            fake (`torch.Tensor`, *optional*): generated images with their graph (`reuse_fakes`); by default new
                ones are generated.

        Returns:
            `dict`: the detached scalars to log (`loss_g`).
        """
        # The bare discriminator: it is not being trained here, so DDP must not expect its gradients.
        critic = self.unwrap("discriminator")
        critic.requires_grad_(False)
        if fake is None:
            fake = self.networks["model"](self._latents(batch_size, generator, device), labels)
        loss_g = self.generator_loss(critic(self.augment_for_discriminator(fake, generator), labels))
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss_g)
        optimizer.step()
        critic.requires_grad_(True)
        return {"loss_g": loss_g.detach()}

    def augment_for_discriminator(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The images as the discriminator sees them: ADA's transforms (if on) with its current p, then the
        DiffAugment policy (if any); `images` itself when neither is on."""
        if self.ada is not None:
            images = self.ada(images, generator)
        return diff_augment(images, self.augment, generator)

    def observe_logits(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, tuple[float, torch.Tensor]]]:
        r"""Feed one discriminator update's logits to ADA (r_t, and p every `ada_interval` updates) and LeCam (its
        anchors). A subclass that writes its own `discriminator_step` calls this after computing the logits of the
        augmented images (see `augment_for_discriminator`).

        Returns:
            `(logs, penalties)`: detached scalars to log (`ada_p`, the p this update used, and `ada_rt`), and the
            penalties on the logits to add to the discriminator's loss, name -> (weight, penalty) (`lecam_penalty`).
        """
        logs: dict[str, torch.Tensor] = {}
        penalties: dict[str, tuple[float, torch.Tensor]] = {}
        if self.ada is not None:
            logs["ada_p"] = self.ada.owner.ada_p.clone()
            logs["ada_rt"] = self.ada.observe(real_logits, self._reduce_over_processes("sum"))
        if self.lecam is not None:
            self.lecam.update(real_logits, fake_logits, self._reduce_over_processes("mean"))
            penalties["lecam_penalty"] = (self.lecam_weight, self.lecam.penalty(real_logits, fake_logits))
        return logs, penalties

    def _reduce_over_processes(self, how: str):
        """A function that sums or averages a tensor over processes, or None with one process."""
        accelerator = self.accelerator
        if accelerator is None or accelerator.num_processes == 1:
            return None
        return lambda tensor: accelerator.reduce(tensor, reduction=how)

    # --- regularisers: one method each ---------------------------------------------------------------------------
    def regularise(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator
    ) -> dict[str, tuple[float, torch.Tensor]]:
        r"""The discriminator's penalty terms for this step, added to its loss in order as `weight * penalty`.

        Override it to add a regulariser: call `super()` and add `name: (weight, penalty)`; the penalty is logged,
        unweighted, under `name`.

        Args:
            real (`torch.Tensor`): the real images, not augmented.
            fake (`torch.Tensor`): the generated images of this discriminator update (detached), not augmented.
            labels (`torch.Tensor`, *optional*): their class labels, for a conditional discriminator.
            generator (`torch.Generator`): the step's only source of randomness.

        Returns:
            `dict`: name -> (weight, scalar penalty).
        """
        terms: dict[str, tuple[float, torch.Tensor]] = {}
        if self.gradient_penalty:
            terms["gradient_penalty"] = (
                self.gradient_penalty,
                self.wgan_gradient_penalty(real, fake, labels, generator),
            )
        if self.r1_gamma:
            terms["r1_penalty"] = (0.5 * self.r1_gamma, self.r1_penalty(real, labels))
        return terms

    def wgan_gradient_penalty(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        r"""E[(‖∇D(x̂)‖ − 1)²] at x̂ = α·real + (1 − α)·fake, α ~ U(0, 1) per sample (Gulrajani et al. 2017)."""
        alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device=generator.device).to(real.device)
        interpolates = alpha * real.float() + (1.0 - alpha) * fake.float()
        return ((self.critic_gradient_norms(interpolates, labels) - 1.0) ** 2).mean()

    def r1_penalty(self, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        r"""E[‖∇D(x)‖²] on real images (Mescheder et al. 2018); `regularise` weights it by γ/2."""
        return (self.critic_gradient_norms(real, labels) ** 2).mean()

    def critic_gradient_norms(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Per-sample gradient norms of the discriminator's output with respect to its input, in float32 (penalties
        are too small for half precision), with a graph for the penalty's own backward pass."""
        images = images.detach().float().requires_grad_(True)
        with torch.autocast(device_type=images.device.type, enabled=False):
            logits = self.unwrap("discriminator")(images, labels)
            (gradients,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
        return gradients.flatten(1).norm(2, dim=1)

    def _latents(self, batch_size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        return self.unwrap("model").sample_latents(batch_size, generator=generator, device=device, dtype=torch.float32)


class GANObjective(AdversarialObjective):
    """The original GAN loss with a non-saturating generator loss; Adam(2e-4, betas=(0.5, 0.999))."""

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        # Minimise −log D(x) − log(1 − D(G(z))) with D = σ(logit), written with softplus for stability.
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits).mean()  # non-saturating: minimise −log D(G(z))


class HingeObjective(AdversarialObjective):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018); Adam(2e-4, betas=(0.5, 0.999))."""

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


class WGANGPObjective(AdversarialObjective):
    """Wasserstein loss with gradient penalty 10 and 5 critic steps per generator step (Gulrajani et al. 2017);
    Adam(1e-4, betas=(0.0, 0.9)), layer norm in the critic."""

    default_lr = 1e-4
    default_betas = (0.0, 0.9)
    default_n_critic = 5
    default_gradient_penalty = 10.0
    discriminator_defaults = {"norm": "layer"}

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


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
