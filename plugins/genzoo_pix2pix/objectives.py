r"""The objectives of an image-to-image model: L1 regression (the baseline), and pix2pix's L1 plus a conditional
adversarial loss (Isola et al. 2017), each with an optional feature (perceptual) loss in an offline extractor.

Every step draws fresh degradations of the clean batch (`TaskSpec.draw`), so the model never sees one degraded
image twice.
"""

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genzoo import Generator, ModelRegistration, Objective
from genzoo.errors import ConfigError, GenzooError
from genzoo.objectives import GANObjective

__all__ = ["L1Objective", "Pix2PixObjective", "feature_extractor_for_loss"]


def feature_extractor_for_loss(name: str, num_channels: int) -> nn.Module:
    """A registered feature extractor (`mnist-classifier` for digits, or `inception`/`dinov2` where their weights
    are on disk) prepared for a differentiable loss: frozen, in eval mode, and without the 8-bit rounding it applies
    for FID (which has no gradient)."""
    from genzoo.metrics.extractors import load_feature_extractor  # lazy: only runs with a feature loss import it

    try:
        extractor = load_feature_extractor(name)
        extractor.check_channels(num_channels)
    except GenzooError as exc:
        raise ConfigError(f"objective_args.feature_extractor {name!r}: {exc}") from exc
    extractor.quantize = False
    return extractor.eval().requires_grad_(False)


class L1Objective(Objective):
    r"""L1 reconstruction alone: the mean absolute error between the restored and the clean images (on [-1, 1]),
    with fresh degradations drawn every step. The regression baseline of pix2pix: sharp where the input decides the
    answer, the median of the plausible answers (blurred) where it does not.

    Args:
        model (`Pix2PixGenerator`): the image-to-image generator.
        registration (`ModelRegistration`, *optional*): the model family.
        lr (`float`, defaults to 1e-3): Adam learning rate.
        betas (`tuple[float, float]`, defaults to (0.9, 0.999)): Adam betas.
        feature_weight (`float`, defaults to 0.0): weight of the feature (perceptual) loss, the mean squared
            distance between the features of restored and clean images (Johnson et al. 2016); 0 turns it off.
        feature_extractor (`str`, defaults to `"mnist-classifier"`): the registered extractor whose features it
            compares (offline: genzoo's shipped digit classifier).
    """

    default_lr = 1e-3
    default_betas = (0.9, 0.999)

    def __init__(
        self,
        model: Generator,
        registration: ModelRegistration | None = None,
        *,
        lr: float | None = None,
        betas: tuple[float, float] | list[float] | None = None,
        feature_weight: float = 0.0,
        feature_extractor: str = "mnist-classifier",
    ) -> None:
        super().__init__(model, registration)
        self._check_model(model, registration)
        self.lr = self.default_lr if lr is None else float(lr)
        self.betas = tuple(float(b) for b in (self.default_betas if betas is None else betas))
        self._setup_feature_loss(model, feature_weight, feature_extractor)
        if not math.isfinite(self.lr) or self.lr <= 0 or len(self.betas) != 2:
            raise ConfigError(f"Objective needs a finite lr > 0 and two Adam betas; got lr={lr}, betas={betas}.")

    @staticmethod
    def _check_model(model: Generator, registration: ModelRegistration | None) -> None:
        if getattr(model, "spec", None) is None:
            name = registration.name if registration else type(model).__name__
            raise ConfigError(
                f"The l1 and pix2pix objectives train image-to-image models such as 'pix2pix'; {name!r} maps latents "
                "to images."
            )

    def _setup_feature_loss(self, model: Generator, weight: float, name: str) -> None:
        self.feature_weight = float(weight)
        if not math.isfinite(self.feature_weight) or self.feature_weight < 0:
            raise ConfigError(f"objective_args.feature_weight must be >= 0, got {weight!r}.")
        # Not a trained network: kept outside `networks`, so it is neither optimised nor saved.
        self.features = (
            feature_extractor_for_loss(name, int(model.config.num_channels)) if self.feature_weight else None
        )

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.networks["model"].parameters(), lr=self.lr, betas=self.betas)}

    def degrade(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The model's input for a fresh draw of the task's degradations of clean images in [-1, 1]."""
        pixels = ((clean.float() + 1.0) / 2.0).clamp(0.0, 1.0)
        inputs, _ = self.unwrap("model").spec.draw(pixels, generator)
        return inputs.to(clean.dtype)

    def reconstruction_loss(self, restored: torch.Tensor, clean: torch.Tensor) -> dict[str, torch.Tensor]:
        """`{"l1": ...}` and, with a feature weight, `{"feature": ...}` (unweighted)."""
        terms = {"l1": F.l1_loss(restored.float(), clean.float())}
        if self.features is not None:
            extractor = self.features.to(restored.device)
            ours = extractor.extract(extractor.prepare(restored), with_logits=False)[0]
            theirs = extractor.extract(extractor.prepare(clean), with_logits=False)[0]
            terms["feature"] = F.mse_loss(ours.float(), theirs.float().detach())
        return terms

    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        clean = batch["pixel_values"]
        restored = self.networks["model"](self.degrade(clean, generator))
        terms = self.reconstruction_loss(restored, clean)
        loss = terms["l1"] + self.feature_weight * terms.get("feature", 0.0)
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        optimizer.step()
        return {"loss": loss.detach(), **{key: value.detach() for key, value in terms.items()}}


class Pix2PixObjective(GANObjective):
    r"""pix2pix: λ·L1 + the non-saturating conditional GAN loss (Isola et al. 2017, λ = 100), with the PatchGAN
    discriminator judging (degraded input, image) pairs. The adversarial loss pushes restorations from the blurred
    median that L1 alone gives towards images the discriminator cannot tell from real ones.

    Takes every option of genzoo's adversarial objectives (`lr`, `lr_d`, `betas`, `r1_gamma`, `spectral_norm`,
    `discriminator`, ...; the discriminator receives the degraded input where other families pass class labels),
    plus:

    Args:
        l1_weight (`float`, defaults to 100.0): λ, the weight of the L1 term.
        feature_weight (`float`, defaults to 0.0), feature_extractor (`str`): the optional feature loss, as in
            `L1Objective`.

    Each step restores once and scores that restoration in both updates (what `reuse_fakes` turns on elsewhere), so
    `reuse_fakes` is refused.
    """

    default_lr = 1e-3  # the generator's; the discriminator keeps pix2pix's 2e-4 (lr_d)
    default_betas = (0.5, 0.999)
    supports_ada_and_lecam = False  # its discriminator step judges (input, image) pairs without them

    def __init__(
        self,
        model: Generator,
        registration: ModelRegistration,
        *,
        l1_weight: float = 100.0,
        feature_weight: float = 0.0,
        feature_extractor: str = "mnist-classifier",
        lr_d: float | None = 2e-4,
        **adversarial: Any,
    ) -> None:
        L1Objective._check_model(model, registration)
        if "reuse_fakes" in adversarial:  # its step always scores one restoration in both updates
            raise ConfigError(
                "Objective pix2pix always reuses its restoration for both updates; drop objective_args.reuse_fakes."
            )
        super().__init__(model, registration, lr_d=lr_d, **adversarial)
        self.l1_weight = float(l1_weight)
        if not math.isfinite(self.l1_weight) or self.l1_weight < 0:
            raise ConfigError(f"objective_args.l1_weight must be >= 0, got {l1_weight!r}.")
        L1Objective._setup_feature_loss(self, model, feature_weight, feature_extractor)

    degrade = L1Objective.degrade
    reconstruction_loss = L1Objective.reconstruction_loss

    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        real = batch["pixel_values"]
        condition = self.degrade(real, generator)
        fake = self.networks["model"](condition)
        logs = self.discriminator_step(real, condition, fake.detach(), generator)
        if (step + 1) % self.n_critic == 0:
            logs.update(self.restoration_step(real, condition, fake))
        return logs

    def discriminator_step(
        self, real: torch.Tensor, condition: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        r"""One discriminator update on (input, real) against (input, restored) pairs, plus `regularise`'s
        penalties (which receive the input as their `labels`)."""
        discriminator = self.networks["discriminator"]
        real_logits = discriminator(real, condition)
        fake_logits = discriminator(fake, condition)
        loss_d = self.discriminator_loss(real_logits, fake_logits)
        logs = {
            "loss_d": loss_d.detach(),
            "d_real": real_logits.detach().mean(),
            "d_fake": fake_logits.detach().mean(),
        }
        for name, (weight, penalty) in self.regularise(real, fake, condition, generator).items():
            loss_d = loss_d + weight * penalty
            logs[name] = penalty.detach()
        optimizer = self.optimizers["discriminator"]
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss_d)
        optimizer.step()
        return logs

    def restoration_step(self, real: torch.Tensor, condition: torch.Tensor, fake: torch.Tensor) -> dict[str, Any]:
        r"""One generator update: λ·L1 (+ the feature loss) + the adversarial loss through the frozen
        discriminator."""
        critic = self.unwrap("discriminator")  # bare: DDP must not expect its gradients here
        critic.requires_grad_(False)
        adversarial = self.generator_loss(critic(fake, condition))
        terms = self.reconstruction_loss(fake, real)
        loss = adversarial + self.l1_weight * terms["l1"] + self.feature_weight * terms.get("feature", 0.0)
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        optimizer.step()
        critic.requires_grad_(True)
        return {
            "loss_g": loss.detach(),
            "loss_adv": adversarial.detach(),
            **{key: value.detach() for key, value in terms.items()},
        }
