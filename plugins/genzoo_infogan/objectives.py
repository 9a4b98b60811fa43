r"""InfoGAN's objective: an adversarial loss plus λ times the mutual-information lower bound's loss (Chen et al.
2016), built on genzoo's `AdversarialObjective`.

The information loss is L_I = CE(Q_cat(G(z, c)), c_cat) + λ_cont · NLL_Gaussian(c_cont; Q_μ, σ = 1) on generated
images, the negative variational lower bound of I(c; G(z, c)) up to the codes' (constant) entropy. The discriminator
minimises its adversarial loss + λ·L_I (training the shared trunk and the Q head) and the generator its adversarial
loss + λ·L_I (so that its images keep the codes readable), as in the paper's code.

Mutual information alone does not say *which* factor the category should carry: on MNIST it often settled on a mix of
digit and style (two digits in one row, one digit split by slant). So Q also clusters the real images (IMSAT, Hu et
al. 2017, with random affine transforms in place of virtual adversarial ones): its category of a real digit must be
confident, the same for a randomly rotated, scaled and shifted copy, and the categories must be used evenly. Q learns
that alone for the first `cluster_warmup_steps` steps, so the generator's codes start out aligned with clusters of
the real images, and keeps learning it, weighted by `cluster_weight`, in every discriminator update after that.
"""

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from genzoo.errors import ConfigError
from genzoo.objectives import AdversarialObjective
from genzoo.objectives.augment import random_affine

if TYPE_CHECKING:
    from genzoo import Generator, ModelRegistration

__all__ = ["InfoGANObjective"]

CONTINUOUS_LOSSES = ("mse", "gaussian")
ADVERSARIAL_LOSSES = ("gan", "hinge")
# Set from the generator's config: the discriminator's Q network is copied into the generator, so they must match.
_FROM_GENERATOR = {
    "num_categories": "num_categories",
    "num_continuous": "num_continuous",
    "base_channels": "base_channels",
    "hidden_dim": "hidden_dim",
    "q_hidden_dim": "q_hidden_dim",
    "norm": "critic_norm",
}


class InfoGANObjective(AdversarialObjective):
    r"""InfoGAN: the original GAN loss (or the hinge loss) plus the mutual-information term.

    Args:
        model (`InfoGANGenerator`): the generator (it must have codes and a `recognizer`).
        registration (`ModelRegistration`): the `infogan` family; its discriminator has the Q head.
        info_weight (`float`, defaults to 1.0): λ, the weight of the information loss (the paper's λ = 1).
        continuous_weight (`float`, defaults to 1.0): weight of the continuous codes' term within it.
        continuous_loss (`str`, defaults to `"mse"`): `"mse"`, the NLL of a unit-variance Gaussian around Q's mean,
            ½(c − μ)² (the paper's MNIST setting, its code's `fix_std=True`), or `"gaussian"`, the NLL of a factored
            Gaussian whose standard deviation Q predicts too. A learned σ can shrink until the continuous term
            outweighs the GAN loss (on mnist-5k the generator then drew codes as noise textures that Q read
            perfectly), hence the fixed one by default.
        loss (`str`, defaults to `"gan"`): the adversarial loss, `"gan"` (non-saturating, as in the paper) or
            `"hinge"`.
        info_trains_trunk (`bool`, defaults to `True`): whether the information loss trains the discriminator's
            trunk (shared with Q) as well as the Q head. With `False` the trunk learns only to tell real from
            generated images and Q reads the codes from those features (the generator still gets the information
            loss's gradient through them), so the generator must put its codes into what the discriminator looks
            at, not into marks only Q attends to.
        cluster_weight (`float`, defaults to 5.0): weight of the clustering term on real images (the module's
            docstring); 0 turns it and its warm-up off, leaving the paper's InfoGAN. Applies to the categorical code
            only.
        cluster_warmup_steps (`int`, defaults to 500): first steps in which only Q (the discriminator's trunk and
            Q head) learns, from the clustering term alone at `cluster_lr`; the generator starts after them, and the
            discriminator's Adam starts afresh.
        cluster_lr (`float`, defaults to 1e-3): the learning rate of the warm-up steps.
        lr, lr_d, kwargs: every option of `AdversarialObjective` (`betas`, `n_critic`, penalties, `spectral_norm`,
            `augment`, ADA, LeCam, `discriminator`) works as there. Defaults: the paper's Adam, lr 1e-3 for the
            generator and 2e-4 for the discriminator, β₁ = 0.5. The discriminator's widths come from the
            generator's config (`model_args`).

    Logs `loss_d` and `loss_g` (each with λ·L_I included), `info_loss` and `code_accuracy` (L_I and how often Q
    reads the category of a generated image right, in the generator step; `info_loss_d`, `code_accuracy_d` in the
    discriminator step), and `cluster_loss` (the clustering term; its lowest value is −2·log(num_categories)).
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
        continuous_loss: str = "mse",
        loss: str = "gan",
        info_trains_trunk: bool = True,
        cluster_weight: float = 5.0,
        cluster_warmup_steps: int = 500,
        cluster_lr: float = 1e-3,
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
        if not isinstance(info_trains_trunk, bool):
            raise ConfigError(f"objective_args.info_trains_trunk must be true or false, got {info_trains_trunk!r}.")
        self.continuous_loss, self.loss, self.info_trains_trunk = continuous_loss, loss, info_trains_trunk
        self.cluster_weight, self.cluster_lr = float(cluster_weight), float(cluster_lr)
        if not (math.isfinite(self.cluster_weight) and self.cluster_weight >= 0):
            raise ConfigError(f"objective_args.cluster_weight must be a number >= 0, got {cluster_weight!r}.")
        if (
            isinstance(cluster_warmup_steps, bool)
            or not isinstance(cluster_warmup_steps, int)
            or cluster_warmup_steps < 0
        ):
            raise ConfigError(
                f"objective_args.cluster_warmup_steps must be an integer >= 0, got {cluster_warmup_steps!r}."
            )
        if not (math.isfinite(self.cluster_lr) and self.cluster_lr > 0):
            raise ConfigError(f"objective_args.cluster_lr must be a number > 0, got {cluster_lr!r}.")
        clusters = self.cluster_weight > 0 and model.config.num_categories > 0
        self.cluster_weight = self.cluster_weight if clusters else 0.0
        self.warmup_steps = cluster_warmup_steps if clusters else 0  # `Objective.warmup_steps`: the trainer reports it
        self._info_logs: dict[str, torch.Tensor] = {}
        super().__init__(model, registration, lr=lr, lr_d=lr_d, **kwargs)

    def _build_discriminator(self, model: "Generator", registration: "ModelRegistration", options: dict[str, Any]):
        clash = sorted(set(options) & set(_FROM_GENERATOR))
        if clash:
            raise ConfigError(
                f"objective_args.discriminator.{clash[0]} comes from the generator (its copy of the Q network must "
                f"match the discriminator's); set model_args.{_FROM_GENERATOR[clash[0]]} instead."
            )
        from_generator = {key: model.config[source] for key, source in _FROM_GENERATOR.items()}
        return super()._build_discriminator(model, registration, {**options, **from_generator})

    # --- the losses: the adversarial one plus λ·L_I on the codes of the images just judged ------------------------
    # The steps are `AdversarialObjective`'s (so ADA, LeCam, DiffAugment and the penalties apply unchanged): each
    # draws latents through `_latents` and then runs the discriminator on the generated images last, whose Q
    # estimates the discriminator keeps (`last_codes`); the two losses below add the information term from them.
    def _latents(self, batch_size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        self._drawn = super()._latents(batch_size, generator, device)
        return self._drawn

    def _information_term(self, prefix: str) -> torch.Tensor:
        discriminator = self.unwrap("discriminator")
        estimates = discriminator.last_codes
        if prefix == "_d" and not self.info_trains_trunk:  # Q's head learns on the trunk's features, not the trunk
            estimates = discriminator.recognizer.codes_from_features(discriminator.last_features.detach())
        info_loss, accuracy = self.information_loss(self._drawn, estimates)
        self._info_logs[f"info_loss{prefix}"] = info_loss.detach()
        self._info_logs[f"code_accuracy{prefix}"] = accuracy
        return self.info_weight * info_loss

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.loss == "hinge":
            adversarial = F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        else:
            adversarial = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        return adversarial + self._information_term("_d")

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        adversarial = -fake_logits.mean() if self.loss == "hinge" else F.softplus(-fake_logits).mean()
        return adversarial + self._information_term("")

    # --- the clustering term on real images --------------------------------------------------------------------
    def regularise(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator
    ) -> dict[str, tuple[float, torch.Tensor]]:
        terms = super().regularise(real, fake, labels, generator)
        if self.cluster_weight:
            terms["cluster_loss"] = (self.cluster_weight, self.cluster_loss(real, generator))
        return terms

    def cluster_loss(self, real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        r"""IMSAT's loss for Q's categories p(c | x) of real images x and of randomly transformed copies T(x):
        CE(p(c | x), p(c | T(x))) + H(c | x) − 2·H(c), the first with p(c | x) held fixed (Hu et al. 2017, with
        random affine transforms for T). It is lowest, −2·log(num_categories), when every image gets one category,
        the same as its copy's, and the categories are used evenly.

        Returns:
            `torch.Tensor`: a scalar.
        """
        discriminator = self.networks["discriminator"]  # as prepared, so that several processes share gradients
        logits = discriminator(torch.cat([real, random_affine(real, generator)]))
        category_logits = self.unwrap("discriminator").last_codes[0].float()
        log_p, log_p_moved = category_logits.log_softmax(1).chunk(2)
        p = log_p.exp()
        marginal = p.mean(0)
        entropy = -(marginal * marginal.clamp_min(1e-8).log()).sum()
        conditional_entropy = -(p * log_p).sum(1).mean()
        consistency = -(p.detach() * log_p_moved).sum(1).mean()
        # + 0·logits: the adversarial head takes part in the graph, as DDP expects of every parameter
        return consistency + conditional_entropy - 2.0 * entropy + 0.0 * logits.float().sum()

    def cluster_warmup_step(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """One warm-up step: the clustering term alone trains the discriminator's trunk and Q head, at
        `cluster_lr`; the generator waits."""
        loss = self.cluster_loss(batch["pixel_values"], generator)
        optimizer = self.optimizers["discriminator"]
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        learning_rates = [group["lr"] for group in optimizer.param_groups]
        for group in optimizer.param_groups:
            group["lr"] = self.cluster_lr
        optimizer.step()
        for group, lr in zip(optimizer.param_groups, learning_rates, strict=True):
            group["lr"] = lr
        return {"cluster_loss": loss.detach()}

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
            else:  # a unit-variance Gaussian: ½(c − μ)², the constant dropped
                nll = 0.5 * (continuous - mean).pow(2)
            loss = loss + self.continuous_weight * nll.sum(1).mean()
        return loss, accuracy

    # --- the step ---------------------------------------------------------------------------------------------------
    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """The adversarial step (discriminator, then generator) with the information term in both losses, or in the
        first `cluster_warmup_steps` steps the clustering warm-up; then the trained Q network (with the batch-norm
        statistics both passes updated) is copied into the generator."""
        self._info_logs = {}
        if step < self.warmup_steps:
            logs = self.cluster_warmup_step(batch, generator)
        else:
            if step == self.warmup_steps > 0:  # the adversarial game starts: a fresh Adam, not the warm-up's
                self.optimizers["discriminator"].state.clear()
            logs = super().training_step(batch, step, generator)
        logs.update(self._info_logs)
        self.sync_recognizer()
        return logs

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
