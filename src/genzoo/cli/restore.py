"""`genzoo restore`: inpaint, super-resolve or denoise an image by inverting a saved pipeline's generator."""

import argparse
from pathlib import Path

from .common import (
    add_loading_options,
    check_existing_file,
    check_output_path,
    check_pipeline_source,
    class_label,
    load_pipeline,
    save_image,
    seed,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Restore an image with a known degradation by inverting the generator, and save the restored image plus a "
        "figure: input, degraded, restored and, with --simulate, the original."
    )
    parser.add_argument("pipeline", help="pipeline folder or Hub repo id")
    parser.add_argument("--task", required=True, choices=["inpaint", "super-resolve", "denoise"])
    parser.add_argument("-i", "--input", required=True, metavar="IN.png", help="the image to restore")
    parser.add_argument("--mask", metavar="MASK.png", help="inpainting mask: white = repaint (inpaint only)")
    parser.add_argument("-o", "--output", default="restored.png", metavar="OUT.png", help="the restored image")
    parser.add_argument("--figure", metavar="FIG.png", help="the figure (default: OUT-figure.png beside -o)")
    parser.add_argument("--scale", type=int, default=4, help="super-resolution factor (default: 4)")
    parser.add_argument("--noise-std", type=float, default=0.1, help="denoising: noise σ on [0, 1] pixels (0.1)")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="treat the input as a clean original: degrade it first (mask, downsample by --scale or add noise of "
        "--noise-std) and show it in the figure",
    )
    parser.add_argument("--class-label", help="class of the image (conditional models; default: search all)")
    parser.add_argument("--steps", type=int, default=200, help="optimisation steps (default: 200)")
    parser.add_argument("--restarts", type=int, default=4, help="starting points per image and class (default: 4)")
    parser.add_argument(
        "--candidates",
        type=int,
        metavar="N",
        help="screen N prior draws per image and class and start from the best --restarts of them (cheap: a "
        "forward pass each; helps GANs find the digit; default: no screening)",
    )
    parser.add_argument("--seed", type=seed, default=0)
    add_loading_options(parser, dtype=False)  # the inversion optimises in float32


def run(args: argparse.Namespace) -> None:
    # The cheap checks first: a wrong path or option is answered before torch is imported.
    check_pipeline_source(args.pipeline)
    if (args.mask is None) == (args.task == "inpaint"):
        raise ValueError("--mask is required for --task inpaint, and only for it.")
    if args.steps < 1 or args.restarts < 1:
        raise ValueError(f"--steps and --restarts must be at least 1, got {args.steps} and {args.restarts}.")
    if args.candidates is not None and args.candidates < args.restarts:
        raise ValueError(f"--candidates must be at least --restarts ({args.restarts}), got {args.candidates}.")
    check_existing_file(args.input, "-i/--input")
    if args.mask:
        check_existing_file(args.mask, "--mask")
    label = class_label(args.class_label)
    import PIL.Image  # lazy
    import torch  # lazy

    from ..restoration import (  # lazy
        Downsample,
        GaussianNoise,
        Mask,
        restoration_figure,
        to_mask,
        to_output,
        to_pixels,
    )

    with PIL.Image.open(args.input) as opened:
        image = opened.copy()
    mask = None
    if args.mask:
        with PIL.Image.open(args.mask) as opened:
            mask = to_mask(opened.copy())
    figure_path = (
        Path(args.figure) if args.figure else Path(args.output).with_name(Path(args.output).stem + "-figure.png")
    )
    check_output_path(args.output)
    check_output_path(str(figure_path))
    pipe = load_pipeline(args)
    degradation = {"inpaint": lambda: Mask(mask), "super-resolve": lambda: Downsample(args.scale),
                   "denoise": lambda: GaussianNoise(args.noise_std)}[args.task]()  # fmt: skip
    pixels = to_pixels(image, pipe.model.config.num_channels, name="input")
    size = int(pipe.model.config.image_size)
    original = None
    if args.simulate:
        if pixels.shape[-2:] != (size, size):
            raise ValueError(
                f"With --simulate the input is the clean original, so it must be {size}x{size}, got "
                f"{pixels.shape[-1]}x{pixels.shape[-2]}."
            )
        original = pixels
        observed = degradation.degrade(pixels, generator=torch.Generator().manual_seed(args.seed))
    else:
        observed = pixels
    degradation.check(observed, size)
    generator = torch.Generator().manual_seed(args.seed)
    restored = pipe.restore(
        observed, degradation, class_labels=label, num_steps=args.steps,
        num_restarts=args.restarts, num_candidates=args.candidates, generator=generator, output_type="pt",
    ).images  # fmt: skip
    figure = restoration_figure(
        pixels if not args.simulate else None, degradation.display(observed, size), restored, original
    )
    save_image(to_output(restored, "pil")[0], args.output)
    save_image(figure, str(figure_path))
    print(f"Saved the restored image to {args.output} and the figure to {figure_path}")
