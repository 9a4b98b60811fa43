"""The `genzoo` command line: train, export, sample, interpolate, restore, explore, evaluate, demo, push, recipes,
plugins.

Errors in what the user typed end in one line on stderr and exit status 1 (set `GENZOO_DEBUG=1` for the
traceback); Ctrl-C exits with 130. The same entry point runs under `accelerate launch -m genzoo train ...`.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the `genzoo` command line with `argv` (defaults to `sys.argv[1:]`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    import warnings

    from .errors import GenzooError, GenzooWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", GenzooWarning)
            warnings.showwarning = _show_warning
            args.handler(args)
    except (GenzooError, ValueError, OSError) as exc:  # OSError: unwritable -o/--json paths, network failures
        if os.environ.get("GENZOO_DEBUG"):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"genzoo: error: {message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("genzoo: interrupted", file=sys.stderr)
        sys.exit(130)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """genzoo's own warnings as one line, `genzoo: warning: ...`; others as Python shows them."""
    from .errors import GenzooWarning

    if issubclass(category, GenzooWarning):
        print(f"genzoo: warning: {' '.join(str(message).split())}", file=sys.stderr)
    else:  # the default route, which a recorder (warnings.catch_warnings(record=True), pytest) may have replaced
        import warnings

        warnings._showwarnmsg_impl(warnings.WarningMessage(message, category, *args))  # type: ignore[attr-defined]


# The dtypes --dtype takes, as names of torch attributes.
_DTYPES = ("float32", "float16", "bfloat16")


def _add_loading_options(parser: argparse.ArgumentParser, dtype: bool = True) -> None:
    """--device, --dtype and --revision, the options of every command that loads a pipeline to sample it."""
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    if dtype:
        parser.add_argument("--dtype", choices=_DTYPES, help="load the weights in this dtype (default: as saved)")
    parser.add_argument("--revision", help="Hub revision")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `genzoo` subcommand; each sets `handler`, the function that runs it."""
    parser = argparse.ArgumentParser(prog="genzoo", description="Train, sample and share image generative models.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model and save it as a pipeline")
    train.add_argument("model", nargs="?", help="model family, e.g. dcgan (see `genzoo plugins`); required")
    train.add_argument(
        "--dataset",
        help="dataset spec: SOURCE[:ARG] for a registered source (see `genzoo plugins`), a folder or a "
        "parquet file; default mnist-5k",
    )
    train.add_argument("--objective", help="training objective (default: the model's own; see `genzoo plugins`)")
    train.add_argument("--recipe", help="shipped run config of a published protocol (see `genzoo recipes`)")
    train.add_argument("--config", help="YAML run config; command-line flags and --set override it")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key")
    train.add_argument("--output-dir", help="where the pipeline, samples and checkpoints go")
    steps = train.add_mutually_exclusive_group()
    steps.add_argument("--max-steps", type=int, help="training steps")
    steps.add_argument("--epochs", type=int, help="training epochs (instead of --max-steps)")
    train.add_argument("--batch-size", type=int, help="images per step and process")
    train.add_argument("--seed", type=int)
    train.add_argument(
        "--mixed-precision",
        choices=["no", "bf16", "fp16"],
        help="default: Accelerate's own setting (accelerate launch --mixed_precision, accelerate config), else no",
    )
    train.add_argument(
        "--num-threads",
        type=int,
        metavar="N",
        help="PyTorch CPU threads per process (default: OMP_NUM_THREADS if set, else the free cores at start)",
    )
    train.add_argument("--log-with", action="append", metavar="TRACKER", help="extra Accelerate tracker")
    train.add_argument("--sample-every", type=int, metavar="N", help="save a sample grid every N steps (0: off)")
    train.add_argument("--checkpoint-every", type=int, metavar="N", help="save a checkpoint every N steps")
    train.add_argument("--resume", metavar="latest|PATH", help="continue from a checkpoint of this output dir")
    train.add_argument("--image-column", help="dataset column holding the images")
    train.add_argument("--label-column", help="dataset column holding class labels ('' for none)")
    train.add_argument(
        "--dataset-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset argument, e.g. name=plain_text, revision=main, streaming=true, random_flip=true, crop=random, "
        "in_memory=false (docs/training.md)",
    )
    train.add_argument(
        "--resolution", type=int, metavar="N", help="train at N x N pixels (model_args.image_size; images are resized)"
    )
    train.add_argument("--overwrite-output-dir", action="store_true", help="replace a non-empty output dir")
    train.set_defaults(handler=_train)

    export = commands.add_parser(
        "export", help="save a training checkpoint (or a run's newest one) as a pipeline folder, mid-training too"
    )
    export.add_argument("checkpoint", metavar="CHECKPOINT", help="RUN/checkpoints/step_N, or a run folder")
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="new pipeline folder")
    export.add_argument("--no-ema", action="store_true", help="export the raw weights, not the EMA (if any)")
    export.set_defaults(handler=_export)

    sample = commands.add_parser(
        "sample", help="generate a grid of images, or a folder of PNGs, from a saved pipeline"
    )
    sample.add_argument("pipeline", help="pipeline folder or Hub repo id")
    sample.add_argument("-n", "--num-images", type=int, default=64)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument(
        "-o", "--output", help="PNG file for the grid (default samples.png), or the new folder for --format folder"
    )
    sample.add_argument(
        "--format",
        choices=["grid", "folder"],
        default="grid",
        help="one grid image (default), or a folder with one PNG per image (for evaluation: genzoo evaluate --images)",
    )
    sample.add_argument("--batch-size", type=int, default=256, help="images generated at once (default 256)")
    sample.add_argument("--class-label", type=int, help="class to draw (conditional models)")
    sample.add_argument("--rows", type=int, help="grid rows (default: near-square)")
    _add_loading_options(sample)
    sample.set_defaults(handler=_sample)

    interpolate = commands.add_parser(
        "interpolate", help="draw a grid of latent interpolations (one slerp path per row) from a saved pipeline"
    )
    interpolate.add_argument("pipeline", help="pipeline folder or Hub repo id")
    interpolate.add_argument("--rows", type=int, default=4, help="interpolations, one per row (default: 4)")
    interpolate.add_argument("--steps", type=int, default=8, help="images per row, both ends included (default: 8)")
    interpolate.add_argument("--seed", type=int, default=0)
    interpolate.add_argument("--class-label", type=int, help="class of every row (conditional models)")
    interpolate.add_argument("-o", "--output", default="interpolation.png", help="PNG file for the grid")
    _add_loading_options(interpolate)
    interpolate.set_defaults(handler=_interpolate)

    restore = commands.add_parser(
        "restore",
        help="inpaint, super-resolve or denoise an image with a saved pipeline (as a generative prior)",
        description="Restore an image with a known degradation by inverting the generator, and save the restored "
        "image plus a figure: input, degraded, restored and, with --simulate, the original.",
    )
    restore.add_argument("pipeline", help="pipeline folder or Hub repo id")
    restore.add_argument("--task", required=True, choices=["inpaint", "super-resolve", "denoise"])
    restore.add_argument("-i", "--input", required=True, metavar="IN.png", help="the image to restore")
    restore.add_argument("--mask", metavar="MASK.png", help="inpainting mask: white = repaint (inpaint only)")
    restore.add_argument("-o", "--output", default="restored.png", metavar="OUT.png", help="the restored image")
    restore.add_argument("--figure", metavar="FIG.png", help="the figure (default: OUT-figure.png beside -o)")
    restore.add_argument("--scale", type=int, default=4, help="super-resolution factor (default: 4)")
    restore.add_argument("--noise-std", type=float, default=0.1, help="denoising: noise σ on [0, 1] pixels (0.1)")
    restore.add_argument(
        "--simulate",
        action="store_true",
        help="treat the input as a clean original: degrade it first (mask, downsample by --scale or add noise of "
        "--noise-std) and show it in the figure",
    )
    restore.add_argument("--class-label", help="class of the image (conditional models; default: search all)")
    restore.add_argument("--steps", type=int, default=200, help="optimisation steps (default: 200)")
    restore.add_argument("--restarts", type=int, default=4, help="starting points per image and class (default: 4)")
    restore.add_argument(
        "--candidates",
        type=int,
        metavar="N",
        help="screen N prior draws per image and class and start from the best --restarts of them (cheap: a "
        "forward pass each; helps GANs find the digit; default: no screening)",
    )
    restore.add_argument("--seed", type=int, default=0)
    _add_loading_options(restore, dtype=False)  # the inversion optimises in float32
    restore.set_defaults(handler=_restore)

    explore = commands.add_parser(
        "explore",
        help="draw a grid of latent directions: SeFa directions (GANs) or KL-ranked latent dimensions (VAEs)",
        description="One row per direction, one column per step along it, from one random latent.",
    )
    explore.add_argument("pipeline", help="pipeline folder or Hub repo id")
    explore.add_argument("--method", choices=["sefa", "dims"], default="sefa", help="(default: sefa)")
    explore.add_argument("-k", "--num-directions", type=int, default=8, help="directions, one per row (default: 8)")
    explore.add_argument("--values", default="-3,3", metavar="MIN,MAX", help="range of the steps (default: -3,3)")
    explore.add_argument("--steps", type=int, default=7, help="images per row (default: 7)")
    explore.add_argument("--seed", type=int, default=0)
    explore.add_argument("--class-label", help="class of every row (conditional models)")
    explore.add_argument("-o", "--output", default="directions.png", help="PNG file for the grid")
    _add_loading_options(explore)
    explore.set_defaults(handler=_explore)

    push = commands.add_parser("push", help="publish a saved pipeline folder to the Hugging Face Hub")
    push.add_argument("pipeline", metavar="DIR", help="folder written by `genzoo train` or save_pretrained")
    push.add_argument("repo_id", metavar="REPO_ID", help="Hub repo, e.g. my-org/dcgan-mnist (created if missing)")
    push.add_argument("--private", action="store_true", default=None, help="create the repo as private")
    push.add_argument("--token", help="Hub token (default: the saved login or HF_TOKEN)")
    push.add_argument("--commit-message", help="commit message")
    push.add_argument("--revision", help="branch to push to (created if missing)")
    push.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    push.set_defaults(handler=_push)

    add_evaluate_parser(commands)
    add_demo_parser(commands)

    recipes = commands.add_parser(
        "recipes", help="list the shipped recipes (genzoo train --recipe NAME) with the figure each aims at"
    )
    recipes.add_argument("--json", action="store_true", help="print JSON, with each recipe's run config")
    recipes.set_defaults(handler=_recipes)

    plugins = commands.add_parser("plugins", help="list installed plugins and what they register")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.set_defaults(handler=_plugins)
    return parser


# Command-line flags that map one-to-one onto TrainConfig keys.
_TRAIN_FLAGS = (
    "model", "dataset", "objective", "output_dir", "max_steps", "epochs", "batch_size", "seed", "mixed_precision",
    "sample_every", "checkpoint_every", "resume", "num_threads",
)  # fmt: skip


def resolve_train_config(args: argparse.Namespace) -> Any:
    """The run config of `genzoo train`: the flags as one layer of `genzoo.config.resolve_train_config`, between the
    `--config` file and `--set`; `--recipe` is the layer below the file."""
    from .config import parse_override, read_yaml_config
    from .config import resolve_train_config as resolve
    from .errors import ConfigError
    from .registry import models

    chosen_elsewhere = (
        args.recipe
        or (args.config and "model" in read_yaml_config(args.config))
        or any(text.partition("=")[0].strip() == "model" for text in args.set)
    )
    if args.model is None and not chosen_elsewhere:
        raise ConfigError(
            f"genzoo train needs a model: genzoo train MODEL --output-dir DIR, with MODEL one of "
            f"{', '.join(sorted(entry.name for entry in models()))}."
        )
    flags: dict[str, Any] = {key: getattr(args, key) for key in _TRAIN_FLAGS if getattr(args, key) is not None}
    if args.log_with:
        flags["log_with"] = args.log_with
    if args.overwrite_output_dir:
        flags["overwrite_output_dir"] = True
    columns = {"image_column": args.image_column, "label_column": args.label_column}
    dataset_args = {key: value for key, value in columns.items() if value is not None}
    for text in args.dataset_arg:
        key, value = parse_override(text)
        dataset_args[key] = value
    if dataset_args:
        flags["dataset_args"] = dataset_args
    if args.resolution is not None:
        if args.resolution < 1:
            raise ValueError(f"--resolution must be a positive number of pixels, got {args.resolution}.")
        flags["model_args"] = {"image_size": args.resolution}
    return resolve(flags, recipe=args.recipe, config_file=args.config, overrides=args.set)


def _train(args: argparse.Namespace) -> None:
    config = resolve_train_config(args)  # first: a mistyped name or flag is reported before torch is imported
    from .training import train  # lazy: the trainer imports torch, diffusers, accelerate and datasets

    train(config)


def _export(args: argparse.Namespace) -> None:
    from .checkpointing import export_checkpoint

    folder = export_checkpoint(args.checkpoint, args.output, use_ema=not args.no_ema)
    print(f"Exported {args.checkpoint} to {folder}; load it with GenPipeline.from_pretrained({str(folder)!r}).")


def resolve_device(name: str | None) -> str:
    """The torch device a command runs on: `name` checked (one line for `nonsense`, or `cuda` without CUDA), or
    cuda when available, else cpu."""
    import torch

    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r} is not a torch device; use cpu, cuda, cuda:1, mps, ...") from exc
    if device.type == "meta":
        raise ValueError("--device meta holds no data, so it cannot sample; use cpu or cuda.")
    if device.type == "cpu":
        return name
    backend = getattr(torch, device.type, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise ValueError(
            f"--device {name!r}: this machine has no {device.type} device (or torch was built without it); "
            "use --device cpu."
        )
    count = getattr(backend, "device_count", None)
    if device.index is not None and count is not None and device.index >= count():
        raise ValueError(f"--device {name!r}: this machine has {count()} {device.type} device(s), numbered from 0.")
    return name


def load_pipeline(args: argparse.Namespace) -> Any:
    """The pipeline a command names, loaded with its --revision (and --dtype) and moved to its --device, which is
    checked before the slow loading."""
    import torch
    from diffusers.utils import logging as diffusers_logging

    from .pipeline import GenPipeline

    device = resolve_device(args.device)
    diffusers_logging.disable_progress_bar()  # one component loads in an instant; keep stderr for what matters
    options: dict[str, Any] = {"revision": args.revision}
    if getattr(args, "dtype", None):
        options["dtype"] = getattr(torch, args.dtype)
    return GenPipeline.from_pretrained(args.pipeline, **options).to(device)


# The largest grid `genzoo sample` builds (its pixels, in bytes): a bigger one is not viewable, and its memory grows
# with -n; --format folder streams any number of images to disk instead.
_MAX_GRID_BYTES = 256 * 2**20


def _sample(args: argparse.Namespace) -> None:
    import shutil
    from pathlib import Path

    import torch
    from tqdm.auto import tqdm

    from .grids import grid_shape, image_grid

    n = args.num_images
    if n < 1 or args.batch_size < 1:
        raise ValueError(f"-n and --batch-size must be at least 1, got {n} and {args.batch_size}.")
    folder = args.format == "folder"
    output = Path(args.output or ("samples" if folder else "samples.png"))
    if folder and output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ValueError(
            f"-o {output} already exists and is not an empty folder; name a new one (nothing is overwritten)."
        )
    if folder:
        from .errors import check_writable

        check_writable(output, "-o")
    if not folder:
        grid_shape(n, rows=args.rows)  # checks --rows before the (slow) sampling
        check_output_path(str(output))
    pipe = load_pipeline(args)
    config = pipe.model.config
    if not folder and n * int(config.num_channels) * int(config.image_size) ** 2 > _MAX_GRID_BYTES:
        raise ValueError(
            f"A grid of {n} images of {config.image_size}x{config.image_size} would exceed "
            f"{_MAX_GRID_BYTES // 2**20} MB; write one PNG per image with --format folder -o DIR, or lower -n."
        )
    pipe.set_progress_bar_config(disable=True)
    # Class labels of all n images, as one call would spread them, so batching does not change which class each gets.
    num_classes = pipe.model.num_classes
    labels: list[int] | None = None
    if num_classes:
        labels = ([args.class_label] * n if args.class_label is not None
                  else (torch.arange(n) * num_classes // n).tolist())  # fmt: skip
    elif args.class_label is not None:
        pipe.prepare_class_labels(args.class_label, 1)  # the pipeline's own error for an unconditional model
    generator = torch.Generator().manual_seed(args.seed)
    staging = output.with_name(f".{output.name}.partial")
    if folder:
        if staging.exists():  # left by a run that was killed
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
    images, width = [], len(str(n - 1))
    try:
        for start in tqdm(range(0, n, args.batch_size), desc="sampling", unit="batch", disable=n <= args.batch_size):
            size = min(args.batch_size, n - start)
            kwargs: dict[str, Any] = {"class_labels": labels[start : start + size]} if labels else {"batch_size": size}
            batch = pipe(generator=generator, **kwargs).images
            if folder:  # streamed to disk: memory stays one batch whatever n is
                for offset, image in enumerate(batch):
                    image.save(staging / f"{start + offset:0{width}d}.png")
            else:
                images.extend(batch)
        if folder:
            if output.exists():
                output.rmdir()  # empty, checked above
            staging.rename(output)
    finally:
        if folder and staging.exists():
            shutil.rmtree(staging)
    if folder:
        print(f"Saved {n} images to {output}/ (one PNG each)")
        return
    _save_image(image_grid(images, rows=args.rows), str(output))
    print(f"Saved {n} images to {output}")


def _interpolate(args: argparse.Namespace) -> None:
    import torch

    if args.rows < 1 or args.steps < 2:  # before the (slow) loading
        raise ValueError(f"--rows must be at least 1 and --steps at least 2, got {args.rows} and {args.steps}.")
    check_output_path(args.output)
    pipe = load_pipeline(args)
    generator = torch.Generator().manual_seed(args.seed)
    grid = pipe.interpolation_grid(args.rows, args.steps, generator=generator, class_labels=args.class_label)
    _save_image(grid, args.output)
    print(f"Saved {args.rows} interpolations of {args.steps} images to {args.output}")


def _class_label(value: str | None) -> int | str | None:
    """A `--class-label` as an index when it is a number, else as a class name."""
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def _restore(args: argparse.Namespace) -> None:
    from pathlib import Path

    import PIL.Image
    import torch

    from .restoration import Downsample, GaussianNoise, Mask, restoration_figure, to_mask, to_pixels

    if (args.mask is None) == (args.task == "inpaint"):
        raise ValueError("--mask is required for --task inpaint, and only for it.")
    if args.steps < 1 or args.restarts < 1:
        raise ValueError(f"--steps and --restarts must be at least 1, got {args.steps} and {args.restarts}.")
    if args.candidates is not None and args.candidates < args.restarts:
        raise ValueError(f"--candidates must be at least --restarts ({args.restarts}), got {args.candidates}.")
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
        observed, degradation, class_labels=_class_label(args.class_label), num_steps=args.steps,
        num_restarts=args.restarts, num_candidates=args.candidates, generator=generator, output_type="pt",
    ).images  # fmt: skip
    figure = restoration_figure(
        pixels if not args.simulate else None, degradation.display(observed, size), restored, original
    )
    from .restoration import to_output

    _save_image(to_output(restored, "pil")[0], args.output)
    _save_image(figure, str(figure_path))
    print(f"Saved the restored image to {args.output} and the figure to {figure_path}")


def _explore(args: argparse.Namespace) -> None:
    import torch

    try:
        low, high = (float(v) for v in args.values.split(","))
    except ValueError:
        raise ValueError(f"--values must be MIN,MAX such as -3,3, got {args.values!r}.") from None
    if args.steps < 2 or args.num_directions < 1:
        raise ValueError(f"--steps must be at least 2 and -k at least 1, got {args.steps} and {args.num_directions}.")
    check_output_path(args.output)
    pipe = load_pipeline(args)
    generator = torch.Generator().manual_seed(args.seed)
    options = {"generator": generator} if args.method == "dims" else {}
    directions = pipe.find_directions(method=args.method, num_directions=args.num_directions, **options)
    grid = pipe.traverse(
        directions,
        values=torch.linspace(low, high, args.steps).tolist(),
        generator=torch.Generator().manual_seed(args.seed),
        class_labels=_class_label(args.class_label),
    )
    _save_image(grid, args.output)
    unit = "mean KL (nats)" if args.method == "dims" else "eigenvalue"
    for row, strength in enumerate(directions.strengths.tolist()):
        what = f"dim {int(directions.dims[row])}" if directions.dims is not None else f"direction {row}"
        print(f"row {row}: {what}, {unit} {strength:.4g}")
    print(f"Saved {len(directions)} directions x {args.steps} steps to {args.output}")


def _push(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .folder import SAMPLE_GRID
    from .hub import push_folder
    from .pipeline import GenPipeline

    # A folder without its sample grid gets one rendered from the loaded pipeline.
    folder = Path(args.pipeline)
    needs_grid = folder.is_dir() and (folder / "model_index.json").is_file() and not (folder / SAMPLE_GRID).is_file()
    commit = push_folder(
        args.pipeline,
        args.repo_id,
        pipeline=GenPipeline.from_pretrained(folder) if needs_grid else None,
        private=args.private,
        token=args.token,
        commit_message=args.commit_message,
        revision=args.revision,
        create_pr=args.create_pr,
    )
    print(f"Pushed {args.pipeline} to {commit.pr_url or commit.commit_url}")


def _recipes(args: argparse.Namespace) -> None:
    from .recipes import recipes

    shipped = recipes()
    if args.json:
        payload = [
            {"name": r.name, "description": r.description, "anchor": r.anchor, "notes": r.notes, "config": r.config}
            for r in shipped.values()
        ]
        print(json.dumps(payload, indent=2))
        return
    for recipe in shipped.values():
        anchor = recipe.anchor
        figure = f"{anchor['metric']} {anchor['value']}" if anchor["value"] is not None else "no published figure"
        print(f"{recipe.name}: {recipe.description}")
        print(f"  aims at: {figure} ({' '.join(anchor['protocol'].split())})")
        print(f"  source: {' '.join(anchor['source'].split())}")


def _plugins(args: argparse.Namespace) -> None:
    from .plugins import failed_plugins, load_plugins, plugin_source
    from .registry import dataset_sources, feature_extractors, metrics, models, objectives

    load_plugins()
    kinds: dict[str, Callable[[], Any]] = {
        "models": models,
        "objectives": objectives,
        "datasets": dataset_sources,
        "feature_extractors": feature_extractors,
        "metrics": metrics,
    }
    report: dict[str, dict[str, Any]] = {}
    for kind, registry in kinds.items():
        for entry in registry():
            source = plugin_source(entry.plugin)
            info = report.setdefault(
                entry.plugin,
                {"name": entry.plugin, "distribution": source.distribution, "version": source.version,
                 "module": source.module, **{k: [] for k in kinds}, "descriptions": {}, "aliases": {}},
            )  # fmt: skip
            info[kind].append(entry.name)
            if entry.description:
                info["descriptions"][entry.name] = entry.description
            if entry.aliases:  # other names that select the same registration (`genzoo train sngan`)
                info["aliases"][entry.name] = list(entry.aliases)
    failures = failed_plugins()
    if args.json:
        payload = {"plugins": list(report.values()), "failed": failures}
        print(json.dumps(payload, indent=2))
        return
    for info in report.values():
        version = f" {info['version']}" if info["version"] else ""
        print(f"{info['name']}{version} ({info['module']})")
        for kind in kinds:
            if info[kind]:
                print(f"  {kind.replace('_', ' ')}: {', '.join(info[kind])}")
        for name, description in info["descriptions"].items():
            aliases = ", ".join(info["aliases"].get(name, []))
            print(f"    {name}: {description}{f' (also: {aliases})' if aliases else ''}")
    for name, error in failures.items():
        print(f"{name} FAILED TO LOAD: {error}")


def add_evaluate_parser(commands: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="FID, KID, Inception Score, precision/recall (or any registered metric) of a saved pipeline",
        description="Sample a pipeline and compare its images with a dataset's; print a table, optionally write JSON.",
    )
    evaluate.add_argument("pipeline", nargs="?", help="pipeline folder or Hub repo id (or --images DIR)")
    evaluate.add_argument(
        "--images",
        metavar="DIR",
        help="score a folder of images (e.g. another library's samples) instead of a pipeline",
    )
    evaluate.add_argument("--dataset", default="mnist-5k", help="real images: mnist-5k (default) or any dataset spec")
    evaluate.add_argument(
        "--reference-stats",
        metavar="FILE.npz",
        help="reference mu/sigma as pytorch-fid and clean-fid publish them, instead of --dataset (FID only)",
    )
    evaluate.add_argument("--split", default="train", help="reference split (default: train, the training images)")
    evaluate.add_argument(
        "--metrics",
        help="comma-separated registered metrics (see `genzoo plugins`): fid, fid_per_class, kid, is, pr, nll, "
        "reconstruction, ... (default: every default metric that applies to the pipeline)",
    )
    evaluate.add_argument(
        "--metric-arg",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="a metric's option, e.g. kid.subset_size=500 or nll.importance_samples=100 (repeatable)",
    )
    evaluate.add_argument(
        "--num-samples", type=int, metavar="N", help="generated images (5000); with --images, a cap (default: all)"
    )
    evaluate.add_argument("--num-reference", type=int, metavar="N", help="cap on real images (default: the split)")
    evaluate.add_argument(
        "--features",
        default="mnist-classifier",
        help="a registered feature extractor (see `genzoo plugins`), e.g. mnist-classifier, inception",
    )
    evaluate.add_argument("--features-path", metavar="PATH", help="the extractor's weights file or folder")
    evaluate.add_argument("--json", metavar="FILE", help="also write the results as flat JSON")
    evaluate.add_argument("--batch-size", type=int, default=250)
    evaluate.add_argument("--seed", type=int, default=0, help="seeds the latents and the metrics' subsets")
    _add_loading_options(evaluate)
    evaluate.add_argument("--no-cache", action="store_true", help="recompute the reference statistics")
    evaluate.add_argument("--image-column", help="dataset column holding the images")
    evaluate.add_argument("--label-column", help="dataset column holding class labels")
    evaluate.set_defaults(handler=_evaluate)


def check_output_path(output: str) -> None:
    """Refuse an `-o` path that cannot take an image (a folder, a path under a file, a suffix PIL does not know, a
    location where no file can be created), before the slow loading and sampling."""
    from pathlib import Path

    import PIL.Image

    from .errors import check_writable

    path = Path(output)
    if path.is_dir():
        raise ValueError(f"-o {output!r} is a folder; pass a file name such as {str(path / 'grid.png')!r}.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"-o {output!r}: {str(parent)!r} is a file, not a folder; choose another path.")
            break
    if path.suffix.lower() not in PIL.Image.registered_extensions():
        raise ValueError(f"-o {output!r} has no image suffix PIL can write, such as .png or .jpg.")
    check_writable(path, "-o")


def _save_image(image: Any, output: str) -> None:
    """Save a grid to `-o`, creating its folder as `--json` does."""
    from pathlib import Path

    check_output_path(output)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _evaluate(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .metrics.evaluation import EvaluationOptions, evaluate_images, evaluate_pipeline, format_results

    if (args.pipeline is None) == (args.images is None):
        raise ValueError("Give either a pipeline (folder or Hub repo id) or --images DIR to evaluate, not both.")
    resolve_device(args.device)
    options = EvaluationOptions(
        dataset=args.dataset,
        num_samples=args.num_samples,
        features=args.features,
        features_path=args.features_path,
        split=args.split,
        num_reference=args.num_reference,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        cache=not args.no_cache,
        image_column=args.image_column,
        label_column=args.label_column,
        reference_stats=args.reference_stats,
    )
    if args.images is not None:
        results = evaluate_images(args.images, args.metrics, args.metric_arg, options)
    else:
        pipe = load_pipeline(args)
        results = evaluate_pipeline(pipe, args.metrics, args.metric_arg, options)
    print(format_results(results))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"Wrote {path}")


def add_demo_parser(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="serve a web demo (Gradio) of a saved pipeline, or export it as a Hugging Face Space",
        description="Serve a Gradio app with a tab for each thing the pipeline supports (sample, interpolate, "
        "explore, restore, about). Needs the demo extra: pip install 'genzoo[demo]'.",
    )
    demo.add_argument("pipeline", help="pipeline folder or Hub repo id")
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    demo.add_argument("--port", type=int, help="port to serve on (default: the first free one from 7860)")
    demo.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    demo.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    demo.add_argument("--revision", help="Hub revision")
    demo.add_argument(
        "--export-space",
        metavar="DIR",
        help="write a Hugging Face Space (app.py, requirements.txt) instead of serving",
    )
    demo.add_argument(
        "--repo-id", help="Hub repo the exported Space loads the model from (default: PIPELINE, when it is a repo id)"
    )
    demo.add_argument("--overwrite", action="store_true", help="replace the files of a non-empty --export-space DIR")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> None:
    from pathlib import Path

    from . import demo
    from .pipeline import GenPipeline

    if args.port is not None and not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}.")
    if args.export_space:
        repo_id = args.repo_id or (None if Path(args.pipeline).is_dir() else args.pipeline)
        if repo_id is None:
            raise ValueError(
                f"{args.pipeline} is a local folder: pass --repo-id, the Hub repo the Space loads the model from "
                f"(publish the folder with `genzoo push {args.pipeline} ORG/NAME` first)."
            )
        pipe = GenPipeline.from_pretrained(args.pipeline, revision=args.revision)  # the Space must be able to load it
        folder = demo.export_space(repo_id, args.export_space, requirements=demo.plugin_requirements(pipe),
                                   overwrite=args.overwrite)  # fmt: skip
        print(f"Wrote a Space for {repo_id} to {folder}: run it with `cd {folder} && python app.py`")
        return
    demo._gradio()  # a missing extra fails before the (slow) loading
    pipe = GenPipeline.from_pretrained(args.pipeline, revision=args.revision)
    app = demo.build_app(demo.DemoSession(pipe, device=args.device))
    demo.launch(app, host=args.host, port=args.port, share=args.share)
