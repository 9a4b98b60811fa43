"""KID speed: the per-subset kernel blocks (how genzoo computed KID before) against the Gram matrices computed once
and read with subset masks (`kernel_inception_distance(method=...)`), interleaved in one process.

Two measurements, each printed as the median [min-max] of the per-round ratios old / new, for CPU and wall time:

1. `kernel_inception_distance` alone on random non-negative features of the sizes `genzoo evaluate` uses by
   default with the digit classifier (4,500 reference and 1,000 generated 128-d features, 100 subsets of 1,000).
   The two values must agree to 1e-12; the script stops if they do not.
2. `genzoo evaluate --metrics fid,kid --num-samples 1000` (through `evaluate_pipeline`, on an untrained DCGAN, since
   speed does not depend on the weights) with a warm reference-statistics cache: the run's time, and KID's share
   of it, before and after.

    python bench/kid_speed.py                       # 5 rounds, 1 thread
    python bench/kid_speed.py --rounds 9 --threads 2 --dim 2048    # Inception-sized features
    python bench/kid_speed.py --skip-evaluate

The figures in docs/evaluation.md and bench/README.md come from the first command.
"""

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def timed(function: Callable[[], Any]) -> tuple[float, float, Any]:
    """CPU seconds (this process), wall seconds and the result of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = function()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def bench_function(args: argparse.Namespace) -> None:
    from genzoo.metrics.functional import kernel_inception_distance

    generator = torch.Generator().manual_seed(0)
    real = torch.randn(args.num_reference, args.dim, generator=generator).abs()
    fake = torch.randn(args.num_samples, args.dim, generator=generator).abs() + 0.05
    options = {"num_subsets": args.num_subsets, "subset_size": args.subset_size, "seed": 0}
    cpu_ratios, wall_ratios, new_walls = [], [], []
    for _ in range(args.rounds):
        old = timed(lambda: kernel_inception_distance(real, fake, method="subsets", **options))
        new = timed(lambda: kernel_inception_distance(real, fake, **options))
        if abs(old[2][0] - new[2][0]) > 1e-12 or abs(old[2][1] - new[2][1]) > 1e-12:
            raise SystemExit(f"KID differs: before {old[2]}, now {new[2]}")
        cpu_ratios.append(old[0] / new[0])
        wall_ratios.append(old[1] / new[1])
        new_walls.append(new[1])
    print(
        f"kernel_inception_distance, {args.num_reference} x {args.num_samples} features of {args.dim}-d, "
        f"{args.num_subsets} subsets of {args.subset_size}, {args.rounds} rounds, {args.threads} thread(s):"
    )
    print(f"  speed-up (before / now): CPU {summary(cpu_ratios)}, wall {summary(wall_ratios)}")
    print(f"  now: {statistics.median(new_walls):.3f} s wall per call; values equal to 1e-12: {new[2]}")


def bench_evaluate(args: argparse.Namespace) -> None:
    import functools

    from genzoo import GenPipeline
    from genzoo.metrics import evaluate_pipeline, standard
    from genzoo.metrics.functional import kernel_inception_distance
    from genzoo_gan import DCGANGenerator

    torch.manual_seed(0)
    pipe = GenPipeline(model=DCGANGenerator())
    kid_seconds: dict[str, float] = {}

    def with_method(method: str) -> Callable[..., Any]:
        @functools.wraps(kernel_inception_distance)
        def kid(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            result = kernel_inception_distance(*a, method=method, **k)
            kid_seconds[method] = time.perf_counter() - start
            return result

        return kid

    def run(method: str) -> dict[str, Any]:
        standard.kernel_inception_distance = with_method(method)
        return evaluate_pipeline(pipe, "fid,kid", num_samples=1000, progress=False, device="cpu")

    run("auto")  # warms the reference-statistics cache (and the imports)
    cpu_ratios, wall_ratios, shares = [], [], {"subsets": [], "auto": []}
    for _ in range(args.rounds):
        old = timed(lambda: run("subsets"))
        shares["subsets"].append(kid_seconds["subsets"] / old[1])
        new = timed(lambda: run("auto"))
        shares["auto"].append(kid_seconds["auto"] / new[1])
        if abs(old[2]["kid"] - new[2]["kid"]) > 1e-12 or old[2]["fid"] != new[2]["fid"]:
            raise SystemExit(f"Results differ: before {old[2]}, now {new[2]}")
        cpu_ratios.append(old[0] / new[0])
        wall_ratios.append(old[1] / new[1])
    standard.kernel_inception_distance = kernel_inception_distance
    print(f"genzoo evaluate --metrics fid,kid --num-samples 1000 (warm cache), {args.rounds} rounds:")
    print(f"  whole run, before / now: CPU {summary(cpu_ratios)}, wall {summary(wall_ratios)}")
    print(
        f"  KID's share of the run's wall time: before {summary([100 * s for s in shares['subsets']])} %, "
        f"now {summary([100 * s for s in shares['auto']])} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved before/now pairs (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads (default 1)")
    parser.add_argument("--num-reference", type=int, default=4500)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=128, help="feature dimension (128: digit classifier)")
    parser.add_argument("--num-subsets", type=int, default=100)
    parser.add_argument("--subset-size", type=int, default=1000)
    parser.add_argument("--skip-evaluate", action="store_true", help="time kernel_inception_distance only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench_function(args)
    if not args.skip_evaluate:
        bench_evaluate(args)


if __name__ == "__main__":
    main()
