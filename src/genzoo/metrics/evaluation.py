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
| `coverage_entropy`, `coverage_min_share`, `class_share_<c>` | `coverage`, unconditional models: class histogram |
| `nll`, `reconstruction_mse` | models with an encoder (VAEs): NLL (nats) and reconstruction MSE, held-out images |
| `num_samples`, `num_reference`, `features`, `dataset`, `split` | what the numbers were computed from |
"""

import dataclasses
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import GenzooError
from ..registry import MetricRegistration
from .extractors import FeatureExtractor, load_feature_extractor
from .functional import FeatureStatistics, require_full_rank
from .reference import FeatureSet, load_reference_stats, reference_features
from .selection import check_applies, metric_applies, parse_metric_args, parse_metrics

__all__ = [
    "EvaluationOptions",
    "HeldOutImages",
    "MetricContext",
    "evaluate_images",
    "evaluate_pipeline",
    "format_results",
    "metric_applies",
    "parse_metric_args",
    "parse_metrics",
]

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "mnist-5k"
DEFAULT_FEATURES = "mnist-classifier"
DEFAULT_NUM_SAMPLES = 5000
_REFERENCE_NEEDS = frozenset({"stats", "features", "class_stats"})


@dataclass
class EvaluationOptions:
    r"""How an evaluation samples and what it compares with; what each metric computes is set by its own options
    (`metric_args`).

    Args:
        dataset (`str`, defaults to `"mnist-5k"`): dataset spec of the real images.
        split (`str`, defaults to `"train"`): the reference split; the training images, as is usual for GANs (for
            mnist-5k: 4,500 images; its 500-image test split gives noisier statistics).
        num_samples (`int`, *optional*): generated images, 5,000 by default (a conditional model gets
            `num_samples // num_classes` per class); for a folder of images, a cap (default: every image).
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
        reference_stats (`str`, *optional*): a `.npz` file of reference statistics (`mu`, `sigma`) as pytorch-fid
            and clean-fid publish them, used instead of `dataset`'s features; enough for FID only.
        accelerator (`accelerate.Accelerator`, *optional*): with several processes, each samples its share of the
            images and the features are gathered on the main process, which computes the metrics; the others get
            `None` back.
    """

    dataset: str = DEFAULT_DATASET
    split: str = "train"
    num_samples: int | None = None
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
    reference_stats: str | None = None
    accelerator: Any = None

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
        pipe (`GenPipeline`): the pipeline evaluated (`None` for a folder of images).
        model (`Generator`): `pipe.model` (`None` for a folder of images).
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


class _PipelineImages:
    """Generated images from a pipeline: `num_samples` of them, class by class for a conditional model."""

    def __init__(self, pipe: Any, opts: EvaluationOptions) -> None:
        self.pipe, self.model = pipe, pipe.model
        self.resolution = int(self.model.config.image_size)
        self.channels = int(self.model.config.num_channels)
        self.num_classes = int(getattr(self.model, "num_classes", 0) or 0)
        self.description = f"the {type(self.model).__name__} of this pipeline"
        self.num_samples = DEFAULT_NUM_SAMPLES if opts.num_samples is None else opts.num_samples
        if self.num_samples < 2:
            raise GenzooError(f"--num-samples must be at least 2, got {self.num_samples}.")

    def prepare(self, device: torch.device) -> None:
        self.pipe.to(device)
        self.pipe.set_progress_bar_config(disable=True)

    def plan(self) -> list[int | None]:
        """The class label of every image to generate (`None`: unconditional), in generation order."""
        if not self.num_classes:
            return [None] * self.num_samples
        per_label = self.num_samples // self.num_classes
        if per_label < 1:
            raise GenzooError(
                f"--num-samples {self.num_samples} is fewer than the {self.num_classes} classes; raise it."
            )
        return [label for label in range(self.num_classes) for _ in range(per_label)]

    def batches(
        self, plan: list[int | None], batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Images in [-1, 1] (and their labels) for `plan`: runs of one label, in batches of `batch_size`."""
        start = 0
        while start < len(plan):
            label, stop = plan[start], start
            while stop < len(plan) and plan[stop] == label and stop - start < batch_size:
                stop += 1
            size = stop - start
            if label is None:
                images = self.pipe(batch_size=size, generator=generator, output_type="pt").images
                yield images * 2.0 - 1.0, None
            else:
                images = self.pipe(class_labels=[label] * size, generator=generator, output_type="pt").images
                yield images * 2.0 - 1.0, torch.full((size,), label)
            start = stop


class _FolderImages:
    """The images of a folder (any library's samples), in file order; they are the 'generated' side."""

    def __init__(self, folder: str, opts: EvaluationOptions) -> None:
        from ..data import load_dataset

        if not Path(folder).is_dir():
            raise GenzooError(f"--images {folder!r} is not a folder of images.")
        self.data = load_dataset(f"imagefolder:{folder}", label_column="")
        self.pipe = self.model = None
        channels, height, width = self.data.image_shape()
        self.resolution, self.channels, self.num_classes = min(height, width), channels, 0
        self.description = "a folder of images"
        count = len(self.data) if opts.num_samples is None else min(opts.num_samples, len(self.data))
        if count < 2:
            raise GenzooError(f"--images {folder!r} holds {len(self.data)} image(s); evaluation needs at least 2.")
        self.num_samples = count

    def prepare(self, device: torch.device) -> None:
        pass

    def plan(self) -> list[int | None]:
        return [None] * self.num_samples

    def batches(
        self, plan: list[int | None], batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        rows = self.data.with_transform(self.resolution, self.channels)
        for start in range(0, len(plan), batch_size):
            yield torch.stack(rows[start : min(start + batch_size, len(plan))]["pixel_values"]), None


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
) -> dict[str, Any] | None:
    r"""Evaluate a genzoo pipeline against a dataset.

    ```python
    evaluate_pipeline(pipe, "fid,kid", {"kid.subset_size": 500}, num_samples=2000)
    ```

    Args:
        pipe (`GenPipeline`): the loaded pipeline (`GenPipeline.from_pretrained(dir_or_repo_id)`).
        metrics (`str` or list, *optional*): registered metric names (`genzoo plugins` lists them); default: every
            default metric that applies to the pipeline (fid, kid, is, pr, class coverage for an unconditional
            model, per-class FID for a conditional model, NLL and reconstruction error for one with an encoder; fid
            only with `reference_stats`).
        metric_args (*optional*): the metrics' options, as `["kid.subset_size=500"]` or `{"kid": {"subset_size":
            500}}` (see `parse_metric_args`).
        options (`EvaluationOptions`, *optional*): the sampling and reference settings.
        changes: fields of `EvaluationOptions` to change (`num_samples=200`, `dataset="parquet:x.parquet"`).

    Returns:
        `dict`: flat metric names to values, see the module docs (`None` on the processes other than the main one
        when `options.accelerator` runs several).
    """
    opts = (options or EvaluationOptions()).replace(**changes)
    return _evaluate(_PipelineImages(pipe, opts), metrics, metric_args, opts)


@torch.no_grad()
def evaluate_images(
    folder: str,
    metrics: str | Sequence[str] | None = None,
    metric_args: Sequence[str] | Mapping[str, Any] | None = None,
    options: EvaluationOptions | None = None,
    **changes: Any,
) -> dict[str, Any]:
    r"""Evaluate a folder of images (say, another library's samples) against a dataset, exactly as a pipeline's
    samples would be: the same extractor, preprocessing, reference statistics and metrics.

    The folder's images are read in file order (class sub-folders are not used as labels), at the size of the first
    one; the real images are converted to that size and channel count. Only metrics that apply to any generator,
    or to an unconditional one (class coverage), can be computed.

    Args:
        folder (`str`): the folder (PNG, JPEG, ... files; sub-folders are read too).
        metrics, metric_args, options, changes: as in `evaluate_pipeline`; `num_samples` caps the number of images
            (default: all of them).

    Returns:
        `dict`: flat metric names to values.
    """
    opts = (options or EvaluationOptions()).replace(**changes)
    return _evaluate(_FolderImages(folder, opts), metrics, metric_args, opts)


def _select(source: Any, metrics_spec: str | Sequence[str] | None, reference_stats: bool) -> list[MetricRegistration]:
    """The metrics to compute, checked against what `source` is and what the reference holds."""
    target = source.pipe  # None for a folder of images: only metrics for any (or an unconditional) generator apply
    if metrics_spec is None:
        defaults = [m for m in parse_metrics(None) if metric_applies(m, target)]
        return [m for m in defaults if m.needs == {"stats"}] if reference_stats else defaults
    selected = parse_metrics(metrics_spec)
    for metric in selected:
        check_applies(metric, target, source.description)
        if reference_stats and metric.needs & {"features", "class_stats"}:
            raise GenzooError(
                f"--reference-stats holds only a mean and a covariance, enough for FID; metric {metric.name!r} needs "
                "the reference images' features: drop it from --metrics, or compare with --dataset instead."
            )
    return selected


def _evaluate(
    source: Any,
    metrics_spec: str | Sequence[str] | None,
    metric_args: Sequence[str] | Mapping[str, Any] | None,
    opts: EvaluationOptions,
) -> dict[str, Any] | None:
    selected = _select(source, metrics_spec, opts.reference_stats is not None)
    metric_options = _resolve_options(selected, metric_args)
    if opts.batch_size < 1:
        raise GenzooError(f"The batch size must be at least 1, got {opts.batch_size}.")
    needs = frozenset().union(*(m.needs for m in selected))
    accelerator = opts.accelerator
    default_device = (
        accelerator.device if accelerator is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    device = torch.device(opts.device or default_device)
    context = MetricContext(
        source.pipe,
        source.model,
        opts.replace(device=device),
        resolution=source.resolution,
        channels=source.channels,
        num_classes=source.num_classes,
    )
    source.prepare(device)
    if needs:
        _collect_features(context, source, selected, needs)
    if accelerator is not None and not accelerator.is_main_process:
        return None  # it sampled its share; the main process computes the metrics
    results: dict[str, Any] = {}
    for metric in selected:
        results.update(metric.compute(context, **metric_options[metric.name]))
    if context.generated is not None:
        results.update(num_samples=context.generated.count)
    if context.reference is not None and context.reference.count is not None:
        results.update(num_reference=context.reference.count)
    if context.extractor is not None:
        results.update(features=context.extractor.name)
    if opts.reference_stats is not None:
        results.update(reference_stats=str(opts.reference_stats))
    else:
        results.update(dataset=opts.dataset, split=opts.split)
    return results


def _collect_features(
    context: MetricContext, source: Any, selected: list[MetricRegistration], needs: frozenset[str]
) -> None:
    """Generate (or read) the images and run the extractor over them and over the real images, keeping what
    `needs` asks for (checked before sampling: logits for metrics that need them, channels, full-rank statistics)."""
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
    real = reference_stats = None
    if opts.reference_stats is not None:
        reference_stats = load_reference_stats(opts.reference_stats, extractor)
    elif needs & _REFERENCE_NEEDS:
        real = load_dataset(opts.dataset, split=opts.split, image_column=opts.image_column,
                            label_column=opts.label_column)  # fmt: skip
        real_channels = real.image_shape()[0]
        if real_channels != context.channels:
            what = "images of the folder are" if source.pipe is None else "pipeline makes"
            raise GenzooError(
                f"The {what} {context.channels}-channel images but dataset {opts.dataset!r} holds "
                f"{real_channels}-channel images; evaluate against a dataset like the one the model was trained on."
            )

    # 1. Generated images, streamed through the extractor: class by class for a conditional model.
    plan = source.plan()
    if "stats" in needs:  # fail before sampling rather than after
        require_full_rank(len(plan), extractor.feature_dim, "generated samples")
    accelerator = opts.accelerator
    keep = {"keep_features": "features" in needs, "keep_logits": "logits" in needs}
    if accelerator is not None and accelerator.num_processes > 1:
        context.generated = _collect_distributed(context, source, plan, **keep)
        if not accelerator.is_main_process:
            return
    else:
        context.generated = FeatureSet.collect(
            source.batches(plan, opts.batch_size, torch.Generator().manual_seed(opts.seed)),
            extractor, total=len(plan), desc="generated", progress=opts.progress, **keep,
        )  # fmt: skip

    # 2. Real images (cached on disk), or the published statistics.
    if reference_stats is not None:
        context.reference = FeatureSet(reference_stats)
    elif real is not None:
        context.reference = reference_features(
            real, extractor, context.resolution, context.channels, split=opts.split, num_samples=opts.num_reference,
            keep_features="features" in needs, per_class="class_stats" in needs and bool(context.num_classes),
            batch_size=opts.batch_size, cache=opts.cache, progress=opts.progress,
        )  # fmt: skip


def _collect_distributed(
    context: MetricContext, source: Any, plan: list[int | None], keep_features: bool, keep_logits: bool
) -> FeatureSet | None:
    """Each process generates an equal, contiguous share of `plan` (the last one padded) with its own seed, and the
    features, logits and labels are gathered; the main process gets the `FeatureSet` of exactly `len(plan)`
    images, the others `None`."""
    opts, accelerator, extractor = context.options, context.options.accelerator, context.extractor
    world, rank = accelerator.num_processes, accelerator.process_index
    share = -(-len(plan) // world)
    mine = plan[rank * share : (rank + 1) * share]
    valid = len(mine)
    mine = mine + [plan[-1]] * (share - valid)  # equal sizes for the collective; the padding is dropped below
    generator = torch.Generator().manual_seed(opts.seed + 1_000_003 * rank)
    features, logits, labels = [], [], []
    for images, batch_labels in source.batches(mine, opts.batch_size, generator):
        batch_features, batch_logits = extractor.features_and_logits(images, with_logits=keep_logits)
        features.append(batch_features.float().cpu())
        if keep_logits and batch_logits is not None:
            logits.append(batch_logits.float().cpu())
        labels.append(batch_labels if batch_labels is not None else torch.full((len(images),), -1))
    local = [torch.cat(features), torch.cat(labels).long(), torch.full((share,), valid)]
    if logits:
        local.append(torch.cat(logits))
    gathered = [accelerator.gather(t.to(accelerator.device)).cpu() for t in local]
    if not accelerator.is_main_process:
        return None
    counts = gathered[2].view(world, share)[:, 0].tolist()
    keep_rows = torch.cat([torch.arange(r * share, r * share + int(n)) for r, n in enumerate(counts)])
    all_features, all_labels = gathered[0][keep_rows], gathered[1][keep_rows]
    result = FeatureSet(FeatureStatistics.from_features(all_features, batch_size=opts.batch_size))
    for label in all_labels.unique().tolist():
        if label >= 0:
            result.class_stats[int(label)] = FeatureStatistics.from_features(all_features[all_labels == label])
    if keep_features:
        result.features = all_features
    if len(gathered) > 3:
        result.logits = gathered[3][keep_rows]
    return result


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
