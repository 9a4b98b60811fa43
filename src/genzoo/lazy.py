"""Lazy re-exports for a package's `__init__`, so that importing it (as `genzoo --help` and `genzoo plugins` do)
does not import torch, diffusers or datasets."""

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    r"""A module-level `__getattr__` (PEP 562) that imports each exported name from its submodule on first use.

    ```python
    __getattr__ = lazy_exports(__name__, {"MyGenerator": ".modeling_mine", "MyPipeline": ".modeling_mine"})
    ```

    Args:
        package (`str`): the package's `__name__`, against which the relative submodule names resolve.
        exports (`dict[str, str]`): each exported name and the (relative) module that defines it.

    Returns:
        `Callable[[str], Any]`: the `__getattr__`; it caches each value in the package, so a name is looked up once.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
