"""The trainer: one Accelerate loop for every model family, the same on one CPU and on eight GPUs.

`train(config)` reads top to bottom: output folder, accelerator, data, model and objective, `prepare`, resume,
the loop (step, EMA, log, sample grid, evaluation, checkpoint), and finally `save_pretrained` of the pipeline.

Reproducibility: the data order depends only on the seed and the epoch (Accelerate's seedable sampler), and every
step draws its latents from a `torch.Generator` seeded from (seed, step, process). A checkpoint also holds the
global RNG states, so a resumed run sees the same batches and the same noise as an uninterrupted one.
"""

import contextlib
import dataclasses
import inspect
import itertools
import json
import math
import os
import shutil
import signal
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, broadcast_object_list, set_seed
from diffusers.training_utils import EMAModel
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from .checkpointing import (
    CHECKPOINTS_DIR,
    EMA_FILE,
    checkpoint_problem,
    find_checkpoint,
    is_checkpoint_folder,
    list_checkpoints,
    read_checkpoint_state,
    swap_into_place,
    verify_pickles,
    write_checkpoint_state,
)
from .config import TrainConfig, check_warmup, resolve_train_config
from .data import load_dataset, split_dataset_args
from .errors import ConfigError, GenzooError, check_writable, did_you_mean
from .folder import RUN_CONFIG
from .grids import image_grid
from .hub import finish_folder
from .metrics.training_eval import TrainingEvaluator
from .modeling import sampling_mode
from .pipeline import FLAT_IMAGE_SPREAD, image_spread, pipeline_class_of
from .registry import ModelRegistration, get_model, get_objective
from .tracking import JSONLTracker

__all__ = ["TrainState", "TrainingDivergedError", "choose_num_threads", "find_checkpoint", "train"]

SAMPLES_DIR = "samples"
LOCK_FILE = ".genzoo-train.lock"
DEFAULT_EPOCHS = 10  # the length of a run that sets neither max_steps nor epochs
_TORCH_THREADS = torch.get_num_threads()  # PyTorch's own choice (physical cores, or OMP_NUM_THREADS), before ours


class TrainState:
    """The step counter, for a streamed dataset the position in the stream (the pass and the batches read in it), and
    the stability guard's record; saved with every checkpoint (as JSON, in genzoo_state.json)."""

    def __init__(self) -> None:
        self.step = 0
        self.data_epoch = 0
        self.data_batches = 0
        self.rollbacks = 0
        self.lr_scale = 1.0

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step, "data_epoch": self.data_epoch, "data_batches": self.data_batches}

    def load_state_dict(self, state: dict[str, int]) -> None:  # checkpoints of the older, pickled format
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

    Raises:
        `TrainingDivergedError`: a loss, a gradient norm or the weights became NaN or infinite, or the generator
            collapsed (its gradient norm exactly 0 for `collapse_steps` steps, or its images without any variation at
            a checkpoint), and the run's `on_nonfinite` setting could not roll back; nothing of it was saved.
        `KeyboardInterrupt`: on Ctrl-C or SIGTERM, after saving a checkpoint of the last completed step.
    """
    # 1. Resolve the config, the names and the output folder before any process writes anything.
    config = resolve_train_config(config)
    registration = get_model(config.model)
    objective_name = config.objective
    objective_class = get_objective(objective_name).obj
    if not config.output_dir:
        raise ConfigError("No output directory given; pass --output-dir DIR.")
    if config.max_steps is not None and config.epochs is not None:
        raise ConfigError("Set max_steps or epochs, not both.")
    output_dir = Path(config.output_dir)
    _check_output_dir(output_dir, resume=config.resume, overwrite=config.overwrite_output_dir)
    check_writable(output_dir, "--output-dir")

    # 2. The accelerator: processes, devices, mixed precision (ours if set, else Accelerate's own), trackers.
    accelerator = Accelerator(
        cpu=_distributed_without_gpu(),
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=[JSONLTracker("genzoo", output_dir / "logs"), *config.log_with],
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=config.seed),
    )
    config.mixed_precision = str(accelerator.mixed_precision)  # what the run really uses, for the record
    if config.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        raise ConfigError("fp16 mixed precision needs a GPU; on the CPU use --mixed-precision bf16.")
    if config.mixed_precision == "bf16" and accelerator.device.type == "cpu" and not cpu_has_native_bf16():
        warnings.warn(
            "bf16 on this CPU (no AVX512-BF16 or AMX-BF16) runs about 16x slower than float32; use "
            "--mixed-precision no unless memory is the limit.",
            RuntimeWarning,
            stacklevel=2,
        )
    # CPU threads: ours if set, else OMP_NUM_THREADS, else the free cores shared by this machine's processes.
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE") or 0) or accelerator.num_processes
    recorded = _recorded_num_threads(output_dir, config.resume) if config.resume else None
    config.num_threads, threads_why = choose_num_threads(config.num_threads, local_processes, recorded)
    previous_threads = torch.get_num_threads()
    # One trainer per output folder: a second one (or a resume of a running run) is refused before it reads anything.
    lock = _RunLock(output_dir) if accelerator.is_main_process else None
    try:
        if lock is not None and output_dir.is_dir():
            lock.acquire()
        torch.set_num_threads(config.num_threads)
        return _train(config, registration, objective_class, accelerator, output_dir, lock, threads_why)
    finally:
        torch.set_num_threads(previous_threads)  # a train() call from Python leaves the process as it found it
        if lock is not None:
            lock.release()


def choose_num_threads(
    requested: int | None = None, local_processes: int = 1, recorded: int | None = None
) -> tuple[int, str]:
    """PyTorch's CPU thread count for one training process, and how it was chosen.

    Threads that wait on a core another job keeps busy slow every step down (on a shared 2-core machine two threads
    ran a default run 4.5 times slower than one), so when neither the run nor `OMP_NUM_THREADS` sets the count, it is
    the count a resumed run was trained with (the thread count changes float rounding, so another count would end
    the resume's bit-identity), else the cores this process may use (`os.sched_getaffinity`) minus the 1-minute
    load average, rounded, divided among the run's processes on this machine, at least 1 and at most PyTorch's own
    default.

    Args:
        requested (`int`, *optional*): the run's `num_threads` (`--num-threads`); used as given.
        local_processes (`int`, defaults to 1): the run's processes on this machine, which share its cores.
        recorded (`int`, *optional*): the count the checkpoint being resumed was trained with.

    Returns:
        `tuple[int, str]`: the thread count and a short note on where it came from, for the log.
    """
    if requested is not None:
        return requested, "set by num_threads"
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return torch.get_num_threads(), "from OMP_NUM_THREADS"
    if recorded is not None:
        return recorded, "as the resumed run was trained; set --num-threads to override"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        load = 0.0
    free = max(1, int(usable - load + 0.5))
    threads = max(1, min(free // max(1, local_processes), _TORCH_THREADS))
    shared = f" over {local_processes} processes" if local_processes > 1 else ""
    return threads, f"chosen from {usable} usable cores with load {load:.1f}{shared}; set --num-threads to override"


def _recorded_num_threads(output_dir: Path, resume: str) -> int | None:
    """The thread count of the checkpoint `--resume` names (`None` when there is none or it has no record); `_train`
    finds the checkpoint again and says what is wrong with a broken one."""
    candidates = reversed(list_checkpoints(output_dir)) if resume == "latest" else [Path(resume)]
    for path in candidates:
        if is_checkpoint_folder(path) and checkpoint_problem(path) is None:
            value = ((read_checkpoint_state(path) or {}).get("run_config") or {}).get("num_threads")
            return value if isinstance(value, int) and value >= 1 else None
    return None


def _train(
    config: TrainConfig,
    registration: ModelRegistration,
    objective_class: Any,
    accelerator: Accelerator,
    output_dir: Path,
    lock: "_RunLock | None",
    threads_why: str = "",
) -> Path:
    objective_name = config.objective
    resume_from = find_checkpoint(output_dir, config.resume) if config.resume else None
    if resume_from is not None:
        verify_pickles(resume_from)
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
    if resume_from is not None:  # before anything is loaded or written: the checkpoint must fit this run
        _check_resume_config(resume_from, output_dir, config, model, accelerator.num_processes)
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
        output_dir.mkdir(parents=True, exist_ok=True)
        if not lock.held:
            lock.acquire()
            _check_output_dir(output_dir, resume=config.resume, overwrite=config.overwrite_output_dir)
        if config.overwrite_output_dir and resume_from is None:
            for entry in output_dir.iterdir():
                if entry.name != LOCK_FILE:
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        _remove_partial_folders(output_dir)  # left by a killed run: no other trainer holds the lock
        (output_dir / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
        if resume_from is None:
            (output_dir / RUN_CONFIG).write_text(config.to_yaml())
    accelerator.wait_for_everyone()
    token = broadcast_object_list([uuid.uuid4().hex[:12]])[0]  # one temporary-folder name for all processes

    # 5. Prepare networks, optimizers and data for the processes and devices at hand.
    names = list(objective.networks)
    optimizers = raw_optimizers = objective.configure_optimizers()
    prepared = accelerator.prepare(*objective.networks.values(), *(optimizers[name] for name in names), dataloader)
    networks = dict(zip(names, prepared[: len(names)], strict=True))
    optimizers = dict(zip(names, prepared[len(names) : 2 * len(names)], strict=True))
    dataloader = prepared[-1]
    objective.bind(accelerator, networks, optimizers)
    generator_module = accelerator.unwrap_model(networks["model"])
    base_lrs = {name: [group["lr"] for group in opt.param_groups] for name, opt in optimizers.items()}

    ema = None
    if config.ema_decay is not None:
        ema = EMAModel(generator_module.parameters(), decay=config.ema_decay, foreach=True)
        ema.to(accelerator.device)
    state = TrainState()
    fixed_latents, fixed_labels = _fixed_sample_inputs(generator_module, config.num_sample_images, config.seed)
    run = _Run(accelerator, config, output_dir, generator_module, ema, state, optimizers, base_lrs, token)
    run.probe_inputs = (fixed_latents, fixed_labels)

    # Accelerate also steps the optimizers on an epoch's last, shorter accumulation, so an epoch has ceil(n / k) steps.
    steps_per_epoch = 0 if dataset.streaming else math.ceil(len(dataloader) / config.gradient_accumulation_steps)
    total_steps = config.max_steps or (config.epochs or DEFAULT_EPOCHS) * steps_per_epoch
    lr_schedulers = run.lr_schedulers = _lr_schedulers(config, raw_optimizers, total_steps)

    # 6. Resume: weights, optimizers, EMA, step counter and RNG states from a checkpoint.
    if resume_from is not None:
        run.load_checkpoint(resume_from)
        accelerator.print(f"Resumed from {resume_from} at step {state.step}.")
        if state.step >= total_steps:
            accelerator.print(f"Step {state.step} already reaches the run's {total_steps} steps; nothing to train.")
            if (output_dir / "model_index.json").is_file():
                accelerator.print(f"The pipeline in {output_dir} is unchanged.")
                return output_dir
        # run_config.yaml keeps describing the saved pipeline: the new record is written with the next pipeline, and
        # each checkpoint holds the config it was trained with.
    elif config.on_nonfinite == "rollback":  # so that a divergence before the first checkpoint can roll back
        run.save_checkpoint(prune=False)

    accelerator.init_trackers("genzoo", config=_flat_config(config))
    if resume_from is not None and accelerator.is_main_process:
        _truncate_log(accelerator, state.step)  # the steps after the checkpoint are trained (and logged) again
    accelerator.print(
        f"Training {config.model} ({_count_parameters(generator_module):,} parameters) with objective "
        f"{objective_name} on {config.dataset} ({_size(dataset, train_data)}) for {total_steps:,} steps: "
        f"{accelerator.num_processes} process(es) x batch {config.batch_size}, {accelerator.device}, "
        f"mixed precision {config.mixed_precision}, {config.num_threads} CPU thread(s) per process ({threads_why})."
    )

    # 7. The loop.
    progress = tqdm(total=total_steps, initial=state.step, desc="train", disable=not accelerator.is_local_main_process)
    for network in networks.values():
        network.train()
    check_gradients = accelerator.scaler is None  # fp16's gradient scaler expects (and skips) inf gradients
    interrupt = _InterruptFlag()
    start_step, started = state.step, time.perf_counter()
    with interrupt, contextlib.closing(progress):
        while state.step < total_steps:
            if dataset.streaming:  # a stream is read by passes of unknown length; resume where the checkpoint was
                epoch, skip = state.data_epoch, state.data_batches
                train_data.resume_at(skip * config.batch_size * accelerator.num_processes)
            else:
                epoch, done_in_epoch = divmod(state.step, steps_per_epoch)
                skip = done_in_epoch * config.gradient_accumulation_steps
            dataloader.set_epoch(epoch)  # before skip_first_batches, which copies the sampler in its current epoch
            train_data.set_epoch(epoch)  # flips and crops (Accelerate does not pass the epoch on when resuming)
            skipping = skip and not dataset.streaming
            batches = accelerator.skip_first_batches(dataloader, skip) if skipping else dataloader
            for micro_step, batch in enumerate(batches, start=skip):
                noise = _step_generator(config.seed, state.step, micro_step, accelerator)
                with accelerator.accumulate(*networks.values()), accelerator.autocast():
                    logs = objective.training_step(batch, state.step, noise)
                state.data_batches = micro_step + 1
                if not accelerator.sync_gradients:
                    continue
                norms = _gradient_norms(networks) if check_gradients else {}
                finite, interrupted, flat = _step_status(
                    accelerator, [*logs.values(), *norms.values()], interrupt.set, norms.get("grad_norm_model")
                )
                run.flat_steps = run.flat_steps + 1 if flat else 0
                collapsed = bool(config.collapse_steps) and run.flat_steps >= config.collapse_steps
                if not finite or collapsed:  # nothing of this step is kept: roll back (and re-enter the data) or stop
                    flat_for = f"the generator's gradient norm was exactly 0 for {run.flat_steps} steps"
                    run.diverged(state.step + 1, {**logs, **norms}, collapse=None if not finite else flat_for)
                    progress.n = state.step
                    start_step, started = state.step, time.perf_counter()
                    break
                logs.update(norms)
                state.step += 1
                progress.update(1)
                _step_lr_schedulers(lr_schedulers)
                if ema is not None:
                    ema.step(generator_module.parameters())

                if state.step % config.log_every == 0 or state.step == total_steps:
                    scalars = _mean_over_processes(accelerator, logs)
                    scalars.update({f"lr/{name}": sched.get_last_lr()[0] for name, sched in lr_schedulers.items()})
                    scalars["steps_per_second"] = (state.step - start_step) / (time.perf_counter() - started)
                    progress.set_postfix({k: f"{v:.3g}" for k, v in scalars.items() if k.startswith("loss")})
                    accelerator.log(scalars, step=state.step)
                if config.sample_every and state.step % config.sample_every == 0 and accelerator.is_main_process:
                    grid = _sample_grid(registration, generator_module, ema, fixed_latents, fixed_labels)
                    grid.save(output_dir / SAMPLES_DIR / f"step_{state.step:06d}.png")
                    _log_grid(accelerator, grid, state.step)
                if evaluator is not None:
                    evaluator.maybe_evaluate(state.step, generator_module, ema)
                checkpoint_due = interrupted or (config.checkpoint_every and state.step % config.checkpoint_every == 0)
                if checkpoint_due and not run.save_checkpoint():  # not finite or collapsed: rolled back (or raised)
                    progress.n = state.step
                    break
                if interrupted:
                    progress.close()
                    accelerator.print(
                        f"Interrupted at step {state.step}; saved a checkpoint: continue with --resume latest."
                    )
                    accelerator.end_training()
                    raise KeyboardInterrupt
                if state.step >= total_steps:
                    break
            else:  # the pass ended
                if dataset.streaming and state.data_batches == skip:
                    raise GenzooError(
                        f"Dataset {config.dataset!r} gave no batch of {config.batch_size} in a whole pass."
                    )
                state.data_epoch, state.data_batches = epoch + 1, 0
    progress.close()

    # 8. Save the final checkpoint (to resume or extend the run) and the pipeline; both only with finite weights
    # whose images still vary.
    if not run.saved_at(state.step) and not run.save_checkpoint():
        raise TrainingDivergedError(
            f"The weights at step {state.step} are not finite or have collapsed, and the run rolled back at its last "
            "step; nothing was saved. Continue with --resume latest, or lower objective_args.lr."
        )
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if ema is not None:
            ema.copy_to(generator_module.parameters())
        real_images = _fixed_real_images(train_data, config.num_sample_images)
        trained = _trained_config(config, state.step)
        _save_pipeline(
            registration, generator_module, output_dir, trained, fixed_latents, fixed_labels, real_images, token
        )
        accelerator.print(f"Saved the pipeline and sample grid to {output_dir}.")
    accelerator.end_training()
    return output_dir


class TrainingDivergedError(GenzooError):
    """A loss, a gradient norm or the weights became NaN or infinite during training, or the generator collapsed
    (no gradient, or images without any variation)."""


class _Run:
    """What checkpoints, rollbacks and the stability guard share: the accelerator, the trained state and the run's
    folder. Every method is called on all processes alike."""

    def __init__(
        self,
        accelerator: Accelerator,
        config: TrainConfig,
        output_dir: Path,
        generator: Any,
        ema: EMAModel | None,
        state: TrainState,
        optimizers: dict[str, torch.optim.Optimizer],
        base_lrs: dict[str, list[float]],
        token: str,
    ) -> None:
        self.accelerator, self.config, self.output_dir = accelerator, config, output_dir
        self.generator, self.ema, self.state = generator, ema, state
        self.optimizers, self.base_lrs, self.token = optimizers, base_lrs, token
        self._saved_step: int | None = None
        #: Consecutive steps whose generator gradient norm was exactly 0 (the stability guard's collapse count).
        self.flat_steps = 0
        #: The fixed latents (and labels) of the sample grids; a checkpoint is refused when their images do not vary.
        self.probe_inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None
        #: The learning-rate schedules, one per optimizer (set once the run's length is known).
        self.lr_schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}

    def saved_at(self, step: int) -> bool:
        return self._saved_step == step

    # --- checkpoints -------------------------------------------------------------------------------------------
    def save_checkpoint(self, prune: bool = True) -> bool:
        """Save `checkpoints/step_N` if the weights are finite and the generator has not collapsed (else handle the
        divergence and return `False`). Collapsed means: its images of the fixed sample latents have no variation at
        all (`genzoo.pipeline.FLAT_IMAGE_SPREAD`; not checked at step 0, whose weights are the initialisation). A
        gradient norm of 0 alone is left to the per-step count (`collapse_steps`): a saturated loss can give one
        for a step or two (a tiny model's first steps) and recover.

        `save_state` writes into a per-run temporary folder; genzoo's state (with the manifest) is written last, the
        file list is checked, and only then is the folder renamed into place, so no half-written checkpoint ever
        carries a checkpoint's name.
        """
        accelerator, step = self.accelerator, self.state.step
        generator = self.accelerator.unwrap_model(self.generator)
        probe = self.probe_inputs if step > 0 else None
        finite, spread = _checkpoint_status(accelerator, generator, self.ema, probe)
        if not finite:
            self.diverged(step, {"weights": torch.tensor(float("nan"))})
            return False
        if spread < FLAT_IMAGE_SPREAD:
            why = f"its images of the fixed sample latents are one flat colour (relative spread {spread:.2g})"
            self.diverged(step, {}, collapse=why)
            return False
        final = self.output_dir / CHECKPOINTS_DIR / f"step_{step:06d}"
        partial = final.with_name(f".{final.name}.partial-{self.token}")
        if accelerator.is_main_process:
            if partial.exists():
                shutil.rmtree(partial)
            partial.mkdir(parents=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(partial), safe_serialization=True)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            if self.ema is not None:
                shadow = {str(i): p.detach().cpu().contiguous() for i, p in enumerate(self.ema.shadow_params)}
                save_file(shadow, partial / EMA_FILE)
            expected = self._expected_files()
            missing = sorted(expected - {p.name for p in partial.iterdir()})
            if missing:
                raise GenzooError(
                    f"Checkpoint {final.name} was not written completely (missing {', '.join(missing)})."
                )
            write_checkpoint_state(partial, self._genzoo_state())
            swap_into_place(partial, final)
            if prune and self.config.checkpoints_total_limit:
                complete = [p for p in list_checkpoints(self.output_dir) if checkpoint_problem(p) is None]
                for old in complete[: -self.config.checkpoints_total_limit]:
                    if old != final:  # never the newest (finite) checkpoint
                        shutil.rmtree(old)
        accelerator.wait_for_everyone()
        self._saved_step = step
        return True

    def _expected_files(self) -> set[str]:
        count = len(self.optimizers)
        files = {"model.safetensors", *(f"model_{i}.safetensors" for i in range(1, count))}
        files |= {"optimizer.bin", *(f"optimizer_{i}.bin" for i in range(1, count))}
        files |= {f"random_states_{i}.pkl" for i in range(self.accelerator.num_processes)}
        return files | ({EMA_FILE} if self.ema is not None else set())

    def _genzoo_state(self) -> dict[str, Any]:
        ema = None
        if self.ema is not None:
            ema = {k: v for k, v in self.ema.state_dict().items() if k != "shadow_params"}
        return {
            "step": self.state.step,
            "data_epoch": self.state.data_epoch,
            "data_batches": self.state.data_batches,
            "rollbacks": self.state.rollbacks,
            "lr_scale": self.state.lr_scale,
            "lr_schedulers": {name: scheduler.state_dict() for name, scheduler in self.lr_schedulers.items()},
            "num_processes": self.accelerator.num_processes,
            "ema": ema,
            "run_config": self.config.to_dict() | {"resume": None, "overwrite_output_dir": False},
            "model_config": json.loads(self.accelerator.unwrap_model(self.generator).to_json_string()),
        }

    def load_checkpoint(self, path: Path) -> None:
        """Load weights, optimizers, RNG states (Accelerate, pickles checked by `verify_pickles`), then genzoo's
        state and EMA, and set the learning rates to the run's own times the stability guard's scale."""
        accelerator = self.accelerator
        saved = read_checkpoint_state(path)
        legacy = [self.state, *([self.ema] if self.ema is not None else [])] if saved is None else []
        accelerator._custom_objects[:] = legacy  # the older format pickled these (checked by verify_pickles)
        try:
            accelerator.load_state(str(path), load_kwargs={"weights_only": True})
        except Exception as exc:
            first = " ".join(str(exc).split())[:300]
            raise GenzooError(f"Cannot load checkpoint {path} into this run: {first}") from exc
        finally:
            accelerator._custom_objects.clear()
        if saved is not None:
            self.state.step = int(saved["step"])
            self.state.data_epoch = int(saved.get("data_epoch", 0))
            self.state.data_batches = int(saved.get("data_batches", 0))
            self.state.rollbacks = int(saved.get("rollbacks", 0))
            self.state.lr_scale = float(saved.get("lr_scale", 1.0))
            if self.ema is not None:
                if not (path / EMA_FILE).is_file():
                    raise GenzooError(f"Checkpoint {path} holds no EMA weights, but this run keeps an EMA.")
                shadow = load_file(path / EMA_FILE)
                ema_state = dict(saved.get("ema") or {})
                ema_state["shadow_params"] = [shadow[str(i)] for i in range(len(shadow))]
                self.ema.load_state_dict(ema_state)
                self.ema.to(accelerator.device)
            for name, scheduler_state in (saved.get("lr_schedulers") or {}).items():
                if name in self.lr_schedulers:
                    self.lr_schedulers[name].load_state_dict(scheduler_state)
        self._set_learning_rates()

    def _set_learning_rates(self) -> None:
        """Every optimizer's learning rate: the run's own times the stability guard's scale, at the schedule's
        current step (the schedule's base rates carry the scale, so it lasts through the following steps)."""
        for name, optimizer in self.optimizers.items():
            base = [lr * self.state.lr_scale for lr in self.base_lrs[name]]
            scheduler = self.lr_schedulers.get(name)
            if scheduler is not None:
                scheduler.base_lrs = base
                scheduler._last_lr = base = [
                    lr * factor(scheduler.last_epoch) for lr, factor in zip(base, scheduler.lr_lambdas, strict=True)
                ]
            for group, lr in zip(optimizer.param_groups, base, strict=True):
                group["lr"] = lr

    # --- the stability guard -----------------------------------------------------------------------------------
    def diverged(self, step: int, values: Mapping[str, torch.Tensor], collapse: str | None = None) -> None:
        """Handle a non-finite step (or, with `collapse` saying why, a collapsed generator): roll back to the newest
        checkpoint with lower learning rates (if the run says so and may still), else raise `TrainingDivergedError`
        naming the step and the values."""
        numbers = {name: float(value) for name, value in values.items()}
        if collapse is None:
            shown = ", ".join(f"{name}={value:.4g}" for name, value in numbers.items() if not math.isfinite(value))
            others = ", ".join(f"{name}={value:.4g}" for name, value in numbers.items() if math.isfinite(value))
            shown += f" (finite: {others})" if others else ""
            what, verb = "non-finite values", "diverged"
        else:
            losses = ", ".join(f"{name}={value:.4g}" for name, value in numbers.items() if name.startswith("loss"))
            shown = collapse + (f"; {losses}" if losses else "")
            what, verb = "the generator collapsed", "collapsed"
        self.flat_steps = 0
        checkpoints = [p for p in list_checkpoints(self.output_dir) if checkpoint_problem(p) is None]
        last_good = checkpoints[-1] if checkpoints else None
        config = self.config
        if config.on_nonfinite == "rollback" and last_good is not None and self.state.rollbacks < config.max_rollbacks:
            rollbacks, scale = self.state.rollbacks + 1, self.state.lr_scale * config.rollback_lr_factor
            self.load_checkpoint(last_good)
            self.state.rollbacks, self.state.lr_scale = rollbacks, scale
            self._set_learning_rates()
            self._saved_step = self.state.step
            if self.accelerator.is_main_process:
                _truncate_log(self.accelerator, self.state.step)
            self.accelerator.print(
                f"genzoo: warning: {what} at step {step} ({shown}); rolled back to {last_good.name} with "
                f"the learning rates x{scale:.3g} (rollback {rollbacks} of {config.max_rollbacks})."
            )
            return
        if config.on_nonfinite == "rollback":
            why = (
                f"after {self.state.rollbacks} rollback(s), the most max_rollbacks allows"
                if last_good is not None
                else "with no checkpoint to roll back to"
            )
            advice = f"Stopped {why}; lower objective_args.lr or raise max_rollbacks."
        else:
            advice = "Lower objective_args.lr, or train with --set on_nonfinite=rollback."
        if last_good is not None:
            kept = f"the last good checkpoint is {last_good} (continue from it with --resume latest)"
        else:
            kept = "there is no checkpoint yet (start over with --overwrite-output-dir)"
        self.accelerator.end_training()
        raise TrainingDivergedError(
            f"Training {verb} at step {step}: {shown}. Nothing from that step was saved; {kept}. {advice}"
        )


class _RunLock:
    """An exclusive lock on a run folder (`filelock`, as huggingface_hub uses), held by the main process for the
    whole run, so two trainers never write to one folder and a running run is never resumed."""

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / LOCK_FILE
        self.held = False
        self._lock: Any = None

    def acquire(self) -> None:
        from filelock import FileLock, Timeout

        self._lock = FileLock(str(self.path))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise GenzooError(
                f"Another genzoo train is writing to {str(self.path.parent)!r}; wait for it to finish (or stop it), "
                "or choose another --output-dir."
            ) from None
        self.held = True

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(OSError):
                self.path.unlink()  # before releasing, so no other process can hold a lock on a removed file
            self._lock.release()
            self.held = False


class _InterruptFlag:
    """Turn the first Ctrl-C or SIGTERM into a flag that the loop checks once per step (it then saves a checkpoint
    and stops); a second one interrupts at once."""

    def __init__(self) -> None:
        self.set = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True
        print("genzoo: stopping after this step (saving a checkpoint); press Ctrl-C again to stop at once.")

    def __enter__(self) -> "_InterruptFlag":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _gradient_norms(networks: Mapping[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """The gradient norm of each network (as tensors: no host sync here)."""
    norms = {}
    for name, network in networks.items():
        grads = [p.grad for p in network.parameters() if p.grad is not None]
        if grads:
            norms[f"grad_norm_{name}"] = torch.nn.utils.get_total_norm(grads).float()
    return norms


def _step_status(
    accelerator: Accelerator,
    values: list[torch.Tensor],
    interrupted: bool,
    generator_norm: torch.Tensor | None = None,
) -> tuple[bool, bool, bool]:
    """Whether every value is finite on every process, whether any process was interrupted, and whether the
    generator's gradient norm is exactly 0 (no gradient reaches its weights: saturated or dead outputs): one host sync
    (and with several processes one collective) per step."""
    device = accelerator.device
    finite = torch.isfinite(torch.stack([v.detach().float().reshape(()).to(device) for v in values])).all()
    flat = torch.zeros((), device=device) if generator_norm is None else (generator_norm.detach().to(device) == 0)
    status = torch.stack([(~finite).float(), torch.tensor(float(interrupted), device=device), flat.float()])
    if accelerator.num_processes > 1:
        status = accelerator.reduce(status, reduction="sum")
    bad, stop, flat_count = status.tolist()
    return bad == 0, stop > 0, flat_count > 0


@torch.no_grad()
def _checkpoint_status(
    accelerator: Accelerator,
    generator: Any,
    ema: EMAModel | None,
    probe: tuple[torch.Tensor, torch.Tensor | None] | None,
) -> tuple[bool, float]:
    """Whether the generator's weights (and the EMA's) are finite on every process, and the spread of its images of
    the `probe` latents (`genzoo.pipeline.image_spread`, averaged over processes; `inf` without a probe or with
    non-finite weights): one host sync, and with several processes one collective."""
    device = accelerator.device
    tensors = [p.detach() for p in generator.parameters()] + (list(ema.shadow_params) if ema is not None else [])
    finite = torch.stack([torch.isfinite(t).all() for t in tensors]).all().float().reshape(1).to(device)
    spread = torch.full((1,), float("inf"), device=device)
    if probe is not None:
        latents, labels = probe
        with sampling_mode(generator), torch.autocast(device.type, enabled=False):
            latents = latents.to(device)
            images = generator(latents, labels.to(device)) if labels is not None else generator(latents)
        spread = image_spread(images).reshape(1)
        spread = torch.where(torch.isfinite(spread), spread, torch.full_like(spread, float("inf")))
    status = torch.cat([1 - finite, spread])
    if accelerator.num_processes > 1:  # Accelerate's reduce sums (or averages): count the bad ones, average spreads
        status = accelerator.reduce(status, reduction="mean")
    bad, std = status.tolist()
    return bad == 0, std


def _truncate_log(accelerator: Accelerator, step: int) -> None:
    for tracker in accelerator.trackers:
        if isinstance(tracker, JSONLTracker):
            tracker.truncate_after(step)


def _trained_config(config: TrainConfig, steps: int) -> TrainConfig:
    """The run config as a record of what was trained: its length set to the steps the weights have."""
    if config.max_steps == steps:
        return config
    trained = dataclasses.replace(config, max_steps=steps, epochs=None)
    return trained


def _check_resume_config(
    checkpoint: Path, output_dir: Path, config: TrainConfig, model: Any, num_processes: int
) -> None:
    """Compare the checkpoint's run with this one before loading: a different network is refused naming the keys,
    a different data order or batch is allowed with a warning that the run is no longer reproducible."""
    saved = read_checkpoint_state(checkpoint)
    if saved is not None:
        old = saved["run_config"]
    elif (output_dir / RUN_CONFIG).is_file():  # the older format: the run folder's record
        old = yaml.safe_load((output_dir / RUN_CONFIG).read_text()) or {}
    else:
        return
    new = config.to_dict()
    old_objective = dict(old.get("objective_args") or {})
    new_objective = dict(new.get("objective_args") or {})
    refused = {
        "model": (old.get("model"), new["model"]),
        "objective": (old.get("objective"), new["objective"]),
        "ema": (old.get("ema_decay") is not None, new["ema_decay"] is not None),
        "objective_args.discriminator": (old_objective.get("discriminator"), new_objective.get("discriminator")),
        "objective_args.spectral_norm": (old_objective.get("spectral_norm"), new_objective.get("spectral_norm")),
    }
    for key in sorted(set(old.get("model_args") or {}) | set(new["model_args"])):
        refused[f"model_args.{key}"] = ((old.get("model_args") or {}).get(key), new["model_args"].get(key))
    if saved is not None:
        built = json.loads(model.to_json_string())
        for key in sorted(set(saved["model_config"]) | set(built)):
            if not key.startswith("_"):
                refused[f"model config {key}"] = (saved["model_config"].get(key), built.get(key))
    differ = [f"{key} ({a!r} there, {b!r} now)" for key, (a, b) in refused.items() if a != b]
    if differ:
        raise ConfigError(
            f"Cannot resume {checkpoint}: it was trained with a different network: {'; '.join(differ)}. Resume with "
            "the run's own settings (its run_config.yaml), or start a new run in another --output-dir."
        )
    changed = [
        key
        for key in ("batch_size", "seed", "gradient_accumulation_steps", "mixed_precision", "dataset", "dataset_args")
        if old.get(key) != new[key]
    ]
    changed += [
        f"objective_args.{key}"
        for key in sorted(set(old_objective) | set(new_objective))
        if key not in ("lr", "lr_d", "discriminator", "spectral_norm")
        and old_objective.get(key) != new_objective.get(key)
    ]
    if old.get("num_threads") is not None and old["num_threads"] != new.get("num_threads"):
        changed.append(f"num_threads ({old['num_threads']} there, {new.get('num_threads')} now)")
    old_processes = saved.get("num_processes") if saved is not None else None
    if old_processes is not None and old_processes != num_processes:
        changed.append(f"processes ({old_processes} there, {num_processes} now)")
    if changed:
        print(
            f"genzoo: warning: resuming with a different {', '.join(changed)} than the checkpoint was trained with; "
            "the run is no longer reproducible (it will not match an uninterrupted run)."
        )


def _check_output_dir(output_dir: Path, resume: str | None, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise GenzooError(f"Output path {str(output_dir)!r} is a file; choose a directory.")
    if resume or overwrite or not output_dir.is_dir():
        return
    if any(entry.name != LOCK_FILE for entry in output_dir.iterdir()):
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


def _remove_partial_folders(output_dir: Path) -> None:
    leftovers = [*output_dir.glob(".pipeline.partial*"), *(output_dir / CHECKPOINTS_DIR).glob(".step_*.partial*")]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (the `avx512_bf16` or `amx_bf16` flags of /proc/cpuinfo); without
    them PyTorch emulates bf16 and a training step takes about 16 times as long as in float32. `True` where the
    flags cannot be read (not Linux), so nothing is claimed without evidence."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            flags = {flag for line in file if line.startswith("flags") for flag in line.partition(":")[2].split()}
    except OSError:
        return True
    return bool(flags & {"avx512_bf16", "amx_bf16"}) or not flags


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
            f"{section} has unknown key(s) {', '.join(unknown)} for {name}.{did_you_mean(unknown[0], accepted)} "
            f"Valid keys: {', '.join(accepted)}."
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


def _lr_schedulers(
    config: TrainConfig, optimizers: dict[str, torch.optim.Optimizer], total_steps: int
) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
    """One `diffusers.optimization.get_scheduler` schedule per optimizer, over the run's optimisation steps.

    They are built on the bare optimizers and stepped by the trainer once per completed step, not prepared by
    Accelerate: Accelerate's wrapper steps a schedule once per process on every call (the diffusers examples multiply
    their step counts by the number of processes to make up for it), whereas here the learning rate is a function
    of the global step alone, on one process or eight, with or without gradient accumulation. A generator updated
    every `n_critic` steps follows the same curve, so its learning rate at its k-th update is the schedule's value at
    step k·n_critic. `"constant"` with warm-up steps is diffusers' `"constant_with_warmup"`.
    """
    from diffusers.optimization import get_scheduler

    name = config.lr_scheduler
    if name == "constant" and config.lr_warmup_steps:
        name = "constant_with_warmup"
    check_warmup(name, config.lr_warmup_steps, total_steps)  # an epoch-based run knows its length only now
    return {
        key: get_scheduler(name, optimizer, num_warmup_steps=config.lr_warmup_steps, num_training_steps=total_steps)
        for key, optimizer in optimizers.items()
    }


def _step_lr_schedulers(schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler]) -> None:
    """Advance every schedule by one step; an optimizer that skipped this step (a generator between its n_critic
    updates) still follows the global step, so PyTorch's order warning does not apply."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
        for scheduler in schedulers.values():
            scheduler.step()


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
    """Log the sample grid to every tracker through its own image API; a tracker without one is skipped with one
    warning (the grids are in `samples/` anyway)."""
    image = np.asarray(grid)
    for tracker in accelerator.trackers:
        name = getattr(tracker, "name", type(tracker).__name__)
        if isinstance(tracker, JSONLTracker) or name in _TRACKERS_WITHOUT_IMAGES:
            continue
        try:
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
        except Exception as exc:
            _TRACKERS_WITHOUT_IMAGES.add(name)
            reason = "it has no image API genzoo knows" if isinstance(exc, NotImplementedError) else str(exc)
            warnings.warn(
                f"Not logging sample grids to tracker {name!r} ({reason}); they are saved under samples/.",
                stacklevel=2,
            )


# Trackers that failed to take an image once are not asked again (one warning each).
_TRACKERS_WITHOUT_IMAGES: set[str] = set()


def _save_pipeline(
    registration: ModelRegistration,
    model: Any,
    output_dir: Path,
    config: TrainConfig,
    latents: torch.Tensor,
    labels: torch.Tensor | None,
    real_images: tuple[torch.Tensor, torch.Tensor | None],
    token: str,
) -> None:
    """Write the pipeline, run config, final grid, model card and the pipeline's figures of real images (if any) to
    a staging folder, then move them into place: folders swapped whole (never a moment without `model/`), and
    `model_index.json` last, so the folder only reads as a pipeline once everything it names is in place."""
    staging = output_dir / f".pipeline.partial-{token}"
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
    for entry in sorted(staging.iterdir(), key=lambda p: (p.name == "model_index.json", p.is_file(), p.name)):
        swap_into_place(entry, output_dir / entry.name)
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
