r"""Evaluation during training: every `eval_every` steps, compute metrics, log them to the trackers, and keep the
best pipeline so far in `output_dir/best/`.

Run-config keys (see `TrainConfig`):

| key | default | meaning |
| --- | --- | --- |
| `eval_every` | 0 (off) | evaluate every N optimisation steps |
| `eval_metric` | `fid` | what decides the best pipeline (direction: `METRIC_DIRECTIONS`) |
| `eval_metrics` | `[fid, kid]` | what else is computed and logged (`eval/fid`, `eval/kid`, ...) |
| `eval_num_samples` | 1000 | generated images per evaluation |
| `eval_features`, `eval_features_path` | `mnist-classifier` | the feature extractor and its weights |

FID, KID, NLL and reconstruction error are better when lower; IS, precision and recall when higher.

Only the main process evaluates, between two barriers, so the other processes wait rather than run collectives
out of step. The best pipeline is written to a staging folder and renamed into place, so `best/` is always a
complete pipeline folder (`model_index.json`, weights, `run_config.yaml`, `eval_results.json`).
"""

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..modeling import sampling_mode
from ..pipeline import EVAL_RESULTS, RUN_CONFIG
from .evaluation import _is_vae, evaluate_pipeline, parse_metrics
from .extractors import load_feature_extractor
from .functional import METRIC_DIRECTIONS, is_better

__all__ = ["BEST_DIR", "TrainingEvaluator"]

BEST_DIR = "best"
BEST_INFO_FILE = "best_checkpoint.json"
# The `--metrics` family that produces each selectable metric; None: the VAE metrics, found by duck typing.
_FAMILY = {
    "fid": "fid",
    "fid_per_class_mean": "fid",
    "kid": "kid",
    "is": "is",
    "precision": "pr",
    "recall": "pr",
    "nll": None,
    "reconstruction_mse": None,
}


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
        if config.eval_metric not in METRIC_DIRECTIONS:
            raise ConfigError(
                f"eval_metric {config.eval_metric!r} is not a metric genzoo reports; choose from "
                f"{', '.join(METRIC_DIRECTIONS)}."
            )
        _check_model(config.eval_metric, registration, model)
        self.config = config
        self.registration = registration
        self.accelerator = accelerator
        self.best_dir = Path(output_dir) / BEST_DIR
        self.metric = config.eval_metric
        family = _FAMILY[self.metric]
        self.metrics = parse_metrics([*config.eval_metrics, *([family] if family else [])] or ["fid"])
        self.vae_metrics = family is None
        self.dataset_args = {k: v for k, v in config.dataset_args.items() if k in ("image_column", "label_column")}
        self.split = config.dataset_args.get("split", "train")
        self.best = self._previous_best() if resuming else None  # a fresh or overwritten run starts with no best
        self.extractor = None
        if accelerator.is_main_process:  # fails early (unknown name, missing weights) rather than at the first eval
            self.extractor = load_feature_extractor(
                config.eval_features, weights_path=config.eval_features_path, device=accelerator.device
            )
            self._check_extractor(int(getattr(model, "num_classes", 0) or 0) if model is not None else 0)
            if model is not None:
                self.extractor.check_channels(int(model.config.num_channels))

    def _check_extractor(self, num_classes: int) -> None:
        """Enough generated samples for full-rank FID covariances (overall, and per class for
        `fid_per_class_mean`), and logits for the Inception Score."""
        dim, name, n = self.extractor.feature_dim, self.extractor.name, self.config.eval_num_samples
        if "is" in self.metrics and not self.extractor.has_logits:
            raise ConfigError(
                f"Feature extractor {name!r} gives no class logits, which the Inception Score needs; drop 'is' from "
                "eval_metrics or set eval_features to an extractor with logits."
            )
        if "fid" not in self.metrics:
            return
        if not num_classes:
            if n <= dim:
                raise ConfigError(
                    f"eval_num_samples must exceed the {dim} feature dimensions of {name!r} for FID; set it to at "
                    f"least {dim + 1}."
                )
            return
        per_class = n // num_classes  # a conditional model gets the same number of samples of each class
        if self.metric == "fid_per_class_mean" and per_class <= dim:
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
            value = json.loads(path.read_text()).get(self.metric)
        except (OSError, json.JSONDecodeError):
            return None
        return float(value) if isinstance(value, int | float) else None

    def maybe_evaluate(self, step: int, model: Any, ema: Any = None) -> dict[str, Any] | None:
        """Evaluate at every `eval_every`-th step (all processes must call this; only the main one evaluates)."""
        if not self.config.eval_every or step % self.config.eval_every:
            return None
        self.accelerator.wait_for_everyone()
        results = None
        if self.accelerator.is_main_process:
            results = self._evaluate_and_keep_best(step, model, ema)
        self.accelerator.wait_for_everyone()
        return results

    def _evaluate_and_keep_best(self, step: int, model: Any, ema: Any) -> dict[str, Any]:
        # Evaluate (and keep) the weights that would be saved: the EMA ones when there are.
        with sampling_mode(model, ema):
            pipeline = self.registration.pipeline_class(model=model)
            results = evaluate_pipeline(
                pipeline,
                dataset=self.config.dataset,
                metrics=self.metrics,
                num_samples=self.config.eval_num_samples,
                features=self.extractor,
                split=self.split,
                seed=self.config.seed,
                device=self.accelerator.device,
                progress=False,
                per_class=self.metric == "fid_per_class_mean",
                vae_metrics=self.vae_metrics,
                **self.dataset_args,
            )
            value = results.get(self.metric)
            if value is None:
                raise ConfigError(
                    f"eval_metric {self.metric!r} was not computed for this model (e.g. nll needs a VAE, "
                    "fid_per_class_mean a conditional model with enough samples per class)."
                )
            improved = is_better(self.metric, float(value), self.best)
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
        pipeline.save_pretrained(staging, safe_serialization=True)
        (staging / RUN_CONFIG).write_text(self.config.to_yaml())
        (staging / EVAL_RESULTS).write_text(json.dumps(results, indent=2) + "\n")
        info = {"step": step, "metric": self.metric, "value": results[self.metric]}
        (staging / BEST_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        if self.best_dir.exists():
            os.replace(self.best_dir, old)
        os.replace(staging, self.best_dir)
        if old.exists():
            shutil.rmtree(old)


def _check_model(metric: str, registration: Any, model: Any) -> None:
    """What `metric` needs of the model family (and of the model, when given), checked before training starts."""
    if _FAMILY[metric] is None and not _is_vae(registration.pipeline_class):
        pipeline = getattr(registration.pipeline_class, "__name__", registration.pipeline_class)
        raise ConfigError(
            f"eval_metric {metric!r} needs a VAE (a pipeline with reconstruct and estimate_nll), but model "
            f"{registration.name!r} samples with {pipeline}; choose fid, kid, is, precision or recall."
        )
    if metric == "fid_per_class_mean" and model is not None and not int(getattr(model, "num_classes", 0) or 0):
        raise ConfigError(
            f"eval_metric 'fid_per_class_mean' needs a class-conditional model, but this {registration.name!r} model "
            "is unconditional; choose fid, or train a conditional model on labelled data."
        )
