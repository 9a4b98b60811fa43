"""Evaluation: FID, KID, Inception Score, precision/recall (and any metric a plugin registers) over pluggable feature
extractors.

- `genzoo.metrics.functional`: the metrics on feature arrays (`frechet_distance`, `kernel_inception_distance`,
  `inception_score`, `precision_recall`) and the streaming `FeatureStatistics`.
- `genzoo.metrics.extractors`: the `FeatureExtractor` base class and the built-in `mnist-classifier`,
  `inception` and `dinov2` extractors.
- `genzoo.metrics.reference`: feature sets and the on-disk cache of reference statistics.
- `genzoo.metrics.selection`: metric names to registrations (`parse_metrics`, `parse_metric_args`), without torch.
- `genzoo.metrics.evaluation`: `evaluate_pipeline` (what `genzoo evaluate` runs) and the `MetricContext` every
  registered metric's compute function receives.
- `genzoo.metrics.standard`: the compute functions of the built-in metrics.
- `genzoo.metrics.training_eval`: evaluation every N training steps, keeping the best pipeline.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from ..cache import genzoo_cache_dir
    from .evaluation import (
        EvaluationOptions,
        HeldOutImages,
        MetricContext,
        evaluate_images,
        evaluate_pipeline,
        format_results,
    )
    from .extractors import (
        Dinov2Extractor,
        FeatureExtractor,
        InceptionExtractor,
        MNISTClassifierExtractor,
        load_feature_extractor,
        quantize_images,
    )
    from .functional import (
        FeatureStatistics,
        frechet_distance,
        inception_score,
        kernel_inception_distance,
        polynomial_mmd2,
        precision_recall,
    )
    from .mnist_classifier import MNISTClassifier, load_mnist_classifier
    from .reference import (
        FeatureSet,
        GaussianStatistics,
        ReferenceKey,
        load_reference_stats,
        reference_features,
    )
    from .selection import parse_metric_args, parse_metrics

__all__ = [
    "Dinov2Extractor",
    "EvaluationOptions",
    "FeatureExtractor",
    "FeatureSet",
    "FeatureStatistics",
    "GaussianStatistics",
    "HeldOutImages",
    "InceptionExtractor",
    "MNISTClassifier",
    "MNISTClassifierExtractor",
    "MetricContext",
    "ReferenceKey",
    "evaluate_images",
    "evaluate_pipeline",
    "format_results",
    "frechet_distance",
    "genzoo_cache_dir",
    "inception_score",
    "kernel_inception_distance",
    "load_feature_extractor",
    "load_mnist_classifier",
    "load_reference_stats",
    "parse_metric_args",
    "parse_metrics",
    "polynomial_mmd2",
    "precision_recall",
    "quantize_images",
    "reference_features",
]

# torch loads on first use of a name, so the name checks of `genzoo evaluate` (genzoo.metrics.selection) run
# without it.
_LAZY = {
    "EvaluationOptions": ".evaluation",
    "HeldOutImages": ".evaluation",
    "MetricContext": ".evaluation",
    "evaluate_images": ".evaluation",
    "evaluate_pipeline": ".evaluation",
    "format_results": ".evaluation",
    "parse_metric_args": ".selection",
    "parse_metrics": ".selection",
    "Dinov2Extractor": ".extractors",
    "FeatureExtractor": ".extractors",
    "InceptionExtractor": ".extractors",
    "MNISTClassifierExtractor": ".extractors",
    "load_feature_extractor": ".extractors",
    "quantize_images": ".extractors",
    "FeatureStatistics": ".functional",
    "frechet_distance": ".functional",
    "inception_score": ".functional",
    "kernel_inception_distance": ".functional",
    "polynomial_mmd2": ".functional",
    "precision_recall": ".functional",
    "MNISTClassifier": ".mnist_classifier",
    "load_mnist_classifier": ".mnist_classifier",
    "FeatureSet": ".reference",
    "GaussianStatistics": ".reference",
    "ReferenceKey": ".reference",
    "genzoo_cache_dir": "..cache",
    "load_reference_stats": ".reference",
    "reference_features": ".reference",
}

__getattr__ = lazy_exports(__name__, _LAZY)
