"""Sample-grid layout, now in `genzoo.images`; re-exported here for older imports."""

from .images import grid_shape, image_grid

__all__ = ["grid_shape", "image_grid"]
