"""The `Dataset` interface and genzoo's built-in dataset sources.

A dataset spec names a registered source and, after a colon, its argument:

| spec | what it loads |
| --- | --- |
| `mnist-5k` | 4,500 real MNIST digits embedded in genzoo (`split="test"`: 500 more, held out) |
| `imagefolder:DIR` | images under `DIR`, labels from sub-folder names |
| `parquet:FILE` | a parquet file (or glob) with an image column |
| `hf:ORG/NAME` | a Hugging Face Hub dataset, e.g. `hf:uoft-cs/cifar10` |

A bare path to a folder or a `.parquet` file works too.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from datasets.exceptions import DatasetsError
from PIL import Image

from .errors import GenzooError, network_errors
from .registry import dataset_sources

__all__ = ["Dataset", "image_to_tensor", "load_dataset"]

ASSETS_DIR = Path(__file__).parent / "assets"
IMAGE_COLUMN_NAMES = ("image", "img", "images", "picture", "pixel_values")
LABEL_COLUMN_NAMES = ("label", "labels", "class", "fine_label", "class_label", "target", "y")


class Dataset:
    r"""An image dataset for training and evaluation: a Hugging Face `datasets.Dataset` with an image column and an
    optional integer label column.

    Args:
        data (`datasets.Dataset`): the rows.
        image_column (`str`, *optional*): column of PIL images; detected from the features when omitted.
        label_column (`str`, *optional*): column of integer class labels; detected when omitted (a `ClassLabel`
            feature, or a column named like `label`). Pass `""` for no labels.
        name (`str`): the spec the dataset was loaded from, for messages and model cards.
    """

    def __init__(
        self,
        data: datasets.Dataset,
        image_column: str | None = None,
        label_column: str | None = None,
        name: str = "",
    ) -> None:
        self.data = data
        self.name = name
        self.image_column = image_column or self._detect_image_column()
        if self.image_column not in data.column_names:
            raise GenzooError(
                f"Dataset {name!r} has no column {self.image_column!r}; its columns are {data.column_names}. "
                "Pass --image-column NAME."
            )
        self.label_column = self._detect_label_column() if label_column is None else (label_column or None)
        if self.label_column is not None and self.label_column not in data.column_names:
            raise GenzooError(
                f"Dataset {name!r} has no column {self.label_column!r}; its columns are {data.column_names}. "
                "Pass --label-column NAME (or --label-column '' for none)."
            )

    def _detect_image_column(self) -> str:
        features = self.data.features
        found = [name for name, feature in features.items() if isinstance(feature, datasets.Image)]
        found += [name for name in IMAGE_COLUMN_NAMES if name in features and name not in found]
        if not found:
            raise GenzooError(
                f"Dataset {self.name!r} has no image column among {self.data.column_names}; pass --image-column NAME."
            )
        return found[0]

    def _detect_label_column(self) -> str | None:
        features = self.data.features
        found = [name for name, feature in features.items() if isinstance(feature, datasets.ClassLabel)]
        found += [
            name
            for name in LABEL_COLUMN_NAMES
            if name in features
            and isinstance(features[name], datasets.Value)
            and features[name].dtype.startswith(("int", "uint"))
        ]
        return found[0] if found else None

    def __len__(self) -> int:
        return len(self.data)

    @property
    def has_labels(self) -> bool:
        """Whether the dataset has a label column (detected or given)."""
        return self.label_column is not None

    @property
    def num_classes(self) -> int:
        """Number of classes (0 without labels): the `ClassLabel` size, else the largest label plus one."""
        if self.label_column is None:
            return 0
        feature = self.data.features[self.label_column]
        if isinstance(feature, datasets.ClassLabel):
            return feature.num_classes
        return int(max(self.data[self.label_column])) + 1

    @property
    def class_names(self) -> list[str]:
        """One name per class: the `ClassLabel` names, else the labels as strings (empty without labels)."""
        feature = self.data.features.get(self.label_column) if self.label_column else None
        if isinstance(feature, datasets.ClassLabel):
            return list(feature.names)
        return [str(i) for i in range(self.num_classes)]

    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the first image, to pick model defaults."""
        image = self.data[0][self.image_column]
        channels = 1 if image.mode in ("L", "1", "I", "I;16", "F") else 3
        return channels, image.height, image.width

    def with_transform(self, image_size: int, num_channels: int, random_flip: bool = False) -> datasets.Dataset:
        r"""The rows as `{"pixel_values": float tensor in [-1, 1] of shape (C, H, W), "class_labels": int}`.

        Images are converted to the channel count, resized so the shorter side is `image_size` and centre-cropped,
        then scaled from [0, 255] to [-1, 1]. The conversion runs lazily, batch by batch.
        """
        image_column, label_column = self.image_column, self.label_column

        def transform(batch: dict[str, list[Any]]) -> dict[str, Any]:
            pixels = [image_to_tensor(image, image_size, num_channels) for image in batch[image_column]]
            if random_flip:
                flips = torch.rand(len(pixels)) < 0.5  # torch RNG: restored with a checkpoint
                pixels = [p.flip(-1) if flip else p for p, flip in zip(pixels, flips.tolist(), strict=True)]
            out: dict[str, Any] = {"pixel_values": pixels}
            if label_column is not None:
                out["class_labels"] = [int(label) for label in batch[label_column]]
            return out

        return self.data.with_transform(transform)


def image_to_tensor(image: Image.Image, image_size: int, num_channels: int) -> torch.Tensor:
    """One PIL image to a (C, H, W) float tensor in [-1, 1] at `image_size` (shorter side, then centre crop)."""
    image = image.convert("L" if num_channels == 1 else "RGB")
    if image.size != (image_size, image_size):
        scale = image_size / min(image.size)
        new_size = (max(image_size, round(image.width * scale)), max(image_size, round(image.height * scale)))
        image = image.resize(new_size, Image.Resampling.BICUBIC)
        left, top = (image.width - image_size) // 2, (image.height - image_size) // 2
        image = image.crop((left, top, left + image_size, top + image_size))
    array = np.asarray(image, dtype=np.float32)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(array / 127.5 - 1.0)


def load_dataset(
    spec: str,
    split: str = "train",
    image_column: str | None = None,
    label_column: str | None = None,
) -> Dataset:
    r"""Load a dataset from a spec such as `mnist-5k`, `imagefolder:DIR`, `parquet:FILE` or `hf:ORG/NAME`.

    Args:
        spec (`str`): registered source name, optionally followed by `:argument`; or a path to a folder or a
            parquet file.
        split (`str`): which split to load (`train` by default).
        image_column, label_column (`str`, *optional*): override column detection.

    Returns:
        `genzoo.Dataset`: the Hugging Face dataset with its image and label columns detected.

    Raises:
        `GenzooError`: a one-line reason for an unknown source, a missing path, unreadable data or an unreachable
        Hub dataset.
    """
    sources = dataset_sources()
    name, argument = spec, None
    if spec not in sources:
        prefix, sep, rest = spec.partition(":")
        if sep and prefix in sources:
            name, argument = prefix, rest
        elif os.path.isdir(spec):
            name, argument = "imagefolder", spec
        elif spec.endswith(".parquet") and os.path.exists(spec):
            name, argument = "parquet", spec
    loader: Callable[..., datasets.Dataset | Dataset] = sources.get(name).obj
    data = loader(argument, split=split)
    if isinstance(data, Dataset):  # a plugin that chose its columns itself; the caller's overrides still win
        image_column = data.image_column if image_column is None else image_column
        label_column = (data.label_column or "") if label_column is None else label_column
        data = data.data
    return Dataset(data, image_column=image_column, label_column=label_column, name=spec)


def _require_argument(source: str, argument: str | None, example: str) -> str:
    if not argument:
        raise GenzooError(f"Dataset source {source!r} needs an argument, e.g. {example!r}.")
    return argument


def load_mnist_5k(argument: str | None = None, split: str = "train") -> datasets.Dataset:
    """The 5,000 real MNIST digits embedded in genzoo: 4,500 for `train`, 500 held out for `test`."""
    if split not in ("train", "test"):
        raise GenzooError(f"mnist-5k has splits 'train' and 'test', not {split!r}.")
    return datasets.Dataset.from_parquet(str(ASSETS_DIR / "mnist_5k" / f"{split}.parquet"))


def load_imagefolder(argument: str | None, split: str = "train") -> datasets.Dataset:
    """Images in a folder; sub-folder names become class labels."""
    path = _require_argument("imagefolder", argument, "imagefolder:./images")
    if not os.path.isdir(path):
        raise GenzooError(f"Image folder {path!r} does not exist.")
    try:
        return datasets.load_dataset("imagefolder", data_dir=path, split=split)
    except (FileNotFoundError, ValueError) as exc:
        raise GenzooError(f"Could not read images from {path!r}: {exc}") from exc


def load_parquet(argument: str | None, split: str = "train") -> datasets.Dataset:
    """A parquet file (or glob of files) with an image column."""
    path = _require_argument("parquet", argument, "parquet:./data/train.parquet")
    try:
        return datasets.load_dataset("parquet", data_files={split: path}, split=split)
    except FileNotFoundError as exc:
        raise GenzooError(f"No parquet file matches {path!r}.") from exc
    except (DatasetsError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise GenzooError(
            f"Could not read parquet data from {path!r}: {_one_line(exc)}; is it a parquet file?"
        ) from exc


def load_hub_dataset(argument: str | None, split: str = "train") -> datasets.Dataset:
    """A dataset from the Hugging Face Hub (cached datasets load offline with HF_DATASETS_OFFLINE=1)."""
    repo_id = _require_argument("hf", argument, "hf:uoft-cs/cifar10")
    try:
        return datasets.load_dataset(repo_id, split=split)
    except (*network_errors(), ValueError, DatasetsError) as exc:
        raise GenzooError(
            f"Could not load Hub dataset {repo_id!r} (split {split!r}): {_one_line(exc)}. Without a network, use a "
            "cached copy (HF_DATASETS_OFFLINE=1) or a local source such as parquet:FILE or imagefolder:DIR."
        ) from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
