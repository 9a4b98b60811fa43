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

Q's partition of the digits hardly changes once the generator follows it, so the warm-up can try several: category
heads on the trunk (`cluster_heads`) and, for its first `cluster_restart_steps`, rival Q networks from other random
starts (`cluster_restarts`). The lowest running clustering loss picks the Q network, then the head: the loss needs
no labels, and on MNIST the starts that settled in a poorer partition (4 and 9 split by slant, not by digit) ended
with a clearly higher one. By default ten heads and three starts cluster in a 1,500-step warm-up.

Once the game runs, the generator learns at the discriminator's rate, 2e-4, not the paper's 1e-3: with the faster one
its rows kept moving from digit to digit after they had matched Q's clusters (docs/disentanglement.md has the runs).
"""

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.errors import ConfigError
from genzoo.objectives import AdversarialObjective
from genzoo.objectives.adversarial import apply_spectral_norm
from genzoo.objectives.augment import random_affine

from .modeling_infogan import RivalQNetworks, swap_states

if TYPE_CHECKING:
    from genzoo import Generator, ModelRegistration

__all__ = ["InfoGANObjective", "imsat_losses"]

CONTINUOUS_LOSSES = ("mse", "gaussian")
_RUNNING_DECAY = 0.98  # of the category heads' running clustering losses: a mean over the last ~50 warm-up steps
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


def imsat_losses(category_logits: torch.Tensor) -> torch.Tensor:
    r"""IMSAT's loss (Hu et al. 2017) for each head's category logits of a batch of real images followed by their
    transformed copies T(x): CE(p(c | x), p(c | T(x))) + H(c | x) − 2·H(c), the first with p(c | x) held fixed. It
    is lowest, −2·log(num_categories), when every image gets one category, the same as its copy's, and the
    categories are used evenly.

    Args:
        category_logits (`torch.Tensor`): shape `(heads, 2 * batch, num_categories)`, the images first.

    Returns:
        `torch.Tensor`: one loss per head, float32.
    """
    log_p, log_p_moved = category_logits.float().log_softmax(2).chunk(2, dim=1)
    p = log_p.exp()
    marginal = p.mean(1)
    entropy = -(marginal * marginal.clamp_min(1e-8).log()).sum(1)
    conditional_entropy = -(p * log_p).sum(2).mean(1)
    consistency = -(p.detach() * log_p_moved).sum(2).mean(1)
    return consistency + conditional_entropy - 2.0 * entropy


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
        info_trains_category (`bool`, defaults to `True`): whether the discriminator step's information loss trains
            Q's reading of the category (the continuous codes always learn from generated images). With `False` and
            the clustering term, Q's category learns from real digits alone, so the generator has to draw what Q
            calls that category in real digits; see docs/disentanglement.md for what each setting did.
        cluster_weight (`float`, defaults to 5.0): weight of the clustering term on real images (the module's
            docstring); 0 turns it and its warm-up off, leaving the paper's InfoGAN. Applies to the categorical code
            only.
        cluster_warmup_steps (`int`, defaults to 1500): first steps in which only Q (the discriminator's trunk and
            Q head) learns, from the clustering term alone at `cluster_lr`; the generator starts after them, and the
            discriminator's Adam starts afresh.
        cluster_lr (`float`, defaults to 1e-3): the learning rate of the warm-up steps.
        cluster_heads (`int`, defaults to 10): category heads on the shared trunk that learn the clustering in the
            warm-up, Q's and `cluster_heads − 1` candidates, each from its own random start. At the end of the
            warm-up the one with the lowest running clustering loss becomes Q's head (IIC's sub-heads, Ji et al.
            2019).
        cluster_restarts (`int`, defaults to 3): independent Q networks (trunk and heads, each from its own random
            start) that cluster side by side in the first `cluster_restart_steps` warm-up steps; then the one whose
            best head has the lowest running loss becomes the discriminator's Q and the others stop. Heads on one
            trunk settle in the same partition of the digits; separate trunks do not, and the loss, which needs no
            labels, picks the better partition. It costs `cluster_restarts` times the compute of those steps, and
            the rivals' weights and Adam state stay in every checkpoint (so that a resumed run is bit-identical).
        cluster_restart_steps (`int`, *optional*): length of that tournament, at most `cluster_warmup_steps`; by
            default a third of it (500 steps at the defaults).
        lr, lr_d, kwargs: every option of `AdversarialObjective` (`betas`, `n_critic`, penalties, `spectral_norm`,
            `augment`, ADA, LeCam, `discriminator`) works as there. Defaults: Adam with lr 2e-4 and β₁ = 0.5 for
            both networks (the paper's generator had 1e-3, with which the rows drifted between digits late in a
            run; docs/disentanglement.md). The discriminator's widths come from the generator's config
            (`model_args`).

    Logs `loss_d` and `loss_g` (each with λ·L_I included), `info_loss` and `code_accuracy` (L_I and how often Q
    reads the category of a generated image right, in the generator step; `info_loss_d`, `code_accuracy_d` in the
    discriminator step), and `cluster_loss` (the clustering term; its lowest value is −2·log(num_categories)).
    """

    default_betas = (0.5, 0.999)
    # they set how many heads the discriminator has and whether the rivals are a network of the checkpoint
    resume_sensitive_keys = AdversarialObjective.resume_sensitive_keys | {"cluster_heads", "cluster_restarts"}

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
        info_trains_category: bool = True,
        cluster_weight: float = 5.0,
        cluster_warmup_steps: int = 1500,
        cluster_lr: float = 1e-3,
        cluster_heads: int = 10,
        cluster_restarts: int = 3,
        cluster_restart_steps: int | None = None,
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
        if not isinstance(info_trains_category, bool):
            raise ConfigError(
                f"objective_args.info_trains_category must be true or false, got {info_trains_category!r}."
            )
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
        if cluster_restart_steps is None:
            cluster_restart_steps = cluster_warmup_steps // 3
        for name, value, least in (("cluster_heads", cluster_heads, 1), ("cluster_restarts", cluster_restarts, 1),
                                   ("cluster_restart_steps", cluster_restart_steps, 0)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"objective_args.{name} must be an integer >= {least}, got {value!r}.")
        clusters = self.cluster_weight > 0 and model.config.num_categories > 0
        self.cluster_weight = self.cluster_weight if clusters else 0.0
        self.warmup_steps = cluster_warmup_steps if clusters else 0  # `Objective.warmup_steps`: the trainer reports it
        self.info_trains_category = info_trains_category
        self.cluster_heads = cluster_heads if self.warmup_steps else 1
        self.cluster_restarts = cluster_restarts if self.warmup_steps and cluster_restart_steps else 1
        if self.cluster_restarts > 1 and cluster_restart_steps > self.warmup_steps:
            raise ConfigError(
                f"objective_args.cluster_restart_steps ({cluster_restart_steps}) must be at most cluster_warmup_steps "
                f"({self.warmup_steps}): the rival Q networks cluster inside the warm-up."
            )
        self.cluster_restart_steps = cluster_restart_steps if self.cluster_restarts > 1 else 0
        self._info_logs: dict[str, torch.Tensor] = {}
        self._rivals: list[nn.Module] = []
        super().__init__(model, registration, lr=lr, lr_d=lr_d, **kwargs)
        if self._rivals:
            if kwargs.get("spectral_norm"):
                for rival in self._rivals:
                    apply_spectral_norm(rival)
            self.networks["rivals"] = RivalQNetworks(self._rivals)

    def _build_discriminator(self, model: "Generator", registration: "ModelRegistration", options: dict[str, Any]):
        clash = sorted(set(options) & set(_FROM_GENERATOR))
        if clash:
            raise ConfigError(
                f"objective_args.discriminator.{clash[0]} comes from the generator (its copy of the Q network must "
                f"match the discriminator's); set model_args.{_FROM_GENERATOR[clash[0]]} instead."
            )
        if "cluster_heads" in options:
            raise ConfigError(
                "objective_args.discriminator.cluster_heads is set by the objective; set objective_args.cluster_heads "
                "instead."
            )
        from_generator = {key: model.config[source] for key, source in _FROM_GENERATOR.items()}
        options = {**options, **from_generator, "cluster_heads": self.cluster_heads}
        discriminator = super()._build_discriminator(model, registration, options)
        # built after it, so that the discriminator's own start is the same with rivals or without
        self._rivals = [
            super(InfoGANObjective, self)._build_discriminator(model, registration, options)
            for _ in range(self.cluster_restarts - 1)
        ]
        return discriminator

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
        if prefix == "_d" and not self.info_trains_category:  # Q's category learns from real digits alone
            estimates = (estimates[0].detach(), *estimates[1:])
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
            losses = self.cluster_losses(real, generator)
            # Q's head alone from here; + 0·candidates keeps them in the graph, as DDP expects of every parameter
            terms["cluster_loss"] = (self.cluster_weight, losses[0] + 0.0 * losses[1:].sum())
        return terms

    def cluster_losses(self, real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        r"""IMSAT's loss (`imsat_losses`) of every category head of the discriminator's Q, for real images and
        randomly rotated, scaled and shifted copies of them.

        Returns:
            `torch.Tensor`: one loss per category head, Q's first, shape `(cluster_heads,)`.
        """
        return self._cluster_losses_of_pairs(torch.cat([real, random_affine(real, generator)]))

    def _cluster_losses_of_pairs(self, pairs: torch.Tensor) -> torch.Tensor:
        discriminator = self.networks["discriminator"]  # as prepared, so that several processes share gradients
        logits = discriminator(pairs, with_candidates=True)
        losses = imsat_losses(self.unwrap("discriminator").last_category_logits)
        # + 0·logits: the adversarial head takes part in the graph, as DDP expects of every parameter
        return losses + 0.0 * logits.float().sum()

    def cluster_warmup_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """One warm-up step: the clustering losses of all category heads, averaged, train the discriminator's trunk
        and the heads (and, in the tournament's steps, the rival Q networks theirs) at `cluster_lr`, and update each
        head's running loss; the generator waits."""
        real = batch["pixel_values"]
        pairs = torch.cat([real, random_affine(real, generator)])
        losses = self._cluster_losses_of_pairs(pairs)
        trained = [("discriminator", losses)]
        if step < self.cluster_restart_steps:
            trained.append(("rivals", imsat_losses(self.networks["rivals"](pairs).flatten(0, 1))))
        for name, _ in trained:
            self.optimizers[name].zero_grad(set_to_none=True)
        self.accelerator.backward(sum(head_losses.mean() for _, head_losses in trained))
        discriminator_optimizer = self.optimizers["discriminator"]
        learning_rates = [group["lr"] for group in discriminator_optimizer.param_groups]
        for group in discriminator_optimizer.param_groups:
            group["lr"] = self.cluster_lr
        for name, _ in trained:
            self.optimizers[name].step()
        for group, lr in zip(discriminator_optimizer.param_groups, learning_rates, strict=True):
            group["lr"] = lr
        networks = [self.unwrap("discriminator"), *(self.unwrap("rivals").rivals if len(trained) > 1 else [])]
        # the same on every process, so that all of them pick the same head
        reduced = self.accelerator.reduce(torch.cat([head_losses for _, head_losses in trained]).detach().float())
        for network, head_losses in zip(networks, reduced.split(self.cluster_heads), strict=True):
            network.running_head_losses.lerp_(head_losses, 1.0 - _RUNNING_DECAY)
        return {"cluster_loss": losses[0].detach()}

    @torch.no_grad()
    def adopt_best_rival(self) -> int:
        """End the tournament: make the Q network whose best head has the lowest running loss the discriminator's
        (swapping it with a rival's), and return its index (0: the discriminator's own)."""
        discriminator = self.unwrap("discriminator")
        networks = [discriminator, *self.unwrap("rivals").rivals]
        best = int(torch.stack([network.running_head_losses.min() for network in networks]).argmin())
        if best:
            discriminator.swap_q_network(networks[best])
            self.optimizers["discriminator"].state.clear()  # its moments were the other weights'
        # the rivals are done: no stale gradients for the trainer to measure at every later step
        self.optimizers["rivals"].zero_grad(set_to_none=True)
        return best

    @torch.no_grad()
    def adopt_best_cluster_head(self) -> int:
        """Make the category head with the lowest running clustering loss Q's head (swapping it with Q's), and
        return its index (0: Q's own)."""
        discriminator = self.unwrap("discriminator")
        best = int(discriminator.running_head_losses.argmin())
        if best:
            swap_states(discriminator.recognizer.code_head, discriminator.candidate_heads[best - 1])
            losses = discriminator.running_head_losses
            losses[[0, best]] = losses[[best, 0]]
        return best

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
        adopted = {}
        if step == self.cluster_restart_steps > 0:  # the tournament ends: the best Q network goes on
            adopted["cluster_restart"] = self.adopt_best_rival()
        if step < self.warmup_steps:
            logs = self.cluster_warmup_step(batch, step, generator)
        else:
            if step == self.warmup_steps > 0:  # the adversarial game starts: Q's best head, a fresh Adam
                adopted["cluster_head"] = self.adopt_best_cluster_head()
                self.optimizers["discriminator"].state.clear()
            logs = super().training_step(batch, step, generator)
        logs.update({name: torch.tensor(float(index)) for name, index in adopted.items()})
        logs.update(self._info_logs)
        self.sync_recognizer()
        return logs

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        trained = [p for p in self.networks["model"].parameters() if p.requires_grad]  # not the Q copy
        optimizers = {
            "model": torch.optim.Adam(trained, lr=self.lr, betas=self.betas),
            "discriminator": torch.optim.Adam(
                self.networks["discriminator"].parameters(), lr=self.lr_d, betas=self.betas
            ),
        }
        if "rivals" in self.networks:  # they only ever cluster
            optimizers["rivals"] = torch.optim.Adam(
                self.networks["rivals"].parameters(), lr=self.cluster_lr, betas=self.betas
            )
        return optimizers

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
