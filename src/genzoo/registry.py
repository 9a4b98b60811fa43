"""Registries of models, objectives, dataset sources, feature extractors, metrics, commands and tasks, filled by
plugin hooks.

Each hook receives a `register` callback; the registry records which plugin registered what, rejects a name that
two registrations claim, and answers unknown names with the available ones and the closest match.
"""

import ast
import dataclasses
import difflib
import importlib
import importlib.machinery
import importlib.util
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import DuplicateRegistrationError, GenzooError, UnknownNameError
from .plugins import PLUGINS_ENV_VAR, load_plugins, skipped_plugins

__all__ = [
    "COMMAND_NAME",
    "METRIC_APPLIES_TO",
    "METRIC_NEEDS",
    "TASK_CAPABILITIES",
    "TASK_GROUPS",
    "CommandRegistration",
    "MetricOption",
    "MetricRegistration",
    "ModelRegistration",
    "Registration",
    "Registry",
    "TaskOption",
    "TaskRegistration",
    "commands",
    "dataset_sources",
    "feature_extractors",
    "get_dataset_source",
    "get_feature_extractor",
    "get_metric",
    "get_model",
    "get_objective",
    "get_task",
    "metric_for_output",
    "metrics",
    "models",
    "objectives",
    "resolve_dataset_spec",
    "task_for_method",
    "tasks",
]


_NO_DEFAULT = object()


def is_import_string(value: Any) -> bool:
    """Whether `value` is an import string `"module:attribute"`, which registrations accept in place of objects."""
    return isinstance(value, str) and ":" in value


def import_string(reference: str, owner: str = "A registration") -> Any:
    """The object an import string `"package.module:attribute"` names (the attribute may be dotted).

    Raises:
        `GenzooError`: naming `owner` and the string, when the module or the attribute cannot be imported.
    """
    module_name, _, attribute = reference.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise GenzooError(f"{owner} names {reference!r}, which cannot be imported: {exc}") from exc
    return value


class ImportedOnRead:
    """A registration field that holds an object or an import string `"module:attribute"`.

    Reading the field imports the string's object the first time and keeps it, so registering and listing names
    (`genzoo plugins`, unknown-name errors, the folder safety check) imports no model code, and so no torch or
    diffusers: a plugin registers `"genzoo_cgan.modeling_cgan:CGANGenerator"`, and the module is imported when the
    class is first used, as llm loads its plugins. An object given directly (a class, a function) is returned as is.
    `Registration.given(field)` and `Registration.reference(field)` read either without importing anything.
    """

    def __init__(self, default: Any = _NO_DEFAULT) -> None:
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:  # how dataclasses read a field's default; AttributeError means it has none
            if self.default is _NO_DEFAULT:
                raise AttributeError(self.name)
            return self.default
        loaded = instance.__dict__.get(("loaded", self.name), _NO_DEFAULT)
        if loaded is not _NO_DEFAULT:
            return loaded
        value = instance.__dict__[("given", self.name)]
        if is_import_string(value):
            value = import_string(value, f"{instance.name!r} of plugin {instance.plugin!r}")
            instance.__dict__[("loaded", self.name)] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:  # only the dataclass __init__ gets here: they are frozen
        instance.__dict__[("given", self.name)] = value


@dataclass(frozen=True, repr=False)
class Registration:
    """One registered name: the object behind it and the plugin that registered it.

    `obj` may be registered as an import string `"module:attribute"`: reading `registration.obj` imports it on first
    use (see `ImportedOnRead`), while `registration.reference()` names it without importing anything.
    """

    name: str
    obj: Any = ImportedOnRead()
    plugin: str
    aliases: tuple[str, ...] = ()
    description: str = ""

    def given(self, field_name: str = "obj") -> Any:
        """What was registered as `field_name`, an object or an import string, without importing anything."""
        return self.__dict__[("given", field_name)]

    def reference(self, field_name: str = "obj") -> tuple[str, str] | None:
        """`(module, name)` of what `field_name` holds, read without importing it: from the import string, or from
        the object's `__module__` and `__name__` (what diffusers writes in `model_index.json`); `None` when it holds
        `None` or a nameless object."""
        value = self.given(field_name)
        if is_import_string(value):
            module, _, attribute = value.partition(":")
            return module, attribute.rpartition(".")[2]
        module, name = getattr(value, "__module__", None), getattr(value, "__name__", None)
        return (module, name) if isinstance(module, str) and isinstance(name, str) else None

    def __repr__(self) -> str:  # import strings as given: printing a registration must not import its classes
        fields = ", ".join(
            f"{each.name}={self.__dict__.get(('given', each.name), self.__dict__.get(each.name))!r}"
            for each in dataclasses.fields(self)
        )
        return f"{type(self).__name__}({fields})"


@dataclass(frozen=True, repr=False)  # Registration.__repr__: import strings shown as given
class ModelRegistration(Registration):
    """A model family: its generator class, the pipeline that samples it and what trains it.

    The three classes may be registered as import strings (`"genzoo_cgan.modeling_cgan:CGANPipeline"`) and are then
    imported when first read; `reference("obj" | "pipeline_class" | "discriminator_class")` names them without
    importing (the folder safety check compares those names with `model_index.json`).

    Attributes:
        pipeline_class: The `GenPipeline` subclass saved as `_class_name` and used for sampling; `None` for
            `GenPipeline` itself (`genzoo.pipeline.pipeline_class_of` resolves it).
        discriminator_class: The critic adversarial objectives build for this family (`None` for non-GANs).
        default_objective: The objective `genzoo train` uses when none is given.
        training_defaults: Run-config values (`max_steps`, `batch_size`, ...) tuned for this family; a config
            file, flags and `--set` override them.
        objective_defaults: `objective_args` tuned for this family with one objective (`{"hinge": {"lr": 2e-3}}`),
            used only when that objective trains it, so a learning rate tuned for one loss never reaches another.

    Plain data: `genzoo.config.resolve_train_config` decides how these defaults combine with a run's own values.
    """

    pipeline_class: type | None = ImportedOnRead(None)
    discriminator_class: type | None = ImportedOnRead(None)
    default_objective: str | None = None
    training_defaults: Mapping[str, Any] = field(default_factory=dict)
    objective_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def generator_class(self) -> type:
        return self.obj


# What a metric can apply to: every generator, class-conditional ones, unconditional ones, generators with an
# `encode` method, generators with learned codes (`encode_codes`, InfoGAN's), or either of the last two (a
# representation of images to score, as disentanglement metrics need).
METRIC_APPLIES_TO = ("any", "class-conditional", "unconditional", "encoder", "codes", "representation")
# What a metric asks the evaluation to collect: feature statistics (generated and reference), the features
# themselves (generated and reference), the generated images' class logits, per-class statistics (both).
METRIC_NEEDS = ("stats", "features", "logits", "class_stats")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class MetricOption:
    """One option of a metric, set with `--metric-arg METRIC.KEY=VALUE`.

    Attributes:
        default: the value when none is given; its type (`int`, `float`, `bool` or `str`) is the option's type
            unless `value_type` says otherwise.
        help (`str`): one line for `genzoo plugins` and the docs.
        value_type (`type`, *optional*): the option's type.
        minimum (`float`, *optional*): the smallest accepted value of a number.
    """

    default: Any
    help: str = ""
    value_type: type | None = None
    minimum: float | None = None

    @property
    def kind(self) -> type:
        return self.value_type or type(self.default)

    def parse(self, metric: str, key: str, value: Any) -> Any:
        """`value` (a string from the command line, or already typed) as this option's type, checked.

        Raises:
            `GenzooError`: naming `METRIC.KEY`, for a value of the wrong type or below `minimum`.
        """
        kind = self.kind
        lossy = kind is int and isinstance(value, float) and not value.is_integer()
        try:
            if (isinstance(value, bool) and kind is not bool) or lossy:
                raise ValueError(value)
            if kind is bool and isinstance(value, str):
                if value.strip().lower() not in _TRUE | _FALSE:
                    raise ValueError(value)
                parsed: Any = value.strip().lower() in _TRUE
            else:
                parsed = kind(value)
        except (TypeError, ValueError):
            raise GenzooError(f"Metric option {metric}.{key} takes {kind.__name__} values, got {value!r}.") from None
        if self.minimum is not None and parsed < self.minimum:
            raise GenzooError(f"{metric}.{key} must be at least {self.minimum:g}, got {parsed}.")
        return parsed


@dataclass(frozen=True, repr=False)
class MetricRegistration(Registration):
    """An evaluation metric: `obj` is its compute function (or an import string `"module:function"`).

    Attributes:
        direction (`str`): `"lower"` or `"higher"`: which way its `outputs` are better (picks the best pipeline
            during training).
        outputs (`tuple[str, ...]`): the result keys it reports that can pick the best pipeline (`("precision",
            "recall")` for `pr`); other keys it returns (`kid_std`) are logged but never selected.
        applies_to (`str`): one of `METRIC_APPLIES_TO`; checked before anything is sampled.
        needs (`frozenset[str]`): what of `METRIC_NEEDS` the evaluation collects for it; a metric that needs none of
            them (NLL) gets the pipeline and held-out images only, and nothing is sampled for it.
        options (`Mapping[str, MetricOption]`): its options, with defaults and types.
        default (`bool`): computed by `genzoo evaluate` without `--metrics` (when it applies).
    """

    direction: str = "lower"
    outputs: tuple[str, ...] = ()
    applies_to: str = "any"
    needs: frozenset[str] = frozenset()
    options: Mapping[str, MetricOption] = field(default_factory=dict)
    default: bool = True

    @property
    def compute(self) -> Callable[..., Mapping[str, Any]]:
        """The compute function, imported on first use when it was registered as `"module:function"`."""
        return self.obj

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    def resolve_options(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults with `given` (typed or as strings) over them, each checked.

        Raises:
            `GenzooError`: for a key the metric has no option for, naming the ones it has.
        """
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise GenzooError(f"Metric {self.name!r} has no option {unknown[0]!r}; its options: {known}.")
        return {
            key: option.parse(self.name, key, given[key]) if key in given else option.default
            for key, option in self.options.items()
        }


# What a command may be called: what a shell passes as one word and argparse does not read as an option.
COMMAND_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True, repr=False)  # Registration.__repr__: import strings shown as given
class CommandRegistration(Registration):
    """A `genzoo` subcommand: `obj` is `run(args)`, called with the parsed `argparse.Namespace`.

    Attributes:
        add_arguments (`Callable[[argparse.ArgumentParser], None]`): adds the command's options to the subparser
            genzoo creates for it (it may also set the parser's `description` and `epilog`).

    Both functions may be import strings `"module:function"`, imported when the command line is built.
    """

    add_arguments: Callable[..., None] = ImportedOnRead(None)

    @property
    def run(self) -> Callable[..., None]:
        """The function that runs the command, imported on first use when registered as `"module:function"`."""
        return self.obj


# What a task can apply to, by capability name: each is a predicate `pipe -> bool` in genzoo.tasks.capabilities,
# imported when first asked (listing tasks imports no torch).
TASK_CAPABILITIES = {
    "any": "genzoo.tasks.capabilities:any_pipeline",
    "invertible": "genzoo.tasks.capabilities:invertible",
    "class-conditional": "genzoo.tasks.capabilities:class_conditional",
    "class-mixing": "genzoo.tasks.capabilities:class_mixing",
    "encoder": "genzoo.tasks.capabilities:has_encoder",
    "latent-directions": "genzoo.tasks.capabilities:has_directions",
}
# Where a task appears: `genzoo restore` and the demo's Restore tab, `genzoo explore` and the Explore tab, or only as
# a pipeline method.
TASK_GROUPS = ("restoration", "exploration", "method")


@dataclass(frozen=True)
class TaskOption:
    """One option of a task, shown by `genzoo restore`/`explore` (as `--name-with-dashes`) and by the demo.

    Attributes:
        name (`str`): the keyword argument of the task function (`noise_std`).
        default: the value when none is given.
        help (`str`): one line for `--help`, the demo's label and the docs.
        value_type (`type`): `int`, `float`, `str` or `bool`; defaults to the type of `default`.
        minimum, maximum (`float`, *optional*): the accepted range of a number (both ends included).
        choices (`tuple`): the accepted values, when there is a short list.
    """

    name: str
    default: Any = None
    help: str = ""
    value_type: type | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def kind(self) -> type:
        return self.value_type or type(self.default)

    @property
    def flag(self) -> str:
        """The command-line flag, such as `--noise-std`."""
        return "--" + self.name.replace("_", "-")

    def parse(self, task: str, value: Any) -> Any:
        """`value` (a string from the command line, or already typed) as this option's type, checked against its
        range and choices.

        Raises:
            `GenzooError`: one line naming the task and the option.
        """
        kind = self.kind
        try:
            if isinstance(value, bool) and kind is not bool:
                raise ValueError(value)
            if kind is bool and isinstance(value, str):
                if value.strip().lower() not in _TRUE | _FALSE:
                    raise ValueError(value)
                parsed: Any = value.strip().lower() in _TRUE
            elif kind is int and isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(value)
                parsed = int(value)
            else:
                parsed = kind(value)
        except (TypeError, ValueError, OverflowError):
            raise GenzooError(f"{task}: {self.flag} takes {kind.__name__} values, got {value!r}.") from None
        if kind in (int, float):
            if parsed != parsed or parsed in (float("inf"), float("-inf")):
                raise GenzooError(f"{task}: {self.flag} must be a finite number, got {value!r}.")
            if (self.minimum is not None and parsed < self.minimum) or (
                self.maximum is not None and parsed > self.maximum
            ):
                low = "-inf" if self.minimum is None else f"{self.minimum:g}"
                high = "inf" if self.maximum is None else f"{self.maximum:g}"
                raise GenzooError(f"{task}: {self.flag} must be between {low} and {high}, got {parsed}.")
        if self.choices and parsed not in self.choices:
            raise GenzooError(
                f"{task}: {self.flag} must be one of {', '.join(map(str, self.choices))}, got {parsed!r}."
            )
        return parsed


@dataclass(frozen=True, repr=False)
class TaskRegistration(Registration):
    """A task: something a pipeline can do beyond sampling (inpaint, find directions, ...); `obj` is its function
    `function(pipe, ...)` (or an import string `"module:function"`), which pipelines expose as the method `method`.

    How a model family gives its own implementation: a pipeline class that defines a method named `method` is
    called instead of `obj` (ordinary attribute lookup finds it first), and the task applies to that pipeline
    whatever `applies_to` says. Everything that runs a task (the CLI, the demo, the tester mixins) calls
    `getattr(pipe, task.method)`, so the override is used everywhere.

    Attributes:
        method (`str`): the pipeline method (`find_directions` for the task `directions`).
        group (`str`): one of `TASK_GROUPS`: where the task appears besides the pipeline.
        applies_to (`str` or callable): a capability of `TASK_CAPABILITIES`, or a predicate `pipe -> bool` (or its
            import string).
        degradation: a callable (or import string) `degradation(**options) -> genzoo.tasks.Degradation` that
            builds what the task undoes from its options (restore tasks); `None` for the others.
        options (`tuple[TaskOption, ...]`): the options the CLI and the demo offer.
        inputs (`tuple[str, ...]`): the image arguments the function takes, of `"image"` and `"mask_image"`.
        label (`str`): a short noun for user interfaces (`"super-resolution"`); the name when empty.
    """

    method: str = ""
    group: str = "method"
    applies_to: Any = ImportedOnRead("any")
    degradation: Any = ImportedOnRead(None)
    options: tuple[TaskOption, ...] = ()
    inputs: tuple[str, ...] = ()
    label: str = ""

    @property
    def function(self) -> Callable[..., Any]:
        """The task function, imported on first use when it was registered as `"module:function"`."""
        return self.obj

    def option(self, name: str) -> TaskOption:
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(name)

    def applies(self, pipe: Any) -> bool:
        """Whether `pipe` can run this task: its class defines the method itself (and, when the pipeline has a
        `serves_task(name)` method, that says so for this instance: a pix2pix model implements all three restore
        methods but was trained for one), or `applies_to` holds."""
        if self.overridden_by(pipe):
            serves_task = getattr(type(pipe), "serves_task", None)
            return serves_task is None or bool(serves_task(pipe, self.name))
        predicate = self.applies_to
        if isinstance(predicate, str):
            predicate = import_string(TASK_CAPABILITIES[predicate], f"Capability {predicate!r}")
        return bool(predicate(pipe))

    def overridden_by(self, pipe: Any) -> bool:
        """Whether `pipe`'s class defines the task's method itself (a family's own implementation)."""
        return any(self.method in vars(cls) for cls in type(pipe).__mro__)

    def call_options(self, pipe: Any, **wanted: Any) -> dict[str, Any]:
        """Keyword arguments for `getattr(pipe, method)`: all of `wanted` for the table's function, only those its
        signature names for a family's own implementation (a one-pass model takes no search settings)."""
        if not self.overridden_by(pipe):
            return wanted
        import inspect

        named = inspect.signature(getattr(pipe, self.method)).parameters
        return {key: value for key, value in wanted.items() if key in named}

    def resolve_options(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults with `given` (typed or strings; `None` values take the default) over them, each checked."""
        given = {key: value for key, value in (given or {}).items() if value is not None}
        unknown = sorted(set(given) - {option.name for option in self.options})
        if unknown:
            known = ", ".join(option.name for option in self.options) or "none"
            raise GenzooError(f"Task {self.name!r} has no option {unknown[0]!r}; its options: {known}.")
        return {
            option.name: option.parse(self.name, given[option.name]) if option.name in given else option.default
            for option in self.options
        }


T = TypeVar("T", bound=Registration)


@dataclass
class Registry(Generic[T]):
    """Names (and aliases) to registrations of one kind."""

    kind: str
    entries: dict[str, T] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def add(self, entry: T) -> None:
        """Add `entry` under its name and aliases; a name another plugin already holds raises
        `DuplicateRegistrationError` naming both plugins."""
        for name in (entry.name, *entry.aliases):
            owner = self.entries.get(self.aliases.get(name, name))
            if owner is not None:
                raise DuplicateRegistrationError(
                    f"{self.kind} {name!r} is registered by both plugin {owner.plugin!r} and plugin "
                    f"{entry.plugin!r}; uninstall one of them or limit loading with GENZOO_PLUGINS."
                )
        self.entries[entry.name] = entry
        self.aliases.update({alias: entry.name for alias in entry.aliases})

    def get(self, name: str) -> T:
        """The entry registered as `name` (or with that alias); an unknown name raises `UnknownNameError`, which
        lists the available names and the closest match."""
        entry = self.entries.get(self.aliases.get(name, name))
        if entry is None:
            raise UnknownNameError(self._unknown_message(name))
        return entry

    def _unknown_message(self, name: str) -> str:
        available = sorted(self.entries)
        message = f"Unknown {self.kind} {name!r}."
        close = difflib.get_close_matches(name, [*available, *self.aliases], n=1)
        if close:  # an alias that matches best suggests the name it stands for, the one the docs use
            message += f" Did you mean {self.aliases.get(close[0], close[0])!r}?"
        listed = ", ".join(available) if available else "none (is a plugin installed?)"
        message = f"{message} Available {self.kind}s: {listed}."
        skipped = skipped_plugins()
        if skipped and name not in available:
            message += (
                f" {PLUGINS_ENV_VAR} kept plugin(s) {', '.join(sorted(skipped))} from loading; if one of them "
                f"provides {name!r}, add it to {PLUGINS_ENV_VAR}."
            )
        return message

    def __contains__(self, name: object) -> bool:
        return name in self.entries or name in self.aliases

    def __iter__(self) -> Iterator[T]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def names(self) -> list[str]:
        return sorted(self.entries)


def _register_model(
    name: str,
    generator_class: type | str,
    *,
    pipeline_class: type | str | None = None,
    discriminator_class: type | str | None = None,
    default_objective: str | None = None,
    training_defaults: Mapping[str, Any] | None = None,
    objective_defaults: Mapping[str, Mapping[str, Any]] | None = None,
    aliases: tuple[str, ...] | list[str] = (),
    description: str = "",
    plugin: str,
) -> ModelRegistration:
    _check_reference(generator_class, f"The generator class of model {name!r} of plugin {plugin!r}")
    for role, value in (("pipeline", pipeline_class), ("discriminator", discriminator_class)):
        _check_reference(value, f"The {role} class of model {name!r} of plugin {plugin!r}", optional=True)
    return ModelRegistration(
        name,
        generator_class,
        plugin,
        tuple(aliases),
        description or _first_doc_line(generator_class),
        pipeline_class=pipeline_class,
        discriminator_class=discriminator_class,
        default_objective=default_objective,
        training_defaults=dict(training_defaults or {}),
        objective_defaults={key: dict(value) for key, value in (objective_defaults or {}).items()},
    )


def _register_plain(
    name: str, obj: Any, *, aliases: tuple[str, ...] | list[str] = (), description: str = "", plugin: str
) -> Registration:
    _check_reference(obj, f"What {name!r} of plugin {plugin!r} registers")
    return Registration(name, obj, plugin, tuple(aliases), description or _first_doc_line(obj))


def _register_metric(
    name: str,
    compute: Callable[..., Mapping[str, Any]] | str,
    *,
    direction: str = "lower",
    outputs: tuple[str, ...] | list[str] | None = None,
    applies_to: str = "any",
    needs: tuple[str, ...] | list[str] | frozenset[str] = (),
    options: Mapping[str, Any] | None = None,
    default: bool = True,
    aliases: tuple[str, ...] | list[str] = (),
    description: str = "",
    plugin: str,
) -> MetricRegistration:
    where = f"metric {name!r} of plugin {plugin!r}"
    if direction not in ("lower", "higher"):
        raise ValueError(f"The direction of {where} must be 'lower' or 'higher', got {direction!r}.")
    if applies_to not in METRIC_APPLIES_TO:
        raise ValueError(f"applies_to of {where} must be one of {', '.join(METRIC_APPLIES_TO)}, got {applies_to!r}.")
    unknown = set(needs) - set(METRIC_NEEDS)
    if unknown:
        raise ValueError(f"needs of {where} must be among {', '.join(METRIC_NEEDS)}, got {sorted(unknown)}.")
    if isinstance(compute, str) and ":" not in compute:
        raise ValueError(f"The compute function of {where} must be a callable or 'module:function', got {compute!r}.")
    resolved = {
        key: value if isinstance(value, MetricOption) else MetricOption(value)
        for key, value in (options or {}).items()
    }
    for key, option in resolved.items():
        if option.kind not in (int, float, bool, str):
            raise ValueError(f"Option {key!r} of {where} must be an int, float, bool or str, not {option.kind}.")
    return MetricRegistration(
        name,
        compute,
        plugin,
        tuple(aliases),
        description or ("" if isinstance(compute, str) else _first_doc_line(compute)),
        direction=direction,
        outputs=tuple(outputs) if outputs is not None else (name,),
        applies_to=applies_to,
        needs=frozenset(needs),
        options=resolved,
        default=default,
    )


def _register_command(
    name: str,
    add_arguments: Callable[..., None] | str,
    run: Callable[..., None] | str,
    *,
    aliases: tuple[str, ...] | list[str] = (),
    description: str = "",
    plugin: str,
) -> CommandRegistration:
    for each in (name, *aliases):
        if not isinstance(each, str) or not COMMAND_NAME.fullmatch(each):
            raise ValueError(
                f"Command name {each!r} of plugin {plugin!r} must be lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit."
            )
    _check_reference(add_arguments, f"add_arguments of command {name!r} of plugin {plugin!r}")
    _check_reference(run, f"run of command {name!r} of plugin {plugin!r}")
    return CommandRegistration(
        name,
        run,
        plugin,
        tuple(aliases),
        description or _first_doc_line(run),
        add_arguments=add_arguments,
    )


def _register_task(
    name: str,
    function: Callable[..., Any] | str,
    *,
    method: str | None = None,
    group: str = "method",
    applies_to: str | Callable[[Any], bool] = "any",
    degradation: Callable[..., Any] | str | None = None,
    options: tuple[TaskOption, ...] | list[TaskOption] = (),
    inputs: tuple[str, ...] | list[str] = (),
    label: str = "",
    aliases: tuple[str, ...] | list[str] = (),
    description: str = "",
    plugin: str,
) -> TaskRegistration:
    where = f"task {name!r} of plugin {plugin!r}"
    _check_reference(function, f"The function of {where}")
    _check_reference(degradation, f"The degradation of {where}", optional=True)
    method = method or name
    if not method.isidentifier() or method.startswith("_"):
        raise ValueError(f"The method of {where} must be a public Python name, got {method!r}.")
    if group not in TASK_GROUPS:
        raise ValueError(f"The group of {where} must be one of {', '.join(TASK_GROUPS)}, got {group!r}.")
    if isinstance(applies_to, str) and applies_to not in TASK_CAPABILITIES and not is_import_string(applies_to):
        raise ValueError(
            f"applies_to of {where} must be one of {', '.join(TASK_CAPABILITIES)}, a predicate or an import string, "
            f"got {applies_to!r}."
        )
    for option in options:
        if not isinstance(option, TaskOption) or option.kind not in (int, float, bool, str):
            raise ValueError(f"The options of {where} must be TaskOption objects of int, float, bool or str.")
    unknown = set(inputs) - {"image", "mask_image"}
    if unknown:
        raise ValueError(f"The inputs of {where} must be among 'image' and 'mask_image', got {sorted(unknown)}.")
    return TaskRegistration(
        name,
        function,
        plugin,
        tuple(aliases),
        description or ("" if isinstance(function, str) else _first_doc_line(function)),
        method=method,
        group=group,
        applies_to=applies_to,
        degradation=degradation,
        options=tuple(options),
        inputs=tuple(inputs),
        label=label or name.replace("_", " "),
    )


def _check_reference(value: Any, what: str, optional: bool = False) -> None:
    """A string given for an object must be an import string: `"module:attribute"`."""
    if isinstance(value, str) and not (is_import_string(value) and all(value.partition(":")[::2])):
        raise ValueError(f"{what} must be an object or an import string 'module:attribute', got {value!r}.")
    if value is None and not optional:
        raise ValueError(f"{what} is None.")


def _first_doc_line(obj: Any) -> str:
    """The first line of the docstring of `obj`, or of what an import string names, read without importing it."""
    doc = _docstring_without_import(obj) if is_import_string(obj) else getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _docstring_without_import(reference: str) -> str:
    """The docstring of a module-level class or function named by an import string, parsed from its source file
    (plugins should pass `description=`; this keeps listing names free of imports when they do not)."""
    module_name, _, attribute = reference.partition(":")
    try:
        module = sys.modules.get(module_name)
        if module is not None:
            return getattr(import_string(reference), "__doc__", None) or ""
        # Find the source file without importing the module or its parent packages (a parent's __init__ may import
        # torch): the top-level package through every finder, then each sub-package's search locations.
        parts = module_name.split(".")
        spec = importlib.util.find_spec(parts[0])
        for depth in range(1, len(parts)):
            if spec is None or spec.submodule_search_locations is None:
                return ""
            spec = importlib.machinery.PathFinder.find_spec(
                ".".join(parts[: depth + 1]), list(spec.submodule_search_locations)
            )
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return ""
        with open(spec.origin, encoding="utf-8") as file:
            tree = ast.parse(file.read())
    except (GenzooError, ImportError, OSError, SyntaxError, ValueError):
        return ""
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.name == attribute:
            return ast.get_docstring(node) or ""
    return ""


# hook name -> (kind shown in messages, factory turning register(...) arguments into a registration)
_KINDS: dict[str, tuple[str, Callable[..., Registration]]] = {
    "register_models": ("model", _register_model),
    "register_objectives": ("objective", _register_plain),
    "register_datasets": ("dataset", _register_plain),
    "register_feature_extractors": ("feature extractor", _register_plain),
    "register_metrics": ("metric", _register_metric),
    "register_commands": ("command", _register_command),
    "register_tasks": ("task", _register_task),
}
_cache: dict[str, tuple[tuple[tuple[str, Any], ...], Registry]] = {}


def _build(hook_name: str) -> Registry:
    """Collect every loaded plugin's registrations for one hook (cached until the set of plugins changes)."""
    pm = load_plugins()
    # Keyed by the plugin objects, not only their names: a plugin reloaded under the same name must not be served
    # the registrations of its previous incarnation.
    key = tuple(pm.list_name_plugin())
    cached = _cache.get(hook_name)
    if cached is not None and cached[0] == key:
        return cached[1]
    kind, factory = _KINDS[hook_name]
    registry: Registry = Registry(kind)
    # Call each plugin's hook on its own so every registration is attributed to the plugin that made it.
    for impl in getattr(pm.hook, hook_name).get_hookimpls():  # in registration order

        def register(*args: Any, _plugin: str = impl.plugin_name, **kwargs: Any) -> None:
            registry.add(factory(*args, plugin=_plugin, **kwargs))

        try:
            impl.function(register=register)
        except DuplicateRegistrationError:
            raise
        except Exception as exc:  # one plugin's broken hook must not hide every other plugin's registrations
            warnings.warn(
                f"genzoo plugin {impl.plugin_name!r} failed in {hook_name}() and some of its {kind}s may be "
                f"missing: {type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
    _cache[hook_name] = (key, registry)
    return registry


def models() -> Registry[ModelRegistration]:
    """All registered model families."""
    return _build("register_models")


def objectives() -> Registry[Registration]:
    """All registered training objectives."""
    return _build("register_objectives")


def dataset_sources() -> Registry[Registration]:
    """All registered dataset sources (`mnist-5k`, `imagefolder`, `parquet`, `hf`, ...)."""
    return _build("register_datasets")


def feature_extractors() -> Registry[Registration]:
    """All registered feature extractors for evaluation."""
    return _build("register_feature_extractors")


def get_model(name: str) -> ModelRegistration:
    """The model family registered as `name` (e.g. `"dcgan"`), from every installed plugin."""
    return models().get(name)


def get_objective(name: str) -> Registration:
    """The training objective registered as `name` (e.g. `"hinge"`); its class is `.obj`."""
    return objectives().get(name)


def get_dataset_source(name: str) -> Registration:
    """The dataset source registered as `name` (e.g. `"imagefolder"`); its loader is `.obj`."""
    return dataset_sources().get(name)


def resolve_dataset_spec(spec: str) -> tuple[Registration, str | None]:
    """The dataset source a spec names and its argument, read without importing any loader: `mnist-5k`,
    `SOURCE:ARGUMENT` (`imagefolder:./faces`), or a bare path to a folder (`imagefolder`) or a `.parquet` file.

    Raises:
        `UnknownNameError`: in one line: "no such folder: ./faces" for a spec that reads as a path but names nothing
            there, a file that is not parquet, or an unknown source name with the closest match.
    """
    sources = dataset_sources()
    if spec in sources:
        return sources.get(spec), None
    prefix, separator, argument = spec.partition(":")
    if separator and prefix in sources:
        return sources.get(prefix), argument
    if os.path.isdir(spec):
        return sources.get("imagefolder"), spec
    if spec.endswith(".parquet"):
        if os.path.exists(spec):
            return sources.get("parquet"), spec
        raise UnknownNameError(f"No such file: {spec} (a dataset file must be an existing .parquet file).")
    kinds = "a folder of images (sub-folders are classes), a .parquet file or a registered source"
    if os.path.isfile(spec):
        raise UnknownNameError(f"Dataset {spec!r} is a file, not a folder; give {kinds} (see `genzoo plugins`).")
    if os.sep in spec or "/" in spec or spec.startswith((".", "~")):
        hub = f"; for a Hub dataset write hf:{spec}" if spec.count("/") == 1 and spec[0].isalnum() else ""
        raise UnknownNameError(f"No such folder: {spec} (the dataset must be {kinds}{hub}).")
    try:
        return sources.get(spec), None
    except UnknownNameError as exc:  # the registry's message, with the closest source name
        raise UnknownNameError(f"{exc} There is no folder {spec!r} either.") from None


def get_feature_extractor(name: str) -> Registration:
    """The feature extractor registered as `name` (e.g. `"inception"`); its class is `.obj`."""
    return feature_extractors().get(name)


def metrics() -> Registry[MetricRegistration]:
    """All registered evaluation metrics (`fid`, `kid`, `is`, `pr`, a plugin's `nll`, ...)."""
    return _build("register_metrics")


def get_metric(name: str) -> MetricRegistration:
    """The metric registered as `name` (e.g. `"kid"`); its compute function is `.compute`."""
    return metrics().get(name)


def metric_for_output(key: str) -> MetricRegistration:
    """The metric that reports the result `key` (`"recall"` -> `pr`), for picking the best pipeline by it.

    Raises:
        `UnknownNameError`: when no metric reports `key`, listing the keys that can be used.
    """
    registry = metrics()
    for entry in registry:
        if key in entry.outputs:
            return entry
    available = sorted(output for entry in registry for output in entry.outputs)
    close = difflib.get_close_matches(key, available, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"No metric reports {key!r}.{hint} Available: {', '.join(available)}.")


def commands() -> Registry[CommandRegistration]:
    """All registered `genzoo` subcommands: the built-in ones (`train`, `sample`, ...) and those plugins add."""
    return _build("register_commands")


def tasks() -> Registry[TaskRegistration]:
    """All registered tasks: what pipelines can do beyond sampling (see `TaskRegistration`)."""
    return _build("register_tasks")


def get_task(name: str) -> TaskRegistration:
    """The task registered as `name` (or with that alias, such as `"super-resolve"`)."""
    return tasks().get(name)


def task_for_method(method: str) -> TaskRegistration | None:
    """The task whose pipeline method is `method`, or `None`."""
    return next((task for task in tasks() if task.method == method), None)
