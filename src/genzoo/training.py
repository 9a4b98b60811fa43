"""The trainer: one Accelerate loop for every model family, the same on one CPU and on eight GPUs.

`train(config)` reads top to bottom: output folder, accelerator, data, model and objective, `prepare`, resume,
the loop (step, EMA, log, sample grid, evaluation, checkpoint), and finally `save_pretrained` of the pipeline.

Reproducibility: the data order depends only on the seed and the epoch (Accelerate's seedable sampler), and every
step draws its latents from a `torch.Generator` seeded from (seed, step, process). A checkpoint also holds the
global RNG states, so a resumed run sees the same batches and the same noise as an uninterrupted one.
"""

import inspect
import itertools
import math
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from .config import TrainConfig, resolve_train_config
from .data import load_dataset, split_dataset_args
from .errors import ConfigError, GenzooError
from .folder import RUN_CONFIG
from .grids import image_grid
from .hub import finish_folder
from .metrics.training_eval import TrainingEvaluator
from .modeling import sampling_mode
from .pipeline import pipeline_class_of
from .registry import ModelRegistration, get_model, get_objective
from .tracking import JSONLTracker

__all__ = ["TrainState", "find_checkpoint", "train"]

CHECKPOINTS_DIR = "checkpoints"
SAMPLES_DIR = "samples"
DEFAULT_EPOCHS = 10  # the length of a run that sets neither max_steps nor epochs


class TrainState:
    """The step counter and, for a streamed dataset, the position in the stream (the pass and the batches read in
    it), saved and restored with every checkpoint."""

    def __init__(self) -> None:
        self.step = 0
        self.data_epoch = 0
        self.data_batches = 0

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step, "data_epoch": self.data_epoch, "data_batches": self.data_batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step = int(state["step"])
        self.data_epoch = int(state.get("data_epoch", 0))
        self.data_batches = int(state.get("data_batches", 0))


def train(config: TrainConfig | Mapping[str, Any]) -> Path:
    r"""Train `config.model` with `config.objective` on `config.dataset` and save the pipeline to
    `config.output_dir`.

    Args:
        config (`TrainConfig` or `dict`): the run configuration (see `docs/training.md` for every key). Keys it does
            not set come from the model family's tuned defaults, as with `genzoo train`
            (`genzoo.config.resolve_train_config`); the resolved config is saved as `run_config.yaml`.

    Returns:
        `Path`: the output folder, which holds `model_index.json`, the model weights, `run_config.yaml`, the final
        sample grid `samples.png`, intermediate grids under `samples/` and checkpoints under `checkpoints/`.
    """
    # 1. Resolve the config, the names and the output folder before any process writes anything.
    config = resolve_train_config(config)
    registration = get_model(config.model)
    objective_name = config.objective
    objective_class = get_objective(objective_name).obj
    if not config.output_dir:
        raise ConfigError("No output directory given; pass --output-dir DIR.")
    output_dir = Path(config.output_dir)
    resume_from = find_checkpoint(output_dir, config.resume) if config.resume else None
    _check_output_dir(output_dir, resuming=resume_from is not None, overwrite=config.overwrite_output_dir)
    if config.max_steps is not None and config.epochs is not None:
        raise ConfigError("Set max_steps or epochs, not both.")

    # 2. The accelerator: processes, devices, mixed precision, trackers.
    accelerator = Accelerator(
        cpu=_distributed_without_gpu(),
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=[JSONLTracker("genzoo", output_dir / "logs"), *config.log_with],
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=config.seed),
    )
    if config.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        raise ConfigError("fp16 mixed precision needs a GPU; on the CPU use --mixed-precision bf16.")
    set_seed(config.seed)

    # 3. Data: every process loads the dataset (the main process first, so it fills the cache alone).
    load_args, row_args = split_dataset_args(config.dataset_args)
    with accelerator.main_process_first():
        dataset = load_dataset(config.dataset, **load_args)
    if dataset.streaming and config.max_steps is None:
        raise ConfigError(f"Dataset {config.dataset!r} is streamed and has no length; set --max-steps.")

    # 4. Model and objective.
    model = _build_generator(registration, config.model_args, dataset)
    if (objective_class.requires_labels or model.is_conditional) and not dataset.has_labels:
        who = (
            f"Model {config.model!r} is class-conditional"
            if model.is_conditional
            else f"Objective {objective_name!r} needs labels"
        )
        raise ConfigError(
            f"{who} but dataset {config.dataset!r} has no label column; "
            "pass --label-column NAME or train an unconditional model."
        )
    if model.is_conditional and dataset.num_classes > model.num_classes:
        raise ConfigError(
            f"Dataset {config.dataset!r} has {dataset.num_classes} classes but the model was configured for "
            f"{model.num_classes}; drop model_args.num_classes or raise it."
        )
    objective = objective_class(
        model, registration, **_checked_kwargs(objective_class, config.objective_args, "objective_args", skip=2)
    )
    if not dataset.streaming and len(dataset) < config.batch_size * accelerator.num_processes:
        raise ConfigError(
            f"Dataset {config.dataset!r} has {len(dataset)} images, fewer than one batch of "
            f"{config.batch_size} per process; lower --batch-size."
        )
    # Decoded once into memory when it fits (which also checks every image before anything is written), else lazily.
    train_data = dataset.training_rows(
        model.config.image_size,
        model.config.num_channels,
        seed=config.seed,
        decode_threads=config.dataloader_num_workers,
        **row_args,
    )
    pin_memory = accelerator.device.type == "cuda"
    if dataset.streaming:  # decoded by threads inside the stream; Accelerate dispatches the batches to processes
        dataloader = torch.utils.data.DataLoader(
            train_data, batch_size=config.batch_size, drop_last=True, pin_memory=pin_memory
        )
    else:  # the same sampler as ever (Accelerate's seedable one), so the batches hold the same rows
        dataloader = torch.utils.data.DataLoader(
            train_data,
            batch_size=config.batch_size,
            shuffle=True,
            drop_last=True,
            collate_fn=train_data.collate,
            num_workers=0 if train_data.in_memory else config.dataloader_num_workers,
            pin_memory=pin_memory,
        )

    evaluator = None
    if config.eval_every:  # built now, so that a metric the model cannot report stops the run before any write
        evaluator = TrainingEvaluator(
            config, registration, accelerator, output_dir, model=model, resuming=resume_from is not None
        )

    # Only now that the run is known to be valid does anything get written, so a mistake leaves no folder behind.
    if accelerator.is_main_process:
        if config.overwrite_output_dir and resume_from is None and output_dir.exists():
            shutil.rmtree(output_dir)
        (output_dir / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
        (output_dir / RUN_CONFIG).write_text(config.to_yaml())
    accelerator.wait_for_everyone()

    # 5. Prepare networks, optimizers and data for the processes and devices at hand.
    names = list(objective.networks)
    optimizers = objective.configure_optimizers()
    prepared = accelerator.prepare(*objective.networks.values(), *(optimizers[name] for name in names), dataloader)
    networks = dict(zip(names, prepared[: len(names)], strict=True))
    optimizers = dict(zip(names, prepared[len(names) : 2 * len(names)], strict=True))
    dataloader = prepared[-1]
    objective.bind(accelerator, networks, optimizers)
    generator_module = accelerator.unwrap_model(networks["model"])

    ema = None
    if config.ema_decay is not None:
        ema = EMAModel(generator_module.parameters(), decay=config.ema_decay, foreach=True)
        ema.to(accelerator.device)
        accelerator.register_for_checkpointing(ema)
    state = TrainState()
    accelerator.register_for_checkpointing(state)

    # Accelerate also steps the optimizers on an epoch's last, shorter accumulation, so an epoch has ceil(n / k) steps.
    steps_per_epoch = 0 if dataset.streaming else math.ceil(len(dataloader) / config.gradient_accumulation_steps)
    total_steps = config.max_steps or (config.epochs or DEFAULT_EPOCHS) * steps_per_epoch

    # 6. Resume: weights, optimizers, EMA, step counter and RNG states from a checkpoint.
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        accelerator.print(f"Resumed from {resume_from} at step {state.step}.")
        if state.step >= total_steps:
            accelerator.print(f"Step {state.step} already reaches the run's {total_steps} steps; nothing to train.")

    accelerator.init_trackers("genzoo", config=_flat_config(config))
    fixed_latents, fixed_labels = _fixed_sample_inputs(generator_module, config.num_sample_images, config.seed)
    accelerator.print(
        f"Training {config.model} ({_count_parameters(generator_module):,} parameters) with objective "
        f"{objective_name} on {config.dataset} ({_size(dataset, train_data)}) for {total_steps:,} steps: "
        f"{accelerator.num_processes} process(es) x batch {config.batch_size}, {accelerator.device}, "
        f"mixed precision {config.mixed_precision}."
    )

    # 7. The loop.
    progress = tqdm(total=total_steps, initial=state.step, desc="train", disable=not accelerator.is_local_main_process)
    for network in networks.values():
        network.train()
    start_step, started = state.step, time.perf_counter()
    while state.step < total_steps:
        if dataset.streaming:  # a stream is read by passes of unknown length; resume where the checkpoint was
            epoch, skip = state.data_epoch, state.data_batches
            train_data.resume_at(skip * config.batch_size * accelerator.num_processes)
        else:
            epoch, done_in_epoch = divmod(state.step, steps_per_epoch)
            skip = done_in_epoch * config.gradient_accumulation_steps
        dataloader.set_epoch(epoch)  # before skip_first_batches, which copies the sampler in its current epoch
        train_data.set_epoch(epoch)  # flips and crops (Accelerate does not pass the epoch on to them when resuming)
        batches = accelerator.skip_first_batches(dataloader, skip) if skip and not dataset.streaming else dataloader
        for micro_step, batch in enumerate(batches, start=skip):
            noise = _step_generator(config.seed, state.step, micro_step, accelerator)
            with accelerator.accumulate(*networks.values()), accelerator.autocast():
                logs = objective.training_step(batch, state.step, noise)
            state.data_batches = micro_step + 1
            if not accelerator.sync_gradients:
                continue
            state.step += 1
            progress.update(1)
            if ema is not None:
                ema.step(generator_module.parameters())

            if state.step % config.log_every == 0 or state.step == total_steps:
                scalars = _mean_over_processes(accelerator, logs)
                scalars["steps_per_second"] = (state.step - start_step) / (time.perf_counter() - started)
                progress.set_postfix({k: f"{v:.3g}" for k, v in scalars.items() if k.startswith("loss")})
                accelerator.log(scalars, step=state.step)
            if config.sample_every and state.step % config.sample_every == 0 and accelerator.is_main_process:
                grid = _sample_grid(registration, generator_module, ema, fixed_latents, fixed_labels)
                grid.save(output_dir / SAMPLES_DIR / f"step_{state.step:06d}.png")
                _log_grid(accelerator, grid, state.step)
            if evaluator is not None:
                evaluator.maybe_evaluate(state.step, generator_module, ema)
            if config.checkpoint_every and state.step % config.checkpoint_every == 0:
                _save_checkpoint(accelerator, output_dir, state.step, config.checkpoints_total_limit)
            if state.step >= total_steps:
                break
        else:  # the pass ended
            if dataset.streaming and state.data_batches == skip:
                raise GenzooError(f"Dataset {config.dataset!r} gave no batch of {config.batch_size} in a whole pass.")
            state.data_epoch, state.data_batches = epoch + 1, 0
    progress.close()

    # 8. Save the final checkpoint (to resume or extend the run) and the pipeline.
    if not (config.checkpoint_every and state.step % config.checkpoint_every == 0):
        _save_checkpoint(accelerator, output_dir, state.step, config.checkpoints_total_limit)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if ema is not None:
            ema.copy_to(generator_module.parameters())
        real_images = _fixed_real_images(train_data, config.num_sample_images)
        _save_pipeline(registration, generator_module, output_dir, config, fixed_latents, fixed_labels, real_images)
        accelerator.print(f"Saved the pipeline and sample grid to {output_dir}.")
    accelerator.end_training()
    return output_dir


def find_checkpoint(output_dir: Path, resume: str) -> Path:
    """The checkpoint folder `--resume` names: `latest` (the newest complete one in `output_dir`) or a path."""
    if resume != "latest":
        path = Path(resume)
        if not any(path.glob("custom_checkpoint_*")):
            raise GenzooError(f"{resume!r} is not a genzoo checkpoint folder (pass 'latest' or checkpoints/step_N).")
        return path
    checkpoints = sorted((output_dir / CHECKPOINTS_DIR).glob("step_*[0-9]"), key=_checkpoint_step)
    if not checkpoints:
        raise GenzooError(f"No checkpoint to resume from in {output_dir / CHECKPOINTS_DIR}; train without --resume.")
    return checkpoints[-1]


def _checkpoint_step(path: Path) -> int:
    return int(path.name.rsplit("_", 1)[-1])


def _check_output_dir(output_dir: Path, resuming: bool, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise GenzooError(f"Output path {str(output_dir)!r} is a file; choose a directory.")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (resuming or overwrite):
        raise GenzooError(
            f"Output directory {str(output_dir)!r} is not empty; choose another, pass --resume latest to continue "
            "that run, or --overwrite-output-dir to replace it."
        )


def _distributed_without_gpu() -> bool:
    """Launched as several processes (accelerate launch, torchrun) on a machine without a GPU.

    Accelerate only selects its multi-process CPU backend (gloo) when told `cpu=True`; otherwise every process
    would silently train alone.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    has_gpu = torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())
    return world_size > 1 and not has_gpu


def _checked_kwargs(target: Any, kwargs: dict[str, Any], section: str, skip: int = 0) -> dict[str, Any]:
    """`kwargs` if `target` accepts them all, else a ConfigError that lists what it does accept."""
    parameters = list(inspect.signature(target).parameters.values())[skip:]
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return dict(kwargs)
    accepted = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        name = getattr(target, "__name__", str(target))
        raise ConfigError(
            f"{section} has unknown key(s) {', '.join(unknown)} for {name}; valid keys: {', '.join(accepted)}."
        )
    return dict(kwargs)


def _build_generator(registration: ModelRegistration, model_args: dict[str, Any], dataset: Any) -> Any:
    """The generator, with image size, channels, class count and class names taken from the data unless set
    explicitly. Data without labels leaves `num_classes` at the generator's default, so a model that is conditional
    by default meets the clear "no label column" check rather than failing to build with 0 classes."""
    generator_class = registration.generator_class
    kwargs = _checked_kwargs(generator_class, model_args, "model_args")
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
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"Cannot build {registration.name!r} with {kwargs}: {exc}") from exc


def _step_generator(seed: int, step: int, micro_step: int, accelerator: Accelerator) -> torch.Generator:
    """A generator seeded from (seed, step, micro-step, process) alone, so a resumed run draws identical noise."""
    entropy = np.random.SeedSequence([seed, step, micro_step, accelerator.process_index]).generate_state(1)[0]
    device = accelerator.device if accelerator.device.type == "cuda" else torch.device("cpu")
    return torch.Generator(device=device).manual_seed(int(entropy))


def _fixed_sample_inputs(model: Any, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The latents (and labels) behind every sample grid of a run, so grids are comparable across steps."""
    latents = model.sample_latents(count, generator=torch.Generator().manual_seed(seed), device="cpu")
    labels = torch.arange(count) % model.num_classes if model.is_conditional else None
    return latents, labels


def _fixed_real_images(train_data: Any, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The first `count` training images in [-1, 1] and their labels (`None` without), for figures such as a VAE's
    reconstructions."""
    if isinstance(train_data, torch.utils.data.IterableDataset):
        train_data.set_epoch(0)
        rows = list(itertools.islice(train_data, count))
        labels = [row["class_labels"] for row in rows] if rows and "class_labels" in rows[0] else None
        return torch.stack([row["pixel_values"] for row in rows]), None if labels is None else torch.as_tensor(labels)
    batch = train_data.__getitems__(list(range(min(count, len(train_data)))))
    return batch["pixel_values"], batch.get("class_labels")


def _size(dataset: Any, train_data: Any) -> str:
    if dataset.streaming:
        return "streamed"
    return f"{len(dataset):,} images{', decoded in memory' if train_data.in_memory else ''}"


def _sample_grid(
    registration: ModelRegistration,
    model: Any,
    ema: EMAModel | None,
    latents: torch.Tensor,
    labels: torch.Tensor | None,
) -> Any:
    """Render a grid with the fixed inputs, in eval mode and with EMA weights if any, then restore training mode."""
    with sampling_mode(model, ema):
        images = pipeline_class_of(registration)(model=model)(latents=latents, class_labels=labels).images
    return image_grid(images, model.num_classes)


def _log_grid(accelerator: Accelerator, grid: Any, step: int) -> None:
    image = np.asarray(grid)
    for tracker in accelerator.trackers:
        if hasattr(tracker, "log_images"):
            tracker.log_images({"samples": image[None]}, step=step, dataformats="NHWC")


def _save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, total_limit: int | None) -> None:
    """`save_state` into a temporary folder, renamed only once complete, so no half-written checkpoint remains."""
    final = output_dir / CHECKPOINTS_DIR / f"step_{step:06d}"
    partial = final.with_name(final.name + ".partial")
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        if total_limit:
            for old in sorted(final.parent.glob("step_*[0-9]"), key=_checkpoint_step)[:-total_limit]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()


def _save_pipeline(
    registration: ModelRegistration,
    model: Any,
    output_dir: Path,
    config: TrainConfig,
    latents: torch.Tensor,
    labels: torch.Tensor | None,
    real_images: tuple[torch.Tensor, torch.Tensor | None],
) -> None:
    """Write the pipeline, run config, final grid, model card and the pipeline's figures of real images (if any) to
    a staging folder, then move them into place."""
    staging = output_dir / ".pipeline.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    (staging / RUN_CONFIG).write_text(config.to_yaml())
    grid = _sample_grid(registration, model, None, latents, labels)
    pipeline = pipeline_class_of(registration)(model=model)
    pipeline.save_pretrained(staging, safe_serialization=True, model_card=False)
    with sampling_mode(model):
        images, labels = real_images
        # Labels only when the data has them, so a plugin's override without `class_labels` keeps working.
        extra = {"class_labels": labels.to(model.device)} if labels is not None else {}
        for name, figure in pipeline.real_image_grids(images.to(model.device, model.dtype), **extra).items():
            figure.save(staging / f"{name}.png")
    finish_folder(staging, sample_grid=grid)  # the card last, from the finished folder
    for entry in staging.iterdir():
        target = output_dir / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(entry, target)
    staging.rmdir()


def _flat_config(config: TrainConfig) -> dict[str, Any]:
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


def _mean_over_processes(accelerator: Accelerator, logs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Logged scalars averaged over all processes (one collective for all of them)."""
    if not logs:
        return {}
    values = torch.stack([value.float().reshape(()) for value in logs.values()]).to(accelerator.device)
    values = accelerator.reduce(values, reduction="mean")
    return dict(zip(logs, values.tolist(), strict=True))


def _count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
