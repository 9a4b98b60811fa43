"""The metric formulas: analytic cases, hand-computed examples, and agreement with the reference implementations of
pytorch-fid and torch-fidelity, whose formulas are written out below."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import linalg

from genzoo.errors import GenzooError
from genzoo.metrics import (
    FeatureStatistics,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    polynomial_mmd2,
    precision_recall,
)
from genzoo.metrics.functional import is_better

# --- The reference formulas ------------------------------------------------------------------------------------------


def pytorch_fid_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's `calculate_frechet_distance` (scipy's sqrtm of the product, eps fallback, real part)."""
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def torch_fidelity_frechet_distance(mu1, sigma1, mu2, sigma2):
    """torch-fidelity's `fid_statistics_to_metric` (eigenvalues of the product)."""
    diff = mu1 - mu2
    tr_covmean = np.sum(np.sqrt(np.linalg.eigvals(sigma1.dot(sigma2))).real)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def torch_fidelity_mmd2(k_xx, k_xy, k_yy):
    """torch-fidelity's (and Bińkowski et al.'s) unbiased `mmd2`."""
    m = k_xx.shape[0]
    diag_x, diag_y = np.diagonal(k_xx), np.diagonal(k_yy)
    kt_xx_sum = (k_xx.sum(axis=1) - diag_x).sum()
    kt_yy_sum = (k_yy.sum(axis=1) - diag_y).sum()
    k_xy_sum = k_xy.sum(axis=0).sum()
    return (kt_xx_sum + kt_yy_sum) / (m * (m - 1)) - 2 * k_xy_sum / (m * m)


def torch_fidelity_kid(features_1, features_2, subsets, subset_size, seed, degree=3, coef0=1):
    """torch-fidelity's `kid_features_to_metric` with its `polynomial_kernel` (γ = 1 / dim)."""

    def kernel(a, b):
        return (a @ b.T / a.shape[1] + coef0) ** degree

    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        f1 = features_1[rng.choice(len(features_1), subset_size, replace=False)]
        f2 = features_2[rng.choice(len(features_2), subset_size, replace=False)]
        mmds[i] = torch_fidelity_mmd2(kernel(f1, f1), kernel(f1, f2), kernel(f2, f2))
    return float(np.mean(mmds)), float(np.std(mmds))


def torch_fidelity_precision_recall(features_1, features_2, neighborhood=3):
    """torch-fidelity's `calculate_precision_recall_full` (features_1 real, features_2 generated)."""
    dist_nn_1 = torch.cdist(features_1, features_1).kthvalue(neighborhood + 1).values
    dist_nn_2 = torch.cdist(features_2, features_2).kthvalue(neighborhood + 1).values
    dist_2_1 = torch.cdist(features_2, features_1)
    precision = (dist_2_1 <= dist_nn_1).any(dim=1).float().mean().item()
    recall = (dist_nn_2 >= dist_2_1.T).any(dim=1).float().mean().item()
    return precision, recall


def torch_fidelity_isc(logits, splits):
    """torch-fidelity's `isc_features_to_metric` without its shuffle."""
    n = logits.shape[0]
    p, log_p = logits.double().softmax(dim=1), logits.double().log_softmax(dim=1)
    scores = []
    for i in range(splits):
        p_chunk, log_p_chunk = (
            p[i * n // splits : (i + 1) * n // splits],
            log_p[i * n // splits : (i + 1) * n // splits],
        )
        q_chunk = p_chunk.mean(dim=0, keepdim=True)
        scores.append((p_chunk * (log_p_chunk - q_chunk.log())).sum(dim=1).mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))


def correlated_features(n: int, dim: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    mixing = rng.randn(dim, dim) / math.sqrt(dim)
    return rng.randn(n, dim) @ mixing + shift + rng.rand(dim)


# --- Fréchet distance ------------------------------------------------------------------------------------------------


def test_frechet_distance_of_analytic_gaussians():
    dim = 8
    # ‖0 − 1‖² + tr(I) + tr(4I) − 2 tr(2I) = 8 + 8 + 32 − 32 = 16
    assert frechet_distance(np.zeros(dim), np.eye(dim), np.ones(dim), 4 * np.eye(dim)) == pytest.approx(16, abs=1e-6)
    assert frechet_distance(np.zeros(dim), np.eye(dim), np.zeros(dim), np.eye(dim)) == pytest.approx(0, abs=1e-12)
    # Identical full covariances and commuting diagonal ones: (√a − √b)² per dimension.
    sigma = np.cov(correlated_features(100, dim, seed=1), rowvar=False)
    mu = np.arange(dim, dtype=float)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-9)
    a, b = np.arange(1.0, dim + 1), np.arange(dim, 0.0, -1)
    expected = float(((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert frechet_distance(np.zeros(dim), np.diag(a), np.zeros(dim), np.diag(b)) == pytest.approx(expected, abs=1e-9)


def test_frechet_distance_agrees_with_pytorch_fid_and_torch_fidelity():
    real, fake = correlated_features(400, 16, seed=0), correlated_features(300, 16, seed=1, shift=0.3)
    stats = [(x.mean(axis=0), np.cov(x, rowvar=False)) for x in (real, fake)]
    ours = frechet_distance(*stats[0], *stats[1])
    assert ours == pytest.approx(pytorch_fid_frechet_distance(*stats[0], *stats[1]), rel=1e-8)
    assert ours == pytest.approx(torch_fidelity_frechet_distance(*stats[0], *stats[1]), rel=1e-8)


def test_frechet_distance_is_stable_on_a_singular_product():
    # Rank-deficient covariances (fewer samples than dimensions): the result stays real, and zero up to the rounding
    # that the square roots of near-zero eigenvalues amplify (as in the reference implementations).
    sigma = np.cov(correlated_features(5, 16, seed=2), rowvar=False)
    assert frechet_distance(np.zeros(16), sigma, np.zeros(16), sigma) == pytest.approx(0, abs=1e-5 * np.trace(sigma))
    other = np.cov(correlated_features(6, 16, seed=3), rowvar=False)
    reference = pytorch_fid_frechet_distance(np.zeros(16), sigma, np.ones(16), other)
    assert frechet_distance(np.zeros(16), sigma, np.ones(16), other) == pytest.approx(reference, rel=1e-6)


def test_frechet_distance_falls_back_to_eps_when_a_decomposition_fails(monkeypatch):
    calls = []
    eigvalsh = np.linalg.eigvalsh

    def failing_once(matrix):
        calls.append(matrix.copy())
        if len(calls) == 1:
            raise np.linalg.LinAlgError("Eigenvalues did not converge")
        return eigvalsh(matrix)

    monkeypatch.setattr(np.linalg, "eigvalsh", failing_once)
    with pytest.warns(RuntimeWarning, match="adding 1e-06 to the diagonals"):
        value = frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3))
    # As in pytorch-fid, the offset enters only the square-root term: 3 + 3 − 2 · 3 (1 + 1e-6) = −6e-6.
    assert len(calls) == 2 and value == pytest.approx(-6e-6, abs=1e-12)
    np.testing.assert_allclose(calls[1], np.eye(3) * (1 + 1e-6) ** 2)


def test_frechet_distance_rejects_bad_shapes_and_values():
    with pytest.raises(GenzooError, match="same length"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(GenzooError, match="3x3"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(GenzooError, match="NaN"):
        frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(GenzooError, match="sigma1 is not a covariance matrix: it has a negative eigenvalue -1"):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(GenzooError, match="sigma2 is not a covariance matrix: it is not symmetric"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]))


# --- Streaming statistics --------------------------------------------------------------------------------------------


def test_streaming_statistics_equal_batch_computation():
    features = correlated_features(537, 12, seed=3, shift=1e4)  # a large mean tests the numerically stable update
    stats = FeatureStatistics(12)
    for batch in np.array_split(features, [1, 2, 50, 51, 300]):  # uneven batches, one of a single row
        stats.update(torch.from_numpy(batch).float() if len(batch) % 2 else batch)
    reference = FeatureStatistics.from_features(torch.from_numpy(features))
    assert stats.count == 537
    np.testing.assert_allclose(reference.mean, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(reference.covariance, np.cov(features, rowvar=False), rtol=1e-9, atol=1e-9)
    # float32 batches lose precision at a mean of 1e4; float64 batches match to rounding
    np.testing.assert_allclose(stats.covariance, np.cov(features, rowvar=False), rtol=1e-3, atol=1e-3)
    left, right = FeatureStatistics.from_features(features[:100]), FeatureStatistics.from_features(features[100:])
    merged = left.merge(right)
    np.testing.assert_allclose(merged.covariance, np.cov(features, rowvar=False), rtol=1e-9, atol=1e-9)
    restored = FeatureStatistics.from_state_dict(merged.state_dict())
    np.testing.assert_array_equal(restored.covariance, merged.covariance)


def test_too_few_samples_for_a_full_rank_covariance_is_a_clear_error():
    stats = FeatureStatistics.from_features(np.random.RandomState(0).randn(10, 16))
    with pytest.raises(GenzooError, match=r"got 10 for 16-d features; use at least 17"):
        stats.check_full_rank()
    with pytest.raises(GenzooError, match=r"shape \(batch, 16\)"):
        stats.update(np.zeros((2, 3)))


# --- KID -------------------------------------------------------------------------------------------------------------


def test_polynomial_mmd_on_a_hand_computed_example():
    # 1-d, γ = 1/dim = 1, k(a, b) = (ab + 1)³. X = {0, 1}, Y = {1, 2}.
    # Σ_{i≠j} k(x_i, x_j)/(m(m−1)) = 2·k(0,1)/2 = 1; for Y: 2·k(1,2)/2 = 27
    # Σ k(x, y)/m² = (k(0,1) + k(0,2) + k(1,1) + k(1,2))/4 = (1 + 1 + 8 + 27)/4 = 9.25
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [2.0]])
    assert polynomial_mmd2(x, y) == pytest.approx(1 + 27 - 2 * 9.25, abs=1e-12)
    assert polynomial_mmd2(x, x) == pytest.approx(1 + 1 - 2 * (1 + 1 + 1 + 8) / 4)  # negative: unbiased, not ≥ 0


def test_polynomial_mmd_is_exactly_unbiased():
    # P and Q on three points each; enumerate every pair of i.i.d. samples of size 2 from each, weighted by their
    # probability: the expectation of the estimator must equal the population MMD² exactly.
    support_p, probs_p = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, -1.0]]), np.array([0.2, 0.5, 0.3])
    support_q, probs_q = np.array([[0.5, 0.0], [-1.0, 1.0], [1.5, 1.5]]), np.array([0.6, 0.1, 0.3])
    kernel = lambda a, b: (a @ b.T / 2 + 1) ** 3  # noqa: E731
    population = (
        probs_p @ kernel(support_p, support_p) @ probs_p
        + probs_q @ kernel(support_q, support_q) @ probs_q
        - 2 * probs_p @ kernel(support_p, support_q) @ probs_q
    )
    expectation = 0.0
    for (i, j), (k, m) in itertools.product(itertools.product(range(3), repeat=2), repeat=2):
        weight = probs_p[i] * probs_p[j] * probs_q[k] * probs_q[m]
        x, y = torch.tensor(support_p[[i, j]]), torch.tensor(support_q[[k, m]])
        expectation += weight * polynomial_mmd2(x, y)
    assert expectation == pytest.approx(population, abs=1e-12)
    assert population > 0.1


def test_kid_agrees_with_torch_fidelity():
    real, fake = correlated_features(120, 8, seed=4), correlated_features(90, 8, seed=5, shift=0.5)
    ours = kernel_inception_distance(real, fake, num_subsets=20, subset_size=50, seed=7)
    theirs = torch_fidelity_kid(real, fake, subsets=20, subset_size=50, seed=7)
    assert ours == pytest.approx(theirs, rel=1e-10)
    # The subset size (1000 by default) is lowered to the smaller set; two halves of one sample give about zero.
    same, _ = kernel_inception_distance(real[:60], real[60:], num_subsets=5)
    shifted, _ = kernel_inception_distance(real[:60], fake[:60], num_subsets=5)
    assert abs(same) < 0.1 * shifted
    with pytest.raises(GenzooError, match="at least 2"):
        kernel_inception_distance(real[:1], fake)


# --- Inception Score -------------------------------------------------------------------------------------------------


def test_inception_score_on_uniform_and_one_hot_logits():
    uniform = torch.zeros(100, 10)
    assert inception_score(uniform, splits=10) == pytest.approx((1.0, 0.0), abs=1e-9)
    one_hot = torch.nn.functional.one_hot(torch.arange(100) % 10, 10).float() * 100.0  # confident and balanced
    assert inception_score(one_hot, splits=10, seed=None)[0] == pytest.approx(10.0, rel=1e-6)
    # Confident but always the same class: p(y) = p(y|x), so the score is 1.
    assert inception_score(torch.full((50, 10), 0.0).index_fill_(1, torch.tensor([3]), 100.0), splits=5)[0] == (
        pytest.approx(1.0, abs=1e-9)
    )


def test_inception_score_agrees_with_torch_fidelity():
    logits = torch.from_numpy(np.random.RandomState(8).randn(200, 7) * 3)
    assert inception_score(logits, splits=4, seed=None) == pytest.approx(torch_fidelity_isc(logits, 4), rel=1e-10)
    with pytest.raises(GenzooError, match="at least 10 rows"):
        inception_score(logits[:5], splits=10)


# --- Precision and recall --------------------------------------------------------------------------------------------


def test_precision_recall_on_hand_built_point_sets():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    # k = 1: every real ball has radius 1. 0.5 lies in B(0, 1), 10 in none: precision 1/2. The two generated points
    # have radius 9.5 each; B(0.5, 9.5) holds every real point: recall 1.
    assert precision_recall(real, torch.tensor([[0.5], [10.0]]), k=1) == (0.5, 1.0)
    assert precision_recall(real, real.clone(), k=1) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0, k=1) == (0.0, 0.0)
    # Mode collapse: generated points all at 1.0 (radius 0) cover one real point: precision 1, recall 1/4.
    assert precision_recall(real, torch.ones(3, 1), k=1) == (1.0, 0.25)


def test_precision_recall_agrees_with_torch_fidelity():
    real = torch.from_numpy(correlated_features(150, 6, seed=9))
    fake = torch.from_numpy(correlated_features(130, 6, seed=10, shift=0.4))
    ours = precision_recall(real, fake, k=3, chunk_size=32)  # chunked distances give the same answer
    assert ours == pytest.approx(torch_fidelity_precision_recall(real, fake, 3), abs=1e-7)  # theirs: a float32 mean
    assert 0.0 < ours[0] < 1.0 and 0.0 < ours[1] < 1.0
    with pytest.raises(GenzooError, match="more than 3 samples"):
        precision_recall(real[:3], fake)


def test_metric_directions():
    assert is_better(1.0, 2.0) and not is_better(3.0, 2.0)
    assert is_better(3.0, 2.0, higher_is_better=True) and is_better(0.5, None, higher_is_better=True)
    assert not is_better(float("nan"), None) and not is_better(float("inf"), 2.0)


def _kid_before(real, fake, num_subsets, subset_size, seed):
    """KID as genzoo computed it before the Gram-matrix path: each subset pair's own kernel blocks (kept verbatim
    to pin the values)."""
    real, fake = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    size = min(subset_size, len(real), len(fake))
    rng = np.random.RandomState(seed)
    pairs = [(rng.choice(len(real), size, replace=False), rng.choice(len(fake), size, replace=False))
             for _ in range(num_subsets)]  # fmt: skip
    values = []
    for real_index, fake_index in pairs:
        x, y = real[torch.from_numpy(real_index)], fake[torch.from_numpy(fake_index)]
        k_xx, k_yy, k_xy = ((a @ b.T / a.shape[1] + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        within = (k_xx.sum() - k_xx.trace() + k_yy.sum() - k_yy.trace()) / (size * (size - 1))
        values.append(float(within - 2 * k_xy.sum() / size**2))
    return float(np.mean(values)), float(np.std(values))


@pytest.mark.parametrize(
    ("n_real", "n_fake", "dim", "subsets", "size", "shift"),
    [(300, 200, 16, 30, 100, 0.0), (250, 400, 8, 12, 1000, 0.3), (60, 60, 32, 7, 60, 1.0), (500, 90, 4, 50, 20, 0.1)],
)
def test_kid_gram_and_subset_paths_give_the_values_of_before(monkeypatch, n_real, n_fake, dim, subsets, size, shift):
    from genzoo.metrics import functional

    generator = torch.Generator().manual_seed(n_real + dim)
    real = torch.randn(n_real, dim, generator=generator).abs()  # non-negative like Inception pool features
    fake = torch.randn(n_fake, dim, generator=generator).abs() + shift
    expected = _kid_before(real, fake, subsets, size, seed=3)
    for block_values in (functional._KID_BLOCK_VALUES, 997):  # one block, and many blocks of a few rows
        monkeypatch.setattr(functional, "_KID_BLOCK_VALUES", block_values)
        for method in ("auto", "gram", "subsets"):
            mean, std = kernel_inception_distance(real, fake, subsets, size, seed=3, method=method)
            assert mean == pytest.approx(expected[0], abs=1e-12, rel=1e-12), method
            assert std == pytest.approx(expected[1], abs=1e-12, rel=1e-12), method
    with pytest.raises(GenzooError, match="KID method must be 'auto', 'gram' or 'subsets', got 'fast'"):
        kernel_inception_distance(real, fake, method="fast")
