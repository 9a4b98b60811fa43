"""Recipes: the shipped run configs of published protocols parse, cite their source, hold the anchor's settings,
sit at the right place in the run-config precedence, are listed by `genzoo recipes`, and each trains a tiny model
on data made here (no network: the Hub dataset is replaced by a local folder)."""

import inspect
import json

import numpy as np
import PIL.Image
import pytest
import torch
import yaml

from genzoo import GenPipeline
from genzoo.cli import build_parser, main
from genzoo.cli.train import config_from_args
from genzoo.config import TrainConfig
from genzoo.errors import UnknownNameError
from genzoo.recipes import get_recipe, recipes
from genzoo.registry import get_model, get_objective

NAMES = ["cgan-pd-cifar10", "cgan-pd-imagenet64", "dcgan-cifar10", "sngan-cifar10"]


def test_the_shipped_recipes_parse_and_cite_their_source():
    assert sorted(recipes()) == NAMES
    for recipe in recipes().values():
        assert recipe.anchor["metric"] == "FID" and "https://" in recipe.anchor["source"]
        config = TrainConfig.from_dict(recipe.config)
        get_model(config.model) and get_objective(config.objective)
        assert config.dataset.startswith("hf:")  # the real Hub dataset
        assert config.eval_features == "inception" and config.eval_every == config.max_steps


@pytest.mark.parametrize(
    ("name", "fid", "objective", "objective_args", "steps", "schedule"),
    [
        ("sngan-cifar10", 23.90, "hinge", {"lr": 2e-4, "betas": [0.0, 0.9], "n_critic": 5}, 500000, "linear"),
        ("cgan-pd-cifar10", 17.84, "hinge", {"lr": 2e-4, "betas": [0.0, 0.9], "n_critic": 5}, 500000, "linear"),
        ("dcgan-cifar10", 28.95, "gan", {"lr": 2e-4, "betas": [0.0, 0.9], "n_critic": 5}, 500000, "linear"),
        ("cgan-pd-imagenet64", None, "hinge", {"lr": 1e-4, "lr_d": 4e-4, "betas": [0.0, 0.999], "n_critic": 1},
         100000, "constant"),
    ],
)  # fmt: skip
def test_recipes_hold_the_anchors_settings(name, fid, objective, objective_args, steps, schedule):
    recipe = get_recipe(name)
    config = recipe.config
    assert recipe.anchor["value"] == fid
    assert config["objective"] == objective and config["max_steps"] == steps and config["lr_scheduler"] == schedule
    assert {key: config["objective_args"][key] for key in objective_args} == objective_args
    conditional = "cgan-pd" in name  # unconditional recipes pin num_classes to 0, conditional ones take the labels
    assert ("num_classes" not in config["model_args"]) == conditional
    assert config["objective_args"]["discriminator"]["spectral_norm"] is (name != "dcgan-cifar10")
    assert config.get("dataset_args", {}).get("random_flip", False) is (name == "cgan-pd-imagenet64")  # StudioGAN's


def test_recipe_layer_sits_between_family_defaults_and_the_config_file(tmp_path):
    """family defaults < recipe < --config file < flags < --set, section keys merged one by one."""
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump({"batch_size": 32, "objective_args": {"lr": 1e-3}}))
    args = build_parser().parse_args([
        "train", "--recipe", "sngan-cifar10", "--config", str(config_file), "--output-dir", str(tmp_path / "o"),
        "--seed", "7", "--set", "objective_args.n_critic=2",
    ])  # fmt: skip
    config = config_from_args(args)
    assert config.model == "resnet" and config.dataset == "hf:uoft-cs/cifar10"  # recipe over TrainConfig defaults
    assert config.checkpoint_every == 10000  # recipe over the resnet family's 2000
    assert config.batch_size == 32 and config.objective_args["lr"] == 1e-3  # file over recipe
    assert config.objective_args["betas"] == [0.0, 0.9]  # recipe keys the file leaves alone stay
    assert config.seed == 7 and config.objective_args["n_critic"] == 2  # flags and --set on top
    plain = config_from_args(build_parser().parse_args(["train", "resnet", "--output-dir", str(tmp_path)]))
    assert plain.checkpoint_every == 2000 and plain.dataset == "mnist-5k"  # no recipe: the family's defaults


def test_unknown_recipe_names_the_shipped_ones(tmp_path, capsys):
    with pytest.raises(UnknownNameError, match=r"Unknown recipe 'sngan'\. Available recipes: cgan-pd-cifar10"):
        get_recipe("sngan")
    with pytest.raises(SystemExit):
        main(["train", "--recipe", "nope", "--output-dir", str(tmp_path)])
    assert "genzoo: error: Unknown recipe 'nope'" in capsys.readouterr().err


def test_genzoo_recipes_lists_figure_and_source(capsys):
    main(["recipes"])
    out = capsys.readouterr().out
    for name in NAMES:
        assert f"{name}: " in out
    assert "aims at: FID 23.9 (" in out and "aims at: no published figure" in out
    assert out.count("  source: ") == len(NAMES) and "kwotsin/mimicry" in out
    main(["recipes", "--json"])
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == NAMES and listed[0]["config"]["model"] == "resnet"


def _image_folder(root, size, classes):
    rng = np.random.default_rng(0)
    for label in classes:
        (root / label).mkdir(parents=True)
        for index in range(4):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            PIL.Image.fromarray(pixels).save(root / label / f"{index}.png")
    return root


def _streams() -> bool:
    """Whether `hf:` takes `streaming` (the streamed-data work of issue 11 lands separately)."""
    from genzoo.data import load_hub_dataset

    return "streaming" in inspect.signature(load_hub_dataset).parameters


@pytest.mark.parametrize("name", NAMES)
def test_every_recipe_trains_a_tiny_model(name, tmp_path):
    """The recipe as shipped, with the dataset replaced by images made here (through `hf:` and streaming for the
    ImageNet recipe, as it streams) and tiny widths and step counts."""
    recipe = get_recipe(name)
    if recipe.config.get("dataset_args", {}).get("streaming") and not _streams():
        pytest.skip("hf: datasets cannot stream yet")
    size = recipe.config["model_args"]["image_size"]
    images = _image_folder(tmp_path / "images", size, ["a", "b"])
    source = f"hf:{images}" if recipe.config.get("dataset_args", {}).get("streaming") else f"imagefolder:{images}"
    run = tmp_path / "run"
    main(["train", "--recipe", name, "--dataset", source, "--output-dir", str(run), "--max-steps", "2",
          "--batch-size", "4", "--sample-every", "0", "--checkpoint-every", "0",
          "--set", "model_args.base_channels=2", "--set", "model_args.latent_dim=8",
          "--set", "objective_args.discriminator.base_channels=2", "--set", "eval_every=0",
          "--set", "num_sample_images=4", "--set", "log_every=1"])  # fmt: skip
    saved = yaml.safe_load((run / "run_config.yaml").read_text())
    assert saved["objective_args"]["betas"] == recipe.config["objective_args"]["betas"]  # the recipe's optimiser
    assert saved["lr_scheduler"] == recipe.config["lr_scheduler"]
    logged = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged] == [1, 2] and all(np.isfinite(row["loss_d"]) for row in logged)
    pipe = GenPipeline.from_pretrained(run)
    assert pipe.model.num_classes == (2 if "cgan-pd" in name else 0)
    out = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), output_type="np").images
    assert out.shape == (2, size, size, 3)
