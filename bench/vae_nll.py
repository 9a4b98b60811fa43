"""Evaluate a trained VAE pipeline on held-out mnist-5k digits: importance-sampled NLL, ELBO and reconstructions.

For each k in `--num-importance-samples` it prints the mean NLL in nats per image (with its standard error over
the images), then the reconstruction error of the posterior-mean reconstructions, and checks with genzoo's digit
classifier that reconstructions keep their digit and that prior samples look like digits. With `--output-dir` it
also saves the grids to look at: held-out reconstructions, prior samples and image-to-image interpolations.

Usage: `python bench/vae_nll.py PIPELINE [--num-importance-samples 1 500] [--split test] [--output-dir DIR]`
"""

import argparse
import json
import math
import time
from pathlib import Path

import torch
from diffusers.utils import make_image_grid

from genzoo import GenPipeline, load_dataset
from genzoo.metrics import load_mnist_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", help="a folder written by `genzoo train vae` (or a Hub repo id)")
    parser.add_argument("-k", "--num-importance-samples", type=int, nargs="+", default=[500])
    parser.add_argument("--batch-size", type=int, default=500, help="latents decoded per forward pass")
    parser.add_argument("--split", default="test", help="mnist-5k split: test (500 held-out digits) or train")
    parser.add_argument("--num-images", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", help="where to save grids and metrics.json")
    args = parser.parse_args()

    pipe = GenPipeline.from_pretrained(args.pipeline)
    if not hasattr(pipe, "estimate_nll"):
        raise SystemExit(f"{args.pipeline} is a {type(pipe).__name__}, not a VAE pipeline.")
    config = pipe.model.config
    dataset = load_dataset("mnist-5k", split=args.split)
    rows = dataset.with_transform(config.image_size, config.num_channels)[: min(args.num_images, len(dataset))]
    images, labels = torch.stack(rows["pixel_values"]), torch.tensor(rows["class_labels"])
    print(f"{args.pipeline}: {type(pipe.model).__name__} ({config.likelihood} likelihood, latent_dim "
          f"{config.latent_dim}) on {len(images)} {args.split} digits of mnist-5k")  # fmt: skip
    results: dict = {"pipeline": str(args.pipeline), "split": args.split, "num_images": len(images), "nll": {}}

    # 1. Importance-sampled NLL for each k (k = 1 is the negative single-sample ELBO).
    for k in args.num_importance_samples:
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(args.seed)
        nll = pipe.estimate_nll(images, num_importance_samples=k, batch_size=args.batch_size, generator=generator)
        error = nll.std().item() / math.sqrt(len(nll))
        seconds = time.perf_counter() - started
        print(f"NLL (k={k}): {nll.mean():.2f} ± {error:.2f} nats per image ({seconds:.1f} s)")
        results["nll"][str(k)] = {"mean": nll.mean().item(), "standard_error": error, "seconds": seconds}

    # 2. Analytic-KL ELBO and reconstruction error of the posterior-mean reconstructions.
    with torch.no_grad():
        output = pipe.model(images=images, generator=torch.Generator().manual_seed(args.seed))
        reconstructions = pipe.reconstruct(images, output_type="pt").images  # [0, 1]
    targets = (images + 1) / 2
    mse = (reconstructions - targets).pow(2).mean().item()
    results.update(
        negative_elbo=(output.kl - output.log_likelihood).mean().item(),
        kl=output.kl.mean().item(),
        recon_nll=-output.log_likelihood.mean().item(),
        reconstruction_mse=mse,
        reconstruction_l1=(reconstructions - targets).abs().mean().item(),
    )
    print(f"-ELBO (analytic KL, one sample): {results['negative_elbo']:.2f} nats = recon {results['recon_nll']:.2f} "
          f"+ KL {results['kl']:.2f}")  # fmt: skip
    print(f"Reconstruction error of the posterior mean: MSE {mse:.4f}, L1 {results['reconstruction_l1']:.4f} "
          "per pixel on the [0, 1] scale")  # fmt: skip

    # 3. Does the digit survive reconstruction, and do prior samples look like digits? (genzoo's digit classifier)
    classifier = load_mnist_classifier()
    with torch.no_grad():
        accuracy = (classifier(reconstructions * 2 - 1).argmax(1) == labels).float().mean().item()
        real_accuracy = (classifier(images).argmax(1) == labels).float().mean().item()
        samples = pipe(batch_size=500, generator=torch.Generator().manual_seed(args.seed), output_type="pt").images
        probabilities = classifier(samples * 2 - 1).softmax(1)
    confident = (probabilities.max(1).values > 0.9).float().mean().item()
    counts = torch.bincount(probabilities.argmax(1), minlength=10).tolist()
    results.update(reconstruction_accuracy=accuracy, real_accuracy=real_accuracy, samples_confident=confident)
    results["samples_per_class"] = counts
    print(f"Classifier accuracy on reconstructions: {accuracy:.1%} (on the originals: {real_accuracy:.1%})")
    print(f"Prior samples classified with probability > 0.9: {confident:.1%}; per digit 0-9: {counts}")

    # 4. Grids to look at.
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        pipe.real_image_grids(images[:64])["reconstructions"].save(out / f"reconstructions_{args.split}.png")
        prior = pipe(batch_size=64, generator=torch.Generator().manual_seed(args.seed)).images
        make_image_grid(prior, 8, 8).save(out / "prior_samples.png")
        # One row per pair of held-out digits of different classes: 0->1, 2->3, ... (of the digits in the subset).
        firsts = [int((labels == digit).nonzero()[0]) for digit in range(10) if (labels == digit).any()]
        pairs = list(zip(firsts[0::2], firsts[1::2], strict=False))
        if pairs:
            paths = [pipe.interpolate(images[a], images[b], steps=10).images for a, b in pairs]
            grid = make_image_grid([image for path in paths for image in path], len(paths), 10)
            grid.save(out / "interpolations.png")
        else:
            print("No interpolations: the images hold fewer than two different digits (raise --num-images).")
        (out / "metrics.json").write_text(json.dumps(results, indent=2))
        print(f"Saved grids and metrics.json to {out}")


if __name__ == "__main__":
    main()
