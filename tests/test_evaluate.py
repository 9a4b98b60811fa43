"""`genzoo evaluate` end to end, the reference cache, per-class FID, VAE metrics and evaluation during training."""

import functools
import json
import math

import datasets
import numpy as np
import pytest
import torch
from diffusers import ImagePipelineOutput, ModelMixin  # noqa: F401  (ModelMixin: diffusers looks it up here)
from diffusers.configuration_utils import register_to_config
from PIL import Image

from genzoo import Generator, GenPipeline, hookimpl, load_dataset
from genzoo.cli import main
from genzoo.errors import ConfigError, GenzooError
from genzoo.metrics import FeatureExtractor, ReferenceKey, evaluate_pipeline, load_feature_extractor
from genzoo.metrics import reference as reference_module
from genzoo.metrics.reference import reference_features
from genzoo.metrics.training_eval import TrainingEvaluator
from genzoo.training import train
from genzoo_gan import DCGANGenerator


def test_cli_evaluates_a_trained_dcgan(trained_dcgan, tmp_path, capsys):
    json_path = tmp_path / "m.json"
    main(["evaluate", str(trained_dcgan), "--metrics", "fid,kid", "--num-samples", "200", "--json", str(json_path)])
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["metric", "value"] and f"Wrote {json_path}" in out
    results = json.loads(json_path.read_text())
    assert math.isfinite(results["fid"]) and results["fid"] > 0
    assert math.isfinite(results["kid"]) and results["kid"] > 0 and results["kid_std"] >= 0
    assert results["num_samples"] == 200 and results["num_reference"] == 4500  # the whole train split
    assert (results["features"], results["dataset"], results["split"]) == ("mnist-classifier", "mnist-5k", "train")
    assert "is" not in results and "precision" not in results
    # A flat mapping of names to numbers and strings: what the model card reads from eval_results.json.
    assert all(isinstance(value, int | float | str) for value in results.values())


def test_evaluation_is_seeded_and_reuses_cached_reference_statistics(trained_dcgan, monkeypatch):
    pipe = GenPipeline.from_pretrained(trained_dcgan)
    calls = []
    real_batches = reference_module._real_batches
    monkeypatch.setattr(reference_module, "_real_batches", lambda *a, **k: calls.append(a) or real_batches(*a, **k))
    options = {"metrics": "fid,kid,is,pr", "num_samples": 150, "num_reference": 300, "progress": False}
    first = evaluate_pipeline(pipe, **options)
    second = evaluate_pipeline(pipe, **options)
    assert first == second and len(calls) == 1  # the second run read the reference from the cache
    assert first["num_reference"] == 300 and 1.0 <= first["is"] <= 10.0
    assert 0.0 <= first["precision"] <= 1.0 and 0.0 <= first["recall"] <= 1.0
    other_seed = evaluate_pipeline(pipe, **{**options, "seed": 1})
    assert other_seed["fid"] != first["fid"] and len(calls) == 1


def test_reference_cache_key_and_atomic_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    key = ReferenceKey("mnist-5k", "test", "mnist-classifier|28|1", 28, 1, 60)
    assert key.path().parent == tmp_path / "cache" / "reference_stats"
    assert key.path().name.startswith("mnist-5k-test-mnist-classifier-28px-n60-")
    for change in ({"dataset": "other"}, {"split": "train"}, {"extractor": "inception|299"}, {"resolution": 32},
                   {"channels": 3}, {"num_samples": 61}, {"image_column": "img"}):  # fmt: skip
        assert ReferenceKey(**{**key.__dict__, **change}).path() != key.path()

    # Local dataset paths enter the key resolved (and stamped with their modification time).
    assert reference_module._dataset_identity("mnist-5k") == "mnist-5k"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "a")
    in_a = reference_module._dataset_identity("imagefolder:.")
    monkeypatch.chdir(tmp_path / "b")
    assert in_a.startswith(f"imagefolder:{tmp_path / 'a'}@") and reference_module._dataset_identity(".") != in_a

    dataset, extractor = load_dataset("mnist-5k", split="test"), load_feature_extractor("mnist-classifier")
    calls = []
    real_batches = reference_module._real_batches
    monkeypatch.setattr(reference_module, "_real_batches", lambda *a, **k: calls.append(a) or real_batches(*a, **k))
    options = {"split": "test", "num_samples": 60, "progress": False}
    stats_only = reference_features(dataset, extractor, 28, 1, **options)
    assert stats_only.features is None and stats_only.count == 60 and len(calls) == 1
    again = reference_features(dataset, extractor, 28, 1, **options)
    assert len(calls) == 1 and np.array_equal(again.stats.covariance, stats_only.stats.covariance)
    with_features = reference_features(dataset, extractor, 28, 1, keep_features=True, per_class=True, **options)
    assert len(calls) == 2 and with_features.features.shape == (60, 128)
    assert sum(s.count for s in with_features.class_stats.values()) == 60  # a random subset: every class
    assert len(with_features.class_stats) == 10
    # A later run asking for less reuses the richer entry; nothing half-written is left behind.
    assert reference_features(dataset, extractor, 28, 1, **options).features is not None and len(calls) == 2
    files = list((tmp_path / "cache" / "reference_stats").iterdir())
    assert [f.suffix for f in files] == [".npz"]
    np.testing.assert_allclose(with_features.stats.mean, with_features.features.double().mean(0).numpy(), atol=1e-9)


def test_large_per_class_statistics_are_not_collected_unless_asked_for(monkeypatch):
    dataset, extractor = load_dataset("mnist-5k", split="test"), load_feature_extractor("mnist-classifier")
    labels_seen = []
    real_batches = reference_module._real_batches

    def spy(*args, **kwargs):
        for images, labels in real_batches(*args, **kwargs):
            labels_seen.append(labels)
            yield images, labels

    monkeypatch.setattr(reference_module, "_real_batches", spy)
    options = {"split": "test", "num_samples": 40, "cache": False, "progress": False}
    small = reference_features(dataset, extractor, 28, 1, **options)  # 10 classes x 128-d: small, kept
    assert len(small.class_stats) == 10 and all(labels is not None for labels in labels_seen)
    monkeypatch.setattr(reference_module, "_class_stats_are_small", lambda dataset, dim: False)
    labels_seen.clear()
    large = reference_features(dataset, extractor, 28, 1, **options)
    assert large.class_stats == {} and labels_seen and all(labels is None for labels in labels_seen)
    labels_seen.clear()
    asked = reference_features(dataset, extractor, 28, 1, per_class=True, **options)
    assert len(asked.class_stats) == 10 and all(labels is not None for labels in labels_seen)


def test_too_few_reference_images_name_the_cap():
    dataset, extractor = load_dataset("mnist-5k", split="test"), load_feature_extractor("mnist-classifier")
    with pytest.raises(GenzooError, match=r"^--num-reference 1 leaves too few reference images.*has 500\)\.$"):
        reference_features(dataset, extractor, 28, 1, split="test", num_samples=1, cache=False, progress=False)
    one = type(dataset)(dataset.data.select(range(1)), name="one-digit")
    with pytest.raises(GenzooError, match=r"'one-digit' \(split 'test'\) has 1 images; evaluation needs at least 2"):
        reference_features(one, extractor, 28, 1, split="test", num_samples=5, cache=False, progress=False)


@functools.cache
def _training_digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset("mnist-5k").with_transform(28, 1)[:]
    return torch.stack(data["pixel_values"]), torch.tensor(data["class_labels"])


class MemorisingGenerator(Generator):
    r"""A conditional "generator" that returns real training digits of the requested class (or, with `swap`, of
    the next class): per-class FID must be small for the first and large for the second."""

    @register_to_config
    def __init__(self, latent_dim: int = 4, image_size: int = 28, num_channels: int = 1, num_classes: int = 2,
                 swap: bool = False):  # fmt: skip
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # a pipeline needs some weights to save
        images, labels = _training_digits()
        self.register_buffer("bank", torch.stack([images[labels == c][:400] for c in range(num_classes)]), False)

    def forward(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        source = (class_labels + int(self.config.swap)) % self.config.num_classes
        index = (
            (torch.special.ndtr(latents[:, 0].float()) * self.bank.shape[1]).long().clamp_max(self.bank.shape[1] - 1)
        )
        return self.bank[source, index] + self.anchor


def test_per_class_fid_for_conditional_models(register_plugin, tmp_path, capsys):
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register("memoriser", MemorisingGenerator)

    register_plugin(Plugin(), name="memoriser")
    results = {}
    for swap in (False, True):
        folder = tmp_path / f"swap{swap}"
        GenPipeline(model=MemorisingGenerator(swap=swap)).save_pretrained(folder)
        json_path = tmp_path / f"swap{swap}.json"
        main(["evaluate", str(folder), "--metrics", "fid,fid_per_class", "--num-samples", "300", "--json",
              str(json_path)])  # fmt: skip
        results[swap] = json.loads(json_path.read_text())
    right, wrong = results[False], results[True]
    assert right["num_samples"] == 300  # 150 per class
    assert right["fid_per_class_mean"] == pytest.approx((right["fid_class_0"] + right["fid_class_1"]) / 2)
    # The same mixture of digits overall, but each class compared with the wrong digit when swapped.
    assert right["fid"] == pytest.approx(wrong["fid"], rel=0.5)
    assert wrong["fid_class_0"] > 10 * right["fid_class_0"] and wrong["fid_class_1"] > 10 * right["fid_class_1"]


def test_per_class_fid_is_skipped_with_too_few_samples_per_class(register_plugin, caplog):
    pipe = GenPipeline(model=MemorisingGenerator())
    results = evaluate_pipeline(pipe, "fid,fid_per_class", num_samples=200, progress=False)  # 100 per class < 129
    assert "fid" in results and "fid_per_class_mean" not in results
    assert "raise --num-samples to at least 258" in caplog.text


class DigitsGenerator(Generator):
    r"""An unconditional "generator" that returns real training digits of the classes in `digits`, in equal parts
    (the first half of the latent space draws the first digit, and so on): class coverage must find exactly those."""

    @register_to_config
    def __init__(self, latent_dim: int = 4, image_size: int = 28, num_channels: int = 1, digits: tuple = (3, 7)):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # a pipeline needs some weights to save
        images, labels = _training_digits()
        self.register_buffer("bank", torch.stack([images[labels == c][:300] for c in digits]), False)

    def forward(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        position = torch.special.ndtr(latents[:, 0].float()) * self.bank.shape[0]  # uniform in [0, len(digits))
        which = position.long().clamp_max(self.bank.shape[0] - 1)
        index = ((position - which) * self.bank.shape[1]).long().clamp_max(self.bank.shape[1] - 1)
        return self.bank[which, index] + self.anchor


def test_class_coverage_of_an_unconditional_model(register_plugin, tmp_path):
    """`coverage` counts the samples per class with the extractor's classifier: a model that draws only 3s and 7s, in
    equal parts, has half its samples in each, the entropy of two even classes out of ten, and no other class."""

    class Plugin:
        @hookimpl
        def register_models(self, register):
            register("digits", DigitsGenerator)

    register_plugin(Plugin(), name="digits")
    folder = tmp_path / "digits"
    GenPipeline(model=DigitsGenerator()).save_pretrained(folder)
    json_path = tmp_path / "coverage.json"
    main(["evaluate", str(folder), "--metrics", "coverage", "--num-samples", "400", "--json", str(json_path)])
    results = json.loads(json_path.read_text())
    shares = [results[f"class_share_{c}"] for c in range(10)]
    assert sum(shares) == pytest.approx(1.0)
    assert shares[3] == pytest.approx(0.5, abs=0.08) and shares[7] == pytest.approx(0.5, abs=0.08)
    assert shares[3] + shares[7] >= 0.97  # the classifier reads 99 % of real digits right
    assert results["coverage_min_share"] == min(shares) == 0.0
    assert results["coverage_entropy"] == pytest.approx(math.log(2) / math.log(10), abs=0.06)
    assert results["coverage_classes"] <= 4 and results["mean_top_probability"] > 0.9
    assert "fid" not in results and results["num_samples"] == 400 and "num_reference" not in results  # no real images


def test_class_coverage_is_a_default_for_unconditional_models_only(trained_dcgan):
    """`genzoo evaluate` without `--metrics` adds class coverage for an unconditional model, never for a
    conditional one, and refuses it when asked for one in one line."""
    from genzoo.metrics.evaluation import parse_metrics

    dcgan, conditional = GenPipeline.from_pretrained(trained_dcgan), GenPipeline(model=MemorisingGenerator())
    assert "coverage" in [m.name for m in parse_metrics(None, dcgan)]
    assert "coverage" not in [m.name for m in parse_metrics(None, conditional)]
    results = evaluate_pipeline(dcgan, "coverage,is", num_samples=100, progress=False)
    assert 0.0 <= results["coverage_min_share"] <= 0.1 and 0.0 <= results["coverage_entropy"] <= 1.0
    assert results["coverage_classes"] == sum(results[f"class_share_{c}"] > 0 for c in range(10))
    with pytest.raises(GenzooError, match=r"'coverage' needs an unconditional generator, but .* is class-conditional"):
        evaluate_pipeline(conditional, "coverage", num_samples=100, progress=False)


class EncoderGenerator(DCGANGenerator):
    """A generator with an encoder (what the VAE plugin's metrics apply to), whatever its family."""

    def encode(self, images):
        return images.flatten(1)[:, : self.config.latent_dim], None


class FakeVAEPipeline(GenPipeline):
    """A pipeline with the methods the VAE plugin's metrics call: reconstructs every image as mid-grey and reports
    each image's mean pixel as its NLL, and records what it was given."""

    def __init__(self, model):
        super().__init__(model=model)
        self.seen: list[torch.Tensor] = []
        self.nll_options: list[dict] = []

    def reconstruct(self, images, output_type="pt", generator=None):
        self.seen.append(images.cpu())
        return ImagePipelineOutput(images=torch.full_like(images, 0.5))

    def estimate_nll(self, images, num_importance_samples=500, batch_size=64, generator=None):
        self.nll_options.append({"num_importance_samples": num_importance_samples, "batch_size": batch_size})
        return images.flatten(1).mean(dim=1) + 10.0


def test_vae_metrics_come_through_the_metrics_hook_and_use_held_out_images():
    torch.manual_seed(0)
    pipe = FakeVAEPipeline(EncoderGenerator(latent_dim=8, base_channels=8))
    args = ["nll.num_images=20", "nll.importance_samples=7", "reconstruction.num_images=20"]
    results = evaluate_pipeline(pipe, "fid,nll,reconstruction", args, num_samples=150, batch_size=16, progress=False)
    seen = torch.cat(pipe.seen)
    assert seen.shape == (20, 1, 28, 28)
    assert pipe.nll_options == [{"num_importance_samples": 7, "batch_size": 16}] * 2
    assert results["reconstruction_mse"] == pytest.approx(float((((seen + 1) / 2 - 0.5) ** 2).mean()), rel=1e-6)
    assert results["nll"] == pytest.approx(float(seen.flatten(1).mean(1).mean()) + 10.0, rel=1e-6)
    test_images = torch.stack(load_dataset("mnist-5k", split="test").with_transform(28, 1)[:]["pixel_values"])
    assert all((test_images == image).all(dim=(1, 2, 3)).any() for image in seen)  # from the held-out split
    assert "nll" not in evaluate_pipeline(pipe, "fid", num_samples=150, progress=False)
    # nll alone samples nothing and needs no feature extractor.
    only_nll = evaluate_pipeline(pipe, "nll", {"nll": {"num_images": 4}}, progress=False)
    assert set(only_nll) == {"nll", "dataset", "split"} and pipe.nll_options[-1]["num_importance_samples"] == 100
    # Without --metrics, a pipeline with an encoder gets the VAE metrics with the defaults (200 images, k = 100).
    assert {"fid", "kid", "nll", "reconstruction_mse"} <= set(
        evaluate_pipeline(pipe, None, ["nll.num_images=3", "reconstruction.num_images=3"], num_samples=150,
                          progress=False)
    )  # fmt: skip
    # A generator without an encoder gets none of them, and asking for one is a one-line error.
    plain = FakeVAEPipeline(DCGANGenerator(latent_dim=8, base_channels=8))
    assert "nll" not in evaluate_pipeline(plain, None, num_samples=150, progress=False)
    with pytest.raises(GenzooError, match=r"^Metric 'nll' needs a generator with an encoder, but the DCGANGenerator"):
        evaluate_pipeline(plain, "nll", progress=False)


def test_a_real_vae_gets_nll_through_the_cli(tmp_path, capsys):
    from genzoo_vae import VAEGenerator, VAEPipeline

    torch.manual_seed(0)
    folder = tmp_path / "vae"
    VAEPipeline(model=VAEGenerator(latent_dim=4, base_channels=4)).save_pretrained(folder)
    json_path = tmp_path / "nll.json"
    main(["evaluate", str(folder), "--metrics", "nll", "--metric-arg", "nll.importance_samples=3", "--metric-arg",
          "nll.num_images=5", "--json", str(json_path)])  # fmt: skip
    results = json.loads(json_path.read_text())
    pipe = VAEPipeline.from_pretrained(folder)
    images = torch.stack(load_dataset("mnist-5k", split="test").with_transform(28, 1)[:]["pixel_values"])
    held_out = images[np.random.RandomState(0).permutation(len(images))[:5]]
    expected = pipe.estimate_nll(held_out, 3, batch_size=250, generator=torch.Generator().manual_seed(0))
    assert results["nll"] == pytest.approx(float(expected.mean()), rel=1e-9)
    assert "fid" not in results and results["split"] == "train"


def test_metric_options_are_typed_and_checked(monkeypatch):
    import genzoo.data

    pipe = FakeVAEPipeline(EncoderGenerator(latent_dim=8, base_channels=8))
    options = {"num_samples": 150, "progress": False}
    for arg, message in (
        ("nll.num_images=0", r"^nll.num_images must be at least 1, got 0\.$"),
        ("nll.importance_samples=0", r"^nll.importance_samples must be at least 1, got 0\.$"),
        ("nll.importance_samples=many", r"^Metric option nll.importance_samples takes int values, got 'many'\.$"),
        ("nll.k=3", r"^Metric 'nll' has no option 'k'; its options: importance_samples, num_images\.$"),
        ("nll=3", r"^--metric-arg 'nll' is not METRIC.KEY=VALUE"),
        ("kid.subset_size=10", r"^--metric-arg sets options of 'kid', which is not among the metrics \(nll\)\.$"),
        ("fjd.x=1", r"^Unknown metric 'fjd'"),
    ):
        with pytest.raises(GenzooError, match=message):
            evaluate_pipeline(pipe, "nll", [arg], **options)
    assert not pipe.seen and not pipe.nll_options  # checked before sampling anything
    with pytest.raises(TypeError, match="Unknown evaluation option 'vae_num_images'"):
        evaluate_pipeline(pipe, "nll", vae_num_images=3)

    real_loader = genzoo.data.load_dataset

    def empty_test_split(spec, split="train", **kwargs):
        dataset = real_loader(spec, split=split, **kwargs)
        return type(dataset)(dataset.data.select([]), name=spec) if split == "test" else dataset

    monkeypatch.setattr(genzoo.data, "load_dataset", empty_test_split)
    with pytest.raises(GenzooError, match=r"^Split 'test' of dataset 'mnist-5k' is empty, so there are no held-out"):
        evaluate_pipeline(pipe, "fid,nll", **options)


def test_clear_errors(trained_dcgan, register_plugin, tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["evaluate", str(trained_dcgan), "--metrics", "fid", "--num-samples", "50"])
    assert excinfo.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]  # (after diffusers' loading progress bar)
    assert error.startswith("genzoo: error: FID needs more generated samples than feature dimensions")
    assert "got 50 for 128-d features; use at least 129" in error
    with pytest.raises(SystemExit):
        main(["evaluate", str(trained_dcgan), "--features", "mnist-clasifier"])
    assert "Did you mean 'mnist-classifier'?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", str(trained_dcgan), "--metrics", "fid,fjd"])
    error = capsys.readouterr().err
    assert "genzoo: error: Unknown metric 'fjd'. Did you mean 'fid'? Available metrics: " in error
    assert all(f" {name}," in error for name in ("fid", "fid_per_class", "is", "kid", "nll", "pr"))

    rgb = GenPipeline(model=DCGANGenerator(latent_dim=8, base_channels=8, num_channels=3))
    with pytest.raises(GenzooError, match="reads grayscale images but got 3-channel"):
        evaluate_pipeline(rgb, num_samples=10, progress=False)

    class NoLogits(FeatureExtractor):
        feature_dim, input_size, input_channels = 4, 8, 1

        def __init__(self, weights_path=None, **options):
            super().__init__()

        def extract(self, pixels, with_logits=True):
            return pixels.flatten(1)[:, :4], None

    class Plugin:
        @hookimpl
        def register_feature_extractors(self, register):
            register("no-logits", NoLogits)

    register_plugin(Plugin(), name="no-logits")
    gray = GenPipeline(model=DCGANGenerator(latent_dim=8, base_channels=8))
    with pytest.raises(GenzooError, match="'no-logits' gives no class logits, which metric is needs"):
        evaluate_pipeline(gray, metrics="is", features="no-logits", num_samples=10, progress=False)
    rgb_data = tmp_path / "rgb.parquet"
    features = datasets.Features({"image": datasets.Image()})
    datasets.Dataset.from_dict({"image": [Image.new("RGB", (28, 28))] * 4}, features=features).to_parquet(rgb_data)
    with pytest.raises(GenzooError, match=r"makes 1-channel images but dataset .* holds 3-channel images"):
        evaluate_pipeline(gray, dataset=f"parquet:{rgb_data}", num_samples=10, progress=False)


def test_evaluation_during_training_keeps_the_best_pipeline(tiny_train_config):
    config = tiny_train_config(max_steps=4, eval_every=2, eval_num_samples=150, eval_metrics=["fid"])
    output_dir = train(config)
    best = output_dir / "best"
    results = json.loads((best / "eval_results.json").read_text())
    info = json.loads((best / "best_checkpoint.json").read_text())
    assert info["metric"] == "fid" and info["step"] in (2, 4) and info["value"] == results["fid"]
    assert results["num_samples"] == 150 and results["features"] == "mnist-classifier"
    logged = [json.loads(line) for line in (output_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    evals = {record["step"]: record for record in logged if "eval/fid" in record}
    assert sorted(evals) == [2, 4] and min(r["eval/fid"] for r in evals.values()) == pytest.approx(results["fid"])
    assert evals[4]["eval/best_fid"] == pytest.approx(results["fid"])
    assert isinstance(GenPipeline.from_pretrained(best).model, DCGANGenerator)
    assert not (output_dir / ".best.partial").exists() and not (output_dir / ".best.old").exists()


def test_training_evaluator_settings(tiny_train_config, tmp_path):
    class Accelerator:
        is_main_process, device = True, torch.device("cpu")

    from genzoo.registry import get_model

    registration = get_model("dcgan")
    with pytest.raises(ConfigError, match="eval_metric 'fdi' is not a metric genzoo reports"):
        TrainingEvaluator(tiny_train_config(eval_every=1, eval_metric="fdi"), registration, Accelerator(), tmp_path)
    with pytest.raises(ConfigError, match="eval_num_samples must exceed the 128 feature dimensions"):
        TrainingEvaluator(tiny_train_config(eval_every=1, eval_num_samples=100), registration, Accelerator(), tmp_path)
    with pytest.raises(ConfigError, match="eval_num_samples must be at least 2"):
        tiny_train_config(eval_every=1, eval_num_samples=1)
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "eval_results.json").write_text(json.dumps({"fid": 3.5, "recall": 0.25}))
    evaluator = TrainingEvaluator(tiny_train_config(eval_every=1, eval_metric="recall"), registration,
                                  Accelerator(), tmp_path)  # fmt: skip
    assert evaluator.best == 0.25 and evaluator.metrics == ["fid", "kid", "pr"]  # a resumed run keeps its best
    fresh = TrainingEvaluator(tiny_train_config(eval_every=1, eval_metric="recall"), registration, Accelerator(),
                              tmp_path, resuming=False)  # fmt: skip
    assert fresh.best is None  # an overwritten run does not inherit the old run's best


class _FakeAccelerator:
    """What `TrainingEvaluator` uses of an `accelerate.Accelerator`, recording what is logged and printed."""

    is_main_process, device = True, torch.device("cpu")

    def __init__(self):
        self.logged, self.printed = [], []

    def wait_for_everyone(self):
        pass

    def log(self, values, step):
        self.logged.append((step, values))

    def print(self, text):
        self.printed.append(text)


def test_a_non_finite_first_evaluation_keeps_no_best(tiny_train_config, tmp_path, monkeypatch):
    from genzoo.metrics import training_eval
    from genzoo.registry import get_model

    values = iter([math.nan, math.inf, 5.0, 7.0])
    monkeypatch.setattr(training_eval, "evaluate_pipeline", lambda pipe, *a, **k: {"fid": next(values), "kid": 0.1})
    accelerator = _FakeAccelerator()
    config = tiny_train_config(eval_every=1, eval_num_samples=150, eval_metrics=["fid"])
    model = DCGANGenerator(latent_dim=8, base_channels=8)
    evaluator = TrainingEvaluator(config, get_model("dcgan"), accelerator, tmp_path, model=model)
    for step in (1, 2, 3, 4):
        evaluator.maybe_evaluate(step, model)
    assert evaluator.best == 5.0 and json.loads((tmp_path / "best" / "best_checkpoint.json").read_text())["step"] == 3
    assert [values for _, values in accelerator.logged[:2]] == [{"eval/kid": 0.1}] * 2  # no best, no NaN logged
    assert accelerator.logged[2][1]["eval/best_fid"] == accelerator.logged[3][1]["eval/best_fid"] == 5.0
    assert accelerator.printed[0] == "step 1: fid = nan (not finite: no best pipeline yet)"
    assert accelerator.printed[1] == "step 2: fid = inf (not finite: no best pipeline yet)"
    assert accelerator.printed[3] == "step 4: fid = 7 (best 5)"


def test_training_evaluator_checks_what_the_model_needs_before_training(tiny_train_config, tmp_path, register_plugin):
    from genzoo.registry import get_model
    from genzoo_cgan import CGANGenerator

    dcgan, cgan, vae = get_model("dcgan"), get_model("cgan"), get_model("vae")
    unconditional = DCGANGenerator(latent_dim=8, base_channels=8)
    conditional = CGANGenerator(latent_dim=8, base_channels=8, num_classes=10)

    def evaluator(registration, model, **overrides):
        config = tiny_train_config(eval_every=1, **{"eval_num_samples": 1000, **overrides})
        return TrainingEvaluator(config, registration, _FakeAccelerator(), tmp_path, model=model)

    for metric in ("nll", "reconstruction_mse"):
        with pytest.raises(ConfigError, match=rf"eval_metric '{metric}' needs a generator with an encoder, but this"):
            evaluator(dcgan, unconditional, eval_metric=metric)
        with pytest.raises(ConfigError, match=rf"eval_metric '{metric}' needs a generator with an encoder"):
            evaluator(dcgan, None, eval_metric=metric)  # checked on the family's generator class too
    assert evaluator(vae, None, eval_metric="nll").metrics == ["fid", "kid", "nll"]
    assert evaluator(vae, None, eval_metric="reconstruction_mse").metrics == ["fid", "kid", "reconstruction"]
    with pytest.raises(ConfigError, match="'fid_per_class_mean' needs a class-conditional model"):
        evaluator(dcgan, unconditional, eval_metric="fid_per_class_mean")
    # 1,000 samples are 100 per class: enough for FID overall (1,000 > 128), not per class.
    evaluator(cgan, conditional)
    with pytest.raises(ConfigError, match=r"gives 100 samples per class .* set it to at least 1290\.$"):
        evaluator(cgan, conditional, eval_metric="fid_per_class_mean")
    evaluator(cgan, conditional, eval_metric="fid_per_class_mean", eval_num_samples=1290)
    # 135 samples are 13 of each of 10 classes: 130 > 128; 129 would give 120.
    evaluator(cgan, conditional, eval_num_samples=135)
    with pytest.raises(ConfigError, match=r"eval_num_samples 129 gives 120 samples .* at least 130\.$"):
        evaluator(cgan, conditional, eval_num_samples=129)
    evaluator(dcgan, unconditional, eval_num_samples=129)  # unconditional: all 129 are used
    rgb = DCGANGenerator(latent_dim=8, base_channels=8, num_channels=3)
    with pytest.raises(GenzooError, match="reads grayscale images but got 3-channel"):
        evaluator(dcgan, rgb)

    class NoLogits(FeatureExtractor):
        feature_dim, input_size, input_channels = 4, 8, 1

        def __init__(self, weights_path=None, **options):
            super().__init__()

    class Plugin:
        @hookimpl
        def register_feature_extractors(self, register):
            register("no-logits", NoLogits)

    register_plugin(Plugin(), name="no-logits")
    with pytest.raises(ConfigError, match="'no-logits' gives no class logits, which metric is needs"):
        evaluator(dcgan, unconditional, eval_features="no-logits", eval_metrics=["fid", "is"])
    evaluator(dcgan, unconditional, eval_features="no-logits", eval_metrics=["fid"])


def test_training_stops_before_the_first_step_when_the_eval_metric_cannot_be_computed(tiny_train_config, tmp_path):
    with pytest.raises(ConfigError, match="'fid_per_class_mean' needs a class-conditional model"):
        train(tiny_train_config(eval_every=2, eval_metric="fid_per_class_mean"))
    assert not (tmp_path / "run").exists(), "a run that fails its checks must leave no output folder behind"


THIRD_PARTY_METRIC_PLUGIN = """
from genzoo import hookimpl
from genzoo.registry import MetricOption

def feature_count(context, scale=1):
    '''How many generated and real feature rows the metric was given, times scale.'''
    return {"feature_rows": float(scale * (len(context.generated.features) + len(context.reference.features)))}

@hookimpl
def register_metrics(register):
    register("rows", feature_count, needs=("features",), direction="higher", outputs=("feature_rows",),
             options={"scale": MetricOption(1, "a factor", minimum=1)})
"""


def test_a_third_party_metric_is_listed_and_computed(installed_plugin, trained_dcgan, tmp_path, capsys):
    installed_plugin("rowcount", THIRD_PARTY_METRIC_PLUGIN, version="0.3.0")
    main(["plugins"])
    assert "rowcount 0.3.0" in capsys.readouterr().out
    main(["plugins", "--json"])
    by_name = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert by_name["rowcount"]["metrics"] == ["rows"]
    assert by_name["genzoo"]["metrics"] == [
        "fid", "fid_per_class", "kid", "is", "pr", "coverage", "mig", "dci", "factorvae_score", "sap"
    ]  # fmt: skip
    assert by_name["vae"]["metrics"] == ["nll", "reconstruction"]

    json_path = tmp_path / "rows.json"
    main(["evaluate", str(trained_dcgan), "--metrics", "rows,fid", "--metric-arg", "rows.scale=3", "--num-samples",
          "150", "--num-reference", "200", "--json", str(json_path)])  # fmt: skip
    results = json.loads(json_path.read_text())
    assert results["feature_rows"] == 3 * (150 + 200) and results["fid"] > 0
    assert list(results)[:2] == ["feature_rows", "fid"]  # in the order asked for
    # It can pick the best pipeline during training, through the same registry.
    from genzoo.registry import metric_for_output

    assert metric_for_output("feature_rows").name == "rows" and metric_for_output("feature_rows").higher_is_better
