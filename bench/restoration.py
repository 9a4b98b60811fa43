"""Restoration with trained genzoo models against classical baselines, on held-out mnist-5k digits.

What the numbers are for: they show whether a generator trained on digits is a better prior for repairing digits
than the classical image-processing baselines that know nothing about digits (scikit-image's biharmonic inpainting
and TV denoising, bicubic upsampling), and what inversion costs per image. Each genzoo method inverts the generator
through the degradation (see genzoo.restoration) with the settings printed above the table.

Tasks, on the held-out split (500 digits no model trained on), PSNR/SSIM of the full 28x28 image against the original:
- inpaint-centre: the centre 14x14 square is missing; baseline `skimage.restoration.inpaint_biharmonic`.
- inpaint-random: a random 50 % of the pixels (per image, seeded) are missing; same baseline.
- sr-x4: 7x7 area-downsampled input upscaled to 28x28; baseline bicubic (PIL); plus the accuracy of the shipped
  MNIST classifier on the restored images (the digit's class must survive).
- denoise: Gaussian noise σ = 0.3 on [0, 1] pixels, clipped to [0, 1]; baseline `denoise_tv_chambolle` with its weight
  tuned on the first 50 images (the best of a small grid, so the baseline is at its best).
- inversion: invert the clean digit, generate from the latent; PSNR and wall time per image.

Needs the `bench` extra (scikit-image):

    pip install -e ".[bench]"
    python bench/restoration.py --run dcgan=runs/dcgan --run cgan=runs/cgan --run vae=runs/vae \
        --num-images 500 --figures docs/images --json restoration.json

On a busy CPU use --num-images 100 (and say so); --device cuda runs the genzoo side on a GPU.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from genzoo import GenPipeline, load_dataset
from genzoo.metrics.mnist_classifier import load_mnist_classifier
from genzoo.restoration import Downsample, GaussianNoise, Mask, captioned_grid, to_pixels

TASKS = ("inpaint-centre", "inpaint-random", "sr-x4", "denoise", "inversion")
TV_WEIGHTS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
FIGURE_ROWS = 6


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=DIR", help="a trained pipeline folder")
    parser.add_argument("--num-images", type=int, default=500, help="held-out digits (default: all 500)")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated subset of {', '.join(TASKS)}")
    parser.add_argument("--steps", type=int, default=200, help="optimisation steps per image (default: 200)")
    parser.add_argument("--restarts", type=int, default=4, help="starting points per image and class (default: 4)")
    parser.add_argument(
        "--candidates",
        type=int,
        default=0,
        help="screen this many prior draws per image and class and start from the best (default: no screening)",
    )
    parser.add_argument(
        "--cgan-classes",
        choices=["known", "search"],
        default="known",
        help="conditional models: give the true class (default) or search all classes (10x the work)",
    )
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--figures", metavar="DIR", help="write one example figure per task here")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    return parser.parse_args()


def psnr_ssim(restored: torch.Tensor, original: torch.Tensor) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM over images in [0, 1], computed per image with scikit-image (data range 1)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr, ssim = [], []
    for a, b in zip(restored.clamp(0, 1).numpy(), original.numpy(), strict=True):
        psnr.append(peak_signal_noise_ratio(b[0], a[0], data_range=1.0))
        ssim.append(structural_similarity(b[0], a[0], data_range=1.0))
    return float(np.mean(psnr)), float(np.mean(ssim))


def biharmonic(observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    from skimage.restoration import inpaint_biharmonic

    masks = mask.expand(len(observed), -1, -1, -1)
    out = [inpaint_biharmonic(x[0].numpy(), m[0].numpy()) for x, m in zip(observed, masks, strict=True)]
    return torch.from_numpy(np.stack(out)[:, None]).float().clamp(0, 1)


def bicubic(low: torch.Tensor, size: int) -> torch.Tensor:
    out = []
    for x in low.numpy():
        image = PIL.Image.fromarray(x[0].astype(np.float32), mode="F")
        out.append(np.asarray(image.resize((size, size), PIL.Image.Resampling.BICUBIC)))
    return torch.from_numpy(np.stack(out)[:, None]).float().clamp(0, 1)


def tv_denoise(noisy: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, float]:
    """TV denoising with the weight (of TV_WEIGHTS) that scores the best PSNR on the first 50 images."""
    from skimage.restoration import denoise_tv_chambolle

    def run(images: torch.Tensor, weight: float) -> torch.Tensor:
        return torch.from_numpy(np.stack([denoise_tv_chambolle(x[0], weight=weight) for x in images.numpy()])[:, None])

    tune = slice(0, min(50, len(noisy)))
    weight = max(TV_WEIGHTS, key=lambda w: psnr_ssim(run(noisy[tune], w).float(), clean[tune])[0])
    return run(noisy, weight).float().clamp(0, 1), weight


def main() -> None:
    args = parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise SystemExit(f"unknown task(s) {', '.join(sorted(unknown))}; choose from {', '.join(TASKS)}")
    torch.manual_seed(args.seed)
    data = load_dataset("mnist-5k", split="test").data.select(range(args.num_images))
    clean = to_pixels([row["image"] for row in data], 1)
    labels = torch.tensor([int(row["label"]) for row in data])
    pipes = {}
    for spec in args.run:
        name, _, folder = spec.partition("=")
        pipes[name] = GenPipeline.from_pretrained(folder).to(args.device)
    classifier = load_mnist_classifier()
    generator = torch.Generator().manual_seed(args.seed)
    centre = torch.zeros(1, 1, 28, 28, dtype=torch.bool)
    centre[..., 7:21, 7:21] = True
    random_mask = torch.rand(len(clean), 1, 28, 28, generator=generator) < 0.5
    noisy = GaussianNoise(0.3).degrade(clean, generator=generator)
    low = Downsample(4).forward(clean)

    def accuracy(images: torch.Tensor) -> float:
        with torch.no_grad():
            return float((classifier(images * 2 - 1).argmax(1) == labels).float().mean())

    print(__doc__.split("\n\n")[1].replace("\n", " "))
    print(
        f"\n{len(clean)} held-out mnist-5k digits; genzoo: {args.steps} Adam steps, {args.restarts} starts per image"
        f"{f' (the best of {args.candidates} prior draws)' if args.candidates else ''}, "
        f"class of conditional models: {args.cgan_classes}; device {args.device}; seed {args.seed}.\n"
    )
    rows: list[dict] = []
    for task in tasks:
        columns = [("original", clean)]
        if task.startswith("inpaint"):
            mask = centre if task == "inpaint-centre" else random_mask
            degradation = Mask(mask)
            observed = clean
            columns.append(("degraded", degradation.display(clean, 28)))
            start = time.perf_counter()
            baseline = biharmonic(clean, mask)
            rows.append(_row(task, "biharmonic (skimage)", baseline, clean, time.perf_counter() - start))
            columns.append(("biharmonic", baseline))
        elif task == "sr-x4":
            degradation, observed = Downsample(4), low
            columns.append(("degraded", degradation.display(low, 28)))
            baseline = bicubic(low, 28)
            rows.append(_row(task, "bicubic", baseline, clean, 0.0, accuracy(baseline)))
            rows.append(_row(task, "original (classifier check)", clean, clean, 0.0, accuracy(clean)))
            columns.append(("bicubic", baseline))
        elif task == "denoise":
            degradation, observed = GaussianNoise(0.3), noisy
            columns.append(("degraded", noisy))
            start = time.perf_counter()
            baseline, weight = tv_denoise(noisy, clean)
            rows.append(_row(task, f"TV Chambolle (weight {weight})", baseline, clean, time.perf_counter() - start))
            columns.append(("TV", baseline))
        else:
            degradation, observed = None, clean
        for name, pipe in pipes.items():
            class_labels = labels if pipe.model.is_conditional and args.cgan_classes == "known" else None
            options = {"num_restarts": args.restarts, "batch_size": args.batch_size, "class_labels": class_labels}
            if args.candidates:
                options["num_candidates"] = args.candidates
            start = time.perf_counter()
            if degradation is None:
                latents, used = pipe.invert(
                    observed, num_steps=args.steps, generator=torch.Generator().manual_seed(args.seed),
                    return_class_labels=True, **options,
                )  # fmt: skip
                restored = pipe(latents=latents, class_labels=used, output_type="pt").images.cpu()
            else:
                restored = pipe.restore(
                    observed, degradation, num_steps=args.steps, generator=torch.Generator().manual_seed(args.seed),
                    output_type="pt", **options,
                ).images.cpu()  # fmt: skip
            elapsed = time.perf_counter() - start
            rows.append(_row(task, name, restored, clean, elapsed, accuracy(restored) if task == "sr-x4" else None))
            columns.append((name, restored))
            probe_label = labels[:1].to(pipe.device) if pipe.model.is_conditional else None  # CVAE: needed
            has_encoder = pipe.model.posterior(clean[:1].to(pipe.device) * 2 - 1, probe_label) is not None
            if degradation is None and has_encoder:
                start = time.perf_counter()
                latents, used = pipe.invert(
                    observed, num_steps=0, num_restarts=1, batch_size=args.batch_size, return_class_labels=True,
                    class_labels=class_labels,
                )  # fmt: skip
                restored = pipe(latents=latents, class_labels=used, output_type="pt").images.cpu()
                rows.append(_row(task, f"{name} (encoder mean only)", restored, clean, time.perf_counter() - start))
        if args.figures:
            folder = Path(args.figures)
            folder.mkdir(parents=True, exist_ok=True)
            figure = captioned_grid([(caption, pixels[:FIGURE_ROWS]) for caption, pixels in columns], panel_size=56)
            figure.save(folder / f"restoration-{task}.png")
        print(_table([row for row in rows if row["task"] == task]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "results": rows}, indent=2) + "\n")


def _row(task: str, method: str, restored: torch.Tensor, clean: torch.Tensor, seconds: float, acc=None) -> dict:
    psnr, ssim = psnr_ssim(restored, clean)
    return {
        "task": task,
        "method": method,
        "psnr": psnr,
        "ssim": ssim,
        "accuracy": acc,
        "ms_per_image": 1000 * seconds / len(clean),
    }


def _table(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        acc = f"{100 * row['accuracy']:.1f} %" if row["accuracy"] is not None else "-"
        ms = f"{row['ms_per_image']:.0f}" if row["ms_per_image"] else "-"
        psnr = f"{row['psnr']:.2f}" if math.isfinite(row["psnr"]) else "-"  # the originals themselves: infinite
        lines.append(f"| {row['task']} | {row['method']} | {psnr} | {row['ssim']:.3f} | {acc} | {ms} |")
    header = "| task | method | PSNR (dB) | SSIM | classifier acc. | ms / image |\n|---|---|---|---|---|---|"
    return header + "\n" + "\n".join(lines)


if __name__ == "__main__":
    main()
