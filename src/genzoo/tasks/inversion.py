r"""Inversion (image to latent), the engine of every restore task and of the `invert` task.

Restoration follows deep-generative-prior restoration (Bora et al. 2017; Pan et al. 2021): an observation y of an
unknown clean image x was made by a known degradation A (a mask, a downsampling, added noise). genzoo looks for the
latent z whose generated image G(z), degraded the same way, matches y, while staying where the prior has mass:

    minimise over z:   ‖A(G(z)) − y‖² / (2σ²)  +  prior_weight · (−log p(z))  [+ feature_weight · ‖φ(A(G(z))) − φ(y)‖²]

which is the negative log-posterior of z under Gaussian observation noise of standard deviation σ (the
degradation's `noise_std`): a maximum-a-posteriori estimate. Adam optimises several starting points at once
(random draws from the prior, and the encoder's posterior mean for a model that has an encoder) and the best one
per image is kept. A conditional model whose class is not given tries every class. Everything goes through the
`Generator` interface (`forward`, `sample_latents`, `prior_nll`, `posterior`), so a plugin's family gets it for
free.

The parts, in the order `invert` runs them: `InversionOptions` (checked settings), `draw_starts` (every starting
point or candidate, drawn up front so a batch split changes nothing), then per batch an `InversionProblem`: its
`objective`, `screen` (the best candidates by the objective), `encoder_starts`, `optimise` (Adam with a cosine
schedule, keeping each start's best point) and `best` (the best start per image).
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..errors import GenzooError
from ..images import from_model_range, to_model_range
from ..modeling import Generator, sampling_mode
from .degradations import Degradation, Downsample, GaussianNoise, Mask
from .limits import MAX_BATCH_SIZE, MAX_CANDIDATES, MAX_RESTARTS, MAX_START_VALUES, MAX_STEPS

__all__ = [
    "MAX_CANDIDATES",
    "MAX_STEPS",
    "PRIORS",
    "InversionOptions",
    "InversionProblem",
    "InversionResult",
    "check_invertible",
    "draw_starts",
    "invert",
    "load_feature_extractor",
]

PRIORS = ("penalty", "sphere", "none")
_SCREEN_CHUNK = 1024  # prior draws evaluated at once when screening (bounds the memory of the forward passes)


@dataclass
class InversionOptions:
    r"""How `invert` searches; every `pipe.invert`/`restore`/`inpaint`/... keyword besides the images, classes and
    generator is one of these.

    Args:
        num_steps (`int`, defaults to 200): Adam steps (the learning rate decays to 0 on a cosine). 0 keeps the
            encoder's posterior mean (models with an encoder only).
        num_restarts (`int`, defaults to 4): starting points per image (and class): the encoder's posterior mean
            when there is one (and `use_encoder`), the rest drawn from the prior with `generator`.
        num_candidates (`int`, *optional*): screen this many prior draws per image (and class) before optimising:
            the objective of each draw is computed once without gradients, and the best ones become the prior
            starting points (a cheap first stage, as in GAN-inversion work: a forward pass costs less than half an
            optimisation step). Defaults to `num_restarts` (no screening); it must be at least `num_restarts`.
        lr (`float`, defaults to 0.1): Adam's learning rate (0.1 inverted 16 held-out digits with a DCGAN 1.5 dB
            better than 0.05).
        prior (`str`, defaults to `"penalty"`): `"penalty"` adds `prior_weight · model.prior_nll(z)`; `"sphere"`
            keeps z on the sphere of radius √dim where a Gaussian latent's mass lies (no penalty); `"none"`.
        prior_weight (`float`, defaults to 1.0): weight of the prior penalty (1 is the true posterior).
        feature_extractor (callable or `"mnist-classifier"`, *optional*): features of [-1, 1] images for a feature
            loss; only where observations are full images (plain inversion, denoising).
        feature_weight (`float`, defaults to 1.0): weight of the feature loss.
        use_encoder (`bool`, defaults to `True`): start from the posterior mean of a model with an encoder.
        batch_size (`int`, defaults to 64): images optimised together (each with all its starting points).
        progress_bar (`dict` or `bool`, defaults to `True`): show a tqdm bar (steps × batches) once the search has
            run for a second; `False` hides it, and a dict gives tqdm options (a pipeline passes its
            `set_progress_bar_config`, as diffusers pipelines do; `{"disable": True}` hides it).
    """

    num_steps: int = 200
    num_restarts: int = 4
    num_candidates: int | None = None
    lr: float = 0.1
    prior: str = "penalty"
    prior_weight: float = 1.0
    feature_extractor: Any = None
    feature_weight: float = 1.0
    use_encoder: bool = True
    batch_size: int = 64
    progress_bar: dict[str, Any] | bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        if self.prior not in PRIORS:
            raise GenzooError(f"`prior` must be one of {', '.join(PRIORS)}, got {self.prior!r}.")
        _check_count("num_steps", self.num_steps, 0, MAX_STEPS)
        _check_count("num_restarts", self.num_restarts, 1, MAX_RESTARTS)
        self.num_candidates = self.num_restarts if self.num_candidates is None else self.num_candidates
        if not isinstance(self.num_candidates, int) or isinstance(self.num_candidates, bool):
            raise GenzooError(f"`num_candidates` must be an integer, got {self.num_candidates!r}.")
        _check_count("num_candidates", self.num_candidates, self.num_restarts, MAX_CANDIDATES, "`num_restarts`")
        _check_count("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        numbers = (self.lr, self.prior_weight, self.feature_weight)
        finite = all(isinstance(n, int | float) and math.isfinite(n) for n in numbers)
        if not finite or not self.lr > 0 or self.prior_weight < 0 or self.feature_weight < 0:
            raise GenzooError(
                "`lr` must be a positive finite number, `prior_weight` and `feature_weight` finite numbers >= 0."
            )


def _check_count(name: str, value: Any, low: int, high: int, low_name: str = "") -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        floor = f"{low_name} ({low})" if low_name else str(low)
        raise GenzooError(f"`{name}` must be an integer from {floor} to {high:,}, got {value!r}.")


@dataclass
class InversionResult:
    r"""What `invert` found for each image.

    Args:
        latents (`torch.Tensor`): `(batch, *latent_shape)`, the best latent per image.
        class_labels (`torch.Tensor` or `None`): `(batch,)` the class used (given or found) for a conditional model.
        images (`torch.Tensor`): `(batch, C, H, W)` in [0, 1], the generated images G(z) (before `finalize`).
        objective (`torch.Tensor`): `(batch,)` the minimised objective (data term + prior [+ features]).
    """

    latents: torch.Tensor
    class_labels: torch.Tensor | None
    images: torch.Tensor
    objective: torch.Tensor


def check_invertible(model: Generator) -> None:
    """A one-line `GenzooError` for a family that sets `supports_inversion = False`."""
    if not getattr(model, "supports_inversion", True):
        raise GenzooError(
            f"{type(model).__name__} does not support inversion (its family sets supports_inversion = False), so "
            "it cannot invert, inpaint, super-resolve or denoise images."
        )


def load_feature_extractor(feature_extractor: Any) -> Any:
    """The feature function of `InversionOptions.feature_extractor` (`None`, a callable or `"mnist-classifier"`)."""
    if feature_extractor == "mnist-classifier":  # the classifier shipped with genzoo; lazy, it loads weights
        from ..metrics.mnist_classifier import load_mnist_classifier

        return load_mnist_classifier().features
    if feature_extractor is not None and not callable(feature_extractor):
        raise GenzooError("`feature_extractor` must be a callable on [-1, 1] images or 'mnist-classifier'.")
    return feature_extractor


def invert(
    model: Generator,
    observed: torch.Tensor,
    *,
    degradation: Degradation | None = None,
    class_labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    options: InversionOptions | None = None,
    **option_values: Any,
) -> InversionResult:
    r"""Find latents whose generated images, degraded by `degradation`, match `observed` (see the module docstring).

    Args:
        model (`Generator`): the generator (put in eval mode for the search; its weights are not changed).
        observed (`torch.Tensor`): observations `(batch, C, h, w)` in [0, 1]; clean images when `degradation` is
            `None` (plain inversion).
        degradation (`Degradation`, *optional*): the known degradation; `None` inverts clean images (σ = 0.05).
        class_labels (`torch.Tensor`, *optional*): `(batch,)` classes for a conditional model; when omitted every
            class is tried (`num_restarts` starts each) and the best is kept.
        generator (`torch.Generator`, *optional*): makes the starting points, and so the result, deterministic.
        options (`InversionOptions`, *optional*): the search settings; or pass them as keywords (`num_steps=50`).

    Returns:
        `InversionResult`.
    """
    check_invertible(model)
    if options is None:
        options = InversionOptions(**option_values)
    elif option_values:
        options = InversionOptions(**{**asdict(options), **option_values})
    degradation = degradation if degradation is not None else GaussianNoise(0.05)
    features = load_feature_extractor(options.feature_extractor)
    if features is not None and isinstance(degradation, Mask | Downsample):
        raise GenzooError(
            f"The feature loss compares full images, so it does not apply to {degradation.name}; drop "
            "feature_extractor."
        )
    degradation.check(observed, int(model.config.image_size))
    has_encoder = options.use_encoder and _has_encoder(model)
    if options.num_steps == 0 and not has_encoder:
        raise GenzooError(f"num_steps=0 keeps an encoder's estimate, but {type(model).__name__} has no encoder.")
    class_labels = _checked_labels(model, class_labels, len(observed))
    starts = draw_starts(model, len(observed), class_labels is None, options, generator)
    _check_prior(model, options, starts)

    results = []
    with sampling_mode(model), _Progress(options, len(observed)) as advance:
        for first in range(0, len(observed), options.batch_size):
            index = torch.arange(first, min(first + options.batch_size, len(observed)))
            problem = InversionProblem(
                model, observed[index], degradation.select(index), options, features, has_encoder, advance
            )
            results.append(problem.solve(starts[index], None if class_labels is None else class_labels[index]))
    return InversionResult(
        latents=torch.cat([r.latents for r in results]),
        class_labels=None if not model.is_conditional else torch.cat([r.class_labels for r in results]),
        images=torch.cat([r.images for r in results]),
        objective=torch.cat([r.objective for r in results]),
    )


def _has_encoder(model: Generator) -> bool:
    size = int(model.config.image_size)
    probe = torch.zeros(1, model.config.num_channels, size, size, device=model.device, dtype=model.dtype)
    labels = torch.zeros(1, dtype=torch.long, device=model.device) if model.is_conditional else None
    return model.posterior(probe, labels) is not None


def _checked_labels(model: Generator, class_labels: Any, count: int) -> torch.Tensor | None:
    if class_labels is None:
        return None
    class_labels = torch.as_tensor(class_labels).long().flatten().cpu()
    if not model.is_conditional:
        raise GenzooError(f"{type(model).__name__} is unconditional and takes no `class_labels`.")
    if len(class_labels) == 1 and count > 1:
        class_labels = class_labels.expand(count)
    if len(class_labels) != count:
        raise GenzooError(f"Got {len(class_labels)} class labels for {count} images.")
    return class_labels


def draw_starts(
    model: Generator, count: int, every_class: bool, options: InversionOptions, generator: torch.Generator | None
) -> torch.Tensor:
    """Every image's starting points (or candidates, when screening), drawn up front from `generator` in one order,
    so a batch split does not change them: `(images, classes, candidates, *latent_shape)`."""
    num_classes = model.num_classes if model.is_conditional and every_class else 1
    total = count * num_classes * options.num_candidates
    values = total * int(torch.Size(model.latent_shape).numel())
    if values > MAX_START_VALUES:
        raise GenzooError(
            f"{count} image(s) × {num_classes} class(es) × {options.num_candidates} candidates would draw {values:,} "
            f"latent values, above the limit of {MAX_START_VALUES:,}; pass fewer images, candidates or restarts, "
            "or the class labels."
        )
    starts = model.sample_latents(total, generator=generator, device="cpu")
    return starts.float().view(count, num_classes, options.num_candidates, *model.latent_shape)


def _check_prior(model: Generator, options: InversionOptions, starts: torch.Tensor) -> None:
    if options.prior == "sphere" and model.latent_prior != "gaussian":
        raise GenzooError(
            f"prior='sphere' assumes a Gaussian latent prior; {type(model).__name__} has a {model.latent_prior} one."
        )
    if options.prior == "penalty" and options.prior_weight:
        try:
            model.prior_nll(starts[:1, 0, 0].to(model.device))
        except NotImplementedError as exc:
            raise GenzooError(str(exc)) from exc


class _Progress:
    """A tqdm bar over the optimisation steps of all batches, shown only after a second (tqdm's `delay`)."""

    def __init__(self, options: InversionOptions, count: int) -> None:
        from tqdm.auto import tqdm

        config = options.progress_bar if isinstance(options.progress_bar, dict) else {}
        batches = -(-count // options.batch_size)
        starts = options.num_restarts
        settings = {
            "total": options.num_steps * batches,
            "desc": f"inverting {count} image(s), {starts} start(s) each",
            "unit": "step",
            "delay": 1.0,
            "leave": False,
            "disable": options.progress_bar is False or options.num_steps == 0,
            **config,
        }
        self.bar = tqdm(**settings)

    def __enter__(self) -> Any:
        return self.bar.update

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()


class InversionProblem:
    r"""One batch of `invert`: all candidates (image × class × restart) optimised together, the best kept.

    Args:
        model (`Generator`): the generator, in sampling mode.
        observed (`torch.Tensor`): the batch's observations in [0, 1].
        degradation (`Degradation`): their degradation (`select`ed for the batch).
        options (`InversionOptions`): the settings.
        features (callable, *optional*): the feature function of the feature loss.
        has_encoder (`bool`): the first restart of every (image, class) starts from the posterior mean.
        advance (callable): called with 1 after every optimisation step (the progress bar).
    """

    def __init__(
        self,
        model: Generator,
        observed: torch.Tensor,
        degradation: Degradation,
        options: InversionOptions,
        features: Any,
        has_encoder: bool,
        advance: Any = None,
    ) -> None:
        self.model, self.observed, self.degradation, self.options = model, observed, degradation, options
        self.features, self.has_encoder, self.advance = features, has_encoder, advance or (lambda _: None)
        self.device, self.dtype = model.device, model.dtype
        self.target = observed.to(self.device)
        self.target_features = None
        if features is not None:
            with torch.no_grad():
                self.target_features = features(to_model_range(self.target.to(self.dtype))).float()
        self.count = len(observed)
        self.num_classes = 1
        self.class_labels: torch.Tensor | None = None

    def solve(self, starts: torch.Tensor, class_labels: torch.Tensor | None) -> InversionResult:
        """The best latent per image from `starts` `(images, classes, draws, *latent_shape)`; with more draws than
        `num_restarts`, the best `num_restarts` of them per image and class are the starting points."""
        self.num_classes, self.class_labels = starts.shape[1], class_labels
        num_restarts = self.options.num_restarts
        if starts.shape[2] > num_restarts:
            latents = self.screen(starts)
        else:
            latents = _classes_first(starts).reshape(-1, *starts.shape[3:])
        image_index, labels = self.layout(num_restarts)
        if self.has_encoder:
            latents = self.encoder_starts(latents, image_index, labels)
        latents = latents.to(self.device)
        if self.options.prior == "sphere":
            latents = _project_to_sphere(latents)
        best_value, best_latents = self.optimise(latents, image_index, labels)
        return self.best(best_value, best_latents, image_index, labels)

    def layout(self, num: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Image index and class label of each of `num` starts per (image, class), laid out (classes, starts,
        images), so candidate k belongs to image k % count."""
        image_index = torch.arange(self.count).repeat(self.num_classes * num)
        if not self.model.is_conditional:
            return image_index, None
        if self.class_labels is not None:
            return image_index, self.class_labels[image_index]
        return image_index, torch.arange(self.num_classes).repeat_interleave(num * self.count)

    def objective(
        self, z: torch.Tensor, rows: torch.Tensor, labels_z: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The objective and generated images of latents `z`, the candidates of images `rows` with `labels_z`."""
        model, device, dtype = self.model, self.device, self.dtype
        labels_z = None if labels_z is None else labels_z.to(device)
        degradation_z = self.degradation.select(rows.cpu())
        generated = model(z.to(dtype), labels_z) if labels_z is not None else model(z.to(dtype))
        generated = from_model_range(generated)
        value = degradation_z.data_term(degradation_z.forward(generated), self.target[rows.to(device)])
        if self.options.prior == "penalty" and self.options.prior_weight:
            value = value + self.options.prior_weight * model.prior_nll(z).float()
        if self.target_features is not None:
            difference = self.features(generated.to(dtype) * 2 - 1).float() - self.target_features[rows.to(device)]
            value = value + self.options.feature_weight * difference.pow(2).flatten(1).sum(1)
        return value, generated

    def screen(self, starts: torch.Tensor) -> torch.Tensor:
        """The best `num_restarts` draws per (image, class) by the objective, without gradients (a prior draw is
        already on the sphere's shell); laid out (classes, starts, images)."""
        num_draws, num_restarts = starts.shape[2], self.options.num_restarts
        image_index, labels = self.layout(num_draws)
        draws = _classes_first(starts).reshape(-1, *starts.shape[3:]).to(self.device)
        if self.options.prior == "sphere":
            draws = _project_to_sphere(draws)
        with torch.no_grad():
            values = torch.cat(
                [
                    self.objective(draws[rows], image_index[rows], None if labels is None else labels[rows])[0]
                    for rows in torch.arange(len(draws)).split(_SCREEN_CHUNK)
                ]
            )
        order = values.view(self.num_classes, num_draws, self.count).argsort(dim=1).cpu()[:, :num_restarts]
        if self.has_encoder:  # the encoder's start replaces the first; keep the best num_restarts - 1 draws after it
            order = order.roll(1, dims=1)
        index = order.view(self.num_classes, num_restarts, self.count, *([1] * (starts.dim() - 3))).expand(
            -1, -1, -1, *starts.shape[3:]
        )
        return _classes_first(starts).gather(1, index).reshape(-1, *starts.shape[3:]).clone()

    def encoder_starts(
        self, latents: torch.Tensor, image_index: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        """`latents` with the first restart of every (image, class) replaced by the encoder's posterior mean of the
        degradation's initial estimate."""
        image_size = int(self.model.config.image_size)
        estimate = self.degradation.initial_estimate(self.observed, image_size).to(self.device, self.dtype)
        estimate = to_model_range(estimate)
        first = torch.arange(len(latents)).view(self.num_classes, self.options.num_restarts, self.count)[:, 0]
        first = first.flatten()
        first_labels = None if labels is None else labels[first].to(self.device)
        with torch.no_grad():
            mean, _ = self.model.posterior(estimate[image_index[first]], first_labels)
        latents[first] = mean.float().cpu()
        return latents

    def optimise(
        self, latents: torch.Tensor, image_index: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Adam on every start at once with a cosine learning-rate decay; the best value and point of each start,
        the final point included."""
        num_steps, sphere = self.options.num_steps, self.options.prior == "sphere"
        best_value = torch.full((len(latents),), math.inf, device=self.device)
        best_latents = latents.detach().clone()

        def keep_better(value: torch.Tensor, points: torch.Tensor) -> None:
            nonlocal best_value
            better = value < best_value
            best_value = torch.where(better, value, best_value)
            best_latents[better] = points[better]

        if num_steps:
            latents = latents.detach().requires_grad_(True)
            optimizer = torch.optim.Adam([latents], lr=self.options.lr)
            schedule = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / num_steps))
            )
            with torch.enable_grad():
                for _ in range(num_steps):
                    value, _ = self.objective(latents, image_index, labels)
                    keep_better(value.detach(), latents.detach())
                    (gradient,) = torch.autograd.grad(value.sum(), latents)  # no gradients for the weights
                    latents.grad = gradient
                    optimizer.step()
                    schedule.step()
                    if sphere:
                        with torch.no_grad():
                            latents.copy_(_project_to_sphere(latents))
                    self.advance(1)
        with torch.no_grad():  # the final point too
            value, _ = self.objective(latents.detach(), image_index, labels)
            keep_better(value, latents.detach())
        return best_value, best_latents

    def best(
        self,
        best_value: torch.Tensor,
        best_latents: torch.Tensor,
        image_index: torch.Tensor,
        labels: torch.Tensor | None,
    ) -> InversionResult:
        """The best start of every image, with its class, generated image and objective."""
        with torch.no_grad():
            choice = best_value.view(self.num_classes * self.options.num_restarts, self.count).argmin(0)
            chosen = choice * self.count + torch.arange(self.count, device=choice.device)
            final_latents = best_latents[chosen]
            final_labels = None if labels is None else labels[chosen.cpu()]
            final_value, images = self.objective(final_latents, image_index[chosen.cpu()], final_labels)
        return InversionResult(
            latents=final_latents.detach().cpu(),
            class_labels=final_labels,
            images=images.detach().cpu(),
            objective=final_value.detach().cpu(),
        )


def _classes_first(starts: torch.Tensor) -> torch.Tensor:
    """`(images, classes, draws, ...)` as `(classes, draws, images, ...)`."""
    return starts.permute(1, 2, 0, *range(3, starts.dim()))


def _project_to_sphere(latents: torch.Tensor) -> torch.Tensor:
    dim = latents[0].numel()
    norms = latents.flatten(1).norm(dim=1).clamp_min(1e-8).view(-1, *([1] * (latents.dim() - 1)))
    return latents * (math.sqrt(dim) / norms)
