r"""Class coverage of an unconditional generator: how evenly its samples spread over a classifier's classes.

A GAN that draws mostly 0s and 7s can still reach a fair FID; the class histogram says it directly. The classifier
is any feature extractor with logits (the shipped digit classifier for MNIST-like data). `genzoo evaluate` reports
these figures for unconditional models as the `coverage` metric (`compute_coverage`), and `bench/class_histogram.py`
prints them for a pipeline.
"""

import math
from typing import Any

import numpy as np
import torch

from ..errors import GenzooError

__all__ = ["MAX_CLASS_SHARES", "class_coverage", "compute_coverage"]

#: `compute_coverage` reports each class's share (`class_share_<c>`) up to this many classes; a classifier with more
#: (Inception's 1,008 ImageNet classes) gets the summary figures only.
MAX_CLASS_SHARES = 100


def class_coverage(logits: torch.Tensor | np.ndarray) -> dict[str, Any]:
    r"""The class histogram of samples (each counted as its most probable class) and how even it is.

    Args:
        logits (`(n, num_classes)` array): class logits (or log-probabilities) of the generated images.

    Returns:
        `dict` with
        - `class_counts` (`list[int]`): samples whose most probable class is c, for every class c;
        - `class_shares` (`list[float]`): the same as fractions of `n`;
        - `coverage_min_share` (`float`): the smallest share (1 / num_classes when perfectly even, 0 when a class is
            never drawn);
        - `coverage_entropy` (`float`): the entropy of the shares divided by log(num_classes): 1 for an even spread,
            0 when every sample is one class;
        - `coverage_classes` (`int`): classes drawn at least once;
        - `mean_top_probability` (`float`): the classifier's mean confidence in its top class, low when many
            samples lie between classes.

    Raises:
        `GenzooError`: for anything but a non-empty 2-d array with at least two classes.
    """
    logits = torch.as_tensor(logits, dtype=torch.float64)
    if logits.ndim != 2 or logits.shape[0] < 1 or logits.shape[1] < 2:
        raise GenzooError(
            f"Class coverage needs logits of shape (samples, classes) with at least one sample and two classes, got "
            f"{tuple(logits.shape)}."
        )
    n, num_classes = logits.shape
    probabilities = logits.softmax(dim=1)
    top_probability, predicted = probabilities.max(dim=1)
    counts = torch.bincount(predicted, minlength=num_classes)
    shares = counts.double() / n
    nonzero = shares[shares > 0]
    entropy = float(-(nonzero * nonzero.log()).sum()) / math.log(num_classes)
    return {
        "class_counts": counts.tolist(),
        "class_shares": shares.tolist(),
        "coverage_min_share": float(shares.min()),
        "coverage_entropy": max(0.0, min(1.0, entropy)),  # clip rounding just outside [0, 1]
        "coverage_classes": int((counts > 0).sum()),
        "mean_top_probability": float(top_probability.mean()),
    }


def compute_coverage(context: Any) -> dict[str, float]:
    r"""The `coverage` metric: `class_coverage` of the generated images' logits, as flat numbers.

    Args:
        context (`genzoo.metrics.MetricContext`): holds the generated images' logits (the metric `needs` them).

    Returns:
        `dict`: `coverage_entropy`, `coverage_min_share`, `coverage_classes`, `mean_top_probability` and, for a
        classifier with at most `MAX_CLASS_SHARES` classes, `class_share_<c>` for every class c.
    """
    result = class_coverage(context.generated.logits)
    flat = {key: result[key] for key in ("coverage_entropy", "coverage_min_share", "coverage_classes")}
    flat["mean_top_probability"] = result["mean_top_probability"]
    if len(result["class_shares"]) <= MAX_CLASS_SHARES:
        flat.update({f"class_share_{label}": share for label, share in enumerate(result["class_shares"])})
    return flat
