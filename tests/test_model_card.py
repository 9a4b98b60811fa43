"""The model card declares a license (the run config's `license`, else genzoo's default), says what the model was
trained on, at what resolution and how it fails, and gives the demo command."""

import shutil

import yaml

from genzoo.config import TrainConfig
from genzoo.hub import DEFAULT_LICENSE, build_model_card


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
