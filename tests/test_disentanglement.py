"""Disentanglement metrics: analytic cases, agreement with disent (a maintained implementation of
disentanglement_lib's definitions) on the same codes, and the registered metrics through `evaluate_pipeline`,
including their one-line errors."""

from pathlib import Path

import numpy as np
import pytest
import torch

from genzoo.errors import GenzooError
from genzoo.metrics import evaluate_pipeline
from genzoo.metrics.disentanglement import (
    dci,
    dci_from_split,
    factor_vae_score,
    mutual_information_gap,
    sap,
    sap_from_split,
)

FIXTURES = Path(__file__).parent / "fixtures" / "disent_metrics.npz"


def grid_factors(count: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    return np.stack([rng.randint(size, size=count) for size in (3, 6, 10, 8, 8)], axis=1)


def test_a_representation_that_is_the_factors_scores_one():
    factors = grid_factors()
    codes = factors + 0.01 * np.random.RandomState(1).randn(*factors.shape)
    assert mutual_information_gap(codes, factors)["mig"] == pytest.approx(1.0, abs=0.02)
    scores = dci(codes, factors)
    assert scores["dci_disentanglement"] == pytest.approx(1.0, abs=0.02)
    assert scores["dci_completeness"] == pytest.approx(1.0, abs=0.02)
    assert scores["dci_informativeness"] == pytest.approx(1.0, abs=0.01)
    assert factor_vae_score(codes, factors)["factorvae_score"] == 1.0
    assert sap(codes, factors, continuous_factors=True)["sap"] > 0.9
    # The order of the codes does not matter, and extra noise dimensions do not hide the factors from MIG.
    permuted = np.concatenate([codes[:, ::-1], np.random.RandomState(2).randn(len(codes), 3)], axis=1)
    assert mutual_information_gap(permuted, factors)["mig"] == pytest.approx(1.0, abs=0.05)
    assert factor_vae_score(permuted, factors)["factorvae_score"] == 1.0


def test_a_random_representation_scores_about_zero():
    factors = grid_factors()
    codes = np.random.RandomState(3).randn(len(factors), 6)
    assert mutual_information_gap(codes, factors)["mig"] < 0.02
    scores = dci(codes, factors)
    assert scores["dci_disentanglement"] < 0.1 and scores["dci_completeness"] < 0.1
    assert sap(codes, factors)["sap"] < 0.05
    assert factor_vae_score(codes, factors)["factorvae_score"] < 0.45  # chance: 1 in 5 factors, a few lucky codes


def test_one_code_for_two_factors_is_not_disentangled():
    factors = grid_factors()
    mixed = np.stack([factors[:, 0] * 10 + factors[:, 1], factors[:, 2], factors[:, 3], factors[:, 4]], axis=1)
    scores = dci(mixed + 0.01, factors)
    assert scores["dci_disentanglement"] < 0.93 and scores["dci_completeness"] > 0.9


@pytest.mark.parametrize("case", ["identity", "entangled", "random"])
def test_agrees_with_disent_on_the_same_codes(case):
    """Values made once by disent 0.8.0 (scripts/make_disent_fixtures.py) on the codes stored beside them: MIG
    exactly, SAP to the linear SVM's tolerance, DCI to the boosted trees' randomness (disent leaves it unseeded)."""
    stored = np.load(FIXTURES)
    codes, factors = stored[f"{case}_codes"], stored[f"{case}_factors"]
    mig, disentanglement, completeness, informativeness, sap_score = stored[f"{case}_values"]
    train, test = slice(0, 600), slice(600, None)
    assert mutual_information_gap(codes[train], factors[train])["mig"] == pytest.approx(mig, abs=1e-9)
    ours = dci_from_split(codes[train], factors[train], codes[test], factors[test], n_estimators=100)
    assert ours["dci_disentanglement"] == pytest.approx(disentanglement, abs=0.02)
    assert ours["dci_completeness"] == pytest.approx(completeness, abs=0.02)
    assert ours["dci_informativeness"] == pytest.approx(informativeness, abs=0.02)
    ours_sap = sap_from_split(codes[train], factors[train], codes[test], factors[test])["sap"]
    assert ours_sap == pytest.approx(sap_score, abs=0.01)


def test_bad_shapes_are_one_line_errors():
    with pytest.raises(GenzooError, match="must be 2-D with the same n"):
        mutual_information_gap(np.zeros((5, 2)), np.zeros((4, 2), dtype=int))
    with pytest.raises(GenzooError, match="MIG needs at least 2 code dimensions"):
        mutual_information_gap(np.zeros((5, 1)), np.zeros((5, 2), dtype=int))


@pytest.fixture
def shapes_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))


def tiny_vae_pipe():
    from genzoo.pipeline import pipeline_class_of
    from genzoo.registry import get_model

    torch.manual_seed(0)
    registration = get_model("vae")
    model = registration.generator_class(latent_dim=4, image_size=64, base_channels=4, hidden_dim=16).eval()
    return pipeline_class_of(registration)(model=model)


def test_registered_metrics_on_shapes(shapes_cache):
    results = evaluate_pipeline(
        tiny_vae_pipe(), "mig,dci,factorvae_score,sap", {"dci.n_estimators": 5, "factorvae_score.num_votes": 50},
        dataset="shapes:tiny", progress=False, batch_size=128,
    )  # fmt: skip
    for key in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "factorvae_score", "sap"):
        assert 0.0 <= results[key] <= 1.0, key
    assert results["dataset"] == "shapes:tiny"


def test_infogan_codes_are_a_representation(shapes_cache):
    from genzoo_infogan import InfoGANGenerator, InfoGANPipeline

    torch.manual_seed(0)
    model = InfoGANGenerator(noise_dim=4, num_categories=3, num_continuous=2, image_size=64, base_channels=4,
                             hidden_dim=16, q_hidden_dim=8).eval()  # fmt: skip
    results = evaluate_pipeline(InfoGANPipeline(model=model), "mig", dataset="shapes:tiny", progress=False)
    assert 0.0 <= results["mig"] <= 1.0


def test_bad_input(shapes_cache):
    from genzoo import GenPipeline
    from genzoo.registry import get_model

    dcgan = GenPipeline(model=get_model("dcgan").generator_class(latent_dim=4, base_channels=4))
    with pytest.raises(GenzooError, match=r"Metric 'mig' needs a generator with an encoder .* or learned") as info:
        evaluate_pipeline(dcgan, "mig", dataset="shapes:tiny", progress=False)
    assert "\n" not in str(info.value)
    with pytest.raises(GenzooError, match="needs a dataset with factor columns, and 'mnist-5k' has none") as info:
        evaluate_pipeline(tiny_vae_pipe(), "sap", progress=False)
    assert "\n" not in str(info.value)
    with pytest.raises(GenzooError, match="has no column 'colour'"):
        evaluate_pipeline(tiny_vae_pipe(), "mig", {"mig.factor_columns": "colour"}, dataset="shapes:tiny",
                          progress=False)  # fmt: skip
