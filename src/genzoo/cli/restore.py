"""`genzoo restore`: run a restore task of the task table (inpaint, super-resolve, denoise, or a plugin's) on an
image, by inverting a saved pipeline's generator (or with the family's own implementation)."""

import argparse
from pathlib import Path
from typing import Any

from ..registry import TaskRegistration, get_task, tasks
from ..tasks.limits import DEFAULT_RESTARTS, DEFAULT_STEPS, MAX_CANDIDATES, MAX_RESTARTS, MAX_STEPS
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


def _restore_tasks() -> list[TaskRegistration]:
    return [task for task in tasks() if task.group == "restoration"]


def _choice(task: TaskRegistration) -> str:
    """A task's name on the command line: `super-resolve` for `super_resolve`."""
    return task.name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    restore_tasks = _restore_tasks()
    parser.description = (
        "Restore an image with a known degradation by inverting the generator, and save the restored image plus a "
        "figure: input, degraded (when it differs from the input) and restored. The tasks and their options come "
        "from the task table, so a plugin's restore task is a --task choice too."
    )
    parser.add_argument("pipeline", help="pipeline folder or Hub repo id")
    parser.add_argument(
        "--task", required=True, choices=[_choice(task) for task in restore_tasks],
        help="; ".join(f"{_choice(task)}: {task.description.rstrip('.')}" for task in restore_tasks),
    )  # fmt: skip
    parser.add_argument("-i", "--input", required=True, metavar="IN.png", help="the image to restore")
    masked = [_choice(task) for task in restore_tasks if "mask_image" in task.inputs]
    parser.add_argument("--mask", metavar="MASK.png", help=f"mask, white = repaint (only {', '.join(masked)})")
    parser.add_argument("-o", "--output", default="restored.png", metavar="OUT.png", help="the restored image")
    parser.add_argument("--figure", metavar="FIG.png", help="the figure (default: OUT-figure.png beside -o)")
    seen: set[str] = set()
    for task in restore_tasks:  # each task's options, as typed strings checked against the table's ranges
        for option in task.options:
            if option.name in seen:
                continue
            seen.add(option.name)
            users = ", ".join(_choice(t) for t in restore_tasks if any(o.name == option.name for o in t.options))
            parser.add_argument(
                option.flag, dest=f"task_option_{option.name}", metavar=option.kind.__name__.upper(),
                help=f"{users}: {option.help} (default: {option.default})",
            )  # fmt: skip
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="treat the input as a clean original: degrade it first with the task's degradation and options (mask, "
        "downsample, add noise, ...) and show it in the figure",
    )
    parser.add_argument("--class-label", help="class of the image (conditional models; default: search all)")
    parser.add_argument("--steps", type=int, help=f"optimisation steps (default: {DEFAULT_STEPS})")
    parser.add_argument(
        "--restarts", type=int, help=f"starting points per image and class (default: {DEFAULT_RESTARTS})"
    )
    parser.add_argument(
        "--candidates",
        type=int,
        metavar="N",
        help="screen N prior draws per image and class and start from the best --restarts of them (cheap: a "
        "forward pass each; helps GANs find the digit; default: no screening)",
    )
    parser.add_argument("--seed", type=seed, default=0)
    add_loading_options(parser, dtype=False)  # the inversion optimises in float32


def _check_counts(args: argparse.Namespace) -> dict[str, Any]:
    """The search's counts, bounded before anything is loaded or allocated; returns them as the flags gave them."""
    given = {"--steps": args.steps, "--restarts": args.restarts, "--candidates": args.candidates}
    steps = DEFAULT_STEPS if args.steps is None else args.steps
    restarts = DEFAULT_RESTARTS if args.restarts is None else args.restarts
    if not 1 <= steps <= MAX_STEPS or not 1 <= restarts <= MAX_RESTARTS:
        raise ValueError(
            f"--steps must be from 1 to {MAX_STEPS:,} and --restarts from 1 to {MAX_RESTARTS:,}, got {steps} "
            f"and {restarts}."
        )
    if args.candidates is not None and args.candidates < restarts:
        raise ValueError(f"--candidates must be at least --restarts ({restarts}), got {args.candidates}.")
    if args.candidates is not None and args.candidates > MAX_CANDIDATES:
        raise ValueError(f"--candidates must be at most {MAX_CANDIDATES:,}, got {args.candidates:,}.")
    args.steps, args.restarts = steps, restarts
    return {flag: value for flag, value in given.items() if value is not None}


def run(args: argparse.Namespace) -> None:
    # The cheap checks first: a wrong path or option is answered before torch is imported.
    check_pipeline_source(args.pipeline)
    task = get_task(args.task)
    takes_mask = "mask_image" in task.inputs
    if (args.mask is None) == takes_mask:
        raise ValueError(
            f"--mask is required for --task {args.task}, and only for it."
            if takes_mask
            else f"--mask is only for the tasks that repaint a mask, not for --task {args.task}."
        )
    search_flags = _check_counts(args)
    options = task.resolve_options({o.name: getattr(args, f"task_option_{o.name}", None) for o in task.options})
    check_existing_file(args.input, "-i/--input")
    if args.mask:
        check_existing_file(args.mask, "--mask")
    label = class_label(args.class_label)
    figure_path = (
        Path(args.figure) if args.figure else Path(args.output).with_name(Path(args.output).stem + "-figure.png")
    )
    check_output_path(args.output)
    check_output_path(str(figure_path))
    import torch  # lazy

    from ..images import open_image, restoration_figure, to_mask, to_output, to_pixels  # lazy

    image = open_image(args.input, name="-i/--input image")
    inputs = {"mask_image": to_mask(open_image(args.mask, name="--mask image"))} if takes_mask else {}
    pipe = load_pipeline(args)
    degradation = task.degradation(**inputs, **options)
    pixels = to_pixels(image, pipe.model.config.num_channels, name="input")
    size = int(pipe.model.config.image_size)
    if args.simulate:
        if pixels.shape[-2:] != (size, size):
            raise ValueError(
                f"With --simulate the input is the clean original, so it must be {size}x{size}, got "
                f"{pixels.shape[-1]}x{pixels.shape[-2]}."
            )
        observed = degradation.degrade(pixels, generator=torch.Generator().manual_seed(args.seed))
    else:
        observed = pixels
    degradation.check(observed, size)
    search = task.call_options(
        pipe, class_labels=label, num_steps=args.steps, num_restarts=args.restarts, num_candidates=args.candidates,
        generator=torch.Generator().manual_seed(args.seed), output_type="pt",
    )  # fmt: skip
    if search_flags and "num_steps" not in search:  # a one-pass model: a search setting would be ignored silently
        raise ValueError(
            f"{', '.join(search_flags)}: this {type(pipe.model).__name__} restores in one forward pass "
            "and does not search; drop the flag (the search settings are for inverting a generator)."
        )
    restored = getattr(pipe, task.method)(observed, **inputs, **options, **search).images
    figure = restoration_figure(pixels, _degraded_column(degradation, observed, size, args.simulate), restored)
    save_image(to_output(restored, "pil")[0], args.output)
    save_image(figure, str(figure_path))
    print(f"Saved the restored image to {args.output} and the figure to {figure_path}")


def _degraded_column(degradation: Any, observed: Any, size: int, simulated: bool) -> Any:
    """What the model saw, at full size, for the figure: always after --simulate (the input column is then the clean
    original), otherwise only when it shows more than the input itself (masked pixels in grey)."""
    import torch.nn.functional as F  # lazy

    shown = degradation.display(observed, size)
    if simulated:
        return shown
    enlarged = F.interpolate(observed, size=(size, size), mode="nearest")
    return None if shown.shape == enlarged.shape and bool((shown == enlarged).all()) else shown
