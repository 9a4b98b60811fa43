r"""`shapes`: a procedural dataset with known generative factors, in the spirit of dSprites (Matthey et al. 2017).

Every combination of five factors is drawn once, as a binary 64×64 image:

| factor | values | meaning |
| --- | --- | --- |
| `shape` | 3 | square, ellipse, heart |
| `scale` | 6 | radius 0.5 to 1 of the largest (15 pixels), evenly spaced |
| `orientation` | 40 | rotation 0 to 2π (exclusive), evenly spaced |
| `x`, `y` | 32 each | the centre, pixels 16 to 47 |

737,280 images in all. They are rendered deterministically (4×4 supersampling, each pixel on when at least half
of it is covered) on first use and cached as a Hugging Face dataset under genzoo's cache folder
(`$GENZOO_CACHE/shapes/`), so later loads take a second. A subgrid keeps evenly spaced values of each factor, which
tests and CPU-sized runs use:

- `shapes` (or `shapes:full`): the whole grid;
- `shapes:small`: 3 × 6 × 10 × 16 × 16 = 46,080 images;
- `shapes:tiny`: 3 × 2 × 4 × 4 × 4 = 384 images;
- `shapes:S,C,O,X,Y`: any counts per factor, e.g. `shapes:3,6,8,16,16`.

Each factor is an integer column holding the value's index in the full grid (so a subgrid's `x` of 0, 10, 21, 31
names the same positions as the full grid's), and the dataset's `factor_columns` name them for the disentanglement
metrics. There is one split, `train`.
"""

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .cache import genzoo_cache_dir
from .errors import GenzooError

__all__ = ["FACTOR_NAMES", "FULL_GRID", "SHAPE_NAMES", "load_shapes", "render_shape", "shapes_grid"]

FACTOR_NAMES = ("shape", "scale", "orientation", "x", "y")
FULL_GRID = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
NAMED_GRIDS = {"full": FULL_GRID, "small": (3, 6, 10, 16, 16), "tiny": (3, 2, 4, 4, 4)}
IMAGE_SIZE = 64
MAX_RADIUS = 15.0  # pixels: a shape of scale 1 centred at 16..47 stays inside the 64-pixel frame
_SUPERSAMPLE = 4
_CACHE_VERSION = "v1"  # bump when the rendering changes, so that old caches are not read


def shapes_grid(argument: str | None) -> tuple[int, ...]:
    """The number of values of each factor for a `shapes:ARGUMENT` spec (see the module docstring).

    Raises:
        `GenzooError`: for an unknown name, or counts that are not 5 integers between 1 and the full grid's.
    """
    if not argument:
        return FULL_GRID
    if argument in NAMED_GRIDS:
        return NAMED_GRIDS[argument]
    try:
        counts = tuple(int(part) for part in argument.split(","))
    except ValueError:
        counts = ()
    if len(counts) != len(FULL_GRID) or not all(1 <= c <= full for c, full in zip(counts, FULL_GRID, strict=True)):
        raise GenzooError(
            f"shapes:{argument} is not a grid: use shapes, shapes:small, shapes:tiny or five counts "
            f"shape,scale,orientation,x,y each from 1 to {','.join(map(str, FULL_GRID))}, e.g. shapes:3,6,8,16,16."
        )
    return counts


def _subgrid_indices(count: int, full: int) -> np.ndarray:
    """`count` evenly spaced indices of `full` values, including both ends (orientation, being circular, excludes
    the end that equals the start)."""
    if count == 1:
        return np.zeros(1, dtype=np.int64)
    return np.round(np.linspace(0, full - 1, count)).astype(np.int64)


def _covered(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether shape-local points (in units of the radius, v pointing up) lie inside the shape."""
    if shape == 0:  # square with circumradius 1
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0 / math.sqrt(2.0)
    if shape == 1:  # ellipse with semi-axes 1 and 0.5
        return u**2 + (v / 0.5) ** 2 <= 1.0
    # heart: (x² + y² − 1)³ − x² y³ ≤ 0, which spans x in ±1.14 and y in [−1, 1.25]; centred and scaled into radius 1
    x, y = u * 1.2, v * 1.2 + 0.125
    return (x**2 + y**2 - 1.0) ** 3 - x**2 * y**3 <= 0.0


def render_shape(shape: int, scale: float, angle: float, centre: tuple[float, float] = (32.0, 32.0)) -> np.ndarray:
    r"""One binary 64×64 image (`uint8`, 0 or 255) of a shape.

    Args:
        shape (`int`): 0 square, 1 ellipse, 2 heart.
        scale (`float`): radius as a fraction of 15 pixels.
        angle (`float`): counter-clockwise rotation in radians.
        centre (`tuple[float, float]`): `(x, y)` pixel coordinates of the centre.
    """
    offsets = (np.arange(_SUPERSAMPLE) + 0.5) / _SUPERSAMPLE
    coords = (np.arange(IMAGE_SIZE)[:, None] + offsets[None, :]).reshape(-1)
    px, py = np.meshgrid(coords, coords)  # (row: y, column: x)
    dx, dy = (px - centre[0]) / (MAX_RADIUS * scale), -(py - centre[1]) / (MAX_RADIUS * scale)
    cos, sin = math.cos(angle), math.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # rotate the points by −angle: the shape by +angle
    inside = _covered(shape, u, v).reshape(IMAGE_SIZE, _SUPERSAMPLE, IMAGE_SIZE, _SUPERSAMPLE)
    return np.where(inside.mean(axis=(1, 3)) >= 0.5, 255, 0).astype(np.uint8)


def _factor_values() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scales = np.linspace(0.5, 1.0, FULL_GRID[1])
    angles = np.linspace(0.0, 2.0 * math.pi, FULL_GRID[2], endpoint=False)
    positions = 16 + np.arange(FULL_GRID[3])
    return scales, angles, positions


def _generate(counts: Sequence[int]) -> "datasets.Dataset":  # noqa: F821
    """Render the grid: one centred image per (shape, scale, orientation), shifted to each position (a whole-pixel
    shift of a shape that stays inside the frame is exact)."""
    import datasets
    from PIL import Image

    scales, angles, positions = _factor_values()
    picks = [_subgrid_indices(count, full) for count, full in zip(counts, FULL_GRID, strict=True)]
    if counts[2] > 1:  # orientation is circular: spread over the full turn, not onto its end
        picks[2] = (np.arange(counts[2]) * FULL_GRID[2]) // counts[2]
    columns: dict[str, list] = {"image": [], **{name: [] for name in FACTOR_NAMES}}
    for shape in picks[0]:
        for scale in picks[1]:
            for orientation in picks[2]:
                centred = render_shape(int(shape), float(scales[scale]), float(angles[orientation]))
                for x in picks[3]:
                    for y in picks[4]:
                        image = np.roll(centred, (int(positions[y]) - 32, int(positions[x]) - 32), axis=(0, 1))
                        buffer = io.BytesIO()
                        Image.fromarray(image).convert("1").save(buffer, format="PNG", optimize=False)
                        columns["image"].append({"bytes": buffer.getvalue(), "path": None})
                        for name, value in zip(FACTOR_NAMES, (shape, scale, orientation, x, y), strict=True):
                            columns[name].append(int(value))
    features = datasets.Features(
        {"image": datasets.Image(), **{name: datasets.Value("int16") for name in FACTOR_NAMES}}
    )
    return datasets.Dataset.from_dict(columns, features=features)


def _cache_path(counts: Sequence[int]) -> Path:

    return genzoo_cache_dir() / "shapes" / f"{_CACHE_VERSION}-{'x'.join(map(str, counts))}"


def load_shapes(argument: str | None = None, split: str = "train") -> "Dataset":  # noqa: F821
    r"""The `shapes` dataset source (see the module docstring): generated on first use, then read from the cache.

    Args:
        argument (`str`, *optional*): the grid, `full` (default), `small`, `tiny` or five counts.
        split (`str`): `train`, the only split.

    Returns:
        `genzoo.Dataset` with the image column, no label column and the five factor columns.
    """
    import datasets
    from filelock import FileLock

    from .data import Dataset

    if split != "train":
        raise GenzooError(f"shapes has one split, 'train', not {split!r}.")
    counts = shapes_grid(argument)
    path = _cache_path(counts)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):  # one process renders; the others wait and read its result
        if not (path / "dataset_info.json").is_file():
            staging = path.with_name(path.name + ".partial")
            if staging.exists():
                import shutil

                shutil.rmtree(staging)
            _generate(counts).save_to_disk(str(staging))
            staging.rename(path)  # whole or not at all: a killed render leaves no half-written cache
    data = datasets.load_from_disk(str(path))
    return Dataset(data, image_column="image", label_column="", name=f"shapes:{argument}" if argument else "shapes",
                   factor_columns=list(FACTOR_NAMES))  # fmt: skip
