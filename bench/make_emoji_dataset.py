"""Build a 32x32 RGB image folder from the Noto Color Emoji font that Debian ships (`fonts-noto-color-emoji`).

Every emoji the font draws as one colour glyph (single code points, skin-tone variants and national flags; ~3,000
images) is rendered at the font's 109-px bitmap size, composited on white, cropped to a centred square and
downsampled with a Lanczos filter. The folder is rebuilt by this script rather than committed.

    # the font: `apt-get install fonts-noto-color-emoji`, or without installing:
    apt-get download fonts-noto-color-emoji && dpkg-deb -x fonts-noto-color-emoji_*.deb emoji-deb
    python bench/make_emoji_dataset.py --font emoji-deb/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf -o emoji32

Train on it with `genzoo train resnet --dataset imagefolder:emoji32 ...` (bench/rgb_compare.py does so). With
`--holdout 300`, 300 of the images go to `emoji32-heldout/` instead, for restoration models to be scored on images
they never saw (`bench/restoration.py --images emoji32-heldout`).
"""

import argparse
import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DEFAULT_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
STRIKE = 109  # the only bitmap size of Noto Color Emoji (CBDT)
# Unicode blocks that hold the emoji drawn as one code point.
RANGES = [(0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF),
          (0x2600, 0x27BF)]  # fmt: skip
SKIN_TONES = range(0x1F3FB, 0x1F400)
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


def render(text: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    """`text` drawn in colour on a transparent canvas wide enough for two glyphs."""
    canvas = Image.new("RGBA", (3 * STRIKE, 2 * STRIKE), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((canvas.width // 2, canvas.height // 2), text, font=font, embedded_color=True,
                                anchor="mm")  # fmt: skip
    return canvas


def candidates() -> Iterator[str]:
    for start, end in RANGES:
        for code in range(start, end + 1):
            yield chr(code)
            for tone in SKIN_TONES:  # the font draws a toned person as one glyph, other pairs as two
                yield chr(code) + chr(tone)
    for first in REGIONAL_INDICATORS:  # a valid country-code pair is one flag glyph
        for second in REGIONAL_INDICATORS:
            yield chr(first) + chr(second)


def to_square(image: Image.Image, size: int) -> Image.Image:
    """The glyph on white, centred in a square around its bounding box, resized to `size`."""
    left, top, right, bottom = image.getbbox()
    side = max(right - left, bottom - top)
    cx, cy = (left + right) // 2, (top + bottom) // 2
    box = (cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side)
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, image).crop(box).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--font", default=DEFAULT_FONT, help=f"NotoColorEmoji.ttf (default: {DEFAULT_FONT})")
    parser.add_argument("-o", "--output", default="emoji32", help="folder to write (default: emoji32)")
    parser.add_argument("--size", type=int, default=32, help="image size (default: 32)")
    parser.add_argument(
        "--holdout",
        type=int,
        default=0,
        metavar="N",
        help="move N images, drawn by a hash of their names, to OUTPUT-heldout (for bench/restoration.py --images)",
    )
    args = parser.parse_args()

    font = ImageFont.truetype(args.font, STRIKE)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    count = 0
    for text in candidates():
        image = render(text, font)
        box = image.getbbox()
        if box is None or box[2] - box[0] > 1.5 * STRIKE:  # nothing drawn, or two glyphs (no such sequence)
            continue
        digest = hashlib.sha1(np.asarray(image).tobytes()).hexdigest()
        if digest in seen:  # a modifier the font ignores, or an alias
            continue
        seen.add(digest)
        name = "-".join(f"{ord(c):x}" for c in text)
        to_square(image, args.size).save(output / f"{name}.png")
        count += 1
    print(f"Wrote {count} images of {args.size}x{args.size} to {output}")
    if args.holdout:
        heldout = output.with_name(output.name + "-heldout")
        heldout.mkdir(exist_ok=True)
        # A hash of the name decides, so the split does not depend on the order the font lists its glyphs in.
        files = sorted(output.glob("*.png"), key=lambda path: hashlib.sha1(path.name.encode()).hexdigest())
        for path in files[: args.holdout]:
            path.replace(heldout / path.name)
        print(f"Moved {args.holdout} of them to {heldout} (no model trains on them)")


if __name__ == "__main__":
    main()
