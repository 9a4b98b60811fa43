"""The plugin manager: discovers plugins through the `genzoo` entry-point group, lazily and once.

Set `GENZOO_PLUGINS` to a comma-separated list of entry-point names to load only those (an empty value loads none
of them); genzoo's own built-in adversarial objectives, dataset sources and feature extractors are always available.
"""

import importlib
import importlib.metadata
import os
import threading
import warnings
from dataclasses import dataclass

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "genzoo"
PLUGINS_ENV_VAR = "GENZOO_PLUGINS"
CORE_PLUGIN_NAME = "genzoo"
# genzoo's own plugin is loaded by module name, as entry points are: like any plugin it sits above the registry.
CORE_PLUGIN_MODULE = "genzoo.core_plugin"

pm = pluggy.PluginManager("genzoo")
pm.add_hookspecs(hookspecs)


@dataclass
class PluginSource:
    """Where a loaded plugin came from."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None


_lock = threading.Lock()
_loaded = False
_sources: dict[str, PluginSource] = {}
# Entry points' distributions, read into `_sources` on the first `plugin_source` call: reading a distribution's
# name and version parses its METADATA file, which loading a pipeline never needs.
_distributions: dict[str, importlib.metadata.Distribution] = {}
_failures: dict[str, str] = {}
_skipped: dict[str, str] = {}  # entry points that GENZOO_PLUGINS left out: name -> "module[:attr]"


def _allowed_names() -> set[str] | None:
    value = os.environ.get(PLUGINS_ENV_VAR)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def load_plugins() -> pluggy.PluginManager:
    """Import genzoo's built-ins and every `genzoo` entry point (at most once) and return the plugin manager.

    A plugin that fails to import is skipped with a warning that names it; the others keep working.
    """
    global _loaded
    with _lock:
        if _loaded:
            return pm
        _loaded = True
        if not pm.has_plugin(CORE_PLUGIN_NAME):
            pm.register(importlib.import_module(CORE_PLUGIN_MODULE), name=CORE_PLUGIN_NAME)
            _sources[CORE_PLUGIN_NAME] = PluginSource(CORE_PLUGIN_NAME, CORE_PLUGIN_MODULE, "genzoo", _own_version())
        allowed = _allowed_names()
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and entry_point.name not in allowed:
                _skipped[entry_point.name] = entry_point.value
                continue
            if pm.has_plugin(entry_point.name):
                continue
            dist = entry_point.dist
            try:
                module = entry_point.load()
                pm.register(module, name=entry_point.name)
            except Exception as exc:  # a broken third-party plugin must not take genzoo down with it
                _failures[entry_point.name] = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"genzoo plugin {entry_point.name!r} ({entry_point.value}) failed to load and was skipped: "
                    f"{type(exc).__name__}: {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            _sources[entry_point.name] = PluginSource(entry_point.name, entry_point.value)
            if dist is not None:
                _distributions[entry_point.name] = dist
        return pm


def plugin_source(name: str) -> PluginSource:
    """Where the plugin registered as `name` came from (plugins registered by hand show their module only)."""
    if name in _sources:
        source = _sources[name]
        dist = _distributions.pop(name, None)
        if dist is not None:
            source.distribution, source.version = dist.name, dist.version
        return source
    plugin = pm.get_plugin(name)
    return PluginSource(name, getattr(plugin, "__name__", type(plugin).__name__))


def failed_plugins() -> dict[str, str]:
    """Entry points that failed to load, with the error each raised."""
    return dict(_failures)


def skipped_plugins() -> dict[str, str]:
    """Installed entry points that `GENZOO_PLUGINS` kept from loading, as `{name: module}` (they are not imported,
    so what they provide is unknown)."""
    return dict(_skipped)


def _own_version() -> str:
    from . import __version__

    return __version__


def reset_plugins() -> None:
    """Unregister everything and forget what was loaded, so the next lookup loads plugins afresh (for tests)."""
    global _loaded
    with _lock:
        for name, plugin in list(pm.list_name_plugin()):
            pm.unregister(plugin, name=name)
        _loaded = False
        _sources.clear()
        _distributions.clear()
        _failures.clear()
        _skipped.clear()
