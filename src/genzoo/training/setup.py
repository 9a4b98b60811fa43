"""Setting up a run, and every check that can refuse it before anything is written.

`check_request` needs neither torch nor the data: the CLI calls it before importing torch, so a wrong output folder,
dataset path or run length is answered at once, and `train()` calls it first too. The other functions build the
run's parts (dataset, generator, objective, optimizers, data loader) and check how they fit together, all before the
output folder is created (`prepare_output_dir`), so a mistake leaves no folder behind and the corrected command is
not refused as "not empty".
"""

import glob
import inspect
import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import TrainConfig, check_warmup
from ..errors import ConfigError, GenzooError, check_writable, did_you_mean
from ..folder import SAMPLES_DIR
from ..registry import ModelRegistration, resolve_dataset_spec

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

    from ..data import Dataset
    from ..objectives import Objective
    from .runtime import RunLock

__all__ = [
    "RUN_FOLDER_ENTRIES",
    "SAMPLES_DIR",
    "build_generator",
    "build_objective",
    "check_dataset_spec",
    "check_output_dir",
    "check_request",
    "configure_optimizers",
    "load_training_dataset",
    "make_dataloader",
    "prepare_output_dir",
]

#: What a genzoo run folder holds; `--overwrite-output-dir` refuses a folder with anything else (and top-level
#: `.png` figures only count as the run's beside its `run_config.yaml`).
RUN_FOLDER_ENTRIES = frozenset(
    {
        "model_index.json", "model", "run_config.yaml", "README.md", "samples.png", "eval_results.json",
        SAMPLES_DIR, "checkpoints", "logs", "best", ".genzoo-train.lock", ".pipeline.ready", ".pipeline.old",
    }
)  # fmt: skip
#: The largest learning rate a run accepts: the largest float32, in which the optimizers compute (a larger one
#: overflows there, in a traceback); anything that large but finite meets the stability guard instead.
MAX_LEARNING_RATE = 3.4028234663852886e38


# --- checks before torch ---------------------------------------------------------------------------------------------
def check_request(config: TrainConfig) -> None:
    """Refuse a run that cannot start, from the config and the file system alone (no torch, no data read): no output
    folder, both `max_steps` and `epochs`, a dataset path that does not exist, an output folder that is a file, holds
    another run, or cannot be overwritten safely, or a `--resume latest` of a folder that does not exist.

    Raises:
        `GenzooError`: one line naming the problem and the fix.
    """
    if not config.output_dir:
        raise ConfigError("No output directory given; pass --output-dir DIR.")
    if config.max_steps is not None and config.epochs is not None:
        raise ConfigError("Set max_steps or epochs, not both.")
    check_dataset_spec(config.dataset)
    check_output_dir(Path(config.output_dir), config)
    check_writable(Path(config.output_dir), "--output-dir")


def dataset_path(spec: str) -> Path | None:
    """The local folder or file a dataset spec reads (`DIR`, `imagefolder:DIR`, `parquet:FILE`), else `None`."""
    source, argument = resolve_dataset_spec(spec)
    if source.name in ("imagefolder", "parquet") and argument and not any(c in argument for c in "*?["):
        return Path(argument).expanduser()
    return None


def check_dataset_spec(spec: str) -> None:
    """Refuse a dataset spec that names no registered source, or a folder or parquet file that does not exist ("No
    such folder", not "Unknown dataset")."""
    source, argument = resolve_dataset_spec(spec)
    if source.name == "imagefolder" and argument and not Path(argument).expanduser().is_dir():
        raise GenzooError(
            f"No such folder: {argument} (imagefolder needs a folder of images; sub-folders are classes)."
        )
    if source.name == "parquet" and argument and not glob.glob(os.path.expanduser(argument)):
        raise GenzooError(f"No parquet file matches {argument!r}.")


def check_output_dir(output_dir: Path, config: TrainConfig) -> None:
    """Refuse an output folder the run may not use: a file; a folder that holds something and is neither resumed
    nor overwritten; for `--overwrite-output-dir`, one that is not a genzoo run or holds the training data; for
    `--resume latest`, one that does not exist."""
    if output_dir.exists() and not output_dir.is_dir():
        raise GenzooError(f"Output path {str(output_dir)!r} is a file; choose a directory.")
    if config.resume == "latest" and not output_dir.exists():
        raise GenzooError(
            f"Output directory {str(output_dir)!r} does not exist, so there is no run to resume; drop --resume to "
            "start a new run there, or check the path."
        )
    if config.resume or not output_dir.is_dir():
        return
    entries = [entry for entry in output_dir.iterdir() if entry.name != ".genzoo-train.lock"]
    if config.overwrite_output_dir:
        _check_overwrite(output_dir, entries, config.dataset)
    elif entries:
        from .checkpoints import checkpoint_problem, list_checkpoints  # lazy: only a folder in use reads checkpoints

        where = f"Output directory {str(output_dir)!r} is not empty"
        if any(checkpoint_problem(p) is None for p in list_checkpoints(output_dir)):
            raise GenzooError(
                f"{where}; choose another, pass --resume latest to continue that run, or --overwrite-output-dir to "
                "replace it."
            )
        # Nothing to resume there: do not send the user to --resume.
        raise GenzooError(
            f"{where} and holds no complete checkpoint to resume; pass --overwrite-output-dir to start over there, "
            "or choose another."
        )


def _check_overwrite(output_dir: Path, entries: list[Path], dataset: str) -> None:
    """`--overwrite-output-dir` deletes a genzoo run and nothing else: refuse a folder that is or contains the
    training data, or that holds anything a run does not write."""
    data = dataset_path(dataset)
    if data is not None and data.exists():
        data, folder = data.resolve(), output_dir.resolve()
        if data == folder or folder in data.parents:
            raise GenzooError(
                f"Output directory {str(output_dir)!r} is or contains the training data {dataset!r}; "
                "--overwrite-output-dir would delete it. Choose another --output-dir."
            )
    is_run = (output_dir / "run_config.yaml").is_file()
    foreign = [
        entry.name
        for entry in entries
        if entry.name not in RUN_FOLDER_ENTRIES
        and not entry.name.startswith(".pipeline.partial")
        and not (is_run and entry.suffix == ".png" and entry.is_file())
    ]
    if foreign:
        shown = ", ".join(repr(name) for name in sorted(foreign)[:3]) + (" ..." if len(foreign) > 3 else "")
        raise GenzooError(
            f"Output directory {str(output_dir)!r} holds files that are not part of a genzoo run ({shown}); "
            "--overwrite-output-dir only replaces a run folder. Choose another --output-dir, or move them away."
        )


# --- the run's parts -------------------------------------------------------------------------------------------------
def load_training_dataset(config: TrainConfig, accelerator: "Accelerator") -> tuple["Dataset", dict[str, Any]]:
    """The run's dataset (every process loads it, the main process first so it fills the cache alone) and the
    arguments of its training rows (`dataset_args` such as `random_flip`)."""
    from ..data import load_dataset, split_dataset_args  # lazy: datasets is a heavy import

    load_args, row_args = split_dataset_args(config.dataset_args)
    with accelerator.main_process_first():
        dataset = load_dataset(config.dataset, **load_args)
    if dataset.streaming and config.max_steps is None:
        raise ConfigError(f"Dataset {config.dataset!r} is streamed and has no length; set --max-steps.")
    return dataset, row_args


def checked_kwargs(target: Any, kwargs: dict[str, Any], section: str, skip: int = 0) -> dict[str, Any]:
    """`kwargs` if `target` accepts them all, else a ConfigError that lists what it does accept."""
    parameters = list(inspect.signature(target).parameters.values())[skip:]
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return dict(kwargs)
    accepted = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        name = getattr(target, "__name__", str(target))
        raise ConfigError(
            f"{section} has unknown key(s) {', '.join(unknown)} for {name}.{did_you_mean(unknown[0], accepted)} "
            f"Valid keys: {', '.join(accepted)}."
        )
    return dict(kwargs)


def build_generator(registration: ModelRegistration, model_args: dict[str, Any], dataset: "Dataset") -> Any:
    """The generator, with image size, channels, class count and class names taken from the data unless set
    explicitly. Data without labels leaves `num_classes` at the generator's default, so a model that is conditional
    by default meets the clear "no label column" check rather than failing to build with 0 classes."""
    generator_class = registration.generator_class
    kwargs = checked_kwargs(generator_class, model_args, "model_args")
    accepted = inspect.signature(generator_class).parameters
    channels, height, width = dataset.image_shape()
    defaults: dict[str, Any] = {"image_size": min(height, width), "num_channels": channels}
    if dataset.has_labels:
        defaults["num_classes"] = dataset.num_classes
        if "num_classes" not in kwargs:  # names only fit the dataset's own class count
            defaults["class_names"] = dataset.class_names
    for key, value in defaults.items():
        if key in accepted and key not in kwargs:
            kwargs[key] = value
    try:
        return generator_class(**kwargs)
    except (ValueError, TypeError, OverflowError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())
        if "image_size" not in model_args and "image_size" in reason:  # the size came from the data: say how to set it
            reason += (
                f" The size {kwargs.get('image_size')} comes from the first image ({width}x{height}); pass "
                "--resolution N (such as 32 or 64) to resize every image to N x N."
            )
        raise ConfigError(f"Cannot build {registration.name!r} with {kwargs}: {reason}") from exc


def build_objective(
    config: TrainConfig,
    registration: ModelRegistration,
    objective_class: "type[Objective]",
    model: Any,
    dataset: "Dataset",
    num_processes: int,
) -> "Objective":
    """The objective around `model`, after checking that the data has the labels the model or objective needs, the
    classes the model was built for, and at least one batch per process."""
    if (objective_class.requires_labels or model.is_conditional) and not dataset.has_labels:
        who = (
            f"Model {config.model!r} is class-conditional"
            if model.is_conditional
            else f"Objective {config.objective!r} needs labels"
        )
        raise ConfigError(
            f"{who} but dataset {config.dataset!r} has no label column: {dataset.labels_hint}; or train an "
            "unconditional model."
        )
    if model.is_conditional and dataset.num_classes > model.num_classes:
        raise ConfigError(
            f"Dataset {config.dataset!r} has {dataset.num_classes} classes but the model was configured for "
            f"{model.num_classes}; drop model_args.num_classes or raise it."
        )
    kwargs = checked_kwargs(objective_class, config.objective_args, "objective_args", skip=2)
    try:
        objective = objective_class(model, registration, **kwargs)
    except GenzooError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"objective_args for {config.objective!r}: {' '.join(str(exc).split())[:300]}") from exc
    if not dataset.streaming and len(dataset) < config.batch_size * num_processes:
        raise ConfigError(
            f"Dataset {config.dataset!r} has {len(dataset)} images, fewer than one batch of "
            f"{config.batch_size} per process; lower --batch-size."
        )
    return objective


def configure_optimizers(objective: "Objective", config: TrainConfig) -> dict[str, "torch.optim.Optimizer"]:
    """The objective's optimizers, with what PyTorch refuses (betas outside [0, 1), ...) and learning rates it would
    overflow on turned into one-line errors, before anything is written."""
    try:
        optimizers = objective.configure_optimizers()
    except GenzooError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"objective_args for {config.objective!r}: {' '.join(str(exc).split())[:300]}") from exc
    for name, optimizer in optimizers.items():
        for group in optimizer.param_groups:
            lr = float(group["lr"])
            if not (math.isfinite(lr) and 0 <= lr <= MAX_LEARNING_RATE):
                raise ConfigError(
                    f"The learning rate of {name!r} must be a number in [0, {MAX_LEARNING_RATE:.3g}] (float32), got "
                    f"{lr:g}; set objective_args.lr (or lr_d)."
                )
    return optimizers


def make_dataloader(
    config: TrainConfig, dataset: "Dataset", model: Any, row_args: dict[str, Any], accelerator: "Accelerator"
) -> tuple[Any, "torch.utils.data.DataLoader"]:
    """The training rows (decoded once into memory when they fit, which also checks every image before anything is
    written, else lazily) and their data loader, with the same sampler as ever (Accelerate's seedable one)."""
    import torch  # lazy: this module's checks run before torch is imported

    train_data = dataset.training_rows(
        model.config.image_size,
        model.config.num_channels,
        seed=config.seed,
        decode_threads=config.dataloader_num_workers,
        **row_args,
    )
    pin_memory = accelerator.device.type == "cuda"
    if dataset.streaming:  # decoded by threads inside the stream; Accelerate dispatches the batches to processes
        return train_data, torch.utils.data.DataLoader(
            train_data, batch_size=config.batch_size, drop_last=True, pin_memory=pin_memory
        )
    return train_data, torch.utils.data.DataLoader(
        train_data,
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=train_data.collate,
        num_workers=0 if train_data.in_memory else config.dataloader_num_workers,
        pin_memory=pin_memory,
    )


def prepare_output_dir(
    config: TrainConfig, output_dir: Path, lock: "RunLock", accelerator: "Accelerator", resuming: bool
) -> None:
    """Create (or, with `--overwrite-output-dir`, empty) the run folder once the run is known to be valid: the main
    process takes the run's lock, checks the folder again under it, finishes a pipeline a killed run had committed,
    removes what a killed run left half-written, and records the run config of a new run."""
    from ..folder import RUN_CONFIG  # lazy: torch, via the folder format
    from .checkpoints import remove_partial_folders  # lazy: as above
    from .export import finish_pipeline_swap  # lazy: as above

    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        if not lock.held:
            lock.acquire()
            check_output_dir(output_dir, config)
        if config.overwrite_output_dir and not resuming:
            for entry in output_dir.iterdir():
                if entry.name != lock.path.name:
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        finish_pipeline_swap(output_dir)
        remove_partial_folders(output_dir)  # left by a killed run: no other trainer holds the lock
        (output_dir / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
        if not resuming:
            (output_dir / RUN_CONFIG).write_text(config.to_yaml())
    accelerator.wait_for_everyone()


def lr_schedulers(
    config: TrainConfig, optimizers: dict[str, "torch.optim.Optimizer"], total_steps: int
) -> dict[str, "torch.optim.lr_scheduler.LRScheduler"]:
    """One `diffusers.optimization.get_scheduler` schedule per optimizer, over the run's optimisation steps.

    They are built on the bare optimizers and stepped by the trainer once per completed step, not prepared by
    Accelerate: Accelerate's wrapper steps a schedule once per process on every call (the diffusers examples multiply
    their step counts by the number of processes to make up for it), whereas here the learning rate is a function
    of the global step alone, on one process or eight, with or without gradient accumulation. A generator updated
    every `n_critic` steps follows the same curve, so its learning rate at its k-th update is the schedule's value at
    step k·n_critic. `"constant"` with warm-up steps is diffusers' `"constant_with_warmup"`.
    """
    from diffusers.optimization import get_scheduler  # lazy: diffusers is a heavy import

    name = config.lr_scheduler
    if name == "constant" and config.lr_warmup_steps:
        name = "constant_with_warmup"
    check_warmup(name, config.lr_warmup_steps, total_steps)  # an epoch-based run knows its length only now
    return {
        key: get_scheduler(name, optimizer, num_warmup_steps=config.lr_warmup_steps, num_training_steps=total_steps)
        for key, optimizer in optimizers.items()
    }


def fixed_sample_inputs(model: Any, count: int, seed: int) -> tuple["torch.Tensor", "torch.Tensor | None"]:
    """The latents (and labels) behind every sample grid of a run, so grids are comparable across steps."""
    import torch  # lazy: as in make_dataloader

    latents = model.sample_latents(count, generator=torch.Generator().manual_seed(seed), device="cpu")
    labels = torch.arange(count) % model.num_classes if model.is_conditional else None
    return latents, labels
