"""A third-party plugin, proven: `examples/genzoo-sngan` is built and installed by pip as a separate distribution,
then found through its entry point, trained with `genzoo train`, and loaded back with `GenPipeline.from_pretrained`,
with no change to genzoo.

pip installs it with `--target` into a temporary folder, never into the developer's environment; this process sees
it through `sys.path`, the plugin's own test run (a fresh interpreter) through `PYTHONPATH`. Discovery works exactly
as after a normal install: genzoo reads the entry point from the `.dist-info` folder that pip wrote.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
import yaml
from diffusers.utils import make_image_grid

from genzoo import GenPipeline, plugins
from genzoo.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "genzoo-sngan"
TINY = ["--set", "model_args.latent_dim=8", "--set", "model_args.base_channels=8"]


@pytest.fixture(scope="module")
def site_packages(tmp_path_factory) -> Path:
    """The plugin built and installed by pip into a throwaway folder (offline: no index, no build isolation)."""
    if importlib.util.find_spec("genzoo_sngan") is not None:
        pytest.skip("genzoo-sngan is installed in this environment already; the test needs it absent")
    work = tmp_path_factory.mktemp("sngan")
    source = work / "source"  # a copy, because building writes egg-info into the source tree
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    target = work / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return target


@pytest.fixture(autouse=True)
def _forget_the_plugin():
    """Later tests must not see the plugin imported here (its folder leaves sys.path with the test)."""
    yield
    for name in [name for name in sys.modules if name.split(".")[0] == "genzoo_sngan"]:
        del sys.modules[name]
    plugins.reset_plugins()


def _run(arguments: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    paths = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    result = subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(arguments)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def test_installed_plugin_is_listed_trains_and_loads(site_packages, tmp_path, monkeypatch, capsys):
    dist_info = next(site_packages.glob("genzoo_sngan-*.dist-info"))
    assert "[genzoo]\nsngan = genzoo_sngan" in (dist_info / "entry_points.txt").read_text()
    monkeypatch.syspath_prepend(str(site_packages))
    plugins.reset_plugins()

    # 1. `genzoo plugins` names the distribution that pip installed.
    main(["plugins", "--json"])
    listed = json.loads(capsys.readouterr().out)
    sngan = next(p for p in listed["plugins"] if p["name"] == "sngan")
    assert (sngan["distribution"], sngan["version"], sngan["module"]) == ("genzoo-sngan", "0.1.0", "genzoo_sngan")
    assert sngan["models"] == ["sngan-example"] and not listed["failed"]

    # 2. `genzoo train sngan-example` with the plugin's defaults (hinge objective, its Adam settings) and a tiny model.
    run = tmp_path / "run"
    main([
        "train", "sngan-example", "--output-dir", str(run), "--max-steps", "2", "--batch-size", "4",
        "--sample-every", "0", "--checkpoint-every", "0", "--set", "num_sample_images=4", "--set", "log_every=1",
        "--set", "model_args.image_size=16", *TINY, "--set", "objective_args.discriminator.base_channels=8",
    ])  # fmt: skip
    config = yaml.safe_load((run / "run_config.yaml").read_text())
    assert config["model"] == "sngan-example"
    assert config["objective"] == "hinge"  # the registration's default_objective, recorded by name
    # The plugin's training_defaults, merged key by key with the --set discriminator option.
    assert config["objective_args"] == {"lr": 2e-4, "betas": [0.0, 0.9], "discriminator": {"base_channels": 8}}
    assert config["batch_size"] == 4 and config["max_steps"] == 2  # flags over the plugin's defaults
    rows = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "loss_g" in row] == [1, 2]

    # 3. GenPipeline.from_pretrained returns the plugin's own pipeline class and reproduces the trainer's final
    #    sample grid (drawn from the run seed) pixel for pixel.
    index = json.loads((run / "model_index.json").read_text())
    assert index["_class_name"] == "SNGANPipeline"
    assert index["model"] == ["genzoo_sngan.modeling_sngan", "SNGANGenerator"]
    pipe = GenPipeline.from_pretrained(run)
    assert type(pipe).__name__ == "SNGANPipeline" and type(pipe).__module__ == "genzoo_sngan.modeling_sngan"
    images = pipe(batch_size=4, generator=torch.Generator().manual_seed(0)).images
    with PIL.Image.open(run / "samples.png") as saved:
        np.testing.assert_array_equal(np.asarray(make_image_grid(images, 2, 2)), np.asarray(saved.convert("RGB")))
    truncated = pipe(batch_size=2, generator=torch.Generator().manual_seed(3), truncation=1.0, output_type="np")
    assert truncated.images.shape == (2, 16, 16, 1)  # the plugin's own pipeline argument


def test_the_plugins_own_tests_pass_in_a_fresh_process(site_packages, tmp_path):
    """The plugin's test suite (genzoo's tester mixin with a tiny configuration) run as its author would, in a new
    interpreter that sees the plugin only through PYTHONPATH: it lists the plugin in `genzoo plugins`, trains it
    with `genzoo train`, and round-trips it through `GenPipeline.from_pretrained`."""
    tests = tmp_path / "tests"
    shutil.copytree(EXAMPLE / "tests", tests, ignore=shutil.ignore_patterns("__pycache__"))
    result = _run(["-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider"], site_packages, tmp_path)
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, result.stdout[-3000:]
