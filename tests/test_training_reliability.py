"""The trainer's reliability: Accelerate's own settings, trackers, the stability guard, interruption, resume checks,
checkpoint integrity, safe loading, the run lock and crash safety."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate.state import AcceleratorState
from safetensors.torch import load_file

from genzoo import GenPipeline, hookimpl
from genzoo.checkpointing import export_checkpoint, find_checkpoint, swap_into_place
from genzoo.cli import main
from genzoo.config import TrainConfig
from genzoo.errors import ConfigError, GenzooError
from genzoo.objectives import GANObjective
from genzoo.testing import TINY_TRAIN_ARGS
from genzoo.training import LOCK_FILE, TrainingDivergedError, train
from genzoo.training.trackers import log_grid

TINY = [*TINY_TRAIN_ARGS, "--batch-size", "8"]


class ProbeObjective(GANObjective):
    """The GAN loss, plus a NaN forced into the discriminator's loss at chosen steps, and a record of the dtype the
    generator's first layer really ran in."""

    output_dtypes: list[torch.dtype] = []

    def __init__(
        self,
        model,
        registration,
        *,
        nan_at_steps=(),
        nan_repeats=1,
        signal_at_step=None,
        flat_from_step=None,
        **kwargs,
    ):
        super().__init__(model, registration, **kwargs)
        self.signal_at_step = signal_at_step  # [signum, step]
        self.flat_from_step = flat_from_step  # from this step on, the generator's last layer is zeroed after each step
        self.nan_at_steps = {int(s): int(nan_repeats) for s in nan_at_steps}  # step -> how many times to fire
        # A layer inside the generator: Accelerate casts the prepared model's own outputs back to float32.
        first = next(m for m in model.modules() if isinstance(m, torch.nn.ConvTranspose2d))
        first.register_forward_hook(lambda module, args, output: ProbeObjective.output_dtypes.append(output.dtype))

    def discriminator_loss(self, real_logits, fake_logits):
        loss = super().discriminator_loss(real_logits, fake_logits)
        if self.nan_at_steps.get(self._step, 0) > 0:
            self.nan_at_steps[self._step] -= 1
            loss = loss * float("nan")
        return loss

    def training_step(self, batch, step, generator):
        self._step = step
        if self.signal_at_step and self.signal_at_step[1] == step:  # as if sent during this step
            os.kill(os.getpid(), self.signal_at_step[0])
        logs = super().training_step(batch, step, generator)
        if self.flat_from_step is not None and step + 1 >= self.flat_from_step:
            # Images of one flat colour (tanh of the bias) while gradients still flow: only the image check sees it.
            last = [m for m in self.unwrap("model").modules() if isinstance(m, torch.nn.ConvTranspose2d)][-1]
            with torch.no_grad():
                last.weight.zero_()
        return logs


class ProbePlugin:
    @hookimpl
    def register_objectives(self, register):
        register("probe", ProbeObjective)


@pytest.fixture
def probe(register_plugin):
    register_plugin(ProbePlugin(), name="probe")
    ProbeObjective.output_dtypes = []
    return ProbeObjective


def steps_logged(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]


def checkpoint_names(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir())


# --- Accelerate's own settings -----------------------------------------------------------------------------------
def test_accelerate_mixed_precision_setting_applies_unless_the_run_sets_one(probe, tiny_train_config, monkeypatch):
    """`accelerate launch --mixed_precision bf16` sets ACCELERATE_MIXED_PRECISION; the model must really run in bf16
    (and the record must say so), while an explicit mixed_precision still wins."""
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    run = train(tiny_train_config(objective="probe"))
    assert torch.bfloat16 in probe.output_dtypes
    assert "mixed_precision: bf16" in (run / "run_config.yaml").read_text()
    probe.output_dtypes = []
    AcceleratorState._reset_state(reset_partial_state=True)  # one precision per process, as in real runs
    run = train(tiny_train_config(objective="probe", mixed_precision="no", overwrite_output_dir=True))
    assert set(probe.output_dtypes) == {torch.float32}
    assert "mixed_precision: 'no'" in (run / "run_config.yaml").read_text()


@pytest.mark.parametrize(
    ("cpu_flags", "accelerate_setting", "expected"),
    [
        ({"avx2", "avx512_bf16"}, None, "bf16"),  # native bf16: auto takes it
        ({"avx2", "amx_bf16"}, None, "bf16"),
        ({"avx2", "avx512f"}, None, "no"),  # emulated bf16 would be 16x slower
        (set(), None, "no"),  # flags unknown (not Linux): nothing claimed
        ({"avx512_bf16"}, "no", "no"),  # accelerate launch / accelerate config decide where they are given
    ],
)
def test_auto_mixed_precision_takes_bf16_only_where_the_cpu_computes_it(
    probe, tiny_train_config, monkeypatch, cpu_flags, accelerate_setting, expected
):
    """`mixed_precision: auto` (the dcgan and cgan default) really trains in bf16 on a CPU with native bf16, and the
    run's config records the precision used, so a resume elsewhere warns instead of silently changing it."""
    from genzoo.training import runtime

    monkeypatch.setattr(runtime, "_cpu_flags", lambda: cpu_flags)
    if accelerate_setting:
        monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", accelerate_setting)
    else:
        monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    AcceleratorState._reset_state(reset_partial_state=True)
    run = train(tiny_train_config(objective="probe", mixed_precision="auto"))
    AcceleratorState._reset_state(reset_partial_state=True)
    # The training steps run in the chosen precision; the sample grids always draw in float32.
    assert (torch.bfloat16 in probe.output_dtypes) == (expected == "bf16")
    recorded = "mixed_precision: bf16" if expected == "bf16" else "mixed_precision: 'no'"
    assert recorded in (run / "run_config.yaml").read_text()


# --- trackers ----------------------------------------------------------------------------------------------------
class _Accelerator:
    def __init__(self, trackers):
        self.trackers = trackers


class _RecordingTracker:
    def __init__(self, name):
        self.name, self.calls = name, []

    def log_images(self, values, step=None, **kwargs):
        self.calls.append((values, step, kwargs))


def test_each_tracker_gets_images_through_its_own_api_and_one_without_is_skipped_with_one_warning(monkeypatch):
    from genzoo.training import trackers

    monkeypatch.setattr(trackers, "TRACKERS_WITHOUT_IMAGES", set())
    tensorboard, wandb = _RecordingTracker("tensorboard"), _RecordingTracker("wandb")

    class NoImages:
        name = "custom"

        def log(self, values, step=None):
            pass

    accelerator = _Accelerator([tensorboard, wandb, NoImages()])
    grid = np.zeros((4, 6, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match="Not logging sample grids to tracker 'custom'") as caught:
        log_grid(accelerator, grid, 1)
        log_grid(accelerator, grid, 2)
    assert len([w for w in caught if "custom" in str(w.message)]) == 1, "one warning, not one per grid"
    assert tensorboard.calls[0][2] == {"dataformats": "NHWC"} and tensorboard.calls[0][0]["samples"].shape == (
        1,
        4,
        6,
        3,
    )
    assert wandb.calls[0][2] == {} and len(wandb.calls[0][0]["samples"]) == 1, "no TensorBoard argument for wandb"
    assert [call[1] for call in wandb.calls] == [1, 2]


def test_wandb_offline_logs_the_sample_grids(tiny_train_config, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb").mkdir()
    train(tiny_train_config(log_with=["wandb"], sample_every=2, max_steps=2))
    assert list((tmp_path / "wandb").rglob("media/images/samples_*.png")), "the grid reached wandb"


# --- the stability guard -----------------------------------------------------------------------------------------
def test_nan_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint_and_pipeline(probe, tiny_train_config):
    common = {"objective": "probe", "checkpoint_every": 2, "checkpoints_total_limit": 1}
    run = train(tiny_train_config(max_steps=4, **common))
    pipeline = {name: (run / name).read_bytes() for name in PIPELINE_FILES}
    extend = tiny_train_config(
        max_steps=8, resume="latest", objective_args={"nan_at_steps": [5], **_tiny_d()}, **common
    )
    with pytest.raises(TrainingDivergedError, match=r"Training diverged at step 6: loss_d=nan.*step_000004"):
        train(extend)
    assert checkpoint_names(run) == ["step_000004"], "the good checkpoint is neither pruned nor overwritten"
    assert {name: (run / name).read_bytes() for name in PIPELINE_FILES} == pipeline
    weights = load_file(run / "checkpoints" / "step_000004" / "model.safetensors")
    assert all(torch.isfinite(t).all() for t in weights.values())


PIPELINE_FILES = ("model/diffusion_pytorch_model.safetensors", "model_index.json", "README.md", "run_config.yaml")


def _tiny_d():
    return {"discriminator": {"base_channels": 8}}


def test_nan_rolls_back_with_a_lower_learning_rate_and_the_run_finishes(probe, tiny_train_config, capsys):
    config = tiny_train_config(
        objective="probe", max_steps=6, checkpoint_every=2, on_nonfinite="rollback",
        objective_args={"nan_at_steps": [3], **_tiny_d()},
    )  # fmt: skip
    run = train(config)
    assert "rolled back to step_000002 with the learning rates x0.5 (rollback 1 of 3)" in capsys.readouterr().out
    state = json.loads((run / "checkpoints" / "step_000006" / "genzoo_state.json").read_text())
    assert state["rollbacks"] == 1 and state["lr_scale"] == 0.5
    assert steps_logged(run) == [1, 2, 3, 4, 5, 6], "the rolled-back steps are logged once"
    assert (run / "model_index.json").is_file()


def test_rollback_stops_after_max_rollbacks_and_before_any_checkpoint_it_rolls_back_to_step_0(
    probe, tiny_train_config
):
    config = tiny_train_config(
        objective="probe", max_steps=6, on_nonfinite="rollback", max_rollbacks=2,
        objective_args={"nan_at_steps": [1], "nan_repeats": 5, **_tiny_d()},
    )  # fmt: skip
    with pytest.raises(TrainingDivergedError, match=r"step 2: loss_d=nan.*after 2 rollback\(s\).*max_rollbacks"):
        train(config)
    run = Path(config.output_dir)
    assert checkpoint_names(run) == ["step_000000"] and not (run / "model_index.json").exists()


def test_infinite_and_nan_learning_rates_are_refused_and_a_diverging_cli_run_exits_1(tmp_path, capsys):
    for value in ("inf", "nan", "-1"):
        with pytest.raises(SystemExit) as excinfo:
            main(
                ["train", "dcgan", "--output-dir", str(tmp_path / value), *TINY, "--set", f"objective_args.lr={value}"]
            )
        assert excinfo.value.code == 1
        err = capsys.readouterr().err  # inf and nan are refused with the config, -1 by the objective
        assert "finite lr > 0" in err or "objective_args.lr must be a finite number" in err
        assert not (tmp_path / value).exists()
    run = tmp_path / "huge"
    with pytest.raises(SystemExit) as excinfo:  # lr 1e30 diverges at once (lr 1e6 only after many steps)
        main(
            ["train", "dcgan", "--output-dir", str(run), *TINY, "--max-steps", "5", "--set", "objective_args.lr=1e30"]
        )
    assert excinfo.value.code == 1
    assert "Training diverged at step 1" in capsys.readouterr().err
    assert not (run / "model_index.json").exists() and not (run / "checkpoints").exists()


def _tiny_cli(run: Path, *extra: str) -> list[str]:
    return ["train", "dcgan", "--output-dir", str(run), *TINY, *extra]


def test_a_saturating_learning_rate_is_caught_as_a_collapse_not_saved_as_a_flat_pipeline(tmp_path, capsys):
    # lr 1e6 saturates the generator's tanh at once: its gradients are exactly 0 and every image is one colour, with
    # no NaN anywhere. It used to exit 0 and save that pipeline.
    run = tmp_path / "flat"
    with pytest.raises(SystemExit) as excinfo:
        main(_tiny_cli(run, "--max-steps", "40", "--set", "objective_args.lr=1e6"))
    assert excinfo.value.code == 1
    err = capsys.readouterr().err
    assert "Training collapsed at step 21: the generator's gradient norm was exactly 0 for 20 steps" in err
    assert "Traceback" not in err and len([line for line in err.splitlines() if "genzoo: error" in line]) == 1
    assert not (run / "model_index.json").exists() and not (run / "checkpoints").exists()


def test_a_collapse_rolls_back_like_a_nan_and_never_checkpoints_the_collapsed_weights(tmp_path, capsys):
    run = tmp_path / "flat"
    extra = ["--set", "objective_args.lr=1e6", "--set", "on_nonfinite=rollback", "--set", "max_rollbacks=1"]
    with pytest.raises(SystemExit) as excinfo:  # the checkpoint due at step 5 sees the flat images
        main(_tiny_cli(run, "--max-steps", "40", "--checkpoint-every", "5", "--set", "collapse_steps=30", *extra))
    assert excinfo.value.code == 1
    captured = capsys.readouterr()
    assert (
        "the generator collapsed at step 5 (its images of the fixed sample latents are one flat colour" in captured.out
    )
    assert "rolled back to step_000000 with the learning rates x0.5 (rollback 1 of 1)" in captured.out
    assert "Training collapsed at step 5" in captured.err and "after 1 rollback(s)" in captured.err
    assert checkpoint_names(run) == ["step_000000"] and not (run / "model_index.json").exists()


def test_a_checkpoint_whose_images_are_one_flat_colour_is_refused(probe, tiny_train_config):
    config = tiny_train_config(
        objective="probe", max_steps=6, checkpoint_every=2, objective_args={"flat_from_step": 4, **_tiny_d()}
    )
    with pytest.raises(TrainingDivergedError, match=r"collapsed at step 4: its images .* flat colour.*step_000002"):
        train(config)
    assert checkpoint_names(Path(config.output_dir)) == ["step_000002"]
    assert not (Path(config.output_dir) / "model_index.json").exists()


def test_collapse_steps_must_not_be_negative_and_zero_turns_the_step_check_off(tmp_path, capsys):
    with pytest.raises(ConfigError, match="collapse_steps must be 0"):
        TrainConfig(collapse_steps=-1)
    run = tmp_path / "off"
    with pytest.raises(SystemExit):  # no step check: the final checkpoint's check still refuses the pipeline
        main(_tiny_cli(run, "--max-steps", "25", "--set", "objective_args.lr=1e6", "--set", "collapse_steps=0"))
    assert "Training collapsed at step 25" in capsys.readouterr().err
    assert not (run / "model_index.json").exists()


# --- interruption and the resume dead end -------------------------------------------------------------------------
def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_and_the_run_resumes(probe, tiny_train_config, tmp_path, signum, capsys):
    """Ctrl-C or SIGTERM during step 3 (sent by the objective itself, so the timing is exact): the step completes, a
    checkpoint is saved, the CLI exits 130, and the run resumes from there bit-identically."""
    previous = signal.getsignal(signum)
    args = ["train", "dcgan", "--objective", "probe", *TINY, "--max-steps", "5", "--checkpoint-every", "0"]
    with pytest.raises(SystemExit) as excinfo:
        main(
            [
                *args,
                "--output-dir",
                str(tmp_path / "run"),
                "--set",
                f"objective_args.signal_at_step=[{int(signum)}, 2]",
            ]
        )
    assert excinfo.value.code == 130
    assert "Interrupted at step 3; saved a checkpoint: continue with --resume latest" in capsys.readouterr().out
    run = tmp_path / "run"
    assert checkpoint_names(run) == ["step_000003"] and not (run / "model_index.json").exists()
    with pytest.raises(GenzooError, match=r"has not saved its pipeline yet.*genzoo export"):
        GenPipeline.from_pretrained(run)
    main([*args, "--output-dir", str(run), "--resume", "latest"])
    main([*args, "--output-dir", str(tmp_path / "straight")])
    straight, resumed = (
        load_file(p / "model" / "diffusion_pytorch_model.safetensors") for p in (tmp_path / "straight", run)
    )
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)
    assert signal.getsignal(signum) is previous, "the handler is restored after the run"


def test_a_run_killed_before_its_first_checkpoint_points_to_the_way_out(tiny_train_config, tmp_path):
    run = tmp_path / "run"  # what a run killed during its first steps leaves behind
    (run / "samples").mkdir(parents=True)
    (run / "run_config.yaml").write_text("model: dcgan\n")
    with pytest.raises(
        GenzooError, match=r"stopped before its first checkpoint\. Start it over with --overwrite-output"
    ):
        train(tiny_train_config(resume="latest"))
    with pytest.raises(GenzooError, match="holds no complete checkpoint to resume; pass --overwrite-output-dir") as e:
        train(tiny_train_config())
    assert "--resume" not in str(e.value)


def test_train_without_a_model_name_is_refused_listing_the_models(tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["train", "--output-dir", str(tmp_path / "x")])
    assert excinfo.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("genzoo: error: genzoo train needs a model") and "dcgan" in err and "cgan" in err
    assert not (tmp_path / "x").exists()


# --- using a run before it finishes -------------------------------------------------------------------------------
def test_export_a_checkpoint_or_a_run_as_a_pipeline(tiny_train_config, tmp_path, capsys):
    run = train(tiny_train_config(max_steps=4, checkpoint_every=2, ema_decay=0.5))
    main(["export", str(run / "checkpoints" / "step_000004"), "-o", str(tmp_path / "final")])
    assert "Exported" in capsys.readouterr().out
    exported = load_file(tmp_path / "final" / "model" / "diffusion_pytorch_model.safetensors")
    final = load_file(run / "model" / "diffusion_pytorch_model.safetensors")
    for key in final:  # the EMA weights, as in the run's own pipeline
        assert torch.equal(exported[key], final[key]), key
    with pytest.raises(
        GenzooError, match=r"is a training checkpoint, not a pipeline; save it as one with `genzoo export"
    ):
        GenPipeline.from_pretrained(run / "checkpoints" / "step_000002")
    export_checkpoint(run, tmp_path / "newest")  # a run folder: its newest complete checkpoint
    images = GenPipeline.from_pretrained(tmp_path / "newest")(batch_size=2, output_type="np").images
    assert images.shape == (2, 28, 28, 1)
    middle = export_checkpoint(run / "checkpoints" / "step_000002", tmp_path / "middle", use_ema=False)
    assert "max_steps: 2" in (middle / "run_config.yaml").read_text()
    with pytest.raises(GenzooError, match="exists and is not empty"):
        export_checkpoint(run, tmp_path / "middle")


# --- resume checks ----------------------------------------------------------------------------------------------
def test_resume_with_another_network_is_refused_before_anything_is_written(tiny_train_config, capsys):
    run = train(tiny_train_config(max_steps=2, checkpoint_every=2))
    record = (run / "run_config.yaml").read_bytes()
    with pytest.raises(ConfigError, match=r"different network: model_args.latent_dim \(8 there, 16 now\)"):
        train(tiny_train_config(max_steps=4, resume="latest", model_args={"latent_dim": 16, "base_channels": 8}))
    with pytest.raises(ConfigError, match=r"discriminator \(\{'base_channels': 8.*there, \{'base_channels': 16"):
        train(tiny_train_config(max_steps=4, resume="latest", objective_args={"discriminator": {"base_channels": 16}}))
    with pytest.raises(ConfigError, match=r"different network: model \('dcgan' there, 'vae' now\)"):
        train(tiny_train_config(max_steps=4, resume="latest", model="vae", model_args={}, objective_args={}))
    assert (run / "run_config.yaml").read_bytes() == record, "a refused resume leaves the record alone"
    capsys.readouterr()
    train(tiny_train_config(max_steps=3, resume="latest", batch_size=4))
    out = capsys.readouterr().out
    assert "resuming with a different batch_size than the checkpoint" in out and "no longer reproducible" in out


def test_resume_past_the_end_changes_nothing_and_logs_have_no_repeated_steps(tiny_train_config):
    run = train(tiny_train_config(max_steps=4, checkpoint_every=2))
    before = {name: (run / name).read_bytes() for name in ("run_config.yaml", "README.md", "model_index.json")}
    train(tiny_train_config(max_steps=3, resume="latest"))
    assert {name: (run / name).read_bytes() for name in before} == before, "the record still says 4 steps"
    # Killed after logging step 4 but before its checkpoint: the resumed run logs steps 3 and 4 once, not twice.
    import shutil

    shutil.rmtree(run / "checkpoints" / "step_000004")
    train(tiny_train_config(max_steps=5, resume="latest"))
    assert steps_logged(run) == [1, 2, 3, 4, 5]
    assert "max_steps: 5" in (run / "run_config.yaml").read_text()


def test_truncated_checkpoints_are_skipped_or_named(tiny_train_config, capsys):
    run = train(tiny_train_config(max_steps=4, checkpoint_every=2, checkpoints_total_limit=None))
    optimizer = run / "checkpoints" / "step_000004" / "optimizer.bin"
    optimizer.write_bytes(optimizer.read_bytes()[:100])
    capsys.readouterr()
    assert find_checkpoint(run, "latest").name == "step_000002"
    out = capsys.readouterr().out
    assert "skipping checkpoint step_000004" in out and "optimizer.bin is truncated (100 of" in out
    with pytest.raises(GenzooError, match=r"Cannot resume from .*step_000004.*optimizer.bin is truncated"):
        train(tiny_train_config(max_steps=6, resume=str(run / "checkpoints" / "step_000004")))
    train(tiny_train_config(max_steps=6, checkpoint_every=2, checkpoints_total_limit=None, resume="latest"))
    weights = run / "checkpoints" / "step_000002" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(GenzooError, match=r"model.safetensors is truncated"):
        train(tiny_train_config(max_steps=8, resume=str(run / "checkpoints" / "step_000002")))


class _Payload:
    """What a malicious checkpoint would hold: unpickling it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize(
    "name", ["random_states_0.pkl", "optimizer.bin", "optimizer_1.bin", "custom_checkpoint_0.pkl"]
)
def test_a_planted_pickle_in_a_checkpoint_is_refused_and_never_runs(tiny_train_config, tmp_path, name):
    """Refused before Accelerate reads anything, in one line that names the file and what it asked for, whole, and
    without torch's advice to load it with weights_only=False."""
    run = train(tiny_train_config(max_steps=2, checkpoint_every=2))
    checkpoint = run / "checkpoints" / "step_000002"
    marker = tmp_path / "pwned"
    target = checkpoint / name
    torch.save({"step": _Payload(marker)}, target)
    if name != "custom_checkpoint_0.pkl":  # keep the manifest's sizes right, as an attacker would
        state = json.loads((checkpoint / "genzoo_state.json").read_text())
        state["files"][name] = target.stat().st_size
        (checkpoint / "genzoo_state.json").write_text(json.dumps(state))
    else:  # a checkpoint of the older, pickled format
        (checkpoint / "genzoo_state.json").unlink()
    with pytest.raises(GenzooError, match=rf"{name} holds more than tensors.*could run code") as caught:
        train(tiny_train_config(max_steps=4, resume="latest"))
    message = str(caught.value)
    assert message.startswith(f"Checkpoint file {target} ") and "(it asks for posix.system)" in message
    assert "weights_only" not in message and "\n" not in message and message.endswith("--overwrite-output-dir.")
    assert not marker.exists(), "the pickle ran"


def test_an_older_pickled_checkpoint_still_resumes_bit_identically(tiny_train_config, tmp_path):
    """Checkpoints written before genzoo_state.json (TrainState and EMA pickled by Accelerate) load with
    weights_only=True."""
    straight = train(tiny_train_config(output_dir=str(tmp_path / "straight"), max_steps=4, ema_decay=0.5))
    run = train(tiny_train_config(max_steps=2, checkpoint_every=2, ema_decay=0.5))
    checkpoint = run / "checkpoints" / "step_000002"
    state = json.loads((checkpoint / "genzoo_state.json").read_text())
    shadow = load_file(checkpoint / "ema.safetensors")
    torch.save({"step": 2}, checkpoint / "custom_checkpoint_0.pkl")
    ema = {**state["ema"], "shadow_params": [shadow[str(i)] for i in range(len(shadow))]}
    torch.save(ema, checkpoint / "custom_checkpoint_1.pkl")
    for file in ("genzoo_state.json", "ema.safetensors"):
        (checkpoint / file).unlink()
    resumed = train(tiny_train_config(max_steps=4, ema_decay=0.5, resume="latest"))
    for key, value in load_file(straight / "model" / "diffusion_pytorch_model.safetensors").items():
        assert torch.equal(value, load_file(resumed / "model" / "diffusion_pytorch_model.safetensors")[key]), key


# --- one trainer per folder ---------------------------------------------------------------------------------------
def test_a_folder_whose_trainer_is_running_is_refused(tiny_train_config, tmp_path):
    from filelock import FileLock

    run = train(tiny_train_config(max_steps=2, checkpoint_every=2))
    assert not (run / LOCK_FILE).exists(), "the lock goes with the run"
    with FileLock(str(run / LOCK_FILE)):  # another trainer holds the folder
        with pytest.raises(GenzooError, match="Another genzoo train is writing to"):
            train(tiny_train_config(max_steps=4, resume="latest"))
        empty = tmp_path / "empty"
        empty.mkdir()
        with FileLock(str(empty / LOCK_FILE)), pytest.raises(GenzooError, match="Another genzoo train"):
            train(tiny_train_config(output_dir=str(empty)))
    train(tiny_train_config(max_steps=4, resume="latest"))  # a stale lock file (a killed run) does not block


def test_swap_into_place_replaces_a_folder_whole(tmp_path):
    old, new = tmp_path / "model", tmp_path / "staging"
    old.mkdir()
    (old / "w").write_text("old")
    new.mkdir()
    (new / "w").write_text("new")
    swap_into_place(new, old)
    assert (old / "w").read_text() == "new" and not new.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


# --- crash safety --------------------------------------------------------------------------------------------------
_KILL_DURING = """
import importlib, os, signal, sys
module = importlib.import_module({module!r})
target = getattr(module, {function!r})
calls = []
def dying(*args, **kwargs):
    calls.append(1)
    if len(calls) == {on_call}:
        {before}
        os.kill(os.getpid(), signal.SIGKILL)
    return target(*args, **kwargs)
setattr(module, {function!r}, dying)
from genzoo.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize(
    ("module", "function", "on_call", "before"),
    [
        # in a checkpoint: the networks and optimizers are written, genzoo's state (the last file) is not
        ("genzoo.training.checkpoints", "write_checkpoint_state", 2, "pass"),
        # in the final pipeline write, once it is committed: model/ is moved in, run_config.yaml and the card are not
        ("genzoo.training.export", "_move_aside", 4, "pass"),
    ],
)
def test_sigkill_during_a_write_leaves_a_run_that_resumes(tmp_path, module, function, on_call, before):
    run = tmp_path / "run"
    args = ["train", "dcgan", "--output-dir", str(run), *TINY, "--max-steps", "4", "--checkpoint-every", "2"]
    script = _KILL_DURING.format(module=module, function=function, on_call=on_call, before=before)
    result = subprocess.run([sys.executable, "-c", script, *args], env=_env(), capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert not (run / "model_index.json").exists()
    main([*args, "--max-steps", "6", "--resume", "latest"])
    assert (run / "model_index.json").is_file() and (run / "model").is_dir()
    GenPipeline.from_pretrained(run)(batch_size=1)
    assert not list(run.rglob("*.partial*")) and not list(run.glob(".pipeline.*"))


def test_the_stability_guard_is_documented():
    docs = (Path(__file__).parents[1] / "docs" / "training.md").read_text()
    for text in ("on_nonfinite", "What is safe to resume", "genzoo export"):
        assert text in docs, text


def test_a_checkpoint_state_nested_too_deeply_is_skipped_in_one_line(tiny_train_config, capsys):
    """genzoo_state.json is read with genzoo's one bounded JSON reader: deep nesting is a broken checkpoint (skipped
    with a warning naming the file), not a RecursionError."""
    run = train(tiny_train_config(max_steps=2, checkpoint_every=2))
    state = run / "checkpoints" / "step_000002" / "genzoo_state.json"
    state.write_text('{"files": ' + "[" * 100_000 + "]" * 100_000 + "}")
    capsys.readouterr()
    with pytest.raises(GenzooError, match="No complete checkpoint"):
        train(tiny_train_config(max_steps=4, resume="latest"))
    assert f"{state} is not a complete genzoo checkpoint state" in capsys.readouterr().out
