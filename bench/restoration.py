"""Restoration with trained genzoo models against classical baselines, on held-out mnist-5k digits (or any image
folder, RGB included, with --images).

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

Trained restoration (`--trained NAME=DIR`, a `genzoo train pix2pix` run): each model restores the tasks of the kind
it was trained for in one forward pass (an inpainting model both inpainting rows, a super-resolution model sr-x4, a
denoising model denoise at its σ). `--hybrid VAE_NAME` adds, for every trained inpainting model, the two orders of
combining it with that `--run` (which needs an encoder): the pix2pix output as inversion's starting point, refined for
`--hybrid-steps` steps, and the inversion's output as pix2pix's input (its fill of the hole instead of grey).

Every row reports PSNR, SSIM (scikit-image), the shipped MNIST classifier's accuracy on the restored digits, the FID
of the restored digits against the same digits' originals in that classifier's 128-d features, and the CPU time per
image (`time.process_time`, all threads): the whole batch run (`ms / image`), and for trained models and inversion at
batch 1 and at batch 64 on the first images (`--timing-images` at batch 1; inversion at its defaults, 200 steps and 4
starts, unless `--steps`/`--restarts` say otherwise).

Needs the `bench` extra (scikit-image):

    pip install -e ".[bench]"
    python bench/restoration.py --run dcgan=runs/dcgan --run cgan=runs/cgan --run vae=runs/vae \
        --num-images 500 --figures docs/images --json restoration.json
    python bench/restoration.py --trained l1=runs/inpaint-l1 --trained pix2pix=runs/inpaint-pix2pix \
        --tasks inpaint-centre --json trained.json          # trained models and the classical baselines only

On a busy CPU use --num-images 100 (and say so); --device cuda runs the genzoo side on a GPU. `--images DIR` scores
the image files of DIR instead (e.g. `bench/make_emoji_dataset.py --holdout 300` writes emoji32-heldout/): PSNR and
SSIM over the colour channels, no classifier column, and FID in the FID Inception's features (`--inception FILE`, or
genzoo's search path; without weights, no FID column).
"""

import argparse
import functools
import json
import math
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from genzoo import GenPipeline, load_dataset
from genzoo.metrics.functional import frechet_distance
from genzoo.metrics.mnist_classifier import load_mnist_classifier
from genzoo.restoration import Downsample, GaussianNoise, Mask, captioned_grid, to_pixels

TASKS = ("inpaint-centre", "inpaint-random", "sr-x4", "denoise", "inversion")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
TV_WEIGHTS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
FIGURE_ROWS = 6


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", default=[], metavar="NAME=DIR", help="a generator to invert")
    parser.add_argument(
        "--trained", action="append", default=[], metavar="NAME=DIR", help="a trained restoration model (pix2pix)"
    )
    parser.add_argument("--hybrid", metavar="NAME", help="a --run with an encoder to combine with inpainting models")
    parser.add_argument("--hybrid-steps", type=int, default=20, help="inversion steps of the hybrid (default: 20)")
    parser.add_argument(
        "--timing-images", type=int, default=4, help="images timed one at a time (batch 1; default: 4)"
    )
    parser.add_argument("--num-images", type=int, default=500, help="held-out images (default: 500)")
    parser.add_argument(
        "--images", metavar="DIR", help="restore the images of this folder instead of mnist-5k's held-out digits"
    )
    parser.add_argument("--inception", help="FID Inception weights file for --images (default: genzoo's search path)")
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
    parser.add_argument(
        "--record",
        action="store_true",
        help="write each trained model's rows into its folder's eval_results.json and rewrite its model card",
    )
    return parser.parse_args()


def psnr_ssim(restored: torch.Tensor, original: torch.Tensor) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM over images in [0, 1], computed per image with scikit-image (data range 1; SSIM over
    the colour channels of an RGB image)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr, ssim = [], []
    for a, b in zip(restored.clamp(0, 1).numpy(), original.numpy(), strict=True):
        psnr.append(peak_signal_noise_ratio(b, a, data_range=1.0))
        ssim.append(structural_similarity(b, a, data_range=1.0, channel_axis=0))
    return float(np.mean(psnr)), float(np.mean(ssim))


def biharmonic(observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    from skimage.restoration import inpaint_biharmonic

    masks = mask.expand(len(observed), -1, -1, -1)
    out = [inpaint_biharmonic(x.numpy(), m[0].numpy(), channel_axis=0) for x, m in zip(observed, masks, strict=True)]
    return torch.from_numpy(np.stack(out)).float().clamp(0, 1)


def bicubic(low: torch.Tensor, size: int) -> torch.Tensor:
    out = []
    for x in low.numpy():
        channels = [PIL.Image.fromarray(c.astype(np.float32), mode="F") for c in x]
        out.append(np.stack([np.asarray(c.resize((size, size), PIL.Image.Resampling.BICUBIC)) for c in channels]))
    return torch.from_numpy(np.stack(out)).float().clamp(0, 1)


def tv_denoise(noisy: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, float]:
    """TV denoising with the weight (of TV_WEIGHTS) that scores the best PSNR on the first 50 images."""
    from skimage.restoration import denoise_tv_chambolle

    def run(images: torch.Tensor, weight: float) -> torch.Tensor:
        return torch.from_numpy(
            np.stack([denoise_tv_chambolle(x, weight=weight, channel_axis=0) for x in images.numpy()])
        )

    tune = slice(0, min(50, len(noisy)))
    weight = max(TV_WEIGHTS, key=lambda w: psnr_ssim(run(noisy[tune], w).float(), clean[tune])[0])
    return run(noisy, weight).float().clamp(0, 1), weight


def held_out_images(args: argparse.Namespace, channels: int) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """The images to restore in [0, 1], their digit labels (mnist-5k only, else `None`) and the dataset's name: the
    first `--num-images` of mnist-5k's held-out split, or of the sorted image files of `--images DIR`."""
    if not args.images:
        data = load_dataset("mnist-5k", split="test").data.select(range(args.num_images))
        labels = torch.tensor([int(row["label"]) for row in data])
        return to_pixels([row["image"] for row in data], 1), labels, "mnist-5k"
    files = sorted(p for p in Path(args.images).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[: args.num_images]
    if not files:
        raise SystemExit(f"--images {args.images}: no image files there")
    return to_pixels([PIL.Image.open(path) for path in files], channels), None, Path(args.images).name


def classifier_quality(clean: torch.Tensor, labels: torch.Tensor):
    """For digits: the shipped MNIST classifier's accuracy on restored images, and their FID against the originals
    in its 128-d features."""
    classifier = load_mnist_classifier()
    with torch.no_grad():
        real = classifier.features(clean * 2 - 1).double().numpy()

    def quality(images: torch.Tensor) -> dict:
        with torch.no_grad():
            accuracy = float((classifier(images * 2 - 1).argmax(1) == labels).float().mean())
            features = classifier.features(images.clamp(0, 1) * 2 - 1).double().numpy()
        return {"accuracy": accuracy, "fid": _frechet(features, real), "fid_features": "classifier"}

    return quality


def inception_quality(clean: torch.Tensor, weights: str | None):
    """For other images: no class to check, and FID against the originals in the FID Inception's 2,048-d features
    (from a local weights file; without one, no FID). From a few hundred images FID is biased upwards, so it only
    compares the rows of one table."""
    from genzoo.errors import GenzooError
    from genzoo.metrics.extractors import load_feature_extractor

    try:
        extractor = load_feature_extractor("inception", weights, device="cpu")
    except GenzooError as exc:
        print(f"No FID column: {exc}")
        return lambda images: {"accuracy": None, "fid": None, "fid_features": "Inception"}

    def features(images: torch.Tensor) -> np.ndarray:
        return torch.cat([extractor(batch * 2 - 1) for batch in images.clamp(0, 1).split(100)]).double().numpy()

    real = features(clean)
    return lambda images: {"accuracy": None, "fid": _frechet(features(images), real), "fid_features": "Inception"}


def _frechet(features: np.ndarray, real: np.ndarray) -> float:
    fid = frechet_distance(features.mean(0), np.cov(features, rowvar=False), real.mean(0), np.cov(real, rowvar=False))
    return max(0.0, fid)  # rounding leaves -0.0 for identical sets


def cpu_ms_per_image(count: int, function, *args, **kwargs) -> tuple[float, object]:
    """CPU milliseconds per image of `function(*args, **kwargs)` (all threads of this process) and its result."""
    start = time.process_time()
    result = function(*args, **kwargs)
    return 1000 * (time.process_time() - start) / count, result


def main() -> None:
    args = parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise SystemExit(f"unknown task(s) {', '.join(sorted(unknown))}; choose from {', '.join(TASKS)}")
    if not args.run and not args.trained:
        raise SystemExit("nothing to measure: pass --run NAME=DIR (inversion) and/or --trained NAME=DIR (pix2pix)")
    torch.manual_seed(args.seed)
    pipes = {name: GenPipeline.from_pretrained(folder).to(args.device) for name, folder in map(_split, args.run)}
    trained = {name: GenPipeline.from_pretrained(folder) for name, folder in map(_split, args.trained)}
    if args.hybrid and args.hybrid not in pipes:
        raise SystemExit(f"--hybrid {args.hybrid}: pass it as --run {args.hybrid}=DIR too")
    channels = int(next(iter({**trained, **pipes}.values())).model.config.num_channels)
    clean, labels, dataset = held_out_images(args, channels)
    size = clean.shape[-1]
    quality = classifier_quality(clean, labels) if labels is not None else inception_quality(clean, args.inception)
    generator = torch.Generator().manual_seed(args.seed)
    centre = torch.zeros(1, 1, size, size, dtype=torch.bool)
    centre[..., size // 4 : size - size // 4, size // 4 : size - size // 4] = True  # the centre square, half the side
    random_mask = torch.rand(len(clean), 1, size, size, generator=generator) < 0.5
    noisy = GaussianNoise(0.3).degrade(clean, generator=generator)
    low = Downsample(4).forward(clean)

    print(__doc__.split("\n\n")[1].replace("\n", " "))
    print(
        f"\n{len(clean)} held-out {dataset} images; genzoo: {args.steps} Adam steps, {args.restarts} starts per image"
        f"{f' (the best of {args.candidates} prior draws)' if args.candidates else ''}, "
        f"class of conditional models: {args.cgan_classes}; device {args.device}; seed {args.seed}.\n"
    )
    rows: list[dict] = []
    for task in tasks:
        columns = [("original", clean)]
        row = functools.partial(_row, task, clean=clean, quality=quality)
        if task.startswith("inpaint"):
            mask = centre if task == "inpaint-centre" else random_mask
            degradation = Mask(mask)
            observed = clean
            columns.append(("degraded", degradation.display(clean, size)))
            ms, baseline = cpu_ms_per_image(len(clean), biharmonic, clean, mask)
            rows.append(row("biharmonic (skimage)", baseline, ms))
            columns.append(("biharmonic", baseline))
        elif task == "sr-x4":
            degradation, observed = Downsample(4), low
            columns.append(("degraded", degradation.display(low, size)))
            ms, baseline = cpu_ms_per_image(len(clean), bicubic, low, size)
            rows.append(row("bicubic", baseline, ms))
            if labels is not None:
                rows.append(row("original (classifier check)", clean, 0.0))
            columns.append(("bicubic", baseline))
        elif task == "denoise":
            degradation, observed = GaussianNoise(0.3), noisy
            columns.append(("degraded", noisy))
            ms, (baseline, weight) = cpu_ms_per_image(len(clean), tv_denoise, noisy, clean)
            rows.append(row(f"TV Chambolle (weight {weight})", baseline, ms))
            columns.append(("TV", baseline))
        else:
            degradation, observed = None, clean
        for name, pipe in trained.items():
            if degradation is None or not _trained_for(pipe, degradation):
                continue
            ms, restored = cpu_ms_per_image(len(clean), pipe.restore, observed, degradation, output_type="pt")
            restored = restored.images
            one = functools.partial(_restore_subset, pipe, observed, degradation, {})
            timing = _timings(one, len(clean), args.timing_images)
            rows.append(row(f"trained {name}", restored, ms, **timing))
            columns.append((name, restored))
            if args.hybrid and task.startswith("inpaint"):
                rows += _hybrid_rows(args, pipe, pipes[args.hybrid], name, observed, degradation, restored, row)
        for name, pipe in pipes.items():
            class_labels = (
                labels if labels is not None and pipe.model.is_conditional and args.cgan_classes == "known" else None
            )
            options = {"num_restarts": args.restarts, "batch_size": args.batch_size, "class_labels": class_labels}
            if args.candidates:
                options["num_candidates"] = args.candidates
            seeded = {"num_steps": args.steps, "generator": torch.Generator().manual_seed(args.seed)}
            start = time.process_time()
            if degradation is None:
                latents, used = pipe.invert(observed, return_class_labels=True, **seeded, **options)
                restored = pipe(latents=latents, class_labels=used, output_type="pt").images.cpu()
            else:
                restored = pipe.restore(observed, degradation, output_type="pt", **seeded, **options).images.cpu()
            ms = 1000 * (time.process_time() - start) / len(clean)
            timing = {}
            if degradation is not None:
                one = functools.partial(_restore_subset, pipe, observed, degradation, {**options, **seeded})
                timing = _timings(one, len(clean), args.timing_images)
            rows.append(row(name, restored, ms, **timing))
            columns.append((name, restored))
            probe_label = labels[:1].to(pipe.device) if class_labels is not None else None  # CVAE: needed
            has_encoder = pipe.model.posterior(clean[:1].to(pipe.device) * 2 - 1, probe_label) is not None
            if degradation is None and has_encoder:
                ms, (latents, used) = cpu_ms_per_image(
                    len(clean), pipe.invert, observed, num_steps=0, num_restarts=1, batch_size=args.batch_size,
                    return_class_labels=True, class_labels=class_labels,
                )  # fmt: skip
                restored = pipe(latents=latents, class_labels=used, output_type="pt").images.cpu()
                rows.append(row(f"{name} (encoder mean only)", restored, ms))
        if args.figures:
            folder = Path(args.figures)
            folder.mkdir(parents=True, exist_ok=True)
            figure = captioned_grid([(caption, pixels[:FIGURE_ROWS]) for caption, pixels in columns], panel_size=56)
            figure.save(folder / f"restoration-{task}.png")
        print(_table([row for row in rows if row["task"] == task]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "results": rows}, indent=2) + "\n")
    if args.record:
        for name, folder in map(_split, args.trained):
            _record(Path(folder), [row for row in rows if row["method"] == f"trained {name}"], len(clean), dataset)


def _record(folder: Path, rows: list[dict], count: int, dataset: str) -> None:
    """A trained model's measured rows as its `eval_results.json` (what its model card's metrics table shows)."""
    from genzoo.hub import finish_folder

    results: dict = {"num_images": count, "dataset": dataset, "split": "test" if dataset == "mnist-5k" else "held out"}
    for row in rows:
        results[f"{row['task']} PSNR (dB)"] = round(row["psnr"], 3)
        results[f"{row['task']} SSIM"] = round(row["ssim"], 4)
        if row["accuracy"] is not None:
            results[f"{row['task']} classifier accuracy"] = round(row["accuracy"], 4)
        if row["fid"] is not None:
            results[f"{row['task']} FID ({row['fid_features']} features)"] = round(row["fid"], 3)
        if row["ms_batch_64"]:
            results[f"{row['task']} CPU ms per image (batch 64)"] = round(row["ms_batch_64"], 3)
    (folder / "eval_results.json").write_text(json.dumps(results, indent=2) + "\n")
    finish_folder(folder)


def _split(spec: str) -> tuple[str, str]:
    name, _, folder = spec.partition("=")
    return name, folder


def _trained_for(pipe, degradation) -> bool:
    """Whether a trained model restores this degradation (its task, its scales, its σ range)."""
    spec = pipe.model.spec
    if isinstance(degradation, Mask):
        return spec.task == "inpaint"
    if isinstance(degradation, Downsample):
        return spec.task == "super-resolve" and degradation.scale in spec.scales
    return spec.task == "denoise" and spec.noise_std[0] <= degradation.noise_std <= spec.noise_std[1]


def _restore_subset(pipe, observed, degradation, options: dict, index: torch.Tensor):
    """Restore the images `index` of `observed` (with their class labels, and a fresh seed, for inversion)."""
    options = dict(options)
    if options.get("class_labels") is not None:
        options["class_labels"] = options["class_labels"][index]
    if "generator" in options:
        options["generator"] = torch.Generator().manual_seed(options["generator"].initial_seed())
    return pipe.restore(observed[index], degradation.select(index), output_type="pt", **options)


def _timings(restore_subset, count: int, single: int) -> dict:
    """CPU ms per image at batch 1 (the first `single` images, one call each) and at batch 64 (the first 64)."""
    index = [torch.tensor([i]) for i in range(min(single, count))]
    start = time.process_time()
    for one in index:
        restore_subset(one)
    batch_1 = 1000 * (time.process_time() - start) / len(index)
    first = torch.arange(min(64, count))
    start = time.process_time()
    restore_subset(first)
    return {"ms_batch_1": batch_1, "ms_batch_64": 1000 * (time.process_time() - start) / len(first)}


def _hybrid_rows(args, pipe, prior, name, observed, degradation, restored, row) -> list[dict]:
    """Both orders of combining a trained inpainting model with inversion of `prior` (a generator with an encoder)."""
    options = {"num_restarts": args.restarts, "batch_size": args.batch_size}
    ms, refined = cpu_ms_per_image(
        len(observed), pipe.restore, observed, degradation, prior=prior, prior_steps=args.hybrid_steps,
        prior_options=options, generator=torch.Generator().manual_seed(args.seed), output_type="pt",
    )  # fmt: skip
    refined = refined.images
    out = [row(f"{name} → {args.hybrid} inversion ({args.hybrid_steps} steps)", refined, ms)]
    seeded = {"num_steps": args.hybrid_steps, "generator": torch.Generator().manual_seed(args.seed)}
    ms, inverted = cpu_ms_per_image(
        len(observed), prior.restore, observed, degradation, output_type="pt", **seeded, **options
    )
    inverted = inverted.images.cpu()
    out.append(row(f"{args.hybrid} inversion alone ({args.hybrid_steps} steps)", inverted, ms))
    # The opposite order: the inversion's repaint fills the hole of pix2pix's input instead of grey.
    mask = degradation.mask.expand(len(observed), -1, -1, -1).float()
    inputs = torch.cat([inverted * 2 - 1, mask], dim=1)
    start = time.process_time()
    with torch.no_grad():
        second = (pipe.model(inputs.to(pipe.model.dtype)).float().cpu() + 1) / 2
    ms += 1000 * (time.process_time() - start) / len(observed)
    out.append(row(f"{args.hybrid} inversion ({args.hybrid_steps} steps) → {name}", second.clamp(0, 1), ms))
    return out


def _row(task: str, method: str, restored: torch.Tensor, ms: float, *, clean, quality, **timing) -> dict:
    psnr, ssim = psnr_ssim(restored, clean)
    return {
        "task": task,
        "method": method,
        "psnr": psnr,
        "ssim": ssim,
        **quality(restored.float().cpu()),
        "ms_per_image": ms,
        "ms_batch_1": timing.get("ms_batch_1"),
        "ms_batch_64": timing.get("ms_batch_64"),
    }


def _table(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        psnr = f"{row['psnr']:.2f}" if math.isfinite(row["psnr"]) else "-"  # the originals themselves: infinite
        cells = [
            row["task"], row["method"], psnr, f"{row['ssim']:.3f}",
            "-" if row["accuracy"] is None else f"{100 * row['accuracy']:.1f} %",
            "-" if row["fid"] is None else f"{row['fid']:.2f}",
            *(_ms(row[key]) for key in ("ms_per_image", "ms_batch_1", "ms_batch_64")),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    header = (
        f"| task | method | PSNR (dB) | SSIM | classifier acc. | FID ({rows[0]['fid_features'] if rows else '-'}) | "
        "CPU ms / image | at batch 1 | at batch 64 |\n|---|---|---|---|---|---|---|---|---|"
    )
    return header + "\n" + "\n".join(lines)


def _ms(value: float | None) -> str:
    if not value:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


if __name__ == "__main__":
    main()
