"""Run configuration: YAML files, --set overrides, type checks and precedence, the same for `train()` and the
command line."""

import argparse
import subprocess
import sys

import pytest
import torch

from genzoo.cli import build_parser
from genzoo.cli.train import config_from_args
from genzoo.config import TrainConfig, apply_overrides, merge_layers, parse_override, read_yaml_config
from genzoo.config import resolve_train_config as resolve
from genzoo.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("batch_size=32", ("batch_size", 32)),
        ("objective_args.lr=1e-4", ("objective_args.lr", 1e-4)),
        ("ema_decay=0.999", ("ema_decay", 0.999)),
        ("overwrite_output_dir=true", ("overwrite_output_dir", True)),
        ("objective_args.betas=[0.0, 0.9]", ("objective_args.betas", [0.0, 0.9])),
        ("dataset=imagefolder:./x", ("dataset", "imagefolder:./x")),
        ("max_steps=null", ("max_steps", None)),
        ("dataset_args.label_column=", ("dataset_args.label_column", "")),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["batch_size", "=3", "x=[1,"])
def test_parse_override_rejects_malformed(text):
    with pytest.raises(ConfigError):
        parse_override(text)


def test_apply_overrides_sets_nested_sections_without_mutating_input():
    values = {"model_args": {"latent_dim": 100}}
    out = apply_overrides(
        values,
        ["model_args.base_channels=8", "objective_args.discriminator.norm=layer", "max_steps=5"],
    )
    assert out == {
        "model_args": {"latent_dim": 100, "base_channels": 8},
        "objective_args": {"discriminator": {"norm": "layer"}},
        "max_steps": 5,
    }
    assert values == {"model_args": {"latent_dim": 100}}


def test_apply_overrides_leaves_nested_defaults_untouched():
    defaults = {"objective_args": {"discriminator": {"base_channels": 32}}}
    out = apply_overrides(defaults, ["objective_args.discriminator.norm=layer"])
    assert out["objective_args"]["discriminator"] == {"base_channels": 32, "norm": "layer"}
    assert defaults == {"objective_args": {"discriminator": {"base_channels": 32}}}


def test_dotted_key_into_a_value_that_is_not_a_section():
    with pytest.raises(ConfigError, match=r"Cannot set model_args\.x: model_args is 5, not a section"):
        apply_overrides({}, ["model_args=5", "model_args.x=1"])


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"Unknown config key 'batchsize'\. Did you mean 'batch_size'"):
        apply_overrides({}, ["batchsize=3"])
    with pytest.raises(ConfigError, match="only model_args, objective_args, dataset_args, task_args take dotted keys"):
        apply_overrides({}, ["seed.x=1"])
    with pytest.raises(ConfigError, match="Unknown config key 'epoch'"):
        TrainConfig.from_dict({"epoch": 3})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": "abc"}, "batch_size expects an integer, got 'abc'"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"mixed_precision": "fp8"}, "mixed_precision must be 'no', 'bf16', 'fp16', 'auto' or null"),
        ({"ema_decay": 1.5}, "ema_decay must lie in"),
        ({"ema_power": 0}, "ema_power must be > 0"),
        ({"ema_power": 1, "ema_inv_gamma": -2}, "ema_inv_gamma must be > 0"),
        ({"ema_inv_gamma": 3}, "ema_inv_gamma only shapes the warm-up that ema_power turns on"),
        ({"overwrite_output_dir": "maybe"}, "overwrite_output_dir expects true or false"),
        ({"model_args": [1]}, "model_args expects a mapping"),
        ({"seed": None}, "seed cannot be null"),
        ({"checkpoints_total_limit": 0}, "checkpoints_total_limit must be at least 1 .or null to keep all"),
        ({"dataloader_num_workers": -1}, "dataloader_num_workers must be 0 or more"),
        ({"lr_scheduler": "step"}, "lr_scheduler must be one of constant, constant_with_warmup, linear, cosine"),
        ({"lr_warmup_steps": -1}, "lr_warmup_steps must be 0 or more"),
        ({"lr_scheduler": "cosine", "lr_warmup_steps": 3, "max_steps": 3}, "must be fewer than the run's 3 steps"),
    ],
)
def test_invalid_values_are_rejected_with_the_reason(values, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(values)


def test_safe_conversions():
    config = TrainConfig.from_dict({"batch_size": "32", "ema_decay": "0.99", "max_steps": 10.0, "log_with": "a, b"})
    assert config.batch_size == 32 and config.ema_decay == 0.99 and config.max_steps == 10
    assert config.log_with == ["a", "b"]


def test_an_unquoted_yaml_no_is_float32_precision(tmp_path):
    """YAML 1.1 reads `mixed_precision: no` (and `--set mixed_precision=no`) as false; it means float32."""
    assert TrainConfig.from_dict({"mixed_precision": False}).mixed_precision == "no"
    (tmp_path / "run.yaml").write_text("mixed_precision: no\n")
    assert resolve(config_file=tmp_path / "run.yaml").mixed_precision == "no"
    assert resolve({"model": "dcgan"}, overrides=["mixed_precision=no"]).mixed_precision == "no"


def test_yaml_round_trip(tmp_path):
    config = TrainConfig.from_dict({"model": "dcgan", "model_args": {"latent_dim": 8}, "max_steps": 4})
    path = tmp_path / "run.yaml"
    path.write_text(config.to_yaml())
    assert TrainConfig.from_dict(read_yaml_config(path)) == config


@pytest.mark.parametrize(
    ("content", "message"),
    [("batch_size: [", "is not valid YAML"), ("- 1\n- 2\n", "must hold a mapping"), ("lr: 1\n", "'lr'")],
)
def test_bad_yaml_files(tmp_path, content, message):
    path = tmp_path / "run.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_yaml_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        read_yaml_config(tmp_path)


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", *argv])


def test_precedence_defaults_model_defaults_file_flags_set(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: dcgan\nbatch_size: 16\nseed: 3\nmodel_args: {latent_dim: 32}\n")
    config = config_from_args(
        _args("--config", str(path), "--seed", "4", "--set", "seed=5", "--set", "model_args.base_channels=8")
    )
    assert config.batch_size == 16  # file over the model's defaults
    assert config.seed == 5  # --set over flags over the file
    assert config.model_args == {"latent_dim": 32, "base_channels": 8}
    assert config.log_every == TrainConfig().log_every  # untouched default


def test_epochs_flag_replaces_the_model_default_max_steps():
    config = config_from_args(_args("dcgan", "--epochs", "2"))
    assert config.epochs == 2 and config.max_steps is None
    config = config_from_args(_args("dcgan", "--max-steps", "7"))
    assert config.max_steps == 7 and config.epochs is None


def test_column_flags_feed_dataset_args():
    config = config_from_args(_args("dcgan", "--image-column", "img", "--label-column", ""))
    assert config.dataset_args == {"image_column": "img", "label_column": ""}


def test_the_command_line_parser_does_not_import_torch():
    # `genzoo --help` and argument errors should be instant: torch, diffusers and datasets load on first use.
    code = (
        "import sys, genzoo.cli; genzoo.cli.build_parser(); print(sorted({'torch', 'diffusers'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- one precedence for the Python API and the command line (genzoo.config.resolve_train_config) -----------------
def test_a_python_config_gets_the_family_defaults_it_leaves_unset():
    """`TrainConfig(model="cgan")` sets only the model; resolving fills in the CGAN's tuned schedule, EMA and the
    learning rate tuned for its default objective, which the dataclass defaults alone would miss."""
    config = TrainConfig(model="cgan", output_dir="runs/x")
    assert config.explicit_keys == {"model", "output_dir"}
    assert config.max_steps is None and config.ema_decay is None  # not resolved yet: the dataclass defaults
    resolved = resolve(config)
    assert resolved.objective == "hinge"  # recorded by name, never null
    assert (resolved.max_steps, resolved.ema_decay, resolved.num_sample_images) == (2000, 0.999, 100)
    assert resolved.mixed_precision == "auto"  # bf16 where the CPU computes it natively
    assert resolved.objective_args == {"discriminator": {"base_channels": 32}, "lr": 2e-3, "betas": [0.0, 0.9]}
    assert resolved.model_args == {"latent_dim": 64, "base_channels": 64}
    assert resolve(resolved) == resolved  # a resolved config has every key explicit: resolving is idempotent


def test_an_explicit_value_equal_to_the_dataclass_default_still_wins():
    """Setting a key, even to the dataclass default (or to null), is not the same as leaving it unset."""
    resolved = resolve(TrainConfig(model="cgan", ema_decay=None, batch_size=64, checkpoints_total_limit=None))
    assert resolved.ema_decay is None  # EMA off, although the CGAN turns it on by default
    assert resolved.checkpoints_total_limit is None
    assert resolve({"model": "cgan", "num_sample_images": 64}).num_sample_images == 64  # not the CGAN's 100


def test_layers_merge_sections_key_by_key_and_the_run_length_is_one_choice(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: cgan\nepochs: 2\nobjective_args: {lr: 1.0e-3, n_critic: 2}\n")
    config = resolve({"seed": 4}, config_file=path, overrides=["objective_args.betas=[0.5, 0.9]"])
    assert config.epochs == 2 and config.max_steps is None  # the file's epochs replace the family's max_steps
    assert config.objective_args == {
        "discriminator": {"base_channels": 32},
        "lr": 1e-3,
        "betas": [0.5, 0.9],
        "n_critic": 2,
    }
    assert resolve({"model": "cgan", "epochs": 1}, config_file=path, overrides=["max_steps=5"]).max_steps == 5
    assert merge_layers({"a": {"b": 1}}, {"a": {"c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}


def test_unknown_objective_or_a_model_without_one_is_refused(register_plugin):
    from genzoo import Generator, hookimpl
    from genzoo.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"Unknown objective 'hinj'\. Did you mean 'hinge'"):
        resolve({"model": "cgan", "objective": "hinj"})

    class NoObjective:
        @hookimpl
        def register_models(self, register):
            register("no-objective", Generator)

    register_plugin(NoObjective(), name="no-objective")
    with pytest.raises(ConfigError, match="no default objective; pass --objective NAME"):
        resolve({"model": "no-objective"})


@pytest.fixture
def tiny_cgan_defaults(monkeypatch):
    """The CGAN's registered training defaults, shrunk to a two-step run; its tuned EMA and learning rate stay."""
    import genzoo_cgan
    from genzoo import registry

    tiny = {"max_steps": 2, "batch_size": 8, "sample_every": 0, "checkpoint_every": 0, "num_sample_images": 10,
            "log_every": 1, "model_args": {"latent_dim": 8, "base_channels": 8},
            "objective_args": {"discriminator": {"base_channels": 8}}}  # fmt: skip
    for key, value in tiny.items():
        monkeypatch.setitem(genzoo_cgan.TRAINING_DEFAULTS, key, value)
    monkeypatch.setattr(registry, "_cache", {})  # registrations are rebuilt from the patched defaults


def test_python_train_writes_the_same_run_config_as_genzoo_train(tmp_path, tiny_cgan_defaults):
    """Issue 9: `train()` from Python with only the model and an output folder trains what `genzoo train cgan` does."""
    import yaml
    from safetensors.torch import load_file

    from genzoo.cli import main
    from genzoo.training import train

    train(TrainConfig(model="cgan", output_dir=str(tmp_path / "python")))
    main(["train", "cgan", "--output-dir", str(tmp_path / "cli")])
    python, cli = (yaml.safe_load((tmp_path / name / "run_config.yaml").read_text()) for name in ("python", "cli"))
    assert python.pop("output_dir") == str(tmp_path / "python") and cli.pop("output_dir") == str(tmp_path / "cli")
    assert python == cli
    assert python["objective"] == "hinge" and python["ema_decay"] == 0.999 and python["max_steps"] == 2
    assert python["objective_args"]["lr"] == 2e-3
    weights = [
        load_file(tmp_path / name / "model" / "diffusion_pytorch_model.safetensors") for name in ("python", "cli")
    ]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_lr_schedulers_are_diffusers_schedules():
    from diffusers.optimization import SchedulerType

    from genzoo.config import LR_SCHEDULERS

    assert set(LR_SCHEDULERS) <= {kind.value for kind in SchedulerType}
