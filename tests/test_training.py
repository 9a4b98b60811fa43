"""The trainer and the CLI end to end: train a tiny DCGAN, load its pipeline, sample deterministically."""

import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from genzoo import GenPipeline
from genzoo.cli import main
from genzoo.errors import GenzooError
from genzoo.testing import TINY_TRAIN_ARGS
from genzoo.training import train

TINY = [*TINY_TRAIN_ARGS]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "diffusion_pytorch_model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_cli_train_then_load_and_sample(tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", "dcgan", "--output-dir", str(run), "--max-steps", "4", "--batch-size", "8", "--seed", "0",
          "--sample-every", "2", "--set", "log_every=1", *TINY])  # fmt: skip
    for name in ("model_index.json", "model/config.json", "model/diffusion_pytorch_model.safetensors",
                 "run_config.yaml", "samples.png", "samples/step_000002.png", "samples/step_000004.png",
                 "logs/metrics.jsonl"):  # fmt: skip
        assert (run / name).is_file(), name
    assert json.loads((run / "model_index.json").read_text())["model"] == [
        "genzoo_gan.modeling_dcgan",
        "DCGANGenerator",
    ]
    logged = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in logged] == [1, 2, 3, 4]
    assert all(np.isfinite(record["loss_d"]) and np.isfinite(record["loss_g"]) for record in logged)

    first = GenPipeline.from_pretrained(run)
    second = GenPipeline.from_pretrained(run)
    images = [
        p(batch_size=3, generator=torch.Generator().manual_seed(0), output_type="np").images for p in (first, second)
    ]
    assert images[0].shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(images[0], images[1])
    assert images[0].min() >= 0.0 and images[0].max() <= 1.0

    for name in ("a.png", "b.png"):
        main(["sample", str(run), "-n", "4", "--seed", "0", "-o", str(tmp_path / name)])
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert "Saved 4 images" in capsys.readouterr().out


def test_same_seed_same_weights_and_different_seed_differs(tiny_train_config, tmp_path):
    runs = [train(tiny_train_config(output_dir=str(tmp_path / name), seed=seed)) for name, seed in
            (("a", 0), ("b", 0), ("c", 1))]  # fmt: skip
    assert_same_weights(runs[0], runs[1])
    assert not torch.equal(weights(runs[0])["net.0.weight"], weights(runs[2])["net.0.weight"])


def test_resumed_run_matches_an_uninterrupted_one(tiny_train_config, tmp_path):
    straight = train(tiny_train_config(output_dir=str(tmp_path / "straight"), max_steps=6, checkpoint_every=3))
    interrupted = tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=3, checkpoint_every=3)
    train(interrupted)
    resumed = train(tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=6, checkpoint_every=3,
                                      resume="latest"))  # fmt: skip
    assert sorted(p.name for p in (resumed / "checkpoints").iterdir()) == ["step_000003", "step_000006"]
    assert_same_weights(straight, resumed)


def test_resume_across_an_epoch_boundary(tiny_train_config, tiny_parquet, tmp_path):
    common = {"dataset": f"parquet:{tiny_parquet}", "checkpoint_every": 4}  # 40 images: 5 steps an epoch
    straight = train(tiny_train_config(output_dir=str(tmp_path / "straight"), max_steps=12, **common))
    train(tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=8, **common))
    resumed = train(tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=12, resume="latest", **common))
    assert_same_weights(straight, resumed)


def test_gradient_accumulation_epochs_and_resume(tiny_train_config, tiny_parquet, tmp_path):
    # 40 images in batches of 8 are 5 batches an epoch; accumulating 2 gives steps of 2, 2 and 1 batch (Accelerate
    # steps on an epoch's last, shorter accumulation), so 2 epochs are 6 steps and step 4 lies inside epoch 2.
    common = {"dataset": f"parquet:{tiny_parquet}", "gradient_accumulation_steps": 2, "checkpoint_every": 4}
    straight = train(tiny_train_config(output_dir=str(tmp_path / "straight"), max_steps=None, epochs=2, **common))
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["step_000004", "step_000006"]
    train(tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=4, **common))
    resumed = train(tiny_train_config(output_dir=str(tmp_path / "resumed"), max_steps=None, epochs=2, resume="latest",
                                      **common))  # fmt: skip
    assert_same_weights(straight, resumed)


def test_lr_schedule_steps_once_per_optimizer_step(tiny_train_config, tiny_parquet):
    """diffusers' linear schedule after 2 warm-up steps, over 6 steps of 2 accumulated batches each: the logged
    learning rate of both networks follows the optimisation steps, not the batches."""
    adam = {"lr": 2e-4, "lr_d": 2e-4, "discriminator": {"base_channels": 8}}  # whatever the family's tuned rates
    run = train(tiny_train_config(dataset=f"parquet:{tiny_parquet}", max_steps=6, gradient_accumulation_steps=2,
                                  lr_scheduler="linear", lr_warmup_steps=2, objective_args=adam))  # fmt: skip
    logged = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    expected = [2e-4 * factor for factor in (0.5, 1.0, 0.75, 0.5, 0.25, 0.0)]
    for name in ("lr/model", "lr/discriminator"):
        np.testing.assert_allclose([row[name] for row in logged], expected, atol=1e-12)


def test_resume_restores_the_lr_schedule(tiny_train_config, tmp_path):
    """Resuming a cosine-decayed run from its step-3 checkpoint reproduces the uninterrupted run bit for bit: the
    schedule's position comes back with the checkpoint (from step 0 the learning rate would be higher)."""
    common = {"max_steps": 6, "checkpoint_every": 3, "checkpoints_total_limit": None, "lr_scheduler": "cosine"}
    straight = train(tiny_train_config(output_dir=str(tmp_path / "straight"), **common))
    (tmp_path / "resumed" / "checkpoints").mkdir(parents=True)
    shutil.copytree(straight / "checkpoints" / "step_000003", tmp_path / "resumed" / "checkpoints" / "step_000003")
    resumed = train(tiny_train_config(output_dir=str(tmp_path / "resumed"), resume="latest", **common))
    assert_same_weights(straight, resumed)
    plain = train(tiny_train_config(output_dir=str(tmp_path / "constant"), max_steps=6))
    assert not torch.equal(weights(plain)["net.0.weight"], weights(straight)["net.0.weight"])


def test_checkpoints_keep_the_newest_and_no_partial_folders(tiny_train_config, tmp_path):
    run = train(tiny_train_config(max_steps=6, checkpoint_every=2, checkpoints_total_limit=2))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000004", "step_000006"]
    assert not list(run.rglob("*.partial"))


def test_ema_weights_are_saved(tiny_train_config, tmp_path):
    plain = train(tiny_train_config(output_dir=str(tmp_path / "plain"), ema_decay=None))  # DCGAN's default is 0.999
    ema = train(tiny_train_config(output_dir=str(tmp_path / "ema"), ema_decay=0.5))
    assert not torch.equal(weights(plain)["net.0.weight"], weights(ema)["net.0.weight"])


def test_ema_power_sets_diffusers_warm_up_schedule(tiny_train_config):
    """`ema_power`/`ema_inv_gamma` give the EMA diffusers' warm-up, 1 - (1 + t / inv_gamma)^-power, capped at
    `ema_decay`; without them it keeps diffusers' (1 + t) / (10 + t). The checkpoint carries the schedule."""
    from genzoo.config import TrainConfig
    from genzoo.training.checkpoints import read_checkpoint_state
    from genzoo.training.loop import _make_ema

    accelerator = type("CPU", (), {"device": torch.device("cpu")})()
    net = torch.nn.Linear(2, 2)
    default = _make_ema(TrainConfig(ema_decay=0.999), net, accelerator)
    longer = _make_ema(TrainConfig(ema_decay=0.999, ema_power=1.0, ema_inv_gamma=3.0), net, accelerator)
    step = 301  # diffusers counts from the first update: t = step - 1
    assert default.get_decay(step) == pytest.approx(301 / 310)
    assert longer.get_decay(step) == pytest.approx(1 - (1 + 300 / 3) ** -1.0)  # about the last 100 steps averaged
    assert longer.get_decay(10**6) == 0.999
    run = train(tiny_train_config(ema_decay=0.9, ema_power=1.0, ema_inv_gamma=3.0, checkpoint_every=2))
    saved = read_checkpoint_state(run / "checkpoints" / "step_000002")["ema"]
    assert (saved["use_ema_warmup"], saved["power"], saved["inv_gamma"]) == (True, 1.0, 3.0)
    with pytest.raises(GenzooError, match=r"ema_power \(1.0 there, None now\)"):
        train(tiny_train_config(ema_decay=0.9, max_steps=4, resume="latest"))


def test_bf16_mixed_precision_trains_on_cpu(tiny_train_config, monkeypatch, tmp_path):
    """bf16 trains on any CPU; on one without native bf16 (no AVX512-BF16 or AMX) it warns once, in one line, that it
    is about 16x slower than float32 and names the alternative."""
    from genzoo.training import runtime

    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match=r"no AVX512-BF16 or AMX-BF16.*--mixed-precision no") as caught:
        run = train(tiny_train_config(mixed_precision="bf16"))
    assert all(torch.isfinite(t).all() for t in weights(run).values())
    assert sum("bf16" in str(each.message) for each in caught) == 1
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        train(tiny_train_config(mixed_precision="bf16", output_dir=str(tmp_path / "native")))


def test_a_bf16_runs_grid_is_what_its_saved_pipeline_draws(tiny_train_config):
    """Accelerate wraps the prepared generator's forward in autocast; `samples.png` must still be drawn in float32,
    as the saved pipeline draws (the grid's latents come from the run's seed, as the tester mixins check)."""
    from genzoo.images import image_grid

    run = train(tiny_train_config(mixed_precision="bf16", num_sample_images=8, seed=3))
    pipe = GenPipeline.from_pretrained(run)
    images = pipe(batch_size=8, generator=torch.Generator().manual_seed(3)).images
    grid = image_grid(images, 0)
    with Image.open(run / "samples.png") as saved:
        np.testing.assert_array_equal(np.asarray(grid), np.asarray(saved.convert(grid.mode)))


def test_sampling_mode_bypasses_and_restores_the_mixed_precision_wrapper():
    """`sampling_mode` calls the forward Accelerate kept as `_original_forward`, and puts the wrapper back after."""
    from genzoo.modeling import sampling_mode

    model = torch.nn.Linear(2, 2)
    calls = []
    model.forward = lambda *args: calls.append("mixed")  # stands in for Accelerate's autocast wrapper
    model._original_forward = lambda *args: calls.append("full")
    with sampling_mode(model) as sampled:
        sampled.forward()
    model.forward()
    assert calls == ["full", "mixed"]
    plain = torch.nn.Linear(2, 2)
    with sampling_mode(plain):  # nothing to bypass outside a mixed-precision run
        assert "forward" not in plain.__dict__


def test_tensorboard_tracker(tiny_train_config):
    pytest.importorskip("tensorboard")
    run = train(tiny_train_config(log_with=["tensorboard"], sample_every=2))
    assert list((run / "logs").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mixed_precision": "fp16"}, "fp16 mixed precision needs a GPU"),
        ({"batch_size": 5000}, "fewer than one batch"),
        (
            {"model_args": {"latent_dims": 8}},
            "model_args has unknown key.*latent_dims.*Did you mean .latent_dim.. Valid keys: latent_dim",
        ),
        ({"objective_args": {"learning_rate": 1}}, "objective_args has unknown key.*learning_rate"),
        ({"model_args": {"image_size": 30}}, "image_size 30 is not supported"),
        ({"objective": "nope"}, "Unknown objective 'nope'"),
        ({"max_steps": 3, "epochs": 1}, "Set max_steps or epochs, not both"),
    ],
)
def test_bad_runs_fail_before_training(tiny_train_config, tmp_path, overrides, message):
    with pytest.raises(GenzooError, match=message):
        train(tiny_train_config(**overrides))
    assert not (tmp_path / "run").exists(), "a run that fails its checks must leave no output folder behind"


def test_refuses_non_empty_output_dir_unless_told(tiny_train_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("precious")
    with pytest.raises(GenzooError, match=r"not empty and holds no complete checkpoint.*--overwrite-output-dir"):
        train(tiny_train_config())
    with pytest.raises(GenzooError, match="not part of a genzoo run"):  # --overwrite-output-dir deletes only a run
        train(tiny_train_config(overwrite_output_dir=True))
    assert (run / "keep.txt").read_text() == "precious"
    (run / "keep.txt").unlink()
    (run / "samples").mkdir()  # what a run stopped during its first steps leaves
    (run / "run_config.yaml").write_text("model: dcgan\n")
    train(tiny_train_config(overwrite_output_dir=True))
    assert (run / "model_index.json").exists()


def test_resume_without_checkpoint_is_refused(tiny_train_config, tmp_path):
    with pytest.raises(GenzooError, match="does not exist, so there is no run to resume") as error:
        train(tiny_train_config(resume="latest"))
    assert "--overwrite-output-dir" not in str(error.value)
    (tmp_path / "run").mkdir()
    with pytest.raises(GenzooError, match="No checkpoint to resume from"):
        train(tiny_train_config(resume="latest"))
    with pytest.raises(GenzooError, match="is not a genzoo checkpoint folder"):
        train(tiny_train_config(resume="/no/such/checkpoint"))


def test_cli_errors_are_one_line_and_exit_non_zero(tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["train", "nosuchmodel", "--output-dir", str(tmp_path / "y")])
    assert excinfo.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("genzoo: error: Unknown model 'nosuchmodel'. Available models: ") and "dcgan" in err
    with pytest.raises(SystemExit):
        main(["train", "dcgan", "--output-dir", str(tmp_path / "y"), "--set", "batch_size=many"])
    assert "batch_size expects an integer, got 'many'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as excinfo:  # an OSError (here: a folder where a file should be) is one line too
        main(["train", "dcgan", "--output-dir", str(tmp_path / "y"), "--config", str(tmp_path)])
    assert excinfo.value.code == 1 and "is a folder; pass a YAML file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", str(tmp_path / "missing"), "-o", str(tmp_path / "x.png")])
    assert "No such folder" in capsys.readouterr().err


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_with_accelerate_launch(tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2 -m genzoo train` on the CPU: two gloo processes, one
    pipeline, one set of grids, one evaluation whose samples both processes generate. The objective is WGAN-GP with
    R1 and spectral norm, so the double backward of both penalties runs under DDP too, and the generator's step reuses
    the discriminator step's images (`reuse_fakes`; one multi-process run for all checks, as each costs many
    seconds)."""
    with socket.socket() as sock:  # a free port, so concurrent runs on one machine do not collide
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = tmp_path / "ddp"
    result = _run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
         "-m", "genzoo", "train", "dcgan", "--output-dir", str(run), "--max-steps", "3", "--batch-size", "8",
         "--sample-every", "3", *TINY, "--objective", "wgan-gp", "--set", "objective_args.n_critic=3",
         "--set", "objective_args.r1_gamma=1.0", "--set", "objective_args.spectral_norm=true",
         "--set", "log_every=1", "--set", "eval_every=3", "--set", "eval_num_samples=151",
         "--set", "eval_metrics=[fid]", "--set", "lr_scheduler=linear", "--set", "objective_args.reuse_fakes=true"],
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es) x batch 8" in result.stdout
    # In-training evaluation on both processes: 76 + 75 samples (one padding image dropped), gathered on the main one.
    evaluated = json.loads((run / "best" / "eval_results.json").read_text())
    assert evaluated["num_samples"] == 151 and np.isfinite(evaluated["fid"])
    assert result.stdout.count("step 3: fid = ") == 1
    # Process r drew its share with seed + 1_000_003 r: recompute the gathered features here, in one process.
    from genzoo import load_dataset
    from genzoo.metrics import FeatureStatistics, load_feature_extractor, reference_features
    from genzoo.metrics.standard import _fid

    best = GenPipeline.from_pretrained(run / "best")
    extractor = load_feature_extractor("mnist-classifier")
    shares = [best(batch_size=76, generator=torch.Generator().manual_seed(1_000_003 * rank), output_type="pt").images
              for rank in (0, 1)]  # fmt: skip
    features = extractor(torch.cat([shares[0], shares[1][:75]]) * 2 - 1)
    reference = reference_features(load_dataset("mnist-5k"), extractor, 28, 1, progress=False)
    expected = _fid(reference.stats, FeatureStatistics.from_features(features, batch_size=250))
    assert evaluated["fid"] == pytest.approx(expected, rel=1e-6)
    logged = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged if "loss_g" in row] == [3]  # n_critic=3: after three critic updates
    # The schedule follows the global step: stepped once per step, not once per process.
    lrs = [row["lr/model"] for row in logged if "loss_d" in row]
    np.testing.assert_allclose(lrs, [1e-4 * 2 / 3, 1e-4 / 3, 0.0], atol=1e-12)
    assert all({"gradient_penalty", "r1_penalty"} <= set(row) for row in logged if "loss_d" in row)
    assert all(np.isfinite(value) for row in logged for value in row.values())
    assert result.stdout.count("Saved the pipeline") == 1
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000003.png"]
    assert sorted(p.name for p in (run / "checkpoints" / "step_000003").glob("random_states_*")) == [
        "random_states_0.pkl",
        "random_states_1.pkl",
    ]
    GenPipeline.from_pretrained(run)(batch_size=2)


def test_sampling_mode_swaps_in_eval_mode_and_ema_weights_and_restores_them():
    from diffusers.training_utils import EMAModel

    from genzoo.modeling import sampling_mode

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).train()
    ema = EMAModel(model.parameters(), decay=0.5)
    trained = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in ema.shadow_params:
            p.add_(1.0)
    with pytest.raises(RuntimeError), sampling_mode(model, ema):
        assert not model.training
        assert all(torch.equal(p, s) for p, s in zip(model.parameters(), ema.shadow_params, strict=True))
        raise RuntimeError("sampling failed")
    assert model.training, "training mode comes back, also after an error"
    assert all(torch.equal(p, t) for p, t in zip(model.parameters(), trained, strict=True))


# --- the CPU thread count -----------------------------------------------------------------------------------------
@pytest.fixture
def machine(monkeypatch):
    """A machine of 4 usable cores (PyTorch's default: 8) whose load average the test sets; no OMP_NUM_THREADS."""
    from genzoo.training import runtime as training

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(training.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(training, "_TORCH_THREADS", 8)

    def set_load(load: float) -> None:
        monkeypatch.setattr(training.os, "getloadavg", lambda: (load, load, load))

    return set_load


@pytest.mark.parametrize(
    ("load", "processes", "expected"),
    [(0.0, 1, 4), (0.4, 1, 4), (1.2, 1, 3), (2.6, 1, 1), (9.0, 1, 1), (0.0, 2, 2), (1.0, 2, 1), (0.0, 8, 1)],
)
def test_the_thread_count_is_the_free_cores_shared_by_the_local_processes(machine, load, processes, expected):
    from genzoo.training import choose_num_threads

    machine(load)
    threads, why = choose_num_threads(None, processes)
    assert threads == expected
    assert f"4 usable cores with load {load:.1f}" in why and ("processes" in why) == (processes > 1)


def test_num_threads_and_omp_num_threads_win_over_the_choice(machine, monkeypatch):
    from genzoo.training import choose_num_threads

    machine(3.9)
    assert choose_num_threads(3) == (3, "set by num_threads")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert choose_num_threads(None) == (torch.get_num_threads(), "from OMP_NUM_THREADS")
    from genzoo.training.runtime import _TORCH_THREADS

    monkeypatch.setattr("genzoo.training.runtime._TORCH_THREADS", 2)  # never more than PyTorch's own default
    monkeypatch.delenv("OMP_NUM_THREADS")
    machine(0.0)
    assert choose_num_threads(None)[0] == 2 and _TORCH_THREADS >= 1


def test_a_resume_keeps_the_thread_count_it_was_trained_with(machine, tmp_path, capsys):
    # The thread count changes float rounding (1 and 2 threads give weights 2e-7 apart after 20 tiny DCGAN steps), so
    # a resume that chose again from the load would no longer be bit-identical to an uninterrupted run.
    args = ["train", "dcgan", "--batch-size", "8", "--sample-every", "0", "--checkpoint-every", "1", *TINY]
    args += ["--output-dir", str(tmp_path / "run")]
    main([*args, "--max-steps", "1", "--num-threads", "2"])
    machine(3.9)  # a busy machine: a fresh choice would be 1
    main([*args, "--max-steps", "2", "--resume", "latest"])
    out = capsys.readouterr().out
    assert "2 CPU thread(s) per process (as the resumed run was trained" in out
    assert "no longer reproducible" not in out
    main([*args, "--max-steps", "3", "--resume", "latest", "--num-threads", "1"])
    assert "num_threads (2 there, 1 now)" in capsys.readouterr().out  # asked for: allowed, with the warning


def test_the_num_threads_flag_and_the_chosen_count_are_logged_and_recorded(machine, tmp_path, capsys):
    import yaml

    before = torch.get_num_threads()
    seen = []
    from genzoo.training import setup

    inner = setup.load_training_dataset  # called with the run's thread count in place

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return inner(*args, **kwargs)

    args = ["train", "dcgan", "--max-steps", "1", "--batch-size", "8", "--sample-every", "0", *TINY]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(setup, "load_training_dataset", recording)
        main([*args, "--output-dir", str(tmp_path / "flag"), "--num-threads", "3"])
        machine(2.6)
        main([*args, "--output-dir", str(tmp_path / "auto")])
    out = capsys.readouterr().out
    assert "3 CPU thread(s) per process (set by num_threads)" in out
    assert "1 CPU thread(s) per process (chosen from 4 usable cores with load 2.6" in out
    assert seen == [3, 1], "the runs trained with the count chosen"
    assert yaml.safe_load((tmp_path / "flag" / "run_config.yaml").read_text())["num_threads"] == 3
    assert yaml.safe_load((tmp_path / "auto" / "run_config.yaml").read_text())["num_threads"] == 1
    assert torch.get_num_threads() == before, "train() leaves the process's thread count as it found it"
    with pytest.raises(SystemExit):
        main([*args, "--output-dir", str(tmp_path / "zero"), "--num-threads", "0"])
    assert "num_threads must be at least 1" in capsys.readouterr().err and not (tmp_path / "zero").exists()
