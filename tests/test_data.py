"""Datasets: built-in sources, column detection and overrides, and the transform to tensors in [-1, 1]."""

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from genzoo import Dataset, hookimpl, load_dataset
from genzoo.data import image_to_tensor
from genzoo.errors import GenzooError, UnknownNameError


def test_mnist_5k_splits_are_disjoint_balanced_and_labelled():
    train, test = load_dataset("mnist-5k"), load_dataset("mnist-5k", split="test")
    assert (len(train), len(test)) == (4500, 500)
    assert train.image_column == "image" and train.label_column == "label"
    assert train.num_classes == 10 and train.class_names == [str(d) for d in range(10)]
    assert np.bincount(test.data["label"]).tolist() == [50] * 10
    assert train.data["label"][:10] != sorted(train.data["label"][:10])  # shuffled, not sorted by label
    train_pixels = {np.asarray(image).tobytes() for image in train.data["image"]}
    assert not any(np.asarray(image).tobytes() in train_pixels for image in test.data["image"])
    assert train.image_shape() == (1, 28, 28)


def test_transform_gives_tensors_in_range_with_labels():
    rows = load_dataset("mnist-5k", split="test").with_transform(28, 1)[:4]
    pixels = torch.stack(rows["pixel_values"])
    assert pixels.shape == (4, 1, 28, 28) and pixels.dtype == torch.float32
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0
    assert pixels.min() == -1.0  # black MNIST background maps to -1
    assert all(isinstance(label, int) for label in rows["class_labels"])


def test_image_to_tensor_scales_resizes_crops_and_converts_channels():
    gradient = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (32, 1))  # 32 x 64, wide image
    image = Image.fromarray(gradient, mode="L")
    tensor = image_to_tensor(image, 16, 3)
    assert tensor.shape == (3, 16, 16)
    assert torch.equal(tensor[0], tensor[1])  # grey to RGB repeats the channel
    # the shorter side is resized to 16 and the centre kept: the middle of the gradient survives, not its ends
    assert -0.6 < tensor.min() < 0.0 < tensor.max() < 0.6
    exact = image_to_tensor(Image.fromarray(np.array([[0, 255]], dtype=np.uint8).repeat(2, 0)), 2, 1)
    assert exact.tolist() == [[[-1.0, 1.0], [-1.0, 1.0]]]
    rgb = Image.fromarray(np.full((8, 8, 3), (255, 0, 0), dtype=np.uint8))
    assert torch.allclose(image_to_tensor(rgb, 8, 1), torch.full((1, 8, 8), 76 / 127.5 - 1))


def test_random_flip_mirrors_some_images():
    torch.manual_seed(0)
    image = Image.fromarray(np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1)), mode="L")
    data = datasets.Dataset.from_dict({"image": [image] * 32}, features=datasets.Features({"image": datasets.Image()}))
    pixels = torch.stack(Dataset(data).with_transform(8, 1, random_flip=True)[:32]["pixel_values"])
    flipped = (pixels[:, 0, 0, 0] > 0).sum().item()
    assert 0 < flipped < 32


@pytest.fixture
def image_folder(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.random.randint(0, 255, (12, 10, 3), dtype=np.uint8)).save(
                tmp_path / "imgs" / label / f"{i}.png"
            )
    return tmp_path / "imgs"


def test_imagefolder_source_detects_labels_from_folders(image_folder):
    for spec in (f"imagefolder:{image_folder}", str(image_folder)):
        dataset = load_dataset(spec)
        assert len(dataset) == 6 and dataset.num_classes == 2 and dataset.class_names == ["cat", "dog"]
        assert dataset.image_shape() == (3, 12, 10)


def test_parquet_source_with_custom_columns(tmp_path):
    images = [Image.fromarray(np.full((6, 6), i * 40, dtype=np.uint8)) for i in range(4)]
    data = datasets.Dataset.from_dict(
        {"picture": images, "digit": [3, 1, 2, 0], "caption": ["a", "b", "c", "d"]},
        features=datasets.Features(
            {"picture": datasets.Image(), "digit": datasets.Value("int64"), "caption": datasets.Value("string")}
        ),
    )
    path = tmp_path / "data.parquet"
    data.to_parquet(str(path))
    detected = load_dataset(f"parquet:{path}")
    assert detected.image_column == "picture" and detected.label_column is None  # "digit" is not a label name
    chosen = load_dataset(str(path), label_column="digit")
    assert chosen.label_column == "digit" and chosen.num_classes == 4
    assert load_dataset(str(path), label_column="").label_column is None
    with pytest.raises(GenzooError, match=r"no column 'nope'.*--label-column"):
        load_dataset(str(path), label_column="nope")
    with pytest.raises(GenzooError, match=r"no column 'caption2'.*--image-column"):
        load_dataset(str(path), image_column="caption2")


def test_hub_column_detection_on_local_data_shaped_like_cifar10():
    # uoft-cs/cifar10 names its columns "img" and "label" (a ClassLabel); ylecun/mnist uses "image" and "label".
    images = [Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8))] * 2
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["plane", "car"])})
    dataset = Dataset(datasets.Dataset.from_dict({"img": images, "label": [0, 1]}, features=features), name="cifar")
    assert (dataset.image_column, dataset.label_column, dataset.num_classes) == ("img", "label", 2)
    assert dataset.class_names == ["plane", "car"]


def test_hub_source_reports_offline_failure_in_one_line(monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'uoft-cs/cifar10' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(GenzooError, match=r"Could not load Hub dataset 'uoft-cs/cifar10'.*parquet:FILE"):
        load_dataset("hf:uoft-cs/cifar10")


def test_hub_source_passes_repo_and_split(monkeypatch):
    seen = {}

    def fake_load(repo_id, split):
        seen.update(repo_id=repo_id, split=split)
        image = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))
        return datasets.Dataset.from_dict({"image": [image]}, features=datasets.Features({"image": datasets.Image()}))

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    dataset = load_dataset("hf:ylecun/mnist", split="test")
    assert seen == {"repo_id": "ylecun/mnist", "split": "test"} and len(dataset) == 1


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("nosuch", UnknownNameError, "Available datasets: hf, imagefolder, mnist-5k, parquet"),
        ("imagefolder", GenzooError, "needs an argument"),
        ("imagefolder:/no/such/dir", GenzooError, "No such folder: /no/such/dir"),
        ("parquet:/no/such/file.parquet", GenzooError, "No parquet file matches"),
    ],
)
def test_bad_specs(spec, error, message):
    with pytest.raises(error, match=message):
        load_dataset(spec)


def test_mnist_5k_rejects_unknown_split():
    with pytest.raises(GenzooError, match="splits 'train' and 'test'"):
        load_dataset("mnist-5k", split="validation")


def test_corrupt_parquet_is_one_clear_error(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file")
    with pytest.raises(GenzooError, match=r"Could not read parquet data from .*broken\.parquet.*is it a parquet file"):
        load_dataset(f"parquet:{path}")


def test_hub_http_error_is_one_clear_error(monkeypatch):
    from huggingface_hub.errors import HfHubHTTPError

    error = HfHubHTTPError.__new__(HfHubHTTPError)  # without the HTTP response its __init__ wants
    Exception.__init__(error, "401 Client Error: Unauthorized for url")

    def forbidden(*args, **kwargs):
        raise error

    monkeypatch.setattr(datasets, "load_dataset", forbidden)
    with pytest.raises(GenzooError, match=r"Could not load Hub dataset 'org/private'.*401 Client Error"):
        load_dataset("hf:org/private")


def test_dataset_source_from_a_plugin(register_plugin):
    calls = []

    class NoisePlugin:
        @staticmethod
        @hookimpl
        def register_datasets(register):
            def load_noise(argument, split):
                calls.append((argument, split))
                rng = np.random.default_rng(int(argument or 0))
                images = [Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(3)]
                return datasets.Dataset.from_dict({"picture": images, "label": [0, 1, 1]})

            register("noise", load_noise, description="random grey images")

    register_plugin(NoisePlugin(), "noise-plugin")
    dataset = load_dataset("noise:7", split="test")
    assert calls == [("7", "test")]
    assert (dataset.image_column, dataset.label_column, len(dataset)) == ("picture", "label", 3)
    assert dataset.image_shape() == (1, 8, 8)


def test_plugin_may_return_a_ready_dataset_and_overrides_still_apply(register_plugin):
    class ChosenColumnsPlugin:
        @staticmethod
        @hookimpl
        def register_datasets(register):
            def load(argument, split):
                images = [Image.fromarray(np.zeros((4, 4), dtype=np.uint8))] * 2
                data = datasets.Dataset.from_dict({"pic": images, "kind": [0, 1], "other": [1, 0]})
                return Dataset(data, image_column="pic", label_column="kind", name="chosen")

            register("chosen", load)

    register_plugin(ChosenColumnsPlugin(), "chosen-plugin")
    assert load_dataset("chosen").label_column == "kind"  # the plugin's choice, which detection would not find
    assert load_dataset("chosen", label_column="other").label_column == "other"
    assert not load_dataset("chosen", label_column="").has_labels


def test_labels_hint_says_how_the_source_gets_labels(tmp_path, tiny_parquet):
    """What the message that refuses a class-conditional model on unlabelled data tells the user to do."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for index in range(2):
        Image.new("L", (8, 8), color=index * 100).save(flat / f"{index}.png")
    unlabelled = load_dataset(str(flat))
    assert not unlabelled.has_labels
    assert unlabelled.labels_hint.startswith("an image folder needs one sub-folder per class (DIR/CLASS_NAME/*.png)")
    assert load_dataset(f"parquet:{tiny_parquet}", label_column="").labels_hint.startswith("pass --label-column NAME")
