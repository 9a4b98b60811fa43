"""Start-up: what genzoo's commands cost before they do any work, against importing torch (and diffusers).

Three figures, each the median [min-max] of the per-round ratios genzoo / baseline, for CPU and wall time. Every
command runs in a fresh interpreter (CPU time is the child's user + system time), and each round runs every
command once, in turn, so a change in the machine's load hits both sides of a ratio alike:

1. `genzoo plugins` against `python -c "import torch"` (goal: at most 1.5x);
2. `genzoo --help` against `python -c "import torch"` (goal: far below 1);
3. `from genzoo import GenPipeline; GenPipeline.from_pretrained(folder)` (a tiny DCGAN folder written first)
   against `import torch; from diffusers import DiffusionPipeline` (goal: at most 1.05x).

    python bench/startup_speed.py                   # 5 rounds, 1 thread
    python bench/startup_speed.py --rounds 9 --threads 2

Before timing, genzoo's and its plugins' modules are byte-compiled (`compileall`), as pip does when it installs a
wheel: an editable install run with `PYTHONDONTWRITEBYTECODE=1` would otherwise compile genzoo's source in every
interpreter, while torch and diffusers load their compiled files (that alone added about 0.05x to the third ratio).

The figures in bench/README.md come from the first command.
"""

import argparse
import compileall
import importlib.metadata
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(code: str, threads: int) -> tuple[float, float]:
    """CPU seconds (user + system of the child) and wall seconds of `python -c code` in a fresh interpreter."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    wall = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - wall
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{code!r} failed with exit status {process.returncode}")
    return usage.ru_utime + usage.ru_stime, wall


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def write_tiny_pipeline(folder: Path) -> None:
    code = (
        "from genzoo import GenPipeline; from genzoo_gan import DCGANGenerator; "
        "model = DCGANGenerator(latent_dim=8, image_size=28, num_channels=1, base_channels=8); "
        f"GenPipeline(model=model).save_pretrained({str(folder)!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def compile_genzoo() -> list[str]:
    """Byte-compile genzoo and every package its `genzoo` entry points name, without importing them."""
    packages = {"genzoo"} | {ep.module.partition(".")[0] for ep in importlib.metadata.entry_points(group="genzoo")}
    compiled = []
    for name in sorted(packages):
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(location, quiet=1)
            compiled.append(name)
    return compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    compiled = compile_genzoo()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tiny-dcgan"
        write_tiny_pipeline(folder)
        commands = {
            "torch": "import torch",
            "torch+diffusers": "import torch; from diffusers import DiffusionPipeline",
            "plugins": "from genzoo.cli import main; main(['plugins'])",
            "help": "from genzoo.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
            "from_pretrained": f"from genzoo import GenPipeline; GenPipeline.from_pretrained({str(folder)!r})",
        }
        for code in commands.values():  # warm the file cache: the first import of torch reads it from disk
            run_once(code, args.threads)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, code in commands.items():
                times[name].append(run_once(code, args.threads))

    pairs = {
        "`genzoo plugins` / `import torch`": ("plugins", "torch"),
        "`genzoo --help` / `import torch`": ("help", "torch"),
        "`from_pretrained` + import / `import torch; from diffusers import DiffusionPipeline`": (
            "from_pretrained",
            "torch+diffusers",
        ),
    }
    print(
        f"start-up, {args.rounds} rounds, {args.threads} thread(s), byte-compiled first: {', '.join(compiled)}; "
        "ratios genzoo / baseline:"
    )
    for label, (ours, theirs) in pairs.items():
        cpu = [a[0] / b[0] for a, b in zip(times[ours], times[theirs], strict=True)]
        wall = [a[1] / b[1] for a, b in zip(times[ours], times[theirs], strict=True)]
        print(f"  {label}: CPU {summary(cpu)}, wall {summary(wall)}")
    # Under load the baseline's own time swings by more than genzoo adds; the difference says what genzoo adds.
    added = [a[0] - b[0] for a, b in zip(times["from_pretrained"], times["torch+diffusers"], strict=True)]
    print(f"  `from_pretrained` + import - `import torch; from diffusers ...`: CPU {summary(added)} s")
    for name, values in times.items():
        print(f"    {name}: median CPU {statistics.median(v[0] for v in values):.2f} s")


if __name__ == "__main__":
    main()
