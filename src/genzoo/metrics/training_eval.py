r"""Evaluation during training: every `eval_every` steps, compute metrics, log them to the trackers, and keep the
best pipeline so far in `output_dir/best/`.

Run-config keys (see `TrainConfig`):

| key | default | meaning |
| --- | --- | --- |
| `eval_every` | 0 (off) | evaluate every N optimisation steps |
| `eval_metric` | `fid` | what decides the best pipeline: a result key of a registered metric (its direction) |
| `eval_metrics` | `[fid, kid]` | what else is computed and logged (`eval/fid`, `eval/kid`, ...) |
| `eval_num_samples` | 1000 | generated images per evaluation |
| `eval_features`, `eval_features_path` | `mnist-classifier` | the feature extractor and its weights |

Metrics come from the same registry as `genzoo evaluate`'s (`genzoo.registry.metrics()`): the metric that reports
`eval_metric` is computed with `eval_metrics`, and its registered direction says whether lower or higher is better.
What each metric needs of the model (class-conditional, an encoder) is checked before training starts.

Evaluation runs between two barriers. With several processes (`accelerate launch`), each one generates its share of
the samples and runs the feature extractor on them; the features are gathered on the main process, which computes
the metrics (and any metric that needs no features, such as NLL) and keeps the best pipeline.

The best pipeline is written to a staging folder and renamed into place, so `best/` is always a complete pipeline
folder (`model_index.json`, weights, `run_config.yaml`, `eval_results.json`).
"""

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import broadcast

from ..errors import ConfigError, GenzooError
from ..folder import EVAL_RESULTS, MAX_EVAL_RESULTS_BYTES, RUN_CONFIG, read_json
from ..hub import finish_folder
from ..modeling import sampling_mode
from ..pipeline import pipeline_class_of
from ..registry import MetricRegistration, metric_for_output, metrics
from .evaluation import EvaluationOptions, evaluate_pipeline, metric_applies, parse_metrics
from .extractors import load_feature_extractor
from .functional import is_better

__all__ = ["BEST_DIR", "TrainingEvaluator"]

BEST_DIR = "best"
BEST_INFO_FILE = "best_checkpoint.json"


class TrainingEvaluator:
    r"""Evaluates the generator being trained and keeps the best pipeline.

    Args:
        config (`TrainConfig`): the run config (`eval_*` keys, `dataset`, `dataset_args`, `seed`).
        registration (`ModelRegistration`): the model family, for its pipeline class.
        accelerator (`accelerate.Accelerator`): for the device, the barriers and the trackers.
        output_dir (`Path`): the run's folder; the best pipeline goes to `output_dir / "best"`.
        model (`Generator`, *optional*): the generator being trained; with it, what the evaluation needs of the
            model (a class-conditional model for `fid_per_class_mean`, enough samples for `num_classes` classes,
            the image channels the extractor reads) is checked here rather than at the first evaluation.
        resuming (`bool`, defaults to `True`): read the best value so far from `output_dir / "best"`, so that a
            resumed run never replaces a better pipeline; a new or overwritten run passes `False`.

    Raises:
        `ConfigError`: for settings the evaluation cannot work with (an unknown `eval_metric`, a VAE metric for a
            model that is no VAE, `fid_per_class_mean` for an unconditional model, too few `eval_num_samples`).
    """

    def __init__(
        self,
        config: Any,
        registration: Any,
        accelerator: Any,
        output_dir: Path,
        model: Any = None,
        resuming: bool = True,
    ) -> None:
        try:
            owner = metric_for_output(config.eval_metric)
        except GenzooError:
            outputs = ", ".join(sorted(output for entry in metrics() for output in entry.outputs))
            raise ConfigError(
                f"eval_metric {config.eval_metric!r} is not a metric genzoo reports; choose from {outputs}."
            ) from None
        try:
            selected = parse_metrics([*config.eval_metrics, owner.name])
        except GenzooError as exc:
            raise ConfigError(f"eval_metrics: {exc}") from None
        for metric in selected:
            _check_model(metric, config.eval_metric, registration, model)
        self.config = config
        self.registration = registration
        self.accelerator = accelerator
        self.best_dir = Path(output_dir) / BEST_DIR
        self.metric = config.eval_metric
        self.higher_is_better = owner.higher_is_better
        self.selected = selected
        self.metrics = [metric.name for metric in selected]
        self.needs = frozenset().union(*(metric.needs for metric in selected))
        self.dataset_args = {k: v for k, v in config.dataset_args.items() if k in ("image_column", "label_column")}
        self.split = config.dataset_args.get("split", "train")
        self.best = self._previous_best() if resuming else None  # a fresh or overwritten run starts with no best
        self.extractor = None
        # With several processes, every one samples and extracts features for its share of the images.
        self.distributed = int(getattr(accelerator, "num_processes", 1)) > 1
        if (accelerator.is_main_process or self.distributed) and self.needs:  # fails early (unknown name, weights)
            self.extractor = load_feature_extractor(
                config.eval_features, weights_path=config.eval_features_path, device=accelerator.device
            )
            self._check_extractor(int(getattr(model, "num_classes", 0) or 0) if model is not None else 0)
            if model is not None:
                self.extractor.check_channels(int(model.config.num_channels))

    def _check_extractor(self, num_classes: int) -> None:
        """Enough generated samples for full-rank covariances (overall for metrics that need statistics, and per
        class for those that need per-class statistics), and logits for metrics that need them."""
        dim, name, n = self.extractor.feature_dim, self.extractor.name, self.config.eval_num_samples
        if "logits" in self.needs and not self.extractor.has_logits:
            users = ", ".join(metric.name for metric in self.selected if "logits" in metric.needs)
            raise ConfigError(
                f"Feature extractor {name!r} gives no class logits, which metric {users} needs; drop it from "
                "eval_metrics or set eval_features to an extractor with logits."
            )
        if "stats" not in self.needs and "class_stats" not in self.needs:
            return
        if not num_classes:
            if n <= dim:
                raise ConfigError(
                    f"eval_num_samples must exceed the {dim} feature dimensions of {name!r} for FID; set it to at "
                    f"least {dim + 1}."
                )
            return
        per_class = n // num_classes  # a conditional model gets the same number of samples of each class
        if "class_stats" in self.needs and per_class <= dim:
            raise ConfigError(
                f"eval_num_samples {n} gives {per_class} samples per class for {num_classes} classes; per-class FID "
                f"needs more than the {dim} feature dimensions of {name!r} in each class: set it to at least "
                f"{(dim + 1) * num_classes}."
            )
        if per_class * num_classes <= dim:
            raise ConfigError(
                f"eval_num_samples {n} gives {per_class * num_classes} samples ({per_class} for each of "
                f"{num_classes} classes); FID needs more than the {dim} feature dimensions of {name!r}: set it to "
                f"at least {(dim // num_classes + 1) * num_classes}."
            )

    def _previous_best(self) -> float | None:
        """The best value of a run being resumed, so a resumed run does not replace a better pipeline."""
        path = self.best_dir / EVAL_RESULTS
        if not path.is_file():
            return None
        try:
            value = read_json(path, max_bytes=MAX_EVAL_RESULTS_BYTES).get(self.metric)
        except GenzooError:  # unreadable, too large or nested too deeply: no previous best to keep
            return None
        return float(value) if isinstance(value, int | float) else None

    def maybe_evaluate(self, step: int, model: Any, ema: Any = None) -> dict[str, Any] | None:
        """Evaluate at every `eval_every`-th step. All processes must call this: with several, each samples its
        share of the images and the main one, which gathers the features, computes the metrics and keeps the best
        pipeline (the results are returned there, `None` elsewhere)."""
        if not self.config.eval_every or step % self.config.eval_every:
            return None
        self.accelerator.wait_for_everyone()
        if self.distributed:
            _sync_buffers(model)
        results = None
        if self.distributed or self.accelerator.is_main_process:
            results = self._evaluate_and_keep_best(step, model, ema)
        self.accelerator.wait_for_everyone()
        return results

    def _evaluate_and_keep_best(self, step: int, model: Any, ema: Any) -> dict[str, Any] | None:
        # Evaluate (and keep) the weights that would be saved: the EMA ones when there are.
        with sampling_mode(model, ema):
            pipeline = pipeline_class_of(self.registration)(model=model)
            results = evaluate_pipeline(
                pipeline,
                self.metrics,
                options=EvaluationOptions(
                    dataset=self.config.dataset,
                    num_samples=self.config.eval_num_samples,
                    features=self.extractor or self.config.eval_features,
                    split=self.split,
                    seed=self.config.seed,
                    device=self.accelerator.device,
                    progress=False,
                    accelerator=self.accelerator if self.distributed else None,
                    **self.dataset_args,
                ),
            )
            if results is None:  # another process: it sampled its share, the main one computed the metrics
                return None
            value = results.get(self.metric)
            if value is None:
                raise ConfigError(
                    f"eval_metric {self.metric!r} was not computed for this model (fid_per_class_mean, for example, "
                    "needs enough samples of each class)."
                )
            improved = is_better(float(value), self.best, self.higher_is_better)
            if improved:
                self._save_best(pipeline, results, step)
                self.best = float(value)
        scalars = {
            f"eval/{key}": v
            for key, v in results.items()
            if isinstance(v, int | float) and math.isfinite(v) and key not in ("num_samples", "num_reference")
        }
        if self.best is not None:  # none yet when every evaluation so far gave NaN or infinity
            scalars[f"eval/best_{self.metric}"] = self.best
        self.accelerator.log(scalars, step=step)
        if improved:
            note = f" (best so far, saved to {self.best_dir})"
        elif self.best is None:
            note = " (not finite: no best pipeline yet)"
        else:
            note = f" (best {self.best:.5g})"
        self.accelerator.print(f"step {step}: {self.metric} = {float(value):.5g}{note}")
        return results

    def _save_best(self, pipeline: Any, results: dict[str, Any], step: int) -> None:
        """Write the pipeline to a staging folder, then swap it in for the previous best."""
        output_dir = self.best_dir.parent
        staging, old = output_dir / ".best.partial", output_dir / ".best.old"
        for leftover in (staging, old):
            if leftover.exists():
                shutil.rmtree(leftover)
        pipeline.save_pretrained(staging, safe_serialization=True, model_card=False)
        (staging / RUN_CONFIG).write_text(self.config.to_yaml())
        (staging / EVAL_RESULTS).write_text(json.dumps(results, indent=2) + "\n")
        finish_folder(staging, pipeline)  # the card last, so it shows the run config and these metrics
        info = {"step": step, "metric": self.metric, "value": results[self.metric]}
        (staging / BEST_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        if self.best_dir.exists():
            os.replace(self.best_dir, old)
        os.replace(staging, self.best_dir)
        if old.exists():
            shutil.rmtree(old)


def _sync_buffers(model: Any) -> None:
    """Give every process the main process's buffers (batch-norm running statistics), so that all of them sample
    the model the main process evaluates and saves. Each process updated them with its own batch after DDP last
    broadcast them (at the start of the step's forward pass); DDP broadcasts them from the main process again at the
    next forward anyway, so training is unchanged."""
    with torch.no_grad():
        for buffer in model.buffers():
            if buffer.is_floating_point():
                buffer.copy_(broadcast(buffer.clone(), from_process=0))


def _check_model(metric: MetricRegistration, eval_metric: str, registration: Any, model: Any) -> None:
    """What `metric` needs of the model (class-conditional, an encoder), checked before training starts: on the model
    when given, else on the family's generator class (which cannot tell whether it will be conditional)."""
    if model is None and metric.applies_to == "class-conditional":
        return
    target = model if model is not None else registration.generator_class
    if metric_applies(metric, target):
        return
    what = {
        "class-conditional": "a class-conditional model",
        "unconditional": "an unconditional model",
        "encoder": "a generator with an encoder",
        "codes": "a generator with learned codes (InfoGAN)",
        "representation": "a generator with an encoder or learned codes",
    }
    generator = type(model).__name__ if model is not None else registration.generator_class.__name__
    named = f"eval_metric {eval_metric!r}" if eval_metric in metric.outputs else f"metric {metric.name!r}"
    raise ConfigError(
        f"{named} needs {what[metric.applies_to]}, but this {registration.name!r} model ({generator}) is not; "
        "choose a metric that applies (fid, kid, is, precision, recall), or train a model it applies to."
    )
