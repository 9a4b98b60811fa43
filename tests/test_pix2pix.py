"""The pix2pix plugin: the shared tester mixins, one-pass restoration through the pipeline API, the degradations it
trains on, its objectives, the hybrid with a generator prior, and one-line refusals of bad input."""

import numpy as np
import PIL.Image
import pytest
import torch

from genzoo import GenPipeline
from genzoo.errors import ConfigError, GenzooError
from genzoo.tasks import Downsample, GaussianNoise, Mask
from genzoo.testing import GeneratorTesterMixin
from genzoo_gan import DCGANGenerator
from genzoo_pix2pix import L1Objective, Pix2PixGenerator, Pix2PixObjective, Pix2PixPipeline, TaskSpec
from genzoo_pix2pix.degradations import brush_masks, centre_mask, draw_masks
from genzoo_pix2pix.modeling_pix2pix import PatchGANDiscriminator, unet_depth
from genzoo_vae import VAEGenerator, VAEPipeline

TINY = {"image_size": 16, "num_channels": 1, "base_channels": 4, "max_channels": 8}


class TestPix2PixDenoise(GeneratorTesterMixin):
    model_name = "pix2pix"
    model_args = {**TINY, "task": "denoise"}
    objective_args = {"discriminator": {"base_channels": 4}}


class TestPix2PixInpaint(GeneratorTesterMixin):
    model_name = "pix2pix"
    objective_name = "l1"
    model_args = {**TINY, "task": "inpaint", "task_args": {"mask_kinds": ["boxes", "brush"]}}


class TestPix2PixSuperResolveRGB32(GeneratorTesterMixin):
    model_name = "pix2pix"
    objective_name = "l1"
    model_args = {**TINY, "image_size": 32, "num_channels": 3, "task": "super-resolve", "task_args": {"scales": [2]}}


def tiny_pipeline(task: str = "inpaint", seed: int = 0, **overrides) -> Pix2PixPipeline:
    torch.manual_seed(seed)
    return Pix2PixPipeline(model=Pix2PixGenerator(**{**TINY, "task": task, **overrides}).eval())


def digits(count: int = 3, size: int = 16, channels: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, channels, size, size, generator=torch.Generator().manual_seed(seed))


# --- the network and its input -----------------------------------------------------------------------------------
def test_unet_depth_follows_the_image_size():
    assert [unet_depth(size) for size in (8, 16, 28, 32, 64)] == [1, 2, 2, 3, 4]
    model = Pix2PixGenerator(image_size=28)
    assert len(model.downs) == 2 and model.config.latent_dim == 2 * 28 * 28
    assert Pix2PixGenerator(image_size=64, num_channels=3).latent_shape == (4, 64, 64)


def test_discriminator_judges_patches_of_pairs():
    discriminator = PatchGANDiscriminator(image_size=28, num_channels=1, base_channels=4)
    logits = discriminator(torch.zeros(2, 1, 28, 28), torch.zeros(2, 2, 28, 28))
    assert logits.shape == (2, 25)  # 5 x 5 patches
    with pytest.raises(ValueError, match="pairs"):
        discriminator(torch.zeros(2, 1, 28, 28))


def test_inpainting_network_keeps_the_known_pixels():
    model = Pix2PixGenerator(**TINY).eval()
    inputs = model.sample_latents(4, generator=torch.Generator().manual_seed(0))
    known = inputs[:, 1:] < 0.5
    assert known.any() and (~known).any()
    images = model(inputs)
    assert torch.equal(images[known], inputs[:, :1][known])


# --- the degradations drawn in training --------------------------------------------------------------------------
def test_task_spec_checks_and_normalises_options():
    assert TaskSpec.from_config("super-resolve", {"scale": 4}, 28).scales == (4,)
    assert TaskSpec.from_config("super_resolve", None, 28).scales == (2, 4)
    assert TaskSpec.from_config("denoise", {"noise_std": 0.3}, 28).noise_std == (0.3, 0.3)
    assert TaskSpec.from_config("inpaint", {"mask_kinds": "brush"}, 28).mask_kinds == ("brush",)
    for task, args, message in [
        ("colorize", None, "Unknown task 'colorize'; choose one of inpaint, super-resolve, denoise"),
        ("inpaint", {"scale": 2}, "unknown key"),
        ("inpaint", {"mask_kinds": ["circles"]}, "subset of centre, boxes, brush"),
        ("super-resolve", {"scale": 3}, "scale 3 does not divide the image size 28"),
        ("super-resolve", {"scales": [1]}, "at least 2"),
        ("denoise", {"noise_std": [0.5, 0.1]}, "range"),
    ]:
        with pytest.raises(ConfigError, match=message):
            TaskSpec.from_config(task, args, 28)


def test_masks_of_every_kind_hide_something_and_keep_something():
    generator = torch.Generator().manual_seed(0)
    centre = centre_mask(28)
    assert centre[0, 0, 7:21, 7:21].all() and centre.sum() == 14 * 14
    for kinds in [("centre",), ("boxes",), ("brush",), ("centre", "boxes", "brush")]:
        masks = draw_masks(kinds, 32, 28, generator)
        fraction = masks.flatten(1).float().mean(1)
        assert masks.dtype == torch.bool and masks.shape == (32, 1, 28, 28)
        assert ((fraction > 0) & (fraction < 1)).all()
    strokes = brush_masks(8, 28, torch.Generator().manual_seed(1))
    assert torch.equal(strokes, brush_masks(8, 28, torch.Generator().manual_seed(1)))  # seeded
    assert len({tuple(mask.flatten().tolist()) for mask in strokes}) == 8  # free-form: no two alike


def test_training_degradations_tell_the_model_which_one():
    clean = digits(64, 28)
    inputs, _ = TaskSpec.from_config("super-resolve", None, 28).draw(clean, torch.Generator().manual_seed(0))
    assert set(inputs[:, 1].unique().tolist()) == {0.5, 0.25}  # 1 / scale: both scales drawn
    rows = inputs[:, 1, 0, 0] == 0.25
    expected = Downsample(4).initial_estimate(Downsample(4).forward(clean[rows]), 28) * 2 - 1
    torch.testing.assert_close(inputs[rows, :1], expected)
    inputs, _ = TaskSpec.from_config("denoise", {"noise_std": [0.1, 0.4]}, 28).draw(clean, torch.Generator())
    sigmas = inputs[:, 1, 0, 0]
    assert (sigmas >= 0.1).all() and (sigmas <= 0.4).all() and sigmas.std() > 0.05


# --- the pipeline: one pass, the trained task only ---------------------------------------------------------------
def test_inpaint_in_one_pass_keeps_known_pixels_for_every_input_kind():
    pipe = tiny_pipeline("inpaint")
    image = digits(2)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    out = pipe.inpaint(image=image, mask_image=mask, output_type="pt").images
    assert out.shape == (2, 1, 16, 16)
    known = (mask == 0).expand_as(out)
    assert torch.equal(out[known], image[known])
    pil = PIL.Image.fromarray((image[0, 0].numpy() * 255).astype(np.uint8))
    mask_pil = PIL.Image.fromarray((mask[0, 0].numpy() * 255).astype(np.uint8))
    (restored,) = pipe.inpaint(image=pil, mask_image=mask_pil).images
    assert restored.size == (16, 16)
    assert pipe.supported_tasks() == {"sample", "interpolate", "restore", "inpaint"}


def test_super_resolve_and_denoise_in_one_pass():
    pipe = tiny_pipeline("super-resolve", task_args={"scales": [2, 4]})
    low = Downsample(4).forward(digits(2))
    assert pipe.super_resolve(image=low, output_type="np").images.shape == (2, 16, 16, 1)  # the largest scale
    assert pipe.super_resolve(image=Downsample(2).forward(digits(2)), scale=2, output_type="pt").images.shape == (
        2, 1, 16, 16,
    )  # fmt: skip
    pipe = tiny_pipeline("denoise")
    noisy = GaussianNoise(0.3).degrade(digits(2), generator=torch.Generator().manual_seed(0))
    first = pipe.denoise(image=noisy, noise_std=0.3, output_type="pt").images
    assert torch.equal(first, pipe.restore(noisy, GaussianNoise(0.3), output_type="pt").images)  # deterministic
    assert not torch.equal(first, pipe.denoise(image=noisy, noise_std=0.1, output_type="pt").images)  # told σ


def test_save_and_load_keeps_the_task_and_its_degradations(tmp_path):
    pipe = tiny_pipeline("denoise", task_args={"noise_std": [0.1, 0.2]})
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = GenPipeline.from_pretrained(tmp_path / "pipe")
    assert type(loaded) is Pix2PixPipeline and loaded.task == "denoise"
    assert loaded.model.spec.noise_std == (0.1, 0.2)
    noisy = digits(2)
    torch.testing.assert_close(
        loaded.denoise(image=noisy, noise_std=0.15, output_type="pt").images,
        pipe.denoise(image=noisy, noise_std=0.15, output_type="pt").images,
        rtol=0, atol=0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("task", "call", "message"),
    [
        (
            "denoise",
            lambda p: p.inpaint(image=digits(1), mask_image=centre_mask(16)),
            "trained for denoise, not inpaint",
        ),
        ("inpaint", lambda p: p.super_resolve(image=digits(1, 4), scale=4), "trained for inpaint, not super-resolve"),
        ("inpaint", lambda p: p.denoise(image=digits(1), noise_std=0.1), "--task denoise"),
        ("inpaint", lambda p: p.restore(digits(1), GaussianNoise(0.1)), "trained for inpaint, not denoise"),
        ("inpaint", lambda p: p.invert(digits(1)), "does not support inversion"),
        ("inpaint", lambda p: p.inpaint(image=digits(1), mask_image=centre_mask(16), prior_options={"a": 1}), "prior"),
        # wrong size, channel count, mode
        ("inpaint", lambda p: p.inpaint(image=digits(1, 20), mask_image=centre_mask(20)), "is 20x20 but"),
        ("inpaint", lambda p: p.inpaint(image=digits(1, channels=3), mask_image=centre_mask(16)), "3 channel"),
        ("inpaint", lambda p: p.inpaint(image=digits(1), mask_image=centre_mask(8)), "pass a mask of the image's"),
        ("inpaint", lambda p: p.inpaint(image=digits(1), mask_image=torch.zeros(1, 2, 16, 16)), "one channel"),
        ("inpaint", lambda p: p.inpaint(image=digits(1), mask_image=torch.ones(1, 1, 16, 16)), "all white"),
        ("inpaint", lambda p: p.inpaint(image=digits(1), mask_image=torch.zeros(16, 16)), "all black"),
        ("inpaint", lambda p: p.inpaint(image=digits(1) * 2, mask_image=centre_mask(16)), r"pixels in \[0, 1\]"),
        ("super-resolve", lambda p: p.super_resolve(image=digits(1, 8), scale=2), "trained for super-resolution by 4"),
        ("super-resolve", lambda p: p.super_resolve(image=digits(1, 16), scale=4), "low-resolution"),
        ("denoise", lambda p: p.denoise(image=digits(1), noise_std=0.9), "outside the range 0.05 to 0.5"),
        ("denoise", lambda p: p.denoise(image=digits(1), output_type="latents"), "output_type"),
    ],
)
def test_bad_input_gets_one_line(task, call, message):
    overrides = {"task_args": {"scales": [4]}} if task == "super-resolve" else {}
    with pytest.raises(GenzooError, match=message) as caught:
        call(tiny_pipeline(task, **overrides))
    assert "\n" not in str(caught.value)


def test_unknown_task_in_the_config_is_refused():
    with pytest.raises(ConfigError, match="Unknown task 'deblur'"):
        Pix2PixGenerator(**{**TINY, "task": "deblur"})


# --- the hybrid: a pix2pix output as the starting point of inversion ----------------------------------------------
def test_prior_refines_the_pix2pix_output_with_a_generator_that_has_an_encoder():
    pipe = tiny_pipeline("inpaint")
    torch.manual_seed(0)
    vae = VAEPipeline(model=VAEGenerator(latent_dim=4, image_size=16, num_channels=1, base_channels=4).eval())
    image, mask = digits(2), centre_mask(16)
    options = {"prior": vae, "prior_steps": 3, "prior_options": {"num_restarts": 1}}
    options["generator"] = torch.Generator().manual_seed(0)
    refined = pipe.inpaint(image=image, mask_image=mask, output_type="pt", **options).images
    assert refined.shape == (2, 1, 16, 16)
    known = (~mask).expand_as(refined)
    assert torch.equal(refined[known], image[known])
    one_pass = pipe.inpaint(image=image, mask_image=mask, output_type="pt").images
    assert not torch.equal(refined, one_pass)
    options["generator"] = torch.Generator().manual_seed(0)
    again = pipe.inpaint(image=image, mask_image=mask, output_type="pt", **options).images
    assert torch.equal(refined, again)
    gan = GenPipeline(model=DCGANGenerator(latent_dim=4, image_size=16, num_channels=1, base_channels=4).eval())
    with pytest.raises(GenzooError, match="no encoder"):
        pipe.inpaint(image=image, mask_image=mask, prior=gan)


# --- the objectives ----------------------------------------------------------------------------------------------
def _bound(objective):
    """Bind an objective without Accelerate's preparation (one CPU process)."""
    from accelerate import Accelerator

    objective.bind(Accelerator(cpu=True), objective.networks, objective.configure_optimizers())
    return objective


def test_l1_objective_with_the_feature_loss_lowers_its_loss():
    from accelerate.state import AcceleratorState, GradientState

    torch.manual_seed(0)
    model = Pix2PixGenerator(image_size=28, task="denoise", base_channels=4, max_channels=8).train()
    try:
        objective = _bound(L1Objective(model, feature_weight=0.1, lr=1e-2))
        batch = {"pixel_values": digits(8, 28) * 2 - 1}
        logs = [objective.training_step(batch, step, torch.Generator().manual_seed(0)) for step in range(6)]
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    assert {"loss", "l1", "feature"} <= set(logs[0])
    assert logs[-1]["loss"] < logs[0]["loss"]


def test_pix2pix_objective_is_lambda_l1_plus_the_conditional_gan_loss():
    from genzoo.registry import get_model

    model = Pix2PixGenerator(**TINY).train()
    objective = Pix2PixObjective(model, get_model("pix2pix"), discriminator={"base_channels": 4})
    assert objective.l1_weight == 100.0 and objective.lr_d == 2e-4
    assert isinstance(objective.networks["discriminator"], PatchGANDiscriminator)
    with pytest.raises(ConfigError, match="image-to-image"):
        L1Objective(DCGANGenerator(latent_dim=4, image_size=16, base_channels=4))
    with pytest.raises(ConfigError, match="feature_weight"):
        L1Objective(model, feature_weight=-1)
    with pytest.raises(ConfigError, match="always reuses its restoration"):  # its step already does what it asks
        Pix2PixObjective(model, get_model("pix2pix"), reuse_fakes=False)


def test_pipeline_draws_restoration_figures_of_real_images():
    pipe = tiny_pipeline("inpaint")
    figures = pipe.real_image_grids(digits(3) * 2 - 1)
    assert set(figures) == {"restorations"} and figures["restorations"].size[1] > 3 * 16


def test_mask_degradation_is_genzoos_own():
    """Training draws the same Degradation classes inversion restores through."""
    spec = TaskSpec.from_config("inpaint", {"mask_kinds": ["centre"]}, 16)
    clean = digits(2)
    inputs, missing = spec.draw(clean, torch.Generator())
    expected = Mask(centre_mask(16)).forward(clean).masked_fill(centre_mask(16), 0.5) * 2 - 1
    assert torch.equal(inputs[:, :1], expected) and torch.equal(missing, centre_mask(16).expand(2, -1, -1, -1))


# --- the command line ---------------------------------------------------------------------------------------------
def _image_folder(folder, count: int = 8, size: int = 16, mode: str = "RGB"):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        PIL.Image.fromarray(pixels).convert(mode).save(folder / f"{index}.png")
    return folder


def _train(tmp_path, *flags):
    from accelerate.state import AcceleratorState, GradientState

    from genzoo.cli import main

    folder = _image_folder(tmp_path / "images")
    argv = ["train", "pix2pix", "--dataset", f"imagefolder:{folder}", "--max-steps", "2", "--batch-size", "4",
            "--set", "model_args.base_channels=4", "--set", "num_sample_images=4",
            "--set", "objective_args.discriminator.base_channels=4", "--output-dir", str(tmp_path / "run"),
            *flags]  # fmt: skip
    try:
        main(argv)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    return tmp_path / "run"


def test_train_takes_the_task_and_its_options_on_an_rgb_folder(tmp_path):
    run = _train(tmp_path, "--task", "super-resolve", "--set", "task_args.scale=2")
    pipe = GenPipeline.from_pretrained(run)
    assert pipe.task == "super-resolve" and pipe.model.spec.scales == (2,)
    assert pipe.model.config.num_channels == 3 and (run / "restorations.png").is_file()
    assert pipe.super_resolve(image=digits(1, 8, 3), scale=2, output_type="pt").images.shape == (1, 3, 16, 16)
    with pytest.raises(GenzooError, match="trained for super-resolution by 2, not 4"):
        pipe.super_resolve(image=digits(1, 4, 3), scale=4)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--task", "colorize"], "Unknown task 'colorize'; choose one of inpaint, super-resolve, denoise"),
        (["--task", "super-resolve", "--set", "task_args.scale=3"], "scale 3 does not divide the image size 16"),
        (["--task", "denoise", "--set", "task_args.noise_std=[0.5,0.1]"], "noise_std must be one σ or a range"),
        (["--set", "task_args.mask_kinds=[circles]"], "subset of centre, boxes, brush"),
    ],
)
def test_bad_task_options_are_one_line_and_write_nothing(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        _train(tmp_path, *flags)
    assert exit_info.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("genzoo: error:")]
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "run").exists()


def test_task_is_refused_for_a_family_without_tasks():
    from genzoo.config import resolve_train_config

    with pytest.raises(ConfigError, match="'dcgan' has no tasks"):
        resolve_train_config({"model": "dcgan", "task": "inpaint"})
    config = resolve_train_config({"model": "pix2pix", "task": "denoise"}, overrides=["task_args.noise_std=0.3"])
    assert config.model_args == {"task": "denoise", "task_args": {"noise_std": 0.3}}
    assert resolve_train_config(config).model_args == config.model_args  # resolving again changes nothing


def test_genzoo_restore_runs_a_trained_model_in_one_pass_and_refuses_what_it_cannot(tmp_path, capsys):
    from genzoo.cli import main

    tiny_pipeline("inpaint").save_pretrained(tmp_path / "run")
    PIL.Image.fromarray((digits(1)[0, 0].numpy() * 255).astype(np.uint8)).save(tmp_path / "digit.png")
    PIL.Image.fromarray((centre_mask(16)[0, 0].numpy() * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    common = [str(tmp_path / "run"), "-i", str(tmp_path / "digit.png"), "-o", str(tmp_path / "out.png")]
    main(["restore", *common, "--task", "inpaint", "--mask", str(tmp_path / "mask.png")])
    with PIL.Image.open(tmp_path / "out.png") as restored:
        assert restored.size == (16, 16)
    assert (tmp_path / "out-figure.png").is_file()
    for flags, message in [
        (["--task", "denoise", "-o", str(tmp_path / "no.png")], "trained for inpaint, not denoise"),
        (["--task", "super-resolve", "--scale", "2", "--simulate", "-o", str(tmp_path / "no.png")],
         "not super-resolve"),
        (["--task", "inpaint", "--mask", str(tmp_path / "mask.png"), "--steps", "50", "--restarts", "2", "-o",
          str(tmp_path / "no.png")], "--steps, --restarts: this Pix2PixGenerator restores in one forward pass"),
    ]:  # fmt: skip
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(["restore", *common[:-2], *flags])
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("genzoo: error:")]
        assert exit_info.value.code == 1 and len(errors) == 1 and message in errors[0]
        assert not (tmp_path / "no.png").exists()


def test_demo_restore_tab_uses_the_one_pass_model():
    pytest.importorskip("gradio")
    from genzoo.demo import DemoSession

    session = DemoSession(tiny_pipeline("denoise"))
    assert session.restore_tasks == ["denoise"]
    image = PIL.Image.fromarray((digits(1)[0, 0].numpy() * 255).astype(np.uint8))
    given, restored = session.restore("denoise", image, degrade_first=True, noise_std=0.2)
    assert given.size == restored.size


def test_model_card_states_the_task_its_degradations_and_measured_rows(tmp_path):
    from genzoo.hub import build_model_card

    folder = tmp_path / "pipe"
    tiny_pipeline("super-resolve", task_args={"scales": [4]}).save_pretrained(folder)
    (folder / "eval_results.json").write_text('{"sr-x4 PSNR (dB)": 20.5, "num_images": 500}')
    card = str(build_model_card(folder))
    assert "pipeline_tag: image-to-image" in card
    assert "trained for **super-resolve**: super-resolution by ×4" in card and "pipe.super_resolve(" in card
    assert "| sr-x4 PSNR (dB) | 20.5 |" in card
    # How to use it is restoring, not sampling: the snippet and the command restore at the trained scale.
    assert "pipe.super_resolve(image=image, scale=4).images[0]" in card and "pipe(batch_size" not in card
    assert "genzoo restore path/to/this/folder --task super-resolve -i image.png --scale 4" in card
    assert "unconditional-image-generation" not in card and "task:\n      type: image-to-image" in card
