"""genzoo.images: every PIL mode read as the image it shows (as images and as masks), files opened with their size
checked before decoding, one-line errors for bombs, truncated, empty and text files."""

import io

import numpy as np
import PIL.Image
import pytest
import torch

from genzoo.errors import GenzooError
from genzoo.images import open_image, pil_to_array, to_mask, to_pixels

# A 4 × 4 mask: the left half repainted (white), the right half known (black).
LEFT = np.zeros((4, 4), dtype=bool)
LEFT[:, :2] = True


def _mask_in_mode(mode: str) -> PIL.Image.Image:
    grey = PIL.Image.fromarray((LEFT * 255).astype(np.uint8), mode="L")
    if mode == "1":
        return grey.convert("1")
    if mode == "I;16":
        return PIL.Image.fromarray((LEFT * 65535).astype(np.uint16))  # mode I;16
    if mode == "I":
        return PIL.Image.fromarray((LEFT * 65535).astype(np.int32), mode="I")
    if mode == "F":
        return PIL.Image.fromarray(LEFT.astype(np.float32), mode="F")
    if mode == "P":
        return grey.convert("RGB").convert("P")
    if mode == "RGBA":  # white strokes on a transparent background, as a drawing program saves them
        rgba = np.zeros((4, 4, 4), dtype=np.uint8)
        rgba[LEFT] = 255
        return PIL.Image.fromarray(rgba, mode="RGBA")
    return grey.convert(mode)


@pytest.mark.parametrize("mode", ["1", "L", "I;16", "I", "F", "P", "RGB", "RGBA", "CMYK", "LA", "YCbCr"])
def test_every_mode_reads_as_a_mask_of_the_right_pixels(mode):
    mask = to_mask(_mask_in_mode(mode))
    assert mask.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(mask[0, 0].numpy(), LEFT)


@pytest.mark.parametrize("mode", ["1", "L", "I;16", "I", "F", "P", "RGB", "RGBA", "CMYK"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_mode_reads_as_an_image_in_unit_range(mode, channels):
    pixels = to_pixels(_mask_in_mode(mode), channels)
    assert pixels.shape == (1, channels, 4, 4)
    np.testing.assert_allclose(pixels[0, 0].numpy(), LEFT.astype(np.float32), atol=1 / 255)


def test_grey_levels_of_wide_modes_are_scaled_by_their_depth():
    levels = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
    np.testing.assert_allclose(pil_to_array(PIL.Image.fromarray(levels))[..., 0], levels / 65535)
    eight_bit = np.array([[0, 64, 128, 255]], dtype=np.int32)
    np.testing.assert_allclose(pil_to_array(PIL.Image.fromarray(eight_bit, mode="I"))[..., 0], eight_bit / 255)
    pil_float = PIL.Image.fromarray(np.array([[0, 64, 128, 255]], dtype=np.uint8)).convert("F")  # PIL's 0..255 floats
    np.testing.assert_allclose(pil_to_array(pil_float)[..., 0], np.array([[0, 64, 128, 255]]) / 255, rtol=1e-6)


@pytest.mark.parametrize(
    ("array", "mode", "match"),
    [
        (np.array([[0, 70000]], dtype=np.int32), "I", r"\[0, 255\] \(8-bit\) or \[0, 65535\]"),
        (np.array([[-1, 0]], dtype=np.int32), "I", "rescale"),
        (np.array([[0.0, 300.0]], dtype=np.float32), "F", r"\[0, 1\] or \[0, 255\]"),
        (np.array([[0.0, np.nan]], dtype=np.float32), "F", "NaN"),
    ],
)
def test_wide_values_out_of_range_are_refused_in_one_line(array, mode, match):
    with pytest.raises(GenzooError, match=match):
        to_mask(PIL.Image.fromarray(array, mode=mode))


def test_a_mode_genzoo_cannot_read_is_refused():
    with pytest.raises(GenzooError, match="mode 'LAB'"):
        to_pixels(PIL.Image.new("LAB", (4, 4)), 1)


def _saved(image: PIL.Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_a_tiff_float_mask_and_a_jpeg_cmyk_mask_from_files(tmp_path):
    tiff = tmp_path / "mask.tif"
    tiff.write_bytes(_saved(_mask_in_mode("F"), "TIFF"))
    np.testing.assert_array_equal(to_mask(open_image(tiff))[0, 0].numpy(), LEFT)
    big = np.zeros((32, 32), dtype=bool)
    big[:, :16] = True  # JPEG blocks: a mask large enough for its compression to keep the edge
    cmyk = PIL.Image.fromarray((big * 255).astype(np.uint8), mode="L").convert("CMYK")
    jpeg = tmp_path / "mask.jpg"
    jpeg.write_bytes(_saved(cmyk, "JPEG"))
    opened = open_image(jpeg)
    assert opened.mode == "CMYK"
    np.testing.assert_array_equal(to_mask(opened)[0, 0].numpy(), big)


def test_open_image_checks_the_size_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    PIL.Image.new("L", (300, 300)).save(path)
    with pytest.raises(GenzooError, match=r"300x300 pixels, above the limit of 10,000"):
        open_image(path, name="mask", max_pixels=10_000)


def test_a_decompression_bomb_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    PIL.Image.new("L", (200, 200)).save(path)
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)  # PIL's own bomb check (a warning, then an error)
    with pytest.raises(GenzooError, match="too large to decode safely"):
        open_image(path, name="image")


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "cannot be read as an image"), (b"hello, world\n", "cannot be read as an image"), (None, "truncated")],
)
def test_empty_text_and_truncated_files_name_the_file(tmp_path, content, match):
    path = tmp_path / "upload.png"
    if content is None:
        content = _saved(PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)), "PNG")
        content = content[: len(content) // 2]
    path.write_bytes(content)
    with pytest.raises(GenzooError, match=match) as error:
        open_image(path, name="mask")
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(GenzooError, match="does not exist"):
        open_image(tmp_path / "nowhere.png")


def test_arrays_and_tensors_keep_their_layouts():
    array = np.full((2, 4, 4, 3), 0.5, dtype=np.float32)
    assert to_pixels(array, 3).shape == (2, 3, 4, 4)
    assert to_pixels(torch.full((3, 4, 4), 0.25), 3).shape == (1, 3, 4, 4)
    with pytest.raises(GenzooError, match="channel"):
        to_pixels(torch.zeros(1, 3, 4, 4), 1)
