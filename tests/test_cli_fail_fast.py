"""The CLI's cheap checks (issue 18): a wrong model, objective, metric, extractor, dataset path, or a folder that is
not a pipeline is answered in one line before torch is imported, so within a second rather than after the 10-20 s
that loading torch, diffusers and datasets takes on a busy machine. Each case runs `genzoo.cli.main` in a fresh
interpreter and checks the message and that none of the heavy packages was imported."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("torch", "diffusers", "datasets", "accelerate")
OUT = ["--output-dir", "out"]

# (id, argv, the start of the one-line error); in argv, PIPE is a folder with a model_index.json and NOTPIPE one
# without. Paths are relative to the test's own folder.
CASES = [
    ("model", ["train", "dcgn"], "Unknown model 'dcgn'. Did you mean 'dcgan'?"),
    ("objective", ["train", "dcgan", "--objective", "hinj"], "Unknown objective 'hinj'. Did you mean 'hinge'?"),
    ("dataset-folder", ["train", "dcgan", "--dataset", "./faces", *OUT], "No such folder: ./faces"),
    ("dataset-imagefolder", ["train", "dcgan", "--dataset", "imagefolder:./faces", *OUT], "No such folder: ./faces"),
    ("dataset-parquet", ["train", "dcgan", "--dataset", "faces.parquet", *OUT], "No such file: faces.parquet"),
    ("dataset-hub-like", ["train", "dcgan", "--dataset", "org/faces", *OUT], "No such folder: org/faces"),
    ("dataset-name", ["train", "dcgan", "--dataset", "mnist5k_", *OUT], "Unknown dataset 'mnist5k_'. Did you mean"),
    ("metric", ["evaluate", "PIPE", "--metrics", "fdi"], "Unknown metric 'fdi'. Did you mean 'fid'?"),
    ("metric-arg", ["evaluate", "PIPE", "--metric-arg", "kdi.num_subsets=5"], "Unknown metric 'kdi'. Did you mean"),
    ("extractor", ["evaluate", "PIPE", "--features", "incepton"], "Unknown feature extractor 'incepton'."),
    ("evaluate-dataset", ["evaluate", "PIPE", "--dataset", "./faces"], "No such folder: ./faces"),
    ("evaluate-images", ["evaluate", "--images", "./samples"], "No such folder: ./samples (--images)"),
    ("reference-stats", ["evaluate", "PIPE", "--reference-stats", "fid.npz"], "No such file: fid.npz"),
    ("sample", ["sample", "NOTPIPE"], "NOTPIPE is not a genzoo pipeline: it has no model_index.json."),
    ("interpolate", ["interpolate", "NOTPIPE"], "NOTPIPE is not a genzoo pipeline"),
    ("explore", ["explore", "NOTPIPE"], "NOTPIPE is not a genzoo pipeline"),
    ("restore", ["restore", "NOTPIPE", "--task", "denoise", "-i", "in.png"], "NOTPIPE is not a genzoo pipeline"),
    ("evaluate", ["evaluate", "NOTPIPE"], "NOTPIPE is not a genzoo pipeline"),
    ("push", ["push", "NOTPIPE", "org/name"], "NOTPIPE is not a genzoo pipeline"),
    ("demo", ["demo", "NOTPIPE"], "NOTPIPE is not a genzoo pipeline"),
    ("checkpoint", ["sample", "CHECKPOINT"], "CHECKPOINT is a training checkpoint, not a pipeline"),
    ("missing-pipeline", ["sample", "./runs/dcgan"], "No such folder: ./runs/dcgan"),
    ("export", ["export", "./runs/dcgan", "-o", "pipe"], "No such folder: ./runs/dcgan"),
    ("push-missing", ["push", "./runs/dcgan", "org/name"], "No such folder: ./runs/dcgan"),
    ("restore-input", ["restore", "PIPE", "--task", "denoise", "-i", "in.png"], "No such file: in.png (-i/--input)"),
    ("class-label", ["explore", "PIPE", "--class-label", str(2**70)], f"--class-label {2**70} does not fit 64 bits"),
]  # fmt: skip


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fail-fast")
    (root / "PIPE").mkdir()
    (root / "PIPE" / "model_index.json").write_text(json.dumps({"_class_name": "GenPipeline"}))
    (root / "NOTPIPE").mkdir()
    (root / "NOTPIPE" / "config.json").write_text("{}")
    (root / "CHECKPOINT").mkdir()
    (root / "CHECKPOINT" / "genzoo_state.json").write_text("{}")
    return root


def _run(argv: list[str], cwd: Path) -> tuple[int, str, list[str]]:
    """Exit status, stderr and the heavy packages imported when `genzoo.cli.main(argv)` runs in a new interpreter."""
    probe = f"""
        import sys
        from genzoo.cli import main
        try:
            main({argv!r})
            code = 0
        except SystemExit as exc:
            code = exc.code
        print(code, sorted({{m.split(".")[0] for m in sys.modules}} & {set(HEAVY)!r}))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(probe)], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    code, _, heavy = result.stdout.strip().splitlines()[-1].partition(" ")
    return int(code), result.stderr, eval(heavy)  # a printed list of names


@pytest.mark.parametrize(("argv", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_cheap_checks_answer_before_torch_is_imported(folders, argv, message):
    code, stderr, heavy = _run(argv, folders)
    assert code == 1
    assert stderr.startswith(f"genzoo: error: {message}") and stderr.count("\n") == 1, stderr
    assert heavy == [], f"imported {heavy} before answering"


def test_a_seed_too_large_for_torch_is_an_argument_error(folders):
    code, stderr, heavy = _run(["sample", "PIPE", "--seed", str(2**64)], folders)
    assert code == 2 and heavy == []
    assert stderr.splitlines()[-1] == (
        f"genzoo sample: error: argument --seed: {2**64} does not fit 64 bits; use a number from "
        f"{-(2**63)} to {2**64 - 1}"
    )
