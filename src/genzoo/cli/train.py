"""`genzoo train`: train a model and save it as a pipeline."""

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..registry import models
from .common import seed

if TYPE_CHECKING:
    from ..config import TrainConfig

__all__ = ["add_arguments", "config_from_args", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", help="model family, e.g. dcgan (see `genzoo plugins`); required")
    parser.add_argument(
        "--dataset",
        help="dataset spec: SOURCE[:ARG] for a registered source (see `genzoo plugins`), a folder or a "
        "parquet file; default mnist-5k",
    )
    parser.add_argument("--objective", help="training objective (default: the model's own; see `genzoo plugins`)")
    parser.add_argument(
        "--task",
        help="what an image-to-image model learns (pix2pix: inpaint, super-resolve, denoise; options in task_args)",
    )
    parser.add_argument("--recipe", help="shipped run config of a published protocol (see `genzoo recipes`)")
    parser.add_argument("--config", help="YAML run config; command-line flags and --set override it")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key")
    parser.add_argument("--output-dir", help="where the pipeline, samples and checkpoints go")
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument("--max-steps", type=int, help="training steps")
    steps.add_argument("--epochs", type=int, help="training epochs (instead of --max-steps)")
    parser.add_argument("--batch-size", type=int, help="images per step and process")
    parser.add_argument("--seed", type=seed)
    parser.add_argument(
        "--mixed-precision",
        choices=["no", "bf16", "fp16", "auto"],
        help="default: the family's (auto for dcgan and cgan: bf16 on a CPU that computes it natively), else "
        "Accelerate's own setting (accelerate launch --mixed_precision, accelerate config), else no",
    )
    parser.add_argument(
        "--num-threads",
        type=int,
        metavar="N",
        help="PyTorch CPU threads per process (default: OMP_NUM_THREADS if set, else the free cores at start)",
    )
    parser.add_argument("--log-with", action="append", metavar="TRACKER", help="extra Accelerate tracker")
    parser.add_argument("--sample-every", type=int, metavar="N", help="save a sample grid every N steps (0: off)")
    parser.add_argument("--checkpoint-every", type=int, metavar="N", help="save a checkpoint every N steps")
    parser.add_argument("--resume", metavar="latest|PATH", help="continue from a checkpoint of this output dir")
    parser.add_argument("--image-column", help="dataset column holding the images")
    parser.add_argument("--label-column", help="dataset column holding class labels ('' for none)")
    parser.add_argument(
        "--dataset-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset argument, e.g. name=plain_text, revision=main, streaming=true, random_flip=true, crop=random, "
        "in_memory=false (docs/training.md)",
    )
    parser.add_argument(
        "--resolution", type=int, metavar="N", help="train at N x N pixels (model_args.image_size; images are resized)"
    )
    parser.add_argument("--overwrite-output-dir", action="store_true", help="replace a non-empty output dir")


def run(args: argparse.Namespace) -> None:
    config = config_from_args(args)  # first: a mistyped name, flag or path is reported before torch is imported
    from ..training.setup import check_request  # lazy: checks the dataset path, output folder and resume without torch

    check_request(config)
    from ..training import train  # lazy: the trainer imports torch, diffusers, accelerate and datasets

    train(config)


# Command-line flags that map one-to-one onto TrainConfig keys.
_TRAIN_FLAGS = (
    "model", "dataset", "objective", "output_dir", "max_steps", "epochs", "batch_size", "seed", "mixed_precision",
    "sample_every", "checkpoint_every", "resume", "num_threads", "task",
)  # fmt: skip


def config_from_args(args: argparse.Namespace) -> "TrainConfig":
    """The run config of `genzoo train`: the flags as one layer of `genzoo.config.resolve_train_config`, between the
    `--config` file and `--set`; `--recipe` is the layer below the file."""
    from ..config import parse_override, read_yaml_config, resolve_train_config  # lazy: `genzoo --help` skips YAML

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
    return resolve_train_config(flags, recipe=args.recipe, config_file=args.config, overrides=args.set)
