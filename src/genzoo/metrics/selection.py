"""Metric names from the command line or a run config to registrations: `parse_metrics`, `parse_metric_args` and
what a metric applies to. Plain registry lookups that import no torch, so `genzoo evaluate --metrics fdi` is
answered before anything heavy loads."""

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import GenzooError
from ..registry import MetricRegistration, metrics

__all__ = ["check_applies", "metric_applies", "parse_metric_args", "parse_metrics"]


def parse_metrics(metrics_spec: str | Sequence[str] | None, applies: Any = None) -> list[MetricRegistration]:
    r"""`"fid,kid"` or `["fid", "kid"]` to the registered metrics, in the order given.

    Args:
        metrics_spec (`str`, list of `str`, or `None`): comma-separated names (or aliases, such as `precision`
            for `pr`) or a list of them; `None` selects every metric registered with `default=True` that applies.
        applies (*optional*): a pipeline, generator or generator class; `None` with `metrics_spec=None` takes
            every default metric.

    Returns:
        `list[MetricRegistration]`: distinct metrics.

    Raises:
        `GenzooError`: for an unknown name (naming the closest and listing the registered ones), or when no name is
            given.
    """
    registry = metrics()
    if metrics_spec is None:
        return [m for m in registry if m.default and (applies is None or metric_applies(m, applies))]
    items = metrics_spec.split(",") if isinstance(metrics_spec, str) else list(metrics_spec)
    selected: list[MetricRegistration] = []
    for item in items:
        name = item.strip().lower()
        if not name:
            continue
        entry = registry.get(name)  # an unknown name: the registry's error, with "Did you mean 'fid'?"
        if entry not in selected:
            selected.append(entry)
    if not selected:
        raise GenzooError(f"No metric given; choose from {', '.join(registry.names())}.")
    return selected


def parse_metric_args(items: Sequence[str] | Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    r"""`["nll.importance_samples=100", "kid.subset_size=500"]` (or a mapping `{"nll.importance_samples": 100}` or
    `{"nll": {"importance_samples": 100}}`) to `{metric: {option: value}}`, with metric aliases resolved. Values stay
    as given; each metric's `MetricOption`s convert and check them.

    Raises:
        `GenzooError`: for an item that is not `METRIC.KEY=VALUE`, or an unknown metric.
    """
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, Mapping):
        for key, value in items.items():
            if isinstance(value, Mapping):
                pairs += [(f"{key}.{option}", v) for option, v in value.items()]
            else:
                pairs.append((key, value))
    else:
        for item in items or ():
            key, sep, value = item.partition("=")
            if not sep:
                raise GenzooError(f"--metric-arg {item!r} is not METRIC.KEY=VALUE, e.g. nll.importance_samples=100.")
            pairs.append((key, value))
    result: dict[str, dict[str, Any]] = {}
    for key, value in pairs:
        name, dot, option = key.strip().partition(".")
        if not dot or not name or not option:
            raise GenzooError(f"--metric-arg {key!r} is not METRIC.KEY=VALUE, e.g. nll.importance_samples=100.")
        result.setdefault(metrics().get(name).name, {})[option] = value
    return result


def metric_applies(metric: MetricRegistration, target: Any) -> bool:
    """Whether `metric` applies to `target`: a pipeline, a generator (instance or class) or `None` (a folder of
    images, to which metrics for any generator and for unconditional ones apply)."""
    if metric.applies_to == "any":
        return True
    model = getattr(target, "model", target) if not isinstance(target, type) else target
    if metric.applies_to == "unconditional":  # a generator class cannot tell, so it passes (like an image folder)
        return isinstance(model, type) or not int(getattr(model, "num_classes", 0) or 0)
    if model is None:
        return False
    if metric.applies_to == "class-conditional":
        return not isinstance(model, type) and int(getattr(model, "num_classes", 0) or 0) > 0
    has_encoder, has_codes = callable(getattr(model, "encode", None)), callable(getattr(model, "encode_codes", None))
    if metric.applies_to == "codes":
        return has_codes
    if metric.applies_to == "representation":
        return has_encoder or has_codes
    return has_encoder  # "encoder"


_APPLIES_TO_TEXT = {
    "class-conditional": "a class-conditional generator",
    "unconditional": "an unconditional generator",
    "encoder": "a generator with an encoder",
    "codes": "a generator with learned codes (InfoGAN)",
    "representation": "a generator with an encoder (VAE family) or learned codes (InfoGAN)",
}


def check_applies(metric: MetricRegistration, target: Any, what: str) -> None:
    """Raise a one-line error when `metric` does not apply to `target` (described as `what`)."""
    if not metric_applies(metric, target):
        lacks = "is class-conditional" if metric.applies_to == "unconditional" else "has none"
        raise GenzooError(
            f"Metric {metric.name!r} needs {_APPLIES_TO_TEXT[metric.applies_to]}, but {what} {lacks}; drop it "
            "from the metrics."
        )
