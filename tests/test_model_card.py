"""The model card declares a license (the run config's `license`, else genzoo's default), says what the model was
trained on, at what resolution and how it fails, and gives the demo command. It shows names, never local paths, and
repeats only numbers and short names from the files it is built from."""

import json
import shutil

import pytest
import yaml

from genzoo import GenzooError
from genzoo.config import TrainConfig
from genzoo.hub import DEFAULT_LICENSE, build_model_card, public_dataset_name


def test_the_card_has_a_license_limitations_and_the_demo_command(trained_dcgan):
    card = build_model_card(trained_dcgan, "my-org/dcgan-mnist")
    text = str(card)
    assert card.data.license == DEFAULT_LICENSE == "apache-2.0"
    limitations = text.split("## Limitations", 1)[1].split("##", 1)[0]
    assert "trained on `mnist-5k` only" in limitations and "28 × 28 grayscale" in limitations
    assert "mode collapse" in limitations  # a GAN's failure mode
    assert "genzoo demo my-org/dcgan-mnist" in text
    assert f"released under `{DEFAULT_LICENSE}`" in text


def test_the_license_comes_from_the_run_config(trained_dcgan, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(trained_dcgan, folder)
    run_config = yaml.safe_load((folder / "run_config.yaml").read_text())
    (folder / "run_config.yaml").write_text(yaml.safe_dump({**run_config, "license": "cc-by-4.0"}))
    card = build_model_card(folder)
    assert card.data.license == "cc-by-4.0" and "released under `cc-by-4.0`" in str(card)
    assert TrainConfig.from_dict({"license": "mit"}).license == "mit"


def _copy_with(trained_dcgan, tmp_path, run_config: dict | None = None, eval_results: str | None = None):
    folder = tmp_path / "run"
    shutil.copytree(trained_dcgan, folder)
    if run_config is not None:
        original = yaml.safe_load((folder / "run_config.yaml").read_text())
        (folder / "run_config.yaml").write_text(yaml.safe_dump({**original, **run_config}))
    if eval_results is not None:
        (folder / "eval_results.json").write_text(eval_results)
    return folder


@pytest.mark.parametrize(
    ("dataset", "shown"),
    [
        ("imagefolder:./faces", "imagefolder:faces"),
        ("imagefolder:/home/someone/private/faces/", "imagefolder:faces"),
        ("/srv/machine-7/data/train.parquet", "train.parquet"),
        ("parquet:~/data/train.parquet", "parquet:train.parquet"),
        ("hf:org/faces", "hf:org/faces"),
    ],
)
def test_the_card_names_the_dataset_never_a_local_path(trained_dcgan, tmp_path, dataset, shown):
    results = json.dumps({"fid": 12.5, "dataset": dataset, "reference_stats": "/home/someone/stats.npz"})
    folder = _copy_with(trained_dcgan, tmp_path, {"dataset": dataset}, results)
    text = str(build_model_card(folder))
    assert f"`{shown}`" in text
    for private in ("/home", "someone", "machine-7", "/srv", "./faces", "~"):
        assert private not in text or private in shown, private
    assert "reference_stats stats.npz" in text
    assert public_dataset_name(dataset) == shown


def test_card_strings_from_files_are_bounded(trained_dcgan, tmp_path):
    """A huge string in the eval results or the run config is not copied into the card, and a file too large to
    be genzoo's eval results is refused in one line."""
    huge = "x" * 200_000
    results = json.dumps({"fid": 12.5, "features": huge, "note": huge, "split": "test"})
    folder = _copy_with(trained_dcgan, tmp_path, {"dataset": huge, "seed": huge, "license": huge}, results)
    text = str(build_model_card(folder))
    assert len(text) < 20_000 and "xxxxxxxxxx" not in text
    assert "| FID | 12.5 |" in text and "split test" in text and "| dataset | `unknown` |" in text
    (folder / "eval_results.json").write_text(json.dumps({f"metric_{i}": i for i in range(10_000)}))
    text = str(build_model_card(folder))
    assert "| metric_99 | 99 |" in text and "metric_100" not in text
    (folder / "eval_results.json").write_text(json.dumps({"fid": 1.0, "note": "y" * 3_000_000}))
    with pytest.raises(GenzooError, match=r"eval_results.json takes 3,000,\d+ bytes, more than the 1,048,576"):
        build_model_card(folder)


@pytest.mark.parametrize("bad", [{"dataset": ["a", "b"]}, {"max_steps": [1, 2]}, {"objective": {"x": 1}}])
def test_a_run_config_with_odd_types_still_gives_a_card(trained_dcgan, tmp_path, bad):
    folder = _copy_with(trained_dcgan, tmp_path, bad)
    text = str(build_model_card(folder))
    assert "## Training" in text and "['a', 'b']" not in text and "[1, 2]" not in text


def test_the_card_says_how_to_get_genzoo(trained_dcgan):
    text = str(build_model_card(trained_dcgan, "org/x"))
    assert "pip install genzoo" not in text and "genzoo is not on a package index" in text
    assert "`pip install .`" in text and "python -m build" in text and "`gan` plugin" in text
