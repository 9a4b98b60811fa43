"""Run configuration: `TrainConfig`, and `resolve_train_config`, the one place that decides where each value comes
from.

From lowest to highest precedence, a run's values come from:

1. `TrainConfig`'s own defaults (the dataclass fields below);
2. the model family's `training_defaults` (its registration);
3. the family's `objective_defaults` for the run's objective;
4. a recipe (`--recipe NAME`: a shipped run config of a published protocol, see `genzoo.recipes`);
5. a YAML file (`--config run.yaml`);
6. the values given directly: command-line flags, or the keys set on a `TrainConfig` built in Python;
7. `--set key=value` overrides.

Each layer is a plain dict of the keys it sets. Sections (`model_args`, `objective_args`, `dataset_args`) merge key
by key, and the run length is one choice: a layer that sets `max_steps` or `epochs` replaces both of the layers
below it.

How "not set" differs from "set to the default": a `TrainConfig` remembers which keys it was built with
(`explicit_keys`). `TrainConfig(model="cgan", output_dir="runs/x")` reads `batch_size == 64` like any dataclass, but
only `model` and `output_dir` are explicit, so `train()`, which resolves every config it is given, fills in the
CGAN's tuned defaults for everything else, exactly as `genzoo train cgan --output-dir runs/x` does. A resolved config
has every key explicit, so resolving it again changes nothing.
"""

import contextlib
import copy
import dataclasses
import math
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml

from .errors import ConfigError, did_you_mean
from .recipes import get_recipe
from .registry import ModelRegistration, get_model, get_objective, objectives

__all__ = [
    "TrainConfig",
    "apply_overrides",
    "merge_layers",
    "parse_override",
    "read_run_config",
    "read_yaml_config",
    "resolve_train_config",
    "safe_yaml_load",
]

ARG_SECTIONS = ("model_args", "objective_args", "dataset_args", "task_args")
#: Learning-rate schedules (names of `diffusers.optimization.get_scheduler`); `lr_warmup_steps` applies to each.
LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial")
#: Integers in a run config (and in its argument sections) must fit a signed 64-bit integer.
INT64_MAX = 2**63 - 1
#: Upper bounds on the counts that decide how long a run takes or how much it holds in memory (far above any real
#: run); a config past one is refused before anything is built.
COUNT_LIMITS = {
    "max_steps": 10**9,
    "epochs": 10**6,
    "batch_size": 2**20,
    "gradient_accumulation_steps": 2**20,
    "num_sample_images": 10_000,
    "eval_num_samples": 10**7,
    "num_threads": 4096,
    "dataloader_num_workers": 1024,
    "max_rollbacks": 10**6,
}
#: The most characters of a value an error message repeats (a huge value is cut, never printed whole).
SHOWN_CHARS = 80


@dataclass(init=False)
class TrainConfig:
    r"""Everything that defines a training run; saved as `run_config.yaml` beside the trained pipeline.

    Build it with keyword arguments (or `from_dict`); unknown keys are refused with the closest match. The keys
    given are recorded in `explicit_keys`; `resolve_train_config` (which `train()` applies) fills in the others
    from the model family's defaults before the dataclass defaults below. `dataclasses.replace` builds a config in
    which every key is explicit.

    `model_args` go to the generator's `__init__`, `objective_args` to the objective's (including
    `discriminator: {...}` for adversarial objectives), `dataset_args` to `genzoo.load_dataset` (`split`,
    `image_column`, `label_column`) and the transform (`random_flip`). `task` and `task_args` go to the generator of
    an image-to-image family (as `model_args.task` and `model_args.task_args`: pix2pix's `inpaint`, `super-resolve`
    or `denoise` and their degradations) and are refused for other families. `lr_scheduler` (one of
    `LR_SCHEDULERS`, after `lr_warmup_steps` of linear warm-up) scales every optimizer's learning rate over the
    run's steps. `ema_decay` keeps an EMA of the generator, whose decay at step t ramps as diffusers' (1 + t) / (10
    + t) (an average over about the last ninth of the run) or, with `ema_power`, as 1 − (1 + t /
    `ema_inv_gamma`)^−`ema_power` (`ema_power: 1` averages over about the last t / `ema_inv_gamma` steps), up to
    `ema_decay`. The `eval_*` keys set up evaluation during training (see `genzoo.metrics.training_eval`). A run
    that sets neither `max_steps` nor `epochs` trains for 10
    epochs; `checkpoints_total_limit: null` keeps every checkpoint. `mixed_precision: null` (the default) takes
    Accelerate's own setting (`accelerate launch --mixed_precision`, `accelerate config`), else `no`; `auto` (the
    dcgan and cgan families' default) takes Accelerate's setting where one is given, else `bf16` on a machine
    without a GPU whose CPU computes bf16 natively (AVX512-BF16 or AMX), else `no`; the saved config records the
    precision the run used. `num_threads` is PyTorch's CPU thread count per process; unset, it is
    `OMP_NUM_THREADS` when that is set, else the usable cores minus the load average (divided among the machine's
    processes of the run, at least 1), and the saved config records the count used. The stability guard checks
    every step's losses and gradient norms: on a non-finite value the run stops (`on_nonfinite: stop`) or rolls back
    to its last checkpoint with the learning rates multiplied by `rollback_lr_factor`, at most `max_rollbacks` times
    (`on_nonfinite: rollback`). It treats a collapse the same way: the generator's gradient norm exactly 0 for
    `collapse_steps` steps in a row (0: off), or, at a checkpoint, generated images without any variation. `license` is
    the license the model card declares for the trained weights (a Hub license id such as `apache-2.0` or `mit`).
    """

    model: str = "dcgan"
    objective: str | None = None  # None: the family's default_objective; a resolved config names it
    dataset: str = "mnist-5k"
    output_dir: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    objective_args: dict[str, Any] = field(default_factory=dict)
    dataset_args: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    epochs: int | None = None
    batch_size: int = 64
    seed: int = 0
    mixed_precision: str | None = None  # None: Accelerate's own setting (launcher, `accelerate config`), else "no"
    num_threads: int | None = None  # None: OMP_NUM_THREADS if set, else chosen from the free cores at start
    gradient_accumulation_steps: int = 1
    ema_decay: float | None = None
    ema_power: float | None = None  # None: diffusers' ramp (1 + step) / (10 + step)
    ema_inv_gamma: float = 1.0
    lr_scheduler: str = "constant"
    lr_warmup_steps: int = 0
    log_with: list[str] = field(default_factory=list)
    log_every: int = 50
    sample_every: int = 500
    num_sample_images: int = 64
    checkpoint_every: int = 1000
    checkpoints_total_limit: int | None = 2
    resume: str | None = None
    overwrite_output_dir: bool = False
    dataloader_num_workers: int = 0
    eval_every: int = 0
    eval_metric: str = "fid"
    eval_metrics: list[str] = field(default_factory=lambda: ["fid", "kid"])
    eval_num_samples: int = 1000
    eval_features: str = "mnist-classifier"
    eval_features_path: str | None = None
    on_nonfinite: str = "stop"
    rollback_lr_factor: float = 0.5
    max_rollbacks: int = 3
    collapse_steps: int = 20
    license: str = "apache-2.0"
    task: str | None = None  # an image-to-image family's task (pix2pix: inpaint, super-resolve, denoise)
    task_args: dict[str, Any] = field(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        known = {f.name: f for f in dataclasses.fields(self)}
        for key in values:
            if key not in known:
                raise ConfigError(_unknown_key_message(key, set(known)))
        for name, f in known.items():
            if name in values:
                value = values[name]
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                value = f.default
            setattr(self, name, value)
        #: The keys this config was built with, as opposed to left at the dataclass defaults.
        self.explicit_keys: frozenset[str] = frozenset(values)
        self.validate()

    def validate(self) -> None:
        if self.mixed_precision is False:  # YAML 1.1 reads an unquoted `no` (`--set mixed_precision=no`) as false
            self.mixed_precision = "no"
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), f.type))
        for name in ARG_SECTIONS:
            _check_numbers(name, getattr(self, name))
        for name, limit in COUNT_LIMITS.items():
            value = getattr(self, name)
            if value is not None and value > limit:
                raise ConfigError(f"{name} must be at most {limit:,}, got {shown(value)}.")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must lie in [0, 2**32 - 1] (NumPy's seed range), got {shown(self.seed)}.")
        if self.mixed_precision not in (None, "no", "bf16", "fp16", "auto"):
            raise ConfigError(
                f"mixed_precision must be 'no', 'bf16', 'fp16', 'auto' or null (Accelerate's setting), got "
                f"{shown(self.mixed_precision)}."
            )
        if self.on_nonfinite not in ("stop", "rollback"):
            raise ConfigError(f"on_nonfinite must be 'stop' or 'rollback', got {shown(self.on_nonfinite)}.")
        if not 0.0 < self.rollback_lr_factor < 1.0:
            raise ConfigError(f"rollback_lr_factor must lie in (0, 1), got {self.rollback_lr_factor}.")
        if self.max_rollbacks < 0:
            raise ConfigError(f"max_rollbacks must be 0 or more, got {self.max_rollbacks}.")
        if self.collapse_steps < 0:
            raise ConfigError(f"collapse_steps must be 0 (off) or positive, got {self.collapse_steps}.")
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError(f"num_threads must be at least 1 (or null to choose), got {self.num_threads}.")
        for name in ("batch_size", "gradient_accumulation_steps", "log_every", "num_sample_images"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("max_steps", "epochs"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.eval_num_samples < 2:
            raise ConfigError(f"eval_num_samples must be at least 2, got {self.eval_num_samples}.")
        for name in ("sample_every", "checkpoint_every", "eval_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (off) or positive, got {getattr(self, name)}.")
        if self.checkpoints_total_limit is not None and self.checkpoints_total_limit < 1:
            limit = self.checkpoints_total_limit
            raise ConfigError(f"checkpoints_total_limit must be at least 1 (or null to keep all), got {limit}.")
        if self.dataloader_num_workers < 0:
            raise ConfigError(f"dataloader_num_workers must be 0 or more, got {self.dataloader_num_workers}.")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ConfigError(
                f"lr_scheduler must be one of {', '.join(LR_SCHEDULERS)}, got {shown(self.lr_scheduler)}."
            )
        if self.lr_warmup_steps < 0:
            raise ConfigError(f"lr_warmup_steps must be 0 or more, got {self.lr_warmup_steps}.")
        if self.max_steps is not None:
            check_warmup(self.lr_scheduler, self.lr_warmup_steps, self.max_steps)
        for name in ("rollback_lr_factor", "ema_decay", "ema_power", "ema_inv_gamma"):
            if getattr(self, name) is not None and not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number, got {getattr(self, name)}.")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must lie in (0, 1), got {self.ema_decay}.")
        if self.ema_power is not None and self.ema_power <= 0:
            raise ConfigError(f"ema_power must be > 0 (or null for diffusers' default ramp), got {self.ema_power}.")
        if self.ema_inv_gamma <= 0:
            raise ConfigError(f"ema_inv_gamma must be > 0, got {self.ema_inv_gamma}.")
        if self.ema_power is None and self.ema_inv_gamma != 1.0:
            raise ConfigError("ema_inv_gamma only shapes the warm-up that ema_power turns on; set ema_power too.")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """A validated config from a mapping of keys to values (all explicit); unknown keys are refused with the
        closest match."""
        return cls(**values)

    def explicit_values(self) -> dict[str, Any]:
        """The keys this config was built with and their values (a deep copy)."""
        return {key: copy.deepcopy(getattr(self, key)) for key in sorted(self.explicit_keys)}

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain (nested) dict."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The config as YAML that repeats the run: how this invocation started (`resume`,
        `overwrite_output_dir`) is left out."""
        values = {**self.to_dict(), "resume": None, "overwrite_output_dir": False}
        return yaml.safe_dump(values, sort_keys=False)


def resolve_train_config(
    values: "TrainConfig | Mapping[str, Any] | None" = None,
    *,
    recipe: str | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> TrainConfig:
    r"""The run config that trains, from every source of values, in the precedence of this module's docstring.

    `train()` applies it to the config it is given, and `genzoo train` calls it with its flags, so the Python API
    and the command line train the same model from the same inputs.

    Args:
        values (`TrainConfig` or `dict`, *optional*): the values given directly: a `TrainConfig` (its
            `explicit_keys` only) or a mapping such as the command-line flags.
        recipe (`str`, *optional*): a shipped recipe's name (`genzoo recipes`), below the YAML run config.
        config_file (`str` or `Path`, *optional*): a YAML run config, below `values`.
        overrides (`list[str]`, *optional*): `key=value` strings (`--set`), above `values`.

    Returns:
        `TrainConfig`: a complete config with every key explicit and `objective` set to the registered name of the
        objective the run uses (never `None`).

    Raises:
        `ConfigError`: for an unknown key, a value of the wrong type, or a model without a default objective and
            none given. `UnknownNameError`: for an unknown model or objective.
    """
    if isinstance(values, TrainConfig):
        values = values.explicit_values()
    # What the user chose, lowest precedence first: a recipe (a named, shipped run config), the file, ...
    chosen = [
        get_recipe(recipe).config_values() if recipe else {},
        read_yaml_config(config_file) if config_file else {},
        dict(values or {}),
        apply_overrides({}, overrides),
    ]
    merged = merge_layers(*chosen)
    registration = get_model(merged.get("model") or TrainConfig.model)
    objective = _objective_name(registration, merged.get("objective"))
    family = [
        registration.training_defaults,
        {"objective_args": _tuned_objective_args(registration, objective)},
    ]
    resolved = merge_layers(*family, *chosen)
    resolved["objective"] = objective
    _fold_task(registration, resolved)
    config = TrainConfig(**resolved)
    config.explicit_keys = frozenset(f.name for f in dataclasses.fields(TrainConfig))  # nothing left to fill in
    return config


def _fold_task(registration: ModelRegistration, resolved: dict[str, Any]) -> None:
    """Pass `task` and `task_args` to the generator (`model_args.task`, `model_args.task_args`) of a family that
    takes them, in place; refuse them for any other. The generator stores them in its `config.json`, so the saved
    model knows its task."""
    task, task_args = resolved.get("task"), resolved.get("task_args") or {}
    if task is None and not task_args:
        return
    import inspect  # lazy: the signature check needs the generator class, which imports torch

    if "task" not in inspect.signature(registration.generator_class).parameters:
        raise ConfigError(
            f"Model {registration.name!r} has no tasks, so --task and task_args do not apply; they are for "
            "image-to-image families such as pix2pix."
        )
    model_args = resolved.setdefault("model_args", {})
    if task is not None:
        if model_args.get("task", task) != task:
            raise ConfigError(f"task is {task!r} but model_args.task is {model_args['task']!r}; set one of them.")
        model_args["task"] = task
    if task_args:
        model_args["task_args"] = merge_layers(model_args.get("task_args") or {}, task_args)


def merge_layers(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Run-config layers merged, later over earlier: sections (dicts) key by key at any depth, other values
    replaced. A layer that sets `max_steps` or `epochs` replaces both (a run's length is one choice).

    Returns:
        `dict`: a new dict; the layers are not modified.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        if "max_steps" in layer or "epochs" in layer:
            merged.pop("max_steps", None)
            merged.pop("epochs", None)
        merged = _merge(merged, layer)
    return merged


def _merge(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)
    return merged


def _objective_name(registration: ModelRegistration, objective: str | None) -> str:
    """The registered name of the run's objective: the one chosen (a name or an alias), else the family's own."""
    name = objective or registration.default_objective
    if name is None:
        raise ConfigError(f"Model {registration.name!r} has no default objective; pass --objective NAME.")
    return get_objective(name).name


def _tuned_objective_args(registration: ModelRegistration, objective: str) -> dict[str, Any]:
    """The family's `objective_defaults` for `objective` (a registered name), whose keys may be names or aliases."""
    for key, tuned in registration.objective_defaults.items():
        if key == objective or (key in objectives() and objectives().get(key).name == objective):
            return copy.deepcopy(dict(tuned))
    return {}


def check_warmup(lr_scheduler: str, warmup_steps: int, total_steps: int) -> None:
    """Refuse a warm-up that leaves a decaying schedule no steps to decay in."""
    if warmup_steps >= total_steps and lr_scheduler not in ("constant", "constant_with_warmup"):
        raise ConfigError(
            f"lr_warmup_steps ({warmup_steps}) must be fewer than the run's {total_steps} steps for the "
            f"{lr_scheduler!r} schedule, which decays after the warm-up."
        )


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases: a run config never needs one, and a few nested aliases ("billion
    laughs") expand to more values than memory holds."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"aliases (*{event.anchor}) are not allowed in a genzoo config; write the value out")
        return super().compose_node(parent, index)


def safe_yaml_load(text: str) -> Any:
    """`yaml.safe_load` without aliases (`*name`), so the size of what it returns is bounded by the text's size.

    Raises:
        `yaml.YAMLError`: for text that is not YAML or holds an alias.
    """
    return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass


def _read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    try:
        values = safe_yaml_load(Path(path).read_text()) or {}
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise ConfigError(f"{what} {str(path)!r} does not exist or is a folder; pass a YAML file.") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML: {_first_line(exc)}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{what} {str(path)!r} must hold a mapping of keys to values.")
    return values


def read_yaml_config(path: str | Path) -> dict[str, Any]:
    """The values of a YAML run config, checked against `TrainConfig`'s keys and types but not merged with defaults
    (so that the command line can still override them).

    Raises:
        `ConfigError`: if the file is missing, is not YAML (or holds an alias), does not hold a mapping, has an
            unknown key or a value of the wrong type.
    """
    values = _read_yaml_mapping(path, "Config file")
    TrainConfig.from_dict(values)  # validates keys and types
    return values


def read_run_config(path: str | Path) -> TrainConfig:
    """The `run_config.yaml` of a run or pipeline folder as a validated `TrainConfig` (every key explicit).

    Raises:
        `ConfigError`: one line naming the file, if it is missing, not YAML, or a key or value is wrong (a list
            where `dataset` or `max_steps` belongs, say).
    """
    values = _read_yaml_mapping(path, "Run config")
    try:
        return TrainConfig.from_dict(values)
    except ConfigError as exc:
        raise ConfigError(f"Run config {str(path)!r} is not valid: {exc}") from exc


def parse_override(text: str) -> tuple[str, Any]:
    """Split `key=value` and parse the value as YAML (numbers, booleans, lists, `null`); `1e-4` counts as a float."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got {shown(text)}.")
    try:
        value = safe_yaml_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"Cannot parse the value in --set {shown(text)}: {_first_line(exc)}") from exc
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    return key.strip(), value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set` overrides to a dict of config values: `batch_size=32`, `model_args.latent_dim=64`,
    `objective_args.discriminator.norm=layer`."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values = copy.deepcopy(values)  # never write into the caller's dicts (such as a plugin's training defaults)
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
        if not isinstance(node, dict):
            raise ConfigError(f"Cannot set {_cut(key)}: {head} is {shown(node)}, not a section.")
        for part in rest[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Cannot set {_cut(key)}: {_cut(part)} is not a section.")
        node[rest[-1]] = value
    return values


def _unknown_key_message(key: str, known: set[str]) -> str:
    hint = did_you_mean(str(key)[:100], known)
    return f"Unknown config key {shown(key)}.{hint} Valid keys: {', '.join(sorted(known))}."


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """`repr(value)` for an error message, cut to `limit` characters: a message never repeats a huge value whole.
    Containers are cut before their repr is built, so even a deeply shared structure costs little."""
    text = reprlib.repr(value) if isinstance(value, dict | list | tuple | set) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def _cut(text: str, limit: int = SHOWN_CHARS) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _first_line(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_numbers(section: str, value: Any, path: str = "") -> None:
    """Refuse a non-finite float or an integer beyond 64 bits anywhere in an argument section (no such value is a
    meaningful model, objective or dataset option, and they overflow deep inside PyTorch)."""
    where = f"{section}{path}"
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ConfigError(f"{where} must fit a 64-bit integer, got {shown(value)}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value}.")
    if isinstance(value, dict):
        for key, inner in value.items():
            _check_numbers(section, inner, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            _check_numbers(section, inner, f"{path}[{index}]")


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
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and len(value) < 40 and value.strip().lstrip("-").isdigit()
        ):
            number = int(value)
        if number is not None:
            if not -INT64_MAX - 1 <= number <= INT64_MAX:
                raise ConfigError(f"{name} must fit a 64-bit integer, got {shown(value)}.")
            return number
    elif origin is float:
        number = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            with contextlib.suppress(OverflowError):
                number = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is not None:
            return number
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
    raise ConfigError(f"{name} expects {_type_name(origin)}, got {shown(value)}.")


def _type_name(origin: Any) -> str:
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(origin, str(origin))
