"""Restoration and inversion, now in the task table's modules (`genzoo.tasks.degradations`, `genzoo.tasks.inversion`,
`genzoo.tasks.restoration`) and images in `genzoo.images`; these names are re-exported here for older imports."""

from .images import ImageInput, captioned_grid, restoration_figure, to_mask, to_output, to_pixels
from .tasks.degradations import Degradation, Downsample, GaussianNoise, Mask
from .tasks.inversion import PRIORS, InversionOptions, InversionResult, invert
from .tasks.restoration import invert_images, restore

__all__ = [
    "PRIORS",
    "Degradation",
    "Downsample",
    "GaussianNoise",
    "ImageInput",
    "InversionOptions",
    "InversionResult",
    "Mask",
    "captioned_grid",
    "invert",
    "invert_images",
    "restoration_figure",
    "restore",
    "to_mask",
    "to_output",
    "to_pixels",
]
