"""`genzoo explore`: a grid of latent directions, SeFa directions (GANs) or KL-ranked latent dimensions (VAEs), or the
grid of an exploration task a plugin adds to the task table (InfoGAN's `--method codes`: one row per code value)."""

import argparse
import math

from ..registry import TaskRegistration, task_for_method, tasks
from ..tasks.limits import MAX_GRID_IMAGES
from .common import (
    add_loading_options,
    check_output_path,
    check_pipeline_source,
    class_label,
    load_pipeline,
    save_image,
    seed,
)

__all__ = ["add_arguments", "run"]


def _finder() -> TaskRegistration:
    """The task table's row for `pipe.find_directions`, whose options are the command's `--method` and `-k`."""
    finder = task_for_method("find_directions")
    assert finder is not None, "genzoo's core plugin registers find_directions"
    return finder


def _grid_tasks() -> dict[str, TaskRegistration]:
    """The exploration tasks that plugins add beside genzoo's directions: each draws its own grid, called as
    `method(columns=..., generator=...)`, and is offered as `--method NAME`."""
    finder = _finder()
    return {task.name: task for task in tasks() if task.group == "exploration" and task.plugin != finder.plugin}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    method, count = _finder().option("method"), _finder().option("num_directions")
    grid_tasks = _grid_tasks()
    parser.description = "One row per direction, one column per step along it, from one random latent."
    parser.add_argument("pipeline", help="pipeline folder or Hub repo id")
    added = "".join(f"; {name}: {task.description}" for name, task in grid_tasks.items())
    parser.add_argument(
        "--method",
        choices=[*method.choices, *grid_tasks],
        default=method.default,
        help=f"{method.help}{added} (default: %(default)s)",
    )
    parser.add_argument(
        "-k", "--num-directions", type=int, default=count.default, help=f"{count.help} (default: %(default)s)"
    )
    parser.add_argument("--values", default="-3,3", metavar="MIN,MAX", help="range of the steps (default: -3,3)")
    parser.add_argument("--steps", type=int, default=7, help="images per row (default: 7)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--class-label", help="class of every row (conditional models)")
    parser.add_argument("-o", "--output", default="directions.png", help="PNG file for the grid")
    add_loading_options(parser)


def run(args: argparse.Namespace) -> None:
    check_pipeline_source(args.pipeline)
    try:
        low, high = (float(v) for v in args.values.split(","))
    except ValueError:
        raise ValueError(f"--values must be MIN,MAX such as -3,3, got {args.values!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"--values must be finite numbers, got {args.values!r}.")
    _finder().option("num_directions").parse("explore", args.num_directions)  # its range, in one line
    if args.steps < 2 or args.num_directions < 1:
        raise ValueError(f"--steps must be at least 2 and -k at least 1, got {args.steps} and {args.num_directions}.")
    if args.steps * args.num_directions > MAX_GRID_IMAGES:
        raise ValueError(
            f"-k {args.num_directions} directions x --steps {args.steps} would draw "
            f"{args.num_directions * args.steps:,} images, above the limit of {MAX_GRID_IMAGES:,}; lower -k or --steps"
        )
    label = class_label(args.class_label)
    check_output_path(args.output)
    pipe = load_pipeline(args)
    import torch  # lazy

    grid_task = _grid_tasks().get(args.method)
    if grid_task is not None:  # a plugin's exploration task draws its own grid
        if grid_task.name not in pipe.supported_tasks():
            raise ValueError(f"--method {args.method} does not apply to {args.pipeline}: {grid_task.description}")
        draw = getattr(pipe, grid_task.method)
        save_image(draw(columns=args.steps, generator=torch.Generator().manual_seed(args.seed)), args.output)
        print(f"Saved the {grid_task.label or grid_task.name} grid ({args.steps} columns) to {args.output}")
        return
    generator = torch.Generator().manual_seed(args.seed)
    options = {"generator": generator} if args.method == "dims" else {}
    directions = pipe.find_directions(method=args.method, num_directions=args.num_directions, **options)
    grid = pipe.traverse(
        directions,
        values=torch.linspace(low, high, args.steps).tolist(),
        generator=torch.Generator().manual_seed(args.seed),
        class_labels=label,
    )
    save_image(grid, args.output)
    unit = "mean KL (nats)" if args.method == "dims" else "eigenvalue"
    for row, strength in enumerate(directions.strengths.tolist()):
        what = f"dim {int(directions.dims[row])}" if directions.dims is not None else f"direction {row}"
        print(f"row {row}: {what}, {unit} {strength:.4g}")
    print(f"Saved {len(directions)} directions x {args.steps} steps to {args.output}")
