"""The command line's bad-input sweep: every case runs through the real `genzoo` entry point (`cli.main`, in
process, so the sweep stays fast) and must end in exactly one line on stderr starting `genzoo: error:`, a non-zero
exit, no traceback, and nothing written or overwritten in the folder it ran in.

Add a case to `CASES` for every new refusal. `{tmp}` is the test's folder (also the working directory), `{pipe}` a
fresh copy of a tiny saved pipeline that a case's `setup` may damage, `{file}` a plain file and `{grid}` an existing
PNG that no failing command may overwrite, `{unwritable}` a folder in which no file can be created.
"""

import hashlib
import json
import os
import pickle
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from genzoo import GenPipeline, cli
from genzoo_gan import DCGANGenerator

WEIGHTS = "model/diffusion_pytorch_model.safetensors"
# A tiny, fast DCGAN run; the cases below break one thing about it.
TRAIN = [
    "train", "dcgan", "--output-dir", "{tmp}/run", "--max-steps", "1", "--batch-size", "4",
    "--set", "model_args.latent_dim=8", "--set", "model_args.base_channels=8",
    "--set", "objective_args.discriminator.base_channels=8", "--sample-every", "0",
]  # fmt: skip


@dataclass
class Case:
    id: str
    argv: list[str]
    message: str  # a part of the one-line error
    setup: Callable[[Path], None] | None = None


def write(name: str, text: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / name).write_text(text)

    return setup


def damage_pipeline(change: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda tmp: change(tmp / "pipe")


def truncate(pipe: Path) -> None:
    weights = pipe / WEIGHTS
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def index_only(pipe: Path) -> None:  # a save killed after model_index.json and the config
    (pipe / WEIGHTS).unlink()


def weights_only(pipe: Path) -> None:  # a save killed before model_index.json
    (pipe / "model_index.json").unlink()


def rename_component(name: str) -> Callable[[Path], None]:
    def change(pipe: Path) -> None:
        index = json.loads((pipe / "model_index.json").read_text())
        index[name] = index.pop("model")
        (pipe / "model_index.json").write_text(json.dumps(index))
        if name.isidentifier():
            shutil.copytree(pipe / "model", pipe / name)
        else:  # where the name points, a complete component that must never be read
            shutil.copytree(pipe / "model", pipe.parent / "outside_weights")

    return change


def digits_folder(change: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """`{tmp}/digits`: ten small greyscale images (then `change` breaks one of them)."""

    def setup(tmp: Path) -> None:
        (tmp / "digits").mkdir()
        for i in range(10):
            Image.fromarray(np.full((8, 8), i * 25, dtype=np.uint8)).save(tmp / "digits" / f"{i:02d}.png")
        if change is not None:
            change(tmp / "digits")

    return setup


def mixed_size_folder(tmp: Path) -> None:
    """`{tmp}/mixed`: RGB images of several sizes, the first 77 px wide (a size DCGAN cannot build)."""
    (tmp / "mixed").mkdir()
    for i, (width, height) in enumerate([(77, 77), (64, 80), (100, 50), (32, 32)]):
        Image.new("RGB", (width, height), (i * 60, 20, 200)).save(tmp / "mixed" / f"{i}.png")


def corrupt_middle(folder: Path) -> None:  # only row 5 is broken: a lazy loader would fail mid-training
    (folder / "05.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")


def float_image(folder: Path) -> None:
    Image.fromarray(np.random.default_rng(0).random((8, 8), dtype=np.float32)).save(folder / "06.tiff")


def parquet(columns: dict, features: dict | None = None) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        data = datasets.Dataset.from_dict(columns, features=datasets.Features(features) if features else None)
        data.to_parquet(str(tmp / "data.parquet"))

    return setup


def half_json(relative: str) -> Callable[[Path], None]:  # a write killed halfway through the file
    def change(pipe: Path) -> None:
        text = (pipe / relative).read_text()
        (pipe / relative).write_text(text[: len(text) // 2])

    return change


def edit_config(**changes) -> Callable[[Path], None]:
    def change(pipe: Path) -> None:
        config = json.loads((pipe / "model" / "config.json").read_text())
        (pipe / "model" / "config.json").write_text(json.dumps({**config, **changes}))

    return change


def write_bytes(relative: str, data: bytes) -> Callable[[Path], None]:
    return lambda pipe: (pipe / relative).write_bytes(data)


def deep_json(depth: int = 100_000) -> bytes:
    return b'{"a": ' + b"[" * depth + b"]" * depth + b"}"


def alias_bomb(levels: int = 30) -> bytes:  # 2**30 values once expanded, from 1 KB of YAML
    lines = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


def stats_file(name: str, write_it: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda tmp: write_it(tmp / name)


def config_only(pipe: Path) -> None:  # a first save killed after the component's config
    (pipe / WEIGHTS).unlink()
    (pipe / "model_index.json").unlink()


SAMPLE = ["sample", "{pipe}", "-n", "2", "-o", "{grid}"]
DATA = [*TRAIN, "--dataset"]
CGAN = ["train", "cgan", *TRAIN[2:]]
INTERPOLATE = ["interpolate", "{pipe}", "-o", "{grid}"]
CONFIG = [*TRAIN, "--config", "{tmp}/run.yaml"]

CASES = [
    # --- configs -------------------------------------------------------------------------------------------------
    Case("yaml-malformed", CONFIG, "not valid YAML", write("run.yaml", "a: [1,\n")),
    Case("yaml-not-a-mapping", CONFIG, "must hold a mapping", write("run.yaml", "- 1\n")),
    Case("yaml-unknown-key", CONFIG, "Did you mean 'seed'", write("run.yaml", "sed: 1\n")),
    Case("yaml-wrong-type", CONFIG, "batch_size expects an integer",
         write("run.yaml", "batch_size: many\n")),
    Case("yaml-missing", [*TRAIN, "--config", "{tmp}/nope.yaml"], "does not exist"),
    Case("yaml-negative-steps", [*CONFIG, "--max-steps", "-1"], "max_steps must be at least 1",
         write("run.yaml", "seed: 1\n")),
    Case("zero-steps", [*TRAIN, "--max-steps", "0"], "max_steps must be at least 1"),
    Case("zero-epochs", [*TRAIN[:4], "--epochs", "0", *TRAIN[6:]], "epochs must be at least 1"),
    Case("zero-batch", [*TRAIN, "--batch-size", "0"], "batch_size must be at least 1"),
    Case("negative-batch", [*TRAIN, "--set", "batch_size=-8"], "batch_size must be at least 1"),
    Case("set-without-value", [*TRAIN, "--set", "batch_size"], "expects key=value"),
    Case("set-unknown-top-level", [*TRAIN, "--set", "sed=3"], "Did you mean 'seed'"),
    Case("set-nested-objective-typo", [*TRAIN, "--set", "objective_args.lrr=0.1"], "Did you mean 'lr'"),
    Case("set-nested-model-typo", [*TRAIN, "--set", "model_args.latent_dimm=8"], "Did you mean 'latent_dim'"),
    Case("set-nested-discriminator-typo", [*TRAIN, "--set", "objective_args.discriminator.base_channel=8"],
         "Did you mean 'base_channels'"),
    Case("dataset-near-miss", [*TRAIN, "--dataset", "mnist"], "Did you mean 'mnist-5k'"),
    Case("model-unknown", ["train", "dcgann", "--output-dir", "{tmp}/run"], "Did you mean 'dcgan'"),
    Case("latent-dim-zero", [*TRAIN, "--set", "model_args.latent_dim=0"], "latent_dim to be a positive integer"),
    Case("base-channels-negative", [*TRAIN, "--set", "model_args.base_channels=-4"], "base_channels to be a positive"),
    Case("discriminator-width-zero", [*TRAIN, "--set", "objective_args.discriminator.base_channels=0"],
         "base_channels to be a positive integer"),
    Case("no-output-dir", TRAIN[:2] + TRAIN[4:], "No output directory"),
    Case("ada-target-above-one", [*TRAIN, "--set", "objective_args.ada_target=1.5"],
         "ada_target must lie strictly between 0 and 1"),
    Case("ada-target-zero", [*TRAIN, "--set", "objective_args.ada_target=0"],
         "ada_target must lie strictly between 0 and 1"),
    Case("ada-unknown-transform", [*TRAIN, "--set", "objective_args.ada_target=0.6", "--set",
                                   "objective_args.ada_augment=xflip,hue"], "Unknown ADA transform 'hue'"),
    Case("ada-option-without-target", [*TRAIN, "--set", "objective_args.ada_kimg=10"],
         "has no effect without objective_args.ada_target"),
    Case("lecam-negative", [*TRAIN, "--set", "objective_args.lecam_weight=-0.1"],
         "lecam_weight must be a finite number >= 0"),
    Case("augment-unknown", [*TRAIN, "--set", "objective_args.augment=translation,flip"],
         "Unknown augmentation 'flip'"),
    # --- data ----------------------------------------------------------------------------------------------------
    Case("data-empty-folder", [*DATA, "imagefolder:{tmp}/empty"], "Could not read images",
         lambda tmp: (tmp / "empty").mkdir()),
    Case("data-corrupt-image-mid-folder", [*DATA, "imagefolder:{tmp}/digits"], "05.png) cannot be decoded",
         digits_folder(corrupt_middle)),
    Case("data-float-image", [*DATA, "imagefolder:{tmp}/digits"], "06.tiff): Floating-point images (PIL mode F)",
         digits_folder(float_image)),
    Case("data-parquet-without-image-column", [*DATA, "parquet:{tmp}/data.parquet"], "has no image column among",
         parquet({"caption": ["a", "b"], "label": [0, 1]})),
    Case("data-parquet-huge-label", [*CGAN, "--dataset", "parquet:{tmp}/data.parquet"],
         "implies 1,000,001 classes",
         parquet({"image": [Image.new("L", (8, 8))] * 8, "label": [0] * 7 + [1_000_000]},
                 {"image": datasets.Image(), "label": datasets.Value("int64")})),
    Case("data-parquet-missing", [*DATA, "parquet:{tmp}/nope.parquet"], "nope.parquet"),
    Case("data-folder-missing", [*DATA, "{tmp}/faces"], "/faces (the dataset must be a folder of images"),
    Case("data-cgan-on-unlabelled-folder", [*CGAN, "--dataset", "{tmp}/digits"],
         "has no label column: an image folder needs one sub-folder per class", digits_folder()),
    Case("data-mixed-sizes-unsupported-first", [*DATA, "{tmp}/mixed"], "pass --resolution N", mixed_size_folder),
    Case("data-hf-offline", [*DATA, "hf:nobody/no-such-dataset"],
         "Could not load Hub dataset 'nobody/no-such-dataset'"),
    Case("data-arg-typo", [*TRAIN, "--dataset-arg", "colr=1"], "does not take colr"),
    Case("data-arg-bad-crop", [*TRAIN, "--dataset-arg", "crop=diagonal"], "crop must be 'center' or 'random'"),
    # --- output paths --------------------------------------------------------------------------------------------
    Case("train-output-is-a-file", [*TRAIN[:3], "{file}", *TRAIN[4:]], "is a file"),
    Case("train-output-under-a-file", [*TRAIN[:3], "{file}/run", *TRAIN[4:]], "file"),
    Case("sample-output-under-a-file", [*SAMPLE[:-1], "{file}/grid.png"], "is a file, not a folder"),
    Case("sample-output-is-a-folder", [*SAMPLE[:-1], "{tmp}"], "is a folder"),
    Case("sample-output-unknown-format", [*SAMPLE[:-1], "{tmp}/grid.xyz"], "image suffix"),
    Case("interpolate-output-under-a-file", [*INTERPOLATE[:-1], "{file}/i.png"], "is a file, not a folder"),
    Case("sample-folder-output-is-a-file", [*SAMPLE[:-1], "{file}", "--format", "folder"], "not an empty folder"),
    # --- pipelines -----------------------------------------------------------------------------------------------
    Case("pipeline-missing", ["sample", "{tmp}/nope", "-o", "{grid}"], "No such folder"),
    Case("pipeline-empty-folder", ["sample", "{tmp}/empty", "-o", "{grid}"], "no model_index.json",
         lambda tmp: (tmp / "empty").mkdir()),
    Case("pipeline-index-without-weights", SAMPLE, "has no safetensors weights", damage_pipeline(index_only)),
    Case("pipeline-weights-without-index", SAMPLE, "no model_index.json", damage_pipeline(weights_only)),
    Case("pipeline-truncated-weights", SAMPLE, "corrupt or truncated", damage_pipeline(truncate)),
    Case("pipeline-config-only", SAMPLE, "no model_index.json", damage_pipeline(config_only)),
    Case("pipeline-half-written-index", SAMPLE, "not valid JSON", damage_pipeline(half_json("model_index.json"))),
    Case("pipeline-half-written-config", SAMPLE, "config.json is not valid JSON",
         damage_pipeline(half_json("model/config.json"))),
    Case("pipeline-config-missing", SAMPLE, "config.json",
         damage_pipeline(lambda pipe: (pipe / "model" / "config.json").unlink())),
    Case("pipeline-index-not-json", SAMPLE, "not valid JSON",
         damage_pipeline(lambda pipe: (pipe / "model_index.json").write_text("{"))),
    Case("pipeline-component-escapes", SAMPLE, "plain identifier",
         damage_pipeline(rename_component("../outside_weights"))),
    Case("pipeline-component-absolute", SAMPLE, "plain identifier", damage_pipeline(rename_component("/etc"))),
    Case("pipeline-component-unusable", SAMPLE, "needs 'model'", damage_pipeline(rename_component("vae"))),
    # --- untrusted pipeline files: bounded before anything is allocated, one line naming the file -------------------
    Case("pipeline-config-size-overflows", SAMPLE, "config.json describes a DCGANGenerator too large to build",
         damage_pipeline(edit_config(base_channels=2**31))),
    Case("pipeline-config-size-over-the-cap", SAMPLE, "describes take 1.31e+05 GB, more than",
         damage_pipeline(edit_config(base_channels=2**20))),
    Case("pipeline-config-int-beyond-64-bits", SAMPLE, "does not fit 64 bits",
         damage_pipeline(edit_config(latent_dim=2**64))),
    Case("pipeline-index-binary", SAMPLE, "model_index.json is not valid UTF-8 JSON",
         damage_pipeline(write_bytes("model_index.json", b"\xff\xfe\x00\x01binary"))),
    Case("pipeline-index-deeply-nested", SAMPLE, "model_index.json is not valid JSON: it is nested too deeply",
         damage_pipeline(write_bytes("model_index.json", deep_json()))),
    Case("pipeline-config-deeply-nested", SAMPLE, "config.json is not valid JSON: it is nested too deeply",
         damage_pipeline(write_bytes("model/config.json", deep_json()))),
    Case("pipeline-shard-index-deeply-nested", SAMPLE, "index.json is not valid JSON: it is nested too deeply",
         damage_pipeline(write_bytes("model/diffusion_pytorch_model.safetensors.index.json", deep_json()))),
    Case("pipeline-eval-results-deeply-nested", SAMPLE, "eval_results.json is not valid JSON: it is nested too",
         damage_pipeline(write_bytes("eval_results.json", deep_json()))),
    Case("pipeline-eval-results-huge", SAMPLE, "eval_results.json takes 2,000,019 bytes, more than",
         damage_pipeline(write_bytes("eval_results.json", b'{"fid": 1, "x": "' + b"x" * 2_000_000 + b'"}'))),
    Case("pipeline-run-config-alias-bomb", SAMPLE, "run_config.yaml expands to more than",
         damage_pipeline(write_bytes("run_config.yaml", alias_bomb()))),
    Case("push-repo-id-with-dots", ["push", "{pipe}", "org/.."], "'org/..' is not a valid Hub repo id"),
    Case("push-repo-id-double-dot", ["push", "{pipe}", "org/a..b"], "Cannot have -- or .. in repo_id"),
    # --- reference statistics: one line naming the file and what it must hold ---------------------------------------
    Case("evaluate-reference-stats-npy", ["evaluate", "{pipe}", "--reference-stats", "{tmp}/stats.npy"],
         "stats.npy': it is a single .npy array, and it must be an .npz archive",
         stats_file("stats.npy", lambda path: np.save(path, np.zeros(4)))),
    Case("evaluate-reference-stats-text", ["evaluate", "{pipe}", "--reference-stats", "{tmp}/stats.npz"],
         "stats.npz': it is not an .npz archive, and it must be an .npz archive",
         stats_file("stats.npz", lambda path: path.write_text("mu = 0\n"))),
    Case("evaluate-reference-stats-raw-pickle", ["evaluate", "{pipe}", "--reference-stats", "{tmp}/stats.npz"],
         "'mu' of shape (dim,)",
         stats_file("stats.npz", lambda path: path.write_bytes(pickle.dumps({"mu": [0.0], "sigma": [[1.0]]})))),
    Case("evaluate-reference-stats-pickled-arrays", ["evaluate", "{pipe}", "--reference-stats", "{tmp}/stats.npz"],
         "(it holds pickled objects): it must be an .npz archive",
         stats_file("stats.npz", lambda path: np.savez(path, mu=np.array([{"a": 1}], dtype=object), sigma=np.eye(1)))),
    Case("evaluate-not-a-pipeline", ["evaluate", "{tmp}/empty", "--json", "{tmp}/r.json"], "no model_index.json",
         lambda tmp: (tmp / "empty").mkdir()),
    Case("push-not-a-pipeline", ["push", "{tmp}/empty", "org/name"], "no model_index.json",
         lambda tmp: (tmp / "empty").mkdir()),
    # --- sampling options ----------------------------------------------------------------------------------------
    Case("sample-zero-images", [*SAMPLE[:2], "-n", "0", "-o", "{grid}"], "must be at least 1, got 0"),
    Case("sample-zero-batch", [*SAMPLE, "--batch-size", "0"], "must be at least 1"),
    Case("explore-output-is-a-folder", ["explore", "{pipe}", "-o", "{tmp}"], "is a folder"),
    Case("interpolate-zero-rows", [*INTERPOLATE, "--rows", "0"], "--rows must be at least 1"),
    Case("sample-labels-unconditional", [*SAMPLE, "--class-label", "3"], "unconditional"),
    # --- devices -------------------------------------------------------------------------------------------------
    Case("sample-device-nonsense", [*SAMPLE, "--device", "nonsense"], "not a torch device"),
    Case("interpolate-device-nonsense", [*INTERPOLATE, "--device", "gpu0"], "not a torch device"),
    Case("evaluate-device-nonsense", ["evaluate", "{pipe}", "--device", "nonsense"], "not a torch device"),
]  # fmt: skip

if not torch.cuda.is_available():  # the machines this suite runs on; a GPU machine has CUDA to refuse nothing
    CASES += [
        Case("sample-device-cuda", [*SAMPLE, "--device", "cuda"], "no cuda device"),
        Case("interpolate-device-cuda", [*INTERPOLATE, "--device", "cuda:0"], "no cuda"),
        Case("evaluate-device-cuda", ["evaluate", "{pipe}", "--device", "cuda"], "no cuda device"),
    ]

# A folder that takes no new file: read-only for a user (not for root, whom permissions do not stop), and on Linux
# also a folder of /proc, which takes none even from root.
UNWRITABLE = {"chmod": "{tmp}/readonly"} if os.name == "posix" and os.geteuid() != 0 else {}
if sys.platform.startswith("linux") and Path("/proc/self").is_dir():
    UNWRITABLE["proc"] = "/proc/self"
for kind, folder in UNWRITABLE.items():
    CASES += [
        Case(f"train-output-unwritable-{kind}", [*TRAIN[:3], f"{folder}/run", *TRAIN[4:]], "cannot create files in"),
        Case(f"sample-output-unwritable-{kind}", [*SAMPLE[:-1], f"{folder}/grid.png"], "cannot create files in"),
        Case(
            f"sample-folder-unwritable-{kind}",
            [*SAMPLE[:-1], f"{folder}/images", "--format", "folder"],
            "cannot create files in",
        ),
        Case(
            f"interpolate-output-unwritable-{kind}", [*INTERPOLATE[:-1], f"{folder}/i.png"], "cannot create files in"
        ),
    ]


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad-input") / "pipe"
    torch.manual_seed(0)
    GenPipeline(model=DCGANGenerator(latent_dim=8, base_channels=8)).save_pretrained(folder)
    return folder


@pytest.fixture
def workdir(tmp_path, saved_pipeline, monkeypatch) -> Path:
    shutil.copytree(saved_pipeline, tmp_path / "pipe")
    (tmp_path / "file").write_text("a plain file\n")
    (tmp_path / "readonly").mkdir(mode=0o555)
    shutil.copy(saved_pipeline / "samples.png", tmp_path / "grid.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder`, with a digest of each file's bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        for path in sorted(folder.rglob("*"))
    }


def is_progress(line: str) -> bool:
    """A progress bar (tqdm, from the datasets library's first load) or what is left of one, not an error line."""
    return not line.strip() or bool(re.search(r"(it|examples)/s\]$", line))


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_and_writes_nothing(case, workdir, capsys):
    if case.setup is not None:
        case.setup(workdir)
        capsys.readouterr()  # what the setup printed (the datasets library's progress bars)
    before = snapshot(workdir)
    names = {"tmp": workdir, "pipe": workdir / "pipe", "file": workdir / "file", "grid": workdir / "grid.png"}
    argv = [arg.format(**names) for arg in case.argv]
    code, out, err = run_cli(argv, capsys)
    assert code == 1, (code, err)
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if not line.startswith("genzoo: warning:") and not is_progress(line)]
    assert len(errors) == 1 and errors[0].startswith("genzoo: error: "), err
    assert case.message in errors[0], errors[0]
    assert snapshot(workdir) == before, "a refused command changed the folder"


def test_output_paths_with_spaces_and_unicode_work(workdir, capsys):
    out = workdir / "sortie été" / "grille n°1.png"
    cli.main(["sample", str(workdir / "pipe"), "-n", "4", "-o", str(out)])
    assert out.is_file()
    run = workdir / "runs ü" / "dcgan ñ"
    cli.main([arg.format(tmp=workdir) for arg in TRAIN[:3]] + [str(run)] + TRAIN[4:])
    pipe = GenPipeline.from_pretrained(run)
    assert len(pipe(batch_size=2).images) == 2
    capsys.readouterr()
