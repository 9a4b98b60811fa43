r"""Disentanglement metrics: how well a representation's dimensions line up with known generative factors.

The formulas take arrays, `codes` `(n, num_codes)` and integer `factors` `(n, num_factors)` (one column per factor,
each value an index), and follow disentanglement_lib (Locatello et al. 2019), whose definitions disent and most
papers reuse:

- `mutual_information_gap` (MIG, Chen et al. 2018): codes are discretised into 20 equal-width bins; for each
  factor, the gap between the two codes sharing the most mutual information with it, over the factor's entropy;
  averaged over factors. 1: each factor is read by one code alone; 0: no code stands out.
- `dci` (Eastwood & Williams 2018): gradient-boosted trees predict each factor from the codes; their feature
  importances R (codes × factors) give the disentanglement (each code important for one factor; 1 − its entropy
  over factors, weighted by the code's share of importance), the completeness (each factor captured by one code)
  and the informativeness (the trees' test accuracy).
- `factor_vae_score` (Kim & Mnih 2018): codes are scaled by their global standard deviation; in a batch of points
  that share the value of one factor, the code that varies least should name that factor; a majority-vote
  classifier from codes to factors is fitted on votes and its accuracy on other votes is the score.
- `sap` (Kumar et al. 2018): a score matrix of how well each single code predicts each factor (a linear
  classifier's test accuracy, or R² for continuous factors); per factor the gap between the best two codes, averaged.

`compute_*` (registered as the `mig`, `dci`, `factorvae_score` and `sap` metrics by genzoo's core plugin) encode the
images of a dataset with factor columns (`shapes`, or `dataset_args.factor_columns` on any dataset) with the model's
encoder (posterior means of a VAE) or its learned codes (InfoGAN's Q network: the category index and the
continuous estimates), and score them.
"""

from typing import Any

import numpy as np
import torch

from ..errors import GenzooError

__all__ = [
    "compute_dci",
    "compute_factor_vae_score",
    "compute_mig",
    "compute_sap",
    "dci",
    "dci_from_split",
    "discretize",
    "encode_dataset",
    "factor_vae_score",
    "mutual_information_gap",
    "sap",
    "sap_from_split",
]


def _sklearn(metric: str) -> Any:
    try:
        import sklearn  # noqa: F401 (only checks that it is there)
    except ImportError as exc:
        raise GenzooError(
            f"Metric {metric!r} needs scikit-learn, which is not installed; pip install scikit-learn "
            "(or genzoo[metrics])."
        ) from exc


def _check(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors) or len(codes) < 2:
        raise GenzooError(
            f"codes (n, num_codes) and factors (n, num_factors) must be 2-D with the same n >= 2, got shapes "
            f"{codes.shape} and {factors.shape}."
        )
    # Factor values as indices 0..k-1, whatever integers the columns hold.
    factors = np.stack([np.unique(column, return_inverse=True)[1] for column in factors.T], axis=1)
    return codes, factors


def discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Each code column into `num_bins` equal-width bins between its minimum and maximum (disentanglement_lib's
    histogram discretisation), as integers."""
    codes = np.asarray(codes, dtype=np.float64)
    binned = np.zeros(codes.shape, dtype=np.int64)
    for i, column in enumerate(codes.T):
        edges = np.histogram(column, bins=num_bins)[1]
        binned[:, i] = np.digitize(column, edges[:-1])
    return binned


def _mutual_information(binned_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    from sklearn.metrics import mutual_info_score

    return np.array(
        [[mutual_info_score(factor, code) for factor in factors.T] for code in binned_codes.T]
    )  # (codes, factors), nats


def _entropy(factors: np.ndarray) -> np.ndarray:
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(factor, factor) for factor in factors.T])


def mutual_information_gap(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict[str, float]:
    r"""MIG: the mean over factors of (I(z_a; v) − I(z_b; v)) / H(v), z_a and z_b the two codes with the most mutual
    information with factor v (codes discretised into `num_bins` bins).

    Returns:
        `{"mig": float}`; a factor with a single value (entropy 0) is left out.
    """
    _sklearn("mig")
    codes, factors = _check(codes, factors)
    if codes.shape[1] < 2:
        raise GenzooError("MIG needs at least 2 code dimensions (a gap between the best two).")
    information = _mutual_information(discretize(codes, num_bins), factors)
    entropy = _entropy(factors)
    ranked = np.sort(information, axis=0)[::-1]
    varying = entropy > 0
    gaps = (ranked[0, varying] - ranked[1, varying]) / entropy[varying]
    return {"mig": float(np.mean(gaps)) if len(gaps) else 0.0}


def _split(count: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.RandomState(seed).permutation(count)
    cut = max(1, round(count * (1 - test_fraction)))
    return order[:cut], order[cut:]


def _normalised_entropy(weights: np.ndarray, base: int) -> np.ndarray:
    """Entropy (base `base`) of each row of non-negative `weights`, normalised to a distribution."""
    totals = weights.sum(axis=1, keepdims=True)
    p = np.divide(weights, totals, out=np.full_like(weights, 1.0 / weights.shape[1]), where=totals > 0)
    logs = np.log(np.where(p > 0, p, 1.0)) / np.log(base)
    return -(p * logs).sum(axis=1)


def dci(
    codes: np.ndarray,
    factors: np.ndarray,
    test_fraction: float = 0.2,
    n_estimators: int = 10,
    max_depth: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    r"""DCI disentanglement, completeness and informativeness with gradient-boosted trees (one classifier per
    factor; feature importances R of shape (codes, factors)).

    Args:
        codes, factors: as in the module docstring.
        test_fraction (`float`): the share of points held out for informativeness.
        n_estimators, max_depth: the trees. disentanglement_lib uses sklearn's defaults, 100 trees of depth 3; 10
            keep 10,000 codes of the `shapes` grid (32-way factors: one tree per class and round) under a minute
            of CPU time (bench/disentanglement_speed.py prints both and what the smaller forest changes).
        seed (`int`): the split and the trees' randomness.

    Returns:
        `{"dci_disentanglement", "dci_completeness", "dci_informativeness"}` (informativeness: mean test accuracy).
    """
    codes, factors = _check(codes, factors)
    train, test = _split(len(codes), test_fraction, seed)
    return dci_from_split(codes[train], factors[train], codes[test], factors[test], n_estimators, max_depth, seed)


def dci_from_split(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    n_estimators: int = 10,
    max_depth: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    r"""`dci` on a given train/test split (what disentanglement_lib and disent take)."""
    _sklearn("dci")
    from sklearn.ensemble import GradientBoostingClassifier

    train_codes, test_codes = np.asarray(train_codes, np.float64), np.asarray(test_codes, np.float64)
    num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
    importance = np.zeros((num_codes, num_factors))
    accuracies = []
    for j in range(num_factors):
        target = train_factors[:, j]
        if len(np.unique(target)) < 2:  # a constant factor: nothing to predict or attribute
            accuracies.append(1.0)
            continue
        model = GradientBoostingClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=seed)
        model.fit(train_codes, target)
        importance[:, j] = np.abs(model.feature_importances_)
        held_out = test_factors[:, j]
        accuracies.append(float(np.mean(model.predict(test_codes) == held_out)) if len(held_out) else 1.0)
    # Disentanglement: per code, 1 − H_K(R_i·), weighted by the code's share of all importance.
    per_code = 1.0 - _normalised_entropy(importance, max(num_factors, 2))
    total = importance.sum()
    weights = importance.sum(axis=1) / total if total > 0 else np.full(num_codes, 1.0 / num_codes)
    # Completeness: per factor, 1 − H_D(R_·j), averaged.
    per_factor = 1.0 - _normalised_entropy(importance.T, max(num_codes, 2))
    return {
        "dci_disentanglement": float(np.sum(per_code * weights)),
        "dci_completeness": float(np.mean(per_factor)),
        "dci_informativeness": float(np.mean(accuracies)),
    }


def factor_vae_score(
    codes: np.ndarray,
    factors: np.ndarray,
    batch_size: int = 64,
    num_train: int = 800,
    num_eval: int = 800,
    seed: int = 0,
) -> dict[str, float]:
    r"""The FactorVAE score on a pool of encoded points: each vote fixes one factor at a value, draws `batch_size`
    points of the pool that share it, and votes for the code with the least variance (codes scaled by their
    global standard deviation, dimensions without variance left out). A majority-vote classifier fitted on
    `num_train` votes is scored on `num_eval` others.

    Returns:
        `{"factorvae_score": accuracy, "factorvae_active_dims": number of codes with variance}`.
    """
    codes, factors = _check(codes, factors)
    rng = np.random.RandomState(seed)
    scale = codes.std(axis=0)
    active = scale > 1e-8 * max(float(scale.max()), 1e-30)
    if not active.any():
        return {"factorvae_score": 0.0, "factorvae_active_dims": 0.0}
    scaled = codes[:, active] / scale[active]
    varying = [j for j in range(factors.shape[1]) if len(np.unique(factors[:, j])) > 1]
    groups = {j: [np.flatnonzero(factors[:, j] == v) for v in np.unique(factors[:, j])] for j in varying}

    def votes(count: int) -> np.ndarray:
        result = np.zeros((int(active.sum()), factors.shape[1]), dtype=np.int64)
        for _ in range(count):
            j = varying[rng.randint(len(varying))]
            members = groups[j][rng.randint(len(groups[j]))]
            batch = scaled[rng.choice(members, batch_size, replace=len(members) < batch_size)]
            result[np.argmin(batch.var(axis=0, ddof=1)), j] += 1
        return result

    train_votes, eval_votes = votes(num_train), votes(num_eval)
    classifier = np.argmax(train_votes, axis=1)  # each code votes for the factor it was most often the argmin of
    correct = eval_votes[np.arange(len(classifier)), classifier].sum()
    return {"factorvae_score": float(correct / max(eval_votes.sum(), 1)), "factorvae_active_dims": float(active.sum())}


def sap(
    codes: np.ndarray,
    factors: np.ndarray,
    continuous_factors: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    r"""SAP: for each factor, the gap between the two codes that predict it best on their own, averaged.

    With discrete factors (the default, as disentanglement_lib scores dSprites), each score is the test accuracy of
    a linear SVM on one code (`LinearSVC(C=0.01, class_weight="balanced")`); with `continuous_factors`, it is the R²
    of a linear fit, the squared correlation.

    Returns:
        `{"sap": float}`.
    """
    codes, factors = _check(codes, factors)
    if codes.shape[1] < 2:
        raise GenzooError("SAP needs at least 2 code dimensions (a gap between the best two).")
    train, test = _split(len(codes), test_fraction, seed)
    if continuous_factors:  # R² needs no held-out points
        train, test = np.arange(len(codes)), np.arange(len(codes))
    return sap_from_split(codes[train], factors[train], codes[test], factors[test], continuous_factors)


def sap_from_split(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    continuous_factors: bool = False,
) -> dict[str, float]:
    r"""`sap` on a given train/test split (what disentanglement_lib and disent take)."""
    _sklearn("sap")
    num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
    scores = np.zeros((num_codes, num_factors))
    if continuous_factors:
        for i in range(num_codes):
            for j in range(num_factors):
                cov = np.cov(train_codes[:, i], train_factors[:, j], ddof=1)
                variance = cov[0, 0] * cov[1, 1]
                scores[i, j] = cov[0, 1] ** 2 / variance if variance > 0 else 0.0
    else:
        from sklearn.svm import LinearSVC

        for i in range(num_codes):
            for j in range(num_factors):
                target = train_factors[:, j]
                if len(np.unique(target)) < 2 or np.ptp(train_codes[:, i]) == 0:
                    continue
                classifier = LinearSVC(C=0.01, class_weight="balanced")
                classifier.fit(train_codes[:, [i]], target)
                scores[i, j] = float(np.mean(classifier.predict(test_codes[:, [i]]) == test_factors[:, j]))
    ranked = np.sort(scores, axis=0)[::-1]
    return {"sap": float(np.mean(ranked[0] - ranked[1]))}


# --- the registered metrics: encode a dataset with factors, then score -------------------------------------------


def _representation(model: Any, images: torch.Tensor) -> torch.Tensor:
    """What the metric scores for a batch: the posterior mean of an encoder, or InfoGAN's code estimates (category
    index, continuous means)."""
    if callable(getattr(model, "encode_codes", None)):
        codes = model.encode_codes(images)
        parts = [codes["category"][:, None].float()] if codes["category_logits"].shape[1] else []
        return torch.cat([*parts, codes["continuous"].float()], dim=1)
    mean, _ = model.encode(images)
    return mean.flatten(1).float()


@torch.no_grad()
def encode_dataset(context: Any, metric: str, num_points: int, factor_columns: str = "") -> tuple[np.ndarray, ...]:
    r"""`(codes, factors)` for `num_points` images (a seeded random subset) of the evaluation's dataset, with the
    model's encoder or codes; the factors are the dataset's `factor_columns` (or the comma-separated
    `factor_columns` given).

    Raises:
        `GenzooError`: naming `metric` and what it needs, for a model with neither an encoder nor codes or a dataset
            without factor columns.
    """
    from ..data import load_dataset

    model = context.model
    if not (callable(getattr(model, "encode", None)) or callable(getattr(model, "encode_codes", None))):
        what = type(model).__name__ if model is not None else "a folder of images"
        raise GenzooError(
            f"Metric {metric!r} needs a model with an encoder (the VAE family) or learned codes (InfoGAN); "
            f"{what} has neither."
        )
    options = context.options
    data = load_dataset(options.dataset, split=options.split, image_column=options.image_column, label_column="",
                        factor_columns=factor_columns or None)  # fmt: skip
    if not data.factor_columns:
        raise GenzooError(
            f"Metric {metric!r} needs a dataset with factor columns, and {options.dataset!r} has none: use "
            f"--dataset shapes (or shapes:small), or name them with --metric-arg {metric}.factor_columns=a,b."
        )
    count = min(num_points, len(data))
    indices = np.sort(np.random.RandomState(context.seed).permutation(len(data))[:count])
    rows = data.with_transform(context.resolution, context.channels)
    factors = np.stack([np.asarray(data.data[column])[indices] for column in data.factor_columns], axis=1)
    device = torch.device(options.device or "cpu")
    was_training = model.training
    model.eval()
    codes = []
    try:
        for start in range(0, count, context.batch_size):
            batch = torch.stack(rows[indices[start : start + context.batch_size]]["pixel_values"]).to(device)
            codes.append(_representation(model, batch.to(model.dtype)).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(codes), factors


def compute_mig(context: Any, num_points: int = 10000, num_bins: int = 20, factor_columns: str = "") -> dict:
    """The `mig` metric on `num_points` encoded images of the dataset."""
    return mutual_information_gap(*encode_dataset(context, "mig", num_points, factor_columns), num_bins=num_bins)


def compute_dci(context: Any, num_points: int = 10000, n_estimators: int = 10, factor_columns: str = "") -> dict:
    """The `dci` metric on `num_points` encoded images of the dataset."""
    codes, factors = encode_dataset(context, "dci", num_points, factor_columns)
    return dci(codes, factors, n_estimators=n_estimators, seed=context.seed)


def compute_factor_vae_score(
    context: Any, num_points: int = 10000, batch_size: int = 64, num_votes: int = 800, factor_columns: str = ""
) -> dict:
    """The `factorvae_score` metric, its votes drawn from `num_points` encoded images of the dataset."""
    codes, factors = encode_dataset(context, "factorvae_score", num_points, factor_columns)
    return factor_vae_score(codes, factors, batch_size=batch_size, num_train=num_votes, num_eval=num_votes,
                            seed=context.seed)  # fmt: skip


def compute_sap(
    context: Any, num_points: int = 10000, continuous_factors: bool = False, factor_columns: str = ""
) -> dict:
    """The `sap` metric on `num_points` encoded images of the dataset."""
    codes, factors = encode_dataset(context, "sap", num_points, factor_columns)
    return sap(codes, factors, continuous_factors=continuous_factors, seed=context.seed)
