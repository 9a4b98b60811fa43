"""`genzoo sample`: a grid of images, or a folder of PNGs, from a saved pipeline."""

import argparse
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import check_writable
from .common import (
    add_loading_options,
    check_output_path,
    check_pipeline_source,
    int64,
    load_pipeline,
    save_image,
    seed,
)

__all__ = ["add_arguments", "run"]

# The largest grid `genzoo sample` builds (its pixels, in bytes): a bigger one is not viewable, and its memory grows
# with -n; --format folder streams any number of images to disk instead.
MAX_GRID_BYTES = 256 * 2**20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="pipeline folder or Hub repo id")
    parser.add_argument("-n", "--num-images", type=int, default=64)
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument(
        "-o", "--output", help="PNG file for the grid (default samples.png), or the new folder for --format folder"
    )
    parser.add_argument(
        "--format",
        choices=["grid", "folder"],
        default="grid",
        help="one grid image (default), or a folder with one PNG per image (for evaluation: genzoo evaluate --images)",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="images generated at once (default 256)")
    parser.add_argument("--class-label", type=int64, help="class to draw (conditional models)")
    parser.add_argument("--rows", type=int, help="grid rows (default: near-square)")
    add_loading_options(parser)


def run(args: argparse.Namespace) -> None:
    check_pipeline_source(args.pipeline)
    from ..grids import grid_shape, image_grid  # lazy: grids imports diffusers and torch

    n = args.num_images
    if n < 1 or args.batch_size < 1:
        raise ValueError(f"-n and --batch-size must be at least 1, got {n} and {args.batch_size}.")
    folder = args.format == "folder"
    output = Path(args.output or ("samples" if folder else "samples.png"))
    if folder:
        if output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise ValueError(
                f"-o {output} already exists and is not an empty folder; name a new one (nothing is overwritten)."
            )
        check_writable(output, "-o")
    else:
        grid_shape(n, rows=args.rows)  # checks --rows before the (slow) sampling
        check_output_path(str(output))
    pipe = load_pipeline(args)
    config = pipe.model.config
    if not folder and n * int(config.num_channels) * int(config.image_size) ** 2 > MAX_GRID_BYTES:
        raise ValueError(
            f"A grid of {n} images of {config.image_size}x{config.image_size} would exceed "
            f"{MAX_GRID_BYTES // 2**20} MB; write one PNG per image with --format folder -o DIR, or lower -n."
        )
    pipe.set_progress_bar_config(disable=True)
    batches = _sample_batches(pipe, n, args.batch_size, args.class_label, args.seed)
    if folder:
        _write_folder(batches, output, n)
        print(f"Saved {n} images to {output}/ (one PNG each)")
        return
    save_image(image_grid([image for _, batch in batches for image in batch], rows=args.rows), str(output))
    print(f"Saved {n} images to {output}")


def _sample_batches(
    pipe: Any, n: int, batch_size: int, class_label: int | None, seed: int
) -> Iterator[tuple[int, list[Any]]]:
    """`(index of the first image, PIL images)` of each batch of `n` samples, with the class labels of all `n` images
    spread as one call would spread them, so batching does not change which class each image gets."""
    import torch  # lazy
    from tqdm.auto import tqdm  # lazy

    num_classes = pipe.model.num_classes
    labels: list[int] | None = None
    if num_classes:
        labels = [class_label] * n if class_label is not None else (torch.arange(n) * num_classes // n).tolist()
    elif class_label is not None:
        pipe.prepare_class_labels(class_label, 1)  # the pipeline's own error for an unconditional model
    generator = torch.Generator().manual_seed(seed)
    for start in tqdm(range(0, n, batch_size), desc="sampling", unit="batch", disable=n <= batch_size):
        size = min(batch_size, n - start)
        kwargs: dict[str, Any] = {"class_labels": labels[start : start + size]} if labels else {"batch_size": size}
        yield start, pipe(generator=generator, **kwargs).images


def _write_folder(batches: Iterator[tuple[int, list[Any]]], output: Path, n: int) -> None:
    """Stream the images to `output/NNN.png` through a hidden staging folder renamed at the end, so memory stays one
    batch whatever `n` is and a killed run leaves no half-written folder."""
    staging = output.with_name(f".{output.name}.partial")
    if staging.exists():  # left by a run that was killed
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    width = len(str(n - 1))
    try:
        for start, batch in batches:
            for offset, image in enumerate(batch):
                image.save(staging / f"{start + offset:0{width}d}.png")
        if output.exists():
            output.rmdir()  # empty, checked before sampling
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
