"""`genzoo push`: publish a saved pipeline folder to the Hugging Face Hub."""

import argparse
from pathlib import Path

from .common import check_folder, check_pipeline_source, silence_loading_bars

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", metavar="DIR", help="folder written by `genzoo train` or save_pretrained")
    parser.add_argument("repo_id", metavar="REPO_ID", help="Hub repo, e.g. my-org/dcgan-mnist (created if missing)")
    parser.add_argument("--private", action="store_true", default=None, help="create the repo as private")
    parser.add_argument("--token", help="Hub token (default: the saved login or HF_TOKEN)")
    parser.add_argument("--commit-message", help="commit message")
    parser.add_argument("--revision", help="branch to push to (created if missing)")
    parser.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")


def run(args: argparse.Namespace) -> None:
    check_folder(args.pipeline, "DIR, the pipeline folder to publish")
    check_pipeline_source(args.pipeline)
    from ..folder import SAMPLE_GRID  # lazy: the folder checks import torch
    from ..hub import push_folder  # lazy
    from ..pipeline import GenPipeline  # lazy

    # A folder without its sample grid gets one rendered from the loaded pipeline.
    folder = Path(args.pipeline)
    needs_grid = folder.is_dir() and (folder / "model_index.json").is_file() and not (folder / SAMPLE_GRID).is_file()
    silence_loading_bars()
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
