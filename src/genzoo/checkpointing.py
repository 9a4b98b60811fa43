"""Training checkpoints: moved to `genzoo.training.checkpoints` (the format, resume) and `genzoo.training.export`
(`export_checkpoint`); these names stay importable from here."""

from .training.checkpoints import (
    CHECKPOINTS_DIR,
    STATE_FILE,
    checkpoint_problem,
    find_checkpoint,
    list_checkpoints,
    read_checkpoint_state,
    swap_into_place,
    verify_pickles,
)
from .training.export import export_checkpoint

__all__ = [
    "CHECKPOINTS_DIR",
    "STATE_FILE",
    "checkpoint_problem",
    "export_checkpoint",
    "find_checkpoint",
    "list_checkpoints",
    "read_checkpoint_state",
    "swap_into_place",
    "verify_pickles",
]
