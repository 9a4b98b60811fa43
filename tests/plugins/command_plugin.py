"""A third-party plugin that adds a `genzoo` subcommand, `genzoo describe PIPELINE`: the whole plugin is this file
and its entry point (tests/test_cli_commands.py installs it), with no change to genzoo.

It prints what a saved pipeline folder is (family, pipeline class, resolution, latent size, classes) and its
evaluation results, read from the folder's files without loading the weights. Nothing heavy is imported at module
level: `genzoo --help` builds every command's parser.
"""

import argparse
import json
from pathlib import Path

from genzoo import GenzooError, hookimpl


@hookimpl
def register_commands(register):
    register(
        "describe",
        add_arguments,
        run,
        aliases=("info",),
        description="print what a saved pipeline is (family, resolution, latent size, classes) and its metrics",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="pipeline folder")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> None:
    from genzoo.folder import read_pipeline_folder  # checks the folder without loading its weights

    if not Path(args.pipeline).is_dir():
        raise GenzooError(f"describe reads a local pipeline folder; {args.pipeline} is none.")
    folder = read_pipeline_folder(args.pipeline)
    config = folder.component_config()
    metrics, _ = folder.metrics()
    summary = {
        "family": folder.registration.name,
        "pipeline": folder.pipeline_class_name,
        "image_size": config.get("image_size"),
        "num_channels": config.get("num_channels"),
        "latent_dim": config.get("latent_dim"),
        "num_classes": config.get("num_classes", 0),
        "metrics": metrics,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    for key, value in summary.items():
        print(f"{key}: {value}")
