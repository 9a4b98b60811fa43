"""`genzoo plugins`: the installed plugins and what each registers, read without importing torch."""

import argparse
import json
from collections.abc import Callable, Mapping
from typing import Any

from ..plugins import failed_plugins, load_plugins, plugin_source
from ..registry import commands, dataset_sources, feature_extractors, metrics, models, objectives

__all__ = ["add_arguments", "plugin_report", "run"]

# What `genzoo plugins` lists for each plugin, in this order.
KINDS: dict[str, Callable[[], Any]] = {
    "models": models,
    "objectives": objectives,
    "datasets": dataset_sources,
    "feature_extractors": feature_extractors,
    "metrics": metrics,
    "commands": commands,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> None:
    report = plugin_report()
    failures = failed_plugins()
    if args.json:
        print(json.dumps({"plugins": list(report.values()), "failed": failures}, indent=2))
        return
    for info in report.values():
        version = f" {info['version']}" if info["version"] else ""
        print(f"{info['name']}{version} ({info['module']})")
        for kind in KINDS:
            if info[kind]:
                print(f"  {kind.replace('_', ' ')}: {', '.join(info[kind])}")
        for registry in KINDS.values():  # from the registrations: a model and an objective may share a name
            for entry in registry():
                if entry.plugin != info["name"] or not entry.description:
                    continue
                aliases = f" (also: {', '.join(entry.aliases)})" if entry.aliases else ""
                print(f"    {entry.name}: {entry.description}{aliases}")
                # What a family sets over an objective's own defaults when that objective trains it.
                for objective, values in getattr(entry, "objective_defaults", {}).items():
                    print(f"      with {objective}: {', '.join(_flat(values))}")
    for name, error in failures.items():
        print(f"{name} FAILED TO LOAD: {error}")


def plugin_report() -> dict[str, dict[str, Any]]:
    """`{plugin: {"name", "distribution", "version", "module", <kind>: [names], "descriptions": {name: line},
    "aliases": {name: [aliases]}}}` for every loaded plugin, from the registrations alone (nothing is imported)."""
    load_plugins()
    report: dict[str, dict[str, Any]] = {}
    for kind, registry in KINDS.items():
        for entry in registry():
            source = plugin_source(entry.plugin)
            info = report.setdefault(
                entry.plugin,
                {"name": entry.plugin, "distribution": source.distribution, "version": source.version,
                 "module": source.module, **{k: [] for k in KINDS}, "descriptions": {}, "aliases": {}},
            )  # fmt: skip
            info[kind].append(entry.name)
            if entry.description:
                info["descriptions"][entry.name] = entry.description
            if entry.aliases:  # other names that select the same registration (`genzoo train sngan`)
                info["aliases"][entry.name] = list(entry.aliases)
            if getattr(entry, "objective_defaults", None):  # a family's own settings for an objective
                info.setdefault("objective_defaults", {})[entry.name] = {
                    objective: dict(values) for objective, values in entry.objective_defaults.items()
                }
    return report


def _flat(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`{"lr": 2e-3, "discriminator": {"norm": "none"}}` as `["lr=0.002", "discriminator.norm=none"]`, the keys
    `--set objective_args.KEY=VALUE` takes."""
    items = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            items += _flat(value, f"{prefix}{key}.")
        else:
            items.append(f"{prefix}{key}={json.dumps(value) if not isinstance(value, str) else value}")
    return items
