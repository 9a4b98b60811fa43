"""Registries of models, objectives, dataset sources and feature extractors, filled by plugin hooks.

Each hook receives a `register` callback; the registry records which plugin registered what, rejects a name that
two registrations claim, and answers unknown names with the available ones and the closest match.
"""

import copy
import difflib
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import DuplicateRegistrationError, UnknownNameError
from .plugins import load_plugins

__all__ = [
    "ModelRegistration",
    "Registration",
    "Registry",
    "dataset_sources",
    "feature_extractors",
    "get_dataset_source",
    "get_feature_extractor",
    "get_model",
    "get_objective",
    "models",
    "objectives",
]


@dataclass(frozen=True)
class Registration:
    """One registered name: the object behind it and the plugin that registered it."""

    name: str
    obj: Any
    plugin: str
    aliases: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ModelRegistration(Registration):
    """A model family: its generator class, the pipeline that samples it and what trains it.

    Attributes:
        pipeline_class: The `GenPipeline` subclass saved as `_class_name` and used for sampling.
        discriminator_class: The critic adversarial objectives build for this family (`None` for non-GANs).
        default_objective: The objective `genzoo train` uses when none is given.
        training_defaults: Run-config values (`max_steps`, `batch_size`, ...) tuned for this family; a config
            file, flags and `--set` override them.
        objective_defaults: `objective_args` tuned for this family with one objective (`{"hinge": {"lr": 2e-3}}`),
            used only when that objective trains it, so a learning rate tuned for one loss never reaches another.
    """

    pipeline_class: type | None = None
    discriminator_class: type | None = None
    default_objective: str | None = None
    training_defaults: Mapping[str, Any] = field(default_factory=dict)
    objective_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def training_defaults_for(self, objective: str | None = None) -> dict[str, Any]:
        """The family's run-config defaults when `objective` (a name or alias; `None` for the family's default)
        trains it: `training_defaults`, with that objective's `objective_defaults` merged into `objective_args`.

        Args:
            objective (`str`, *optional*): the objective the run uses.

        Returns:
            `dict`: a fresh (deep) copy, safe to modify.
        """
        defaults = copy.deepcopy(dict(self.training_defaults))
        name = objective or self.default_objective
        if name is not None and name not in self.objective_defaults and name in objectives():
            name = objectives().get(name).name  # an alias of a tuned objective
        tuned = self.objective_defaults.get(name) if name is not None else None
        if tuned:
            defaults["objective_args"] = {**defaults.get("objective_args", {}), **copy.deepcopy(dict(tuned))}
        return defaults

    @property
    def generator_class(self) -> type:
        return self.obj


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
        if close:
            message += f" Did you mean {close[0]!r}?"
        listed = ", ".join(available) if available else "none (is a plugin installed?)"
        return f"{message} Available {self.kind}s: {listed}."

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
    generator_class: type,
    *,
    pipeline_class: type | None = None,
    discriminator_class: type | None = None,
    default_objective: str | None = None,
    training_defaults: Mapping[str, Any] | None = None,
    objective_defaults: Mapping[str, Mapping[str, Any]] | None = None,
    aliases: tuple[str, ...] | list[str] = (),
    description: str = "",
    plugin: str,
) -> ModelRegistration:
    if pipeline_class is None:
        from .pipeline import GenPipeline

        pipeline_class = GenPipeline
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
    return Registration(name, obj, plugin, tuple(aliases), description or _first_doc_line(obj))


def _first_doc_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


# hook name -> (kind shown in messages, factory turning register(...) arguments into a registration)
_KINDS: dict[str, tuple[str, Callable[..., Registration]]] = {
    "register_models": ("model", _register_model),
    "register_objectives": ("objective", _register_plain),
    "register_datasets": ("dataset", _register_plain),
    "register_feature_extractors": ("feature extractor", _register_plain),
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


def get_feature_extractor(name: str) -> Registration:
    """The feature extractor registered as `name` (e.g. `"inception"`); its class is `.obj`."""
    return feature_extractors().get(name)
