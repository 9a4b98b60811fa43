r"""The compute functions of genzoo's built-in metrics (`fid`, `fid_per_class`, `kid`, `is`, `pr`), registered by
genzoo's core plugin (`genzoo.core_plugin`) through the `register_metrics` hook, exactly as a plugin's metric is.

Each takes a `MetricContext` holding the features its registration `needs`, and its options as keyword arguments.
"""

import logging
from typing import Any

import numpy as np
import torch

from .functional import frechet_distance, inception_score, kernel_inception_distance, precision_recall
from .reference import FeatureSet

__all__ = ["compute_fid", "compute_fid_per_class", "compute_is", "compute_kid", "compute_pr"]

logger = logging.getLogger(__name__)


def _fid(real: Any, fake: Any, of_what: str = "") -> float:
    real.check_full_rank(f"real images{of_what}")
    fake.check_full_rank(f"generated samples{of_what}")
    return frechet_distance(real.mean, real.covariance, fake.mean, fake.covariance)


def compute_fid(context: Any) -> dict[str, float]:
    """Fréchet Inception Distance between Gaussians fitted to the real and the generated features."""
    return {"fid": _fid(context.reference.stats, context.generated.stats)}


def compute_fid_per_class(context: Any) -> dict[str, float]:
    """FID of each class against the real images of that class, and their mean; skipped (with a log message) when a
    class has too few samples or real images for a full-rank covariance."""
    reference: FeatureSet = context.reference
    generated: FeatureSet = context.generated
    dim = context.extractor.feature_dim
    short = [
        label
        for label, stats in generated.class_stats.items()
        if stats.count <= dim or reference.class_stats.get(label) is None or reference.class_stats[label].count <= dim
    ]
    if short or not generated.class_stats:
        per_label = min((s.count for s in generated.class_stats.values()), default=0)
        logger.warning(
            "Per-class FID skipped: it needs more than %d samples and real images per class (got %d generated per "
            "class); raise --num-samples to at least %d.",
            dim, per_label, (dim + 1) * max(len(generated.class_stats), 1),
        )  # fmt: skip
        return {}
    values = {
        f"fid_class_{label}": _fid(reference.class_stats[label], stats, f" of class {label}")
        for label, stats in sorted(generated.class_stats.items())
    }
    values["fid_per_class_mean"] = float(np.mean(list(values.values())))
    return values


def compute_kid(context: Any, num_subsets: int = 100, subset_size: int = 1000) -> dict[str, float]:
    """Kernel Inception Distance: unbiased MMD² with the cubic kernel, mean and std over random subsets."""
    kid, kid_std = kernel_inception_distance(
        context.reference.features, context.generated.features, num_subsets, subset_size, seed=context.seed
    )
    return {"kid": kid, "kid_std": kid_std}


def compute_is(context: Any, splits: int = 10) -> dict[str, float]:
    """Inception Score over shuffled splits of the generated images' class logits."""
    value, std = inception_score(context.generated.logits, splits=min(splits, context.generated.count),
                                 seed=context.seed)  # fmt: skip
    return {"is": value, "is_std": std}


def _equal_sizes(a: torch.Tensor, b: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Subsample the larger feature set to the smaller's size: k-NN radii shrink as a set grows, so precision and
    recall compare sets of equal size (as Kynkäänniemi et al. do)."""
    rng = np.random.RandomState(seed)
    n = min(len(a), len(b))
    pick = lambda x: x if len(x) == n else x[torch.from_numpy(np.sort(rng.choice(len(x), n, replace=False)))]  # noqa: E731
    return pick(a), pick(b)


def compute_pr(context: Any, k: int = 3) -> dict[str, float]:
    """Improved precision and recall with k-nearest-neighbour manifolds, on equally sized sets."""
    precision, recall = precision_recall(
        *_equal_sizes(context.reference.features, context.generated.features, context.seed), k=k
    )
    return {"precision": precision, "recall": recall}
