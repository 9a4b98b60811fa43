"""Which digits an unconditional pipeline draws, judged by genzoo's shipped digit classifier.

It loads a pipeline (folder or Hub repo id), draws `--num-samples` images with a fixed seed (the same latents as
`genzoo evaluate --seed S` with its default batch of 250), classifies them with the shipped classifier
(`genzoo.metrics.load_mnist_classifier()`, 99.2 % on the 500 held-out real digits) and prints the class histogram,
the smallest class share, the normalised entropy of the histogram (1 = perfectly even) and the classifier's mean
top-class probability. The figures come from `genzoo.metrics.coverage.class_coverage`, the same function behind
`genzoo evaluate --metrics coverage`.

Usage: `python bench/class_histogram.py RUN_DIR [--num-samples 5000] [--seed 0] [--device cpu] [--json out.json]`
"""

import argparse
import json
import time
from pathlib import Path

import torch

from genzoo import GenPipeline
from genzoo.metrics import load_mnist_classifier, quantize_images
from genzoo.metrics.coverage import class_coverage


@torch.no_grad()
def sample_logits(
    pipe: GenPipeline,
    num_samples: int,
    seed: int = 0,
    batch_size: int = 250,
    device: str = "cpu",
    classifier_path: str | None = None,
) -> torch.Tensor:
    """Classifier logits of `num_samples` images drawn from `pipe`, quantised to 8 bits as a saved image would be."""
    if getattr(pipe.model, "num_classes", 0):
        raise SystemExit(
            f"{type(pipe.model).__name__} is conditional; use bench/cgan_class_accuracy.py for class accuracy."
        )
    classifier = load_mnist_classifier(classifier_path, device=device)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(seed)
    logits = []
    for start in range(0, num_samples, batch_size):
        size = min(batch_size, num_samples - start)
        images = pipe(batch_size=size, generator=generator, output_type="pt").images  # [0, 1]
        pixels = quantize_images(images.to(device) * 2 - 1) / 127.5 - 1  # back to [-1, 1], 8-bit levels
        logits.append(classifier(pixels).float().cpu())
    return torch.cat(logits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", help="pipeline folder or Hub repo id")
    parser.add_argument("--num-samples", type=int, default=5000, help="images to draw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--classifier", help="classifier folder (default: the one shipped with genzoo)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.num_samples < 1:
        parser.error(f"--num-samples must be at least 1, got {args.num_samples}.")

    started = time.perf_counter()
    pipe = GenPipeline.from_pretrained(args.pipeline)
    result = class_coverage(sample_logits(pipe, args.num_samples, args.seed, device=args.device,
                                          classifier_path=args.classifier))  # fmt: skip
    print(f"{type(pipe).__name__} from {args.pipeline}: {args.num_samples} samples, seed {args.seed}")
    print("class   share  count")
    for label, (share, count) in enumerate(zip(result["class_shares"], result["class_counts"], strict=True)):
        print(f"{label:>5}  {share:6.1%}  {count:5d}  {'#' * round(share * 100)}")
    print(f"minimum class share:        {result['coverage_min_share']:.1%}")
    print(f"normalised entropy:         {result['coverage_entropy']:.4f}")
    print(f"mean top-class probability: {result['mean_top_probability']:.3f}")
    print(f"took {time.perf_counter() - started:.1f} s")
    if args.json:
        payload = {"pipeline": str(args.pipeline), "num_samples": args.num_samples, "seed": args.seed, **result}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
