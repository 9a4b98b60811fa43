"""The call options diffusers users reach for, on every pipeline method that samples: `output_type="latent"`,
`return_dict=False`, `dtype=` in `from_pretrained`, the step options of diffusion pipelines (refused in one line,
since a GAN or VAE samples in one step), and class labels whose count does not match `batch_size`."""

import inspect

import pytest
import torch

from genzoo import GenPipeline
from genzoo.restoration import GaussianNoise, Mask, to_mask
from genzoo_cgan import CGANGenerator, CGANPipeline
from genzoo_gan import DCGANGenerator
from genzoo_infogan import InfoGANGenerator, InfoGANPipeline
from genzoo_pix2pix import Pix2PixGenerator, Pix2PixPipeline
from genzoo_resnet import ResNetGenerator
from genzoo_vae import CVAEGenerator, CVAEPipeline, VAEGenerator, VAEPipeline

#: Every model family genzoo ships (docs/publish-and-load.md, "Call options", has a row for each).
FAMILIES = ("dcgan", "cgan", "resnet", "vae", "cvae", "infogan", "pix2pix")
#: The families that restore by inverting their generator (pix2pix restores in one pass, its trained task only).
INVERTIBLE = ("dcgan", "cgan", "resnet", "vae", "cvae", "infogan")


def seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="module")
def pipes() -> dict[str, GenPipeline]:
    torch.manual_seed(0)
    return {
        "dcgan": GenPipeline(model=DCGANGenerator(latent_dim=8, base_channels=8).eval()),
        "cgan": CGANPipeline(model=CGANGenerator(latent_dim=8, base_channels=8, num_classes=10).eval()),
        "vae": VAEPipeline(model=VAEGenerator(latent_dim=4, base_channels=8, hidden_dim=16).eval()),
        "cvae": CVAEPipeline(model=CVAEGenerator(latent_dim=4, base_channels=8, hidden_dim=16, num_classes=10).eval()),
        # The ResNet family samples through the class-aware pipeline, here unconditional (SNGAN) at 32 px, RGB.
        "resnet": CGANPipeline(
            model=ResNetGenerator(latent_dim=8, base_channels=8, channel_multipliers=[1, 1, 1, 1]).eval()
        ),
        "infogan": InfoGANPipeline(model=InfoGANGenerator(noise_dim=4, base_channels=8, hidden_dim=16).eval()),
        # An inpainting model: its other restoration methods refuse (tests/test_pix2pix.py).
        "pix2pix": Pix2PixPipeline(model=Pix2PixGenerator(base_channels=4, max_channels=8).eval()),
    }


def images(count: int = 2) -> torch.Tensor:
    return torch.rand(count, 1, 28, 28, generator=seeded()) * 2 - 1


def pixels(pipe: GenPipeline, count: int, scale: int = 1) -> torch.Tensor:
    """Observations for the restoration methods at the model's size (divided by `scale`): NCHW in [0, 1]."""
    size, channels = pipe.model.config.image_size // scale, pipe.model.config.num_channels
    return torch.rand(count, channels, size, size, generator=seeded())


def centre_mask(pipe: GenPipeline) -> torch.Tensor:
    size = pipe.model.config.image_size
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return mask


def invert(pipe: GenPipeline) -> dict:
    """A two-step inversion from a fixed seed (of one class for a conditional model, which is faster)."""
    return {"num_steps": 2, "generator": seeded(), **({"class_labels": 0} if pipe.model.is_conditional else {})}


# Every method that takes `output_type` and `return_dict`, with the arguments that make it sample.
METHODS = [
    ("dcgan", "__call__", lambda pipe: {"batch_size": 3, "generator": seeded()}),
    ("dcgan", "interpolate", lambda pipe: {"steps": 3, "generator": seeded()}),
    ("cgan", "__call__", lambda pipe: {"batch_size": 3, "generator": seeded(), "class_labels": 2}),
    ("cgan", "interpolate", lambda pipe: {"steps": 3, "generator": seeded(), "class_labels": 1}),
    ("cgan", "class_interpolation", lambda pipe: {"start_class": 1, "end_class": 7, "steps": 3,
                                                  "generator": seeded()}),
    ("vae", "__call__", lambda pipe: {"batch_size": 3, "generator": seeded()}),
    ("vae", "interpolate", lambda pipe: {"steps": 3, "generator": seeded()}),
    ("vae", "decode", lambda pipe: {"latents": torch.randn(3, 4, generator=seeded())}),
    ("vae", "reconstruct", lambda pipe: {"images": images(3)}),
    ("infogan", "__call__", lambda pipe: {"batch_size": 3, "generator": seeded(), "codes": {"category": 2}}),
    ("infogan", "interpolate", lambda pipe: {"steps": 3, "generator": seeded()}),
    ("cvae", "__call__", lambda pipe: {"batch_size": 3, "generator": seeded(), "class_labels": 2}),
    ("cvae", "interpolate", lambda pipe: {"steps": 3, "generator": seeded(), "class_labels": 1}),
    ("cvae", "class_interpolation", lambda pipe: {"start_class": 1, "end_class": 7, "steps": 3,
                                                  "generator": seeded()}),
    ("cvae", "decode", lambda pipe: {"latents": torch.randn(3, 4, generator=seeded()), "class_labels": [1, 2, 3]}),
    ("cvae", "reconstruct", lambda pipe: {"images": images(3), "class_labels": [1, 2, 3]}),
    ("resnet", "__call__", lambda pipe: {"batch_size": 3, "generator": seeded()}),
    ("resnet", "interpolate", lambda pipe: {"steps": 3, "generator": seeded()}),
    ("pix2pix", "__call__", lambda pipe: {"batch_size": 3, "generator": seeded()}),
    ("pix2pix", "interpolate", lambda pipe: {"steps": 3, "generator": seeded()}),
    ("pix2pix", "restore", lambda pipe: {"image": pixels(pipe, 3), "degradation": Mask(to_mask(centre_mask(pipe)))}),
    ("pix2pix", "inpaint", lambda pipe: {"image": pixels(pipe, 3), "mask_image": centre_mask(pipe)}),
]  # fmt: skip
for _family in INVERTIBLE:
    METHODS += [
        (_family, "restore", lambda pipe: {"image": pixels(pipe, 3), "degradation": GaussianNoise(0.1),
                                           **invert(pipe)}),
        (_family, "inpaint", lambda pipe: {"image": pixels(pipe, 3), "mask_image": centre_mask(pipe),
                                           **invert(pipe)}),
        (_family, "super_resolve", lambda pipe: {"image": pixels(pipe, 3, scale=4), "scale": 4, **invert(pipe)}),
        (_family, "denoise", lambda pipe: {"image": pixels(pipe, 3), "noise_std": 0.1, **invert(pipe)}),
    ]  # fmt: skip


def test_every_family_has_its_pipeline_here_and_a_row_in_the_docs(pipes):
    from pathlib import Path

    from genzoo.registry import models

    assert {entry.name for entry in models()} <= set(FAMILIES) == set(pipes)
    text = (Path(__file__).parents[1] / "docs" / "publish-and-load.md").read_text()
    options = text[text.index("### Call options") :].split("\n#", 1)[0]
    for family in FAMILIES:
        assert f"| `{family}` |" in options, f"the call-options table has no row for {family}"


def test_every_sampling_method_is_in_the_table(pipes):
    """A new method with `return_dict` must join METHODS, so the options stay checked on all of them."""
    covered = {method for _, method, _ in METHODS}
    for pipe in pipes.values():
        for name, member in inspect.getmembers(type(pipe), inspect.isfunction):
            if (name == "__call__" or not name.startswith("_")) and "return_dict" in inspect.signature(
                member
            ).parameters:
                assert name in covered, f"{type(pipe).__name__}.{name} is not in METHODS"


@pytest.mark.parametrize(("family", "method", "arguments"), METHODS)
def test_return_dict_false_gives_a_tuple_of_the_same_images(pipes, family, method, arguments):
    pipe = pipes[family]
    as_dict = getattr(pipe, method)(**arguments(pipe), output_type="pt").images
    as_tuple = getattr(pipe, method)(**arguments(pipe), output_type="pt", return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 1
    torch.testing.assert_close(as_tuple[0], as_dict)


@pytest.mark.parametrize(("family", "method", "arguments"), METHODS)
def test_output_type_latent_returns_the_latents_that_were_decoded(pipes, family, method, arguments):
    pipe = pipes[family]
    latents = getattr(pipe, method)(**arguments(pipe), output_type="latent").images
    assert isinstance(latents, torch.Tensor) and latents.shape == (3, *pipe.model.latent_shape)
    if method not in ("__call__", "interpolate", "decode", "reconstruct"):
        return  # restoration finalises the decoded images; class interpolation decodes class mixtures
    labels = arguments(pipe).get("class_labels")
    decoded = pipe(latents=latents, class_labels=labels, output_type="pt").images
    torch.testing.assert_close(decoded, getattr(pipe, method)(**arguments(pipe), output_type="pt").images)


def test_latent_output_of_call_is_what_the_generator_draws(pipes):
    pipe = pipes["dcgan"]
    drawn = pipe.model.sample_latents(4, generator=seeded(), device="cpu")
    torch.testing.assert_close(pipe(batch_size=4, generator=seeded(), output_type="latent").images, drawn)
    given = torch.randn(2, 8)
    torch.testing.assert_close(pipe(latents=given, output_type="latent").images, given)


def test_vae_reconstruct_and_call_default_to_the_same_output_type(pipes):
    pipe = pipes["vae"]
    defaults = {
        method: inspect.signature(getattr(pipe, method)).parameters["output_type"].default
        for method in ("__call__", "decode", "reconstruct", "interpolate")
    }
    assert set(defaults.values()) == {"pil"}, defaults
    assert type(pipe.reconstruct(images(1)).images[0]).__name__ == "Image"


@pytest.mark.parametrize("option", ["num_inference_steps", "callback_on_step_end", "callback", "timesteps"])
@pytest.mark.parametrize("method", ["__call__", "interpolate"])
def test_step_options_say_that_a_gan_samples_in_one_step(pipes, option, method):
    for pipe in pipes.values():
        with pytest.raises(ValueError, match="samples in one step") as caught:
            getattr(pipe, method)(generator=seeded(), **{option: 50})
        assert "\n" not in str(caught.value) and option in str(caught.value)


def test_other_unknown_options_are_still_refused(pipes):
    with pytest.raises(ValueError, match="unexpected argument"):
        pipes["dcgan"](guidance_scale=7.5)


# --- class labels and batch_size --------------------------------------------------------------------------------
def labels_of(pipe: CGANPipeline, **arguments) -> list[int]:
    """The labels a call decodes with, read off the conditional model's input."""
    seen = []
    handle = pipe.model.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[1].tolist()))
    try:
        images = pipe(generator=seeded(), **arguments).images
    finally:
        handle.remove()
    assert len(images) == len(seen[0])
    return seen[0]


def test_a_label_list_repeats_to_fill_a_batch_size_that_is_a_multiple(pipes):
    pipe = pipes["cgan"]
    assert labels_of(pipe, class_labels=[0, 1], batch_size=4) == [0, 1, 0, 1]
    assert labels_of(pipe, class_labels=torch.tensor([3, 5, 7]), batch_size=6) == [3, 5, 7, 3, 5, 7]
    assert labels_of(pipe, class_labels=["1", "2"], batch_size=4) == [1, 2, 1, 2]  # by name too
    assert labels_of(pipe, class_labels=[0, 1]) == [0, 1]  # batch_size left at 1: the labels give the count
    assert labels_of(pipe, class_labels=[4, 5], batch_size=2) == [4, 5]
    assert labels_of(pipe, class_labels=[6], latents=torch.randn(3, 8)) == [6, 6, 6]


@pytest.mark.parametrize(("labels", "batch_size"), [([0, 1], 3), ([0, 1, 2], 2), ([0, 1, 2, 3], 6)])
def test_a_label_count_that_does_not_divide_the_batch_is_refused(pipes, labels, batch_size):
    with pytest.raises(ValueError, match=f"Got {len(labels)} class labels for {batch_size} images") as caught:
        pipes["cgan"](class_labels=labels, batch_size=batch_size)
    assert "\n" not in str(caught.value)


# --- dtype ------------------------------------------------------------------------------------------------------
def test_from_pretrained_takes_dtype(pipes, tmp_path):
    pipes["dcgan"].save_pretrained(tmp_path / "dcgan")
    pipe = GenPipeline.from_pretrained(tmp_path / "dcgan", dtype=torch.bfloat16)
    assert pipe.model.dtype == torch.bfloat16
    assert pipe(batch_size=2, generator=seeded(), output_type="pt").images.dtype == torch.float32
    assert pipe(batch_size=2, generator=seeded(), output_type="latent").images.dtype == torch.bfloat16
