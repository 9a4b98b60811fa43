"""The trainer and what it needs: `train` (the loop, in `loop`), run setup and its checks (`setup`), checkpoints with
resume and rollback (`checkpoints`), the stability guard (`guard`), runtime choices (`runtime`), logging and images
for trackers (`trackers`) and pipeline export (`export`).

The names below are imported on first use, so `import genzoo.training` (and the CLI's early checks in
`genzoo.training.setup`) do not import torch.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .checkpoints import Checkpointer, TrainState, find_checkpoint
    from .export import export_checkpoint
    from .guard import StabilityGuard, TrainingDivergedError
    from .loop import train
    from .runtime import LOCK_FILE, choose_num_threads
    from .setup import check_request
    from .trackers import JSONLTracker

__all__ = [
    "LOCK_FILE",
    "Checkpointer",
    "JSONLTracker",
    "StabilityGuard",
    "TrainState",
    "TrainingDivergedError",
    "check_request",
    "choose_num_threads",
    "export_checkpoint",
    "find_checkpoint",
    "train",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "train": ".loop",
        "check_request": ".setup",
        "Checkpointer": ".checkpoints",
        "TrainState": ".checkpoints",
        "find_checkpoint": ".checkpoints",
        "StabilityGuard": ".guard",
        "TrainingDivergedError": ".guard",
        "LOCK_FILE": ".runtime",
        "choose_num_threads": ".runtime",
        "JSONLTracker": ".trackers",
        "export_checkpoint": ".export",
    },
)
