"""Training rows: decode-once in memory vs lazy (same values, same flips and crops), photo preprocessing, label and
image validation, streamed datasets that train and resume by steps, and bad data through the real CLI."""

import io
import json

import datasets
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from genzoo import GenPipeline, hookimpl, load_dataset
from genzoo import data as data_module
from genzoo.cli import main
from genzoo.data import Dataset, ImageRows, StreamedImages, convert_image, open_image, prepare_image
from genzoo.errors import GenzooError
from genzoo.testing import TINY_TRAIN_ARGS
from genzoo.training import train

TINY = [*TINY_TRAIN_ARGS, "--sample-every", "0"]


def weights(run) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "diffusion_pytorch_model.safetensors")


def assert_same_weights(a, b) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)


def image_dataset(images, labels=None) -> Dataset:
    columns = {"image": images}
    features = {"image": datasets.Image()}
    if labels is not None:
        columns["label"] = labels
        features["label"] = datasets.Value("int64")
    return Dataset(datasets.Dataset.from_dict(columns, features=datasets.Features(features)), name="made-up")


@pytest.fixture
def photos():
    """Twelve RGB images of two aspect ratios and sizes, with labels."""
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)) for _ in range(6)]
    images += [Image.fromarray(rng.integers(0, 256, (36, 24, 3), dtype=np.uint8)) for _ in range(6)]
    return image_dataset(images, labels=[0, 1] * 6)


def test_in_memory_and_lazy_rows_are_identical_with_flips_and_crops(photos):
    memory, lazy = (photos.training_rows(16, 3, random_flip=True, in_memory=m, seed=3) for m in (True, False))
    assert memory.in_memory and not lazy.in_memory
    for epoch in (0, 1):
        memory.set_epoch(epoch)
        lazy.set_epoch(epoch)
        batches = [rows.__getitems__([5, 0, 11, 7]) for rows in (memory, lazy)]
        assert torch.equal(batches[0]["pixel_values"], batches[1]["pixel_values"])
        assert batches[0]["class_labels"].tolist() == [1, 0, 1, 1]
        # NCHW as before: a channels-last batch would take other convolution kernels and change the weights' bits
        assert all(batch["pixel_values"].is_contiguous() for batch in batches)
    # Random crops of two aspect ratios cannot share one tensor: kept lazy by default, refused when forced.
    assert not photos.training_rows(16, 3, crop="random").in_memory
    with pytest.raises(GenzooError, match="several aspect ratios"):
        photos.training_rows(16, 3, crop="random", in_memory=True)
    same_shape = image_dataset([Image.fromarray(np.full((24, 32, 3), i * 20, dtype=np.uint8)) for i in range(8)])
    memory, lazy = (same_shape.training_rows(16, 3, crop="random", in_memory=m, seed=1) for m in (True, False))
    assert memory.in_memory
    first, second = (rows.__getitems__(list(range(8)))["pixel_values"] for rows in (memory, lazy))
    assert torch.equal(first, second)


def test_flips_are_drawn_per_seed_epoch_and_row_not_per_batch():
    ramp = Image.fromarray(np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1)), mode="L")
    rows = image_dataset([ramp] * 64).training_rows(8, 1, random_flip=True, seed=0)
    flipped = lambda batch: (batch["pixel_values"][:, 0, 0, 0] > 0).tolist()  # noqa: E731
    whole = flipped(rows.__getitems__(list(range(64))))
    assert 10 < sum(whole) < 54
    assert flipped(rows.__getitems__([3, 40])) == [whole[3], whole[40]]  # the same however the rows are batched
    rows.set_epoch(1)
    assert flipped(rows.__getitems__(list(range(64)))) != whole
    other_seed = image_dataset([ramp] * 64).training_rows(8, 1, random_flip=True, seed=1)
    assert flipped(other_seed.__getitems__(list(range(64)))) != whole


def test_default_mnist_rows_match_the_per_image_conversion():
    dataset = load_dataset("mnist-5k", split="test")
    rows = dataset.training_rows(28, 1)
    assert rows.in_memory and rows.pixels.dtype == torch.uint8 and rows.pixels.shape == (500, 1, 28, 28)
    batch = rows.__getitems__([0, 499, 7])
    reference = dataset.with_transform(28, 1)[[0, 499, 7]]
    assert torch.equal(batch["pixel_values"], torch.stack(reference["pixel_values"]))
    assert batch["class_labels"].tolist() == reference["class_labels"]
    assert not dataset.training_rows(28, 1, in_memory=False).in_memory


def test_in_memory_is_chosen_by_size(monkeypatch):
    dataset = load_dataset("mnist-5k", split="test")
    monkeypatch.setattr(data_module, "IN_MEMORY_MAX_BYTES", 500 * 28 * 28 - 1)
    assert not dataset.training_rows(28, 1).in_memory
    assert dataset.training_rows(28, 1, in_memory="true").in_memory
    with pytest.raises(GenzooError, match="in_memory must be true, false or auto"):
        dataset.training_rows(28, 1, in_memory="sometimes")


def test_training_in_memory_and_lazily_gives_the_same_weights(tiny_train_config, tmp_path):
    common = {"dataset_args": {"random_flip": True}, "max_steps": 4}
    lazy = train(tiny_train_config(output_dir=str(tmp_path / "lazy"), **{**common, "dataset_args": {
        "random_flip": True, "in_memory": False}}))  # fmt: skip
    memory = train(tiny_train_config(output_dir=str(tmp_path / "memory"), **common))
    assert_same_weights(lazy, memory)


def test_random_flip_run_resumes_bit_identically(tiny_train_config, tiny_parquet, tmp_path):
    # 40 images in batches of 8: 5 steps an epoch, so the resume at step 6 lands inside the second epoch.
    common = {"dataset": f"parquet:{tiny_parquet}", "checkpoint_every": 6, "dataset_args": {"random_flip": True}}
    straight = train(tiny_train_config(output_dir=str(tmp_path / "straight"), max_steps=9, **common))
    train(tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=6, **common))
    resumed = train(tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=9, resume="latest", **common))
    assert_same_weights(straight, resumed)


# Photos: conversion, resize, crop ---------------------------------------------------------------------------------


def test_sixteen_bit_images_are_scaled_not_clipped():
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    image = open_image({"bytes": buffer.getvalue(), "path": None})
    assert image.mode.startswith("I")
    assert np.asarray(convert_image(image, 1)).tolist() == [[0, 1, 128, 255]]
    assert prepare_image(image, 1, 3).shape == (3, 1, 1)


def test_transparent_and_palette_images_become_rgb_on_white():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red; the rest fully transparent black
    converted = np.asarray(convert_image(Image.fromarray(rgba, mode="RGBA"), 3))
    assert converted[0, 0].tolist() == [255, 0, 0] and converted[1, 1].tolist() == [255, 255, 255]
    palette = Image.fromarray(np.full((4, 4, 3), (0, 0, 255), dtype=np.uint8)).convert("P")
    assert np.asarray(convert_image(palette, 3))[0, 0].tolist() == [0, 0, 255]
    grey = Image.fromarray(np.full((4, 4), 200, dtype=np.uint8), mode="L")
    assert prepare_image(grey, 4, 3)[:, 0, 0].tolist() == [200, 200, 200]


def test_random_crop_moves_along_the_longer_side():
    wide = Image.fromarray(np.tile(np.arange(32, dtype=np.uint8) * 8, (16, 1)), mode="L")
    left = prepare_image(wide, 16, 1, crop_offset=(0.0, 0.0))
    right = prepare_image(wide, 16, 1, crop_offset=(0.999, 0.0))
    centre = prepare_image(wide, 16, 1)
    assert left[0, 0, 0] == 0 and right[0, 0, -1] == 248 and left[0, 0, 0] < centre[0, 0, 0] < right[0, 0, 0]


def test_huge_images_are_refused_in_one_line_and_jpegs_downscaled(monkeypatch):
    monkeypatch.setattr(data_module, "MAX_IMAGE_PIXELS", 40 * 40)
    png, jpeg = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (64, 64)).save(png, format="PNG")
    Image.new("RGB", (256, 256)).save(jpeg, format="JPEG")
    with pytest.raises(GenzooError, match=r"Image x\.png is 64x64 pixels, above the 1,600-pixel limit"):
        open_image({"bytes": png.getvalue(), "path": "x.png"})
    image = open_image({"bytes": jpeg.getvalue(), "path": "y.jpg"})
    assert image.width * image.height <= 40 * 40


# Labels -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "dtype", "message"),
    [
        ([0, 1_000_000], "int64", r"implies 1,000,001 classes; labels must be class indices 0..N-1"),
        ([0, -1], "int64", r"holds -1; labels must be class indices"),
        ([0.0, 1.5], "float32", r"holds float, not integer class indices"),
        ([0, None], "int64", r"has 1 missing labels"),
    ],
)
def test_bad_label_columns_are_refused_when_loading(labels, dtype, message):
    images = [Image.new("L", (4, 4))] * 2
    data = datasets.Dataset.from_dict(
        {"image": images, "label": labels},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.Value(dtype)}),
    )
    with pytest.raises(GenzooError, match=message):
        Dataset(data, label_column="label", name="bad")


# Streams ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def stream_source(register_plugin):
    """A plugin source `stream:N` of N made-up labelled digits as a `datasets.IterableDataset` in 2 shards."""

    class StreamPlugin:
        @staticmethod
        @hookimpl
        def register_datasets(register):
            def load_stream(argument, split):
                rows = load_dataset("mnist-5k", split="test").data.select(range(int(argument or 20)))
                return rows.to_iterable_dataset(num_shards=2)

            register("stream", load_stream)

    register_plugin(StreamPlugin(), "stream-plugin")


def test_streamed_dataset_trains_by_steps_and_resumes_bit_identically(stream_source, tiny_train_config, tmp_path):
    # 20 rows in batches of 8: 2 batches a pass, so 7 steps cross three passes and the resume lands inside one.
    common = {"dataset": "stream:20", "checkpoint_every": 3, "dataset_args": {"random_flip": True, "crop": "random"}}
    straight = train(tiny_train_config(output_dir=str(tmp_path / "straight"), max_steps=7, **common))
    train(tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=3, **common))
    resumed = train(tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=7, resume="latest", **common))
    assert_same_weights(straight, resumed)
    other = train(tiny_train_config(output_dir=str(tmp_path / "other"), max_steps=7, seed=1, **common))
    assert not torch.equal(weights(straight)["net.0.weight"], weights(other)["net.0.weight"])
    with pytest.raises(GenzooError, match="is streamed and has no length; set --max-steps"):
        train(tiny_train_config(output_dir=str(tmp_path / "epochs"), max_steps=None, epochs=1, **common))


def test_stream_rows_skip_to_a_position_with_the_same_values(stream_source):
    dataset = load_dataset("stream:20")
    assert dataset.streaming and dataset.num_classes == 10 and dataset.image_shape() == (1, 28, 28)
    rows = dataset.training_rows(28, 1, random_flip=True, seed=0, shuffle_buffer=8)
    assert isinstance(rows, StreamedImages)
    rows.set_epoch(1)
    whole = [row["pixel_values"] for row in rows]
    rows.set_epoch(1)
    rows.resume_at(13)
    tail = [row["pixel_values"] for row in rows]
    assert len(whole) == 20 and len(tail) == 7
    assert all(torch.equal(a, b) for a, b in zip(whole[13:], tail, strict=True))
    rows.set_epoch(2)
    assert not all(torch.equal(a, row["pixel_values"]) for a, row in zip(whole, rows, strict=True))  # reshuffled


def test_hub_source_takes_name_revision_and_streaming(monkeypatch):
    seen = {}

    def fake_load(repo_id, split, **kwargs):
        seen.update(repo_id=repo_id, split=split, **kwargs)
        rows = datasets.Dataset.from_dict(
            {"img": [Image.new("RGB", (4, 4))] * 3, "label": [0, 1, 2]},
            features=datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(num_classes=3)}),
        )
        return rows.to_iterable_dataset() if kwargs.get("streaming") else rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    dataset = load_dataset("hf:org/set", split="validation", name="plain", revision=1234, streaming=True)
    assert seen == {
        "repo_id": "org/set",
        "split": "validation",
        "name": "plain",
        "revision": "1234",
        "streaming": True,
    }
    assert dataset.streaming and dataset.num_classes == 3
    with pytest.raises(GenzooError, match=r"does not take colour; dataset args it takes: .*revision, streaming"):
        load_dataset("hf:org/set", colour=True)


# Through the real CLI (its refusals are rows of the bad-input sweep, tests/test_bad_input.py) ----------------------


def _save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def test_mixed_sizes_and_modes_train_in_rgb_at_the_resolution_flag(tmp_path):
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    _save(root / "cats" / "rgba.png", rng.integers(0, 256, (30, 20, 4), dtype=np.uint8), "RGBA")
    _save(root / "cats" / "grey.png", rng.integers(0, 256, (12, 40), dtype=np.uint8), "L")
    _save(root / "dogs" / "deep.png", rng.integers(0, 65536, (20, 20), dtype=np.uint16))
    palette = Image.fromarray(rng.integers(0, 256, (25, 25, 3), dtype=np.uint8)).convert("P")
    palette.save(root / "dogs" / "palette.png")
    run = tmp_path / "run"
    main(["train", "cgan", "--dataset", f"imagefolder:{root}", "--resolution", "16", "--output-dir", str(run),
          "--max-steps", "2", "--batch-size", "2", *TINY, "--dataset-arg", "crop=random",
          "--dataset-arg", "random_flip=true"])  # fmt: skip
    config = json.loads((run / "model" / "config.json").read_text())
    assert (config["image_size"], config["num_channels"], config["num_classes"]) == (16, 3, 2)
    images = GenPipeline.from_pretrained(run)(batch_size=2, class_labels=[0, 1], output_type="np").images
    assert images.shape == (2, 16, 16, 3)


def test_dataset_args_reach_the_run_config(tmp_path):
    run = tmp_path / "run"
    main(["train", "dcgan", "--output-dir", str(run), "--max-steps", "1", "--batch-size", "2", *TINY,
          "--dataset-arg", "in_memory=false", "--dataset-arg", "random_flip=true", "--resolution", "16"])  # fmt: skip
    text = (run / "run_config.yaml").read_text()
    assert "in_memory: false" in text and "random_flip: true" in text and "image_size: 16" in text


def test_streamed_rows_check_labels_as_they_are_read(register_plugin):
    class BadStream:
        @staticmethod
        @hookimpl
        def register_datasets(register):
            def load(argument, split):
                rows = [{"image": Image.new("L", (4, 4)), "label": label} for label in (0, 1, 7)]
                return datasets.IterableDataset.from_generator(lambda: iter(rows))

            register("badstream", load)

    register_plugin(BadStream(), "bad-stream")
    with pytest.raises(GenzooError, match="pass --dataset-arg num_classes=N"):
        load_dataset("badstream")
    rows = load_dataset("badstream", num_classes=3).training_rows(4, 1, shuffle_buffer=0)
    with pytest.raises(GenzooError, match=r"Label 7 in row 2 .* is not a class index in 0..2"):
        list(rows)
    assert isinstance(ImageRows.collate({"a": 1}), dict)
