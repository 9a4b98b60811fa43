"""Shared fixtures. Every test runs offline on the CPU with tiny models and data."""

import os
import sys
import tempfile

# Before any Hugging Face library is imported: never touch the network or the user's caches.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="genzoo-tests-hf-")
os.environ["GENZOO_CACHE"] = tempfile.mkdtemp(prefix="genzoo-tests-cache-")  # reference statistics, shared by tests
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One thread, for the CLI's subprocesses too: training otherwise chooses from the machine's load, and the thread
# count changes float rounding, so runs that a test compares could differ.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import importlib
import textwrap
from pathlib import Path

import pytest
import torch

from genzoo import plugins
from genzoo.config import TrainConfig

TINY_DCGAN = {"latent_dim": 8, "base_channels": 8}

# Tiny models run fastest on one thread, and the suite shares two cores with whatever else runs.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts with freshly loaded plugins and no Accelerate process state left by another test."""
    from accelerate.state import AcceleratorState, GradientState

    plugins.reset_plugins()
    yield
    plugins.reset_plugins()
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    torch.set_grad_enabled(True)


@pytest.fixture
def register_plugin():
    """Register plugin objects by hand for one test, the way `llm`'s tests register a mock plugin."""
    registered = []

    def register(plugin: object, name: str) -> object:
        pm = plugins.load_plugins()
        pm.register(plugin, name=name)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        if plugins.pm.is_registered(plugin):
            plugins.pm.unregister(plugin)


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch):
    """Install a throwaway plugin distribution for one test: a module plus a `.dist-info` folder with a `genzoo`
    entry point, on `sys.path`. This is exactly how a pip-installed third-party plugin is discovered."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install(entry_point: str, source: str, version: str = "1.0.0", attr: str | None = None) -> str:
        module = f"fake_genzoo_{entry_point.replace('-', '_')}"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        dist_info = site / f"{module}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: {version}\n")
        target = f"{module}:{attr}" if attr else module
        (dist_info / "entry_points.txt").write_text(f"[genzoo]\n{entry_point} = {target}\n")
        importlib.invalidate_caches()
        plugins.reset_plugins()
        modules.append(module)
        return module

    yield install
    plugins.reset_plugins()
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def tiny_parquet(tmp_path: Path) -> Path:
    """The first 40 real digits of mnist-5k's held-out split, as a parquet file."""
    from genzoo import load_dataset

    path = tmp_path / "tiny.parquet"
    load_dataset("mnist-5k", split="test").data.select(range(40)).to_parquet(str(path))
    return path


def tiny_dcgan_values(output_dir: Path) -> dict:
    """Run-config values for a DCGAN small enough to train a few steps in about a second."""
    return {
        "model": "dcgan",
        "output_dir": str(output_dir),
        "model_args": dict(TINY_DCGAN),
        "objective_args": {"discriminator": {"base_channels": 8}},
        "max_steps": 3,
        "batch_size": 8,
        "sample_every": 0,
        "checkpoint_every": 0,
        "num_sample_images": 4,
        "log_every": 1,
    }


@pytest.fixture
def tiny_train_config(tmp_path: Path):
    """Build a tiny DCGAN `TrainConfig` (see `tiny_dcgan_values`) with any key overridden."""

    def make(**overrides) -> TrainConfig:
        return TrainConfig.from_dict({**tiny_dcgan_values(tmp_path / "run"), **overrides})

    return make


@pytest.fixture(scope="session")
def trained_dcgan(tmp_path_factory) -> Path:
    """A tiny DCGAN trained for 3 steps, shared by the tests that only read it."""
    from genzoo.training import train

    return train(TrainConfig.from_dict(tiny_dcgan_values(tmp_path_factory.mktemp("dcgan") / "run")))
