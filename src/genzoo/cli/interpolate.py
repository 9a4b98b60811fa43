"""`genzoo interpolate`: a grid of latent interpolations, one slerp path per row."""

import argparse

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="pipeline folder or Hub repo id")
    parser.add_argument("--rows", type=int, default=4, help="interpolations, one per row (default: 4)")
    parser.add_argument("--steps", type=int, default=8, help="images per row, both ends included (default: 8)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--class-label", type=int64, help="class of every row (conditional models)")
    parser.add_argument("-o", "--output", default="interpolation.png", help="PNG file for the grid")
    add_loading_options(parser)


def run(args: argparse.Namespace) -> None:
    check_pipeline_source(args.pipeline)
    if args.rows < 1 or args.steps < 2:  # before the (slow) loading
        raise ValueError(f"--rows must be at least 1 and --steps at least 2, got {args.rows} and {args.steps}.")
    check_output_path(args.output)
    pipe = load_pipeline(args)
    import torch  # lazy

    generator = torch.Generator().manual_seed(args.seed)
    grid = pipe.interpolation_grid(args.rows, args.steps, generator=generator, class_labels=args.class_label)
    save_image(grid, args.output)
    print(f"Saved {args.rows} interpolations of {args.steps} images to {args.output}")
