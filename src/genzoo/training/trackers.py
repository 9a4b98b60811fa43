"""What the trainer reports: scalars and sample grids for every tracker, and `JSONLTracker`, the dependency-free one
that appends every logged value to `logs/metrics.jsonl`."""

import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from accelerate.tracking import GeneralTracker, on_main_process
from tqdm.auto import tqdm

from ..folder import SAMPLES_DIR
from ..grids import image_grid
from ..modeling import sampling_mode
from ..pipeline import pipeline_class_of

if TYPE_CHECKING:
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel

    from ..config import TrainConfig
    from ..registry import ModelRegistration

__all__ = [
    "JSONLTracker",
    "flat_config",
    "log_grid",
    "log_scalars",
    "mean_over_processes",
    "sample_grid",
    "truncate_log",
]


class JSONLTracker(GeneralTracker):
    """Writes one JSON object per `accelerator.log()` call: `{"step": 10, "loss_d": 1.3, ...}`."""

    name = "jsonl"
    requires_logging_directory = True

    # No @on_main_process here: it would create Accelerate's process state before the Accelerator does.
    def __init__(self, run_name: str, logging_dir: str | Path) -> None:
        super().__init__()
        self.run_name = run_name
        self.path = Path(logging_dir) / "metrics.jsonl"
        self._folder_ready = False

    def _ensure_folder(self) -> None:
        if not self._folder_ready:  # created on first use, by the main process only
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._folder_ready = True

    @property
    def tracker(self) -> Path:
        return self.path

    @on_main_process
    def store_init_configuration(self, values: dict[str, Any]) -> None:
        self._ensure_folder()
        (self.path.parent / "config.json").write_text(json.dumps(values, indent=2, default=str))

    @on_main_process
    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        self._ensure_folder()
        record = {"step": step, **{key: _plain(value) for key, value in values.items()}}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop the records of steps after `step` (a resumed or rolled-back run logs them again)."""
        if not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines() if _step_of(line) <= step]
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text("".join(line + "\n" for line in kept))
        temporary.replace(self.path)


def _step_of(line: str) -> float:
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError, RecursionError):
        return float("inf")  # a torn last line (killed mid-write) goes too, as does one nested too deeply to read
    return -1 if step is None else step


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class StepReporter:
    """What a run shows of its steps: the progress bar, the scalars every `log_every` steps (and at the last), and
    the sample grid every `sample_every` steps, saved under `samples/` and logged to every tracker. Closes the
    progress bar when used as a context manager.

    Args:
        accelerator (`Accelerator`): the run's accelerator, with its trackers.
        config (`TrainConfig`): the run's config (`log_every`, `sample_every`, `output_dir`).
        registration (`ModelRegistration`): the model family, for its pipeline class.
        generator (`Generator`): the generator the grids are drawn with.
        ema (`EMAModel`, *optional*): its EMA, whose weights draw the grids when the run keeps one.
        sample_inputs (`tuple`): the fixed latents (and labels) of every grid.
        schedulers (`dict`): the learning-rate schedules, whose rates are logged.
        total_steps (`int`): the run's length.
        first_step (`int`): the step it starts from (a resumed run's checkpoint step).
    """

    def __init__(
        self,
        accelerator: "Accelerator",
        config: "TrainConfig",
        registration: "ModelRegistration",
        generator: Any,
        ema: "EMAModel | None",
        sample_inputs: tuple[torch.Tensor, torch.Tensor | None],
        schedulers: dict[str, Any],
        total_steps: int,
        first_step: int,
    ) -> None:
        self.accelerator, self.config, self.registration = accelerator, config, registration
        self.generator, self.ema, self.sample_inputs, self.schedulers = generator, ema, sample_inputs, schedulers
        self.total_steps = total_steps
        quiet = not accelerator.is_local_main_process
        self.progress = tqdm(total=total_steps, initial=first_step, desc="train", disable=quiet)
        self.rewind(first_step, restart_clock=True)

    def rewind(self, step: int, restart_clock: bool = False) -> None:
        """Show `step` as the current one (after a rollback); with `restart_clock`, measure the speed from it."""
        self.progress.n = step
        if restart_clock:
            self.start_step, self.started = step, time.perf_counter()

    def step_done(self, step: int, logs: dict[str, torch.Tensor]) -> None:
        """Report the completed step `step` whose scalars are `logs`."""
        self.progress.update(1)
        config, accelerator = self.config, self.accelerator
        if step % config.log_every == 0 or step == self.total_steps:
            rate = (step - self.start_step) / (time.perf_counter() - self.started)
            log_scalars(accelerator, logs, self.schedulers, rate, self.progress, step)
        if config.sample_every and step % config.sample_every == 0 and accelerator.is_main_process:
            grid = sample_grid(self.registration, self.generator, self.ema, *self.sample_inputs)
            grid.save(Path(config.output_dir) / SAMPLES_DIR / f"step_{step:06d}.png")
            log_grid(accelerator, grid, step)

    def close(self) -> None:
        self.progress.close()

    def __enter__(self) -> "StepReporter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def truncate_log(accelerator: "Accelerator", step: int) -> None:
    """Drop the JSONL records after `step` (a resumed or rolled-back run logs those steps again)."""
    for tracker in accelerator.trackers:
        if isinstance(tracker, JSONLTracker):
            tracker.truncate_after(step)


def flat_config(config: "TrainConfig") -> dict[str, Any]:
    """The config as flat scalars (trackers such as TensorBoard accept nothing else)."""
    flat: dict[str, Any] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                visit(f"{prefix}.{key}" if prefix else key, inner)
        elif isinstance(value, bool | int | float | str):
            flat[prefix] = value
        elif value is not None:
            flat[prefix] = str(value)

    visit("", config.to_dict())
    return flat


def mean_over_processes(accelerator: "Accelerator", logs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Logged scalars averaged over all processes (one collective for all of them)."""
    if not logs:
        return {}
    values = torch.stack([value.float().reshape(()) for value in logs.values()]).to(accelerator.device)
    values = accelerator.reduce(values, reduction="mean")
    return dict(zip(logs, values.tolist(), strict=True))


def log_scalars(
    accelerator: "Accelerator",
    logs: dict[str, torch.Tensor],
    schedulers: dict[str, Any],
    steps_per_second: float,
    progress: Any,
    step: int,
) -> None:
    """Log a step's scalars (averaged over processes), the learning rates and the speed to every tracker, and show
    the losses beside the progress bar."""
    scalars = mean_over_processes(accelerator, logs)
    scalars.update({f"lr/{name}": scheduler.get_last_lr()[0] for name, scheduler in schedulers.items()})
    scalars["steps_per_second"] = steps_per_second
    progress.set_postfix({k: f"{v:.3g}" for k, v in scalars.items() if k.startswith("loss")})
    accelerator.log(scalars, step=step)


def sample_grid(
    registration: "ModelRegistration",
    model: Any,
    ema: "EMAModel | None",
    latents: torch.Tensor,
    labels: torch.Tensor | None,
) -> Any:
    """Render a grid with the fixed inputs, in eval mode and with EMA weights if any, then restore training mode."""
    with sampling_mode(model, ema):
        images = pipeline_class_of(registration)(model=model)(latents=latents, class_labels=labels).images
    return image_grid(images, model.num_classes)


def log_grid(accelerator: "Accelerator", grid: Any, step: int) -> None:
    """Log the sample grid to every tracker through its own image API; a tracker without one is skipped with one
    warning (the grids are in `samples/` anyway)."""
    image = np.asarray(grid)
    for tracker in accelerator.trackers:
        name = getattr(tracker, "name", type(tracker).__name__)
        if isinstance(tracker, JSONLTracker) or name in TRACKERS_WITHOUT_IMAGES:
            continue
        try:
            _log_image(tracker, name, image, step)
        except Exception as exc:
            TRACKERS_WITHOUT_IMAGES.add(name)
            reason = "it has no image API genzoo knows" if isinstance(exc, NotImplementedError) else str(exc)
            warnings.warn(
                f"Not logging sample grids to tracker {name!r} ({reason}); they are saved under samples/.",
                stacklevel=2,
            )


def _log_image(tracker: Any, name: str, image: np.ndarray, step: int) -> None:
    if name == "tensorboard":
        tracker.log_images({"samples": image[None]}, step=step, dataformats="NHWC")
    elif name in ("wandb", "swanlab"):  # a list of images per key
        tracker.log_images({"samples": [image]}, step=step)
    elif name in ("aim", "clearml"):  # one image per key
        tracker.log_images({"samples": image}, step=step)
    elif name == "comet_ml":
        tracker.writer.log_image(image, name="samples", step=step)
    elif name == "mlflow":
        import mlflow  # lazy: only with --log-with mlflow

        mlflow.log_image(image, key="samples", step=step)
    else:
        raise NotImplementedError


#: Trackers that failed to take an image once are not asked again (one warning each).
TRACKERS_WITHOUT_IMAGES: set[str] = set()
