"""`genzoo.testing.GeneratorTesterMixin` must catch the mistakes plugin authors make: each broken plugin below fails
the check written for it, and a correct one passes."""

import pytest

from genzoo.testing import GeneratorTesterMixin

# A correct minimal plugin; the broken variants below change one thing each.
PLUGIN = """
import torch
from diffusers import ModelMixin  # MODELMIXIN
from diffusers.configuration_utils import register_to_config
from torch import nn

from genzoo import GenPipeline, Generator, Objective, hookimpl


class ToyGenerator(Generator):
    '''A toy generator: a linear map and batch norm.'''

    @register_to_config
    def __init__(self, latent_dim: int = 4, image_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.linear = nn.Linear(latent_dim, num_channels * image_size * image_size)
        self.norm = nn.BatchNorm1d(num_channels * image_size * image_size)

    def forward(self, latents, class_labels=None):
        c, s = self.config.num_channels, self.config.image_size
        x = self.norm(self.linear(latents))  # NORM
        return torch.tanh(x).reshape(-1, c, s, s)


class ToyCritic(nn.Module):
    def __init__(self, image_size, num_channels, num_classes=0):
        super().__init__()
        self.linear = nn.Linear(num_channels * image_size * image_size, 1)

    def forward(self, images, class_labels=None):
        return self.linear(images.flatten(1)).flatten()


class ToyObjective(Objective):
    '''Least squares: the critic scores real 1 and fake 0, the generator wants 1.'''

    def __init__(self, model, registration=None):
        super().__init__(model, registration)
        self.networks["critic"] = ToyCritic(model.config.image_size, model.config.num_channels)

    def configure_optimizers(self):
        return {name: torch.optim.SGD(net.parameters(), lr=0.1) for name, net in self.networks.items()}

    def training_step(self, batch, step, generator):
        model, critic = self.networks["model"], self.networks["critic"]
        real = batch["pixel_values"]
        latents = self.unwrap("model").sample_latents(real.shape[0], generator=generator)
        fake = model(latents)
        loss_d = (critic(real) - 1).pow(2).mean() + critic(fake.detach()).pow(2).mean()
        self.optimizers["critic"].zero_grad()
        self.accelerator.backward(loss_d)
        self.optimizers["critic"].step()  # CRITIC_STEP
        loss_g = (critic(fake) - 1).pow(2).mean()
        self.optimizers["model"].zero_grad()
        self.accelerator.backward(loss_g)
        self.optimizers["model"].step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}


class ToyPipeline(GenPipeline):
    pass  # PIPELINE


@hookimpl
def register_models(register):
    register("toy", ToyGenerator, pipeline_class=ToyPipeline, default_objective="toy-ls")


@hookimpl
def register_objectives(register):
    register("toy-ls", ToyObjective)
"""

BROKEN = {
    "no_model_mixin": ("from diffusers import ModelMixin  # MODELMIXIN", ""),
    "batch_norm_at_sampling": (
        "x = self.norm(self.linear(latents))  # NORM",
        "x = torch.nn.functional.batch_norm(self.linear(latents), None, None, training=True)",
    ),
    "critic_never_steps": ('self.optimizers["critic"].step()  # CRITIC_STEP', "pass"),
    "pipeline_ignores_the_seed": (
        "pass  # PIPELINE",
        "def prepare_latents(self, batch_size, generator, latents):\n"
        "        return torch.randn(batch_size, *self.model.latent_shape)",
    ),
}


class ToyTester(GeneratorTesterMixin):
    model_name = "toy"
    model_args = {"latent_dim": 4, "image_size": 4, "num_channels": 1}
    max_training_steps = 2


def install(installed_plugin, variant: str | None = None) -> ToyTester:
    source = PLUGIN
    if variant is not None:
        old, new = BROKEN[variant]
        assert old in source
        source = source.replace(old, new)
    installed_plugin("toy", source)
    return ToyTester()


def test_a_correct_plugin_passes_every_check(installed_plugin, tmp_path, capsys):
    tester = install(installed_plugin)
    tester.test_registration()
    tester.test_listed_in_genzoo_plugins(capsys)
    tester.test_config_holds_the_generator_contract()
    tester.test_modeling_module_exposes_model_mixin()
    tester.test_output_shape_and_range()
    tester.test_pipeline_output_types()
    tester.test_deterministic_for_a_seed()
    tester.test_latents_argument_matches_seeded_sampling()
    tester.test_batch_members_are_independent_at_sampling()
    tester.test_save_and_load_round_trip(tmp_path)
    tester.test_interpolation()
    tester.test_one_training_step()
    tester.test_trains_saves_and_loads_through_the_cli(tmp_path)


def test_a_modeling_file_needs_no_model_mixin_import(installed_plugin, tmp_path):
    """diffusers pitfall 2 is gone: genzoo.Generator puts `ModelMixin` on the subclass's module, so a modeling file
    without the import passes the dedicated check and round-trips."""
    tester = install(installed_plugin, "no_model_mixin")
    tester.test_modeling_module_exposes_model_mixin()
    tester.test_save_and_load_round_trip(tmp_path)


def test_batch_norm_in_training_mode_at_sampling_is_caught(installed_plugin):
    tester = install(installed_plugin, "batch_norm_at_sampling")
    with pytest.raises(AssertionError, match="depends on the other latents in its batch"):
        tester.test_batch_members_are_independent_at_sampling()


def test_a_network_the_objective_never_updates_is_caught(installed_plugin):
    tester = install(installed_plugin, "critic_never_steps")
    with pytest.raises(AssertionError, match=r"\['critic'\] never changed"):
        tester.test_one_training_step()


def test_a_pipeline_that_ignores_the_seed_is_caught(installed_plugin):
    tester = install(installed_plugin, "pipeline_ignores_the_seed")
    with pytest.raises(AssertionError):
        tester.test_deterministic_for_a_seed()
    with pytest.raises(AssertionError):
        tester.test_latents_argument_matches_seeded_sampling()


def test_a_reloaded_plugin_is_not_served_from_the_registry_cache(installed_plugin):
    """The registry cache is keyed by plugin objects, not names: a plugin loaded again under the same name (as in
    these tests, or after an upgrade in a long-lived process) must register its new classes."""
    import sys

    from genzoo import plugins
    from genzoo.registry import get_model

    module = installed_plugin("toy", PLUGIN)
    first = get_model("toy").generator_class
    sys.modules.pop(module)
    plugins.reset_plugins()
    second = get_model("toy").generator_class
    assert second is not first and second.__module__ == first.__module__
