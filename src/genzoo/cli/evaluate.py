"""`genzoo evaluate`: FID, KID, Inception Score, precision/recall (or any registered metric) of a saved pipeline or
a folder of images."""

import argparse
import json
from pathlib import Path

from ..metrics.selection import parse_metric_args, parse_metrics
from ..registry import feature_extractors
from .common import (
    add_loading_options,
    check_existing_file,
    check_folder,
    check_pipeline_source,
    load_pipeline,
    resolve_device,
    seed,
    silence_dataset_bars,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Sample a pipeline and compare its images with a dataset's; print a table, optionally write JSON."
    )
    parser.add_argument("pipeline", nargs="?", help="pipeline folder or Hub repo id (or --images DIR)")
    parser.add_argument(
        "--images",
        metavar="DIR",
        help="score a folder of images (e.g. another library's samples) instead of a pipeline",
    )
    parser.add_argument("--dataset", default="mnist-5k", help="real images: mnist-5k (default) or any dataset spec")
    parser.add_argument(
        "--reference-stats",
        metavar="FILE.npz",
        help="reference mu/sigma as pytorch-fid and clean-fid publish them, instead of --dataset (FID only)",
    )
    parser.add_argument("--split", default="train", help="reference split (default: train, the training images)")
    parser.add_argument(
        "--metrics",
        help="comma-separated registered metrics (see `genzoo plugins`): fid, fid_per_class, kid, is, pr, nll, "
        "reconstruction, ... (default: every default metric that applies to the pipeline)",
    )
    parser.add_argument(
        "--metric-arg",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="a metric's option, e.g. kid.subset_size=500 or nll.importance_samples=100 (repeatable)",
    )
    parser.add_argument(
        "--num-samples", type=int, metavar="N", help="generated images (5000); with --images, a cap (default: all)"
    )
    parser.add_argument("--num-reference", type=int, metavar="N", help="cap on real images (default: the split)")
    parser.add_argument(
        "--features",
        default="mnist-classifier",
        help="a registered feature extractor (see `genzoo plugins`), e.g. mnist-classifier, inception",
    )
    parser.add_argument("--features-path", metavar="PATH", help="the extractor's weights file or folder")
    parser.add_argument("--json", metavar="FILE", help="also write the results as flat JSON")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--seed", type=seed, default=0, help="seeds the latents and the metrics' subsets")
    add_loading_options(parser)
    parser.add_argument("--no-cache", action="store_true", help="recompute the reference statistics")
    parser.add_argument("--image-column", help="dataset column holding the images")
    parser.add_argument("--label-column", help="dataset column holding class labels")


def run(args: argparse.Namespace) -> None:
    check_arguments(args)
    from ..metrics.evaluation import EvaluationOptions, evaluate_images, evaluate_pipeline, format_results  # lazy

    silence_dataset_bars()

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


def check_arguments(args: argparse.Namespace) -> None:
    """What can be checked before torch is imported: the pipeline or image folder, the metric and extractor names
    and options, the dataset spec and the reference-statistics file."""
    if (args.pipeline is None) == (args.images is None):
        raise ValueError("Give either a pipeline (folder or Hub repo id) or --images DIR to evaluate, not both.")
    if args.pipeline is not None:
        check_pipeline_source(args.pipeline)
    else:
        check_folder(args.images, "--images")
    if args.metrics is not None:
        parse_metrics(args.metrics)  # an unknown name: "Unknown metric 'fdi'. Did you mean 'fid'? ..."
    parse_metric_args(args.metric_arg)
    feature_extractors().get(args.features)
    if args.reference_stats is not None:
        check_existing_file(args.reference_stats, "--reference-stats")
    else:
        from ..training.setup import check_dataset_spec  # lazy: torch-free, but `genzoo --help` need not read YAML

        check_dataset_spec(args.dataset)
