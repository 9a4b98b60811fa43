"""What a default run costs against the earlier default, both trained side by side: CPU seconds and their ratio.

Each round starts two `genzoo train FAMILY --seed S` processes at the same moment, one with today's defaults and one
with `--baseline` added (the earlier default: float32 and its own step count), each on one thread; the two share
the machine alike, so their ratio holds on a busy machine where the seconds themselves do not. The CPU seconds are
the whole process's (user + system: start-up, checkpoints and the final save included), read from the kernel when
each process ends. The shorter run ends first and the longer one then has the machine to itself, so on a busy
machine the ratio errs against today's defaults. Prints, per family, the median [min-max] of the per-round CPU
ratios (today / earlier) and both sides' CPU and wall seconds.

    OMP_NUM_THREADS=1 python bench/default_cost.py --families dcgan,cgan --rounds 2
    python bench/default_cost.py --families dcgan \
        --baseline dcgan="mixed_precision=no;max_steps=2000;objective_args.reuse_fakes=false"

The earlier defaults (before 2026-12-07): dcgan 2,000 float32 steps, each generating twice (no `reuse_fakes`), cgan
3,000 float32 steps. Quality is not scored here: bench/seeds.py and bench/time_to_quality.py measure it.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The defaults before bf16 (`mixed_precision: auto`), `reuse_fakes` and the shorter runs they allowed.
EARLIER_DEFAULTS = {
    "dcgan": "mixed_precision=no;max_steps=2000;objective_args.reuse_fakes=false",
    "cgan": "mixed_precision=no;max_steps=3000",
}


def start(family: str, sets: list[str], seed: int, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "genzoo", "train", family, "--seed", str(seed), "--output-dir", str(out),
               "--num-threads", "1"]  # fmt: skip
    for item in sets:
        command += ["--set", item]
    # A file, not a pipe: an unread pipe fills up with the progress bar and blocks the training process.
    with (out.parent / f"{out.name}.log").open("w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def wait_cpu_seconds(process: subprocess.Popen) -> float:
    """User + system CPU seconds of a finished child, from the kernel's accounting of that child alone."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def race(family: str, baseline: list[str], seed: int, work: Path) -> dict[str, float]:
    """Both sides at once; returns each side's CPU and wall seconds (both are waited for, even if one fails)."""
    began = time.perf_counter()
    processes = {
        "today": start(family, [], seed, work / "today"),
        "earlier": start(family, baseline, seed, work / "earlier"),
    }
    figures = {}
    for side, process in processes.items():
        figures[f"{side}_cpu"] = wait_cpu_seconds(process)
        figures[f"{side}_wall"] = time.perf_counter() - began  # an upper bound for the side that finished first
    for side, process in processes.items():
        if process.returncode != 0:
            log = (work / f"{side}.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise SystemExit(f"{' '.join(process.args)} failed with exit status {process.returncode}: {log}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="dcgan,cgan", help="comma-separated (default: dcgan,cgan)")
    parser.add_argument("--rounds", type=int, default=2, help="side-by-side races per family (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first round; each round adds 1")
    earlier = ", ".join(f"{family}: {values}" for family, values in EARLIER_DEFAULTS.items())
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="FAMILY=key=value;key=value",
        help=f"the earlier default's run-config values (default: {earlier})",
    )
    args = parser.parse_args()
    baselines = dict(EARLIER_DEFAULTS)
    for item in args.baseline:
        family, _, values = item.partition("=")
        if not values.strip():
            raise SystemExit(f"--baseline {item!r}: expected FAMILY=key=value;key=value (the earlier run's settings).")
        baselines[family] = values
    print("family | round | today CPU s | earlier CPU s | CPU ratio (today / earlier) | today wall s | earlier wall s")
    for family in args.families.split(","):
        if family not in baselines:
            raise SystemExit(f"No earlier default for {family!r}: pass --baseline {family}=key=value;key=value.")
        baseline = [item.strip() for item in baselines[family].split(";") if item.strip()]
        ratios, today, earlier = [], [], []
        for round_index in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="genzoo-cost-") as work:
                figures = race(family, baseline, args.seed + round_index, Path(work))
            today.append(figures["today_cpu"])
            earlier.append(figures["earlier_cpu"])
            ratios.append(today[-1] / earlier[-1])
            print(
                f"{family} | {round_index} | {today[-1]:.1f} | {earlier[-1]:.1f} | {ratios[-1]:.3f} | "
                f"{figures['today_wall']:.0f} | {figures['earlier_wall']:.0f}",
                flush=True,
            )
        print(
            f"{family}: today {statistics.median(today):.1f} CPU s, earlier ({'; '.join(baseline)}) "
            f"{statistics.median(earlier):.1f} CPU s; ratio {statistics.median(ratios):.3f} "
            f"[{min(ratios):.3f}-{max(ratios):.3f}] over {args.rounds} round(s)"
        )


if __name__ == "__main__":
    main()
