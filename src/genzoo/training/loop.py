"""The trainer: one Accelerate loop for every model family, the same on one CPU and on eight GPUs.

`train(config)` reads top to bottom: checks, accelerator, data, model and objective, the output folder, `prepare`,
resume, the loop (step, stability guard, EMA, log, sample grid, evaluation, checkpoint), and finally the pipeline.
Each part it calls lives in its own module of this package: `setup` (building the parts and every check before a
write), `checkpoints` (save, load, resume checks), `guard` (the stability guard), `runtime` (threads, precision, the
lock, signals), `trackers` (logging and images) and `export` (the pipeline).

Reproducibility: the data order depends only on the seed and the epoch (Accelerate's seedable sampler), and every
step draws its latents from a `torch.Generator` seeded from (seed, step, process). A checkpoint also holds the
global RNG states, so a resumed run sees the same batches and the same noise as an uninterrupted one.
"""

import math
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, set_seed
from diffusers.training_utils import EMAModel

from ..config import TrainConfig, resolve_train_config
from ..errors import GenzooError
from ..metrics.training_eval import TrainingEvaluator
from ..registry import get_model, get_objective
from . import checkpoints, export, runtime, setup, trackers
from .checkpoints import Checkpointer, TrainState
from .guard import StabilityGuard, TrainingDivergedError

__all__ = ["DEFAULT_EPOCHS", "train"]

DEFAULT_EPOCHS = 10  # the length of a run that sets neither max_steps nor epochs


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
        `ConfigError` or `GenzooError`: the run cannot start (a bad value, folder, dataset or checkpoint); raised
            before the output folder is created or changed.
        `TrainingDivergedError`: a loss, a gradient norm or the weights became NaN or infinite, or the generator
            collapsed (its gradient norm exactly 0 for `collapse_steps` steps, or its images without any variation at
            a checkpoint), and the run's `on_nonfinite` setting could not roll back; nothing of it was saved.
        `KeyboardInterrupt`: on Ctrl-C or SIGTERM, after saving a checkpoint of the last completed step.
    """
    # 1. The config, the names and the output folder, checked before any process writes anything.
    config = resolve_train_config(config)
    setup.check_request(config)
    registration, objective_class = get_model(config.model), get_objective(config.objective).obj
    output_dir = Path(config.output_dir)

    # 2. The accelerator (processes, devices, mixed precision, trackers) and the CPU threads of each process. One
    # trainer per output folder: a second one (or a resume of a running run) is refused before it reads anything.
    accelerator = runtime.make_accelerator(config, output_dir)
    threads_why = runtime.choose_run_threads(config, accelerator, output_dir)
    lock = runtime.RunLock(output_dir, enabled=accelerator.is_main_process)
    with lock, runtime.torch_threads(config.num_threads), runtime.quiet_datasets():
        resume_from = checkpoints.find_checkpoint(output_dir, config.resume) if config.resume else None
        resuming = resume_from is not None
        if resuming:
            checkpoints.verify_pickles(resume_from)
        set_seed(config.seed)

        # 3. Data, model, objective and optimizers, checked together; only then is the output folder written.
        dataset, row_args = setup.load_training_dataset(config, accelerator)
        model = setup.build_generator(registration, config.model_args, dataset)
        processes = accelerator.num_processes
        objective = setup.build_objective(config, registration, objective_class, model, dataset, processes)
        if resuming:  # before anything is loaded or written: the checkpoint must fit this run
            checkpoints.check_resume_config(resume_from, output_dir, config, model, objective, processes)
        optimizers = setup.configure_optimizers(objective, config)
        train_data, dataloader = setup.make_dataloader(config, dataset, model, row_args, accelerator)
        evaluator = _evaluator(config, registration, accelerator, output_dir, model, resuming)
        setup.prepare_output_dir(config, output_dir, lock, accelerator, resuming=resuming)
        token = broadcast_object_list([uuid.uuid4().hex[:12]])[0]  # one temporary-folder name for all processes

        # 4. Prepare networks, optimizers and data for the processes and devices at hand; the EMA and the run state.
        networks, prepared_optimizers, dataloader = _prepare(accelerator, objective, optimizers, dataloader)
        generator = accelerator.unwrap_model(networks["model"])
        ema = _make_ema(config, generator, accelerator)
        state = TrainState()
        sample_inputs = setup.fixed_sample_inputs(generator, config.num_sample_images, config.seed)
        checkpointer = Checkpointer(accelerator, config, output_dir, generator, ema, state, prepared_optimizers, token)
        guard = StabilityGuard(checkpointer, networks, sample_inputs)
        epoch_steps, total_steps = _run_length(config, dataset, dataloader)
        schedulers = checkpointer.lr_schedulers = setup.lr_schedulers(config, optimizers, total_steps)

        # 5. Resume (weights, optimizers, EMA, step counter and RNG states), or a first checkpoint to roll back to.
        if resuming and not _resume(checkpointer, resume_from, total_steps):
            return output_dir  # nothing to train, and the folder's pipeline is of the checkpoint's step
        if not resuming and config.on_nonfinite == "rollback":
            guard.save_checkpoint(prune=False)
        accelerator.init_trackers("genzoo", config=trackers.flat_config(config))
        if resuming and accelerator.is_main_process:
            trackers.truncate_log(accelerator, state.step)  # the steps after the checkpoint are trained again
        accelerator.print(
            _run_summary(config, generator, objective, dataset, train_data, total_steps, accelerator, threads_why)
        )

        # 6. The loop: a step, the stability guard, schedules and EMA, then logs and grids, evaluation, checkpoints.
        for network in networks.values():
            network.train()
        reporter = trackers.StepReporter(
            accelerator, config, registration, generator, ema, sample_inputs, schedulers, total_steps, state.step
        )
        with runtime.InterruptFlag() as interrupt, reporter:
            while state.step < total_steps:
                epoch, skip, batches = _pass(config, dataset, train_data, dataloader, state, epoch_steps, accelerator)
                for micro_step, batch in enumerate(batches, start=skip):
                    noise = runtime.step_generator(config.seed, state.step, micro_step, accelerator)
                    with accelerator.accumulate(*networks.values()), accelerator.autocast():
                        logs = objective.training_step(batch, state.step, noise)
                    state.data_batches = micro_step + 1
                    if not accelerator.sync_gradients:
                        continue
                    sound, interrupted, norms = guard.check_step(logs, interrupt.set)
                    if not sound:  # nothing of this step is kept: rolled back, so re-enter the data
                        reporter.rewind(state.step, restart_clock=True)
                        break
                    logs.update(norms)
                    state.step += 1
                    _step_lr_schedulers(schedulers)
                    if ema is not None:
                        ema.step(generator.parameters())
                    reporter.step_done(state.step, logs)
                    if evaluator is not None:
                        evaluator.maybe_evaluate(state.step, generator, ema)
                    due = interrupted or (config.checkpoint_every and state.step % config.checkpoint_every == 0)
                    if due and not guard.save_checkpoint():  # not finite or collapsed: rolled back (or raised)
                        reporter.rewind(state.step)
                        break
                    if interrupted:
                        reporter.close()
                        _stop_interrupted(accelerator, state.step)
                    if state.step >= total_steps:
                        break
                else:  # the pass ended
                    _end_pass(config, dataset, state, epoch, skip)

        # 7. The final checkpoint (to resume or extend the run) and the pipeline, both only of sound weights.
        _save_final(guard, registration, train_data, sample_inputs)
        return output_dir


def _evaluator(
    config: TrainConfig, registration: Any, accelerator: Accelerator, output_dir: Path, model: Any, resuming: bool
) -> TrainingEvaluator | None:
    """The in-training evaluation, if the run asks for one: built before the output folder is written, so that a
    metric the model cannot report stops the run before any write."""
    if not config.eval_every:
        return None
    return TrainingEvaluator(config, registration, accelerator, output_dir, model=model, resuming=resuming)


def _end_pass(config: TrainConfig, dataset: Any, state: TrainState, epoch: int, skip: int) -> None:
    """Count a finished pass over the data; a streamed dataset that gave no full batch in a whole pass never will."""
    if dataset.streaming and state.data_batches == skip:
        raise GenzooError(f"Dataset {config.dataset!r} gave no full batch in a whole pass.")
    state.data_epoch, state.data_batches = epoch + 1, 0


def _prepare(
    accelerator: Accelerator, objective: Any, optimizers: dict[str, torch.optim.Optimizer], dataloader: Any
) -> tuple[dict[str, torch.nn.Module], dict[str, torch.optim.Optimizer], Any]:
    """The networks, optimizers and data loader as Accelerate prepared them, bound to the objective (with
    Accelerate's optimizer wrappers relieved of their per-step lookups)."""
    names = list(objective.networks)
    prepared = accelerator.prepare(*objective.networks.values(), *(optimizers[name] for name in names), dataloader)
    networks = dict(zip(names, prepared[: len(names)], strict=True))
    wrapped = dict(zip(names, prepared[len(names) : 2 * len(names)], strict=True))
    for optimizer in wrapped.values():
        runtime.skip_per_step_lookups(optimizer)
    objective.bind(accelerator, networks, wrapped)
    return networks, wrapped, prepared[-1]


def _run_length(config: TrainConfig, dataset: Any, dataloader: Any) -> tuple[int, int]:
    """The optimisation steps of one pass over the data (0 for a stream) and of the whole run. Accelerate also steps
    the optimizers on an epoch's last, shorter accumulation, so an epoch has ceil(batches / accumulation) steps."""
    steps_per_epoch = 0 if dataset.streaming else math.ceil(len(dataloader) / config.gradient_accumulation_steps)
    return steps_per_epoch, config.max_steps or (config.epochs or DEFAULT_EPOCHS) * steps_per_epoch


def _make_ema(config: TrainConfig, generator: Any, accelerator: Accelerator) -> EMAModel | None:
    """The generator's EMA (diffusers' `EMAModel`) on the run's device, when the run keeps one. Its decay at step t
    is diffusers' (1 + t) / (10 + t), or with `ema_power` its warm-up 1 − (1 + t / ema_inv_gamma)^−ema_power, capped
    at `ema_decay` either way."""
    if config.ema_decay is None:
        return None
    schedule = {}
    if config.ema_power is not None:
        schedule = {"use_ema_warmup": True, "power": config.ema_power, "inv_gamma": config.ema_inv_gamma}
    ema = EMAModel(generator.parameters(), decay=config.ema_decay, foreach=True, **schedule)
    ema.to(accelerator.device)
    return ema


def _resume(checkpointer: Checkpointer, path: Path, total_steps: int) -> bool:
    """Load the checkpoint into the run; `False` when it already reaches the run's length and the folder's pipeline
    is of its step (nothing to do). A pipeline older than the checkpoint (a run killed while writing it) is exported
    again from the checkpoint."""
    accelerator, state, output_dir = checkpointer.accelerator, checkpointer.state, checkpointer.output_dir
    checkpointer.load(path)
    checkpointer.saved_step = state.step  # the checkpoint on disk holds exactly this state
    accelerator.print(f"Resumed from {path} at step {state.step}.")
    if state.step < total_steps:
        # run_config.yaml keeps describing the saved pipeline: the new record is written with the next pipeline, and
        # each checkpoint holds the config it was trained with.
        return True
    accelerator.print(f"Step {state.step} already reaches the run's {total_steps} steps; nothing to train.")
    saved = export.pipeline_step(output_dir)
    if saved is not None and saved >= state.step:
        accelerator.print(f"The pipeline in {output_dir} is unchanged.")
        return False
    had = "no complete pipeline" if saved is None else f"the pipeline of step {saved}"
    accelerator.print(f"{output_dir} holds {had}; exporting the pipeline of step {state.step} again.")
    return True


def _pass(
    config: TrainConfig,
    dataset: Any,
    train_data: Any,
    dataloader: Any,
    state: TrainState,
    steps_per_epoch: int,
    accelerator: Accelerator,
) -> tuple[int, int, Any]:
    """Where the data stands at the current step: the pass (epoch), the batches of it already read, and the rest."""
    if dataset.streaming:  # a stream is read by passes of unknown length; resume where the checkpoint was
        epoch, skip = state.data_epoch, state.data_batches
        train_data.resume_at(skip * config.batch_size * accelerator.num_processes)
    else:
        epoch, done_in_epoch = divmod(state.step, steps_per_epoch)
        skip = done_in_epoch * config.gradient_accumulation_steps
    dataloader.set_epoch(epoch)  # before skip_first_batches, which copies the sampler in its current epoch
    train_data.set_epoch(epoch)  # flips and crops (Accelerate does not pass the epoch on when resuming)
    skipping = skip and not dataset.streaming
    return epoch, skip, accelerator.skip_first_batches(dataloader, skip) if skipping else dataloader


def _stop_interrupted(accelerator: Accelerator, step: int) -> None:
    accelerator.print(f"Interrupted at step {step}; saved a checkpoint: continue with --resume latest.")
    accelerator.end_training()
    raise KeyboardInterrupt


def _step_lr_schedulers(schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler]) -> None:
    """Advance every schedule by one step; an optimizer that skipped this step (a generator between its n_critic
    updates) still follows the global step, so PyTorch's order warning does not apply."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
        for scheduler in schedulers.values():
            scheduler.step()


def _run_summary(
    config: TrainConfig,
    generator: Any,
    objective: Any,
    dataset: Any,
    train_data: Any,
    total_steps: int,
    accelerator: Accelerator,
    threads_why: str,
) -> str:
    """The one line that says what is trained, on what, how long (with the objective's warm-up, if any) and with
    which resources."""
    parameters = sum(p.numel() for p in generator.parameters())
    if dataset.streaming:
        size = "streamed"
    else:
        size = f"{len(dataset):,} images{', decoded in memory' if train_data.in_memory else ''}"
    warmup, note = getattr(objective, "warmup_steps", 0), ""  # an objective not built on `Objective` has none
    if warmup >= total_steps > 0:  # a run that ends before the generator starts: said, not refused (it may resume)
        note = (
            f" (all of them the objective's warm-up, in which the generator waits: raise --max-steps above {warmup:,})"
        )
    elif warmup:
        note = f" (the first {warmup:,} the objective's warm-up, in which the generator waits)"
    return (
        f"Training {config.model} ({parameters:,} parameters) with objective {config.objective} on {config.dataset} "
        f"({size}) for {total_steps:,} steps{note}: {accelerator.num_processes} process(es) x batch "
        f"{config.batch_size}, {accelerator.device}, mixed precision {config.mixed_precision}, "
        f"{config.num_threads} CPU thread(s) per process ({threads_why})."
    )


def _save_final(
    guard: StabilityGuard,
    registration: Any,
    train_data: Any,
    sample_inputs: tuple[torch.Tensor, torch.Tensor | None],
) -> None:
    """Save the final checkpoint (unless the last step already has one) and the pipeline of the final weights (the
    EMA's, if the run keeps one), both only when the weights are finite and their images still vary."""
    checkpointer = guard.checkpointer
    accelerator, config, state = checkpointer.accelerator, checkpointer.config, checkpointer.state
    if checkpointer.saved_step != state.step and not guard.save_checkpoint():
        raise TrainingDivergedError(
            f"The weights at step {state.step} are not finite or have collapsed, and the run rolled back at its last "
            "step; nothing was saved. Continue with --resume latest, or lower objective_args.lr."
        )
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        generator = checkpointer.generator
        if checkpointer.ema is not None:
            checkpointer.ema.copy_to(generator.parameters())
        real_images = export.fixed_real_images(train_data, config.num_sample_images)
        trained = export.trained_config(config, state.step)
        output_dir = checkpointer.output_dir
        export.save_pipeline(
            registration, generator, output_dir, trained, sample_inputs, real_images, checkpointer.token
        )
        accelerator.print(f"Saved the pipeline and sample grid to {output_dir}.")
    accelerator.end_training()
