"""Data-path speed: training steps fed by genzoo's data path vs the same steps fed from an in-memory tensor, and the
whole `genzoo train` loop vs a plain PyTorch loop, side by side in one process, reported as per-pair ratios.

Part `data` runs one loop (the model's objective, bound to an Accelerator as the trainer binds it) fed three ways,
interleaved round by round:
  - `default`: what `genzoo train` does: `Dataset.training_rows` (in memory when it fits, as mnist-5k does) in a
    DataLoader prepared by Accelerate (seedable sampler);
  - `lazy`: the same rows with `in_memory=false` (decoded batch by batch: the path large datasets take);
  - `memory`: batches indexed from a float tensor already in memory, with the same sampler order (the reference).
Part `trainer` runs `genzoo.training.train` (the whole trainer: data, accumulate, EMA, logging) against a plain
loop (the same networks, Adam settings and non-saturating GAN loss, batches from an in-memory tensor), timing each
from its third step to its last.

Each ratio is reference time / side time for one round (so 1.0 means as fast as the reference, and the goal
is >= 0.97), printed as median [min-max] over the rounds, for CPU time (`time.process_time`) and wall time.

    python bench/data_path_speed.py                      # both parts, dcgan on mnist-5k, 1 thread
    python bench/data_path_speed.py --part data --rounds 15 --steps-per-round 20
    python bench/data_path_speed.py --part trainer --threads 2
"""

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F


def timed(run: Callable[[], None]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def summary(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]"


def report(title: str, reference: str, times: dict[str, list[tuple[float, float]]]) -> None:
    print(title)
    print(f"  {'side':<10} {'median s/step (CPU)':>20} {'ratio CPU':>22} {'ratio wall':>22}")
    for name, samples in times.items():
        cpu = [ref[0] / own[0] for ref, own in zip(times[reference], samples, strict=True)]
        wall = [ref[1] / own[1] for ref, own in zip(times[reference], samples, strict=True)]
        median = statistics.median(s[0] for s in samples)
        print(f"  {name:<10} {median:>20.4f} {summary(cpu):>22} {summary(wall):>22}")


# Part 1: the data path under one loop ---------------------------------------------------------------------------


def data_part(args: argparse.Namespace) -> None:
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    from genzoo import load_dataset
    from genzoo.registry import get_model, get_objective

    registration = get_model(args.model)
    dataset = load_dataset(args.dataset)
    channels, height, width = dataset.image_shape()
    model = registration.generator_class(image_size=min(height, width), num_channels=channels)
    objective_class = get_objective(registration.default_objective).obj
    objective = objective_class(model, registration, discriminator={"base_channels": args.critic_channels})
    accelerator = Accelerator(
        cpu=True, dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=0)
    )
    optimizers = objective.configure_optimizers()
    objective.bind(accelerator, objective.networks, optimizers)

    def loader(in_memory: Any) -> Iterator[dict[str, torch.Tensor]]:
        rows = dataset.training_rows(model.config.image_size, channels, in_memory=in_memory)
        data = torch.utils.data.DataLoader(rows, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                           collate_fn=rows.collate)  # fmt: skip
        data = accelerator.prepare(data)

        def forever() -> Iterator[dict[str, torch.Tensor]]:
            for epoch in itertools.count():
                data.set_epoch(epoch)
                rows.set_epoch(epoch)
                yield from data

        return forever()

    # The reference: the images already as one float tensor in [-1, 1], indexed in the sampler's order.
    everything = dataset.training_rows(model.config.image_size, channels)
    pixels = everything.__getitems__(list(range(len(everything))))["pixel_values"]
    labels = everything.labels

    def memory() -> Iterator[dict[str, torch.Tensor]]:
        generator = torch.Generator().manual_seed(0)
        while True:
            order = torch.randperm(len(pixels), generator=generator)
            for start in range(0, len(order) - args.batch_size + 1, args.batch_size):
                index = order[start : start + args.batch_size]
                batch = {"pixel_values": pixels[index]}
                if labels is not None:
                    batch["class_labels"] = labels[index]
                yield batch

    sides = {"default": loader("auto"), "lazy": loader(False), "memory": memory()}
    counter = itertools.count()
    noise = torch.Generator().manual_seed(0)

    def steps(batches: Iterator[dict[str, torch.Tensor]]) -> None:
        for _ in range(args.steps_per_round):
            objective.training_step(next(batches), next(counter), noise)

    for batches in sides.values():  # warm-up: allocator, first-call overheads, decode-once
        steps(batches)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, batches in sides.items():
            times[name].append(timed(lambda b=batches: steps(b)))
    print(f"default in memory: {everything.in_memory}")
    report(
        f"data path: {args.model} on {args.dataset}, batch {args.batch_size}, {torch.get_num_threads()} thread(s), "
        f"{args.rounds} rounds of {args.steps_per_round} steps (ratio: memory time / side time)",
        "memory",
        {name: [(c / args.steps_per_round, w / args.steps_per_round) for c, w in t] for name, t in times.items()},
    )


# Part 2: the whole trainer vs a plain loop --------------------------------------------------------------------------


class StepClock:
    """Wraps an objective's `training_step` to read the clocks at the start of step `warmup` and after the last."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.calls, self.start, self.end = warmup, 0, (0.0, 0.0), (0.0, 0.0)

    def wrap(self, step: Callable[..., Any]) -> Callable[..., Any]:
        def timed_step(*args: Any, **kwargs: Any) -> Any:
            if self.calls == self.warmup:
                self.start = (time.process_time(), time.perf_counter())
            out = step(*args, **kwargs)
            self.calls += 1
            self.end = (time.process_time(), time.perf_counter())
            return out

        return timed_step

    def per_step(self) -> tuple[float, float]:
        count = self.calls - self.warmup
        return (self.end[0] - self.start[0]) / count, (self.end[1] - self.start[1]) / count


def trainer_part(args: argparse.Namespace) -> None:
    from genzoo.config import resolve_train_config
    from genzoo.registry import get_model, get_objective
    from genzoo.training import train

    registration = get_model(args.model)
    config = resolve_train_config({
        "model": args.model, "dataset": args.dataset, "max_steps": args.steps_per_round + 2,
        "batch_size": args.batch_size, "sample_every": 0, "log_every": 50, "checkpoint_every": 0,
        "num_sample_images": 4, "num_threads": args.threads,
    })  # fmt: skip
    objective_class = get_objective(config.objective or registration.default_objective).obj
    values = config.to_dict()
    root = Path(tempfile.mkdtemp(prefix="genzoo-bench-"))

    def genzoo_round(index: int) -> tuple[float, float]:
        clock = StepClock(warmup=2)
        original = objective_class.training_step
        objective_class.training_step = clock.wrap(original)
        try:
            train({**values, "output_dir": str(root / f"run{index}")})
        finally:
            objective_class.training_step = original
        return clock.per_step()

    from genzoo import load_dataset

    dataset = load_dataset(args.dataset)
    rows = dataset.training_rows(*_size(dataset))
    pixels = rows.__getitems__(list(range(len(rows))))["pixel_values"]

    def plain_round(index: int) -> tuple[float, float]:
        torch.manual_seed(0)
        model = registration.generator_class(**values.get("model_args", {}), image_size=pixels.shape[-1],
                                             num_channels=pixels.shape[1])  # fmt: skip
        objective = objective_class(model, registration, **values.get("objective_args", {}))
        generator, critic = model.train(), objective.networks["discriminator"].train()
        opt_g = torch.optim.Adam(generator.parameters(), lr=objective.lr, betas=objective.betas)
        opt_d = torch.optim.Adam(critic.parameters(), lr=objective.lr_d, betas=objective.betas)
        order = torch.randperm(len(pixels), generator=torch.Generator().manual_seed(index))
        clock = StepClock(warmup=2)

        def step(real: torch.Tensor, noise: torch.Generator) -> None:
            with torch.no_grad():
                fake = generator(generator.sample_latents(len(real), generator=noise))
            loss_d = F.softplus(-critic(real)).mean() + F.softplus(critic(fake)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            critic.requires_grad_(False)
            loss_g = F.softplus(-critic(generator(generator.sample_latents(len(real), generator=noise)))).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            critic.requires_grad_(True)

        timed_step = clock.wrap(step)
        for number in range(values["max_steps"]):
            start = number * args.batch_size % (len(order) - args.batch_size)
            timed_step(pixels[order[start : start + args.batch_size]], torch.Generator().manual_seed(number))
        return clock.per_step()

    sides = {"genzoo": genzoo_round, "plain": plain_round}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for index in range(args.rounds):
        for name, run in sides.items():
            times[name].append(run(index))
    report(
        f"trainer: genzoo train {args.model} vs a plain loop, batch {args.batch_size}, {torch.get_num_threads()} "
        f"thread(s), {args.rounds} rounds of {args.steps_per_round} timed steps (ratio: plain time / side time)",
        "plain",
        times,
    )


def _size(dataset: Any) -> tuple[int, int]:
    channels, height, width = dataset.image_shape()
    return min(height, width), channels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["data", "trainer", "both"], default="both")
    parser.add_argument("--model", default="dcgan", help="an unconditional GAN family (the plain loop is a GAN's)")
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--critic-channels", type=int, default=32, help="data part: the DCGAN default critic width")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps-per-round", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.part in ("data", "both"):
        data_part(args)
    if args.part in ("trainer", "both"):
        trainer_part(args)


if __name__ == "__main__":
    main()
