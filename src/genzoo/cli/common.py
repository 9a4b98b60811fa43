"""What several commands share: the loading options and the pipeline they load, output paths, class labels and
the cheap checks that run before torch is imported."""

import argparse
from pathlib import Path
from typing import Any

from ..errors import GenzooError, check_writable

__all__ = [
    "DTYPES",
    "add_loading_options",
    "check_existing_file",
    "check_folder",
    "check_output_path",
    "check_pipeline_source",
    "class_label",
    "int64",
    "load_pipeline",
    "resolve_device",
    "save_image",
    "seed",
    "silence_dataset_bars",
    "silence_loading_bars",
]

# The dtypes --dtype takes, as names of torch attributes.
DTYPES = ("float32", "float16", "bfloat16")


# torch seeds a generator with a 64-bit integer and stores class labels as int64: larger numbers would end in
# "Overflow when unpacking long long".
SEED_RANGE = (-(2**63), 2**64 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)


def seed(text: str) -> int:
    """An argparse type: a `--seed` that torch can take, as an integer of 64 bits."""
    return _bounded_int(text, *SEED_RANGE)


def int64(text: str) -> int:
    """An argparse type: an integer that fits 64 bits (a `--class-label`; the model refuses one out of its range)."""
    return _bounded_int(text, *INT64_RANGE)


def _bounded_int(text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text} does not fit 64 bits; use a number from {low} to {high}")
    return value


def add_loading_options(parser: argparse.ArgumentParser, dtype: bool = True) -> None:
    """--device, --dtype and --revision, the options of every command that loads a pipeline to sample it."""
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    if dtype:
        parser.add_argument("--dtype", choices=DTYPES, help="load the weights in this dtype (default: as saved)")
    parser.add_argument("--revision", help="Hub revision")


def resolve_device(name: str | None) -> str:
    """The torch device a command runs on: `name` checked (one line for `nonsense`, or `cuda` without CUDA), or
    cuda when available, else cpu."""
    import torch  # lazy: `genzoo --help` and the cheap checks run without torch

    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r} is not a torch device; use cpu, cuda, cuda:1, mps, ...") from exc
    if device.type == "meta":
        raise ValueError("--device meta holds no data, so it cannot sample; use cpu or cuda.")
    if device.type == "cpu":
        return name
    backend = getattr(torch, device.type, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise ValueError(
            f"--device {name!r}: this machine has no {device.type} device (or torch was built without it); "
            "use --device cpu."
        )
    count = getattr(backend, "device_count", None)
    if device.index is not None and count is not None and device.index >= count():
        raise ValueError(f"--device {name!r}: this machine has {count()} {device.type} device(s), numbered from 0.")
    return name


def load_pipeline(args: argparse.Namespace) -> Any:
    """The pipeline a command names, loaded with its --revision (and --dtype) and moved to its --device, which is
    checked before the slow loading."""
    import torch  # lazy: the trainer-free commands import torch only once their arguments are checked

    from ..pipeline import GenPipeline  # lazy

    device = resolve_device(args.device)
    silence_loading_bars()
    options: dict[str, Any] = {"revision": args.revision}
    if getattr(args, "dtype", None):
        options["dtype"] = getattr(torch, args.dtype)
    return GenPipeline.from_pretrained(args.pipeline, **options).to(device)


def silence_loading_bars() -> None:
    """Turn off diffusers' "Loading pipeline components..." bar: a component loads in an instant, and stderr is kept
    for what matters."""
    from diffusers.utils import logging as diffusers_logging  # lazy

    diffusers_logging.disable_progress_bar()


def silence_dataset_bars() -> None:
    """Turn off `datasets`' "Generating train split" bars: preparing a folder or parquet split (the held-out one of
    an evaluation too) takes a moment, and genzoo's own progress bar says what is happening."""
    import datasets  # lazy

    datasets.disable_progress_bars()


def check_output_path(output: str) -> None:
    """Refuse an `-o` path that cannot take an image (a folder, a path under a file, a suffix PIL does not know, a
    location where no file can be created), before the slow loading and sampling."""
    import PIL.Image  # lazy

    path = Path(output)
    if path.is_dir():
        raise ValueError(f"-o {output!r} is a folder; pass a file name such as {str(path / 'grid.png')!r}.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"-o {output!r}: {str(parent)!r} is a file, not a folder; choose another path.")
            break
    if path.suffix.lower() not in PIL.Image.registered_extensions():
        raise ValueError(f"-o {output!r} has no image suffix PIL can write, such as .png or .jpg.")
    check_writable(path, "-o")


def save_image(image: Any, output: str) -> None:
    """Save a grid to `-o`, creating its folder as `--json` does."""
    check_output_path(output)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def class_label(value: str | None) -> int | str | None:
    """A `--class-label` as an index when it is a number (one that fits 64 bits), else as a class name."""
    if value is None:
        return None
    if not value.lstrip("-").isdigit():
        return value
    try:
        return int64(value)
    except argparse.ArgumentTypeError as exc:
        raise GenzooError(f"--class-label {exc}.") from None


# Cheap checks: each runs before torch is imported, so a mistyped path is answered at once -----------------------


def check_pipeline_source(name: str) -> None:
    """Refuse, in one line, a PIPELINE argument that can be neither a local pipeline folder nor a Hub repo id: a path
    that does not exist, a file, or a folder without `model_index.json` (a checkpoint or an unfinished run gets the
    `genzoo export` command that turns it into one). Text such as `org/name` is left to the Hub resolution."""
    from ..folder import check_is_pipeline_folder  # lazy: only commands that load a pipeline need it (no torch)

    path = Path(name).expanduser()
    if path.is_dir():
        check_is_pipeline_folder(path, name)
        return
    if path.exists():
        raise GenzooError(f"{name} is a file; a pipeline is a folder with model_index.json (or a Hub repo id).")
    if name.count("/") != 1 or name.startswith((".", "/", "~")) or name.endswith("/"):
        raise GenzooError(
            f"No such folder: {name} (a pipeline is a folder written by `genzoo train` or save_pretrained, or a Hub "
            "repo id like 'org/name')."
        )


def check_folder(name: str, what: str) -> None:
    """Refuse a folder argument (`what`, as the user typed it) that does not exist or is a file."""
    path = Path(name).expanduser()
    if not path.exists():
        raise GenzooError(f"No such folder: {name} ({what}).")
    if not path.is_dir():
        raise GenzooError(f"{what} {name} is a file, not a folder.")


def check_existing_file(name: str, what: str) -> None:
    """Refuse a file argument (`what`, as the user typed it) that does not exist or is a folder."""
    path = Path(name).expanduser()
    if not path.exists():
        raise GenzooError(f"No such file: {name} ({what}).")
    if path.is_dir():
        raise GenzooError(f"{what} {name} is a folder; give a file.")
