"""Run configuration: YAML files, --set overrides, type checks and precedence."""

import argparse
import subprocess
import sys

import pytest

from genzoo.cli import build_parser, resolve_train_config
from genzoo.config import TrainConfig, apply_overrides, parse_override, read_yaml_config
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
    with pytest.raises(ConfigError, match="only model_args, objective_args, dataset_args take dotted keys"):
        apply_overrides({}, ["seed.x=1"])
    with pytest.raises(ConfigError, match="Unknown config key 'epoch'"):
        TrainConfig.from_dict({"epoch": 3})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": "abc"}, "batch_size expects an integer, got 'abc'"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"mixed_precision": "fp8"}, "mixed_precision must be 'no', 'bf16' or 'fp16'"),
        ({"ema_decay": 1.5}, "ema_decay must lie in"),
        ({"overwrite_output_dir": "maybe"}, "overwrite_output_dir expects true or false"),
        ({"model_args": [1]}, "model_args expects a mapping"),
        ({"seed": None}, "seed cannot be null"),
        ({"checkpoints_total_limit": 0}, "checkpoints_total_limit must be at least 1 .or null to keep all"),
        ({"dataloader_num_workers": -1}, "dataloader_num_workers must be 0 or more"),
    ],
)
def test_invalid_values_are_rejected_with_the_reason(values, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(values)


def test_safe_conversions():
    config = TrainConfig.from_dict({"batch_size": "32", "ema_decay": "0.99", "max_steps": 10.0, "log_with": "a, b"})
    assert config.batch_size == 32 and config.ema_decay == 0.99 and config.max_steps == 10
    assert config.log_with == ["a", "b"]


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
    config = resolve_train_config(
        _args("--config", str(path), "--seed", "4", "--set", "seed=5", "--set", "model_args.base_channels=8")
    )
    assert config.batch_size == 16  # file over the model's defaults
    assert config.seed == 5  # --set over flags over the file
    assert config.model_args == {"latent_dim": 32, "base_channels": 8}
    assert config.log_every == TrainConfig().log_every  # untouched default


def test_epochs_flag_replaces_the_model_default_max_steps():
    config = resolve_train_config(_args("dcgan", "--epochs", "2"))
    assert config.epochs == 2 and config.max_steps is None
    config = resolve_train_config(_args("dcgan", "--max-steps", "7"))
    assert config.max_steps == 7 and config.epochs is None


def test_column_flags_feed_dataset_args():
    config = resolve_train_config(_args("dcgan", "--image-column", "img", "--label-column", ""))
    assert config.dataset_args == {"image_column": "img", "label_column": ""}


def test_the_command_line_parser_does_not_import_torch():
    # `genzoo --help` and argument errors should be instant: torch, diffusers and datasets load on first use.
    code = (
        "import sys, genzoo.cli; genzoo.cli.build_parser(); print(sorted({'torch', 'diffusers'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
