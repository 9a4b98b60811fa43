"""Latent directions and traversals, now in `genzoo.tasks.directions`; re-exported here for older imports."""

from .tasks.directions import (
    DEFAULT_VALUES,
    METHODS,
    Directions,
    class_interpolation,
    find_directions,
    first_latent_layer,
    kl_ranked_dims,
    sefa,
    traverse,
)

__all__ = [
    "DEFAULT_VALUES",
    "METHODS",
    "Directions",
    "class_interpolation",
    "find_directions",
    "first_latent_layer",
    "kl_ranked_dims",
    "sefa",
    "traverse",
]
