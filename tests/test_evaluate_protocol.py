"""Evaluation at the community protocol: `--reference-stats` (pytorch-fid / clean-fid `.npz` files), `--images DIR`
(any library's samples), and `genzoo sample --format folder`, checked against values computed by hand."""

import json

import datasets
import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from genzoo import GenPipeline, hookimpl
from genzoo.cli import main
from genzoo.errors import GenzooError
from genzoo.metrics import FeatureExtractor, evaluate_images, evaluate_pipeline
from genzoo.metrics.functional import kernel_inception_distance


class QuadrantMeans(FeatureExtractor):
    """Four features: the mean 0..255 intensity of each 4x4 quadrant of an 8x8 grayscale image."""

    feature_dim, input_size, input_channels = 4, None, 1

    def __init__(self, weights_path=None, **options):
        super().__init__()

    def extract(self, pixels, with_logits=True):
        quadrants = pixels[:, 0].unfold(1, 4, 4).unfold(2, 4, 4)  # (batch, 2, 2, 4, 4)
        return quadrants.mean(dim=(-1, -2)).flatten(1), None


def by_hand(images: list[np.ndarray]) -> np.ndarray:
    """QuadrantMeans, computed with numpy from the 8-bit pixels."""
    return np.stack([[image[r : r + 4, c : c + 4].astype(np.float64).mean() for r in (0, 4) for c in (0, 4)]
                     for image in images])  # fmt: skip


def fid_by_hand(a: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    """pytorch-fid's formula (scipy's sqrtm) on the generated features `a` and reference statistics."""
    mean, cov = a.mean(0), np.cov(a, rowvar=False)
    root = scipy.linalg.sqrtm(cov @ sigma).real
    return float(((mean - mu) ** 2).sum() + np.trace(cov) + np.trace(sigma) - 2 * np.trace(root))


@pytest.fixture
def quadrants(register_plugin):
    class Plugin:
        @hookimpl
        def register_feature_extractors(self, register):
            register("quadrants", QuadrantMeans)

    register_plugin(Plugin(), name="quadrants")


def write_images(folder, count, seed, shift=0):
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True)
    images = [np.clip(rng.randint(0, 200, (8, 8)) + shift, 0, 255).astype(np.uint8) for _ in range(count)]
    for i, image in enumerate(images):
        Image.fromarray(image, mode="L").save(folder / f"{i:03d}.png")
    return images


def test_images_against_reference_stats_and_a_dataset_match_hand_computed_values(quadrants, tmp_path):
    fake = write_images(tmp_path / "samples", 40, seed=1, shift=30)
    real = write_images(tmp_path / "real_pngs", 30, seed=2)
    features = by_hand(fake)
    rng = np.random.RandomState(3)
    basis = rng.randn(4, 4)
    mu, sigma = rng.rand(4) * 100, basis @ basis.T * 50 + np.eye(4)
    np.savez(tmp_path / "stats.npz", mu=mu, sigma=sigma)

    json_path = tmp_path / "fid.json"
    main(["evaluate", "--images", str(tmp_path / "samples"), "--reference-stats", str(tmp_path / "stats.npz"),
          "--features", "quadrants", "--json", str(json_path)])  # fmt: skip
    results = json.loads(json_path.read_text())
    assert results["fid"] == pytest.approx(fid_by_hand(features, mu, sigma), rel=1e-9)
    assert results["num_samples"] == 40 and results["reference_stats"] == str(tmp_path / "stats.npz")
    assert "kid" not in results and "num_reference" not in results and "dataset" not in results  # FID only

    # The same folder against real images from a dataset: FID and KID on the hand-computed features of both.
    parquet = tmp_path / "real.parquet"
    rows = {"image": [Image.fromarray(image, mode="L") for image in real]}
    datasets.Dataset.from_dict(rows, features=datasets.Features({"image": datasets.Image()})).to_parquet(parquet)
    options = {"dataset": f"parquet:{parquet}", "features": "quadrants", "cache": False, "progress": False}
    results = evaluate_images(str(tmp_path / "samples"), "fid,kid", ["kid.subset_size=20", "kid.num_subsets=7"],
                              **options)  # fmt: skip
    reference = by_hand(real)
    assert results["fid"] == pytest.approx(fid_by_hand(features, reference.mean(0), np.cov(reference, rowvar=False)),
                                           rel=1e-9)  # fmt: skip
    kid, kid_std = kernel_inception_distance(reference, features, 7, 20, seed=0)
    assert (results["kid"], results["kid_std"]) == pytest.approx((kid, kid_std), rel=1e-9)
    assert results["num_samples"] == 40 and results["num_reference"] == 30
    capped = evaluate_images(str(tmp_path / "samples"), "fid", num_samples=12, **options)
    assert capped["num_samples"] == 12
    assert capped["fid"] == pytest.approx(fid_by_hand(features[:12], reference.mean(0), np.cov(reference.T)), rel=1e-9)


def test_reference_stats_and_images_errors(quadrants, trained_dcgan, tmp_path, capsys):
    write_images(tmp_path / "samples", 10, seed=1)
    np.savez(tmp_path / "stats.npz", mu=np.zeros(4), sigma=np.eye(4))
    np.savez(tmp_path / "wrong_keys.npz", mean=np.zeros(4), cov=np.eye(4))
    np.savez(tmp_path / "wide.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    images = ["evaluate", "--images", str(tmp_path / "samples"), "--features", "quadrants"]
    for argv, message in (
        ([*images, "--reference-stats", str(tmp_path / "stats.npz"), "--metrics", "fid,kid"],
         "--reference-stats holds only a mean and a covariance, enough for FID; metric 'kid' needs the reference"),
        ([*images, "--reference-stats", str(tmp_path / "wrong_keys.npz")],
         "holds mean, cov, not the 'mu' and 'sigma' arrays that pytorch-fid and clean-fid write"),
        ([*images, "--reference-stats", str(tmp_path / "wide.npz")],
         "holds 2048-d statistics but feature extractor 'quadrants' gives 4-d features"),
        ([*images, "--reference-stats", str(tmp_path / "missing.npz")], "No such file: "),
        ([*images, "--metrics", "nll"], "Metric 'nll' needs a generator with an encoder, but a folder of images has"),
        ([*images, "--metrics", "fid_per_class"], "needs a class-conditional generator, but a folder of images"),
        (["evaluate", str(trained_dcgan), "--images", str(tmp_path / "samples")], "Give either a pipeline"),
        (["evaluate"], "Give either a pipeline (folder or Hub repo id) or --images DIR"),
        (["evaluate", "--images", str(tmp_path / "nothing")], "No such folder: " + str(tmp_path / "nothing")),
    ):  # fmt: skip
        with pytest.raises(SystemExit) as excinfo:
            main(argv)
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert excinfo.value.code == 1 and error.startswith("genzoo: error: ") and message in error, error


def test_sample_folder_streams_one_png_per_image(trained_dcgan, tmp_path, capsys):
    out = tmp_path / "pngs"
    main(["sample", str(trained_dcgan), "--format", "folder", "-n", "10", "--batch-size", "4", "-o", str(out)])
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"{i}.png" for i in range(10)] and "Saved 10 images" in capsys.readouterr().out
    pipe = GenPipeline.from_pretrained(trained_dcgan)
    generator = torch.Generator().manual_seed(0)
    expected = [*pipe(batch_size=4, generator=generator).images, *pipe(batch_size=4, generator=generator).images]
    for i, image in enumerate(expected):
        assert np.array_equal(np.asarray(Image.open(out / f"{i}.png")), np.asarray(image))
    # The folder scores like any library's samples, class coverage included, as the pipeline's own samples do.
    assert evaluate_images(str(out), "kid", ["kid.subset_size=5"], progress=False)["num_samples"] == 10
    from_folder = evaluate_images(str(out), "coverage", progress=False)
    from_pipeline = evaluate_pipeline(pipe, "coverage", num_samples=10, batch_size=4, progress=False)
    shares = [key for key in from_pipeline if key.startswith("class_share_")]
    assert len(shares) == 10 and all(from_folder[key] == from_pipeline[key] for key in shares)
    assert from_folder["coverage_entropy"] == pytest.approx(from_pipeline["coverage_entropy"])

    for argv, message in (
        (["-n", "3", "--format", "folder", "-o", str(out)], "already exists and is not an empty folder"),
        (["-n", "1000000"], "would exceed 256 MB; write one PNG per image with --format folder -o DIR"),
    ):
        with pytest.raises(SystemExit):
            main(["sample", str(trained_dcgan), *argv])
        assert message in capsys.readouterr().err
    assert len(list(out.iterdir())) == 10 and not list(tmp_path.glob(".*partial"))  # nothing overwritten


def test_reference_stats_read_through_evaluate_pipeline(quadrants, tmp_path):
    from genzoo.metrics.reference import load_reference_stats

    np.savez(tmp_path / "bad_shape.npz", mu=np.zeros(4), sigma=np.eye(3))
    with pytest.raises(GenzooError, match=r"has mu of shape \(4,\) and sigma of shape \(3, 3\)"):
        load_reference_stats(tmp_path / "bad_shape.npz")
    (tmp_path / "text.npz").write_text("not numpy")
    with pytest.raises(GenzooError, match="Cannot read reference statistics"):
        load_reference_stats(tmp_path / "text.npz")
