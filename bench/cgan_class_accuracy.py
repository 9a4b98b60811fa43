"""How often a conditional pipeline draws the class it was asked for, judged by genzoo's shipped digit classifier.

It loads a pipeline (folder or Hub repo id), draws `--per-class` images of every class with a fixed seed, classifies
them with `genzoo.metrics.load_mnist_classifier()` (trained by `bench/train_mnist_classifier.py`, 99.2 % on the 500
held-out real digits) and prints the accuracy per class and overall.

Usage: `python bench/cgan_class_accuracy.py RUN_DIR [--per-class 100] [--seed 0] [--json out.json]`
"""

import argparse
import json
import time
from pathlib import Path

import torch

from genzoo import GenPipeline
from genzoo.metrics import load_mnist_classifier


@torch.no_grad()
def class_accuracy(
    pipe: GenPipeline, per_class: int = 100, seed: int = 0, batch_size: int = 500, classifier_path: str | None = None
) -> dict:
    """Accuracy per class and overall, plus the confusion matrix (rows: requested class, columns: predicted)."""
    num_classes = pipe.model.num_classes
    if num_classes == 0:
        raise SystemExit(f"{type(pipe.model).__name__} is unconditional; class accuracy needs a conditional model.")
    classifier = load_mnist_classifier(classifier_path)
    if classifier.config.num_classes != num_classes:
        raise SystemExit(f"The classifier knows {classifier.config.num_classes} classes, the model {num_classes}.")
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    generator = torch.Generator().manual_seed(seed)
    predictions = []
    for chunk in labels.split(batch_size):
        images = pipe(class_labels=chunk, generator=generator, output_type="pt").images  # [0, 1]
        predictions.append(classifier(images * 2 - 1).argmax(1).cpu())
    predicted = torch.cat(predictions)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    per_class_accuracy = (confusion.diag().float() / per_class).tolist()
    return {
        "per_class": per_class_accuracy,
        "overall": float((predicted == labels).float().mean()),
        "images_per_class": per_class,
        "seed": seed,
        "confusion": confusion.tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", help="pipeline folder or Hub repo id")
    parser.add_argument("--per-class", type=int, default=100, help="images drawn per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier", help="classifier folder (default: the one shipped with genzoo)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    started = time.perf_counter()
    pipe = GenPipeline.from_pretrained(args.pipeline)
    result = class_accuracy(pipe, args.per_class, args.seed, classifier_path=args.classifier)
    print(f"{type(pipe).__name__} from {args.pipeline}: {args.per_class} images per class, seed {args.seed}")
    print("class accuracy: " + ", ".join(f"{c}: {a:.3f}" for c, a in enumerate(result["per_class"])))
    print(f"overall: {result['overall']:.4f} (worst class {min(result['per_class']):.3f})")
    print(f"took {time.perf_counter() - started:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"pipeline": str(args.pipeline), **result}, indent=2))


if __name__ == "__main__":
    main()
