"""Make tests/fixtures/disent_metrics.npz: codes and factors, and the MIG, DCI and SAP that disent (a maintained
implementation of disentanglement_lib's metrics, https://github.com/nmichlo/disent) computes on them, so that
tests/test_disentanglement.py checks genzoo.metrics.disentanglement against it without installing disent.

Run once, with disent's metric modules importable (they need numpy, scipy, scikit-learn and tqdm only; disent's
dataset package (h5py, torchvision) and its metrics package's `__init__` (Lightning) are bypassed because the
`_compute_*` functions need neither):

    pip install --no-deps --target /tmp/disent disent==0.8.0
    PYTHONPATH=/tmp/disent python scripts/make_disent_fixtures.py
"""

import sys
import types
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "disent_metrics.npz"
FACTOR_SIZES = (3, 4, 5, 4, 4)


def make_cases(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Three representations of the same factors: the factors themselves (with a little noise), a partly entangled
    one, and noise alone."""
    rng = np.random.RandomState(seed)
    count = 900
    factors = np.stack([rng.randint(size, size=count) for size in FACTOR_SIZES], axis=1)
    noise = lambda scale: scale * rng.randn(count)  # noqa: E731
    identity = factors + noise(0.05)[:, None] * np.ones((1, len(FACTOR_SIZES)))
    entangled = np.stack(
        [
            factors[:, 1] + noise(0.3),
            factors[:, 3] + 0.5 * factors[:, 4] + noise(0.5),
            factors[:, 4] + noise(0.3),
            noise(1.0),
            2.0 * factors[:, 0] + 0.3 * factors[:, 2] + noise(0.4),
            factors[:, 2] + noise(0.8),
        ],
        axis=1,
    )
    random = rng.randn(count, 6)
    return {"identity": (identity, factors), "entangled": (entangled, factors), "random": (random, factors)}


def main() -> None:
    import disent

    stub = types.ModuleType("disent.dataset")  # the metrics import DisentDataset for type hints only
    stub.DisentDataset = object
    sys.modules["disent.dataset"] = stub
    # disent.metrics' __init__ imports every metric, some through Lightning: load its modules without it.
    metrics = types.ModuleType("disent.metrics")
    metrics.__path__ = [str(Path(disent.__file__).parent / "metrics")]
    sys.modules["disent.metrics"] = metrics
    from disent.metrics._dci import _compute_dci
    from disent.metrics._mig import _compute_mig
    from disent.metrics._sap import _compute_sap

    arrays = {}
    for name, (codes, factors) in make_cases().items():
        train, test = slice(0, 600), slice(600, None)
        # disent (like disentanglement_lib) takes (num_codes, n) and (num_factors, n)
        mus, ys = codes.T, factors.T
        mig = _compute_mig(mus[:, train], ys[:, train])["mig.discrete_score"]
        dci = _compute_dci(mus[:, train], ys[:, train], mus[:, test], ys[:, test])
        sap = _compute_sap(mus[:, train], ys[:, train], mus[:, test], ys[:, test], continuous_factors=False)
        arrays[f"{name}_codes"], arrays[f"{name}_factors"] = codes, factors
        values = [mig, dci["dci.disentanglement"], dci["dci.completeness"], dci["dci.informativeness_test"]]
        arrays[f"{name}_values"] = np.array([*values, sap["sap.score"]])
        print(name, arrays[f"{name}_values"].round(4).tolist())
    OUTPUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUTPUT, **arrays)


if __name__ == "__main__":
    main()
