"""Check that the adversarial objectives keep DDP replicas identical, penalties (double backward) included.

Each process trains a tiny DCGAN on its own random batches for a few steps; gradients are averaged by DDP, so the
generator and critic weights must stay bit-identical across processes. Run on CPU processes (gloo):

    accelerate launch --multi_gpu --num_processes 2 bench/check_ddp_penalties.py wgan-gp --r1-gamma 1 --spectral-norm

It prints the largest weight difference between process 0 and every other process (0.0 when in sync).
"""

import argparse

import torch
from accelerate import Accelerator

from genzoo.registry import get_model, get_objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("objective", help="gan, hinge or wgan-gp")
    parser.add_argument("--r1-gamma", type=float, default=0.0)
    parser.add_argument("--spectral-norm", action="store_true")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    registration = get_model("dcgan")
    torch.manual_seed(0)  # the same initial weights in every process
    model = registration.generator_class(latent_dim=8, image_size=28, num_channels=1, base_channels=8)
    objective = get_objective(args.objective).obj(
        model,
        registration,
        discriminator={"base_channels": 8},
        r1_gamma=args.r1_gamma,
        spectral_norm=args.spectral_norm,
        n_critic=2,
    )
    names = list(objective.networks)
    optimizers = objective.configure_optimizers()
    prepared = accelerator.prepare(*objective.networks.values(), *(optimizers[name] for name in names))
    networks = dict(zip(names, prepared[: len(names)], strict=True))
    objective.bind(accelerator, networks, dict(zip(names, prepared[len(names) :], strict=True)))
    for step in range(args.steps):
        data = torch.Generator().manual_seed(1000 * accelerator.process_index + step)  # different data per process
        batch = {"pixel_values": torch.rand(4, 1, 28, 28, generator=data).to(accelerator.device) * 2 - 1}
        noise = torch.Generator().manual_seed(step + 100 * accelerator.process_index)
        logs = objective.training_step(batch, step, noise)
    for name in names:
        weights = torch.cat([p.detach().flatten() for p in objective.unwrap(name).parameters()])
        gathered = accelerator.gather(weights[None])
        difference = (gathered[1:] - gathered[:1]).abs().max().item() if len(gathered) > 1 else 0.0
        accelerator.print(f"{name}: max |process 0 - others| = {difference:.3g}")
    accelerator.print({key: round(value.item(), 4) for key, value in logs.items()})


if __name__ == "__main__":
    main()
