r"""Images in and out: the one place that turns files, PIL images, numpy arrays and torch tensors into pixel tensors
(and masks), and pixel tensors back into what the caller asked for, grids and captioned figures.

Conventions:
- pixels are float32 `(batch, channels, height, width)` tensors in [0, 1], as diffusers' image processor and
  `output_type="pt"` have them; generators work on [-1, 1] (`to_model_range`, `from_model_range`);
- masks follow diffusers: white (≥ 0.5) marks the pixels to repaint, black the known ones;
- every PIL mode reads as what it shows: `1` (bi-level), `L`, `P` (palette), `RGB`, `RGBA`/`LA`/`PA` (transparent
  pixels on black), `CMYK` and `YCbCr` (converted to RGB), 16-bit `I;16`, 32-bit `I` (integers in [0, 255] are read
  as 8-bit, in [0, 65535] as 16-bit) and `F` floats (in [0, 1], or in [0, 255] as PIL's own `L`→`F` conversion
  makes them); anything else is refused in one line;
- files are opened lazily and their size is checked before any pixel is decoded (`open_image`): an image above
  `MAX_IMAGE_PIXELS`, a decompression bomb, a truncated or unreadable file each give one `GenzooError` that names the
  file.
"""

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from .errors import GenzooError

__all__ = [
    "MAX_IMAGE_PIXELS",
    "ImageInput",
    "captioned_grid",
    "channels_of",
    "check_size",
    "convert_image",
    "crop_box",
    "from_model_range",
    "grid_shape",
    "image_grid",
    "image_to_tensor",
    "open_image",
    "pil_to_array",
    "prepare_image",
    "resize_shorter_side",
    "restoration_figure",
    "save_image",
    "to_chw_uint8",
    "to_mask",
    "to_model_range",
    "to_output",
    "to_pixels",
    "uint8_to_model_range",
]

#: Files above this many pixels are refused before decoding (a 16k × 16k PNG would take 768 MB decoded).
MAX_IMAGE_PIXELS = 8192 * 8192
ImageInput = PIL.Image.Image | list[PIL.Image.Image] | np.ndarray | torch.Tensor
# Modes converted to RGB (or L when they are grey) by PIL itself; transparent ones are first put on black.
_ALPHA_MODES = {"RGBA": "RGB", "RGBa": "RGB", "LA": "L", "La": "L", "PA": "RGB"}
_COLOUR_MODES = ("P", "CMYK", "YCbCr", "RGBX", "HSV")
_WIDE_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N")


# --- files ---------------------------------------------------------------------------------------------------------
def open_image(file: str | os.PathLike | IO[bytes], *, name: str = "image", max_pixels: int = MAX_IMAGE_PIXELS):
    r"""Open and decode an image file, checking its size before decoding it.

    `PIL.Image.open` reads only the header, so the pixel count is known before any pixel is decoded: an image above
    `max_pixels` is refused there, as are PIL's decompression bombs (which it raises or warns about).

    Args:
        file (`str`, `os.PathLike` or a binary file object): the image.
        name (`str`, defaults to `"image"`): what the messages call it (such as `"--mask"`).
        max_pixels (`int`, defaults to `MAX_IMAGE_PIXELS`): the largest width × height accepted.

    Returns:
        `PIL.Image.Image`: the decoded image, in its own mode (see `pil_to_array`).

    Raises:
        `GenzooError`: one line naming the file, for a missing, unreadable, truncated, empty or oversized image.
    """
    label = f"{name} {file}" if isinstance(file, str | os.PathLike) else name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            image = PIL.Image.open(file)
            if image.width * image.height > max_pixels:
                raise GenzooError(
                    f"The {label} is {image.width}x{image.height} pixels, above the limit of {max_pixels:,}; "
                    "downscale it first."
                )
            image.load()
    except GenzooError:
        raise
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning) as exc:
        raise GenzooError(f"The {label} is too large to decode safely ({exc}); downscale it first.") from None
    except FileNotFoundError:
        raise GenzooError(f"The {label} does not exist; check the path.") from None
    except (OSError, ValueError, SyntaxError) as exc:  # PIL.UnidentifiedImageError is an OSError
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise GenzooError(f"The {label} cannot be read as an image ({reason}); pass a PNG or JPEG file.") from None
    return image


# --- images in -----------------------------------------------------------------------------------------------------
def pil_to_array(image: PIL.Image.Image, num_channels: int | None = None, name: str = "image") -> np.ndarray:
    r"""A PIL image of any supported mode as a float32 `(H, W, C)` array in [0, 1].

    Args:
        image (`PIL.Image.Image`): the image (see the module docstring for the modes).
        num_channels (`int`, *optional*): 1 (grey, PIL's luminance for colour images) or 3 (RGB); `None` keeps the
            image's own channels (1 for grey modes, 3 for colour ones).
        name (`str`): what the error messages call it.

    Raises:
        `GenzooError`: for a mode genzoo cannot read, or wide values outside the ranges above.
    """
    mode = image.mode
    if mode == "1":
        image = image.convert("L")
    elif mode in _ALPHA_MODES or (mode in ("P", "L") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = PIL.Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        flat.alpha_composite(rgba)
        image = flat.convert(_ALPHA_MODES.get(mode, "RGB"))
    elif mode in _COLOUR_MODES:
        image = image.convert("RGB")
    elif mode in _WIDE_MODES:
        array = _wide_to_unit(np.asarray(image), mode, name)[..., None]
        return np.repeat(array, 3, axis=2) if num_channels == 3 else array
    elif mode not in ("L", "RGB"):
        raise GenzooError(f"The {name} is in PIL mode {mode!r}, which genzoo does not read; save it as RGB or L.")
    target = {1: "L", 3: "RGB"}.get(num_channels or 0)
    array = np.asarray(image.convert(target) if target else image, dtype=np.float32) / 255.0
    return array[..., None] if array.ndim == 2 else array


def _wide_to_unit(values: np.ndarray, mode: str, name: str) -> np.ndarray:
    """16-bit, 32-bit integer or float pixels in [0, 1] (see the module docstring for the ranges)."""
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise GenzooError(f"The {name} (mode {mode}) holds NaN or infinite pixels.")
    low, high = float(values.min()), float(values.max())
    if mode.startswith("I;16"):
        scale = 65535.0
    elif mode == "F" and low >= 0 and high <= 1:
        scale = 1.0
    elif low >= 0 and high <= 255:
        scale = 255.0
    elif mode == "I" and low >= 0 and high <= 65535:
        scale = 65535.0
    else:
        expected = "[0, 1] or [0, 255]" if mode == "F" else "[0, 255] (8-bit) or [0, 65535] (16-bit)"
        raise GenzooError(
            f"The {name} (mode {mode}) has values in [{low:.6g}, {high:.6g}]; genzoo reads {expected}: rescale it."
        )
    return (values / scale).astype(np.float32)


def to_pixels(image: ImageInput, num_channels: int | None = None, name: str = "image") -> torch.Tensor:
    r"""Images as a float32 `(batch, channels, height, width)` tensor in [0, 1] on the CPU, without resizing.

    Args:
        image: a PIL image or a list of them (any mode `pil_to_array` reads; converted to grey for
            `num_channels=1`, to RGB for 3); a numpy array `(H, W)`, `(H, W, C)` or `(N, H, W, C)` in [0, 1] (uint8
            arrays are divided by 255); or a torch tensor `(C, H, W)` or `(N, C, H, W)` in [0, 1], as diffusers'
            image processor takes them.
        num_channels (`int`, *optional*): the channels the model makes; arrays and tensors with another count are
            refused (PIL images are converted).
        name (`str`): what the error messages call the input.

    Returns:
        `torch.Tensor` of shape `(batch, channels, height, width)`.
    """
    if isinstance(image, PIL.Image.Image):
        image = [image]
    if isinstance(image, list | tuple):
        if not image or not all(isinstance(item, PIL.Image.Image) for item in image):
            raise GenzooError(f"`{name}` must be a PIL image, a list of PIL images, a numpy array or a torch tensor.")
        arrays = [pil_to_array(item, num_channels, name) for item in image]
        if len({array.shape for array in arrays}) != 1:
            raise GenzooError(f"The images in `{name}` have different sizes or modes; pass images of one size.")
        image = np.stack(arrays)
    if isinstance(image, np.ndarray):
        array = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4:
            raise GenzooError(
                f"`{name}` as a numpy array must be (H, W), (H, W, C) or (N, H, W, C), got {image.shape}."
            )
        image = torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))
    if not torch.is_tensor(image):
        raise GenzooError(
            f"`{name}` must be a PIL image, a numpy array or a torch tensor, got {type(image).__name__}."
        )
    pixels = image.detach().float().cpu()
    if pixels.dim() == 3:
        pixels = pixels[None]
    if pixels.dim() != 4 or pixels.shape[0] == 0:
        raise GenzooError(f"`{name}` as a tensor must be (C, H, W) or (N, C, H, W), got {tuple(image.shape)}.")
    if num_channels is not None and pixels.shape[1] != num_channels:
        raise GenzooError(
            f"`{name}` has {pixels.shape[1]} channel(s) but the model makes {num_channels}-channel images; convert "
            f"it (a PIL image is converted for you)."
        )
    if not torch.isfinite(pixels).all() or pixels.min() < -1e-3 or pixels.max() > 1 + 1e-3:
        raise GenzooError(
            f"`{name}` must hold pixels in [0, 1], got values in [{pixels.min():.3g}, {pixels.max():.3g}] (map "
            "[-1, 1] images with (x + 1) / 2)."
        )
    return pixels.clamp(0.0, 1.0)


def to_mask(mask_image: ImageInput) -> torch.Tensor:
    r"""An inpainting mask as a bool `(batch, 1, height, width)` tensor, True where pixels are to be repainted.

    The convention is diffusers': white (≥ 0.5 on [0, 1]) marks the pixels to repaint, black the known ones. A PIL
    mask of any mode is read as the grey levels it shows (a colour mask as the mean of its channels, a transparent
    one on black); arrays and tensors take the layouts of `to_pixels` (`(H, W)` too) and must have one channel.
    """
    if torch.is_tensor(mask_image) and mask_image.dim() == 2:
        mask_image = mask_image[None]
    mask = to_pixels(mask_image, None, name="mask_image")
    if mask.shape[1] != 1:
        if isinstance(mask_image, PIL.Image.Image | list | tuple):
            mask = mask.mean(dim=1, keepdim=True)
        else:
            raise GenzooError(f"`mask_image` must have one channel, got {mask.shape[1]}.")
    return mask >= 0.5


def check_size(pixels: torch.Tensor, size: int, what: str, name: str = "image") -> None:
    """A one-line `GenzooError` unless `pixels` are `size` × `size` (`what` says who needs that size)."""
    height, width = pixels.shape[-2:]
    if (height, width) != (size, size):
        raise GenzooError(f"`{name}` is {width}x{height} but {what} {size}x{size}.")


def to_model_range(pixels: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels on the generator's [-1, 1] scale."""
    return pixels * 2.0 - 1.0


def from_model_range(images: torch.Tensor) -> torch.Tensor:
    """A generator's [-1, 1] images as float32 pixels in [0, 1] (not clamped)."""
    return (images.float() + 1.0) / 2.0


# --- images out ----------------------------------------------------------------------------------------------------
def to_output(images: torch.Tensor, output_type: str) -> Any:
    """`(batch, C, H, W)` pixels in [0, 1] as `"pt"` (as they are), `"np"` (NHWC) or `"pil"` images."""
    from diffusers.image_processor import VaeImageProcessor

    if output_type == "pt":
        return images
    array = VaeImageProcessor.pt_to_numpy(images)
    return array if output_type == "np" else VaeImageProcessor.numpy_to_pil(array)


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
    from diffusers.utils import make_image_grid

    return make_image_grid(list(images), *grid_shape(len(images), num_classes, rows))


def captioned_grid(columns: list[tuple[str, torch.Tensor]], panel_size: int = 112) -> PIL.Image.Image:
    r"""A grid with one captioned column per `(caption, images)` pair and one row per image, each panel scaled up to
    `panel_size` pixels with nearest neighbours (so pixels stay visible).

    Args:
        columns (`list[tuple[str, torch.Tensor]]`): captions and `(batch, C, H, W)` images in [0, 1], one batch size.
        panel_size (`int`, defaults to 112): side of every panel.

    Returns:
        `PIL.Image.Image`: the RGB grid.
    """
    from PIL import ImageDraw

    caption_height = 14
    rows = len(columns[0][1])
    figure = PIL.Image.new("RGB", (panel_size * len(columns), rows * (panel_size + caption_height)), "white")
    draw = ImageDraw.Draw(figure)
    for column, (caption, pixels) in enumerate(columns):
        resized = F.interpolate(pixels.float().cpu(), size=(panel_size, panel_size), mode="nearest")
        for row, panel in enumerate(to_output(resized.clamp(0, 1), "pil")):
            top = row * (panel_size + caption_height)
            draw.text((column * panel_size + 4, top + 1), caption, fill="black")
            figure.paste(panel.convert("RGB"), (column * panel_size, top + caption_height))
    return figure


def restoration_figure(
    image: torch.Tensor | None,
    degraded: torch.Tensor | None,
    restored: torch.Tensor,
    original: torch.Tensor | None = None,
    panel_size: int = 112,
) -> PIL.Image.Image:
    r"""One row per image: input (the file as given, when shown), degraded (what the model saw, at full size),
    restored and original (when known); see `captioned_grid`.

    Args:
        image, degraded, restored, original (`torch.Tensor`): `(batch, C, H, W)` in [0, 1]; all but `restored` may
            be `None` (left out). Images of another size than `restored` (a low-resolution input) are shown enlarged.
        panel_size (`int`, defaults to 112): side of every panel.

    Returns:
        `PIL.Image.Image`: the figure.
    """
    columns = [("input", image), ("degraded", degraded), ("restored", restored), ("original", original)]
    return captioned_grid([(caption, pixels) for caption, pixels in columns if pixels is not None], panel_size)


def save_image(image: PIL.Image.Image, path: str | os.PathLike) -> None:
    """Write `image` to `path` atomically (a temporary file beside it, then a rename), so no half-written file is
    left behind; the format follows the suffix."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.partial")
    try:
        image.save(temporary, format=PIL.Image.registered_extensions().get(target.suffix.lower()))
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


# --- training images: converted, resized and cropped to the model's size (genzoo.data's rows) -------------------
# These follow the training data's conventions, which differ from restoration inputs' on purpose: transparent pixels
# go on white (photos and icons with an alpha channel), 16-bit images are rounded to 8 bits, and every image is
# resized (bicubic, shorter side) and cropped to the model's size.
def channels_of(image: PIL.Image.Image) -> int:
    """1 for a grey mode (`L`, `LA`, `1`, `I`, `I;16`, `F`), else 3: what a training image gives."""
    return 1 if image.mode in ("L", "LA", "1", "I", "F") or image.mode.startswith("I;16") else 3


def convert_image(image: PIL.Image.Image, num_channels: int) -> PIL.Image.Image:
    """`image` as "L" (1 channel) or "RGB" (3): 16-bit images scaled to 8 bits (not clipped), transparent ones
    (RGBA, LA, palette with transparency) composited onto white."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        array = np.asarray(image)
        if array.min() < 0 or array.max() > 65535:
            raise GenzooError(f"Image mode {mode} with values outside 0..65535 is not supported; save it as 8-bit.")
        # A 16-bit image: 0..65535 to 0..255 with rounding (v / 257 maps 65535 to 255 exactly).
        image = PIL.Image.fromarray(((array.astype(np.uint32) + 128) // 257).astype(np.uint8), mode="L")
    elif mode == "F":
        raise GenzooError("Floating-point images (PIL mode F) are not supported; save them as 8- or 16-bit.")
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = PIL.Image.alpha_composite(PIL.Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    target = "L" if num_channels == 1 else "RGB"
    return image if image.mode == target else image.convert(target)


def resize_shorter_side(image: PIL.Image.Image, image_size: int) -> PIL.Image.Image:
    """`image` resized (bicubic) so that its shorter side is `image_size`."""
    if image.size == (image_size, image_size):
        return image
    scale = image_size / min(image.size)
    new_size = (max(image_size, round(image.width * scale)), max(image_size, round(image.height * scale)))
    return image.resize(new_size, PIL.Image.Resampling.BICUBIC)


def crop_box(width: int, height: int, image_size: int, offset: tuple[float, float] | None) -> tuple[int, ...]:
    """The crop of `image_size` from a (width, height) image: centred, or at fractions `offset` in [0, 1)."""
    if offset is None:
        left, top = (width - image_size) // 2, (height - image_size) // 2
    else:
        left, top = int(offset[0] * (width - image_size + 1)), int(offset[1] * (height - image_size + 1))
    return left, top, left + image_size, top + image_size


def to_chw_uint8(image: PIL.Image.Image) -> np.ndarray:
    """A writable, C-contiguous (C, H, W) copy: batches stay in the standard NCHW layout (a channels-last batch would
    send convolutions down another kernel, with other rounding)."""
    array = np.asarray(image, dtype=np.uint8)
    return array[None].copy() if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


def prepare_image(
    image: PIL.Image.Image, image_size: int, num_channels: int, crop_offset: tuple[float, float] | None = None
) -> np.ndarray:
    """One image as a (C, H, W) uint8 array at `image_size`: converted (`convert_image`), resized so the shorter side
    is `image_size` (bicubic), then cropped in the centre or at `crop_offset` (fractions in [0, 1))."""
    image = resize_shorter_side(convert_image(image, num_channels), image_size)
    if image.size != (image_size, image_size):
        image = image.crop(crop_box(image.width, image.height, image_size, crop_offset))
    return to_chw_uint8(image)


def image_to_tensor(image: PIL.Image.Image, image_size: int, num_channels: int) -> torch.Tensor:
    """One PIL image to a (C, H, W) float tensor in [-1, 1] at `image_size` (shorter side, then centre crop)."""
    return uint8_to_model_range(torch.from_numpy(prepare_image(image, image_size, num_channels)))


def uint8_to_model_range(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to float32 in [-1, 1] (bit-identical to `array / 127.5 - 1` in NumPy float32)."""
    return pixels.float().div_(127.5).sub_(1.0)
