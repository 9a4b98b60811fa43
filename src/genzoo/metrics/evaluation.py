r"""`evaluate_pipeline`: sample a pipeline, compare its images with a dataset, and return flat metrics.

This is what `genzoo evaluate` and the in-training evaluation run. The result is a flat `dict`:

| key | meaning |
| --- | --- |
| `fid` | Fréchet distance between real and generated features |
| `kid`, `kid_std` | kernel distance (unbiased MMD², cubic kernel): mean and std over subsets |
| `is`, `is_std` | Inception Score over splits (needs an extractor with logits) |
| `precision`, `recall` | k-NN manifold precision and recall (k = 3) |
| `fid_class_<c>`, `fid_per_class_mean` | per-class FID of a conditional model, and their mean |
| `nll`, `reconstruction_mse` | VAEs: importance-sampled NLL (nats) and reconstruction MSE in [0, 1], held-out images |
| `num_samples`, `num_reference`, `features`, `dataset`, `split` | what the numbers were computed from |
"""

import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import GenzooError
from .extractors import FeatureExtractor, load_feature_extractor
from .functional import (
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    precision_recall,
    require_full_rank,
)
from .reference import FeatureSet, reference_features

__all__ = ["METRIC_NAMES", "evaluate_pipeline", "format_results", "parse_metrics"]

logger = logging.getLogger(__name__)

METRIC_NAMES = ("fid", "kid", "is", "pr")
_METRIC_ALIASES = {"precision": "pr", "recall": "pr", "precision_recall": "pr", "inception_score": "is", "isc": "is"}
DEFAULT_DATASET = "mnist-5k"
DEFAULT_FEATURES = "mnist-classifier"


def parse_metrics(metrics: str | Sequence[str] | None) -> list[str]:
    r"""`"fid,kid"` or `["fid", "kid"]` to a checked list of metric names (all four when `None`).

    Args:
        metrics (`str`, list of `str`, or `None`): comma-separated names or a list of them; aliases such as
            `precision`, `recall` (for `pr`) and `inception_score` (for `is`) are accepted.

    Returns:
        `list[str]`: the distinct names from `METRIC_NAMES`, in the order given.

    Raises:
        `GenzooError`: for an unknown name, or when no name is given.
    """
    if metrics is None:
        return list(METRIC_NAMES)
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names: list[str] = []
    for item in items:
        name = _METRIC_ALIASES.get(item.strip().lower(), item.strip().lower())
        if not name:
            continue
        if name not in METRIC_NAMES:
            raise GenzooError(f"Unknown metric {item.strip()!r}; choose from {', '.join(METRIC_NAMES)}.")
        if name not in names:
            names.append(name)
    if not names:
        raise GenzooError(f"No metric given; choose from {', '.join(METRIC_NAMES)}.")
    return names


def _is_vae(pipe: Any) -> bool:
    return callable(getattr(pipe, "reconstruct", None)) and callable(getattr(pipe, "estimate_nll", None))


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


def _fid(real: Any, fake: Any, of_what: str = "") -> float:
    real.check_full_rank(f"real images{of_what}")
    fake.check_full_rank(f"generated samples{of_what}")
    return frechet_distance(real.mean, real.covariance, fake.mean, fake.covariance)


def _equal_sizes(a: torch.Tensor, b: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Subsample the larger feature set to the smaller's size: k-NN radii shrink as a set grows, so precision and
    recall compare sets of equal size (as Kynkäänniemi et al. do)."""
    rng = np.random.RandomState(seed)
    n = min(len(a), len(b))
    pick = lambda x: x if len(x) == n else x[torch.from_numpy(np.sort(rng.choice(len(x), n, replace=False)))]  # noqa: E731
    return pick(a), pick(b)


@torch.no_grad()
def evaluate_pipeline(
    pipe: Any,
    dataset: str = DEFAULT_DATASET,
    metrics: str | Sequence[str] | None = None,
    num_samples: int = 5000,
    features: str | FeatureExtractor = DEFAULT_FEATURES,
    features_path: str | None = None,
    split: str = "train",
    num_reference: int | None = None,
    batch_size: int = 250,
    seed: int = 0,
    device: str | torch.device | None = None,
    cache: bool = True,
    progress: bool = True,
    per_class: bool = True,
    vae_metrics: bool = True,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    is_splits: int = 10,
    pr_k: int = 3,
    vae_num_images: int = 200,
    nll_importance_samples: int = 100,
    image_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    r"""Evaluate a genzoo pipeline against a dataset.

    Args:
        pipe (`GenPipeline`): the loaded pipeline (`GenPipeline.from_pretrained(dir_or_repo_id)`).
        dataset (`str`, defaults to `"mnist-5k"`): dataset spec of the real images.
        metrics (`str` or list, *optional*): any of `fid`, `kid`, `is`, `pr` (default: all four).
        num_samples (`int`, defaults to 5000): generated images (a conditional model gets `num_samples //
            num_classes` per class).
        features (`str` or `FeatureExtractor`, defaults to `"mnist-classifier"`): registered extractor name.
        features_path (`str`, *optional*): the extractor's weights (see `genzoo.metrics.extractors`).
        split (`str`, defaults to `"train"`): the reference split; the training images, as is usual for GANs
            (for mnist-5k: 4,500 images; its 500-image test split gives noisier statistics).
        num_reference (`int`, *optional*): cap on reference images (default: the whole split).
        batch_size (`int`, defaults to 250): images per generation and feature batch.
        seed (`int`, defaults to 0): seeds the latents (results are reproducible for a seed and batch size), the
            KID subsets, the IS shuffle and the VAE's importance samples.
        device (`str`, *optional*): where the generator and extractor run (default: CUDA if available).
        cache (`bool`, defaults to `True`): cache reference statistics on disk.
        progress (`bool`, defaults to `True`): show progress bars.
        per_class (`bool`, defaults to `True`): per-class FID for conditional models.
        vae_metrics (`bool`, defaults to `True`): NLL and reconstruction error for pipelines that have
            `reconstruct` and `estimate_nll` (VAEs).
        kid_subsets, kid_subset_size, is_splits, pr_k: metric settings (torch-fidelity's defaults).
        vae_num_images, nll_importance_samples: held-out images and importance samples for a VAE's NLL.
        image_column, label_column (`str`, *optional*): dataset columns, when detection does not find them.

    Returns:
        `dict`: flat metric names to values, see the module docs.
    """
    from ..data import load_dataset

    names = parse_metrics(metrics)
    if num_samples < 2:
        raise GenzooError(f"--num-samples must be at least 2, got {num_samples}.")
    if batch_size < 1:
        raise GenzooError(f"The batch size must be at least 1, got {batch_size}.")
    if vae_metrics and _is_vae(pipe):
        if vae_num_images < 1:
            raise GenzooError(f"--vae-num-images must be at least 1, got {vae_num_images}.")
        if nll_importance_samples < 1:
            raise GenzooError(f"--nll-importance-samples must be at least 1, got {nll_importance_samples}.")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    extractor = load_feature_extractor(features, weights_path=features_path, device=device)
    if "is" in names and not extractor.has_logits:
        raise GenzooError(
            f"Feature extractor {extractor.name!r} gives no class logits, which the Inception Score needs; drop 'is' "
            "from --metrics or use an extractor with logits (mnist-classifier, or inception from a state-dict file)."
        )
    model = pipe.model
    resolution, channels = int(model.config.image_size), int(model.config.num_channels)
    extractor.check_channels(channels)
    real = load_dataset(dataset, split=split, image_column=image_column, label_column=label_column)
    real_channels = real.image_shape()[0]
    if real_channels != channels:
        raise GenzooError(
            f"The pipeline makes {channels}-channel images but dataset {dataset!r} holds {real_channels}-channel "
            "images; evaluate against a dataset like the one the model was trained on."
        )
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)

    # 1. Generated images, streamed through the extractor: class by class for a conditional model.
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if num_classes:
        per_label = num_samples // num_classes
        if per_label < 1:
            raise GenzooError(f"--num-samples {num_samples} is fewer than the {num_classes} classes; raise it.")
        counts: dict[int | None, int] = dict.fromkeys(range(num_classes), per_label)
    else:
        counts = {None: num_samples}
    if "fid" in names:  # fail before sampling rather than after
        require_full_rank(sum(counts.values()), extractor.feature_dim, "generated samples")
    keep_features = "kid" in names or "pr" in names
    generator = torch.Generator().manual_seed(seed)
    generated = FeatureSet.collect(
        _generated_batches(pipe, counts, batch_size, generator),
        extractor,
        keep_features=keep_features,
        keep_logits="is" in names,
        total=sum(counts.values()),
        desc="generated",
        progress=progress,
    )

    # 2. Real images (cached on disk).
    want_per_class = bool(num_classes) and per_class and real.has_labels
    reference = reference_features(
        real, extractor, resolution, channels, split=split, num_samples=num_reference,
        keep_features=keep_features, per_class=want_per_class, batch_size=batch_size, cache=cache, progress=progress,
    )  # fmt: skip

    # 3. The metrics.
    results: dict[str, Any] = {}
    if "fid" in names:
        results["fid"] = _fid(reference.stats, generated.stats)
    if "kid" in names:
        results["kid"], results["kid_std"] = kernel_inception_distance(
            reference.features, generated.features, kid_subsets, kid_subset_size, seed=seed
        )
    if "is" in names:
        splits = min(is_splits, generated.count)
        results["is"], results["is_std"] = inception_score(generated.logits, splits=splits, seed=seed)
    if "pr" in names:
        results["precision"], results["recall"] = precision_recall(
            *_equal_sizes(reference.features, generated.features, seed), k=pr_k
        )
    if want_per_class and "fid" in names:
        results.update(_per_class_fid(reference, generated, extractor.feature_dim))
    if vae_metrics and _is_vae(pipe):
        results.update(_vae_metrics(pipe, dataset, split, real, resolution, channels, vae_num_images,
                                    nll_importance_samples, batch_size, seed, progress))  # fmt: skip
    results.update(
        num_samples=generated.count,
        num_reference=reference.count,
        features=extractor.name,
        dataset=dataset,
        split=split,
    )
    return results


def _per_class_fid(reference: FeatureSet, generated: FeatureSet, dim: int) -> dict[str, float]:
    """FID of each class against the real images of that class, and their mean; skipped (with a log message) when a
    class has too few samples or real images for a full-rank covariance."""
    short = [
        label
        for label, stats in generated.class_stats.items()
        if stats.count <= dim or reference.class_stats.get(label) is None or reference.class_stats[label].count <= dim
    ]
    if short:
        per_label = min(s.count for s in generated.class_stats.values())
        logger.warning(
            "Per-class FID skipped: it needs more than %d samples and real images per class (got %d generated per "
            "class); raise --num-samples to at least %d.",
            dim, per_label, (dim + 1) * len(generated.class_stats),
        )  # fmt: skip
        return {}
    values = {
        f"fid_class_{label}": _fid(reference.class_stats[label], stats, f" of class {label}")
        for label, stats in sorted(generated.class_stats.items())
    }
    values["fid_per_class_mean"] = float(np.mean(list(values.values())))
    return values


def _vae_metrics(
    pipe: Any,
    dataset: str,
    split: str,
    real: Any,
    resolution: int,
    channels: int,
    num_images: int,
    importance_samples: int,
    batch_size: int,
    seed: int,
    progress: bool,
) -> dict[str, float]:
    """NLL (nats per image) and reconstruction MSE on held-out images: the dataset's `test` split when it has one."""
    from ..data import load_dataset

    held_out, held_out_split = real, split
    if split != "test":
        try:
            held_out = load_dataset(dataset, split="test", image_column=real.image_column, label_column="")
            held_out_split = "test"
        except (GenzooError, ValueError, FileNotFoundError, KeyError):
            logger.warning(
                "Dataset %r has no test split; VAE metrics use split %r, which the model saw.", dataset, split
            )
    count = min(num_images, len(held_out))
    if count < 1:
        raise GenzooError(
            f"Split {held_out_split!r} of dataset {dataset!r} is empty, so there are no held-out images for the VAE "
            "metrics (nll, reconstruction_mse)."
        )
    indices = np.random.RandomState(seed).permutation(len(held_out))[:count]
    rows = held_out.with_transform(resolution, channels)
    generator = torch.Generator().manual_seed(seed)
    squared_error, nll, seen = 0.0, [], 0
    for start in tqdm(range(0, count, batch_size), desc="vae", disable=not progress, leave=False):
        images = torch.stack(rows[indices[start : start + batch_size]]["pixel_values"]).to(pipe.device)
        recon = pipe.reconstruct(images, output_type="pt", generator=generator).images
        target = (images + 1.0) / 2.0
        squared_error += float(((recon.to(target) - target) ** 2).sum())
        nll.append(
            pipe.estimate_nll(
                images, num_importance_samples=importance_samples, batch_size=batch_size, generator=generator
            )
            .double()
            .cpu()
        )
        seen += images.numel()
    return {"nll": float(torch.cat(nll).mean()), "reconstruction_mse": squared_error / seen}


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
