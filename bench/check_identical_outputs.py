"""Fixed-seed outputs of every pipeline task, to check that a refactor changes no result.

Builds tiny DCGAN, CGAN, VAE and CVAE generators from a seed (their initial weights are deterministic, so no
training is needed), runs `invert`, `inpaint`, `super_resolve`, `denoise`, `find_directions` (SeFa and KL-ranked
dimensions), `traverse` and `class_interpolation` with fixed seeds, and records every output tensor (images as
pixel arrays). Run it before a change with `--save` and after it with `--compare`:

    python bench/check_identical_outputs.py --save /tmp/before.pt
    python bench/check_identical_outputs.py --compare /tmp/before.pt     # exit 1 on any difference

Without either option it prints one SHA-256 per output. Identity is bit-for-bit on one machine and one thread count
(float rounding depends on both), so the script pins one thread.
"""

import argparse
import hashlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import PIL.Image
import torch

from genzoo import GenPipeline
from genzoo.pipeline import pipeline_class_of
from genzoo.registry import get_model

FAMILIES = {
    "dcgan": {"latent_dim": 8, "image_size": 28, "num_channels": 1, "base_channels": 8},
    "cgan": {"latent_dim": 8, "image_size": 28, "num_channels": 1, "num_classes": 10, "base_channels": 4},
    "vae": {"latent_dim": 4, "image_size": 28, "num_channels": 1, "base_channels": 4, "hidden_dim": 16},
    "cvae": {
        "latent_dim": 4, "image_size": 28, "num_channels": 1, "base_channels": 4, "hidden_dim": 16, "num_classes": 3,
        "embedding_dim": 3,
    },
}  # fmt: skip
INVERSION = {"num_steps": 20, "num_restarts": 2}


def build(name: str) -> GenPipeline:
    """The family's pipeline around a generator initialised from seed 0, in eval mode."""
    registration = get_model(name)
    torch.manual_seed(0)
    return pipeline_class_of(registration)(model=registration.generator_class(**FAMILIES[name]).eval())


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def as_tensor(value: Any) -> torch.Tensor:
    """An output as a tensor: images as uint8 arrays, `Directions` as their directions and strengths."""
    if isinstance(value, PIL.Image.Image):
        return torch.from_numpy(np.asarray(value).copy())
    if isinstance(value, list | tuple):
        return torch.stack([as_tensor(item) for item in value])
    if hasattr(value, "directions") and hasattr(value, "strengths"):
        return torch.cat([value.directions.flatten(), value.strengths.flatten()])
    if hasattr(value, "images"):
        return as_tensor(value.images)
    return torch.as_tensor(value).detach().cpu()


def cases(name: str, pipe: GenPipeline) -> dict[str, Callable[[], Any]]:
    """Every task this family supports, as a closure of its fixed-seed call."""
    model = pipe.model
    size = int(model.config.image_size)
    conditional = model.is_conditional
    labels = torch.arange(2) % model.num_classes if conditional else None
    clean = pipe(batch_size=2, class_labels=labels, generator=seeded(1), output_type="pt").images
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    low = torch.nn.functional.avg_pool2d(clean, 4)
    noisy = (clean + 0.2 * torch.randn(clean.shape, generator=seeded(2))).clamp(0, 1)
    out: dict[str, Callable[[], Any]] = {
        "invert": lambda: pipe.invert(clean, class_labels=labels, generator=seeded(), **INVERSION),
        "inpaint": lambda: pipe.inpaint(
            clean, mask, class_labels=labels, generator=seeded(), output_type="pt", **INVERSION
        ),
        "inpaint_screened": lambda: pipe.inpaint(
            clean, mask, generator=seeded(), output_type="pt", num_candidates=8, **INVERSION
        ),
        "super_resolve": lambda: pipe.super_resolve(
            low, scale=4, class_labels=labels, generator=seeded(), output_type="pt", **INVERSION
        ),
        "super_resolve_sphere": lambda: pipe.super_resolve(
            low, scale=4, class_labels=labels, generator=seeded(), output_type="pt", prior="sphere", **INVERSION
        ),
        "denoise": lambda: pipe.denoise(
            noisy, noise_std=0.2, class_labels=labels, generator=seeded(), output_type="pt", **INVERSION
        ),
    }
    first_label = labels[:1] if conditional else None
    out["denoise_pil"] = lambda: pipe.denoise(
        pipe(batch_size=1, class_labels=first_label, generator=seeded(3)).images[0],
        noise_std=0.1,
        class_labels=first_label,
        generator=seeded(),
        **INVERSION,
    )
    if name == "dcgan":
        out["denoise_features"] = lambda: pipe.denoise(
            noisy, noise_std=0.2, generator=seeded(), output_type="pt", feature_extractor="mnist-classifier",
            **INVERSION,
        )  # fmt: skip
    tasks = pipe.supported_tasks()
    if "directions" in tasks:
        try:
            sefa = pipe.find_directions(method="sefa", num_directions=3)
        except Exception:  # a family without a linear first layer (the VAE's encoder gives dims)
            sefa = None
        if sefa is not None:
            out["find_directions_sefa"] = lambda: sefa
            out["traverse_sefa"] = lambda: pipe.traverse(sefa, values=[-2.0, 0.0, 2.0], generator=seeded(4))
        if model.posterior(torch.zeros(1, 1, size, size), labels[:1] if conditional else None) is not None:
            dims_labels = {"class_labels": 0} if conditional else {}
            out["find_directions_dims"] = lambda: pipe.find_directions(
                method="dims", num_directions=2, num_images=16, generator=seeded(5), **dims_labels
            )
    out["traverse_dim"] = lambda: pipe.traverse(1, values=[-1.0, 1.0], generator=seeded(6), num_rows=2)
    if "class_interpolation" in tasks:
        out["class_interpolation"] = lambda: pipe.class_interpolation(0, 1, steps=4, generator=seeded(7))
    return out


def run() -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    results = {}
    for name in FAMILIES:
        pipe = build(name)
        for task, call in cases(name, pipe).items():
            results[f"{name}/{task}"] = as_tensor(call())
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--save", metavar="FILE.pt", help="write every output tensor to this file")
    group.add_argument("--compare", metavar="FILE.pt", help="compare with a file written by --save")
    args = parser.parse_args(argv)
    results = run()
    for key, tensor in results.items():
        digest = hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()[:16]
        print(f"{key:40s} {tuple(tensor.shape)!s:22s} {digest}")
    if args.save:
        torch.save(results, args.save)
        print(f"Saved {len(results)} outputs to {args.save}")
    if args.compare:
        before = torch.load(args.compare)
        differ = [key for key in before if key not in results or not torch.equal(before[key], results[key])]
        missing = [key for key in results if key not in before]
        for key in differ:
            print(f"DIFFERS: {key}")
        new = f"; new: {missing}" if missing else ""
        print(f"{len(before) - len(differ)} of {len(before)} outputs identical{new}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
