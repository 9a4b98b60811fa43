"""The InfoGAN plugin: the shared tester mixins, the codes on the pipeline, the Q network's copy, the objective's
information loss and the code-to-class metric."""

import numpy as np
import pytest
import torch

from genzoo.errors import ConfigError, GenzooError
from genzoo.registry import get_model
from genzoo.testing import GeneratorTesterMixin
from genzoo_infogan import InfoGANDiscriminator, InfoGANGenerator, InfoGANObjective, InfoGANPipeline
from genzoo_infogan.metrics import code_class_accuracy

TINY = {"noise_dim": 6, "num_categories": 3, "num_continuous": 2, "image_size": 28, "num_channels": 1,
        "base_channels": 8, "hidden_dim": 32, "q_hidden_dim": 16}  # fmt: skip


class TestInfoGAN(GeneratorTesterMixin):
    model_name = "infogan"
    model_args = TINY


class TestInfoGANRGB32Hinge(GeneratorTesterMixin):
    model_name = "infogan"
    model_args = {**TINY, "image_size": 32, "num_channels": 3, "num_continuous": 0}
    objective_args = {"loss": "hinge", "continuous_loss": "gaussian"}


def tiny_pipe(seed: int = 0) -> InfoGANPipeline:
    torch.manual_seed(seed)
    return InfoGANPipeline(model=InfoGANGenerator(**TINY).eval())


def test_latents_are_noise_one_hot_and_uniform_codes():
    model = InfoGANGenerator(**TINY)
    assert model.config.latent_dim == 6 + 3 + 2
    latents = model.sample_latents(500, generator=torch.Generator().manual_seed(0))
    noise, one_hot, continuous = model.split_latents(latents)
    assert torch.equal(one_hot.sum(1), torch.ones(500))
    assert set(one_hot.argmax(1).tolist()) == {0, 1, 2}
    assert continuous.min() >= -1 and continuous.max() <= 1 and continuous.abs().mean() > 0.3
    assert abs(float(noise.std()) - 1.0) < 0.1
    with pytest.raises(ValueError, match="truncation"):
        model.sample_latents(2, truncation=0.5)
    with pytest.raises(ValueError, match="latent_dim is noise_dim"):
        InfoGANGenerator(**TINY, latent_dim=5)


def test_codes_set_the_category_and_continuous_values():
    pipe = tiny_pipe()
    latents = pipe(batch_size=3, codes={"category": [0, 1, 2], "continuous": [[0.5, -1.0]]}, output_type="latent")
    _, one_hot, continuous = pipe.model.split_latents(latents.images)
    assert one_hot.argmax(1).tolist() == [0, 1, 2]
    assert torch.equal(continuous, torch.tensor([[0.5, -1.0]] * 3))
    # One category for the batch; noise and the other codes still come from the generator.
    first = pipe(batch_size=4, codes={"category": 2}, generator=torch.Generator().manual_seed(1), output_type="np")
    again = pipe(batch_size=4, codes={"category": 2}, generator=torch.Generator().manual_seed(1), output_type="np")
    np.testing.assert_array_equal(first.images, again.images)
    other = pipe(batch_size=4, codes={"category": 0}, generator=torch.Generator().manual_seed(1), output_type="np")
    assert not np.array_equal(first.images, other.images)
    rows = pipe.code_rows(columns=4, generator=torch.Generator().manual_seed(0))
    assert rows.size == (4 * 28, 3 * 28)
    sweep = pipe.code_rows(columns=2, code="continuous:1", values=[-1, 0, 1], output_type="pt")
    assert sweep.shape == (6, 1, 28, 28)


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ({"category": 3}, "Code value 3 is out of range for codes\\['category'\\]: use 0 to 2"),
        ({"category": [-1, 0]}, "Code value -1 is out of range"),
        ({"continuous": [[1.0, 2.0, 3.0]]}, "must hold 2 value"),
        ({"category": [0, 1, 2]}, "3 values for 2 images"),
        ({"colour": 1}, "must be a dict with 'category'"),
    ],
)
def test_bad_codes_get_one_line_errors(codes, message):
    with pytest.raises(GenzooError, match=message) as info:
        tiny_pipe()(batch_size=2, codes=codes)
    assert "\n" not in str(info.value)
    with pytest.raises(GenzooError, match="Code value 5 is out of range for code 'continuous:I'"):
        tiny_pipe().code_rows(code="continuous:5")


def test_discriminator_shares_its_trunk_with_the_q_head():
    discriminator = InfoGANDiscriminator(num_categories=3, num_continuous=2, base_channels=8, hidden_dim=32,
                                         q_hidden_dim=16).eval()  # fmt: skip
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    logits, (category, mean, log_std) = discriminator(images, return_codes=True)
    assert logits.shape == (5,) and category.shape == (5, 3) and mean.shape == log_std.shape == (5, 2)
    torch.testing.assert_close(discriminator(images), logits)
    assert discriminator.recognizer.trunk is not None and not hasattr(discriminator, "trunk")


@pytest.mark.parametrize("critic_norm", ["batch", "none"])
def test_objective_learns_to_read_the_codes_and_copies_q_into_the_generator(critic_norm):
    """A few hundred tiny steps: the discriminator's Q head reads the category of generated images (chance is 1/3),
    and the generator's recognizer is the discriminator's Q network, so the saved pipeline reads codes too."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    torch.manual_seed(0)
    # With batch norm in the critic Q learns fastest on this toy data; the copy is checked for both settings.
    model = InfoGANGenerator(**TINY, critic_norm=critic_norm).train()
    objective = InfoGANObjective(model, get_model("infogan"), lr=2e-3, lr_d=2e-3)
    optimizers = objective.configure_optimizers()
    assert not any(
        p is q for p in optimizers["model"].param_groups[0]["params"] for q in model.recognizer.parameters()
    )
    accelerator = Accelerator(cpu=True)
    try:
        objective.bind(accelerator, objective.networks, optimizers)
        real = torch.rand(16, 1, 28, 28) * 2 - 1
        read_right = []
        for step in range(150 if critic_norm == "batch" else 3):
            logs = objective.training_step({"pixel_values": real}, step, torch.Generator().manual_seed(step))
            read_right.append(float(logs["code_accuracy"]))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    if critic_norm == "batch":
        assert np.mean(read_right[-20:]) > 0.8, read_right[-20:]
    discriminator = objective.networks["discriminator"].eval()
    model.eval()
    latents = model.sample_latents(64, generator=torch.Generator().manual_seed(123))
    images = model(latents)
    expected = discriminator(images, return_codes=True)[1]
    read = model.encode_codes(images)
    torch.testing.assert_close(read["category_logits"], expected[0])
    torch.testing.assert_close(read["continuous"], expected[1])
    accuracy = (read["category"] == model.split_latents(latents)[1].argmax(1)).float().mean()
    assert accuracy > 0.8 or critic_norm == "none"


@pytest.mark.parametrize("info_trains_trunk", [True, False])
def test_info_trains_trunk_decides_whether_the_information_loss_reaches_the_trunk(info_trains_trunk):
    """With `info_trains_trunk=False` the discriminator step's information loss trains the Q head only; the generator
    step's still reaches the generator through the trunk."""
    torch.manual_seed(0)
    model = InfoGANGenerator(**TINY).train()
    objective = InfoGANObjective(model, get_model("infogan"), info_trains_trunk=info_trains_trunk)
    discriminator = objective.networks["discriminator"]
    objective._latents(8, torch.Generator().manual_seed(0), torch.device("cpu"))
    discriminator(model(objective._drawn).detach())
    objective._information_term("_d").backward()
    trunk_grads = [p.grad for p in discriminator.recognizer.trunk.parameters()]
    head_grads = [p.grad for p in discriminator.recognizer.code_head.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in head_grads)
    assert all(g is not None and g.abs().sum() > 0 for g in trunk_grads) == info_trains_trunk
    assert all(g is None for g in trunk_grads) != info_trains_trunk
    discriminator.requires_grad_(False)
    discriminator(model(objective._drawn))
    objective._information_term("").backward()
    assert all(p.grad is not None for p in model.net.parameters())


def test_objective_refuses_mismatched_options():
    model = InfoGANGenerator(**TINY)
    with pytest.raises(ConfigError, match=r"set model_args\.hidden_dim instead"):
        InfoGANObjective(model, get_model("infogan"), discriminator={"hidden_dim": 8})
    with pytest.raises(ConfigError, match="continuous_loss"):
        InfoGANObjective(model, get_model("infogan"), continuous_loss="laplace")
    with pytest.raises(ConfigError, match="info_trains_trunk must be true or false"):
        InfoGANObjective(model, get_model("infogan"), info_trains_trunk="no")
    dcgan = get_model("dcgan").generator_class(latent_dim=8, base_channels=8)
    with pytest.raises(ConfigError, match="needs a generator with codes"):
        InfoGANObjective(dcgan, get_model("dcgan"))


def test_information_loss_is_cross_entropy_plus_gaussian_nll():
    model = InfoGANGenerator(**TINY)
    objective = InfoGANObjective(model, get_model("infogan"), continuous_loss="gaussian")
    latents = model.make_latents(torch.zeros(2, 6), torch.tensor([0, 2]), torch.tensor([[0.5, -0.5], [0.0, 1.0]]))
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]])
    mean, log_std = torch.zeros(2, 2), torch.full((2, 2), np.log(0.5))
    loss, accuracy = objective.information_loss(latents, (logits, mean, log_std))
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2]))
    nll = (0.5 * (latents[:, -2:] / 0.5).pow(2) + np.log(0.5)).sum(1).mean()
    torch.testing.assert_close(loss, ce + nll)
    assert float(accuracy) == 1.0
    fixed = InfoGANObjective(model, get_model("infogan"))  # the default: σ = 1
    loss, _ = fixed.information_loss(latents, (logits, mean, log_std))
    torch.testing.assert_close(loss, ce + (0.5 * latents[:, -2:].pow(2)).sum(1).mean())


def test_code_class_accuracy_uses_the_best_one_to_one_match():
    codes = np.repeat([0, 1, 2], 10)
    classes = np.repeat([7, 3, 5], 10)  # a permutation: perfect
    assert code_class_accuracy(codes, classes)[0] == 1.0
    assert code_class_accuracy(codes, classes)[1] == {0: 7, 1: 3, 2: 5}
    # Two codes drawing the same class: only one of them can be credited with it.
    merged = np.repeat([4, 4, 5], 10)
    assert code_class_accuracy(codes, merged)[0] == pytest.approx(20 / 30)
    noisy = classes.copy()
    noisy[:3] = 3
    assert code_class_accuracy(codes, noisy)[0] == pytest.approx(27 / 30)


def test_code_accuracy_metric_through_evaluate(tmp_path):
    from genzoo.metrics import evaluate_pipeline

    pipe = tiny_pipe()
    pipe.model.register_to_config()  # unchanged; a 10-way code is what the MNIST classifier scores
    model = InfoGANGenerator(**{**TINY, "num_categories": 10}).eval()
    results = evaluate_pipeline(InfoGANPipeline(model=model), "code_accuracy",
                                {"code_accuracy.samples_per_code": 20}, progress=False)  # fmt: skip
    assert 0.1 <= results["code_accuracy"] <= 1.0
    dcgan = get_model("dcgan").generator_class(latent_dim=8, base_channels=8)
    from genzoo import GenPipeline

    with pytest.raises(GenzooError, match="Metric 'code_accuracy' needs a generator with learned codes") as info:
        evaluate_pipeline(GenPipeline(model=dcgan), "code_accuracy", progress=False)
    assert "\n" not in str(info.value)


def test_codes_task_and_explore_method_codes(tmp_path, capsys):
    from genzoo.cli import main

    pipe = tiny_pipe()
    assert "codes" in pipe.supported_tasks()
    pipe.save_pretrained(tmp_path / "pipe")
    out = tmp_path / "codes.png"
    main(["explore", str(tmp_path / "pipe"), "--method", "codes", "--steps", "4", "-o", str(out)])
    import PIL.Image

    with PIL.Image.open(out) as grid:
        assert grid.size == (4 * 28, 3 * 28)
    dcgan = get_model("dcgan").generator_class(latent_dim=4, base_channels=4)
    from genzoo import GenPipeline

    GenPipeline(model=dcgan).save_pretrained(tmp_path / "dcgan")
    assert "codes" not in GenPipeline(model=dcgan).supported_tasks()
    with pytest.raises(SystemExit) as exit_info:
        main(["explore", str(tmp_path / "dcgan"), "--method", "codes", "-o", str(tmp_path / "x.png")])
    assert exit_info.value.code != 0
    assert "--method codes does not apply to" in capsys.readouterr().err
