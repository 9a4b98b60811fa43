"""The InfoGAN plugin: the shared tester mixins, the codes on the pipeline, the Q network's copy, the objective's
information loss, the clustering term and its warm-up, and the code-to-class metric."""

import copy
import json
import shutil

import numpy as np
import pytest
import torch

from genzoo.errors import ConfigError, GenzooError
from genzoo.objectives.augment import random_affine
from genzoo.registry import get_model
from genzoo.testing import GeneratorTesterMixin
from genzoo_infogan import InfoGANDiscriminator, InfoGANGenerator, InfoGANObjective, InfoGANPipeline
from genzoo_infogan.metrics import code_class_accuracy

TINY = {"noise_dim": 6, "num_categories": 3, "num_continuous": 2, "image_size": 28, "num_channels": 1,
        "base_channels": 8, "hidden_dim": 32, "q_hidden_dim": 16}  # fmt: skip


class TestInfoGAN(GeneratorTesterMixin):
    model_name = "infogan"
    model_args = TINY
    objective_args = {"cluster_warmup_steps": 1}  # one warm-up step, then the game: both within the mixin's steps


class TestInfoGANRGB32Hinge(GeneratorTesterMixin):
    model_name = "infogan"
    model_args = {**TINY, "image_size": 32, "num_channels": 3, "num_continuous": 0}
    objective_args = {"loss": "hinge", "continuous_loss": "gaussian", "cluster_warmup_steps": 1}


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
    objective = InfoGANObjective(model, get_model("infogan"), lr=2e-3, lr_d=2e-3, cluster_weight=0)  # the paper's
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


@pytest.mark.parametrize(
    "cluster_weight, info_trains_category, trains",
    [(5.0, False, False), (5.0, True, True), (0.0, True, True), (0.0, False, False)],
)
def test_info_trains_category_decides_whether_q_reads_categories_from_generated_images(
    cluster_weight, info_trains_category, trains
):
    """With `info_trains_category=False` Q's category learns from real digits alone (the generator has to draw what
    Q calls a category in real digits); the continuous codes still learn from generated images."""
    torch.manual_seed(0)
    model = InfoGANGenerator(**TINY).train()
    objective = InfoGANObjective(
        model, get_model("infogan"), cluster_weight=cluster_weight, info_trains_category=info_trains_category
    )
    discriminator = objective.networks["discriminator"]
    objective._latents(8, torch.Generator().manual_seed(0), torch.device("cpu"))
    discriminator(model(objective._drawn).detach())
    objective._information_term("_d").backward()
    last = discriminator.recognizer.code_head[-1].weight.grad
    assert bool(last[: TINY["num_categories"]].abs().sum() > 0) == trains
    assert last[TINY["num_categories"] :].abs().sum() > 0  # the continuous codes' rows


def test_objective_refuses_mismatched_options():
    model = InfoGANGenerator(**TINY)
    with pytest.raises(ConfigError, match=r"set model_args\.hidden_dim instead"):
        InfoGANObjective(model, get_model("infogan"), discriminator={"hidden_dim": 8})
    with pytest.raises(ConfigError, match="continuous_loss"):
        InfoGANObjective(model, get_model("infogan"), continuous_loss="laplace")
    with pytest.raises(ConfigError, match="info_trains_trunk must be true or false"):
        InfoGANObjective(model, get_model("infogan"), info_trains_trunk="no")
    with pytest.raises(ConfigError, match="info_trains_category must be true or false"):
        InfoGANObjective(model, get_model("infogan"), info_trains_category="no")
    dcgan = get_model("dcgan").generator_class(latent_dim=8, base_channels=8)
    with pytest.raises(ConfigError, match="needs a generator with codes"):
        InfoGANObjective(dcgan, get_model("dcgan"))


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("cluster_weight", -1.0, r"cluster_weight must be a number >= 0, got -1\.0"),
        ("cluster_weight", float("nan"), "cluster_weight must be a number >= 0"),
        ("cluster_warmup_steps", 1.5, r"cluster_warmup_steps must be an integer >= 0, got 1\.5"),
        ("cluster_warmup_steps", True, "cluster_warmup_steps must be an integer >= 0, got True"),
        ("cluster_warmup_steps", -1, "cluster_warmup_steps must be an integer >= 0"),
        ("cluster_lr", 0.0, r"cluster_lr must be a number > 0, got 0\.0"),
        ("cluster_heads", 0, "cluster_heads must be an integer >= 1, got 0"),
        ("cluster_heads", 2.0, r"cluster_heads must be an integer >= 1, got 2\.0"),
        ("cluster_restarts", 0, "cluster_restarts must be an integer >= 1, got 0"),
        ("cluster_restart_steps", -1, "cluster_restart_steps must be an integer >= 0, got -1"),
        ("discriminator", {"cluster_heads": 3}, "set objective_args.cluster_heads instead"),
    ],
)
def test_objective_refuses_bad_clustering_options(option, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"), **{option: value})
    assert "\n" not in str(info.value)


def test_no_clustering_without_a_category_or_a_weight():
    """The clustering term is about the categorical code: without one (or at weight 0) there is no warm-up either."""
    continuous_only = InfoGANGenerator(**{**TINY, "num_categories": 0})
    objective = InfoGANObjective(continuous_only, get_model("infogan"))
    assert objective.cluster_weight == 0 and objective.warmup_steps == 0
    objective = InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"), cluster_weight=0)
    assert objective.warmup_steps == 0
    default = InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"))
    assert (default.cluster_weight, default.warmup_steps, default.cluster_lr) == (5.0, 1500, 1e-3)
    assert (default.cluster_heads, default.cluster_restarts, default.cluster_restart_steps) == (10, 3, 500)
    assert default.info_trains_category is True
    assert (default.lr, default.lr_d) == (2e-4, 2e-4)
    assert len(default.networks["rivals"].rivals) == 2
    short = InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"), cluster_warmup_steps=500)
    assert short.cluster_restart_steps == 166  # a third of the warm-up
    single = InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"), cluster_heads=1, cluster_restarts=1)
    assert "rivals" not in single.networks and single.cluster_restart_steps == 0


def test_random_affine_moves_images_and_leaves_them_with_no_range():
    images = torch.full((4, 1, 28, 28), -1.0)
    images[:, :, 4:12, 6:10] = 1.0  # an off-centre bar: any rotation, zoom or shift moves it
    moved = random_affine(images, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape and moved.dtype == images.dtype
    assert all(not torch.allclose(moved[i], images[i], atol=1e-3) for i in range(4))
    torch.testing.assert_close(moved, random_affine(images, torch.Generator().manual_seed(0)))
    still = random_affine(images, torch.Generator().manual_seed(0), degrees=0.0, scale=0.0, shift=0.0)
    torch.testing.assert_close(still, images, atol=1e-5, rtol=0)
    assert random_affine(images.bfloat16(), torch.Generator().manual_seed(0)).dtype == torch.bfloat16


class _LevelReader(torch.nn.Module):
    """A stand-in discriminator whose Q reads an image's category from its (constant) level, confidently."""

    def __init__(self, num_categories: int) -> None:
        super().__init__()
        self.num_categories = num_categories

    def forward(self, images, class_labels=None, with_candidates=False):
        level = images.float().mean((1, 2, 3))
        index = ((level + 1) / 2 * (self.num_categories - 1)).round().long()
        self.last_codes = (50.0 * torch.nn.functional.one_hot(index, self.num_categories).float(), None, None)
        self.last_category_logits = self.last_codes[0][None]  # Q's head only: no candidates
        return level


def test_cluster_loss_is_lowest_for_confident_consistent_and_even_categories():
    """IMSAT's loss: −2·log K when every image gets one sure category, the same as its moved copy's (a constant image
    is one), and the K categories are used evenly; 0 when every image gets the same one."""
    objective = InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"))
    objective.networks["discriminator"] = reader = _LevelReader(3)
    objective._bare = {"discriminator": (reader, reader)}
    levels = torch.tensor([-1.0, 0.0, 1.0]).repeat(4)
    even = levels.view(-1, 1, 1, 1).expand(-1, 1, 28, 28).contiguous()
    loss = objective.cluster_losses(even, torch.Generator().manual_seed(0))[0]
    torch.testing.assert_close(loss, torch.tensor(-2 * np.log(3), dtype=torch.float32), atol=1e-4, rtol=0)
    same = torch.zeros(12, 1, 28, 28)
    torch.testing.assert_close(
        objective.cluster_losses(same, torch.Generator())[0], torch.tensor(0.0), atol=1e-4, rtol=0
    )


def test_warmup_trains_q_alone_then_the_game_starts_with_a_fresh_adam():
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    torch.manual_seed(0)
    model = InfoGANGenerator(**TINY).train()
    objective = InfoGANObjective(model, get_model("infogan"), cluster_warmup_steps=2, cluster_heads=10)
    accelerator = Accelerator(cpu=True)
    discriminator = objective.networks["discriminator"]

    def snapshot(module):
        return {name: value.detach().clone() for name, value in module.named_parameters()}

    try:
        objective.bind(accelerator, objective.networks, objective.configure_optimizers())
        real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
        generator_before, critic_before = snapshot(model), snapshot(discriminator)
        for step in range(2):
            logs = objective.training_step({"pixel_values": real}, step, torch.Generator().manual_seed(step))
            assert set(logs) == {"cluster_loss"}
        assert all(torch.equal(value, generator_before[name]) for name, value in snapshot(model).items()
                   if not name.startswith("recognizer."))  # fmt: skip
        critic_after = snapshot(discriminator)
        changed = {name for name, value in critic_after.items() if not torch.equal(value, critic_before[name])}
        assert changed == {name for name in critic_after if not name.startswith("adversarial_head.")}  # Q's parts
        assert len(discriminator.candidate_heads) == 9 and bool(discriminator.running_head_losses.any())
        optimizer = objective.optimizers["discriminator"]
        assert optimizer.param_groups[0]["lr"] == 2e-4  # the warm-up's 1e-3 was for its own steps only
        assert all(int(optimizer.state[p]["step"]) == 2 for p in discriminator.recognizer.parameters())
        torch.testing.assert_close(
            model.recognizer.code_head[-1].weight, discriminator.recognizer.code_head[-1].weight
        )  # the warmed-up Q is what a checkpoint of the generator carries
        logs = objective.training_step({"pixel_values": real}, 2, torch.Generator().manual_seed(2))
        assert {"loss_d", "loss_g", "info_loss", "cluster_loss", "cluster_head"} <= set(logs)
        assert all(int(optimizer.state[p]["step"]) == 1 for p in discriminator.parameters())  # afresh
        assert not torch.equal(snapshot(model)["net.0.weight"], generator_before["net.0.weight"])
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def test_a_discriminator_saved_before_the_candidate_heads_still_loads():
    discriminator = InfoGANDiscriminator(**{k: v for k, v in TINY.items() if k != "noise_dim"})
    older = {k: v for k, v in discriminator.state_dict().items() if k != "running_head_losses"}
    discriminator.running_head_losses.fill_(-1.0)
    discriminator.load_state_dict(older)  # strict, as a resumed run loads it
    assert discriminator.running_head_losses.tolist() == [0.0]


def test_the_candidate_head_with_the_lowest_running_loss_becomes_q():
    torch.manual_seed(0)
    objective = InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"), cluster_heads=3)
    discriminator = objective.networks["discriminator"]
    objective._bare = {"discriminator": (discriminator, discriminator)}
    own, candidate = (copy.deepcopy(head.state_dict()) for head in (discriminator.recognizer.code_head,
                                                                    discriminator.candidate_heads[1]))  # fmt: skip
    discriminator.running_head_losses.copy_(torch.tensor([-3.0, -2.0, -4.0]))
    assert objective.adopt_best_cluster_head() == 2
    for swapped, expected in (
        (discriminator.recognizer.code_head, candidate),
        (discriminator.candidate_heads[1], own),
    ):
        assert all(torch.equal(value, expected[key]) for key, value in swapped.state_dict().items())
    assert discriminator.running_head_losses.tolist() == [-4.0, -2.0, -3.0]
    assert objective.adopt_best_cluster_head() == 0  # Q's head is now the best: nothing moves


def test_rival_q_networks_cluster_in_the_tournament_and_the_best_takes_over():
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    with pytest.raises(
        ConfigError, match=r"cluster_restart_steps \(600\) must be at most cluster_warmup_steps \(500\)"
    ):
        InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"), cluster_warmup_steps=500,
                         cluster_restarts=2, cluster_restart_steps=600)  # fmt: skip
    torch.manual_seed(0)
    objective = InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"), cluster_warmup_steps=3,
                                 cluster_heads=10, cluster_restarts=3, cluster_restart_steps=2)  # fmt: skip
    discriminator, rivals = objective.networks["discriminator"], objective.networks["rivals"].rivals
    assert len(rivals) == 2
    assert not torch.equal(rivals[0].recognizer.trunk[0].weight, rivals[1].recognizer.trunk[0].weight)  # own starts
    try:
        objective.bind(Accelerator(cpu=True), objective.networks, objective.configure_optimizers())
        real = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
        for step in range(2):
            logs = objective.training_step({"pixel_values": real}, step, torch.Generator().manual_seed(step))
            assert "cluster_restart" not in logs
        assert all(bool(rival.running_head_losses.any()) for rival in rivals)
        winner = {name: value.clone() for name, value in rivals[1].state_dict().items()}
        own = {name: value.clone() for name, value in discriminator.state_dict().items()}
        rivals[1].running_head_losses[3] = -100.0  # its fourth head: the lowest loss of all
        logs = objective.training_step({"pixel_values": real}, 2, torch.Generator().manual_seed(2))
        assert logs["cluster_restart"] == 2
        assert all(p.grad is None for p in rivals.parameters())  # done: nothing stale for the trainer to measure
        assert torch.equal(discriminator.adversarial_head.weight, own["adversarial_head.weight"])  # Q moved, not it
        assert discriminator.running_head_losses[3] < -90  # the winner's running losses came along
        trunk = "recognizer.trunk.0.weight"
        assert not torch.equal(discriminator.state_dict()[trunk], winner[trunk])  # and it trained on, alone:
        assert all(torch.equal(value, own[name]) for name, value in rivals[1].state_dict().items()
                   if not name.startswith("adversarial_head."))  # fmt: skip
        logs = objective.training_step({"pixel_values": real}, 3, torch.Generator().manual_seed(3))
        assert logs["cluster_head"] == 3  # and at the warm-up's end its best head became Q's
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def test_a_rival_takes_over_q_only_leaving_ada_and_lecam_state_with_the_discriminator():
    torch.manual_seed(0)
    objective = InfoGANObjective(InfoGANGenerator(**TINY), get_model("infogan"), cluster_warmup_steps=3,
                                 cluster_restarts=2, ada_target=0.6, lecam_weight=0.3)  # fmt: skip
    discriminator, (rival,) = objective.networks["discriminator"], objective.networks["rivals"].rivals
    objective._bare = {name: (network, network) for name, network in objective.networks.items()}
    objective.optimizers = objective.configure_optimizers()
    own = {name: value.clone() for name, value in discriminator.state_dict().items()}
    rival_trunk = rival.recognizer.trunk[0].weight.clone()
    rival.running_head_losses.fill_(-1.0)
    assert objective.adopt_best_rival() == 1
    assert torch.equal(discriminator.recognizer.trunk[0].weight, rival_trunk)
    kept = [name for name in own if not name.startswith(("recognizer.", "candidate_heads.", "running_head_losses"))]
    assert any("ada" in name or "lecam" in name for name in kept), kept
    assert all(torch.equal(discriminator.state_dict()[name], own[name]) for name in kept)


def test_resume_inside_and_across_the_warmup_matches_an_uninterrupted_run(tiny_train_config, tmp_path, capsys):
    from safetensors.torch import load_file

    from genzoo.training import train

    def config(name: str, steps: int, restarts: int = 2, **extra):
        return tiny_train_config(output_dir=str(tmp_path / name), model="infogan", model_args=dict(TINY),
                                 objective_args={"cluster_warmup_steps": 3, "cluster_restarts": restarts,
                                                 "cluster_restart_steps": 2},
                                 max_steps=steps, checkpoint_every=2, **extra)  # fmt: skip

    straight = train(config("straight", 6))
    assert "for 6 steps (the first 3 the objective's warm-up, in which the generator waits)" in capsys.readouterr().out
    train(config("resumed", 2))  # stopped inside the warm-up, at the tournament's end: said, not refused
    assert "(all of them the objective's warm-up, in which the generator waits: raise --max-steps above 3)" in (
        capsys.readouterr().out
    )
    with pytest.raises(ConfigError, match=r"objective_args\.cluster_restarts \(2 there, 3 now\)"):
        train(config("resumed", 4, restarts=3, resume="latest"))  # the rivals shape the checkpoint: refused
    old = tmp_path / "old" / "checkpoints"  # a run from before a default added the rivals: its saved args lack them
    shutil.copytree(tmp_path / "resumed" / "checkpoints", old)
    for step in old.iterdir():
        state = json.loads((step / "genzoo_state.json").read_text())
        for name in ("model_2.safetensors", "optimizer_2.bin"):
            (step / name).unlink()
            del state["files"][name]
        del state["run_config"]["objective_args"]["cluster_restarts"]
        (step / "genzoo_state.json").write_text(json.dumps(state))
    old_defaults = config("old", 4, resume="latest")
    del old_defaults.objective_args["cluster_restarts"]  # today's default, 3: one network more than the checkpoint
    with pytest.raises(ConfigError, match=r"holds 2 networks and this run builds 3 \(model, discriminator, rivals\)"):
        train(old_defaults)
    train(config("resumed", 4, resume="latest"))  # across its end
    resumed = train(config("resumed", 6, resume="latest"))
    for name in ("model.safetensors", "model_1.safetensors", "model_2.safetensors"):  # generator, critic, rivals
        a, b = (load_file(run / "checkpoints" / "step_000006" / name) for run in (straight, resumed))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[key], b[key]) for key in a), name


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
