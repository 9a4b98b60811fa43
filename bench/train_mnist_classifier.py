"""Train the domain classifier shipped as `genzoo/assets/mnist_classifier` on the embedded mnist-5k digits.

It measures how often a conditional model draws the digit it was asked for, and it is the fast offline feature
extractor (`mnist-classifier`) for FID/KID on digits. It trains on the 4,500 `train` digits with random shifts and
small rotations, and reports accuracy per class on the 500 held-out `test` digits.

Usage: `python bench/train_mnist_classifier.py [--epochs 30] [--output-dir mnist_classifier] [--overwrite]`

The classifier is saved to `--output-dir` (default: `mnist_classifier` in the current folder), never to the installed
package; a folder that exists and is not empty is only written to with `--overwrite`. Use the result with
`genzoo evaluate --features-path DIR`. Replacing the shipped classifier changes every cached and published
mnist-classifier FID: copy the folder over `src/genzoo/assets/mnist_classifier` in a source checkout only on purpose.
"""

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genzoo.data import load_dataset
from genzoo.metrics.mnist_classifier import MNISTClassifier


def as_tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = load_dataset("mnist-5k", split=split)
    rows = dataset.with_transform(28, 1)[: len(dataset)]
    return torch.stack(rows["pixel_values"]), torch.tensor(rows["class_labels"])


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random affine jitter: up to 10 degrees of rotation, 10% scale and 2 pixels of shift."""
    n = images.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * torch.pi / 18
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 / 14)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)


@torch.no_grad()
def evaluate(model: MNISTClassifier, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    model.eval()
    predictions = torch.cat([model(batch).argmax(1) for batch in images.split(500)])
    return torch.stack([(predictions[labels == c] == c).float().mean() for c in range(10)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="mnist_classifier", help="where to save (default: ./mnist_classifier)")
    parser.add_argument("--overwrite", action="store_true", help="write into an existing non-empty --output-dir")
    args = parser.parse_args()
    output_dir = Path(args.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        parser.error(f"{output_dir} is a file; pass a folder as --output-dir.")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not args.overwrite:
        parser.error(f"{output_dir} exists and is not empty; pass --overwrite or another --output-dir.")

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_x, train_y = as_tensors("train")
    test_x, test_y = as_tensors("test")
    model = MNISTClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * (len(train_x) // args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    started = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        for batch in order.split(args.batch_size)[: len(train_x) // args.batch_size]:
            loss = F.cross_entropy(model(augment(train_x[batch], generator)), train_y[batch], label_smoothing=0.05)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if (epoch + 1) % 5 == 0:
            accuracy = evaluate(model, test_x, test_y).mean()
            print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {accuracy:.4f}")
    per_class = evaluate(model, test_x, test_y)
    overall = (torch.cat([model(b).argmax(1) for b in test_x.split(500)]) == test_y).float().mean()
    print(f"trained in {time.perf_counter() - started:.0f} s")
    print("test accuracy per class: " + ", ".join(f"{c}: {a:.3f}" for c, a in enumerate(per_class.tolist())))
    print(f"test accuracy: {overall:.4f} on {len(test_y)} held-out digits")
    model.save_pretrained(output_dir, safe_serialization=True)
    print(f"saved to {output_dir}")


if __name__ == "__main__":
    main()
