r"""`code_accuracy`: how well InfoGAN's categorical code matches real classes (the paper's "5 % error" on MNIST).

Each code value is sampled `samples_per_code` times (fresh noise and continuous codes), a classifier labels every
image (the shipped MNIST classifier by default), and codes are matched one-to-one to classes by the Hungarian
algorithm on the code × class count matrix (`scipy.optimize.linear_sum_assignment`). The accuracy is the fraction of
images whose class is the one matched to their code, so a permutation of the classes scores as well as the
identity, and two codes drawing the same class cannot both be credited.
"""

from typing import Any

import numpy as np
import torch

from genzoo.errors import GenzooError

__all__ = ["code_class_accuracy", "compute_code_accuracy"]


def code_class_accuracy(codes: np.ndarray, classes: np.ndarray) -> tuple[float, dict[int, int]]:
    r"""Accuracy of the best one-to-one match of codes to classes (Hungarian algorithm), and the match.

    Args:
        codes (`np.ndarray`): integer code value of each image.
        classes (`np.ndarray`): integer predicted class of each image.

    Returns:
        `(accuracy, {code: class})`.
    """
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as exc:
        raise GenzooError(
            "Metric 'code_accuracy' matches codes to classes with scipy, which is not installed; "
            "pip install scipy (or genzoo[metrics])."
        ) from exc
    codes, classes = np.asarray(codes, dtype=np.int64), np.asarray(classes, dtype=np.int64)
    counts = np.zeros((codes.max() + 1, classes.max() + 1), dtype=np.int64)
    np.add.at(counts, (codes, classes), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(codes)), {int(r): int(c) for r, c in zip(rows, cols, strict=True)}


@torch.no_grad()
def compute_code_accuracy(
    context: Any, samples_per_code: int = 500, features: str = "mnist-classifier"
) -> dict[str, float]:
    """Sample every categorical code value, classify the images and report the Hungarian-matched accuracy."""
    from genzoo.metrics.extractors import load_feature_extractor

    pipe = context.pipe
    num_categories = int(pipe.model.config.num_categories)
    if num_categories < 2:
        raise GenzooError(
            "Metric 'code_accuracy' needs a categorical code (num_categories >= 2); this InfoGAN has none."
        )
    extractor = load_feature_extractor(features, device=context.options.device)
    if not extractor.has_logits:
        raise GenzooError(f"Metric 'code_accuracy' needs an extractor with class logits; {features!r} has none.")
    extractor.check_channels(context.channels)
    generator = torch.Generator().manual_seed(context.seed)
    codes, classes = [], []
    for value in range(num_categories):
        for start in range(0, samples_per_code, context.batch_size):
            count = min(context.batch_size, samples_per_code - start)
            images = pipe(batch_size=count, codes={"category": value}, generator=generator, output_type="pt").images
            _, logits = extractor.features_and_logits(images * 2.0 - 1.0, with_logits=True)
            classes.append(logits.argmax(1).cpu().numpy())
            codes.append(np.full(count, value))
    accuracy, _ = code_class_accuracy(np.concatenate(codes), np.concatenate(classes))
    return {"code_accuracy": accuracy}
