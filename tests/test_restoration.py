"""Inversion and restoration (genzoo.restoration): image conversion, the degradation operators, `pipe.invert`,
`inpaint`, `super_resolve`, `denoise` on every built-in family and on a plugin's family, one-line errors, and
`genzoo restore`. The tester mixin runs the generic checks per family; these are the specifics."""

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from genzoo import Generator, GenPipeline, hookimpl
from genzoo.cli import main
from genzoo.errors import GenzooError
from genzoo.restoration import (
    Downsample,
    GaussianNoise,
    Mask,
    invert,
    restoration_figure,
    to_mask,
    to_pixels,
)
from genzoo_cgan import CGANGenerator, CGANPipeline
from genzoo_gan import DCGANGenerator
from genzoo_vae import VAEGenerator, VAEPipeline

TINY = {
    "dcgan": lambda: GenPipeline(DCGANGenerator(latent_dim=8, base_channels=8)),
    "cgan": lambda: CGANPipeline(CGANGenerator(latent_dim=8, base_channels=4, num_classes=3)),
    "vae": lambda: VAEPipeline(VAEGenerator(latent_dim=4, base_channels=4, hidden_dim=16)),
}
FAST = {"num_steps": 3, "num_restarts": 1}


def tiny(name: str, seed: int = 0) -> GenPipeline:
    torch.manual_seed(seed)
    pipe = TINY[name]()
    pipe.model.eval()
    return pipe


def labels_for(pipe: GenPipeline, count: int):
    return list(range(count)) if pipe.model.is_conditional else None


def digits(count: int = 2) -> torch.Tensor:
    """Real held-out digits as (count, 1, 28, 28) pixels in [0, 1]."""
    from genzoo import load_dataset

    rows = load_dataset("mnist-5k", split="test").data.select(range(count))
    return to_pixels([row["image"] for row in rows], 1)


def centre_mask(size: int = 28) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    return mask


# --- images in -----------------------------------------------------------------------------------------------------
def test_to_pixels_takes_pil_numpy_and_torch_alike():
    array = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    pil = to_pixels(PIL.Image.fromarray(array), 1)
    assert pil.shape == (1, 1, 28, 28) and pil.dtype == torch.float32
    torch.testing.assert_close(to_pixels(array, 1), pil)  # uint8 (H, W)
    torch.testing.assert_close(to_pixels(array[None, :, :, None] / 255.0, 1), pil)  # float NHWC
    torch.testing.assert_close(to_pixels(pil[0], 1), pil)  # CHW
    rgb = to_pixels(PIL.Image.fromarray(array).convert("RGB"), 1)  # PIL images are converted
    torch.testing.assert_close(rgb, pil)
    assert to_pixels([PIL.Image.fromarray(array)] * 3, 3).shape == (3, 3, 28, 28)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (torch.rand(1, 3, 28, 28), "3 channel"),
        (torch.rand(1, 1, 28, 28) * 2 - 1, r"in \[0, 1\]"),
        ("digit.png", "must be a PIL image"),
        (np.zeros((1, 2, 28, 28, 1)), "as a numpy array"),
    ],
)
def test_to_pixels_errors_are_one_line(image, message):
    with pytest.raises(GenzooError, match=message) as error:
        to_pixels(image, 1)
    assert "\n" not in str(error.value)


def test_masks_follow_the_diffusers_convention():
    mask = PIL.Image.fromarray((centre_mask()[0, 0].numpy() * 255).astype(np.uint8))  # white = repaint
    as_bool = to_mask(mask)
    assert as_bool.shape == (1, 1, 28, 28) and as_bool.dtype == torch.bool
    assert as_bool[0, 0, 14, 14] and not as_bool[0, 0, 0, 0]
    assert torch.equal(to_mask(centre_mask()[0, 0]), as_bool)  # (H, W) tensor
    assert torch.equal(to_mask(np.asarray(mask) / 255.0), as_bool)  # (H, W) array
    assert to_mask(torch.full((1, 1, 2, 2), 0.5)).all()  # >= 0.5 counts as white


# --- degradations --------------------------------------------------------------------------------------------------
def test_degradation_operators():
    images = digits(2)
    mask = to_mask(centre_mask())
    masked = Mask(mask).forward(images)
    assert torch.equal(masked[mask.expand_as(masked)], torch.zeros(int(mask.sum()) * 2))
    assert torch.equal(masked[~mask.expand_as(masked)], images[~mask.expand_as(images)])
    low = Downsample(4).forward(images)
    assert low.shape == (2, 1, 7, 7)
    torch.testing.assert_close(low[0, 0, 0, 0], images[0, 0, :4, :4].mean())
    noisy = GaussianNoise(0.3).degrade(images, generator=torch.Generator().manual_seed(0))
    again = GaussianNoise(0.3).degrade(images, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again) and noisy.min() >= 0 and noisy.max() <= 1
    assert 0.1 < float((noisy - images).std()) < 0.3  # σ = 0.3, less after clipping to [0, 1]


def test_data_term_is_the_gaussian_negative_log_likelihood():
    observed, predicted = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.1)
    torch.testing.assert_close(GaussianNoise(0.2).data_term(predicted, observed), torch.tensor([16 * 0.01 / 0.08]))
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[..., :2, :] = True  # half the pixels missing: they do not count
    torch.testing.assert_close(Mask(mask, noise_std=0.2).data_term(predicted, observed), torch.tensor([1.0]))


# --- the pipeline methods on every built-in family -----------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TINY))
def test_inpaint_keeps_known_pixels_exactly_in_every_output_type(name):
    pipe = tiny(name)
    image = digits(2)
    mask = centre_mask()
    known = (mask == 0).expand_as(image)
    options = {**FAST, "class_labels": labels_for(pipe, 2), "generator": torch.Generator().manual_seed(0)}
    out = pipe.inpaint(image=image, mask_image=mask, output_type="pt", **options).images
    assert torch.equal(out[known], image[known])
    assert not torch.equal(out[~known], image[~known])  # the hole was repainted
    arrays = pipe.inpaint(image=image, mask_image=mask, output_type="np", **options).images
    assert arrays.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(
        arrays[known.permute(0, 2, 3, 1).numpy()], image.permute(0, 2, 3, 1).numpy()[known.permute(0, 2, 3, 1).numpy()]
    )
    pils = [PIL.Image.fromarray((a[..., 0] * 255).round().astype(np.uint8)) for a in image.permute(0, 2, 3, 1).numpy()]
    repaired = pipe.inpaint(image=pils, mask_image=mask, **options).images
    for before, after in zip(pils, repaired, strict=True):
        keep = (mask[0, 0] == 0).numpy()
        np.testing.assert_array_equal(np.asarray(after)[keep], np.asarray(before)[keep])


@pytest.mark.parametrize("name", sorted(TINY))
def test_restoration_is_deterministic_for_a_seed(name):
    pipe = tiny(name)
    low = Downsample(4).degrade(digits(2))
    options = {**FAST, "class_labels": labels_for(pipe, 2), "output_type": "pt"}
    first = pipe.super_resolve(image=low, scale=4, generator=torch.Generator().manual_seed(0), **options).images
    again = pipe.super_resolve(image=low, scale=4, generator=torch.Generator().manual_seed(0), **options).images
    assert first.shape == (2, 1, 28, 28) and torch.equal(first, again)
    noisy = GaussianNoise(0.3).degrade(digits(2), generator=torch.Generator().manual_seed(0))
    denoised = pipe.denoise(image=noisy, noise_std=0.3, generator=torch.Generator().manual_seed(0), **options)
    assert denoised.images.shape == (2, 1, 28, 28)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.inpaint(image=torch.rand(1, 1, 32, 32), mask_image=centre_mask(32)), "32x32 but"),
        (lambda p: p.inpaint(image=torch.rand(1, 3, 28, 28), mask_image=centre_mask()), "3 channel"),
        (lambda p: p.inpaint(image=torch.rand(1, 1, 28, 28), mask_image=centre_mask(14)), "mask_image` is 14x14"),
        (lambda p: p.super_resolve(image=torch.rand(1, 1, 9, 9), scale=3), "scale 3 does not divide"),
        (lambda p: p.super_resolve(image=torch.rand(1, 1, 28, 28), scale=4), "takes 7x7 low-resolution"),
        (lambda p: p.denoise(image=torch.rand(1, 1, 28, 28), noise_std=0), "noise_std` must be positive"),
        (lambda p: p.invert(torch.rand(1, 1, 28, 28), num_steps=0), "has no encoder"),
        (lambda p: p.invert(torch.rand(1, 1, 28, 28), prior="uniform"), "prior"),
        (lambda p: p.invert(torch.rand(1, 1, 28, 28), class_labels=1), "unconditional"),
    ],
)
def test_bad_input_is_a_one_line_error(call, message):
    with pytest.raises((GenzooError, ValueError), match=message) as error:
        call(tiny("dcgan"))
    assert "\n" not in str(error.value)


def test_conditional_inversion_searches_the_classes_when_not_given():
    pipe = tiny("cgan")
    with torch.no_grad():  # make the classes look different: an untrained generator barely uses them
        for norm in pipe.model.norms:
            norm.shift.weight.copy_(torch.randn(norm.shift.weight.shape, generator=torch.Generator().manual_seed(0)))
    latents = pipe.model.sample_latents(2, generator=torch.Generator().manual_seed(1))
    target = pipe(latents=latents, class_labels=[2, 1], output_type="pt").images
    found, labels = pipe.invert(
        target, num_steps=20, num_restarts=1, generator=torch.Generator().manual_seed(0), return_class_labels=True
    )
    assert found.shape == (2, 8) and labels.tolist() == [2, 1]
    _, same = pipe.invert(target, class_labels=[0, 0], num_steps=1, num_restarts=1, return_class_labels=True)
    assert same.tolist() == [0, 0]
    with pytest.raises(ValueError, match="Unknown class name"):
        pipe.invert(target, class_labels="seven", num_steps=1)


def test_vae_inversion_starts_from_the_encoder_mean():
    pipe = tiny("vae")
    images = digits(3)
    encoder_only = pipe.invert(images, num_steps=0, num_restarts=1)
    mean, _ = pipe.model.encode(images * 2 - 1)
    torch.testing.assert_close(encoder_only, mean)
    encoder_objective = invert(pipe.model, images, num_steps=0, num_restarts=1).objective
    refined_objective = invert(
        pipe.model, images, num_steps=30, num_restarts=1, generator=torch.Generator().manual_seed(0)
    ).objective
    assert (refined_objective <= encoder_objective + 1e-4).all()  # refinement never loses the encoder's start
    assert (refined_objective < encoder_objective - 1e-3).all()


def test_sphere_prior_keeps_latents_on_the_sphere_and_feature_loss_runs():
    pipe = tiny("dcgan")
    images = digits(2)
    latents = pipe.invert(images, num_steps=5, num_restarts=2, prior="sphere")
    torch.testing.assert_close(latents.norm(dim=1), torch.full((2,), 8**0.5))
    features = nn.Sequential(nn.Flatten(), nn.Linear(784, 5))
    with_features = pipe.invert(images, num_steps=3, num_restarts=1, feature_extractor=features, feature_weight=2.0)
    assert with_features.shape == (2, 8)
    with pytest.raises(GenzooError, match="feature loss"):
        pipe.inpaint(image=images, mask_image=centre_mask(), feature_extractor=features, num_steps=1)


def test_a_batch_split_does_not_change_the_result():
    pipe = tiny("dcgan")
    images = digits(3)
    together = pipe.invert(images, num_steps=4, num_restarts=2, generator=torch.Generator().manual_seed(0))
    split = pipe.invert(images, num_steps=4, num_restarts=2, batch_size=2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(together, split)


def test_screening_starts_from_the_best_prior_draws():
    """num_candidates draws many latents, scores them without gradients and optimises only the best ones."""
    pipe = tiny("dcgan")
    images = digits(3)
    mask = Mask(to_mask(centre_mask()))
    draws = pipe.model.sample_latents(3 * 8, generator=torch.Generator().manual_seed(0)).view(3, 8, -1)
    with torch.no_grad():
        generated = (pipe.model(draws.flatten(0, 1)) + 1) / 2
        scores = mask.data_term(mask.forward(generated), images.repeat_interleave(8, 0))
        scores = (scores + pipe.model.prior_nll(draws.flatten(0, 1))).view(3, 8)
    # lr ~ 0: the optimisation does not move, so the result is the screened start itself.
    options = {"degradation": mask, "num_steps": 1, "lr": 1e-12, "num_restarts": 1}
    screened = invert(pipe.model, images, num_candidates=8, generator=torch.Generator().manual_seed(0), **options)
    best = scores.argmin(1)
    torch.testing.assert_close(screened.latents, draws[torch.arange(3), best])
    torch.testing.assert_close(screened.objective, scores.min(1).values, rtol=1e-4, atol=1e-3)
    plain = invert(pipe.model, images, generator=torch.Generator().manual_seed(0), **options)
    first = pipe.model.sample_latents(3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(plain.latents, first)  # no screening: one draw per image
    split = invert(
        pipe.model, images, num_candidates=8, batch_size=2, generator=torch.Generator().manual_seed(0), **options
    )
    torch.testing.assert_close(split.latents, screened.latents)  # deterministic under a batch split
    with pytest.raises(GenzooError, match="num_candidates"):
        invert(pipe.model, images, num_restarts=4, num_candidates=2, num_steps=1)


def test_screening_keeps_the_encoder_start_and_the_class_search():
    vae = tiny("vae")
    images = digits(2)
    encoder_only = invert(vae.model, images, num_steps=0, num_restarts=1)
    screened = invert(vae.model, images, num_steps=0, num_restarts=1, num_candidates=6)
    torch.testing.assert_close(screened.latents, encoder_only.latents)  # the one start stays the encoder's
    with_draws = invert(vae.model, images, num_steps=0, num_restarts=2, num_candidates=6)
    assert (with_draws.objective <= encoder_only.objective + 1e-4).all()
    cgan = tiny("cgan")
    found, labels = cgan.invert(
        images, num_steps=2, num_restarts=1, num_candidates=4, return_class_labels=True,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert found.shape == (2, 8) and labels.shape == (2,)


def test_a_loaded_pipeline_inpaints(trained_dcgan):
    """A pipeline loaded from a trained folder (EMA and batch norm statistics saved) inpaints too."""
    pipe = GenPipeline.from_pretrained(trained_dcgan)
    out = pipe.inpaint(image=digits(1), mask_image=centre_mask(), output_type="pt", **FAST).images
    assert out.shape == (1, 1, 28, 28) and out.min() >= 0 and out.max() <= 1


# --- a plugin's family through the interface -----------------------------------------------------------------------
class MLPGenerator(Generator):
    """A plugin's generator: an MLP on the latent, nothing genzoo knows about."""

    @register_to_config
    def __init__(self, latent_dim: int = 6, image_size: int = 8, num_channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 32), nn.Tanh(), nn.Linear(32, num_channels * image_size**2))

    def forward(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        size, channels = self.config.image_size, self.config.num_channels
        return torch.tanh(self.net(latents)).view(-1, channels, size, size)


class FrozenGenerator(MLPGenerator):
    """A family that says it cannot be inverted."""

    supports_inversion = False


class UniformPriorGenerator(MLPGenerator):
    """A family with a non-Gaussian prior that does not define its density."""

    latent_prior = "uniform"

    def sample_latents(self, batch_size, generator=None, device=None, dtype=None, truncation=None):
        return torch.rand((batch_size, *self.latent_shape), generator=generator).to(device or self.device) * 2 - 1


def test_a_non_gaussian_prior_needs_its_own_penalty():
    torch.manual_seed(0)
    pipe = GenPipeline(UniformPriorGenerator().eval())
    assert "truncation" not in pipe.supported_tasks() and "invert" in pipe.supported_tasks()
    target = torch.rand(1, 1, 8, 8)
    with pytest.raises(GenzooError, match="does not define prior_nll"):
        pipe.invert(target, num_steps=1)
    with pytest.raises(GenzooError, match="assumes a Gaussian latent prior"):
        pipe.invert(target, num_steps=1, prior="sphere")
    assert pipe.invert(target, num_steps=2, prior="none").shape == (1, 6)


class MLPPlugin:
    @hookimpl
    def register_models(self, register):
        register("mlp", MLPGenerator)
        register("frozen-mlp", FrozenGenerator)


def test_a_plugins_family_is_restored_through_the_generator_interface(register_plugin):
    register_plugin(MLPPlugin(), "mlp-plugin")
    torch.manual_seed(0)
    pipe = GenPipeline(MLPGenerator().eval())
    assert {"invert", "inpaint", "super_resolve", "denoise", "directions", "traverse"} <= pipe.supported_tasks()
    target = pipe(batch_size=2, generator=torch.Generator().manual_seed(3), output_type="pt").images
    latents = pipe.invert(target, num_steps=100, prior="none", generator=torch.Generator().manual_seed(0))
    rebuilt = pipe(latents=latents, output_type="pt").images
    assert float((rebuilt - target).abs().max()) < 0.05
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    out = pipe.inpaint(image=target, mask_image=mask, output_type="pt", **FAST).images
    assert torch.equal(out[..., :2, :], target[..., :2, :])
    assert pipe.super_resolve(image=Downsample(2).forward(target), scale=2, output_type="np", **FAST).images.shape == (
        2, 8, 8, 1,
    )  # fmt: skip

    frozen = GenPipeline(FrozenGenerator().eval())
    assert not {"invert", "inpaint", "super_resolve", "denoise"} & frozen.supported_tasks()
    for call in (lambda: frozen.invert(target), lambda: frozen.denoise(image=target, noise_std=0.1)):
        with pytest.raises(GenzooError, match="does not support inversion"):
            call()


# --- figure and command line ---------------------------------------------------------------------------------------
def test_restoration_figure_has_one_captioned_panel_per_column():
    pixels = digits(1)
    figure = restoration_figure(pixels, pixels, pixels, pixels, panel_size=56)
    assert figure.size == (4 * 56, 56 + 14)
    assert restoration_figure(None, pixels, pixels).size == (2 * 56 * 2, 112 + 14)


def test_genzoo_restore_writes_the_image_and_the_figure(trained_dcgan, tmp_path, capsys):
    digit = tmp_path / "digit.png"
    to_pil = (digits(1)[0, 0].numpy() * 255).round().astype(np.uint8)
    PIL.Image.fromarray(to_pil).save(digit)
    mask = tmp_path / "mask.png"
    PIL.Image.fromarray((centre_mask()[0, 0].numpy() * 255).astype(np.uint8)).save(mask)
    out = tmp_path / "out" / "restored.png"
    main(["restore", str(trained_dcgan), "--task", "inpaint", "-i", str(digit), "--mask", str(mask), "-o", str(out),
          "--steps", "2", "--restarts", "1", "--simulate"])  # fmt: skip
    assert "Saved the restored image" in capsys.readouterr().out
    with PIL.Image.open(out) as restored, PIL.Image.open(tmp_path / "out" / "restored-figure.png") as figure:
        assert restored.size == (28, 28)
        keep = centre_mask()[0, 0].numpy() == 0
        np.testing.assert_array_equal(np.asarray(restored)[keep], to_pil[keep])
        assert figure.size == (3 * 112, 112 + 14)  # input (the clean original), degraded, restored
    low = tmp_path / "low.png"
    PIL.Image.fromarray(to_pil).resize((7, 7), PIL.Image.Resampling.BOX).save(low)
    main(["restore", str(trained_dcgan), "--task", "super-resolve", "-i", str(low), "-o", str(tmp_path / "sr.png"),
          "--steps", "2", "--restarts", "1", "--candidates", "4",
          "--figure", str(tmp_path / "sr-fig.png")])  # fmt: skip
    with PIL.Image.open(tmp_path / "sr-fig.png") as figure:  # the low-resolution input is what the model saw
        assert figure.size == (2 * 112, 112 + 14)  # input, restored


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--task", "inpaint"], "--mask is required"),
        (["--task", "super-resolve", "--scale", "3"], "scale 3 does not divide"),
        (["--task", "super-resolve"], "takes 7x7 low-resolution images, got 28x28"),
        (["--task", "inpaint", "--mask", "{small}"], "mask_image` is 14x14 but the image is 28x28"),
        (["--task", "denoise", "--class-label", "3"], "unconditional"),
        (["--task", "denoise", "--restarts", "4", "--candidates", "2"], "--candidates must be at least --restarts"),
    ],
)
def test_genzoo_restore_errors(trained_dcgan, tmp_path, capsys, arguments, message):
    digit = tmp_path / "digit.png"
    PIL.Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(digit)
    small = tmp_path / "small.png"
    PIL.Image.fromarray(np.zeros((14, 14), dtype=np.uint8)).save(small)
    arguments = [a.replace("{small}", str(small)) for a in arguments]
    with pytest.raises(SystemExit) as exit_info:
        main(["restore", str(trained_dcgan), "-i", str(digit), "-o", str(tmp_path / "o.png"), "--steps", "1",
              *arguments])  # fmt: skip
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.splitlines()[-1]  # after the progress bar of the loading, if any
    assert error.startswith("genzoo: error:") and message in error
    assert not (tmp_path / "o.png").exists()
