"""Runtime choices of a training process: the accelerator (processes, precision, trackers), the CPU thread count, the
run-folder lock, Ctrl-C and SIGTERM, quiet dataset loading, and a speed fix for Accelerate's optimizer wrapper. None
of them changes what a step computes."""

import contextlib
import functools
import inspect
import os
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

from ..config import TrainConfig
from ..errors import ConfigError, GenzooError
from .checkpoints import checkpoint_problem, is_checkpoint_folder, list_checkpoints, read_checkpoint_state
from .trackers import JSONLTracker

__all__ = [
    "LOCK_FILE",
    "InterruptFlag",
    "RunLock",
    "choose_num_threads",
    "cpu_has_native_bf16",
    "make_accelerator",
    "quiet_datasets",
    "resolve_mixed_precision",
    "skip_per_step_lookups",
    "step_generator",
    "torch_threads",
]

LOCK_FILE = ".genzoo-train.lock"
_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}  # /proc/cpuinfo flags of CPUs that compute bf16 natively
_TORCH_THREADS = torch.get_num_threads()  # PyTorch's own choice (physical cores, or OMP_NUM_THREADS), before ours


def make_accelerator(config: TrainConfig, output_dir: Path) -> Accelerator:
    """The run's accelerator: processes and devices, mixed precision (the run's if set, else Accelerate's own, recorded
    in `config.mixed_precision`), gradient accumulation, the trackers, and the seedable sampler that makes the data
    order depend on the seed and the epoch alone. Resolves `mixed_precision: auto` (`resolve_mixed_precision`),
    refuses fp16 without a GPU and warns about emulated bf16."""
    accelerator = Accelerator(
        cpu=_distributed_without_gpu(),
        mixed_precision=resolve_mixed_precision(config.mixed_precision),
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
            stacklevel=3,
        )
    return accelerator


def resolve_mixed_precision(requested: str | None) -> str | None:
    """The precision to hand Accelerate for a run's `mixed_precision`. `auto` becomes Accelerate's own setting where
    one is given (`accelerate launch` and `accelerate config` set `ACCELERATE_MIXED_PRECISION`), else `bf16` on a
    machine without a GPU whose CPU computes bf16 natively (a DCGAN step there takes 0.57 of the float32 time,
    `bench/train_step_speed.py`), else `no`: emulated bf16 is 16 times slower, and GPUs keep float32 until the
    small families are measured there. Other values pass through unchanged (`None`: Accelerate's own, else `no`)."""
    if requested != "auto":
        return requested
    if os.environ.get("ACCELERATE_MIXED_PRECISION"):
        return None
    return "bf16" if not _has_gpu() and _cpu_flags() & _NATIVE_BF16_FLAGS else "no"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (the `avx512_bf16` or `amx_bf16` flags of /proc/cpuinfo); without
    them PyTorch emulates bf16 and a training step takes about 16 times as long as in float32. `True` where the
    flags cannot be read (not Linux), so no warning is given without evidence."""
    flags = _cpu_flags()
    return bool(flags & _NATIVE_BF16_FLAGS) or not flags


def _has_gpu() -> bool:
    """A CUDA or XPU device that Accelerate would train on."""
    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())


def _cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo; empty where it cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            return {flag for line in file if line.startswith("flags") for flag in line.partition(":")[2].split()}
    except OSError:
        return set()


def _distributed_without_gpu() -> bool:
    """Launched as several processes (accelerate launch, torchrun) on a machine without a GPU.

    Accelerate only selects its multi-process CPU backend (gloo) when told `cpu=True`; otherwise every process
    would silently train alone.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return world_size > 1 and not _has_gpu()


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


def choose_run_threads(config: TrainConfig, accelerator: Accelerator, output_dir: Path) -> str:
    """Set `config.num_threads` for this run (`choose_num_threads`, with the count a resumed checkpoint recorded)
    and return how it was chosen, for the log."""
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE") or 0) or accelerator.num_processes
    recorded = _recorded_num_threads(output_dir, config.resume) if config.resume else None
    config.num_threads, why = choose_num_threads(config.num_threads, local_processes, recorded)
    return why


def _recorded_num_threads(output_dir: Path, resume: str) -> int | None:
    """The thread count of the checkpoint `--resume` names (`None` when there is none or it has no record); the
    trainer finds the checkpoint again and says what is wrong with a broken one."""
    candidates = reversed(list_checkpoints(output_dir)) if resume == "latest" else [Path(resume)]
    for path in candidates:
        if is_checkpoint_folder(path) and checkpoint_problem(path) is None:
            value = ((read_checkpoint_state(path) or {}).get("run_config") or {}).get("num_threads")
            return value if isinstance(value, int) and value >= 1 else None
    return None


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """PyTorch's CPU thread count set to `count` for the block, then set back: a `train()` call from Python leaves
    the process as it found it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """Silence `datasets`' progress bars and info messages ("Generating train split") for the block, then restore
    them as they were: genzoo shows its own progress."""
    from datasets.utils import logging as datasets_logging  # lazy: only where data is loaded

    bars_were_on = datasets_logging.is_progress_bar_enabled()
    level = datasets_logging.get_verbosity()
    datasets_logging.disable_progress_bar()
    datasets_logging.set_verbosity(max(level, datasets_logging.WARNING))
    try:
        yield
    finally:
        datasets_logging.set_verbosity(level)
        if bars_were_on:
            datasets_logging.enable_progress_bar()


def step_generator(seed: int, step: int, micro_step: int, accelerator: Accelerator) -> torch.Generator:
    """A generator seeded from (seed, step, micro-step, process) alone, so a resumed run draws identical noise."""
    entropy = np.random.SeedSequence([seed, step, micro_step, accelerator.process_index]).generate_state(1)[0]
    device = accelerator.device if accelerator.device.type == "cuda" else torch.device("cpu")
    return torch.Generator(device=device).manual_seed(int(entropy))


class RunLock:
    """An exclusive lock on a run folder (`filelock`, as huggingface_hub uses), held by the main process for the
    whole run, so two trainers never write to one folder and a running run is never resumed. Used as a context
    manager it takes the lock at once if the folder exists (else the trainer calls `acquire` once it made it) and
    always releases it."""

    def __init__(self, output_dir: Path, enabled: bool = True) -> None:
        self.path = output_dir / LOCK_FILE
        self.enabled = enabled
        self.held = False
        self._lock: Any = None

    def __enter__(self) -> "RunLock":
        if self.enabled and self.path.parent.is_dir():
            self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

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


class InterruptFlag:
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

    def __enter__(self) -> "InterruptFlag":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


# --- Accelerate's optimizer wrapper, without its per-call lookups --------------------------------------------------
@functools.cache
def _lomo_installed() -> bool:
    from accelerate.utils import is_lomo_available

    return is_lomo_available()


def skip_per_step_lookups(optimizer: torch.optim.Optimizer) -> None:
    """Make an Accelerate-prepared optimizer skip the lookups it repeats on every call, in place.

    `AcceleratedOptimizer.step` asks the import system whether `lomo_optim` is installed (twice) and `zero_grad`
    inspects the wrapped optimizer's signature, on every call. Where neither a gradient scaler nor XLA is in play,
    the step reduces to "step the wrapped optimizer when gradients are synchronised"; `_LeanAcceleratedOptimizer`
    does exactly that with the answers looked up once. Anything else (a plain optimizer, a scaler, XLA, LOMO, an
    Accelerate subclass such as DeepSpeed's) is left as it is. What a step computes does not change.
    """
    from accelerate.optimizer import AcceleratedOptimizer
    from accelerate.utils import DistributedType

    if type(optimizer) is not AcceleratedOptimizer or optimizer.scaler is not None or _lomo_installed():
        return
    if optimizer.accelerator_state.distributed_type == DistributedType.XLA:
        return
    takes_set_to_none = "set_to_none" in inspect.signature(optimizer.optimizer.zero_grad).parameters
    optimizer.__class__ = _LeanAcceleratedOptimizer
    optimizer._zero_grad_takes_set_to_none = takes_set_to_none


def _lean_optimizer_class() -> type:
    from accelerate.optimizer import AcceleratedOptimizer

    class _LeanAcceleratedOptimizer(AcceleratedOptimizer):
        """`AcceleratedOptimizer` without a scaler or XLA, with its per-call lookups answered once."""

        def step(self, closure=None):
            if self.gradient_state.sync_gradients:
                self.optimizer.step(closure)

        def zero_grad(self, set_to_none=None):
            if not self.gradient_state.sync_gradients:
                return
            if self._zero_grad_takes_set_to_none:
                self.optimizer.zero_grad(set_to_none=True if set_to_none is None else set_to_none)
            elif set_to_none is not None:
                raise ValueError("`set_to_none` for Optimizer.zero_grad` is not supported by this optimizer.")
            else:
                self.optimizer.zero_grad()

    _LeanAcceleratedOptimizer.__qualname__ = _LeanAcceleratedOptimizer.__name__
    return _LeanAcceleratedOptimizer


# This module imports Accelerate anyway, so the class is built at import (and pickles under its qualified name).
_LeanAcceleratedOptimizer = _lean_optimizer_class()
