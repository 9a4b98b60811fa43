"""Data parallelism inside the training loop: 2 processes x batch 32 against 1 process x batch 64, side by side.

Each side is a real `genzoo.training.train` run of the model's defaults on in-memory data (mnist-5k); a clock around
the objective's `training_step` reads the time from step `--warmup` to the last step, as bench/data_path_speed.py
does, so start-up, data loading and saving are left out. The 2-process side runs under
`accelerate launch --multi_gpu --num_processes 2` (on a CPU: gloo, `DistributedType.MULTI_CPU`); rounds interleave
the sides (1 x 64, 2 x 32, 1 x 32, 1 x 64, ...) so that a change in the machine's load hits all of them alike.

Printed, as median [min-max] over the rounds:
- the figure: wall time per step of 2 x 32 / 1 x 64 (0.5 is perfect scaling; the goal is <= 0.65 on free cores);
- an estimate for free cores: one process's CPU time per step in 2 x 32 / 1 x 64's (on a core of its own, a
  process's step takes about its CPU time);
- what bounds it: 1 x 32 / 1 x 64 (a half batch on one process: the best two processes can do, if nothing else
  costs), the CPU time per step of both processes together / 1 x 64's (1.0: no extra work), and the time one gloo
  allreduce of the gradients takes (the discriminator's and the generator's, as each step syncs both), measured
  in the 2-process run at its last step, against the step time.

With two cores shared by other jobs, two processes cannot both have a core: the figure then measures the machine,
not genzoo; `os.getloadavg()` is printed before and after to say how busy the cores were.

    python bench/ddp_speed.py                          # dcgan, 5 rounds, 1 thread per process
    python bench/ddp_speed.py --rounds 3 --steps 20 --threads 1
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


# The worker: one training run (one process of it), writing its clock to --result ----------------------------------


def worker(args: argparse.Namespace) -> None:
    import torch

    from genzoo.config import resolve_train_config
    from genzoo.registry import get_model, get_objective
    from genzoo.training import train

    torch.set_num_threads(args.threads)
    registration = get_model(args.model)
    config = resolve_train_config({
        "model": args.model, "dataset": args.dataset, "max_steps": args.warmup + args.steps,
        "batch_size": args.batch_size, "sample_every": 0, "log_every": 10_000, "checkpoint_every": 0,
        "num_sample_images": 4, "output_dir": args.output_dir, "overwrite_output_dir": True,
        "num_threads": args.threads,
    })  # fmt: skip
    objective_class = get_objective(config.objective or registration.default_objective).obj
    clock: dict[str, Any] = {"calls": 0}
    original = objective_class.training_step

    def timed_step(self: Any, *step_args: Any, **kwargs: Any) -> Any:
        if clock["calls"] == args.warmup:
            clock["start"] = (time.process_time(), time.perf_counter())
        out = original(self, *step_args, **kwargs)
        clock["calls"] += 1
        clock["end"] = (time.process_time(), time.perf_counter())
        if clock["calls"] == args.warmup + args.steps:  # the last step: every process is here, the group still up
            sizes = [sum(p.numel() for p in net.parameters()) for net in self.networks.values()]
            clock["allreduce"] = allreduce_seconds(sizes)
        return out

    objective_class.training_step = timed_step
    try:
        train(config)
    finally:
        objective_class.training_step = original
    steps = clock["calls"] - args.warmup
    result = {
        "cpu": (clock["end"][0] - clock["start"][0]) / steps,
        "wall": (clock["end"][1] - clock["start"][1]) / steps,
        "allreduce": clock.get("allreduce"),
    }
    rank = int(os.environ.get("RANK", "0"))
    Path(f"{args.result}.{rank}").write_text(json.dumps(result))


def allreduce_seconds(sizes: list[int], repeats: int = 20) -> float | None:
    """Seconds of one step's gradient allreduces (one per trained network, of its parameter count in float32), when
    several processes are running; `None` on one process."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    buffers = [torch.zeros(size) for size in sizes]
    dist.barrier()
    start = time.perf_counter()
    for _ in range(repeats):
        for buffer in buffers:
            dist.all_reduce(buffer)
    return (time.perf_counter() - start) / repeats


# The driver: rounds of the three sides ---------------------------------------------------------------------------


def run_side(args: argparse.Namespace, processes: int, batch_size: int, root: Path) -> dict[str, float]:
    result = root / f"result-{processes}x{batch_size}"
    worker_args = [
        __file__, "--worker", "--model", args.model, "--dataset", args.dataset, "--batch-size", str(batch_size),
        "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads),
        "--output-dir", str(root / f"run-{processes}x{batch_size}"), "--result", str(result),
    ]  # fmt: skip
    if processes == 1:
        command = [sys.executable, *worker_args]
    else:
        command = [
            sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(args.port), *worker_args,
        ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ranks = [json.loads(Path(f"{result}.{rank}").read_text()) for rank in range(processes)]
    return {
        "wall": max(rank["wall"] for rank in ranks),  # a step ends when the slower process has finished it
        "cpu": sum(rank["cpu"] for rank in ranks),  # the work of all processes together
        "allreduce": ranks[0]["allreduce"] or 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--batch-size", type=int, default=64, help="the one-process batch; two processes take half")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps per run")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads per process")
    parser.add_argument("--port", type=int, default=29533, help="the 2-process run's rendezvous port")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    half = args.batch_size // 2
    sides = {"1x64": (1, args.batch_size), "2x32": (2, half), "1x32": (1, half)}
    times: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="genzoo-ddp-bench-") as tmp:
        for _ in range(args.rounds):
            for name, (processes, batch_size) in sides.items():
                times[name].append(run_side(args, processes, batch_size, Path(tmp)))
    load_after = os.getloadavg()

    def ratios(side: str, key: str, over: str = "1x64") -> list[float]:
        return [a[key] / b[key] for a, b in zip(times[side], times[over], strict=True)]

    print(
        f"data parallel: {args.model} on {args.dataset}, {args.rounds} rounds of {args.steps} timed steps, "
        f"{args.threads} thread(s) per process, {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before and "
        f"{load_after[0]:.1f} after"
    )
    print(f"  2 x {half} / 1 x {args.batch_size}, wall per step: {summary(ratios('2x32', 'wall'))}   (goal <= 0.65)")
    print(f"  1 x {half} / 1 x {args.batch_size}, wall per step: {summary(ratios('1x32', 'wall'))}   (the bound)")
    print(f"  2 x {half} / 1 x {args.batch_size}, CPU per step of all processes: {summary(ratios('2x32', 'cpu'))}")
    # Were each process to have a core of its own, a step would take about its process's CPU time: this estimate
    # says what the figure would be on free cores, apart from the waiting that gloo does in wall time only.
    free = [a["cpu"] / 2 / b["cpu"] for a, b in zip(times["2x32"], times["1x64"], strict=True)]
    print(f"  on free cores, estimated from CPU time (one process's / 1 x {args.batch_size}'s): {summary(free)}")
    allreduce = [side["allreduce"] / side["wall"] for side in times["2x32"]]
    print(
        f"  gloo allreduce of one step's gradients: {statistics.median(s['allreduce'] for s in times['2x32']):.4f} s, "
        f"{summary(allreduce)} of a 2 x {half} step"
    )
    for name, values in times.items():
        wall = statistics.median(v["wall"] for v in values)
        cpu = statistics.median(v["cpu"] for v in values)
        print(f"    {name}: median {wall:.4f} s wall, {cpu:.4f} s CPU (all processes) per step")


if __name__ == "__main__":
    main()
