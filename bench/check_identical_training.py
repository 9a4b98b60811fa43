"""Check that a change to the trainer keeps every result identical: 30-step runs of dcgan, cgan, vae, cvae and resnet,
hashed tensor by tensor.

Each run is a real `genzoo.training.train` run of the family's tuned defaults, made tiny (small widths, batch 16,
seed 0, one thread) on the embedded mnist-5k (resnet at 16 pixels, its smallest resolution). The script prints one
sha256 per saved weight tensor of the pipeline (`model/`), one per file of the final checkpoint (every network, the
EMA, every optimizer state and the RNG states, hashed from the loaded tensors, not the file bytes, so a change of
container format alone does not count), and one digest per run over all of them.

Bit-identity holds on one machine, one thread count and one set of library versions (float rounding depends on all
three), so compare outputs taken on the same machine:

    OMP_NUM_THREADS=1 python bench/check_identical_training.py > before.txt     # on the old code
    OMP_NUM_THREADS=1 python bench/check_identical_training.py --compare before.txt  # on the new code

`--compare` exits non-zero naming every line that differs.
"""

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

#: Tiny but real settings per family (the rest are the family's tuned defaults, as `genzoo train NAME` gives).
RUNS: dict[str, dict[str, Any]] = {
    "dcgan": {
        "model_args": {"latent_dim": 16, "base_channels": 8},
        "objective_args": {"discriminator": {"base_channels": 8}},
    },
    "cgan": {
        "model_args": {"latent_dim": 16, "base_channels": 8},
        "objective_args": {"discriminator": {"base_channels": 8}},
    },
    "vae": {"model_args": {"latent_dim": 8, "base_channels": 8, "hidden_dim": 32}},
    "cvae": {"model_args": {"latent_dim": 8, "base_channels": 8, "hidden_dim": 32}},
    "resnet": {
        "model_args": {"latent_dim": 16, "base_channels": 8, "image_size": 16},
        "objective_args": {"discriminator": {"base_channels": 8}},
    },
}
COMMON = {
    "dataset": "mnist-5k",
    "max_steps": 30,
    "batch_size": 16,
    "seed": 0,
    "num_threads": 1,
    "sample_every": 0,
    "checkpoint_every": 15,
    "checkpoints_total_limit": None,
    "log_every": 10,
    "num_sample_images": 4,
}


def _digest(value: Any, hasher: "hashlib._Hash") -> None:
    """Feed a (nested) state into `hasher`: tensors by dtype, shape and bytes; containers in order; other leaves by
    repr."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        hasher.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
        hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            hasher.update(f"K{key!r}".encode())
            _digest(value[key], hasher)
    elif isinstance(value, list | tuple):
        hasher.update(f"L{len(value)}".encode())
        for item in value:
            _digest(item, hasher)
    elif hasattr(value, "tobytes"):  # numpy arrays in the RNG states
        hasher.update(f"A{getattr(value, 'dtype', '')}{getattr(value, 'shape', '')}".encode() + value.tobytes())
    else:
        hasher.update(f"V{value!r}".encode())


def sha(value: Any) -> str:
    hasher = hashlib.sha256()
    _digest(value, hasher)
    return hasher.hexdigest()


def _load_pickle(path: Path) -> Any:
    from accelerate.utils.other import TORCH_SAFE_GLOBALS

    with torch.serialization.safe_globals(list(TORCH_SAFE_GLOBALS)):
        return torch.load(path, map_location="cpu", weights_only=True)


def hashes_of_run(run: Path) -> list[tuple[str, str]]:
    """(name, sha256) of every pipeline weight tensor and every state file of the final checkpoint."""
    lines = []
    for file in sorted((run / "model").glob("*.safetensors")):
        for key, tensor in sorted(load_file(file).items()):
            lines.append((f"model/{key}", sha(tensor)))
    checkpoint = sorted((run / "checkpoints").glob("step_*"))[-1]
    for file in sorted(checkpoint.iterdir()):
        if file.suffix == ".safetensors":
            lines.append((f"{checkpoint.name}/{file.name}", sha(load_file(file))))
        elif file.suffix in (".bin", ".pkl"):
            lines.append((f"{checkpoint.name}/{file.name}", sha(_load_pickle(file))))
    return lines


def run_family(model: str, root: Path) -> list[tuple[str, str]]:
    from genzoo.config import resolve_train_config
    from genzoo.training import train

    values = {"model": model, "output_dir": str(root / model), **COMMON, **RUNS[model]}
    run = train(resolve_train_config(values))
    return hashes_of_run(run)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--compare", type=Path, help="an earlier output of this script; exit 1 on any difference")
    args = parser.parse_args()
    torch.set_num_threads(1)
    output = []
    with tempfile.TemporaryDirectory() as root:
        for model in args.models:
            lines = run_family(model, Path(root))
            output += [f"{model} {name} {digest}" for name, digest in lines]
            output.append(f"{model} ALL {sha([d for _, d in lines])}")
    print("\n".join(output), flush=True)
    if args.compare is None:
        return 0
    before = {line.rsplit(" ", 1)[0]: line for line in args.compare.read_text().splitlines() if line.count(" ") == 2}
    now = {line.rsplit(" ", 1)[0]: line for line in output}
    differ = sorted(key for key in set(before) | set(now) if before.get(key) != now.get(key))
    for key in differ:
        was, now_value = before.get(key, "-").rsplit(" ", 1)[-1], now.get(key, "-").rsplit(" ", 1)[-1]
        print(f"DIFFERS: {key}: before {was} now {now_value}")
    print(f"{len(now) - len(differ)} of {len(set(before) | set(now))} hashes identical", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
