"""Training checkpoints: the folder format, its completeness check, safe loading and export to a pipeline.

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
code (see docs/training.md, "What is safe to resume").
"""

import contextlib
import json
import os
import shutil
import struct
import uuid
import zipfile
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file

from .config import TrainConfig
from .errors import GenzooError
from .folder import CHECKPOINT_STATE, CHECKPOINTS_DIR, RUN_CONFIG
from .hub import finish_folder
from .pipeline import pipeline_class_of
from .registry import get_model

__all__ = [
    "CHECKPOINTS_DIR",
    "STATE_FILE",
    "checkpoint_problem",
    "export_checkpoint",
    "find_checkpoint",
    "list_checkpoints",
    "read_checkpoint_state",
    "verify_pickles",
]

STATE_FILE = CHECKPOINT_STATE
FORMAT_VERSION = 1
EMA_FILE = "ema.safetensors"
# Files of the checkpoint format before genzoo_state.json (TrainState and EMA pickled by Accelerate).
LEGACY_CUSTOM_GLOB = "custom_checkpoint_*.pkl"


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
            state = json.loads(state_file.read_text())
            manifest = dict(state["files"])
        except (ValueError, KeyError, TypeError):
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
        except (struct.error, ValueError, KeyError, TypeError):
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
    return json.loads(state_file.read_text()) if state_file.is_file() else None


def _safe_globals() -> list[Any]:
    """The types `torch.load(weights_only=True)` may rebuild in a checkpoint: numpy arrays and dtypes of the RNG
    states (Accelerate's own allow-list)."""
    from accelerate.utils.other import TORCH_SAFE_GLOBALS  # lazy: Accelerate's internals, only when resuming

    return list(TORCH_SAFE_GLOBALS)


def verify_pickles(path: Path) -> None:
    """Load every pickle of a checkpoint that Accelerate would read without `weights_only` (or whose errors it
    would swallow) with `weights_only=True`, so a planted pickle fails here and runs nothing.

    Raises:
        `GenzooError`: naming the file that holds anything but tensors, numbers and the allow-listed RNG types.
    """
    files = sorted(Path(path).glob("random_states_*.pkl")) + sorted(Path(path).glob(LEGACY_CUSTOM_GLOB))
    for file in files:
        try:
            with torch.serialization.safe_globals(_safe_globals()):
                torch.load(file, map_location="cpu", weights_only=True)
        except Exception as exc:
            reason = str(exc).split("WeightsUnpickler error:", 1)[-1].split("Check the documentation")[0]
            raise GenzooError(
                f"Checkpoint file {file} holds more than tensors, numbers and RNG states, so genzoo will not load it "
                f"(unpickling it could run code): {' '.join(reason.split())}"
            ) from exc


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


def export_checkpoint(checkpoint: str | Path, output_dir: str | Path, *, use_ema: bool = True) -> Path:
    r"""Save the generator of a training checkpoint as a pipeline folder, so a run can be used before it finishes.

    Args:
        checkpoint (`str` or `Path`): a checkpoint folder (`RUN/checkpoints/step_N`), or a run folder, whose newest
            complete checkpoint is exported.
        output_dir (`str` or `Path`): the new pipeline folder; it must not exist or be empty.
        use_ema (`bool`, defaults to `True`): export the EMA weights when the run keeps an EMA (as the final
            pipeline of a run does).

    Returns:
        `Path`: the pipeline folder, loadable with `GenPipeline.from_pretrained`.
    """
    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    if not is_checkpoint_folder(checkpoint) and list_checkpoints(checkpoint):
        checkpoint = find_checkpoint(checkpoint, "latest")
    if not is_checkpoint_folder(checkpoint):
        raise GenzooError(f"{str(checkpoint)!r} is neither a checkpoint folder (RUN/checkpoints/step_N) nor a run.")
    problem = checkpoint_problem(checkpoint)
    if problem:
        raise GenzooError(f"Cannot export {str(checkpoint)!r}: {problem}.")
    state = read_checkpoint_state(checkpoint)
    if state is None:
        raise GenzooError(
            f"{str(checkpoint)!r} was written by an older genzoo that did not record the model's config; resume it "
            "for one checkpoint (--resume latest with a larger --max-steps) and export the new one."
        )
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise GenzooError(f"Export folder {str(output_dir)!r} exists and is not empty; choose another.")
    config = TrainConfig.from_dict(state["run_config"])
    registration = get_model(config.model)
    model_config = {k: v for k, v in state["model_config"].items() if not k.startswith("_")}
    model = registration.generator_class.from_config(model_config)
    model.load_state_dict(load_file(checkpoint / "model.safetensors"))
    if use_ema and (checkpoint / EMA_FILE).is_file():
        shadow = load_file(checkpoint / EMA_FILE)
        with torch.no_grad():
            for index, parameter in enumerate(model.parameters()):
                parameter.copy_(shadow[str(index)])
    model.eval()

    staging = output_dir.with_name(f".{output_dir.name}.partial-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        trained = {**state["run_config"], "max_steps": state["step"], "epochs": None}
        (staging / RUN_CONFIG).write_text(yaml.safe_dump(trained, sort_keys=False))
        pipeline = pipeline_class_of(registration)(model=model)
        pipeline.save_pretrained(staging, safe_serialization=True, model_card=False)
        finish_folder(staging, pipeline=pipeline)  # the sample grid and the card, last
        if output_dir.exists():
            output_dir.rmdir()
        os.replace(staging, output_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return output_dir
