"""Pipeline export: the final pipeline of a run, written atomically into the run folder, and `export_checkpoint`,
which turns any training checkpoint into a pipeline folder.

The run folder is the pipeline folder (`GenPipeline.from_pretrained(run)`), so the pipeline cannot be renamed into
place as one folder. It is written whole to a temporary folder first; renaming that folder to `.pipeline.ready` is
the moment the new pipeline counts as written. The entries are then moved in, `model_index.json` out first and in
last, so the folder never reads as a pipeline whose files come from two steps. A run killed after that moment is
finished by the next trainer of the folder (`finish_pipeline_swap`); one killed before it keeps the old pipeline,
which the next `--resume latest` finds older than the newest checkpoint and exports again.
"""

import dataclasses
import itertools
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml
from safetensors.torch import load_file

from ..config import TrainConfig, read_run_config
from ..errors import ConfigError, GenzooError
from ..folder import RUN_CONFIG, check_weights_size
from ..hub import finish_folder
from ..modeling import sampling_mode
from ..pipeline import pipeline_class_of
from ..registry import get_model
from .checkpoints import (
    EMA_FILE,
    checkpoint_problem,
    find_checkpoint,
    is_checkpoint_folder,
    list_checkpoints,
    read_checkpoint_state,
)
from .trackers import sample_grid

if TYPE_CHECKING:
    from ..registry import ModelRegistration

__all__ = ["export_checkpoint", "finish_pipeline_swap", "pipeline_step", "save_pipeline"]

MODEL_INDEX = "model_index.json"
#: The complete new pipeline, waiting to be moved into the run folder (the commit point of `save_pipeline`).
PIPELINE_READY = ".pipeline.ready"
#: The entries of the pipeline being replaced, removed once the swap is complete.
PIPELINE_OLD = ".pipeline.old"


def save_pipeline(
    registration: "ModelRegistration",
    model: Any,
    output_dir: Path,
    config: TrainConfig,
    sample_inputs: tuple[torch.Tensor, torch.Tensor | None],
    real_images: tuple[torch.Tensor, torch.Tensor | None],
    token: str,
) -> None:
    """Write the pipeline, run config, final grid, model card and the pipeline's figures of real images (if any) to
    a staging folder, then swap it into `output_dir` as a whole (see the module's docstring)."""
    staging = output_dir / f".pipeline.partial-{token}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    (staging / RUN_CONFIG).write_text(config.to_yaml())
    grid = sample_grid(registration, model, None, *sample_inputs)
    pipeline = pipeline_class_of(registration)(model=model)
    pipeline.save_pretrained(staging, safe_serialization=True, model_card=False)
    with sampling_mode(model):
        images, labels = real_images
        # Labels only when the data has them, so a plugin's override without `class_labels` keeps working.
        extra = {"class_labels": labels.to(model.device)} if labels is not None else {}
        for name, figure in pipeline.real_image_grids(images.to(model.device, model.dtype), **extra).items():
            figure.save(staging / f"{name}.png")
    finish_folder(staging, sample_grid=grid)  # the card last, from the finished folder
    ready = output_dir / PIPELINE_READY
    if ready.exists():  # an older committed pipeline that was never moved in: this one replaces it
        shutil.rmtree(ready)
    os.replace(staging, ready)  # the commit point
    finish_pipeline_swap(output_dir)


def finish_pipeline_swap(output_dir: Path) -> bool:
    """Move a committed pipeline (`.pipeline.ready`) into the run folder, replacing the old one's entries; safe to
    repeat after a kill at any point. Returns whether there was one. Only the trainer holding the run's lock calls it.
    """
    ready, old = output_dir / PIPELINE_READY, output_dir / PIPELINE_OLD
    if not ready.is_dir():
        return False
    old.mkdir(exist_ok=True)
    entries = sorted(ready.iterdir(), key=lambda p: (p.name == MODEL_INDEX, p.name))
    if (ready / MODEL_INDEX).exists():  # first: the folder stops reading as a pipeline until the new one is whole
        _move_aside(output_dir / MODEL_INDEX, old)
    for entry in entries:
        _move_aside(output_dir / entry.name, old)
        os.replace(entry, output_dir / entry.name)
    ready.rmdir()
    shutil.rmtree(old)
    return True


def _move_aside(path: Path, folder: Path) -> None:
    if not (path.exists() or path.is_symlink()):
        return
    target = folder / path.name
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    os.replace(path, target)


def pipeline_step(output_dir: Path) -> int | None:
    """The step of the pipeline in a run folder (its `run_config.yaml` records the steps its weights have), or `None`
    when the folder holds no complete pipeline or its record cannot be read."""
    if not (output_dir / MODEL_INDEX).is_file() or not (output_dir / RUN_CONFIG).is_file():
        return None
    try:
        return read_run_config(output_dir / RUN_CONFIG).max_steps
    except ConfigError:
        return None


def trained_config(config: TrainConfig, steps: int) -> TrainConfig:
    """The run config as a record of what was trained: its length set to the steps the weights have."""
    if config.max_steps == steps:
        return config
    return dataclasses.replace(config, max_steps=steps, epochs=None)


def fixed_real_images(train_data: Any, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The first `count` training images in [-1, 1] and their labels (`None` without), for figures such as a VAE's
    reconstructions."""
    if isinstance(train_data, torch.utils.data.IterableDataset):
        train_data.set_epoch(0)
        rows = list(itertools.islice(train_data, count))
        labels = [row["class_labels"] for row in rows] if rows and "class_labels" in rows[0] else None
        return torch.stack([row["pixel_values"] for row in rows]), None if labels is None else torch.as_tensor(labels)
    batch = train_data.__getitems__(list(range(min(count, len(train_data)))))
    return batch["pixel_values"], batch.get("class_labels")


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

    Raises:
        `GenzooError`: the folder is no (complete) checkpoint, the export folder is not empty, or the model config
            the checkpoint records does not fit its weights (checked before the model is built).
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
    try:
        config = TrainConfig.from_dict(state["run_config"])
    except (ConfigError, TypeError, KeyError) as exc:
        raise GenzooError(f"Cannot export {str(checkpoint)!r}: its run config is not valid: {exc}") from exc
    registration = get_model(config.model)
    model_config = {k: v for k, v in dict(state.get("model_config") or {}).items() if not k.startswith("_")}
    _check_model_fits_weights(registration.generator_class, model_config, checkpoint / "model.safetensors")
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


def _check_model_fits_weights(generator_class: type, model_config: dict[str, Any], weights: Path) -> None:
    """Build the generator the checkpoint's state describes on the meta device (no memory) and compare its tensors
    with the headers of the checkpoint's weights, so an absurd recorded size (`latent_dim: 2**33`) is refused before
    anything is allocated."""
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as handle:
        shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    check_weights_size(sum(math.prod(shape) * 8 for shape in shapes.values()), weights.parent)
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in generator_class.from_config(model_config).state_dict().items()}
    except (ValueError, TypeError, RuntimeError, OverflowError, MemoryError, NotImplementedError) as exc:
        raise GenzooError(
            f"Cannot export {str(weights.parent)!r}: the model config it records does not build a "
            f"{generator_class.__name__} ({' '.join(str(exc).split())[:200]})."
        ) from exc
    if expected != shapes:
        differ = sorted(key for key in set(expected) | set(shapes) if expected.get(key) != shapes.get(key))
        raise GenzooError(
            f"Cannot export {str(weights.parent)!r}: the model config it records does not match its weights "
            f"({differ[0]}: {list(expected.get(differ[0], ()))} in the config, "
            f"{list(shapes.get(differ[0], ()))} in the weights); the checkpoint's genzoo_state.json was changed."
        )
