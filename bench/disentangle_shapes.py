"""Train the VAE with each disentangling objective on `shapes` and score it: MIG and the FactorVAE score (and DCI,
SAP), mean ± sd over seeds. The issue's comparison: β-TCVAE's MIG above the plain VAE's by more than 2 sd.

    python bench/disentangle_shapes.py --dataset shapes:small --steps 10000 --seeds 0 1 2 --objectives elbo beta-tcvae
    python bench/disentangle_shapes.py --dataset shapes:small --steps 3000 --seeds 0 1 2 --out runs/shapes-3k

Each run is `genzoo train vae --dataset shapes:small --objective OBJECTIVE` with a 10-dimensional latent at 32×32
(model_args below) and the objective's defaults (beta-vae: β = 4; beta-tcvae: β = 6; factor-vae: γ = 10); then
`evaluate_pipeline(pipe, "mig,factorvae_score,dci,sap", dataset=...)` on 10,000 images of the grid. Results go to
OUT/results.jsonl, one line per run, and a table is printed at the end. `--figure RUN` draws RUN/traversal.png: one
row per factor, the latent dimension that shares the most information with it traversed from −2 to 2.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

OBJECTIVES = ("elbo", "beta-vae", "beta-tcvae", "factor-vae")
MODEL_ARGS = {"latent_dim": 10, "image_size": 32, "base_channels": 32, "hidden_dim": 256}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shapes:small")
    parser.add_argument("--steps", type=int, default=10000, help="training steps of every run (about 12 minutes)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES))
    parser.add_argument("--points", type=int, default=10000, help="images encoded for the metrics")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="passed on to every `genzoo train` (e.g. objective_args.beta=10)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("runs/shapes"))
    parser.add_argument("--figure", type=Path, help="only draw the traversal figure of this run folder to FIGURE.png")
    args = parser.parse_args()
    if args.figure is not None:
        traversal_figure(args.figure, args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.jsonl"
    earlier = [json.loads(line) for line in results_file.read_text().splitlines()] if results_file.exists() else []
    # A folder holds one setting: its runs are resumed (skipped) and tabulated together, and their folders reused.
    other = [row for row in earlier if (row["steps"], row.get("set", [])) != (args.steps, args.set)]
    if other:
        raise SystemExit(
            f"{results_file} holds runs of --steps {other[0]['steps']} --set {other[0].get('set', [])}, not --steps "
            f"{args.steps} --set {args.set}; choose another --out."
        )
    done = {(row["objective"], row["seed"]) for row in earlier}
    for seed in args.seeds:
        for objective in args.objectives:
            if (objective, seed) in done:
                continue
            run = args.out / f"{objective}-{seed}"
            command = [
                sys.executable, "-m", "genzoo", "train", "vae", "--dataset", args.dataset, "--objective", objective,
                "--max-steps", str(args.steps), "--batch-size", str(args.batch_size), "--seed", str(seed),
                "--num-threads", str(args.threads), "--sample-every", "0", "--checkpoint-every", "0",
                "--output-dir", str(run), "--overwrite-output-dir",
                *[item for key, value in MODEL_ARGS.items() for item in ("--set", f"model_args.{key}={value}")],
                *[item for override in args.set for item in ("--set", override)],
            ]  # fmt: skip
            subprocess.run(command, check=True)
            scores = evaluate(run, args)
            row = {"objective": objective, "seed": seed, "steps": args.steps, "set": args.set, **scores}
            with results_file.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(row, flush=True)
    table(results_file)


def evaluate(run: Path, args: argparse.Namespace) -> dict[str, float]:
    import torch

    from genzoo import GenPipeline
    from genzoo.metrics import evaluate_pipeline

    torch.set_num_threads(args.threads)
    pipe = GenPipeline.from_pretrained(run)
    metrics = {"mig.num_points": args.points, "factorvae_score.num_points": args.points,
               "dci.num_points": args.points, "sap.num_points": args.points}  # fmt: skip
    results = evaluate_pipeline(pipe, "mig,factorvae_score,dci,sap", metrics, dataset=args.dataset, progress=False,
                                device="cpu")  # fmt: skip
    return {key: value for key, value in results.items() if isinstance(value, float)}


def traversal_figure(run: Path, args: argparse.Namespace) -> None:
    """One row per factor: the latent dimension with the most mutual information with it, traversed from −2 to 2
    around one encoded image (saved as RUN/traversal.png; the chosen dimensions are printed)."""
    import torch

    from genzoo import GenPipeline
    from genzoo.metrics import EvaluationOptions, MetricContext
    from genzoo.metrics.disentanglement import _mutual_information, discretize, encode_dataset

    torch.set_num_threads(args.threads)
    pipe = GenPipeline.from_pretrained(run)
    size, channels = pipe.model.config.image_size, pipe.model.config.num_channels
    context = MetricContext(pipe, pipe.model, EvaluationOptions(dataset=args.dataset, device="cpu"), resolution=size,
                            channels=channels)  # fmt: skip
    codes, factors = encode_dataset(context, "traversal", min(args.points, 5000))
    information = _mutual_information(discretize(codes), factors)  # (codes, factors)
    dims = information.argmax(axis=0)
    for name, dim, row in zip(("shape", "scale", "orientation", "x", "y"), dims, information.T, strict=False):
        print(f"{name}: latent dimension {dim} (mutual information {row[dim]:.3f} nats)")
    start = torch.as_tensor(codes[:1], dtype=torch.float32)
    values = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
    rows = []
    for dim in dims:
        latents = start.repeat(len(values), 1)
        latents[:, int(dim)] = torch.tensor(values)
        rows.append(latents)
    images = pipe(latents=torch.cat(rows), output_type="pil").images
    from genzoo.grids import image_grid

    image_grid(images, rows=len(dims)).resize((len(values) * 48, len(dims) * 48)).save(run / "traversal.png")
    print(f"saved {run / 'traversal.png'}")


def table(results_file: Path) -> None:
    rows = [json.loads(line) for line in results_file.read_text().splitlines()]
    keys = ("mig", "factorvae_score", "dci_disentanglement", "sap")
    print(f"{'objective':12s} {'seeds':>5s} " + " ".join(f"{key:>22s}" for key in keys))
    for objective in OBJECTIVES:
        mine = [row for row in rows if row["objective"] == objective]
        if not mine:
            continue
        cells = []
        for key in keys:
            values = np.array([row[key] for row in mine])
            cells.append(f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0:.3f}".rjust(22))
        print(f"{objective:12s} {len(mine):5d} " + " ".join(cells))
    # The comparison: the gap in units of the pooled sd and of the larger of the two sds (the stricter).
    mig = {name: np.array([row["mig"] for row in rows if row["objective"] == name]) for name in ("elbo", "beta-tcvae")}
    if all(len(values) > 1 for values in mig.values()):
        gap = mig["beta-tcvae"].mean() - mig["elbo"].mean()
        sds = [values.std(ddof=1) for values in mig.values()]
        pooled = float(np.sqrt(np.mean(np.square(sds))))
        print(f"beta-tcvae MIG - elbo MIG = {gap:.3f}: {gap / pooled:.1f} pooled sd ({pooled:.3f}), "
              f"{gap / max(sds):.1f} of the larger sd ({max(sds):.3f}); the goal is more than 2")  # fmt: skip


if __name__ == "__main__":
    main()
