"""The ResNet GAN plugin: the shared tester mixins (unconditional and class-conditional, grey and RGB), the layouts
that follow the resolution, spectral norm and projection in the discriminator, and `genzoo train resnet` on an RGB
image folder with `--resolution`."""

import json

import numpy as np
import PIL.Image
import pytest
import torch
import yaml
from torch.nn.utils import parametrize

from genzoo import GenPipeline
from genzoo.cli import main
from genzoo.registry import get_model
from genzoo.testing import GeneratorTesterMixin
from genzoo_cgan import CGANPipeline, ConditionalBatchNorm2d
from genzoo_resnet import OBJECTIVE_DEFAULTS, ResNetDiscriminator, ResNetGenerator

TINY = {"latent_dim": 8, "image_size": 16, "num_channels": 3, "base_channels": 4}
TINY_D = {"discriminator": {"base_channels": 4}}


class TestResNet(GeneratorTesterMixin):
    model_name = "resnet"
    model_args = TINY
    objective_args = TINY_D
    max_training_steps = 10  # n_critic = 5: the generator moves on the fifth step


class TestResNetConditionalGrey28(GeneratorTesterMixin):
    model_name = "resnet"
    model_args = {**TINY, "image_size": 28, "num_channels": 1, "num_classes": 3}
    objective_args = {**TINY_D, "n_critic": 1}


def test_registration_and_sngan_optimiser():
    registration = get_model("resnet")
    assert registration.generator_class is ResNetGenerator
    assert registration.discriminator_class is ResNetDiscriminator
    assert registration.pipeline_class is CGANPipeline
    assert registration.default_objective == "hinge"
    assert get_model("resnet-gan") is registration
    assert OBJECTIVE_DEFAULTS["hinge"] == {"lr": 2e-4, "betas": [0.0, 0.9], "n_critic": 5}


@pytest.mark.parametrize(
    ("size", "g_channels", "d_channels", "d_size"),
    [
        (32, [256, 256, 256, 256], [128, 128, 128, 128], 8),  # SNGAN's CIFAR-10 networks
        (64, [1024, 512, 256, 128, 64], [64, 128, 256, 512, 1024], 4),
        (128, [1024, 1024, 512, 256, 128, 64], [64, 128, 256, 512, 1024, 1024], 4),
    ],
)
def test_depth_and_width_follow_the_resolution(size, g_channels, d_channels, d_size):
    generator = ResNetGenerator(image_size=size)
    assert [generator.start[0]] + [block.conv2.out_channels for block in generator.blocks] == g_channels
    discriminator = ResNetDiscriminator(image_size=size)
    assert [block.conv2.out_channels for block in discriminator.blocks] == d_channels
    features = discriminator.blocks(torch.zeros(1, 3, size, size))
    assert features.shape[-1] == d_size


def test_wrong_multipliers_are_refused():
    with pytest.raises(ValueError, match="channel_multipliers needs 4"):
        ResNetGenerator(image_size=32, channel_multipliers=[4, 4])
    with pytest.raises(ValueError, match="channel_multipliers needs 4"):
        ResNetDiscriminator(image_size=32, channel_multipliers=[2, 2, 2])
    with pytest.raises(ValueError, match="image_size"):
        ResNetGenerator(image_size=30)


def test_conditional_generator_needs_labels_and_uses_conditional_batch_norm():
    model = ResNetGenerator(**{**TINY, "num_classes": 3}).eval()
    assert sum(isinstance(m, ConditionalBatchNorm2d) for m in model.modules()) == 2 * len(model.blocks)
    with pytest.raises(ValueError, match="class-conditional"):
        model(torch.randn(2, 8))
    for block in model.blocks:  # make the classes differ
        torch.nn.init.normal_(block.norm1.scale.weight, 1.0, 0.5)
    latents = torch.randn(1, 8).repeat(2, 1)
    with torch.no_grad():
        images = model(latents, torch.tensor([0, 1]))
    assert not torch.allclose(images[0], images[1])


def test_discriminator_is_spectrally_normalised_and_projects_the_class():
    critic = ResNetDiscriminator(image_size=16, num_channels=3, num_classes=3, base_channels=4)
    layers = [m for m in critic.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear | torch.nn.Embedding)]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    critic.eval()
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        same = critic(images, torch.tensor([0, 0]))
        other = critic(images, torch.tensor([1, 2]))
        assert same.shape == (2,) and not torch.allclose(same, other)
    with pytest.raises(ValueError, match="class_labels"):
        critic(images)
    plain = ResNetDiscriminator(image_size=16, num_channels=3, base_channels=4, spectral_norm=False)
    assert plain.class_embedding is None
    assert not any(parametrize.is_parametrized(m, "weight") for m in plain.modules() if hasattr(m, "weight"))


def _rgb_folder(root, count=16, size=40, classes=()):
    rng = np.random.default_rng(0)
    for index in range(count):
        folder = root / (classes[index % len(classes)] if classes else "")
        folder.mkdir(parents=True, exist_ok=True)
        PIL.Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    return root


@pytest.mark.parametrize("classes", [(), ("cat", "dog")])
def test_train_on_an_rgb_folder_at_a_resolution_and_sample(tmp_path, classes):
    """`genzoo train resnet --dataset imagefolder:DIR --resolution 16`: 40-pixel photos are resized to the model's
    16 pixels, class folders make it conditional, and the saved pipeline samples RGB images."""
    images = _rgb_folder(tmp_path / "photos", classes=classes)
    run = tmp_path / "run"
    main(["train", "resnet", "--dataset", f"imagefolder:{images}", "--resolution", "16", "--output-dir", str(run),
          "--max-steps", "5", "--batch-size", "4", "--sample-every", "0", "--checkpoint-every", "0",
          "--set", "model_args.latent_dim=8", "--set", "model_args.base_channels=4",
          "--set", "objective_args.discriminator.base_channels=4", "--set", "num_sample_images=4",
          "--set", "log_every=1"])  # fmt: skip
    config = json.loads((run / "model" / "config.json").read_text())
    assert (config["image_size"], config["num_channels"]) == (16, 3)
    assert config["num_classes"] == len(classes)
    logged = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged if "loss_g" in row] == [5]  # n_critic = 5
    pipe = GenPipeline.from_pretrained(run)
    labels = "dog" if classes else None
    out = pipe(batch_size=3, class_labels=labels, generator=torch.Generator().manual_seed(0), output_type="pil")
    assert [image.mode for image in out.images] == ["RGB"] * 3 and out.images[0].size == (16, 16)


def test_plugins_lists_the_families_aliases(capsys):
    """`genzoo plugins` names a registration's aliases after its description, in text and JSON."""
    main(["plugins"])
    text = capsys.readouterr().out
    assert "    resnet: ResNet GAN (SNGAN, cGAN-PD)" in text and "32-128 px (also: sngan, resnet-gan)\n" in text
    main(["plugins", "--json"])
    by_name = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert by_name["resnet"]["aliases"] == {"resnet": ["sngan", "resnet-gan"]}
    assert by_name["gan"]["aliases"] == {}


def test_genzoo_train_sngan_on_an_rgb_folder_samples_rgb(tmp_path):
    """The issue's command, `genzoo train sngan --dataset imagefolder:DIR --resolution 32`: `sngan` is the family's
    alias (its defaults are SNGAN's, which the run resolves), and the saved pipeline samples 32x32 RGB images."""
    assert get_model("sngan") is get_model("resnet")
    images = _rgb_folder(tmp_path / "photos", size=48)
    run = tmp_path / "run"
    main(["train", "sngan", "--dataset", f"imagefolder:{images}", "--resolution", "32", "--output-dir", str(run),
          "--max-steps", "5", "--batch-size", "4", "--sample-every", "0", "--checkpoint-every", "0",
          "--set", "model_args.base_channels=4", "--set", "objective_args.discriminator.base_channels=4",
          "--set", "num_sample_images=4", "--set", "log_every=1"])  # fmt: skip
    resolved = yaml.safe_load((run / "run_config.yaml").read_text())
    assert resolved["model"] == "sngan" and resolved["objective"] == "hinge"  # the name the user chose
    assert resolved["objective_args"]["n_critic"] == 5 and resolved["lr_scheduler"] == "linear"
    logged = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged if "loss_g" in row] == [5]  # SNGAN's five critic steps per generator step
    pipe = GenPipeline.from_pretrained(run)
    assert type(pipe.model) is ResNetGenerator
    out = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), output_type="pil")
    assert [(image.mode, image.size) for image in out.images] == [("RGB", (32, 32))] * 2
