"""The conditional GAN plugin: the shared tester mixins plus class conditioning, the projection discriminator,
dispatch to `CGANPipeline`, label errors, and `genzoo train cgan` / `genzoo sample --class-label` end to end."""

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from torch.nn.utils import parametrize

from genzoo import GenPipeline
from genzoo.cli import main
from genzoo.registry import get_model, get_objective
from genzoo.testing import GeneratorTesterMixin
from genzoo_cgan import (
    OBJECTIVE_DEFAULTS,
    TRAINING_DEFAULTS,
    CGANGenerator,
    CGANPipeline,
    ConditionalBatchNorm2d,
    ProjectionDiscriminator,
)

TINY = {"latent_dim": 8, "image_size": 28, "num_channels": 1, "num_classes": 10, "base_channels": 4}
TINY_SET = [
    "--set", "model_args.latent_dim=8",
    "--set", "model_args.base_channels=4",
    "--set", "objective_args.discriminator.base_channels=4",
    "--set", "sample_every=0",
    "--set", "checkpoint_every=0",
    "--set", "num_sample_images=10",
    "--set", "log_every=1",
]  # fmt: skip


class TestCGAN(GeneratorTesterMixin):
    model_name = "cgan"
    model_args = TINY
    objective_args = {"discriminator": {"base_channels": 4}}


class TestCGANConcatRGB32(GeneratorTesterMixin):
    model_name = "cgan"
    model_args = {**TINY, "image_size": 32, "num_channels": 3, "num_classes": 3, "conditioning": "concat"}
    objective_args = {"discriminator": {"base_channels": 4}}


def tiny_pipeline(seed: int = 0, **overrides) -> CGANPipeline:
    torch.manual_seed(seed)
    return CGANPipeline(model=CGANGenerator(**{**TINY, **overrides}).eval())


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory) -> Path:
    """A tiny CGAN trained for 10 steps through the real command line (defaults of the cgan registration)."""
    output_dir = tmp_path_factory.mktemp("cgan") / "run"
    main(["train", "cgan", "--output-dir", str(output_dir), "--max-steps", "10", "--batch-size", "16", "--seed", "0",
          *TINY_SET])  # fmt: skip
    return output_dir


# --- registration and training defaults -------------------------------------------------------------------------
def test_registration():
    registration = get_model("cgan")
    assert registration.pipeline_class is CGANPipeline
    assert registration.discriminator_class is ProjectionDiscriminator
    assert registration.default_objective == "hinge"


def test_training_defaults_build_a_model_and_objective(tmp_path):
    """The defaults of `genzoo train cgan --output-dir X` are valid config keys and build the networks."""
    from genzoo.cli import build_parser
    from genzoo.cli.train import config_from_args

    config = config_from_args(build_parser().parse_args(["train", "cgan", "--output-dir", str(tmp_path)]))
    assert config.dataset == "mnist-5k" and config.max_steps == TRAINING_DEFAULTS["max_steps"]
    assert config.objective == "hinge"  # the registration's own, recorded by name
    registration = get_model("cgan")
    model = registration.generator_class(**config.model_args)
    objective = get_objective(registration.default_objective).obj(model, registration, **config.objective_args)
    assert isinstance(objective.networks["discriminator"], ProjectionDiscriminator)


def test_tuned_optimiser_settings_apply_to_the_hinge_loss_only(tmp_path):
    """The CGAN's lr 2e-3 was tuned with the hinge loss: `--objective wgan-gp` keeps WGAN-GP's own 1e-4 (and its
    other defaults), while the family-wide defaults (the critic's width) apply to every objective."""
    from genzoo.cli import build_parser
    from genzoo.cli.train import config_from_args

    def objective_for(*argv):
        config = config_from_args(build_parser().parse_args(["train", "cgan", *argv, "--output-dir", str(tmp_path)]))
        registration = get_model("cgan")
        model = registration.generator_class(**{**config.model_args, **TINY})
        name = config.objective or registration.default_objective
        return config, get_objective(name).obj(model, registration, **config.objective_args)

    config, hinge = objective_for()
    assert type(hinge).__name__ == "HingeObjective"
    assert hinge.lr == hinge.lr_d == OBJECTIVE_DEFAULTS["hinge"]["lr"] == 2e-3 and hinge.betas == (0.0, 0.9)
    assert config.objective_args["discriminator"] == {"base_channels": 32}

    config, bce = objective_for("--objective", "bce")  # an alias of `gan`, which the settings were measured with
    assert config.objective == "gan"  # recorded by its registered name
    assert type(bce).__name__ == "GANObjective" and bce.lr == 2e-3 and bce.betas == (0.0, 0.9)

    config, wgan = objective_for("--objective", "wgangp")  # an alias of an objective they were not tuned for
    assert type(wgan).__name__ == "WGANGPObjective"
    assert wgan.lr == wgan.lr_d == 1e-4 and wgan.n_critic == 5 and wgan.gradient_penalty == 10.0
    assert config.objective_args == {"discriminator": {"base_channels": 32}}

    config, _ = objective_for("--objective", "hinge", "--set", "objective_args.lr=5e-4")  # the user still wins
    assert config.objective_args["lr"] == 5e-4 and config.objective_args["betas"] == [0.0, 0.9]
    assert get_model("cgan").objective_defaults["hinge"]["lr"] == 2e-3  # defaults untouched


def test_plugins_lists_cgan_beside_dcgan(capsys):
    main(["plugins", "--json"])
    models = {name for plugin in json.loads(capsys.readouterr().out)["plugins"] for name in plugin["models"]}
    assert {"dcgan", "cgan"} <= models


# --- generator -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("conditioning", ["batchnorm", "concat"])
def test_class_changes_the_image(conditioning):
    model = tiny_pipeline(conditioning=conditioning).model
    latents = torch.randn(1, 8).repeat(2, 1)
    with torch.no_grad():
        for module in model.modules():  # untrained conditional layers start class-blind; make them differ
            if isinstance(module, torch.nn.Embedding):
                torch.nn.init.normal_(module.weight)
        images = model(latents, torch.tensor([0, 1]))
    assert not torch.allclose(images[0], images[1])


def test_conditional_batch_norm_starts_as_batch_norm():
    layer = ConditionalBatchNorm2d(4, num_classes=3)
    x = torch.randn(6, 4, 5, 5)
    expected = torch.nn.functional.batch_norm(x, None, None, training=True)
    torch.testing.assert_close(layer(x, torch.tensor([0, 1, 2, 0, 1, 2])), expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 0}, "num_classes >= 1"),
        ({"conditioning": "film"}, "conditioning must be one of"),
        ({"class_names": ["a", "b"]}, "2 names for 10 classes"),
    ],
)
def test_bad_generator_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CGANGenerator(**{**TINY, **kwargs})


def test_generator_needs_labels():
    with pytest.raises(ValueError, match="class_labels"):
        tiny_pipeline().model(torch.randn(2, 8))


# --- pipeline --------------------------------------------------------------------------------------------------------
def test_ten_images_for_ten_labels_and_range_errors():
    pipe = tiny_pipeline()
    images = pipe(class_labels=list(range(10)), generator=torch.Generator().manual_seed(0)).images
    assert len(images) == 10 and all(isinstance(image, PIL.Image.Image) for image in images)
    for bad in (10, -1):
        with pytest.raises(ValueError, match=rf"Class label {bad} is out of range.*0 to 9"):
            pipe(class_labels=[0, bad])
        with pytest.raises(ValueError, match=rf"Class label {bad} "):
            pipe(batch_size=2, class_labels=bad)
        with pytest.raises(ValueError, match=rf"Class label {bad} "):
            pipe(class_labels=torch.tensor([bad]))


def test_labels_spread_evenly_when_omitted():
    pipe = tiny_pipeline()
    latents = torch.randn(20, 8)
    spread = pipe(latents=latents, output_type="pt").images
    explicit = pipe(latents=latents, class_labels=torch.arange(20) // 2, output_type="pt").images
    torch.testing.assert_close(spread, explicit)


def test_class_names_select_classes():
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    pipe = tiny_pipeline(class_names=names)
    latents = torch.randn(3, 8)
    by_name = pipe(latents=latents, class_labels=["three", "seven", "three"], output_type="np").images
    by_index = pipe(latents=latents, class_labels=[3, 7, 3], output_type="np").images
    np.testing.assert_array_equal(by_name, by_index)
    single = pipe(latents=latents[:2], class_labels="seven", output_type="np").images
    np.testing.assert_array_equal(single, pipe(latents=latents[:2], class_labels=7, output_type="np").images)
    with pytest.raises(ValueError, match=r"Unknown class name 'ten'; valid names are zero, one"):
        pipe(class_labels=["ten"])
    assert tiny_pipeline().class_names == [str(i) for i in range(10)]


def test_class_names_in_interpolations():
    pipe = tiny_pipeline(class_names=[f"c{i}" for i in range(10)])
    path = pipe.interpolate(steps=3, generator=torch.Generator().manual_seed(0), class_labels="c4", output_type="np")
    expected = pipe.interpolate(steps=3, generator=torch.Generator().manual_seed(0), class_labels=4, output_type="np")
    np.testing.assert_array_equal(path.images, expected.images)
    grid = pipe.interpolation_grid(
        rows=2, steps=3, generator=torch.Generator().manual_seed(0), class_labels=["c1", "c2"]
    )
    same = pipe.interpolation_grid(rows=2, steps=3, generator=torch.Generator().manual_seed(0), class_labels=[1, 2])
    np.testing.assert_array_equal(np.asarray(grid), np.asarray(same))
    with pytest.raises(ValueError, match="Unknown class name 'c10'"):
        pipe.interpolate(class_labels="c10")


def test_class_grid_has_one_column_per_class():
    pipe = tiny_pipeline()
    grid = pipe.class_grid(images_per_class=3, generator=torch.Generator().manual_seed(0))
    assert grid.size == (10 * 28, 3 * 28)
    picked = pipe.class_grid(images_per_class=2, classes=[1, "4"], same_latents=True)
    assert picked.size == (2 * 28, 2 * 28)
    with pytest.raises(ValueError, match="images_per_class"):
        pipe.class_grid(images_per_class=0)


def test_class_grid_with_same_latents_varies_only_the_class():
    pipe = tiny_pipeline()
    grid = pipe.class_grid(2, classes=[5, 5], generator=torch.Generator().manual_seed(0), same_latents=True)
    cells = np.asarray(grid.convert("L")).reshape(2, 28, 2, 28)
    np.testing.assert_array_equal(cells[:, :, 0], cells[:, :, 1])  # same class, same latent: same image
    assert not np.array_equal(cells[0], cells[1])  # rows have different latents


def test_saved_folder_loads_as_cgan_pipeline(tmp_path):
    pipe = tiny_pipeline(class_names=[f"c{i}" for i in range(10)])
    pipe.save_pretrained(tmp_path / "pipe")
    assert json.loads((tmp_path / "pipe" / "model_index.json").read_text())["_class_name"] == "CGANPipeline"
    loaded = GenPipeline.from_pretrained(tmp_path / "pipe")
    assert type(loaded) is CGANPipeline
    assert loaded.class_names == [f"c{i}" for i in range(10)]
    latents = torch.randn(2, 8)
    np.testing.assert_array_equal(
        loaded(latents=latents, class_labels=["c2", "c9"], output_type="np").images,
        pipe(latents=latents, class_labels=[2, 9], output_type="np").images,
    )


# --- projection discriminator ----------------------------------------------------------------------------------------
def test_projection_term_changes_the_logit():
    """The label enters only through the projection: changing it from y' to y moves the logit of an image x by
    exactly ⟨embed(y) − embed(y'), φ(x)⟩, whatever the unconditional term is."""
    torch.manual_seed(0)
    critic = ProjectionDiscriminator(image_size=28, num_channels=1, num_classes=10, base_channels=4).eval()
    images = torch.rand(3, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        logits = torch.stack([critic(images, torch.full((3,), y)) for y in range(10)], dim=1)  # (image, class)
        features = critic.features(images)  # φ(x)
        embeddings = critic.class_embedding.weight  # the spectrally normalised embedding the forward pass uses
    assert logits.shape == (3, 10)
    assert all(row.unique().numel() == 10 for row in logits)  # one image, ten classes: ten different judgements
    torch.testing.assert_close(logits - logits[:, :1], features @ (embeddings - embeddings[0]).T)


def test_projection_is_the_only_class_dependent_part():
    """Without the class embedding the critic is the unconditional one (ψ alone), for every label; with it,
    swapping the labels of two images changes both logits."""
    torch.manual_seed(0)
    critic = ProjectionDiscriminator(num_classes=10, base_channels=4, spectral_norm=False).eval()
    unconditional = ProjectionDiscriminator(num_classes=0, base_channels=4, spectral_norm=False).eval()
    shared = {k: v for k, v in critic.state_dict().items() if not k.startswith("class_embedding")}
    unconditional.load_state_dict(shared)
    images = torch.rand(2, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        labels, swapped = torch.tensor([3, 8]), torch.tensor([8, 3])
        assert (critic(images, labels) - critic(images, swapped)).abs().min() > 1e-4
        critic.class_embedding.weight.zero_()
        plain = unconditional(images)
        for y in range(10):
            torch.testing.assert_close(critic(images, torch.full((2,), y)), plain)
        torch.testing.assert_close(critic(images, swapped), plain)


def test_spectral_norm_on_every_layer():
    critic = ProjectionDiscriminator(image_size=28, num_channels=1, num_classes=10, base_channels=4)
    layers = [m for m in critic.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear | torch.nn.Embedding)]
    assert len(layers) == 4 and all(parametrize.is_parametrized(m, "weight") for m in layers)
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    for _ in range(30):  # each training-mode forward runs one power iteration
        critic(images, torch.arange(8))
    critic.eval()
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)
    plain = ProjectionDiscriminator(num_classes=10, base_channels=4, spectral_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())


def test_unconditional_and_missing_labels():
    critic = ProjectionDiscriminator(base_channels=4)  # num_classes=0: no projection term
    assert critic.class_embedding is None and critic(torch.zeros(2, 1, 28, 28)).shape == (2,)
    with pytest.raises(ValueError, match="class_labels"):
        ProjectionDiscriminator(num_classes=10, base_channels=4)(torch.zeros(2, 1, 28, 28))


# --- command line, end to end ---------------------------------------------------------------------------------------
def test_train_cgan_end_to_end(trained_dir):
    config = (trained_dir / "run_config.yaml").read_text()
    assert "model: cgan" in config and "max_steps: 10" in config
    pipe = GenPipeline.from_pretrained(trained_dir)
    assert type(pipe) is CGANPipeline
    assert pipe.class_names == [str(i) for i in range(10)]  # taken from mnist-5k's labels
    images = pipe(class_labels=list(range(10)), generator=torch.Generator().manual_seed(0)).images
    assert len(images) == 10
    with pytest.raises(ValueError, match=r"Class label 10 .*0 to 9"):
        pipe(class_labels=[10])
    grid = PIL.Image.open(trained_dir / "samples.png")
    assert grid.size == (10 * 28, 28)  # one column per class
    logs = [json.loads(line) for line in (trained_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert logs[-1]["step"] == 10 and np.isfinite(logs[-1]["loss_d"])


def test_sample_class_label(trained_dir, tmp_path, capsys):
    output = tmp_path / "threes.png"
    main(["sample", str(trained_dir), "--class-label", "3", "-n", "4", "--rows", "1", "-o", str(output)])
    assert "Saved 4 images" in capsys.readouterr().out
    grid = np.asarray(PIL.Image.open(output).convert("L"))
    assert grid.shape[:2] == (28, 4 * 28)
    pipe = GenPipeline.from_pretrained(trained_dir)
    expected = pipe(batch_size=4, class_labels=3, generator=torch.Generator().manual_seed(0), output_type="np")
    first = (expected.images[0, :, :, 0] * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(grid[:, :28], first)


def test_sample_rejects_an_unknown_class(trained_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", str(trained_dir), "--class-label", "10", "-o", str(tmp_path / "x.png")])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the loading progress bar
    assert error == "genzoo: error: Class label 10 is out of range: valid labels are 0 to 9."


def _write_flat_image_folder(folder: Path, count: int = 4) -> None:
    folder.mkdir()
    for i in range(count):
        PIL.Image.fromarray(np.full((28, 28), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")


@pytest.mark.parametrize("source", ["unlabelled-folder", "no-label-column"])
def test_dataset_without_labels_stops_at_once(source, tmp_path, capsys):
    if source == "unlabelled-folder":
        _write_flat_image_folder(tmp_path / "images")
        data = ["--dataset", f"imagefolder:{tmp_path / 'images'}"]
    else:
        data = ["--label-column", ""]
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "cgan", "--output-dir", str(tmp_path / "run"), "--max-steps", "5", *data, *TINY_SET])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after any dataset progress bar
    assert error.startswith("genzoo: error: Model 'cgan' is class-conditional but dataset")
    assert "has no label column" in error
    assert not (tmp_path / "run").exists()  # stopped before writing anything


def test_bce_objective_trains(tmp_path):
    output_dir = tmp_path / "bce"
    main(["train", "cgan", "--objective", "gan", "--output-dir", str(output_dir), "--max-steps", "2",
          "--batch-size", "8", *TINY_SET])  # fmt: skip
    assert "objective: gan" in (output_dir / "run_config.yaml").read_text()
    logs = [json.loads(line) for line in (output_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logs] == [1, 2]
    assert all(np.isfinite(entry["loss_d"]) and np.isfinite(entry["loss_g"]) for entry in logs)
    assert type(GenPipeline.from_pretrained(output_dir)) is CGANPipeline
