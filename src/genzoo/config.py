"""Run configuration: defaults, then a model family's training defaults, then a YAML file, then command-line
flags, then `--set key=value` overrides."""

import contextlib
import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml

from .errors import ConfigError

__all__ = ["TrainConfig", "apply_overrides", "parse_override"]

ARG_SECTIONS = ("model_args", "objective_args", "dataset_args")


@dataclass
class TrainConfig:
    r"""Everything that defines a training run; saved as `run_config.yaml` beside the trained pipeline.

    `model_args` go to the generator's `__init__`, `objective_args` to the objective's (including
    `discriminator: {...}` for adversarial objectives), `dataset_args` to `genzoo.load_dataset` (`split`,
    `image_column`, `label_column`) and the transform (`random_flip`).
    """

    model: str = "dcgan"
    objective: str | None = None
    dataset: str = "mnist-5k"
    output_dir: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    objective_args: dict[str, Any] = field(default_factory=dict)
    dataset_args: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    epochs: int | None = None
    batch_size: int = 64
    seed: int = 0
    mixed_precision: str = "no"
    gradient_accumulation_steps: int = 1
    ema_decay: float | None = None
    log_with: list[str] = field(default_factory=list)
    log_every: int = 50
    sample_every: int = 500
    num_sample_images: int = 64
    checkpoint_every: int = 1000
    checkpoints_total_limit: int | None = 2
    resume: str | None = None
    overwrite_output_dir: bool = False
    dataloader_num_workers: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), f.type))
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ConfigError(f"mixed_precision must be 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}.")
        for name in ("batch_size", "gradient_accumulation_steps", "log_every", "num_sample_images"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("max_steps", "epochs"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("sample_every", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (off) or positive, got {getattr(self, name)}.")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must lie in (0, 1), got {self.ema_decay}.")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise ConfigError(_unknown_key_message(key, known))
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> dict[str, Any]:
        """The values in a YAML run config, checked against the known keys (not yet merged with defaults)."""
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError as exc:
            raise ConfigError(f"Config file {str(path)!r} does not exist.") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"Config file {str(path)!r} is not valid YAML: {exc}".replace("\n", " ")) from exc
        if not isinstance(values, dict):
            raise ConfigError(f"Config file {str(path)!r} must hold a mapping of keys to values.")
        cls.from_dict(values)  # validates keys and types
        return values

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The config as YAML that repeats the run: how this invocation started (`resume`,
        `overwrite_output_dir`) is left out."""
        values = {**self.to_dict(), "resume": None, "overwrite_output_dir": False}
        return yaml.safe_dump(values, sort_keys=False)


def parse_override(text: str) -> tuple[str, Any]:
    """Split `key=value` and parse the value as YAML (numbers, booleans, lists, `null`); `1e-4` counts as a float."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got {text!r}.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"Cannot parse the value in --set {text!r}: {exc}".replace("\n", " ")) from exc
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    return key.strip(), value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set` overrides to a dict of config values: `batch_size=32`, `model_args.latent_dim=64`,
    `objective_args.discriminator.norm=layer`."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {key: (dict(value) if isinstance(value, dict) else value) for key, value in values.items()}
    for text in overrides:
        key, value = parse_override(text)
        head, *rest = key.split(".")
        if head not in known:
            raise ConfigError(_unknown_key_message(head, known))
        if not rest:
            values[head] = value
            continue
        if head not in ARG_SECTIONS:
            raise ConfigError(f"{head} is not a section; only {', '.join(ARG_SECTIONS)} take dotted keys.")
        node = values.setdefault(head, {})
        for part in rest[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Cannot set {key}: {part} is not a section.")
        node[rest[-1]] = value
    return values


def _unknown_key_message(key: str, known: set[str]) -> str:
    message = f"Unknown config key {key!r}."
    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    return message + f" Valid keys: {', '.join(sorted(known))}."


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Check a value against a field's annotation, converting what is safe (int -> float, '32' -> 32)."""
    optional = get_origin(annotation) in (Union, UnionType) and type(None) in get_args(annotation)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} cannot be null.")
    base = next(a for a in get_args(annotation) if a is not type(None)) if optional else annotation
    origin = get_origin(base) or base
    if origin is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif origin is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif origin is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif origin is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    elif origin is list:
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
    elif origin is dict:
        if isinstance(value, dict):
            return value
    else:
        return value
    raise ConfigError(f"{name} expects {_type_name(origin)}, got {value!r}.")


def _type_name(origin: Any) -> str:
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(origin, str(origin))
