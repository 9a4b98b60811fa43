"""Training-step speed of GAN settings, measured side by side in one run and reported as ratios.

Each variant is a full training step of the given objective (discriminator and generator updates, Adam) on a batch
of random images, timed in interleaved rounds (A, B, C, A, B, C, ...) so that a noisy, shared machine slows every
variant alike; the report is each variant's median step time and its ratio to the first (the baseline).

    python bench/train_step_speed.py                          # DCGAN: critic width, bf16 autocast, reuse_fakes
    python bench/train_step_speed.py --model cgan --objective hinge --batch-size 64
    python bench/train_step_speed.py --threads 1 2            # PyTorch intra-op threads (each in its own process)
    python bench/train_step_speed.py --recipes                # the earlier DCGAN default (BCE) against today's (hinge)

The numbers in docs/models/dcgan.md (a half-width critic makes a step about 30 % faster) come from the first command,
run when the default was the BCE loss with a batch-norm critic; `--recipes` compares that step with today's.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

#: The DCGAN's training step: hinge loss, a spectral-norm critic of base_channels 32 without batch norm, Adam(2e-3,
#: betas (0, 0.9)) and the EMA of the generator (genzoo_gan.TRAINING_DEFAULTS / OBJECTIVE_DEFAULTS), generating twice
#: per step as before 2026-12-07; the default since then adds bf16 (on a CPU with it) and `reuse_fakes`.
DCGAN_DEFAULT: dict[str, Any] = {
    "critic_channels": 32,
    "objective": "hinge",
    "args": {"spectral_norm": True, "lr": 2e-3, "betas": (0.0, 0.9)},
    "discriminator": {"norm": "none"},
    "ema_decay": 0.999,
}
#: `--recipes`: the DCGAN's objective recipes, the earlier default (the DCGAN paper's) and today's.
RECIPES: dict[str, dict[str, Any]] = {
    "gan, batch-norm critic (old default)": {"critic_channels": 32, "objective": "gan"},
    "hinge, spectral norm, no critic norm": {key: v for key, v in DCGAN_DEFAULT.items() if key != "ema_decay"},
    "same, with EMA 0.999 (default)": DCGAN_DEFAULT,
}


def build_step(model_name: str, objective_name: str, batch_size: int, variant: dict[str, Any], device: str):
    """A closure that runs one training step of `variant` (`critic_channels`, `autocast`: None or "bf16",
    `objective`: another objective's name, `args`: objective arguments, `discriminator`: discriminator arguments,
    `ema_decay`: also update an EMA of the generator, as the trainer does), the way the trainer runs it on one
    process (a plain Accelerator; autocast is switched per variant here, since one process can hold only one
    Accelerator configuration)."""
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel

    from genzoo.registry import get_model, get_objective

    registration = get_model(model_name)
    model = registration.generator_class(**variant.get("model_args", {})).to(device).train()
    objective_class = get_objective(variant.get("objective") or objective_name or registration.default_objective).obj
    discriminator_args = {"base_channels": variant["critic_channels"]} if "critic_channels" in variant else {}
    discriminator_args.update(variant.get("discriminator", {}))
    objective = objective_class(model, registration, discriminator=discriminator_args, **variant.get("args", {}))
    for network in objective.networks.values():
        network.to(device).train()
    optimizers = objective.configure_optimizers()
    objective.bind(Accelerator(cpu=device == "cpu"), objective.networks, optimizers)
    size, channels = model.config.image_size, model.config.num_channels
    batch = {"pixel_values": torch.rand(batch_size, channels, size, size, device=device) * 2 - 1}
    if model.is_conditional:
        batch["class_labels"] = torch.arange(batch_size, device=device) % model.num_classes
    dtype = torch.bfloat16 if variant.get("autocast") == "bf16" else None
    counter = iter(range(10**9))
    ema = None
    if variant.get("ema_decay") is not None:
        ema = EMAModel(model.parameters(), decay=variant["ema_decay"], foreach=True)
        ema.to(device)

    def step() -> None:
        with torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
            objective.training_step(batch, next(counter), torch.Generator(device).manual_seed(0))
        if ema is not None:
            ema.step(model.parameters())

    return step


def time_variants(args: argparse.Namespace, variants: dict[str, dict[str, Any]]) -> dict[str, list[float]]:
    steps = {
        name: build_step(args.model, args.objective, args.batch_size, v, args.device) for name, v in variants.items()
    }
    for step in steps.values():  # warm-up: allocator, first-call overheads
        for _ in range(args.warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps_per_round):
                step()
            times[name].append((time.perf_counter() - start) / args.steps_per_round)
    return times


def report(times: dict[str, list[float]]) -> None:
    baseline = None
    print(f"{'variant':<38} {'median s/step':>14} {'steps/s':>9} {'time vs first':>14}")
    for name, samples in times.items():
        median = statistics.median(samples)
        baseline = baseline or median
        print(f"{name:<38} {median:>14.4f} {1 / median:>9.2f} {median / baseline:>13.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--objective", default=None, help="default: the model's own")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps-per-round", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, nargs="*", help="compare PyTorch thread counts instead")
    parser.add_argument("--recipes", action="store_true", help="compare the DCGAN objective recipes instead")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # time the default only, as JSON
    args = parser.parse_args()

    if args.threads:
        # Threads cannot change back and forth inside one process reliably, so each count runs in a child process;
        # the children alternate, round by round, like the variants above.
        times: dict[str, list[float]] = {f"{n} thread(s)": [] for n in args.threads}
        child = [sys.executable, __file__, "--model", args.model, "--batch-size", str(args.batch_size), "--child"]
        child += ["--rounds", "1", "--steps-per-round", str(args.steps_per_round), "--warmup", str(args.warmup)]
        if args.objective:
            child += ["--objective", args.objective]
        for _ in range(args.rounds):
            for n in args.threads:
                env = {**os.environ, "OMP_NUM_THREADS": str(n)}
                out = subprocess.run(child, capture_output=True, text=True, check=True, env=env).stdout
                times[f"{n} thread(s)"] += json.loads(out.strip().splitlines()[-1])["default"]
        report(times)
        return

    variants = {
        "float32, critic base_channels 32": DCGAN_DEFAULT,
        "float32, critic base_channels 64": {**DCGAN_DEFAULT, "critic_channels": 64},
        "bf16 autocast": {**DCGAN_DEFAULT, "autocast": "bf16"},
        "float32, reuse_fakes": {**DCGAN_DEFAULT, "args": {**DCGAN_DEFAULT["args"], "reuse_fakes": True}},
        "bf16, reuse_fakes (the default)": {
            **DCGAN_DEFAULT,
            "autocast": "bf16",
            "args": {**DCGAN_DEFAULT["args"], "reuse_fakes": True},
        },
    }
    if args.recipes:
        variants = RECIPES
    elif args.model != "dcgan":
        variants = {"default": {}, "bf16 autocast": {"autocast": "bf16"}}
    if args.child:
        variants = {"default": next(iter(variants.values()))}
    times = time_variants(args, variants)
    if args.child:
        print(json.dumps(times))
    else:
        print(f"{args.model}, batch {args.batch_size}, {args.device}, {torch.get_num_threads()} thread(s); "
              f"median of {args.rounds} interleaved rounds of {args.steps_per_round} steps")  # fmt: skip
        report(times)


if __name__ == "__main__":
    main()
