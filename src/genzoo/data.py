"""The `Dataset` interface, genzoo's built-in dataset sources and the rows that training reads.

A dataset spec names a registered source and, after a colon, its argument:

| spec | what it loads |
| --- | --- |
| `mnist-5k` | 4,500 real MNIST digits embedded in genzoo (`split="test"`: 500 more, held out) |
| `imagefolder:DIR` | images under `DIR`, labels from sub-folder names |
| `parquet:FILE` | a parquet file (or glob) with an image column |
| `hf:ORG/NAME` | a Hugging Face Hub dataset, e.g. `hf:uoft-cs/cifar10` (`name`, `revision`, `streaming`: args) |

A bare path to a folder or a `.parquet` file works too.

Training reads a dataset through `Dataset.training_rows`: images are converted to the model's channels (greyscale,
RGBA, palette and 16-bit images included), resized so the shorter side is the model resolution, cropped (centre or
random) and optionally flipped. A dataset that fits in memory is decoded once into a uint8 tensor and batches are
indexed from it; a larger one is decoded batch by batch, and a streamed one row by row (see docs/training.md).
"""

import inspect
import io
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from datasets.exceptions import DatasetsError
from PIL import Image

from .errors import GenzooError, network_errors
from .images import (  # how training images are converted; re-exported here, where they were first defined
    channels_of,
    convert_image,
    crop_box,
    image_to_tensor,
    prepare_image,
    resize_shorter_side,
    to_chw_uint8,
    uint8_to_model_range,
)
from .registry import resolve_dataset_spec

__all__ = [
    "Dataset",
    "ImageRows",
    "StreamedImages",
    "image_to_tensor",
    "load_dataset",
    "prepare_image",
    "split_dataset_args",
]

ASSETS_DIR = Path(__file__).parent / "assets"
IMAGE_COLUMN_NAMES = ("image", "img", "images", "picture", "pixel_values")
LABEL_COLUMN_NAMES = ("label", "labels", "class", "fine_label", "class_label", "target", "y")
#: Labels are class indices 0..N-1; a label column implying more classes than this is refused when it loads (a
#: stray id such as 1,000,000 would make a conditional model allocate an embedding row per class).
MAX_CLASSES = 100_000
#: Images larger than this are refused in one line (PIL itself refuses above about 179 Mpx with a traceback; a
#: 16k x 16k PNG would take 768 MB decoded). JPEGs are downscaled while decoding instead.
MAX_IMAGE_PIXELS = 8192 * 8192
#: `in_memory="auto"` decodes a dataset once into memory when its decoded uint8 pixels take at most this much and at
#: most a quarter of the free memory (CIFAR-10 at 32 px: 150 MB; ImageNet at 64 px: 15.7 GB stays lazy).
IN_MEMORY_MAX_BYTES = 4 * 2**30
#: `dataset_args` keys that configure the training rows; every other key goes to `load_dataset`.
TRANSFORM_ARGS = ("random_flip", "crop", "in_memory", "shuffle_buffer")


class Dataset:
    r"""An image dataset for training and evaluation: a Hugging Face `datasets.Dataset` (or, streamed, a
    `datasets.IterableDataset`) with an image column and an optional integer label column.

    The label column is checked when the dataset is built: integer class indices, none negative or missing, and at
    most `MAX_CLASSES` classes.

    Args:
        data (`datasets.Dataset` or `datasets.IterableDataset`): the rows.
        image_column (`str`, *optional*): column of images; detected from the features when omitted.
        label_column (`str`, *optional*): column of integer class labels; detected when omitted (a `ClassLabel`
            feature, or a column named like `label`). Pass `""` for no labels.
        name (`str`): the spec the dataset was loaded from, for messages and model cards.
        num_classes (`int`, *optional*): the class count of a streamed dataset whose labels are not a `ClassLabel`
            (a stream cannot be scanned for its largest label up front).
        factor_columns (`list[str]` or `str`, *optional*): columns holding the known generative factors of each
            image (a list or comma-separated), which the disentanglement metrics score representations against;
            a source with factors (`shapes`) sets them, `dataset_args.factor_columns` names them for any other.
    """

    def __init__(
        self,
        data: datasets.Dataset | datasets.IterableDataset,
        image_column: str | None = None,
        label_column: str | None = None,
        name: str = "",
        num_classes: int | None = None,
        factor_columns: Sequence[str] | str | None = None,
    ) -> None:
        self.data = data
        self.name = name
        self._first_row: dict[str, Any] | None = None
        columns = self.column_names
        self.image_column = image_column or self._detect_image_column()
        if self.image_column not in columns:
            raise GenzooError(
                f"Dataset {name!r} has no column {self.image_column!r}; its columns are {columns}. "
                "Pass --image-column NAME."
            )
        self.label_column = self._detect_label_column() if label_column is None else (label_column or None)
        if self.label_column is not None and self.label_column not in columns:
            raise GenzooError(
                f"Dataset {name!r} has no column {self.label_column!r}; its columns are {columns}. "
                "Pass --label-column NAME (or --label-column '' for none)."
            )
        self._num_classes = self._checked_num_classes(num_classes)
        if isinstance(factor_columns, str):
            factor_columns = [name.strip() for name in factor_columns.split(",") if name.strip()]
        self.factor_columns: list[str] = list(factor_columns or [])
        missing = [column for column in self.factor_columns if column not in columns]
        if missing:
            raise GenzooError(
                f"Dataset {name!r} has no column {missing[0]!r} for dataset_args.factor_columns; its columns are "
                f"{columns}."
            )

    @property
    def streaming(self) -> bool:
        """Whether the rows are a stream (`datasets.IterableDataset`), read in order and without a length."""
        return isinstance(self.data, datasets.IterableDataset)

    @property
    def column_names(self) -> list[str]:
        """The column names (for a stream without declared features: those of its first row)."""
        if self.data.column_names is not None:
            return list(self.data.column_names)
        return list(self.first_row())

    def first_row(self) -> dict[str, Any]:
        """The first row, images still encoded (read once and kept, so a stream is opened only once for it)."""
        if self._first_row is None:
            try:
                rows = _undecoded(self.data)
                self._first_row = next(iter(rows.take(1) if self.streaming else rows))
            except StopIteration:
                raise GenzooError(f"Dataset {self.name!r} has no rows.") from None
        return self._first_row

    def _features(self) -> dict[str, Any]:
        return dict(self.data.features or {})

    def _detect_image_column(self) -> str:
        features = self._features()
        found = [name for name, feature in features.items() if isinstance(feature, datasets.Image)]
        columns = self.column_names
        found += [name for name in IMAGE_COLUMN_NAMES if name in columns and name not in found]
        if not found:
            raise GenzooError(f"Dataset {self.name!r} has no image column among {columns}; pass --image-column NAME.")
        return found[0]

    def _detect_label_column(self) -> str | None:
        features = self._features()
        if not features:  # a stream that does not declare its features: judge by the first row
            row = self.first_row()
            found = [name for name in LABEL_COLUMN_NAMES if isinstance(row.get(name), int | np.integer)]
            return found[0] if found else None
        found = [name for name, feature in features.items() if isinstance(feature, datasets.ClassLabel)]
        found += [
            name
            for name in LABEL_COLUMN_NAMES
            if name in features
            and isinstance(features[name], datasets.Value)
            and features[name].dtype.startswith(("int", "uint"))
        ]
        return found[0] if found else None

    def _checked_num_classes(self, given: int | None) -> int:
        """The class count, after checking the label column: integers, none negative or missing, at most
        `MAX_CLASSES` classes. A stream is checked row by row as it is read instead."""
        column = self.label_column
        if column is None or (not self.streaming and len(self.data) == 0):  # no rows: refused by whoever needs one
            return 0
        feature = self._features().get(column)
        if isinstance(feature, datasets.ClassLabel):
            count = feature.num_classes
        elif self.streaming:
            if given is None:
                raise GenzooError(
                    f"Streamed dataset {self.name!r} has labels in {column!r} that are not a ClassLabel; pass "
                    "--dataset-arg num_classes=N (or --label-column '' to train without labels)."
                )
            count = int(given)
        else:
            count = _label_range_max(self.data, column, self.name) + 1
        if given is not None and not self.streaming and int(given) < count:
            raise GenzooError(f"Dataset {self.name!r} has labels up to {count - 1}, more than num_classes={given}.")
        count = int(given) if given is not None else count
        if not 1 <= count <= MAX_CLASSES:
            raise GenzooError(
                f"Dataset {self.name!r}: label column {column!r} implies {count:,} classes; labels must be class "
                f"indices 0..N-1 with N at most {MAX_CLASSES:,}. Re-number the labels or pass --label-column ''."
            )
        return count

    def __len__(self) -> int:
        if self.streaming:
            raise GenzooError(f"Dataset {self.name!r} is streamed and has no length.")
        return len(self.data)

    @property
    def has_labels(self) -> bool:
        """Whether the dataset has a label column (detected or given)."""
        return self.label_column is not None

    @property
    def labels_hint(self) -> str:
        """How this dataset gets class labels, for the message that refuses a class-conditional model on data without
        them: an image folder by its sub-folders, any other source by naming the column."""
        try:
            source = resolve_dataset_spec(self.name)[0].name if self.name else None
        except GenzooError:  # a dataset built in Python under a free-form name
            source = None
        if source == "imagefolder":
            return (
                "an image folder needs one sub-folder per class (DIR/CLASS_NAME/*.png), and the sub-folder names "
                "become the classes"
            )
        return "pass --label-column NAME (the column that holds class indices)"

    @property
    def num_classes(self) -> int:
        """Number of classes (0 without labels): the `ClassLabel` size, else the largest label plus one."""
        return self._num_classes

    @property
    def class_names(self) -> list[str]:
        """One name per class: the `ClassLabel` names, else the labels as strings (empty without labels)."""
        feature = self._features().get(self.label_column) if self.label_column else None
        if isinstance(feature, datasets.ClassLabel):
            return list(feature.names)
        return [str(i) for i in range(self.num_classes)]

    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the first image, to pick model defaults. The channels are 3 if any of up to
        64 images spread over the dataset is in colour, so a colour folder that starts with a grey image stays in
        colour (only the image headers are read)."""
        image = open_image(self.first_row()[self.image_column], "row 0")
        channels = channels_of(image)
        if channels == 1 and not self.streaming and len(self.data) > 1:
            rows = _undecoded(self.data)
            for index in np.linspace(0, len(self.data) - 1, num=min(64, len(self.data)), dtype=int).tolist():
                if channels_of(open_image(rows[index][self.image_column], f"row {index}")) == 3:
                    channels = 3
                    break
        return channels, image.height, image.width

    def with_transform(self, image_size: int, num_channels: int, random_flip: bool = False) -> datasets.Dataset:
        r"""The rows as `{"pixel_values": float tensor in [-1, 1] of shape (C, H, W), "class_labels": int}`, converted
        lazily, batch by batch, with the same conversion as training (`prepare_image`, centre crop). Used for
        evaluation; training reads `training_rows`.
        """
        image_column, label_column = self.image_column, self.label_column

        def transform(batch: dict[str, list[Any]]) -> dict[str, Any]:
            pixels = [image_to_tensor(open_image(value), image_size, num_channels) for value in batch[image_column]]
            if random_flip:
                flips = torch.rand(len(pixels)) < 0.5
                pixels = [p.flip(-1) if flip else p for p, flip in zip(pixels, flips.tolist(), strict=True)]
            out: dict[str, Any] = {"pixel_values": pixels}
            if label_column is not None:
                out["class_labels"] = [int(label) for label in batch[label_column]]
            return out

        return _undecoded(self.data).with_transform(transform)

    def training_rows(
        self,
        image_size: int,
        num_channels: int,
        *,
        random_flip: bool = False,
        crop: str = "center",
        in_memory: bool | str = "auto",
        seed: int = 0,
        shuffle_buffer: int = 1000,
        decode_threads: int = 0,
    ) -> "ImageRows | StreamedImages":
        r"""The rows that training reads: `ImageRows` (map-style, in memory or lazy) or, for a stream,
        `StreamedImages`. Both give `{"pixel_values": float (C, H, W) in [-1, 1], "class_labels": int64}`.

        Args:
            image_size, num_channels (`int`): the model's resolution and channels.
            random_flip (`bool`): mirror half of the images, drawn per (seed, epoch, row), so a resumed run, any
                number of processes and both storage modes see the same flips.
            crop (`str`): `"center"` or `"random"` (along the longer side after the resize, drawn like the flips).
            in_memory (`bool` or `"auto"`): decode the whole dataset once into a uint8 tensor; `"auto"` does so when
                it fits (`IN_MEMORY_MAX_BYTES`, a quarter of the free memory). Not for streams.
            seed (`int`): seeds the flips, crops and a stream's shuffle buffer.
            shuffle_buffer (`int`): a stream's shuffle buffer in rows (0: stream order).
            decode_threads (`int`): threads that decode a stream's images ahead of the loop (0: one per core, at most
                8).
        """
        if crop not in ("center", "random"):
            raise GenzooError(f"dataset_args.crop must be 'center' or 'random', got {crop!r}.")
        in_memory = _parse_in_memory(in_memory)
        if self.streaming:
            if in_memory is True:
                raise GenzooError(f"Dataset {self.name!r} is streamed; it cannot be held in memory (in_memory=true).")
            return StreamedImages(
                self, image_size, num_channels, random_flip=random_flip, random_crop=crop == "random", seed=seed,
                shuffle_buffer=shuffle_buffer, decode_threads=decode_threads,
            )  # fmt: skip
        return ImageRows(
            self, image_size, num_channels, random_flip=random_flip, random_crop=crop == "random",
            in_memory=in_memory, seed=seed, decode_threads=decode_threads,
        )  # fmt: skip


# Images: decoding, conversion, resize and crop -------------------------------------------------------------------


def open_image(value: Any, where: str = "") -> Image.Image:
    """A PIL image from what an image column holds: a PIL image, `{"bytes", "path"}` (an undecoded
    `datasets.Image`), a file path or an array. Refuses images above `MAX_IMAGE_PIXELS` before decoding them, except
    JPEGs, which decode at a fraction of their size and shrink to the limit."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray):
        return Image.fromarray(value)
    path = value.get("path") if isinstance(value, dict) else value if isinstance(value, str) else None
    data = value.get("bytes") if isinstance(value, dict) else None
    label = f"{where} ({path})" if path and where else (path or where or "an image")
    try:
        image = Image.open(io.BytesIO(data) if data else path)
        pixels = image.width * image.height
        if pixels > MAX_IMAGE_PIXELS and image.format != "JPEG":
            raise GenzooError(
                f"Image {label} is {image.width}x{image.height} pixels, above the {MAX_IMAGE_PIXELS:,}-pixel limit; "
                "downscale it or remove it."
            )
        if pixels > MAX_IMAGE_PIXELS:  # a JPEG decodes at 1/2, 1/4 or 1/8 of its size, then shrinks to the limit
            scale = math.sqrt(MAX_IMAGE_PIXELS / pixels)
            image.draft(image.mode, (int(image.width * scale), int(image.height * scale)))
            image.load()
            if image.width * image.height > MAX_IMAGE_PIXELS:
                scale = math.sqrt(MAX_IMAGE_PIXELS / (image.width * image.height))
                image = image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.BICUBIC)
        image.load()
    except GenzooError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise GenzooError(f"Image {label} cannot be decoded ({_one_line(exc)}); remove or replace it.") from exc
    return image


# Training rows ----------------------------------------------------------------------------------------------------


class ImageRows(torch.utils.data.Dataset):
    r"""A map-style dataset's training rows. `__getitems__` gives a whole batch, ready for the loop (pass
    `collate_fn=ImageRows.collate` to the `DataLoader`):
    `{"pixel_values": float32 (B, C, H, W) in [-1, 1], "class_labels": int64 (B,)}`.

    In memory, every image is decoded, converted and resized once, into one uint8 tensor; a batch is an index into
    it, cropped and flipped on the batch. Lazily, each batch decodes its own rows (use DataLoader workers). Both give
    the same values, with flips and crops drawn per (seed, epoch, row) (`set_epoch`).
    """

    def __init__(
        self,
        dataset: Dataset,
        image_size: int,
        num_channels: int,
        *,
        random_flip: bool = False,
        random_crop: bool = False,
        in_memory: bool | str = "auto",
        seed: int = 0,
        decode_threads: int = 0,
    ) -> None:
        self.name, self.image_size, self.num_channels = dataset.name, image_size, num_channels
        self.random_flip, self.random_crop, self.seed = random_flip, random_crop, seed
        self.rows = _undecoded(dataset.data)
        self.image_column = dataset.image_column
        self.labels = None
        if dataset.label_column is not None:
            self.labels = torch.as_tensor(_column(dataset.data, dataset.label_column), dtype=torch.int64)
        self.epoch = 0
        self._augmentation: tuple[int, torch.Tensor, torch.Tensor] | None = None
        self.pixels: torch.Tensor | None = None
        if _parse_in_memory(in_memory) is True or (in_memory == "auto" and self._fits_in_memory()):
            self.pixels = self._decode_all(decode_threads, refuse_mixed_shapes=in_memory is True)

    @property
    def in_memory(self) -> bool:
        """Whether the images are held decoded in memory."""
        return self.pixels is not None

    def _fits_in_memory(self) -> bool:
        first = open_image(self.rows[0][self.image_column], f"row 0 of {self.name!r}")
        side = max(first.size) / min(first.size) if self.random_crop else 1.0
        nbytes = len(self) * self.num_channels * self.image_size * math.ceil(self.image_size * side)
        import psutil  # lazy: a dependency of accelerate, only needed here

        return nbytes <= min(IN_MEMORY_MAX_BYTES, psutil.virtual_memory().available // 4)

    def _prepare(self, value: Any, index: int, offset: tuple[float, float] | None) -> np.ndarray:
        image = open_image(value, f"row {index} of {self.name!r}")
        try:
            if self.random_crop and offset is None:  # kept resized but uncropped; crops are drawn per batch
                return to_chw_uint8(resize_shorter_side(convert_image(image, self.num_channels), self.image_size))
            return prepare_image(image, self.image_size, self.num_channels, offset)
        except GenzooError as exc:  # an unsupported mode: say which image
            source = getattr(image, "filename", "")
            raise GenzooError(f"Image row {index} of {self.name!r}{f' ({source})' if source else ''}: {exc}") from None

    def _decode_all(self, threads: int, refuse_mixed_shapes: bool) -> torch.Tensor | None:
        """Every image through `prepare_image`, once, with a few threads (PIL releases the GIL while decoding), into
        one uint8 tensor: this also checks the whole dataset before anything is written. With random crops the
        resized images must share one shape; otherwise the rows stay lazy (or, asked for explicitly, are refused)."""

        def decode(start: int) -> list[np.ndarray]:
            values = self.rows[start : start + 256][self.image_column]
            return [self._prepare(value, start + k, None) for k, value in enumerate(values)]

        with ThreadPoolExecutor(threads or min(8, os.cpu_count() or 1)) as pool:
            arrays = [array for chunk in pool.map(decode, range(0, len(self), 256)) for array in chunk]
        if len({array.shape for array in arrays}) > 1:
            if refuse_mixed_shapes:
                raise GenzooError(
                    f"Dataset {self.name!r} has images of several aspect ratios, so random crops cannot be held in "
                    "memory; use dataset_args.in_memory=auto or crop=center."
                )
            return None
        return torch.from_numpy(np.stack(arrays))

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose flips and crops the next batches use."""
        self.epoch = epoch

    def _augment_for(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flips (bool) and crop offsets (fractions) of rows `index` in this epoch, drawn once per epoch for every
        row from a generator seeded by (seed, epoch): independent of batching, processes, workers and resumes."""
        if self._augmentation is None or self._augmentation[0] != self.epoch:
            entropy = np.random.SeedSequence([self.seed, self.epoch, 0x5EED]).generate_state(1)[0]
            generator = torch.Generator().manual_seed(int(entropy))
            flips = torch.rand(len(self), generator=generator) < 0.5
            offsets = torch.rand(len(self), 2, generator=generator, dtype=torch.float64)
            self._augmentation = (self.epoch, flips, offsets)
        return self._augmentation[1][index], self._augmentation[2][index]

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.int64)
        flips, offsets = self._augment_for(index) if (self.random_flip or self.random_crop) else (None, None)
        if self.pixels is None:
            values = self.rows[indices][self.image_column]
            crops = offsets.tolist() if self.random_crop else [None] * len(indices)
            pixels = torch.from_numpy(np.stack([
                self._prepare(value, i, None if crop is None else tuple(crop))
                for value, i, crop in zip(values, indices, crops, strict=True)
            ]))  # fmt: skip
        elif self.random_crop:
            stored = self.pixels[index]
            height, width = stored.shape[-2:]
            boxes = [crop_box(width, height, self.image_size, tuple(o)) for o in offsets.tolist()]
            pixels = torch.stack([image[:, top:bottom, left:right] for image, (left, top, right, bottom) in
                                  zip(stored, boxes, strict=True)])  # fmt: skip
        else:
            pixels = self.pixels[index]
        if self.random_flip:
            pixels = torch.where(flips[:, None, None, None], pixels.flip(-1), pixels)
        batch = {"pixel_values": uint8_to_model_range(pixels)}
        if self.labels is not None:
            batch["class_labels"] = self.labels[index]
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.__getitems__([index]).items()}

    @staticmethod
    def collate(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The `DataLoader`'s `collate_fn`: `__getitems__` already returns the batch."""
        return batch


class StreamedImages(torch.utils.data.IterableDataset):
    r"""A streamed dataset's training rows, read in order (through a seeded shuffle buffer), decoded a little ahead
    by a few threads, one `{"pixel_values", "class_labels"}` per row. `set_epoch` starts another pass (reshuffled);
    `resume_at(rows)` makes the next pass start after `rows` rows, which are read but not decoded.

    Flips and crops are drawn from a generator seeded by (seed, epoch) in stream order, so a resumed run sees the
    rows, flips and crops an uninterrupted one saw. Under several processes Accelerate's dispatcher reads the stream
    on the main process and sends each process its slice of every batch.
    """

    def __init__(
        self,
        dataset: Dataset,
        image_size: int,
        num_channels: int,
        *,
        random_flip: bool = False,
        random_crop: bool = False,
        seed: int = 0,
        shuffle_buffer: int = 1000,
        decode_threads: int = 0,
    ) -> None:
        self.name, self.image_size, self.num_channels = dataset.name, image_size, num_channels
        self.random_flip, self.random_crop, self.seed = random_flip, random_crop, seed
        self.image_column, self.label_column = dataset.image_column, dataset.label_column
        self.num_classes = dataset.num_classes
        rows = _undecoded(dataset.data)
        self.rows = rows.shuffle(seed=seed, buffer_size=shuffle_buffer) if shuffle_buffer > 0 else rows
        self.threads = decode_threads or min(8, os.cpu_count() or 1)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int) -> None:
        """Start the next pass at `epoch` (the shuffle buffer and the flips depend on it)."""
        self.epoch = epoch
        if hasattr(self.rows, "set_epoch"):
            self.rows.set_epoch(epoch)

    def resume_at(self, rows: int) -> None:
        """Skip the first `rows` rows of the next pass (those an interrupted run had already trained on)."""
        self.start = rows

    def _example(self, row: dict[str, Any], position: int, draws: np.ndarray) -> dict[str, Any]:
        offset = (float(draws[1]), float(draws[2])) if self.random_crop else None
        where = f"row {position} of {self.name!r} (epoch {self.epoch})"
        pixels = torch.from_numpy(
            prepare_image(open_image(row[self.image_column], where), self.image_size, self.num_channels, offset)
        )
        if self.random_flip and draws[0] < 0.5:
            pixels = pixels.flip(-1)
        example: dict[str, Any] = {"pixel_values": uint8_to_model_range(pixels)}
        if self.label_column is not None:
            label = row[self.label_column]
            if not isinstance(label, int | np.integer) or not 0 <= label < self.num_classes:
                raise GenzooError(
                    f"Label {label!r} in {where} is not a class index in 0..{self.num_classes - 1}; fix the data or "
                    "--dataset-arg num_classes."
                )
            example["class_labels"] = int(label)
        return example

    def __iter__(self) -> Iterator[dict[str, Any]]:
        start, self.start = self.start, 0
        rng = np.random.default_rng([self.seed, self.epoch, 0x5EED])
        rng.random((start, 3))  # the draws of the skipped rows
        rows = enumerate(islice(iter(self.rows), start, None), start=start)
        with ThreadPoolExecutor(self.threads) as pool:
            pending: list[Any] = []
            while True:  # decode the next block while the loop trains on the current one
                block = list(islice(rows, 4 * self.threads))
                draws = rng.random((len(block), 3))
                submitted = [pool.submit(self._example, row, i, d) for (i, row), d in zip(block, draws, strict=True)]
                yield from (future.result() for future in pending)
                if not block:
                    return
                pending = submitted


def _undecoded(data: Any) -> Any:
    """`data` with its image columns left encoded (`{"bytes", "path"}`), so genzoo decodes them itself: once, with
    its own size and mode checks, and only the rows it uses."""
    features = getattr(data, "features", None) or {}
    for name, feature in features.items():
        if isinstance(feature, datasets.Image) and feature.decode:
            data = data.cast_column(name, datasets.Image(decode=False))
    return data


def _column(data: datasets.Dataset, column: str) -> np.ndarray:
    return data.with_format("numpy")[column]


def _label_range_max(data: datasets.Dataset, column: str, name: str) -> int:
    """The largest label, after checking that labels are integers, none missing or negative."""
    import pyarrow as pa  # lazy: pulled in by datasets anyway
    import pyarrow.compute as pc

    array = data.data.column(column)
    if not (pa.types.is_integer(array.type) or pa.types.is_dictionary(array.type)):
        raise GenzooError(
            f"Dataset {name!r}: label column {column!r} holds {array.type}, not integer class indices; pass "
            "--label-column NAME of an integer column (or '' for none)."
        )
    if array.null_count:
        raise GenzooError(f"Dataset {name!r}: label column {column!r} has {array.null_count} missing labels.")
    bounds = pc.min_max(array)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low < 0:
        raise GenzooError(
            f"Dataset {name!r}: label column {column!r} holds {low}; labels must be class indices 0..N-1."
        )
    return int(high)


def _parse_in_memory(value: bool | str) -> bool | str:
    if isinstance(value, bool) or value == "auto":
        return value
    text = str(value).lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise GenzooError(f"dataset_args.in_memory must be true, false or auto, got {value!r}.")


def split_dataset_args(dataset_args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`dataset_args` split into `load_dataset`'s keywords and `Dataset.training_rows`'ones (`TRANSFORM_ARGS`)."""
    load = {key: value for key, value in dataset_args.items() if key not in TRANSFORM_ARGS}
    rows = {key: value for key, value in dataset_args.items() if key in TRANSFORM_ARGS}
    if "random_flip" in rows:
        rows["random_flip"] = _parse_bool(rows["random_flip"], "random_flip")
    if "shuffle_buffer" in rows and (not isinstance(rows["shuffle_buffer"], int) or rows["shuffle_buffer"] < 0):
        raise GenzooError(f"dataset_args.shuffle_buffer must be 0 or more rows, got {rows['shuffle_buffer']!r}.")
    return load, rows


def _parse_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes", "false", "0", "no"):
        return str(value).lower() in ("true", "1", "yes")
    raise GenzooError(f"dataset_args.{key} must be true or false, got {value!r}.")


# Sources ----------------------------------------------------------------------------------------------------------


def load_dataset(
    spec: str,
    split: str = "train",
    image_column: str | None = None,
    label_column: str | None = None,
    num_classes: int | None = None,
    factor_columns: Sequence[str] | str | None = None,
    **source_args: Any,
) -> Dataset:
    r"""Load a dataset from a spec such as `mnist-5k`, `imagefolder:DIR`, `parquet:FILE` or `hf:ORG/NAME`.

    Args:
        spec (`str`): registered source name, optionally followed by `:argument`; or a path to a folder or a
            parquet file.
        split (`str`): which split to load (`train` by default).
        image_column, label_column (`str`, *optional*): override column detection.
        num_classes (`int`, *optional*): the class count of a streamed dataset whose labels are not a `ClassLabel`.
        factor_columns (`list[str]` or `str`, *optional*): the columns of known generative factors (see `Dataset`);
            by default those the source names (`shapes`), else none.
        source_args: keyword arguments of the source itself, e.g. `name`, `revision` and `streaming` for `hf:`.

    Returns:
        `genzoo.Dataset`: the Hugging Face dataset with its image and label columns detected and its labels checked.

    Raises:
        `GenzooError`: a one-line reason for an unknown source or source argument, a missing path, unreadable data,
            bad labels or an unreachable Hub dataset.
    """
    source, argument = resolve_dataset_spec(spec)
    name = source.name
    loader: Callable[..., datasets.Dataset | datasets.IterableDataset | Dataset] = source.obj
    if source_args:
        parameters = inspect.signature(loader).parameters
        accepted = [key for key in parameters if key not in ("argument", "split")]
        unknown = sorted(set(source_args) - set(accepted))
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            valid = ", ".join(
                ["split", "image_column", "label_column", "num_classes", "factor_columns", *TRANSFORM_ARGS, *accepted]
            )
            raise GenzooError(
                f"Dataset source {name!r} does not take {', '.join(unknown)}; dataset args it takes: {valid}."
            )
    data = loader(argument, split=split, **source_args)
    if isinstance(data, Dataset):  # a plugin that chose its columns itself; the caller's overrides still win
        image_column = data.image_column if image_column is None else image_column
        label_column = (data.label_column or "") if label_column is None else label_column
        factor_columns = data.factor_columns if factor_columns is None else factor_columns
        data = data.data
    return Dataset(
        data,
        image_column=image_column,
        label_column=label_column,
        name=spec,
        num_classes=num_classes,
        factor_columns=factor_columns,
    )


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
        raise GenzooError(f"No such folder: {path} (imagefolder needs a folder of images; sub-folders are classes).")
    try:
        return datasets.load_dataset("imagefolder", data_dir=path, split=split)
    except (FileNotFoundError, ValueError, DatasetsError) as exc:
        raise GenzooError(f"Could not read images from {path!r}: {_one_line(exc)}") from exc


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


def load_hub_dataset(
    argument: str | None,
    split: str = "train",
    name: str | None = None,
    revision: str | None = None,
    streaming: bool = False,
    data_dir: str | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """A dataset from the Hugging Face Hub (cached datasets load offline with HF_DATASETS_OFFLINE=1).

    Args:
        argument (`str`): the repo id, e.g. `uoft-cs/cifar10`.
        split (`str`): the split.
        name (`str`, *optional*): the configuration (subset) name.
        revision (`str`, *optional*): a branch, tag or commit of the dataset repo.
        streaming (`bool`): stream the rows instead of downloading the dataset first (training runs by steps).
        data_dir (`str`, *optional*): a folder inside the repo.
    """
    repo_id = _require_argument("hf", argument, "hf:uoft-cs/cifar10")
    streaming = _parse_bool(streaming, "streaming")
    options = {"name": name, "revision": revision, "data_dir": data_dir}
    options = {key: str(value) for key, value in options.items() if value is not None}  # revision=1234 is a str
    if streaming:
        options["streaming"] = True
    try:
        return datasets.load_dataset(repo_id, split=split, **options)
    except (*network_errors(), ValueError, DatasetsError) as exc:
        raise GenzooError(
            f"Could not load Hub dataset {repo_id!r} (split {split!r}): {_one_line(exc)}. Without a network, use a "
            "cached copy (HF_DATASETS_OFFLINE=1) or a local source such as parquet:FILE or imagefolder:DIR."
        ) from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
