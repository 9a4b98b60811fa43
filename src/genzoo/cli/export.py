"""`genzoo export`: save a training checkpoint (or a run's newest one) as a pipeline folder."""

import argparse

from .common import check_folder

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="RUN/checkpoints/step_N, or a run folder")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="new pipeline folder")
    parser.add_argument("--no-ema", action="store_true", help="export the raw weights, not the EMA (if any)")


def run(args: argparse.Namespace) -> None:
    check_folder(args.checkpoint, "CHECKPOINT, a run folder or RUN/checkpoints/step_N")
    from ..checkpointing import export_checkpoint  # lazy: loading a checkpoint imports torch

    folder = export_checkpoint(args.checkpoint, args.output, use_ema=not args.no_ema)
    print(f"Exported {args.checkpoint} to {folder}; load it with GenPipeline.from_pretrained({str(folder)!r}).")
