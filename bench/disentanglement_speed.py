"""How long each disentanglement metric takes on 10,000 codes (the issue's goal: under a minute each), on codes of
the `shapes` grid's factors (3 × 6 × 40 × 32 × 32 values): a partly entangled 10-dimensional representation, as a
trained VAE gives. Prints CPU and wall seconds per metric, and the DCI scores with 10 trees (the default) beside
disentanglement_lib's 100 on fewer codes, to show what the smaller forest costs.

    python bench/disentanglement_speed.py [--points 10000] [--threads 1]
    python bench/disentanglement_speed.py --dci-table   # DCI against the number of boosting rounds and of codes
"""

import argparse
import time

import numpy as np
import torch

from genzoo.metrics.disentanglement import dci, factor_vae_score, mutual_information_gap, sap


def codes_for(points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    factors = np.stack([rng.randint(size, size=points) for size in (3, 6, 40, 32, 32)], axis=1)
    unit = factors / np.array([2, 5, 39, 31, 31])
    codes = np.concatenate(
        [
            unit[:, [3]] + 0.05 * rng.randn(points, 1),  # x
            unit[:, [4]] + 0.3 * unit[:, [1]] + 0.05 * rng.randn(points, 1),  # y, a little of scale
            unit[:, [1]] + 0.1 * rng.randn(points, 1),  # scale
            np.sin(2 * np.pi * unit[:, [2]]) + 0.5 * unit[:, [0]] + 0.3 * rng.randn(points, 1),
            rng.randn(points, 6),  # unused dimensions
        ],
        axis=1,
    )
    return codes, factors


def timed(function, *args, **kwargs):
    cpu, wall = time.process_time(), time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compare-points", type=int, default=2000, help="codes for the 100-tree comparison")
    parser.add_argument(
        "--dci-table",
        action="store_true",
        help="instead, DCI at 10, 30 and 100 rounds on all the codes and at 100 rounds on 5,000 and 2,000 of them "
        "(disentanglement_lib's protocol is 100 rounds on 10,000; about 10 minutes of CPU)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    codes, factors = codes_for(args.points)
    few, few_factors = codes[: args.compare_points], factors[: args.compare_points]
    runs = {
        "mig": lambda: mutual_information_gap(codes, factors),
        "dci": lambda: dci(codes, factors),
        "factorvae_score": lambda: factor_vae_score(codes, factors),
        "sap": lambda: sap(codes, factors),
        f"dci, {args.compare_points} codes": lambda: dci(few, few_factors),
        f"dci, {args.compare_points} codes, 100 trees": lambda: dci(few, few_factors, n_estimators=100),
    }
    if args.dci_table:
        settings = [(args.points, 10), (args.points, 30), (args.points, 100), (5000, 100), (2000, 100)]
        runs = {
            f"dci, {n} codes, {rounds} trees": lambda n=n, r=rounds: dci(codes[:n], factors[:n], n_estimators=r)
            for n, rounds in settings
        }
    print(f"{args.points} codes of {codes.shape[1]} dimensions, factors {factors.max(0) + 1}")
    for name, run in runs.items():
        result, cpu, wall = timed(run)
        values = ", ".join(f"{key}={value:.3f}" for key, value in result.items())
        print(f"{name:18s} cpu {cpu:6.1f} s  wall {wall:6.1f} s  {values}")


if __name__ == "__main__":
    main()
