"""genzoo's one cache folder, shared by everything that computes once and reuses: reference statistics, feature
extractor weights, the rendered shapes dataset."""

import os
from pathlib import Path

__all__ = ["CACHE_ENV_VAR", "genzoo_cache_dir"]

CACHE_ENV_VAR = "GENZOO_CACHE"


def genzoo_cache_dir() -> Path:
    r"""genzoo's cache folder: `$GENZOO_CACHE`, else `$XDG_CACHE_HOME/genzoo`, else `~/.cache/genzoo`.

    Returns:
        `Path`: the folder (which may not exist yet).
    """
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "genzoo"
