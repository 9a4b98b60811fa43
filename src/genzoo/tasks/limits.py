"""Upper bounds on the counts that set the memory and time of a task, checked before anything is allocated. A
module of plain numbers, so the command line checks them before importing torch."""

__all__ = [
    "DEFAULT_RESTARTS",
    "DEFAULT_STEPS",
    "MAX_BATCH_SIZE",
    "MAX_CANDIDATES",
    "MAX_GRID_IMAGES",
    "MAX_RESTARTS",
    "MAX_START_VALUES",
    "MAX_STEPS",
]

#: Inversion's defaults: optimisation steps and starting points per image (and class).
DEFAULT_STEPS = 200
DEFAULT_RESTARTS = 4
#: Inversion: optimisation steps, starting points and screened candidates per image (and class), images at once.
MAX_STEPS = 100_000
MAX_RESTARTS = 1024
MAX_CANDIDATES = 100_000
MAX_BATCH_SIZE = 65_536
#: The starting points (or candidates) of all images are drawn up front: at most this many latent values in all.
MAX_START_VALUES = 2**28
#: The most images one traversal grid or class interpolation draws.
MAX_GRID_IMAGES = 4096
