"""Quality against CPU seconds during a run: how soon does a training configuration reach a given quality?

Each variant trains `genzoo train FAMILY` in a subprocess with a checkpoint every `--every` steps (all kept); the
script reads the subprocess's CPU time (user + system, all its threads) as each checkpoint appears. Afterwards each
checkpoint is exported with its EMA weights (as the final pipeline has them) and scored, so scoring costs no training
time:

- FID (and KID) in the shipped digit classifier's features, `--num-samples` images against mnist-5k's 4,500
  training digits (`genzoo.metrics.evaluate_pipeline`);
- dcgan (unconditional): the smallest class share of `--coverage-samples` samples (`bench/class_histogram.py`);
- cgan: class accuracy over `--per-class` samples of each digit (`bench/cgan_class_accuracy.py`).

A variant is `NAME=key=value;key=value` (run-config values, as `--set` takes them); `default=` is the family's
defaults. Each variant's curve goes to `OUT/NAME.json` (variants can train in processes side by side; `--reuse`
keeps them) and all of them to `OUT/results.json`; `OUT/time_to_quality.png` plots FID against CPU seconds, one line
per variant, and the printed table gives, per variant, the CPU seconds at which it first reached today's quality: FID
≤ `--target-fid` with every class ≥ 5 % for dcgan, class accuracy ≥ `--target-accuracy` for cgan. Variants of one
family may differ in length (`--steps`, in separate invocations with the same `--out`): the table and the plot take
every variant in OUT scored the same way.

    OMP_NUM_THREADS=1 python bench/time_to_quality.py --family dcgan --out ttq-dcgan --steps 2000 --every 250 \\
        --variant default= --variant "lr1e-3=objective_args.lr=1e-3" --variant "batch32=batch_size=32"
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import torch
from cgan_class_accuracy import class_accuracy
from class_histogram import sample_logits
from PIL import Image, ImageDraw

from genzoo import GenPipeline
from genzoo.checkpointing import export_checkpoint
from genzoo.metrics.coverage import class_coverage
from genzoo.metrics.evaluation import evaluate_pipeline

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, values = text.partition("=")
    if not name:
        raise SystemExit(f"--variant {text!r}: expected NAME=key=value;key=value (or NAME= for the defaults).")
    return name, [item.strip() for item in values.split(";") if item.strip()]


def train_variant(name: str, sets: list[str], args: argparse.Namespace, out: Path) -> dict[int, float]:
    """Train one variant; returns the CPU seconds of the training process at each checkpoint step."""
    run = out / name
    command = [sys.executable, "-m", "genzoo", "train", args.family, "--output-dir", str(run), "--seed",
               str(args.seed), "--overwrite-output-dir", "--max-steps", str(args.steps), "--checkpoint-every",
               str(args.every), "--sample-every", "0", "--set", "checkpoints_total_limit=null",
               "--set", f"num_threads={args.threads}"]  # fmt: skip
    for item in sets:
        command += ["--set", item]
    # The child's output goes to a file: a pipe nobody reads until the end fills up with the progress bar and then
    # blocks the training process on every write (it ran at a quarter of a core).
    log = out / f"{name}.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(process.pid)
    checkpoints = run / "checkpoints"
    cpu_at: dict[int, float] = {}
    cpu = 0.0
    while process.poll() is None:
        try:
            times = watched.cpu_times()
            cpu = times.user + times.system
        except psutil.Error:
            break
        if checkpoints.is_dir():  # a checkpoint folder appears under its final name once it is complete
            for folder in checkpoints.glob("step_*"):
                cpu_at.setdefault(int(folder.name.removeprefix("step_")), cpu)
        time.sleep(0.2)
    process.wait()
    if process.returncode != 0:
        last = log.read_text(errors="replace").strip().splitlines()[-1:]
        raise SystemExit(f"variant {name}: training failed: {last} (see {log})")
    for folder in checkpoints.glob("step_*"):  # written in the last poll interval
        cpu_at.setdefault(int(folder.name.removeprefix("step_")), cpu)
    return dict(sorted(cpu_at.items()))


def score_checkpoint(run: Path, step: int, args: argparse.Namespace) -> dict[str, float]:
    exported = run / "exported" / f"step_{step:06d}"
    if not (exported / "model_index.json").is_file():
        shutil.rmtree(exported, ignore_errors=True)
        export_checkpoint(run / "checkpoints" / f"step_{step:06d}", exported)
    pipe = GenPipeline.from_pretrained(exported)
    pipe.set_progress_bar_config(disable=True)
    results = evaluate_pipeline(pipe, "fid,kid", num_samples=args.num_samples, seed=0, progress=False)
    figures = {"fid": results["fid"], "kid": results["kid"]}
    if getattr(pipe.model, "num_classes", 0):
        figures["class_accuracy"] = class_accuracy(pipe, per_class=args.per_class, seed=0)["overall"]
    else:
        figures["min_class_share"] = class_coverage(sample_logits(pipe, args.coverage_samples, 0))[
            "coverage_min_share"
        ]
    return figures


def reaches_target(point: dict[str, float], args: argparse.Namespace) -> bool:
    """DCGAN: FID at most `--target-fid` with every class at least 5 % of the samples; CGAN: class accuracy at least
    `--target-accuracy` (its FID is reported, not required)."""
    if "class_accuracy" in point:
        return point["class_accuracy"] >= args.target_accuracy
    return point["fid"] <= args.target_fid and point["min_class_share"] >= 0.05


def plot(curves: dict[str, list[dict[str, float]]], path: Path, target_fid: float | None) -> None:
    """FID (log scale) against CPU seconds, one polyline per variant, drawn with PIL; a line marks `target_fid`
    (`None`: none, for a family whose target is not an FID)."""
    import math

    width, height, margin = 720, 440, 60
    points = [p for curve in curves.values() for p in curve]
    max_x = max(p["cpu_seconds"] for p in points) * 1.05
    fids = [p["fid"] for p in points] + ([target_fid] if target_fid else [])
    low, high = math.log10(min(fids)) - 0.05, math.log10(max(fids)) + 0.05
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)

    def xy(seconds: float, fid: float) -> tuple[float, float]:
        x = margin + (width - 2 * margin) * seconds / max_x
        y = height - margin - (height - 2 * margin) * (math.log10(fid) - low) / (high - low)
        return x, y

    draw.rectangle([margin, margin, width - margin, height - margin], outline="black")
    for tick in range(6):
        seconds = max_x * tick / 5
        x, _ = xy(seconds, 10**low)
        draw.text((x - 12, height - margin + 6), f"{seconds:.0f}", fill="black")
    for exponent in range(math.floor(low), math.ceil(high) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if low <= math.log10(value) <= high:
                _, y = xy(0, value)
                draw.line([margin - 4, y, margin, y], fill="black")
                draw.text((8, y - 6), f"{value:g}", fill="black")
    if target_fid:
        _, target_y = xy(0, target_fid)
        draw.line([margin, target_y, width - margin, target_y], fill="#999999")
        draw.text((width - margin - 110, target_y - 14), f"target FID {target_fid:g}", fill="#666666")
    draw.text((width // 2 - 50, height - 24), "CPU seconds", fill="black")
    draw.text((8, 16), "FID (classifier features, log scale)", fill="black")
    for index, (name, curve) in enumerate(curves.items()):
        colour = COLOURS[index % len(COLOURS)]
        line = [xy(p["cpu_seconds"], p["fid"]) for p in curve]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        for x, y in line:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        draw.text((width - margin - 150, margin + 8 + 14 * index), name, fill=colour)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="dcgan", help="model family (dcgan, cgan, or any trained on mnist-5k)")
    parser.add_argument("--out", default="time-to-quality", help="output folder for runs, results and the plot")
    parser.add_argument("--variant", action="append", help="NAME=key=value;key=value (repeatable; default: default=)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps of every variant (2000)")
    parser.add_argument("--every", type=int, default=250, help="steps between scored checkpoints (250)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the training process (1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-samples", type=int, default=5000, help="generated images for FID/KID (5000)")
    parser.add_argument("--coverage-samples", type=int, default=5000, help="samples for the class shares (5000)")
    parser.add_argument("--per-class", type=int, default=100, help="CGAN samples per class for accuracy (100)")
    parser.add_argument("--target-fid", type=float, default=1.7, help="the quality to reach (DCGAN's today: 1.7)")
    parser.add_argument("--target-accuracy", type=float, default=0.98, help="CGAN class accuracy to reach (0.98)")
    parser.add_argument("--reuse", action="store_true", help="keep variants already trained in OUT")
    args = parser.parse_args()
    variants = [parse_variant(text) for text in (args.variant or ["default="])]

    os.environ["ACCELERATE_USE_CPU"] = "true"
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # One file per variant (OUT/NAME.json), so that variants can train in processes side by side; the table and
    # the plot take every variant in OUT of the same --family scored on as many samples (their lengths may differ:
    # a shorter run with a decaying learning rate is one of the candidates).
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "reuse", "variant")}
    for name, sets in variants:
        if args.reuse and (out / f"{name}.json").is_file():
            continue
        started = time.perf_counter()
        cpu_at = train_variant(name, sets, args, out)
        curve = [
            {"step": step, "cpu_seconds": round(cpu, 1), **score_checkpoint(out / name, step, args)}
            for step, cpu in cpu_at.items()
        ]
        entry = {"set": sets, "curve": curve, "wall_seconds": time.perf_counter() - started, "settings": settings}
        (out / f"{name}.json").write_text(json.dumps(entry, indent=2) + "\n")
        for point in curve:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in point.items() if k not in ("step", "cpu_seconds"))
            print(f"{name} step {point['step']}: {point['cpu_seconds']:.0f} CPU s, {shown}", flush=True)

    same = ("family", "num_samples", "coverage_samples", "per_class", "seed")
    results: dict[str, Any] = {"settings": settings, "torch": torch.__version__, "variants": {}}
    for file in sorted(out.glob("*.json")):
        entry = json.loads(file.read_text())
        if file.name != "results.json" and all(entry.get("settings", {}).get(k) == settings[k] for k in same):
            results["variants"][file.stem] = entry
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| variant | settings | CPU s to target | step | final FID | final CPU s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, entry in results["variants"].items():
        curve = entry["curve"]
        reached = next((p for p in curve if reaches_target(p, args)), None)
        first = "not reached" if reached is None else f"{reached['cpu_seconds']:.0f}"
        step = "–" if reached is None else reached["step"]
        final = curve[-1]
        print(f"| {name} | {'; '.join(entry['set']) or 'defaults'} | {first} | {step} | {final['fid']:.3g} | "
              f"{final['cpu_seconds']:.0f} |")  # fmt: skip
    curves = {name: entry["curve"] for name, entry in results["variants"].items()}
    conditional = any("class_accuracy" in point for curve in curves.values() for point in curve)
    plot(curves, out / "time_to_quality.png", None if conditional else args.target_fid)  # CGAN: accuracy
    print(f"Plot: {out / 'time_to_quality.png'}")


if __name__ == "__main__":
    main()
