r"""Feature sets of real and generated images, and the on-disk cache of reference (real-image) statistics.

A reference set is expensive to compute (every real image goes through the feature extractor) and the same for
every model evaluated against it, so genzoo caches it under `$GENZOO_CACHE/reference_stats/` (default
`~/.cache/genzoo/reference_stats/`, or under `$XDG_CACHE_HOME`). A cache entry is keyed by the dataset spec and
columns, the split, the extractor (its name, weights file and preprocessing), the resolution and channels the images
are converted to, and the number of images; it is written to a temporary file and renamed, so concurrent runs never
read a half-written entry.
"""

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from ..cache import genzoo_cache_dir
from ..errors import GenzooError
from .functional import FeatureStatistics

if TYPE_CHECKING:
    from ..data import Dataset
    from .extractors import FeatureExtractor

__all__ = [
    "FeatureSet",
    "GaussianStatistics",
    "ReferenceKey",
    "genzoo_cache_dir",
    "load_reference_stats",
    "reference_features",
]

CACHE_FORMAT = 1
# What `--reference-stats` takes, for the messages that refuse anything else.
STATS_FILE_FORMAT = (
    "an .npz archive (as pytorch-fid's --save-stats and clean-fid write) of float arrays 'mu' of shape (dim,) and "
    "'sigma' of shape (dim, dim)"
)


@dataclass
class FeatureSet:
    r"""What the metrics need from one set of images.

    Attributes:
        stats (`FeatureStatistics`): running mean and covariance of all features (FID).
        features (`torch.Tensor`, *optional*): all features, `(n, dim)` float32 (KID, precision/recall).
        logits (`torch.Tensor`, *optional*): all class logits (Inception Score).
        class_stats (`dict[int, FeatureStatistics]`): statistics per class label (per-class FID).
    """

    stats: FeatureStatistics
    features: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    class_stats: dict[int, FeatureStatistics] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """The number of images the statistics cover."""
        return self.stats.count

    @classmethod
    def collect(
        cls,
        batches: Iterator[tuple[torch.Tensor, torch.Tensor | None]],
        extractor: "FeatureExtractor",
        keep_features: bool = False,
        keep_logits: bool = False,
        total: int | None = None,
        desc: str = "features",
        progress: bool = True,
    ) -> "FeatureSet":
        r"""Run `extractor` over `(images in [-1, 1], class labels or None)` batches, streaming the statistics.

        Memory: one `(dim, dim)` float64 matrix (plus one per class when labels are given), and the features and
        logits only when asked to keep them.
        """
        result = cls(FeatureStatistics(extractor.feature_dim))
        features, logits = [], []
        with tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False) as bar:
            for images, labels in batches:
                batch_features, batch_logits = extractor.features_and_logits(images, with_logits=keep_logits)
                result.stats.update(batch_features)
                if labels is not None:
                    for label in labels.unique().tolist():
                        stats = result.class_stats.setdefault(int(label), FeatureStatistics(extractor.feature_dim))
                        stats.update(batch_features[labels.cpu() == label])
                if keep_features:
                    features.append(batch_features)
                if keep_logits and batch_logits is not None:
                    logits.append(batch_logits)
                bar.update(len(images))
        if keep_features:
            result.features = torch.cat(features) if features else torch.empty(0, extractor.feature_dim)
        if logits:
            result.logits = torch.cat(logits)
        return result

    def save(self, path: Path, key: dict) -> None:
        """Write to an `.npz` file atomically (a temporary file in the same folder, then a rename)."""
        arrays: dict[str, np.ndarray] = {f"stats_{k}": v for k, v in self.stats.state_dict().items()}
        arrays["key"] = np.asarray(json.dumps(key, sort_keys=True))
        if self.features is not None:
            arrays["features"] = self.features.numpy()
        if self.logits is not None:
            arrays["logits"] = self.logits.numpy()
        if self.class_stats:
            labels = sorted(self.class_stats)
            arrays["class_labels"] = np.asarray(labels)
            for name in ("count", "mean", "m2"):
                arrays[f"class_{name}"] = np.stack([self.class_stats[c].state_dict()[name] for c in labels])
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with partial.open("wb") as handle:
                np.savez(handle, **arrays)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> "FeatureSet":
        """Read a file written by `save` (raises `OSError`, `ValueError` or `KeyError` for a corrupt one)."""
        with np.load(path, allow_pickle=False) as data:
            stats = FeatureStatistics.from_state_dict({k: data[f"stats_{k}"] for k in ("count", "mean", "m2")})
            result = cls(stats)
            if "features" in data:
                result.features = torch.from_numpy(data["features"])
            if "logits" in data:
                result.logits = torch.from_numpy(data["logits"])
            if "class_labels" in data:
                for i, label in enumerate(data["class_labels"].tolist()):
                    result.class_stats[int(label)] = FeatureStatistics.from_state_dict(
                        {k: data[f"class_{k}"][i] for k in ("count", "mean", "m2")}
                    )
        return result


@dataclass(frozen=True)
class ReferenceKey:
    """Everything that determines a reference feature set; its hash names the cache file."""

    dataset: str
    split: str
    extractor: str
    resolution: int
    channels: int
    num_samples: int
    image_column: str | None = None
    label_column: str | None = None
    format: int = CACHE_FORMAT

    def path(self, root: Path | None = None) -> Path:
        """The cache file: a readable slug and a hash of every field, under `root` (default: the genzoo cache)."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.dataset}-{self.split}-{self.extractor.split('|')[0]}")
        name = f"{slug[:80]}-{self.resolution}px-n{self.num_samples}-{digest}.npz"
        return (root or genzoo_cache_dir() / "reference_stats") / name


def _real_batches(
    dataset: "Dataset", indices: np.ndarray, resolution: int, channels: int, batch_size: int, with_labels: bool = True
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Real images in [-1, 1] at the model's resolution (the same conversion training used), with their labels
    (`None` without a label column or with `with_labels=False`, so no per-class statistics are collected)."""
    rows = dataset.with_transform(resolution, channels)
    for start in range(0, len(indices), batch_size):
        batch = rows[indices[start : start + batch_size]]
        labels = torch.as_tensor(batch["class_labels"]) if with_labels and "class_labels" in batch else None
        yield torch.stack(batch["pixel_values"]), labels


def _dataset_identity(spec: str) -> str:
    """The dataset spec for the cache key, with a local path made absolute and stamped with its modification time,
    so `imagefolder:./data` in two folders, or after files were added, are different entries."""
    prefix, sep, rest = spec.partition(":")
    head, path_text = (f"{prefix}:", rest) if sep and not os.path.exists(spec) else ("", spec)
    path = Path(path_text).expanduser()
    if not path_text or not path.exists():
        return spec
    return f"{head}{path.resolve()}@{path.stat().st_mtime_ns}"


def _class_stats_are_small(dataset: "Dataset", dim: int) -> bool:
    """Per-class statistics are kept even when not asked for if they take at most 64 MB (10 classes of 128-d
    features take 1.3 MB; 1,000 classes of 2048-d Inception features would take 34 GB), so that evaluations of
    conditional and unconditional models share one cache entry."""
    return dataset.has_labels and dataset.num_classes * dim * dim * 8 <= 64 * 2**20


def reference_features(
    dataset: "Dataset",
    extractor: "FeatureExtractor",
    resolution: int,
    channels: int,
    split: str = "train",
    num_samples: int | None = None,
    keep_features: bool = False,
    per_class: bool = False,
    batch_size: int = 256,
    cache: bool = True,
    progress: bool = True,
) -> FeatureSet:
    r"""Features of the real images of `dataset` (converted to `resolution` and `channels` as in training), from the
    cache when an entry with everything asked for exists.

    Args:
        dataset (`genzoo.Dataset`): the loaded split.
        extractor (`FeatureExtractor`): what computes the features.
        resolution, channels (`int`): the size and channels of the generator's images.
        split (`str`): the split's name, for the cache key.
        num_samples (`int`, *optional*): use this many images, drawn at random with a fixed seed (the embedded
            digits are sorted by label, so the first N would be a biased subset); all of them by default.
        keep_features (`bool`): also return the features themselves (KID, precision/recall).
        per_class (`bool`): also return per-class statistics (needs a label column); they are kept anyway when
            small.
        batch_size (`int`, defaults to 256): images per feature batch.
        cache (`bool`): read and write the on-disk cache.
        progress (`bool`): show a progress bar.

    Returns:
        `FeatureSet`: the statistics of `count` real images (`num_samples`, or the whole split), with the features
        and per-class statistics when asked for (or when a cached entry has them).

    Raises:
        `GenzooError`: when fewer than 2 images would be used.
    """
    total = len(dataset)
    count = total if num_samples is None else min(num_samples, total)
    if count < 2:
        if count < total:  # capped by num_samples
            raise GenzooError(
                f"--num-reference {num_samples} leaves too few reference images: evaluation needs at least 2 "
                f"(dataset {dataset.name!r}, split {split!r}, has {total})."
            )
        raise GenzooError(
            f"Dataset {dataset.name!r} (split {split!r}) has {total} images; evaluation needs at least 2."
        )
    per_class = per_class and dataset.has_labels
    key = ReferenceKey(
        _dataset_identity(dataset.name), split, extractor.fingerprint(), resolution, channels, count,
        dataset.image_column, dataset.label_column,
    )  # fmt: skip
    path = key.path()
    if cache and path.is_file():
        try:
            cached = FeatureSet.load(path)
        except (OSError, ValueError, KeyError):
            cached = None  # a corrupt or foreign file: recompute and replace it
        if cached is not None:
            if (cached.features is not None or not keep_features) and (cached.class_stats or not per_class):
                return cached
            # Recompute with everything either run asked for, so the two do not keep replacing each other's entry.
            keep_features = keep_features or cached.features is not None
            per_class = per_class or bool(cached.class_stats)
    # Per-class statistics cost one (dim, dim) float64 matrix per class: collect them only when asked for or small.
    keep_labels = per_class or _class_stats_are_small(dataset, extractor.feature_dim)
    indices = np.random.RandomState(0).permutation(total)[:count] if count < total else np.arange(total)
    result = FeatureSet.collect(
        _real_batches(dataset, indices, resolution, channels, batch_size, with_labels=keep_labels),
        extractor,
        keep_features=keep_features,
        total=count,
        desc=f"reference {dataset.name}:{split}",
        progress=progress,
    )
    if cache:
        result.save(path, asdict(key))
    return result


@dataclass
class GaussianStatistics:
    r"""Reference statistics known only as a mean and a covariance (the `.npz` files pytorch-fid and clean-fid
    publish); they stand in for a `FeatureStatistics` in FID. `count` is `None`: the files do not say how many
    images they summarise."""

    mean: np.ndarray
    covariance: np.ndarray
    count: int | None = None

    @property
    def dim(self) -> int:
        return len(self.mean)

    def check_full_rank(self, what: str = "samples") -> None:
        """Nothing to check: the number of images behind published statistics is not known."""


def load_reference_stats(path: str | os.PathLike, extractor: "FeatureExtractor | None" = None) -> GaussianStatistics:
    r"""Read a `.npz` file of reference statistics with the arrays `mu` (`(dim,)`) and `sigma` (`(dim, dim)`), the
    format of pytorch-fid's `--save-stats` and of clean-fid's published statistics.

    Args:
        path (`str`): the file.
        extractor (`FeatureExtractor`, *optional*): when given, its `feature_dim` must match the statistics'.

    Returns:
        `GaussianStatistics`: the mean and covariance, in float64.

    Raises:
        `GenzooError`: a one-line reason for a missing or unreadable file, missing arrays, wrong shapes, or a
            dimension that does not match the extractor.
    """
    path = Path(path)
    if not path.is_file():
        raise GenzooError(f"Reference statistics file {str(path)!r} does not exist.")
    what = f"{STATS_FILE_FORMAT}; re-save the statistics in that format"
    with path.open("rb") as handle:
        magic = handle.read(6)
    if not magic.startswith(b"PK\x03\x04"):  # every .npz is a zip archive; check before numpy guesses at a pickle
        kind = "a single .npy array" if magic == b"\x93NUMPY" else "not an .npz archive"
        raise GenzooError(f"Cannot read reference statistics from {str(path)!r}: it is {kind}, and it must be {what}.")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "mu" not in data.files or "sigma" not in data.files:
                raise GenzooError(
                    f"{str(path)!r} holds {', '.join(data.files[:8]) or 'no arrays'}, not the 'mu' and 'sigma' "
                    "arrays that pytorch-fid and clean-fid write."
                )
            mean, covariance = np.asarray(data["mu"], np.float64), np.asarray(data["sigma"], np.float64)
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        # numpy's own message for a pickled array advises allow_pickle=True, which would run the pickle's code.
        reason = "it holds pickled objects" if "pickle" in str(exc) else " ".join(str(exc).split())[:200]
        raise GenzooError(
            f"Cannot read reference statistics from {str(path)!r} ({reason}): it must be {what}."
        ) from None
    if mean.ndim != 1 or covariance.shape != (len(mean), len(mean)):
        raise GenzooError(
            f"{str(path)!r} has mu of shape {mean.shape} and sigma of shape {covariance.shape}; expected (dim,) and "
            "(dim, dim)."
        )
    if extractor is not None and len(mean) != extractor.feature_dim:
        raise GenzooError(
            f"{str(path)!r} holds {len(mean)}-d statistics but feature extractor {extractor.name!r} gives "
            f"{extractor.feature_dim}-d features; use the extractor the statistics were made with (--features "
            "inception for pytorch-fid's and clean-fid's)."
        )
    return GaussianStatistics(mean, covariance)
