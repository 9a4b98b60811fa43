"""Training checkpoints: the folder format, its completeness check, safe loading, and saving and resuming a run.

A checkpoint is `checkpoints/step_N/` in a run folder, written by `accelerator.save_state` plus genzoo's own state:

- `model.safetensors`, `model_1.safetensors`, ...: the networks (Accelerate, safetensors);
- `optimizer.bin`, `optimizer_1.bin`, ...: the optimizer states (Accelerate, `torch.save`; loaded with
  `weights_only=True`);
- `random_states_<process>.pkl`: the RNG states of each process (Accelerate, `torch.save`; checked here with
  `weights_only=True` and an allow-list of the RNG state types before Accelerate reads them);
- `ema.safetensors`: the generator's EMA weights, when the run keeps an EMA;
- `genzoo_state.json`, written last: the step, the run config, the generator's config, the EMA's scalars, the
  stability guard's rollbacks, and the size of every other file (the manifest), so a truncated file is found
  before anything is loaded.

Nothing in a checkpoint is unpickled with arbitrary classes, so resuming a checkpoint folder from elsewhere cannot run
code (see docs/training.md, "What is safe to resume"). `Checkpointer` saves and loads the state of a running trainer;
`check_resume_config` compares a checkpoint's run with the one about to resume it.
"""

import contextlib
import json
import os
import re
import shutil
import struct
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from ..config import TrainConfig, read_run_config
from ..errors import ConfigError, GenzooError
from ..folder import CHECKPOINT_STATE, CHECKPOINTS_DIR, RUN_CONFIG, read_json

if TYPE_CHECKING:
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel

    from ..objectives import Objective

__all__ = [
    "CHECKPOINTS_DIR",
    "STATE_FILE",
    "Checkpointer",
    "TrainState",
    "check_resume_config",
    "checkpoint_problem",
    "find_checkpoint",
    "list_checkpoints",
    "read_checkpoint_state",
    "swap_into_place",
    "verify_pickles",
]

STATE_FILE = CHECKPOINT_STATE
FORMAT_VERSION = 1
EMA_FILE = "ema.safetensors"
# Files of the checkpoint format before genzoo_state.json (TrainState and EMA pickled by Accelerate).
LEGACY_CUSTOM_GLOB = "custom_checkpoint_*.pkl"
# One weights file per network, as Accelerate names them.
_NETWORK_FILE = re.compile(r"(model|pytorch_model)(_\d+)?\.(safetensors|bin)")


def list_checkpoints(output_dir: Path) -> list[Path]:
    """The checkpoint folders `checkpoints/step_N` of a run folder, oldest first (temporary folders left out)."""
    folder = Path(output_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step_") and p.name[5:].isdigit()]
    return sorted(found, key=checkpoint_step)


def checkpoint_step(path: Path) -> int:
    return int(Path(path).name.rsplit("_", 1)[-1])


def is_checkpoint_folder(path: Path) -> bool:
    """Whether `path` looks like a genzoo checkpoint (of this format or the older pickled one)."""
    path = Path(path)
    return path.is_dir() and ((path / STATE_FILE).is_file() or any(path.glob(LEGACY_CUSTOM_GLOB)))


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint at `path` cannot be resumed (a missing or truncated file), or `None` if it is complete.

    Only sizes and file headers are read: the manifest in `genzoo_state.json` for this format, the safetensors
    header and the zip directory of `torch.save` files for both formats.
    """
    path = Path(path)
    if not path.is_dir():
        return f"{path} is not a folder"
    state_file = path / STATE_FILE
    if state_file.is_file():
        try:
            manifest = dict(read_json(state_file)["files"])
        except (GenzooError, ValueError, KeyError, TypeError):  # unreadable, too large or nested too deeply too
            return f"{state_file} is not a complete genzoo checkpoint state"
        for name, size in manifest.items():
            file = path / name
            if not file.is_file():
                return f"{file} is missing"
            if file.stat().st_size != size:
                return f"{file} is truncated ({file.stat().st_size:,} of {size:,} bytes)"
    elif any(path.glob(LEGACY_CUSTOM_GLOB)):
        for name in ("model.safetensors", "optimizer.bin", "random_states_0.pkl"):
            if not (path / name).is_file():
                return f"{path / name} is missing"
    else:
        return f"{path} holds no {STATE_FILE}: it is not a (complete) genzoo checkpoint"
    for file in sorted(path.iterdir()):
        problem = _file_problem(file)
        if problem:
            return problem
    return None


def _file_problem(file: Path) -> str | None:
    """A truncated safetensors or `torch.save` file, found from its header or zip directory alone."""
    if file.suffix == ".safetensors":
        size = file.stat().st_size
        try:
            with file.open("rb") as handle:
                (header_size,) = struct.unpack("<Q", handle.read(8))
                if header_size > size:
                    raise ValueError
                header = json.loads(handle.read(header_size))
            end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        except (struct.error, ValueError, KeyError, TypeError, RecursionError):
            return f"{file} is not a readable safetensors file (truncated?)"
        if 8 + header_size + end != size:
            return f"{file} is truncated ({size:,} of {8 + header_size + end:,} bytes)"
    elif file.suffix in (".bin", ".pkl") and not zipfile.is_zipfile(file):
        return f"{file} is truncated or not a torch.save file"
    return None


def find_checkpoint(output_dir: Path, resume: str) -> Path:
    """The checkpoint folder `--resume` names: `latest` (the newest complete one in `output_dir`; incomplete ones
    are skipped with a warning naming the broken file) or a path (which must be complete).

    Raises:
        `GenzooError`: no complete checkpoint, or the named one is not a complete checkpoint.
    """
    if resume != "latest":
        path = Path(resume)
        if not is_checkpoint_folder(path):
            raise GenzooError(f"{resume!r} is not a genzoo checkpoint folder (pass 'latest' or checkpoints/step_N).")
        problem = checkpoint_problem(path)
        if problem:
            raise GenzooError(f"Cannot resume from {resume!r}: {problem}.")
        return path
    checkpoints = list_checkpoints(output_dir)
    for path in reversed(checkpoints):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        print(f"genzoo: warning: skipping checkpoint {path.name}: {problem}.")
    if checkpoints:
        raise GenzooError(
            f"No complete checkpoint in {Path(output_dir) / CHECKPOINTS_DIR} (all are broken, see above); start over "
            "with --overwrite-output-dir."
        )
    raise GenzooError(
        f"No checkpoint to resume from in {Path(output_dir) / CHECKPOINTS_DIR}: the run stopped before its first "
        "checkpoint. Start it over with --overwrite-output-dir (or pick another --output-dir)."
    )


def read_checkpoint_state(path: Path) -> dict[str, Any] | None:
    """The contents of `genzoo_state.json`, or `None` for a checkpoint of the older format."""
    state_file = Path(path) / STATE_FILE
    return read_json(state_file) if state_file.is_file() else None


def _safe_globals() -> list[Any]:
    """The types `torch.load(weights_only=True)` may rebuild in a checkpoint: numpy arrays and dtypes of the RNG
    states (Accelerate's own allow-list)."""
    from accelerate.utils.other import TORCH_SAFE_GLOBALS  # lazy: Accelerate's internals, only when resuming

    return list(TORCH_SAFE_GLOBALS)


def verify_pickles(path: Path) -> None:
    """Load every pickle of a checkpoint (optimizer, scheduler and RNG states, and the older format's pickled
    objects) with `weights_only=True` before Accelerate reads them, so a planted pickle fails here, naming its file,
    and runs nothing. Memory-mapped: no tensor data is read.

    Raises:
        `GenzooError`: one line naming the file that holds anything but tensors, numbers and the allow-listed RNG
            types, and what it asked for (never torch's advice to load it unsafely).
    """
    files = sorted(file for file in Path(path).iterdir() if file.suffix in (".bin", ".pkl") and file.is_file())
    for file in files:
        try:
            with torch.serialization.safe_globals(_safe_globals()):
                torch.load(file, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(file))
        except Exception as exc:
            refused = re.search(r"GLOBAL ([\w.]+)", str(exc))
            asked = f"it asks for {refused.group(1)}" if refused else f"{type(exc).__name__} when read as tensors"
            raise GenzooError(
                f"Checkpoint file {file} holds more than tensors, numbers and RNG states ({asked}), so genzoo "
                "will not load it: unpickling it could run code. Resume from another checkpoint, or start over "
                "with --overwrite-output-dir."
            ) from None


def write_checkpoint_state(folder: Path, state: dict[str, Any]) -> None:
    """Write `genzoo_state.json` last, with the size of every other file in the folder (the manifest)."""
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file() and p.name != STATE_FILE}
    payload = {"format": FORMAT_VERSION, **state, "files": files}
    temporary = folder / f".{STATE_FILE}.tmp"
    with temporary.open("w") as handle:
        json.dump(payload, handle, indent=1, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, folder / STATE_FILE)


def swap_into_place(source: Path, target: Path) -> None:
    """Move the folder or file `source` to `target`, replacing what is there without a moment in which `target` is
    missing (an atomic exchange on Linux; elsewhere, the old one is renamed aside first)."""
    if not target.exists():
        os.replace(source, target)
        return
    if _exchange(source, target):
        _remove(source)  # now holds the old one
        return
    aside = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, aside)
    os.replace(source, target)
    _remove(aside)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """renameat2(RENAME_EXCHANGE): swap two paths atomically; `False` where the system cannot."""
    with contextlib.suppress(Exception):
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
        return result == 0
    return False


def remove_partial_folders(output_dir: Path) -> None:
    """Remove the temporary folders a killed run left (checkpoints and pipelines being written); only called by the
    trainer that holds the run's lock."""
    leftovers = [*output_dir.glob(".pipeline.partial*"), *(output_dir / CHECKPOINTS_DIR).glob(".step_*.partial*")]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


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


class Checkpointer:
    """Saves and loads everything a run needs to continue bit-identically: the prepared networks and optimizers
    (Accelerate's `save_state`), the EMA, the learning-rate schedules, the `TrainState` and the run's config. Every
    method is called on all processes alike.

    Args:
        accelerator (`Accelerator`): the run's accelerator, which prepared the networks and optimizers.
        config (`TrainConfig`): the run's config (saved with every checkpoint).
        output_dir (`Path`): the run folder; checkpoints go to `output_dir/checkpoints/step_N`.
        generator (`Generator`): the generator as prepared (its config is saved with every checkpoint).
        ema (`EMAModel`, *optional*): the generator's EMA, when the run keeps one.
        state (`TrainState`): the step counter and the stability guard's record.
        optimizers (`dict`): the prepared optimizers, by network name.
        token (`str`): a name for the temporary folders, the same on every process.
    """

    def __init__(
        self,
        accelerator: "Accelerator",
        config: TrainConfig,
        output_dir: Path,
        generator: Any,
        ema: "EMAModel | None",
        state: TrainState,
        optimizers: dict[str, "torch.optim.Optimizer"],
        token: str,
    ) -> None:
        self.accelerator, self.config, self.output_dir = accelerator, config, output_dir
        self.generator, self.ema, self.state = generator, ema, state
        self.optimizers, self.token = optimizers, token
        #: The optimizers' own learning rates, which the stability guard's scale multiplies.
        self.base_lrs = {name: [group["lr"] for group in opt.param_groups] for name, opt in optimizers.items()}
        #: The learning-rate schedules, one per optimizer (set once the run's length is known).
        self.lr_schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
        #: The step of the newest checkpoint on disk that holds this run's current state.
        self.saved_step: int | None = None

    def save(self, prune: bool = True) -> None:
        """Save `checkpoints/step_N` of the current step.

        `save_state` writes into a per-run temporary folder; genzoo's state (with the manifest) is written last, the
        file list is checked, and only then is the folder renamed into place, so no half-written checkpoint ever
        carries a checkpoint's name. With `prune`, the oldest complete checkpoints beyond `checkpoints_total_limit`
        are removed (never the newest).
        """
        accelerator, step = self.accelerator, self.state.step
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
            missing = sorted(self._expected_files() - {p.name for p in partial.iterdir()})
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
        self.saved_step = step

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

    def load(self, path: Path) -> None:
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
            self._load_genzoo_state(path, saved)
        self.set_learning_rates()

    def _load_genzoo_state(self, path: Path, saved: dict[str, Any]) -> None:
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
            self.ema.to(self.accelerator.device)
        for name, scheduler_state in (saved.get("lr_schedulers") or {}).items():
            if name in self.lr_schedulers:
                self.lr_schedulers[name].load_state_dict(scheduler_state)

    def set_learning_rates(self) -> None:
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


def check_resume_config(
    checkpoint: Path,
    output_dir: Path,
    config: TrainConfig,
    model: Any,
    objective: "Objective",
    num_processes: int,
) -> None:
    """Compare the checkpoint's run with this one before loading: a different network is refused naming the keys,
    a different data order or batch is allowed with a warning that the run is no longer reproducible.

    Which `objective_args` shape the networks (refused) and which may change freely (no warning) is the objective's
    to say (`Objective.resume_sensitive_keys`, `Objective.resume_tunable_keys`); any other change warns.
    """
    saved = read_checkpoint_state(checkpoint)
    if saved is not None:
        old = saved["run_config"]
    elif (output_dir / RUN_CONFIG).is_file():  # the older format: the run folder's record
        old = read_run_config(output_dir / RUN_CONFIG).to_dict()
    else:
        _check_network_count(checkpoint, objective)
        return
    new = config.to_dict()
    old_objective = dict(old.get("objective_args") or {})
    new_objective = dict(new.get("objective_args") or {})
    refused = {
        "model": (old.get("model"), new["model"]),
        "objective": (old.get("objective"), new["objective"]),
        "ema": (old.get("ema_decay") is not None, new["ema_decay"] is not None),
        # the checkpoint's EMA state carries its schedule, which would silently win over a new one
        "ema_power": (old.get("ema_power"), new.get("ema_power")),
        "ema_inv_gamma": (old.get("ema_inv_gamma", 1.0), new.get("ema_inv_gamma", 1.0)),
    }
    for key in sorted(objective.resume_sensitive_keys):
        refused[f"objective_args.{key}"] = (old_objective.get(key), new_objective.get(key))
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
    _check_network_count(checkpoint, objective)
    changed = [
        key
        for key in ("batch_size", "seed", "gradient_accumulation_steps", "mixed_precision", "dataset", "dataset_args")
        if old.get(key) != new[key]
    ]
    ignored = set(objective.resume_sensitive_keys) | set(objective.resume_tunable_keys)
    changed += [
        f"objective_args.{key}"
        for key in sorted(set(old_objective) | set(new_objective))
        if key not in ignored and old_objective.get(key) != new_objective.get(key)
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


def _check_network_count(checkpoint: Path, objective: "Objective") -> None:
    """Refuse a checkpoint with another number of networks than the objective builds: the arguments a run saves are
    the ones it was given, so a default that added or removed a network since passes their comparison."""
    saved = sum(1 for file in checkpoint.iterdir() if _NETWORK_FILE.fullmatch(file.name))
    if saved and saved != len(objective.networks):
        raise ConfigError(
            f"Cannot resume {checkpoint}: it holds {saved} networks and this run builds {len(objective.networks)} "
            f"({', '.join(objective.networks)}), so the objective's settings differ from the checkpoint's run (an "
            "older genzoo may have had other defaults). Set its objective_args explicitly, or start a new run in "
            "another --output-dir."
        )
