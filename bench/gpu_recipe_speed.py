"""Training speed of the sngan-cifar10 recipe on a GPU, in fp32 and in bf16 autocast: steps per second, peak GPU
memory and the bf16 speed-up.

The recipe trains as shipped (SNGAN's CIFAR-10 networks, batch 64, five critic steps per generator step, hinge loss,
linear decay) on made-up 32x32 RGB images, for `--steps` trainer steps per precision, with evaluation, sample grids
and checkpoints off. Steady-state steps/s excludes the first `--warmup` steps (CUDA start-up, cuDNN autotuning).

    python bench/gpu_recipe_speed.py --steps 300 --out gpu-speed     # writes gpu-speed/results.json

Needs a CUDA GPU; `--device cpu --tiny --steps 4 --warmup 2` checks the script itself on any machine.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch

# --tiny: narrow networks, only to check the script end to end on a CPU (the figures then mean nothing).
TINY = ["--set", "model_args.base_channels=4", "--set", "objective_args.discriminator.base_channels=4"]


def make_images(folder: Path, count: int) -> Path:
    """`count` random 32x32 RGB PNGs, made once."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.png"))) >= count:
        return folder
    rng = np.random.default_rng(0)
    for index in range(count):
        PIL.Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{index:05d}.png")
    return folder


def run_once(precision: str, args: argparse.Namespace, data: Path, out: Path) -> dict:
    """Train the recipe for `args.steps` steps in one precision and return its timings and peak memory."""
    from accelerate.state import AcceleratorState, GradientState

    from genzoo.cli import main

    run = out / f"run-{precision}"
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    log_every = args.warmup
    started = time.perf_counter()
    try:
        main([
            "train", "--recipe", "sngan-cifar10", "--dataset", f"imagefolder:{data}", "--output-dir", str(run),
            "--overwrite-output-dir", "--max-steps", str(args.steps), "--mixed-precision", precision,
            "--sample-every", "0", "--checkpoint-every", "0", "--set", "eval_every=0",
            "--set", f"log_every={log_every}", "--set", f"dataloader_num_workers={args.workers}",
            "--set", "num_sample_images=16", *(TINY if args.tiny else []),
        ])  # fmt: skip
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    wall = time.perf_counter() - started
    rows = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "steps_per_second" in row]
    # The trainer logs the mean rate since the start; elapsed time at step s is s / rate.
    (first, last) = rows[0], rows[-1]
    elapsed = [row["step"] / row["steps_per_second"] for row in (first, last)]
    steady = (last["step"] - first["step"]) / (elapsed[1] - elapsed[0])
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    return {
        "precision": precision,
        "steps": args.steps,
        "steps_per_second": round(steady, 2),
        "generator_steps_per_second": round(steady / 5, 2),  # n_critic = 5
        "images_per_second": round(steady * 64, 1),
        "peak_memory_mib": round(peak / 2**20, 1) if peak is not None else None,
        "wall_seconds": round(wall, 1),
        "final_loss_d": last.get("loss_d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="trainer (critic) steps per precision (300)")
    parser.add_argument("--warmup", type=int, default=50, help="steps left out of the steady rate (50)")
    parser.add_argument("--images", type=int, default=4096, help="made-up training images (4096)")
    parser.add_argument("--workers", type=int, default=4, help="data-loader workers (4)")
    parser.add_argument("--precisions", default="no,bf16", help="comma-separated mixed-precision modes (no,bf16)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--out", default="gpu-recipe-speed", help="output folder (results.json, runs)")
    parser.add_argument("--tiny", action="store_true", help="narrow networks, to check the script on a CPU")
    args = parser.parse_args()
    if args.steps <= args.warmup or args.steps % args.warmup:
        parser.error("--steps must be a multiple of --warmup and larger than it")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA GPU is visible; pass --device cpu to check the script on a CPU")
    if args.device == "cpu":
        os.environ["ACCELERATE_USE_CPU"] = "true"
    torch.backends.cudnn.benchmark = True

    out = Path(args.out)
    data = make_images(out / "images", args.images)
    results = {
        "command": " ".join(["python", os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "runs": [],
    }
    for precision in args.precisions.split(","):
        result = run_once(precision, args, data, out)
        results["runs"].append(result)
        print(json.dumps(result), flush=True)
    by_precision = {run["precision"]: run for run in results["runs"]}
    if {"no", "bf16"} <= set(by_precision):
        results["bf16_speedup"] = round(
            by_precision["bf16"]["steps_per_second"] / by_precision["no"]["steps_per_second"], 2
        )
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'precision':>9} {'steps/s':>8} {'G steps/s':>9} {'img/s':>8} {'peak MiB':>9}")
    for run in results["runs"]:
        print(f"{run['precision']:>9} {run['steps_per_second']:>8} {run['generator_steps_per_second']:>9} "
              f"{run['images_per_second']:>8} {run['peak_memory_mib']!s:>9}")  # fmt: skip
    if "bf16_speedup" in results:
        print(f"bf16 speed-up: {results['bf16_speedup']}x")
    print(f"Reproduce: {results['command']}")


if __name__ == "__main__":
    main()
