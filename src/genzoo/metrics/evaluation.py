r"""`evaluate_pipeline`: sample a pipeline, compare its images with a dataset, and return flat metrics.

This is what `genzoo evaluate` and the in-training evaluation run. Metrics are plugins: each is registered through
the `register_metrics` hook (`genzoo.registry.metrics()`), says what it needs (feature statistics, the features
themselves, class logits, or none of them) and what it applies to, and gets a `MetricContext` with what it asked for.
The result is a flat `dict`; the built-in and the VAE plugin's metrics report:

| key | meaning |
| --- | --- |
| `fid` | Fréchet distance between real and generated features |
| `fid_class_<c>`, `fid_per_class_mean` | `fid_per_class`, conditional models: per-class FID and their mean |
| `kid`, `kid_std` | kernel distance (unbiased MMD², cubic kernel): mean and std over subsets |
| `is`, `is_std` | Inception Score over splits (needs an extractor with logits) |
| `precision`, `recall` | `pr`: k-NN manifold precision and recall (k = 3) |
| `nll`, `reconstruction_mse` | models with an encoder (VAEs): NLL (nats) and reconstruction MSE, held-out images |
| `num_samples`, `num_reference`, `features`, `dataset`, `split` | what the numbers were computed from |
"""

import dataclasses
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import GenzooError
from ..registry import MetricRegistration, get_metric, metrics
from .extractors import FeatureExtractor, load_feature_extractor
from .functional import require_full_rank
from .reference import FeatureSet, reference_features

__all__ = [
    "EvaluationOptions",
    "HeldOutImages",
    "MetricContext",
    "evaluate_pipeline",
    "format_results",
    "metric_applies",
    "parse_metric_args",
    "parse_metrics",
]

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "mnist-5k"
DEFAULT_FEATURES = "mnist-classifier"
_REFERENCE_NEEDS = frozenset({"stats", "features", "class_stats"})


@dataclass
class EvaluationOptions:
    r"""How an evaluation samples and what it compares with; what each metric computes is set by its own options
    (`metric_args`).

    Args:
        dataset (`str`, defaults to `"mnist-5k"`): dataset spec of the real images.
        split (`str`, defaults to `"train"`): the reference split; the training images, as is usual for GANs (for
            mnist-5k: 4,500 images; its 500-image test split gives noisier statistics).
        num_samples (`int`, defaults to 5000): generated images (a conditional model gets `num_samples //
            num_classes` per class).
        num_reference (`int`, *optional*): cap on reference images (default: the whole split).
        features (`str` or `FeatureExtractor`, defaults to `"mnist-classifier"`): registered extractor name.
        features_path (`str`, *optional*): the extractor's weights (see `genzoo.metrics.extractors`).
        batch_size (`int`, defaults to 250): images per generation and feature batch.
        seed (`int`, defaults to 0): seeds the latents (results are reproducible for a seed and batch size) and
            every metric's random draws (KID subsets, IS shuffle, importance samples).
        device (`str`, *optional*): where the generator and extractor run (default: CUDA if available).
        cache (`bool`, defaults to `True`): cache reference statistics on disk.
        progress (`bool`, defaults to `True`): show progress bars.
        image_column, label_column (`str`, *optional*): dataset columns, when detection does not find them.
    """

    dataset: str = DEFAULT_DATASET
    split: str = "train"
    num_samples: int = 5000
    num_reference: int | None = None
    features: str | FeatureExtractor = DEFAULT_FEATURES
    features_path: str | None = None
    batch_size: int = 250
    seed: int = 0
    device: str | torch.device | None = None
    cache: bool = True
    progress: bool = True
    image_column: str | None = None
    label_column: str | None = None

    def replace(self, **changes: Any) -> "EvaluationOptions":
        """A copy with `changes`; an unknown name is a one-line error listing the known ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"Unknown evaluation option {unknown[0]!r}; known: {', '.join(sorted(known))}.")
        return dataclasses.replace(self, **changes)


@dataclass
class HeldOutImages:
    """Real images a model never trained on: `images` in [-1, 1], `labels` (or `None`) and the split they came
    from."""

    images: torch.Tensor
    labels: torch.Tensor | None
    split: str


@dataclass
class MetricContext:
    r"""What a metric's compute function receives: the thing evaluated and what the evaluation collected for it.

    Attributes:
        pipe (`GenPipeline`): the pipeline evaluated.
        model (`Generator`): `pipe.model`.
        options (`EvaluationOptions`): the evaluation's settings (`seed`, `batch_size`, `device`, `dataset`, ...).
        extractor (`FeatureExtractor`, *optional*): the feature extractor, when some metric needs features.
        generated, reference (`FeatureSet`, *optional*): features of the generated and the real images, holding
            what the selected metrics `need` (statistics, features, logits, per-class statistics).
        resolution, channels, num_classes (`int`): the generator's image size, channels and classes (0: none).
    """

    pipe: Any
    model: Any
    options: EvaluationOptions
    extractor: FeatureExtractor | None = None
    generated: FeatureSet | None = None
    reference: FeatureSet | None = None
    resolution: int = 0
    channels: int = 0
    num_classes: int = 0
    _held_out: dict[int, HeldOutImages] = field(default_factory=dict, repr=False)

    @property
    def seed(self) -> int:
        return self.options.seed

    @property
    def batch_size(self) -> int:
        return self.options.batch_size

    @property
    def progress(self) -> bool:
        return self.options.progress

    def held_out(self, count: int) -> HeldOutImages:
        r"""Up to `count` real images the model did not train on: a seeded random subset of the dataset's `test`
        split, or of the evaluated split (with a warning) when the dataset has no test split.

        Args:
            count (`int`): how many images.

        Returns:
            `HeldOutImages`: converted to the generator's resolution and channels, on the CPU.

        Raises:
            `GenzooError`: when the split holds no images.
        """
        if count in self._held_out:
            return self._held_out[count]
        from ..data import load_dataset

        opts, split = self.options, self.options.split
        columns = {"image_column": opts.image_column, "label_column": opts.label_column}
        if split != "test":
            try:
                data = load_dataset(opts.dataset, split="test", **columns)
                split = "test"
            except (GenzooError, ValueError, FileNotFoundError, KeyError):
                logger.warning(
                    "Dataset %r has no test split; held-out metrics use split %r, which the model saw.",
                    opts.dataset, split,
                )  # fmt: skip
        if split != "test":
            data = load_dataset(opts.dataset, split=split, **columns)
        count = min(count, len(data))
        if count < 1:
            raise GenzooError(
                f"Split {split!r} of dataset {opts.dataset!r} is empty, so there are no held-out images for the "
                "metrics that need them (nll, reconstruction)."
            )
        indices = np.random.RandomState(opts.seed).permutation(len(data))[:count]
        rows = data.with_transform(self.resolution, self.channels)[indices]
        labels = torch.as_tensor(rows["class_labels"]) if "class_labels" in rows else None
        result = HeldOutImages(torch.stack(rows["pixel_values"]), labels, split)
        self._held_out[count] = result
        return result


def parse_metrics(metrics_spec: str | Sequence[str] | None, applies: Any = None) -> list[MetricRegistration]:
    r"""`"fid,kid"` or `["fid", "kid"]` to the registered metrics, in the order given.

    Args:
        metrics_spec (`str`, list of `str`, or `None`): comma-separated names (or aliases, such as `precision`
            for `pr`) or a list of them; `None` selects every metric registered with `default=True` that applies.
        applies (*optional*): a pipeline, generator or generator class; `None` with `metrics_spec=None` takes
            every default metric.

    Returns:
        `list[MetricRegistration]`: distinct metrics.

    Raises:
        `GenzooError`: for an unknown name (listing the registered ones), or when no name is given.
    """
    registry = metrics()
    if metrics_spec is None:
        return [m for m in registry if m.default and (applies is None or metric_applies(m, applies))]
    items = metrics_spec.split(",") if isinstance(metrics_spec, str) else list(metrics_spec)
    selected: list[MetricRegistration] = []
    for item in items:
        name = item.strip().lower()
        if not name:
            continue
        if name not in registry:
            raise GenzooError(f"Unknown metric {item.strip()!r}; choose from {', '.join(registry.names())}.")
        entry = registry.get(name)
        if entry not in selected:
            selected.append(entry)
    if not selected:
        raise GenzooError(f"No metric given; choose from {', '.join(registry.names())}.")
    return selected


def parse_metric_args(items: Sequence[str] | Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    r"""`["nll.importance_samples=100", "kid.subset_size=500"]` (or a mapping `{"nll.importance_samples": 100}` or
    `{"nll": {"importance_samples": 100}}`) to `{metric: {option: value}}`, with metric aliases resolved. Values stay
    as given; each metric's `MetricOption`s convert and check them.

    Raises:
        `GenzooError`: for an item that is not `METRIC.KEY=VALUE`, or an unknown metric.
    """
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, Mapping):
        for key, value in items.items():
            if isinstance(value, Mapping):
                pairs += [(f"{key}.{option}", v) for option, v in value.items()]
            else:
                pairs.append((key, value))
    else:
        for item in items or ():
            key, sep, value = item.partition("=")
            if not sep:
                raise GenzooError(f"--metric-arg {item!r} is not METRIC.KEY=VALUE, e.g. nll.importance_samples=100.")
            pairs.append((key, value))
    result: dict[str, dict[str, Any]] = {}
    for key, value in pairs:
        name, dot, option = key.strip().partition(".")
        if not dot or not name or not option:
            raise GenzooError(f"--metric-arg {key!r} is not METRIC.KEY=VALUE, e.g. nll.importance_samples=100.")
        result.setdefault(get_metric(name).name, {})[option] = value
    return result


def metric_applies(metric: MetricRegistration, target: Any) -> bool:
    """Whether `metric` applies to `target`: a pipeline, a generator (instance or class) or `None` (a folder of
    images, to which only metrics for any generator apply)."""
    if metric.applies_to == "any":
        return True
    model = getattr(target, "model", target) if not isinstance(target, type) else target
    if model is None:
        return False
    if metric.applies_to == "class-conditional":
        return not isinstance(model, type) and int(getattr(model, "num_classes", 0) or 0) > 0
    return callable(getattr(model, "encode", None))  # "encoder"


_APPLIES_TO_TEXT = {"class-conditional": "a class-conditional generator", "encoder": "a generator with an encoder"}


def check_applies(metric: MetricRegistration, target: Any, what: str) -> None:
    """Raise a one-line error when `metric` does not apply to `target` (described as `what`)."""
    if not metric_applies(metric, target):
        raise GenzooError(
            f"Metric {metric.name!r} needs {_APPLIES_TO_TEXT[metric.applies_to]}, but {what} has none; drop it "
            "from the metrics."
        )


def _generated_batches(
    pipe: Any, counts: dict[int | None, int], batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Images in [-1, 1] from the pipeline: `counts[None]` unconditional ones, or `counts[c]` of each class c."""
    for label, count in counts.items():
        for start in range(0, count, batch_size):
            size = min(batch_size, count - start)
            if label is None:
                images = pipe(batch_size=size, generator=generator, output_type="pt").images
                yield images * 2.0 - 1.0, None
            else:
                labels = [label] * size
                images = pipe(class_labels=labels, generator=generator, output_type="pt").images
                yield images * 2.0 - 1.0, torch.full((size,), label)


def _resolve_options(
    selected: list[MetricRegistration], metric_args: Sequence[str] | Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    given = parse_metric_args(metric_args)
    names = {m.name for m in selected}
    stray = sorted(set(given) - names)
    if stray:
        raise GenzooError(
            f"--metric-arg sets options of {stray[0]!r}, which is not among the metrics ({', '.join(sorted(names))})."
        )
    return {m.name: m.resolve_options(given.get(m.name)) for m in selected}


@torch.no_grad()
def evaluate_pipeline(
    pipe: Any,
    metrics: str | Sequence[str] | None = None,
    metric_args: Sequence[str] | Mapping[str, Any] | None = None,
    options: EvaluationOptions | None = None,
    **changes: Any,
) -> dict[str, Any]:
    r"""Evaluate a genzoo pipeline against a dataset.

    ```python
    evaluate_pipeline(pipe, "fid,kid", {"kid.subset_size": 500}, num_samples=2000)
    ```

    Args:
        pipe (`GenPipeline`): the loaded pipeline (`GenPipeline.from_pretrained(dir_or_repo_id)`).
        metrics (`str` or list, *optional*): registered metric names (`genzoo plugins` lists them); default: every
            default metric that applies to the pipeline (fid, kid, is, pr, and per-class FID for a conditional
            model, NLL and reconstruction error for one with an encoder).
        metric_args (*optional*): the metrics' options, as `["kid.subset_size=500"]` or `{"kid": {"subset_size":
            500}}` (see `parse_metric_args`).
        options (`EvaluationOptions`, *optional*): the sampling and reference settings.
        changes: fields of `EvaluationOptions` to change (`num_samples=200`, `dataset="parquet:x.parquet"`).

    Returns:
        `dict`: flat metric names to values, see the module docs.
    """
    opts = (options or EvaluationOptions()).replace(**changes)
    selected = parse_metrics(metrics, pipe)
    model = pipe.model
    for metric in selected:
        check_applies(metric, pipe, f"the {type(model).__name__} of this pipeline")
    metric_options = _resolve_options(selected, metric_args)
    if opts.num_samples < 2:
        raise GenzooError(f"--num-samples must be at least 2, got {opts.num_samples}.")
    if opts.batch_size < 1:
        raise GenzooError(f"The batch size must be at least 1, got {opts.batch_size}.")
    needs = frozenset().union(*(m.needs for m in selected))
    device = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    context = MetricContext(
        pipe,
        model,
        opts.replace(device=device),
        resolution=int(model.config.image_size),
        channels=int(model.config.num_channels),
        num_classes=int(getattr(model, "num_classes", 0) or 0),
    )
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    if needs:
        _collect_features(context, selected, needs)
    results: dict[str, Any] = {}
    for metric in selected:
        results.update(metric.compute(context, **metric_options[metric.name]))
    if context.generated is not None:
        results.update(num_samples=context.generated.count)
    if context.reference is not None:
        results.update(num_reference=context.reference.count)
    if context.extractor is not None:
        results.update(features=context.extractor.name)
    results.update(dataset=opts.dataset, split=opts.split)
    return results


def _collect_features(context: MetricContext, selected: list[MetricRegistration], needs: frozenset[str]) -> None:
    """Sample the pipeline and run the extractor over the generated and the real images, keeping what `needs`
    asks for (checked before sampling: logits for metrics that need them, channels, full-rank statistics)."""
    from ..data import load_dataset

    opts = context.options
    extractor = load_feature_extractor(opts.features, weights_path=opts.features_path, device=opts.device)
    context.extractor = extractor
    if "logits" in needs and not extractor.has_logits:
        users = ", ".join(m.name for m in selected if "logits" in m.needs)
        raise GenzooError(
            f"Feature extractor {extractor.name!r} gives no class logits, which metric {users} needs; drop it from "
            "--metrics or use an extractor with logits (mnist-classifier, or inception from a state-dict file)."
        )
    extractor.check_channels(context.channels)
    real = None
    if needs & _REFERENCE_NEEDS:
        real = load_dataset(opts.dataset, split=opts.split, image_column=opts.image_column,
                            label_column=opts.label_column)  # fmt: skip
        real_channels = real.image_shape()[0]
        if real_channels != context.channels:
            raise GenzooError(
                f"The pipeline makes {context.channels}-channel images but dataset {opts.dataset!r} holds "
                f"{real_channels}-channel images; evaluate against a dataset like the one the model was trained on."
            )

    # 1. Generated images, streamed through the extractor: class by class for a conditional model.
    num_classes = context.num_classes
    if num_classes:
        per_label = opts.num_samples // num_classes
        if per_label < 1:
            raise GenzooError(f"--num-samples {opts.num_samples} is fewer than the {num_classes} classes; raise it.")
        counts: dict[int | None, int] = dict.fromkeys(range(num_classes), per_label)
    else:
        counts = {None: opts.num_samples}
    if "stats" in needs:  # fail before sampling rather than after
        require_full_rank(sum(counts.values()), extractor.feature_dim, "generated samples")
    generator = torch.Generator().manual_seed(opts.seed)
    context.generated = FeatureSet.collect(
        _generated_batches(context.pipe, counts, opts.batch_size, generator),
        extractor,
        keep_features="features" in needs,
        keep_logits="logits" in needs,
        total=sum(counts.values()),
        desc="generated",
        progress=opts.progress,
    )

    # 2. Real images (cached on disk).
    if real is not None:
        context.reference = reference_features(
            real, extractor, context.resolution, context.channels, split=opts.split, num_samples=opts.num_reference,
            keep_features="features" in needs, per_class="class_stats" in needs and bool(num_classes),
            batch_size=opts.batch_size, cache=opts.cache, progress=opts.progress,
        )  # fmt: skip


def format_results(results: dict[str, Any]) -> str:
    r"""A two-column text table of the results, in their order (`evaluate_pipeline` puts the metrics first).

    Args:
        results (`dict`): what `evaluate_pipeline` returned.

    Returns:
        `str`: the table, floats with 6 significant digits.
    """
    rows = []
    for key, value in results.items():
        rows.append((key, f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else str(value)))
    width = max(len(key) for key, _ in rows)
    lines = [f"{'metric'.ljust(width)}  value", f"{'-' * width}  {'-' * 12}"]
    lines += [f"{key.ljust(width)}  {text}" for key, text in rows]
    return "\n".join(lines)
