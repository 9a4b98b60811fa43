r"""The metrics themselves, on feature arrays: Fréchet distance, KID, Inception Score, precision and recall.

Everything here works on features that a `FeatureExtractor` produced; nothing here runs a network. Means and
covariances are accumulated in float64 by `FeatureStatistics`, batch by batch, so FID needs memory for one
`(dim, dim)` matrix whatever the number of samples. KID and precision/recall need the feature sets themselves
(`num_samples * dim` floats each); the Inception Score needs the logits (`num_samples * num_classes`).
"""

import math
import warnings

import numpy as np
import torch

from ..errors import GenzooError

__all__ = [
    "FeatureStatistics",
    "frechet_distance",
    "inception_score",
    "is_better",
    "kernel_inception_distance",
    "polynomial_mmd2",
    "precision_recall",
]


def is_better(value: float, best: float | None, higher_is_better: bool = False) -> bool:
    r"""Whether `value` improves on `best` (any finite value beats `None`).

    Args:
        value (`float`): the new value; NaN and infinity never improve.
        best (`float`, *optional*): the best value so far; `None` when there is none.
        higher_is_better (`bool`, defaults to `False`): the metric's direction (its registration's `direction`).

    Returns:
        `bool`: `True` when `value` is finite and better than `best`.
    """
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if higher_is_better else value < best


class FeatureStatistics:
    r"""Running mean and covariance of feature vectors, updated batch by batch in float64.

    Batches are merged with Chan et al.'s parallel update (sums of squared deviations from the running mean, not raw
    second moments), which stays accurate when features have a large mean. The result equals `np.mean` and
    `np.cov(rowvar=False)` of all rows at once, up to float64 rounding.

    Args:
        dim (`int`): the feature dimension.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.count = 0
        self._mean = torch.zeros(dim, dtype=torch.float64)
        self._m2 = torch.zeros(dim, dim, dtype=torch.float64)

    def update(self, features: torch.Tensor | np.ndarray) -> "FeatureStatistics":
        """Add a `(batch, dim)` array of features."""
        batch = torch.as_tensor(features).detach().to("cpu", torch.float64)
        if batch.ndim != 2 or batch.shape[1] != self.dim:
            raise GenzooError(f"Expected features of shape (batch, {self.dim}), got {tuple(batch.shape)}.")
        n = batch.shape[0]
        if n == 0:
            return self
        batch_mean = batch.mean(dim=0)
        centred = batch - batch_mean
        batch_m2 = centred.T @ centred
        total = self.count + n
        delta = batch_mean - self._mean
        self._mean += delta * (n / total)
        self._m2 += batch_m2 + torch.outer(delta, delta) * (self.count * n / total)
        self.count = total
        return self

    def merge(self, other: "FeatureStatistics") -> "FeatureStatistics":
        """Fold the statistics of another set of features into these (e.g. per-class into overall)."""
        if other.dim != self.dim:
            raise GenzooError(f"Cannot merge {other.dim}-d statistics into {self.dim}-d ones.")
        if other.count == 0:
            return self
        total = self.count + other.count
        delta = other._mean - self._mean
        self._mean += delta * (other.count / total)
        self._m2 += other._m2 + torch.outer(delta, delta) * (self.count * other.count / total)
        self.count = total
        return self

    @property
    def mean(self) -> np.ndarray:
        """The `(dim,)` mean, as a float64 copy."""
        return self._mean.numpy().copy()

    @property
    def covariance(self) -> np.ndarray:
        """The unbiased sample covariance (divides by `count - 1`, like `np.cov`)."""
        if self.count < 2:
            raise GenzooError(f"A covariance needs at least 2 samples, got {self.count}.")
        return (self._m2 / (self.count - 1)).numpy().copy()

    def check_full_rank(self, what: str = "samples") -> None:
        """Raise a one-line error when there are too few samples for a full-rank covariance."""
        require_full_rank(self.count, self.dim, what)

    def state_dict(self) -> dict[str, np.ndarray]:
        """`count`, `mean` and `m2` (the sum of squared deviations) as arrays, for saving."""
        return {"count": np.asarray(self.count), "mean": self._mean.numpy(), "m2": self._m2.numpy()}

    @classmethod
    def from_state_dict(cls, state: dict[str, np.ndarray]) -> "FeatureStatistics":
        """Statistics from what `state_dict` returned."""
        mean = np.asarray(state["mean"], dtype=np.float64)
        stats = cls(len(mean))
        stats.count = int(state["count"])
        stats._mean = torch.from_numpy(mean.copy())
        stats._m2 = torch.from_numpy(np.asarray(state["m2"], dtype=np.float64).copy())
        return stats

    @classmethod
    def from_features(cls, features: torch.Tensor | np.ndarray, batch_size: int | None = None) -> "FeatureStatistics":
        """Statistics of a whole `(n, dim)` array (in batches of `batch_size` rows when given)."""
        features = torch.as_tensor(features)
        stats = cls(features.shape[1])
        for batch in features.split(batch_size or max(len(features), 1)):
            stats.update(batch)
        return stats


def require_full_rank(count: int, dim: int, what: str = "samples") -> None:
    r"""Raise a one-line error when `count` samples are too few for a full-rank `dim x dim` covariance.

    Args:
        count (`int`): number of samples.
        dim (`int`): feature dimension.
        what (`str`, defaults to `"samples"`): what the samples are, for the message.

    Raises:
        `GenzooError`: when `count <= dim`.
    """
    if count <= dim:
        raise GenzooError(
            f"FID needs more {what} than feature dimensions for a full-rank covariance: got {count} for {dim}-d "
            f"features; use at least {dim + 1} (raise --num-samples), or an extractor with fewer dimensions."
        )


def _psd_sqrt(matrix: np.ndarray, name: str) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix; eigenvalues that are negative only by rounding are
    clipped to zero, clearly negative ones are an error."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    scale = max(float(np.abs(eigenvalues).max(initial=0.0)), 1e-300)
    if eigenvalues.min(initial=0.0) < -1e-6 * scale:
        raise GenzooError(f"{name} is not a covariance matrix: it has a negative eigenvalue {eigenvalues.min():.3g}.")
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    r"""tr((Σ1 Σ2)^{1/2}) through the symmetric matrix Σ1^{1/2} Σ2 Σ1^{1/2}, which has the same eigenvalues as
    Σ1 Σ2 (non-negative for covariances) but is symmetric, so `eigvalsh` applies and nothing turns complex."""
    root = _psd_sqrt(sigma1, "sigma1")
    _psd_sqrt(sigma2, "sigma2")  # checks sigma2 too
    product = root @ sigma2 @ root
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    r"""The Fréchet distance between two Gaussians N(μ1, Σ1) and N(μ2, Σ2):

    ‖μ1 − μ2‖² + tr(Σ1) + tr(Σ2) − 2 tr((Σ1 Σ2)^{1/2}).

    The trace of the matrix square root is computed from the eigenvalues of the symmetric matrix
    Σ1^{1/2} Σ2 Σ1^{1/2} (similar to Σ1 Σ2), in float64. That is exact for covariance matrices and avoids the
    complex round-off that `scipy.linalg.sqrtm(Σ1 Σ2)` produces on nearly singular products. If an eigenvalue
    decomposition fails to converge or gives non-finite values, `eps` is added to both diagonals and the computation
    repeated, as pytorch-fid does.

    Args:
        mu1, mu2 (`np.ndarray`): means of shape `(dim,)`.
        sigma1, sigma2 (`np.ndarray`): covariances of shape `(dim, dim)`.
        eps (`float`, defaults to 1e-6): diagonal offset for the fallback.

    Returns:
        `float`: the squared Fréchet distance (what FID reports).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise GenzooError(f"The two means must be vectors of the same length, got {mu1.shape} and {mu2.shape}.")
    dim = mu1.shape[0]
    if sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise GenzooError(
            f"The covariances must be {dim}x{dim} to match the means, got {sigma1.shape} and {sigma2.shape}."
        )
    for name, value in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.isfinite(value).all():
            raise GenzooError(f"{name} holds NaN or infinite values; the features it came from are broken.")
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-12 * max(np.abs(sigma).max(), 1.0)):
            raise GenzooError(f"{name} is not a covariance matrix: it is not symmetric.")
    diff = mu1 - mu2
    try:
        trace_sqrt = _trace_sqrt_product(sigma1, sigma2)
    except np.linalg.LinAlgError:
        trace_sqrt = math.nan
    if not math.isfinite(trace_sqrt):
        warnings.warn(
            f"The covariance product is numerically singular; adding {eps} to the diagonals.",
            RuntimeWarning,
            stacklevel=2,
        )
        offset = np.eye(dim) * eps
        trace_sqrt = _trace_sqrt_product(sigma1 + offset, sigma2 + offset)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def polynomial_kernel(
    x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None, coef0: float = 1
) -> torch.Tensor:
    r"""k(x, y) = (γ ⟨x, y⟩ + c)^d, with γ = 1 / dim by default (the KID kernel); batched over leading dimensions.

    Args:
        x (`torch.Tensor`): `(..., n, dim)` rows.
        y (`torch.Tensor`): `(..., m, dim)` rows.
        degree (`int`, defaults to 3): the exponent d.
        gamma (`float`, *optional*): the scale γ; `1 / dim` when omitted.
        coef0 (`float`, defaults to 1): the offset c.

    Returns:
        `torch.Tensor`: the `(..., n, m)` kernel matrix.
    """
    gamma = 1.0 / x.shape[-1] if gamma is None else gamma
    return (x @ y.transpose(-1, -2) * gamma + coef0) ** degree


def _batched_mmd2(x: torch.Tensor, y: torch.Tensor, degree: int, gamma: float | None, coef0: float) -> torch.Tensor:
    """Unbiased MMD² for a batch of subset pairs `x`, `y` of shape `(subsets, m, dim)`."""
    m = x.shape[-2]
    k_xx = polynomial_kernel(x, x, degree, gamma, coef0)
    k_yy = polynomial_kernel(y, y, degree, gamma, coef0)
    k_xy = polynomial_kernel(x, y, degree, gamma, coef0)
    trace = lambda k: k.diagonal(dim1=-2, dim2=-1).sum(-1)  # noqa: E731
    within = (k_xx.sum((-2, -1)) - trace(k_xx) + k_yy.sum((-2, -1)) - trace(k_yy)) / (m * (m - 1))
    return within - 2.0 * k_xy.sum((-2, -1)) / (m * m)


def polynomial_mmd2(
    x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None, coef0: float = 1
) -> float:
    r"""The unbiased estimate of MMD² between two equally sized samples under the polynomial kernel
    (Bińkowski et al. 2018, eq. 2): the within-set kernel means leave out the diagonal, the cross term does not.

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (m(m−1)) − 2 Σ_{i,j} k(x_i, y_j) / m²

    Args:
        x, y (`(m, dim)` tensors): the two samples, of the same size m ≥ 2.
        degree, gamma, coef0: the kernel's parameters (see `polynomial_kernel`).

    Returns:
        `float`: the estimate, computed in float64 (it can be slightly negative when the samples match).
    """
    m = x.shape[0]
    if y.shape[0] != m or m < 2:
        raise GenzooError(f"MMD needs two samples of the same size (at least 2), got {m} and {y.shape[0]}.")
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    return float(_batched_mmd2(x[None], y[None], degree, gamma, coef0)[0])


# Kernel values held at once by KID (8 bytes each): 8M values, 64 MB.
_KID_BLOCK_VALUES = 8_000_000


def kernel_inception_distance(
    real: torch.Tensor | np.ndarray,
    fake: torch.Tensor | np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1,
    seed: int = 0,
    method: str = "auto",
) -> tuple[float, float]:
    r"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² with the cubic polynomial kernel
    k(x, y) = (⟨x, y⟩ / dim + 1)³, averaged over random subsets drawn without replacement.

    The subsets are drawn in the same order as torch-fidelity's (one `RandomState(seed)`, real then generated
    indices for each subset), so the same seed gives the same value.

    Two ways to compute it give the same values (to float64 rounding, about 1e-15):

    - `"gram"`: the kernel between every pair of rows that some subset uses is computed once, block by block (at
      most about 64 MB of kernel values at once), and each subset's kernel sums are read off with 0/1 subset masks
      (`maskᵀ K mask`, one matrix product for all subsets; only the upper half of the symmetric within-set
      kernels is computed). Subsets overlap heavily when the sets are not much
      larger than a subset (100 subsets of 1,000 from 5,000 images touch every pair about 4 times), so this does
      a fraction of the work.
    - `"subsets"`: the kernel blocks of each subset pair, several subsets at a time as batched matrix products
      (the textbook computation, which torch-fidelity does too); cheaper when the sets are much larger than
      `num_subsets * subset_size` would cover densely (50,000 images and 100 subsets of 1,000).

    `"auto"` picks the one with fewer multiply-adds.

    Args:
        real, fake (`(n, dim)` arrays): features of the two sets.
        num_subsets (`int`, defaults to 100), subset_size (`int`, defaults to 1000): as torch-fidelity; the subset
            size is lowered to the smaller set's size when that is smaller.
        degree, gamma, coef0: the kernel's parameters (see `polynomial_kernel`; the defaults are KID's).
        seed (`int`): seed of the subset draws.
        method (`str`, defaults to `"auto"`): `"auto"`, `"gram"` or `"subsets"`.

    Returns:
        `(mean, std)` of the per-subset estimates. KID is unbiased, so unlike FID its expectation does not depend on
        the number of samples, and it can be slightly negative when the two sets match.
    """
    real = torch.as_tensor(real, dtype=torch.float64)
    fake = torch.as_tensor(fake, dtype=torch.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise GenzooError(f"KID needs two (n, dim) feature arrays of the same dim, got {real.shape}, {fake.shape}.")
    if method not in ("auto", "gram", "subsets"):
        raise GenzooError(f"KID method must be 'auto', 'gram' or 'subsets', got {method!r}.")
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise GenzooError(f"KID needs at least 2 samples in each set, got {len(real)} and {len(fake)}.")
    if num_subsets < 1:
        raise GenzooError(f"KID needs at least 1 subset, got {num_subsets}.")
    rng = np.random.RandomState(seed)
    pairs = [(rng.choice(len(real), size, replace=False), rng.choice(len(fake), size, replace=False))
             for _ in range(num_subsets)]  # fmt: skip
    real_index = np.stack([p[0] for p in pairs])  # (subsets, size)
    fake_index = np.stack([p[1] for p in pairs])
    if method == "auto":
        dim = real.shape[1]
        used_real, used_fake = len(np.unique(real_index)), len(np.unique(fake_index))
        # multiply-adds of the Gram path: half of each within-set kernel, all of the cross kernel, and their
        # products with the masks
        gram_cost = ((used_real**2 + used_fake**2) / 2 + used_real * used_fake) * (dim + num_subsets)
        subsets_cost = 3 * num_subsets * size * size * dim
        method = "gram" if gram_cost <= subsets_cost else "subsets"
    if method == "gram":
        values = _kid_gram(real, fake, real_index, fake_index, degree, gamma, coef0)
    else:
        values = _kid_subsets(real, fake, real_index, fake_index, degree, gamma, coef0)
    values = values.numpy()
    return float(values.mean()), float(values.std())


def _kid_subsets(
    real: torch.Tensor,
    fake: torch.Tensor,
    real_index: np.ndarray,
    fake_index: np.ndarray,
    degree: int,
    gamma: float | None,
    coef0: float,
) -> torch.Tensor:
    """Per-subset MMD² from each subset pair's own kernel blocks, several subsets per batched product."""
    num_subsets, size = real_index.shape
    per_group = max(1, _KID_BLOCK_VALUES // (3 * size * size))
    values = []
    for start in range(0, num_subsets, per_group):
        x = real[torch.from_numpy(real_index[start : start + per_group])]
        y = fake[torch.from_numpy(fake_index[start : start + per_group])]
        values.append(_batched_mmd2(x, y, degree, gamma, coef0))
    return torch.cat(values)


def _subset_masks(index: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """The rows some subset uses, and the `(rows used, subsets)` 0/1 matrix saying which subset uses which."""
    used, position = np.unique(index, return_inverse=True)
    masks = torch.zeros(len(used), index.shape[0], dtype=torch.float64)
    subsets = np.broadcast_to(np.arange(index.shape[0])[:, None], index.shape)
    masks[torch.from_numpy(position.reshape(index.shape)).flatten(), torch.from_numpy(subsets.copy()).flatten()] = 1.0
    return used, masks


def _kid_gram(
    real: torch.Tensor,
    fake: torch.Tensor,
    real_index: np.ndarray,
    fake_index: np.ndarray,
    degree: int,
    gamma: float | None,
    coef0: float,
) -> torch.Tensor:
    """Per-subset MMD² from kernel matrices computed once over the rows the subsets use, in row blocks.

    For a 0/1 subset mask m, the sum of a kernel block over the subset is mᵀ K m and its trace is diag(K)ᵀ m, so
    all subsets come from one product `K @ masks` per block of rows."""
    size = real_index.shape[1]
    real_used, real_masks = _subset_masks(real_index)
    fake_used, fake_masks = _subset_masks(fake_index)
    x, y = real[torch.from_numpy(real_used)], fake[torch.from_numpy(fake_used)]

    def block_sums(rows: torch.Tensor, row_masks: torch.Tensor, cols: torch.Tensor, col_masks: torch.Tensor,
                   same: bool) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Per-subset sums of K(rows, cols), and of its diagonal when `rows` and `cols` are the same set; then only
        the blocks on and above the diagonal are computed (K is symmetric), those above counted twice."""
        total = torch.zeros(row_masks.shape[1], dtype=torch.float64)
        trace = torch.zeros_like(total)
        step = max(1, _KID_BLOCK_VALUES // max(len(cols), 1))
        for start in range(0, len(rows), step):
            stop = min(start + step, len(rows))
            masks = row_masks[start:stop]
            if not same:
                block = polynomial_kernel(rows[start:stop], cols, degree, gamma, coef0)
                total += (masks * (block @ col_masks)).sum(0)
                continue
            block = polynomial_kernel(rows[start:stop], cols[start:], degree, gamma, coef0)
            square, right = block[:, : stop - start], block[:, stop - start :]
            total += (masks * (square @ masks)).sum(0)
            if right.shape[1]:
                total += 2.0 * (masks * (right @ col_masks[stop:])).sum(0)
            trace += square.diagonal() @ masks
        return total, trace

    sum_xx, trace_xx = block_sums(x, real_masks, x, real_masks, same=True)
    sum_yy, trace_yy = block_sums(y, fake_masks, y, fake_masks, same=True)
    sum_xy, _ = block_sums(x, real_masks, y, fake_masks, same=False)
    within = (sum_xx - trace_xx + sum_yy - trace_yy) / (size * (size - 1))
    return within - 2.0 * sum_xy / (size * size)


def inception_score(logits: torch.Tensor | np.ndarray, splits: int = 10, seed: int | None = 0) -> tuple[float, float]:
    r"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) ‖ p(y))), computed on `splits` equal chunks.

    Args:
        logits (`(n, num_classes)` array): class logits (or log-probabilities) of the generated images.
        splits (`int`, defaults to 10): number of chunks; the score is averaged over them.
        seed (`int` or `None`, defaults to 0): shuffle the rows with this seed before splitting (as torch-fidelity
            does), so that samples drawn class by class do not fall into one chunk each; `None` keeps the order.

    Returns:
        `(mean, std)` over the splits. It lies between 1 and `num_classes`.
    """
    logits = torch.as_tensor(logits, dtype=torch.float64)
    n = logits.shape[0]
    if logits.ndim != 2 or n < splits:
        raise GenzooError(f"The Inception Score needs at least {splits} rows of logits (one per split), got {n}.")
    if seed is not None:
        logits = logits[torch.from_numpy(np.random.RandomState(seed).permutation(n))]
    log_p = logits.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        chunk = log_p[i * n // splits : (i + 1) * n // splits]
        log_marginal = torch.logsumexp(chunk, dim=0) - math.log(len(chunk))
        kl = (chunk.exp() * (chunk - log_marginal)).sum(dim=1).mean()
        scores.append(math.exp(float(kl)))
    return float(np.mean(scores)), float(np.std(scores))


def _kth_neighbour_radii(features: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance from every row to its k-th nearest other row (the row itself, at distance 0, is not counted)."""
    if len(features) <= k:
        raise GenzooError(f"Precision/recall with k={k} needs more than {k} samples per set, got {len(features)}.")
    radii = [torch.cdist(part, features).kthvalue(k + 1, dim=1).values for part in features.split(chunk)]
    return torch.cat(radii)


def _coverage(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, chunk: int) -> float:
    """Fraction of `queries` inside at least one ball B(points[j], radii[j])."""
    inside = [(torch.cdist(part, points) <= radii[None, :]).any(dim=1) for part in queries.split(chunk)]
    return float(torch.cat(inside).double().mean())


def precision_recall(
    real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray, k: int = 3, chunk_size: int = 1024
) -> tuple[float, float]:
    r"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-nearest-neighbour manifolds.

    Each set's manifold is the union of balls around its points, each ball's radius being the distance to the
    point's k-th nearest neighbour within the set. Precision is the fraction of generated samples inside the real
    manifold (fidelity); recall is the fraction of real samples inside the generated manifold (diversity).

    Distances are computed `chunk_size` rows at a time, so memory is `O(chunk_size * n)` on top of the features.

    Args:
        real, fake (`(n, dim)` arrays): features of the real and the generated images (of equal size, as in the
            paper: radii shrink as a set grows).
        k (`int`, defaults to 3): which nearest neighbour sets the radius of each ball.
        chunk_size (`int`, defaults to 1024): rows per distance computation.

    Returns:
        `(precision, recall)`, each in [0, 1].
    """
    real = torch.as_tensor(real, dtype=torch.float64)
    fake = torch.as_tensor(fake, dtype=torch.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise GenzooError(
            f"Precision/recall needs two (n, dim) feature arrays of the same dim, got {real.shape}, {fake.shape}."
        )
    real_radii = _kth_neighbour_radii(real, k, chunk_size)
    fake_radii = _kth_neighbour_radii(fake, k, chunk_size)
    precision = _coverage(fake, real, real_radii, chunk_size)
    recall = _coverage(real, fake, fake_radii, chunk_size)
    return precision, recall
