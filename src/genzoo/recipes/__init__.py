"""Recipes: named run configs, shipped with genzoo, that reproduce a published training protocol.

A recipe is a YAML file in this package with four keys:

- `description`: one line;
- `anchor`: what it aims at: `metric`, `value` (`null` where no figure was published for exactly this protocol),
  `protocol` (how the figure was measured) and `source` (where the figure and the settings come from);
- `notes` (optional): where the recipe had to choose something the source leaves open;
- `config`: run-config values (`TrainConfig` keys), the layer between the model family's defaults and a `--config`
  file (`genzoo train --recipe NAME`; flags and `--set` override it too).

`genzoo recipes` lists them.
"""

import copy
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from ..errors import ConfigError, UnknownNameError

__all__ = ["Recipe", "get_recipe", "recipes"]

_KEYS = {"description", "anchor", "notes", "config"}


@dataclass(frozen=True)
class Recipe:
    """A named run config with the published figure it aims at.

    Attributes:
        name (`str`): the file name without `.yaml`, as `--recipe` takes it.
        description (`str`): one line.
        anchor (`dict`): `metric`, `value`, `protocol` and `source`.
        config (`dict`): run-config values.
        notes (`str`): choices the source leaves open, or "".
    """

    name: str
    description: str
    anchor: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    def config_values(self) -> dict[str, Any]:
        """The run-config values, as a fresh copy the caller may modify."""
        return copy.deepcopy(self.config)


def recipes() -> dict[str, Recipe]:
    """Every shipped recipe by name, in name order.

    Raises:
        `ConfigError`: if a shipped file is malformed (a packaging bug, caught by the tests).
    """
    found = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            recipe = _parse(entry.name[: -len(".yaml")], entry.read_text(encoding="utf-8"))
            found[recipe.name] = recipe
    return found


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`.

    Raises:
        `UnknownNameError`: naming the shipped recipes.
    """
    available = recipes()
    if name not in available:
        raise UnknownNameError(f"Unknown recipe {name!r}. Available recipes: {', '.join(available)} (genzoo recipes).")
    return available[name]


def _parse(name: str, text: str) -> Recipe:
    values = yaml.safe_load(text)
    if not isinstance(values, dict) or not {"description", "anchor", "config"} <= set(values) <= _KEYS:
        raise ConfigError(f"Recipe {name!r} must hold description, anchor and config (and optionally notes).")
    anchor = values["anchor"]
    if not isinstance(anchor, dict) or set(anchor) != {"metric", "value", "protocol", "source"}:
        raise ConfigError(f"Recipe {name!r}: anchor must hold metric, value, protocol and source.")
    if not isinstance(values["config"], dict):
        raise ConfigError(f"Recipe {name!r}: config must be a mapping of run-config keys (tests check them).")
    return Recipe(name, values["description"], anchor, values["config"], values.get("notes") or "")
