"""Nothing lost, bounded work and early answers for `genzoo train` (issue 18): `--overwrite-output-dir` deletes only a
genzoo run, the final pipeline is swapped in whole (a kill at any point leaves a folder the next run completes), an
export refuses absurd recorded sizes before allocating, and every bad config value is refused before the output
folder exists."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from genzoo import GenPipeline
from genzoo.cli import main
from genzoo.config import read_run_config, resolve_train_config
from genzoo.errors import ConfigError, GenzooError
from genzoo.testing import TINY_TRAIN_ARGS
from genzoo.training import export, setup, train
from genzoo.training.export import export_checkpoint

TINY = [*TINY_TRAIN_ARGS, "--batch-size", "8", "--sample-every", "0"]


def _images(folder: Path, count: int = 20) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8), mode="L").save(folder / f"{index}.png")
    return folder


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model" / "diffusion_pytorch_model.safetensors")


# --- --overwrite-output-dir deletes a genzoo run and nothing else ----------------------------------------------------
@pytest.mark.parametrize("where", ["is", "contains"])
def test_overwrite_refuses_an_output_dir_that_is_or_contains_the_training_images(tmp_path, where, capsys):
    images = _images(tmp_path / "data" / "digits")
    output = images if where == "is" else tmp_path / "data"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "dcgan", "--dataset", f"imagefolder:{images}", "--output-dir", str(output),
              "--overwrite-output-dir", "--max-steps", "1", *TINY])  # fmt: skip
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "is or contains the training data" in err and len(err.strip().splitlines()) == 1
    assert len(list(images.glob("*.png"))) == 20, "no image was deleted"


def test_overwrite_refuses_a_folder_that_holds_files_no_run_writes(tiny_train_config, tmp_path):
    run = tmp_path / "run"
    train(tiny_train_config())
    (run / "notes.txt").write_text("precious")
    with pytest.raises(GenzooError, match=r"holds files that are not part of a genzoo run \('notes.txt'\)"):
        train(tiny_train_config(overwrite_output_dir=True))
    assert (run / "notes.txt").read_text() == "precious" and (run / "model_index.json").is_file()
    (run / "notes.txt").unlink()
    (run / "samples" / "step_000001.png").write_bytes(b"")  # what a run writes may go
    train(tiny_train_config(overwrite_output_dir=True, max_steps=2))
    assert (
        read_run_config(run / "run_config.yaml").max_steps == 2 and not (run / "samples" / "step_000001.png").exists()
    )


def test_overwrite_refuses_a_folder_of_pictures_that_is_no_run(tiny_train_config, tmp_path):
    _images(tmp_path / "run", count=3)  # .png files, but no run_config.yaml: somebody's pictures
    with pytest.raises(GenzooError, match="not part of a genzoo run"):
        train(tiny_train_config(overwrite_output_dir=True))
    assert len(list((tmp_path / "run").glob("*.png"))) == 3


# --- the final pipeline is swapped in whole --------------------------------------------------------------------------
class _Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs (no `except Exception` catches it)."""


def _kill_on_call(monkeypatch, module, name: str, on_call: int) -> None:
    target, calls = getattr(module, name), []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == on_call:
            raise _Killed
        return target(*args, **kwargs)

    monkeypatch.setattr(module, name, dying)


@pytest.mark.parametrize(
    ("function", "on_call", "left"),
    [
        ("finish_folder", 1, "old"),  # writing the new pipeline's card: nothing of it is committed
        ("_move_aside", 1, "old, new committed"),  # committed; the old pipeline not touched yet
        ("_move_aside", 3, "none"),  # committed; model/ was moved in, run_config.yaml and the card were not
    ],
)
def test_a_kill_during_the_final_write_of_an_extended_run_leaves_a_folder_the_next_resume_completes(
    tiny_train_config, tmp_path, monkeypatch, capsys, function, on_call, left
):
    run = tmp_path / "run"
    config = {"checkpoint_every": 2, "ema_decay": 0.5}
    train(tiny_train_config(max_steps=4, **config))
    old_weights = _weights(run)
    with monkeypatch.context() as patch:
        _kill_on_call(patch, export, function, on_call)
        with pytest.raises(_Killed):
            train(tiny_train_config(max_steps=6, resume="latest", **config))
    # Never a folder that reads as a pipeline of mixed steps: the old one whole, or none until the next run.
    if left.startswith("old"):
        assert read_run_config(run / "run_config.yaml").max_steps == 4
        assert all(torch.equal(old_weights[k], v) for k, v in _weights(run).items())
        GenPipeline.from_pretrained(run)(batch_size=1)
    else:
        assert not (run / "model_index.json").exists()
    assert (run / ".pipeline.ready").is_dir() == left.endswith("committed") or left == "none"
    capsys.readouterr()
    train(tiny_train_config(max_steps=6, resume="latest", **config))
    out = capsys.readouterr().out
    assert "nothing to train" in out
    assert ("exporting the pipeline of step 6 again" in out) == (left == "old")
    assert read_run_config(run / "run_config.yaml").max_steps == 6
    exported = export_checkpoint(run / "checkpoints" / "step_000006", tmp_path / "exported")
    assert all(torch.equal(_weights(exported)[k], v) for k, v in _weights(run).items()), "the step-6 EMA weights"
    assert not list(run.glob(".pipeline*"))
    GenPipeline.from_pretrained(run)(batch_size=1)
    train(tiny_train_config(max_steps=6, resume="latest", **config))
    assert "is unchanged" in capsys.readouterr().out


# --- export refuses absurd recorded sizes before allocating ----------------------------------------------------------
def test_export_of_a_checkpoint_that_records_an_absurd_size_is_refused_before_building(tiny_train_config, tmp_path):
    run = train(tiny_train_config(max_steps=2, checkpoint_every=2))
    state_file = run / "checkpoints" / "step_000002" / "genzoo_state.json"
    state = json.loads(state_file.read_text())
    state["model_config"]["latent_dim"] = 2**33
    state_file.write_text(json.dumps(state))
    started = time.perf_counter()
    with pytest.raises(GenzooError, match="model config it records does not match its weights") as error:
        export_checkpoint(run, tmp_path / "exported")
    assert time.perf_counter() - started < 5 and "\n" not in str(error.value)
    assert not (tmp_path / "exported").exists()


# --- config values refused before the output folder exists -----------------------------------------------------------
_BOMB = "[" + ", ".join(["&a [x, x, x, x, x, x, x, x, x]", "&b [*a, *a, *a, *a, *a, *a, *a, *a, *a]"]) + "]"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("max_steps=99999999999999999999999999", "max_steps must fit a 64-bit integer"),
        ("max_steps=10000000000", "max_steps must be at most"),
        ("objective_args.lr=1e300", "learning rate of 'model' must be a number in"),
        ("objective_args.lr=inf", "objective_args.lr must be a finite number"),
        ("objective_args.noise_std=inf", "objective_args.noise_std must be a finite number"),
        ("objective_args.betas=[2,0.9]", "Invalid beta parameter"),
        ("seed=-1", "seed must lie in"),
        (f"objective_args.x={_BOMB}", "aliases (*a) are not allowed"),
    ],
)
def test_bad_values_are_refused_in_one_line_before_the_output_folder_exists(tmp_path, capsys, override, message):
    run = tmp_path / "run"
    started = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "dcgan", "--output-dir", str(run), "--max-steps", "1", *TINY, "--set", override])
    assert exit_info.value.code != 0 and time.perf_counter() - started < 60
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and len(err) < 1000, err
    assert not run.exists(), "refused before the folder was created, so the corrected command is not 'not empty'"


def test_a_yaml_alias_bomb_in_a_config_file_is_refused_fast(tmp_path):
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(["model_args:", *("  " + line for line in levels)]))
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="aliases") as error:
        resolve_train_config({"output_dir": str(tmp_path / "run")}, config_file=path)
    assert time.perf_counter() - started < 5 and len(str(error.value)) < 500


@pytest.mark.parametrize("key", ["dataset", "max_steps"])
def test_a_run_config_whose_dataset_or_length_is_a_list_is_refused_in_one_line(tmp_path, key):
    path = tmp_path / "run_config.yaml"
    path.write_text(yaml.safe_dump({"model": "dcgan", key: list(range(10_000))}))
    with pytest.raises(ConfigError, match=rf"Run config .* is not valid: {key} expects") as error:
        read_run_config(path)
    assert "\n" not in str(error.value) and len(str(error.value)) < 500


# --- failing fast ----------------------------------------------------------------------------------------------------
def test_a_missing_dataset_folder_is_named_as_such(tmp_path):
    for spec in ("./no-such-faces", f"imagefolder:{tmp_path / 'faces'}", str(tmp_path / "faces")):
        config = resolve_train_config({"output_dir": str(tmp_path / "run"), "dataset": spec})
        with pytest.raises(GenzooError, match="No such folder"):
            setup.check_request(config)
    config = resolve_train_config({"output_dir": str(tmp_path / "run"), "dataset": "mnist-6k"})
    with pytest.raises(GenzooError, match=r"mnist-6k.*mnist-5k"):
        setup.check_request(config)


def test_resuming_a_folder_that_never_existed_says_so(tmp_path):
    config = resolve_train_config({"output_dir": str(tmp_path / "never"), "resume": "latest"})
    with pytest.raises(GenzooError, match="does not exist, so there is no run to resume") as error:
        setup.check_request(config)
    assert "--overwrite-output-dir" not in str(error.value)


def test_the_early_checks_import_no_torch():
    import subprocess
    import sys

    code = (
        "import sys; from genzoo.config import resolve_train_config; from genzoo.training import setup\n"
        "setup.check_request(resolve_train_config({'output_dir': 'x'}))\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:3]"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-1500:]


def test_datasets_split_messages_are_silenced_during_training(tmp_path, capfd):
    from datasets.utils import logging as datasets_logging

    images = _images(tmp_path / "digits")
    datasets_logging.enable_progress_bar()  # as a fresh process has it (another command of this session may not)
    main(["train", "dcgan", "--dataset", f"imagefolder:{images}", "--output-dir", str(tmp_path / "run"),
          "--max-steps", "1", *TINY])  # fmt: skip
    captured = capfd.readouterr()
    assert "Generating train split" not in captured.err + captured.out
    assert datasets_logging.is_progress_bar_enabled(), "restored after the run"
