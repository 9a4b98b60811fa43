"""`genzoo demo`: serve a Gradio demo of a saved pipeline, or export it as a Hugging Face Space."""

import argparse
from pathlib import Path

from .common import check_pipeline_source, silence_loading_bars

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve a Gradio app with a tab for each thing the pipeline supports (sample, interpolate, explore, restore, "
        "about). Needs the demo extra: pip install -e '.[demo]' in a clone of genzoo (or pip install 'gradio>=6,<7')."
    )
    parser.add_argument("pipeline", help="pipeline folder or Hub repo id")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, help="port to serve on (default: the first free one from 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--revision", help="Hub revision")
    parser.add_argument(
        "--export-space",
        metavar="DIR",
        help="write a Hugging Face Space (app.py, requirements.txt) instead of serving",
    )
    parser.add_argument(
        "--repo-id", help="Hub repo the exported Space loads the model from (default: PIPELINE, when it is a repo id)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the files of a non-empty --export-space DIR")


def run(args: argparse.Namespace) -> None:
    check_pipeline_source(args.pipeline)
    from .. import demo  # lazy: the demo imports torch (and gradio when it serves)
    from ..pipeline import GenPipeline  # lazy

    if args.port is not None and not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}.")
    silence_loading_bars()
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
