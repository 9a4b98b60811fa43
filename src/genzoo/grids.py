"""Sample-grid layout: the one place that decides how many rows and columns a grid of images gets."""

import math
from collections.abc import Sequence

import PIL.Image
from diffusers.utils import make_image_grid

__all__ = ["grid_shape", "image_grid"]


def grid_shape(count: int, num_classes: int = 0, rows: int | None = None) -> tuple[int, int]:
    r"""Rows and columns for a grid of `count` images.

    Args:
        count (`int`): how many images.
        num_classes (`int`, defaults to 0): for class-conditional samples laid out class by class, one column per
            class when `count` is a multiple of it.
        rows (`int`, *optional*): the rows asked for; `count` must fill them evenly.

    Returns:
        `tuple[int, int]`: `(rows, columns)`; without `rows` or a class layout, the most nearly square
        factorisation (with no more rows than columns).

    Raises:
        `ValueError`: when `rows` does not divide `count`.
    """
    if count < 1:
        raise ValueError(f"A grid needs at least one image, got {count}.")
    if rows is not None:
        if rows < 1 or count % rows:
            raise ValueError(f"{count} images do not fill {rows} rows evenly; pick the image count or rows to match.")
        return rows, count // rows
    if num_classes and count % num_classes == 0:
        return count // num_classes, num_classes
    rows = max(r for r in range(1, math.isqrt(count) + 1) if count % r == 0)
    return rows, count // rows


def image_grid(images: Sequence[PIL.Image.Image], num_classes: int = 0, rows: int | None = None) -> PIL.Image.Image:
    r"""The images in one grid, laid out by `grid_shape` (row-major, in the given order).

    Args:
        images (`list[PIL.Image.Image]`): images of one size.
        num_classes, rows: as in `grid_shape`.

    Returns:
        `PIL.Image.Image`: the grid.
    """
    return make_image_grid(list(images), *grid_shape(len(images), num_classes, rows))
