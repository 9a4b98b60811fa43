"""The pipeline folder, finished last by its card; sampling options through `prepare_latents`; plugin modeling files
without the diffusers import."""

import importlib
import json

import pytest
import torch
from huggingface_hub import ModelCard

from genzoo import GenPipeline, GenzooError
from genzoo.folder import read_pipeline_folder
from genzoo.training import train
from genzoo_gan import DCGANGenerator


def test_the_best_pipelines_card_shows_the_runs_training_rows_and_metrics(tiny_train_config):
    output_dir = train(tiny_train_config(max_steps=2, eval_every=2, eval_num_samples=150, eval_metrics=["fid"]))
    best = output_dir / "best"
    results = json.loads((best / "eval_results.json").read_text())
    card = ModelCard.load(best / "README.md")
    assert "| steps | 2 |" in card.text and "| dataset |" in card.text  # the run's training rows
    assert f"| FID | {results['fid']:.4g} |" in card.text  # and its metrics
    assert [r.metric_type for r in card.data.eval_results] == ["fid"]
    assert read_pipeline_folder(best).run_config["max_steps"] == 2


def tiny_pipeline(cls: type[GenPipeline] = GenPipeline) -> GenPipeline:
    torch.manual_seed(0)
    return cls(model=DCGANGenerator(latent_dim=8, base_channels=8).eval())


def test_truncation_redraws_components_beyond_the_threshold():
    model = tiny_pipeline().model
    latents = model.sample_latents(64, generator=torch.Generator().manual_seed(0), truncation=0.5)
    assert latents.abs().max() <= 0.5 and latents.std() > 0.2  # bounded, not collapsed
    plain = model.sample_latents(64, generator=torch.Generator().manual_seed(0))
    kept = plain.abs() <= 0.5
    assert torch.equal(latents[kept], plain[kept])  # components inside the bound are the prior's own draws
    again = model.sample_latents(64, generator=torch.Generator().manual_seed(0), truncation=0.5)
    assert torch.equal(latents, again)


def test_pipeline_truncation_matches_the_generator_and_errors_in_one_line():
    pipe = tiny_pipeline()
    images = pipe(batch_size=3, generator=torch.Generator().manual_seed(1), truncation=0.7, output_type="pt").images
    latents = pipe.model.sample_latents(3, generator=torch.Generator().manual_seed(1), truncation=0.7)
    assert torch.equal(images, pipe(latents=latents, output_type="pt").images)
    plain = pipe(batch_size=3, generator=torch.Generator().manual_seed(1), output_type="pt").images
    assert not torch.equal(images, plain)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="`truncation` must be positive"):
            pipe(truncation=bad)
    with pytest.raises(ValueError, match="applies to latents drawn from the prior"):
        pipe(latents=latents, truncation=0.5)
    with pytest.raises(ValueError, match=r"unexpected argument\(s\) 'temperature'"):
        pipe(temperature=0.5)


def test_a_non_gaussian_prior_refuses_truncation():
    class UniformDCGAN(DCGANGenerator):
        latent_prior = "uniform"

    model = UniformDCGAN(latent_dim=8, base_channels=8)
    with pytest.raises(ValueError, match="uniform prior; the truncation trick needs a Gaussian prior"):
        GenPipeline(model=model)(truncation=1.0)


def test_a_subclass_adds_a_sampling_option_by_overriding_prepare_latents_alone():
    class ScaledPipeline(GenPipeline):
        def prepare_latents(self, batch_size, generator, latents, scale: float = 1.0, **kwargs):
            return super().prepare_latents(batch_size, generator, latents, **kwargs) * scale

    pipe = tiny_pipeline(ScaledPipeline)
    seed = torch.Generator().manual_seed(2)
    scaled = pipe(batch_size=2, generator=seed, scale=0.5, truncation=1.0, output_type="pt").images
    latents = pipe.model.sample_latents(2, generator=torch.Generator().manual_seed(2), truncation=1.0) * 0.5
    assert torch.equal(scaled, pipe(latents=latents, output_type="pt").images)
    # interpolate and interpolation_grid pass the same options on to the end points they draw
    path = pipe.interpolate(steps=3, generator=torch.Generator().manual_seed(4), scale=0.0, output_type="pt").images
    assert torch.allclose(path[0], path[-1])  # both end points scaled to the origin
    grid = pipe.interpolation_grid(rows=1, steps=3, generator=torch.Generator().manual_seed(4), truncation=0.5)
    frames = pipe.interpolate(steps=3, generator=torch.Generator().manual_seed(4), truncation=0.5).images
    assert grid.size == (3 * frames[0].width, frames[0].height)


def test_a_modeling_module_without_the_diffusers_import_round_trips(installed_plugin, tmp_path):
    """diffusers looks up `ModelMixin` on the component's module; `Generator` puts it there."""
    source = """
        import torch
        from diffusers.configuration_utils import register_to_config
        from genzoo import Generator, hookimpl


        class PlainGenerator(Generator):
            @register_to_config
            def __init__(self, latent_dim=4, image_size=4, num_channels=1):
                super().__init__()
                self.linear = torch.nn.Linear(latent_dim, image_size * image_size * num_channels)

            def forward(self, latents, class_labels=None):
                size = self.config.image_size
                return torch.tanh(self.linear(latents)).view(-1, self.config.num_channels, size, size)


        @hookimpl
        def register_models(register):
            register("plain", PlainGenerator)
        """
    assert "ModelMixin" not in source
    module = importlib.import_module(installed_plugin("plain", source))
    pipe = GenPipeline(model=module.PlainGenerator())
    pipe.save_pretrained(tmp_path / "saved")
    loaded = GenPipeline.from_pretrained(tmp_path / "saved")
    assert type(loaded.model) is module.PlainGenerator
    assert torch.equal(loaded.model.linear.weight, pipe.model.linear.weight)


def test_diffusers_raw_loading_methods_error_becomes_one_line(installed_plugin, tmp_path):
    """A component class that is not a genzoo.Generator, in a module without `ModelMixin`, fails in one line."""
    source = """
        import diffusers
        import torch
        from diffusers.configuration_utils import register_to_config
        from genzoo import hookimpl


        class BareGenerator(diffusers.ModelMixin, diffusers.ConfigMixin):
            config_name = "config.json"

            @register_to_config
            def __init__(self, latent_dim=4, image_size=4, num_channels=1):
                super().__init__()
                self.linear = torch.nn.Linear(latent_dim, 1)


        @hookimpl
        def register_models(register):
            register("bare", BareGenerator)
        """
    module = importlib.import_module(installed_plugin("bare", source))
    GenPipeline(model=module.BareGenerator()).save_pretrained(tmp_path / "saved", model_card=False)
    with pytest.raises(GenzooError) as excinfo:
        GenPipeline.from_pretrained(tmp_path / "saved")
    message = str(excinfo.value)
    assert "has no `ModelMixin`" in message and "\n" not in message and len(message) < 400
