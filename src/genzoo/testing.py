"""Tester mixins that every genzoo plugin (built-in or third-party) reuses with a tiny configuration.

```python
from genzoo.testing import GeneratorTesterMixin


class TestMyGAN(GeneratorTesterMixin):
    model_name = "my-gan"
    model_args = {"latent_dim": 8, "image_size": 16, "num_channels": 1, "base_channels": 8}
    objective_args = {"discriminator": {"base_channels": 8}}
```

Run with pytest. The mixin checks output shape and range, determinism for a seed, a `save_pretrained` ->
`GenPipeline.from_pretrained` round trip with identical outputs (this is what catches the diffusers loading
pitfalls), one training step of the model's default objective with finite losses, and that the model shows up in
`genzoo plugins`.
"""

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from .modeling import Generator
from .pipeline import GenPipeline
from .registry import ModelRegistration, get_model, get_objective

__all__ = ["GeneratorTesterMixin"]


class GeneratorTesterMixin:
    r"""Generic checks for a registered model family. Subclasses set:

    Attributes:
        model_name (`str`): the registered model name.
        model_args (`dict`): keyword arguments for a tiny generator (include `image_size` and `num_channels`).
        objective_name (`str`, *optional*): objective for the training-step check (default: the model's own).
        objective_args (`dict`): keyword arguments for a tiny objective (e.g. a small discriminator).
        batch_size (`int`): images per check.
    """

    model_name: ClassVar[str]
    model_args: ClassVar[dict[str, Any]] = {}
    objective_name: ClassVar[str | None] = None
    objective_args: ClassVar[dict[str, Any]] = {}
    batch_size: ClassVar[int] = 4

    # --- helpers -----------------------------------------------------------------------------------------------
    @property
    def registration(self) -> ModelRegistration:
        return get_model(self.model_name)

    def make_model(self, seed: int = 0) -> Generator:
        torch.manual_seed(seed)
        return self.registration.generator_class(**self.model_args).eval()

    def make_pipeline(self, model: Generator | None = None) -> GenPipeline:
        return self.registration.pipeline_class(model=model if model is not None else self.make_model())

    def class_labels(self, model: Generator) -> torch.Tensor | None:
        return torch.arange(self.batch_size) % model.num_classes if model.is_conditional else None

    def sample(self, pipe: GenPipeline, seed: int = 0, output_type: str = "np") -> Any:
        generator = torch.Generator().manual_seed(seed)
        labels = self.class_labels(pipe.model)
        return pipe(batch_size=self.batch_size, generator=generator, class_labels=labels, output_type=output_type)

    # --- checks ------------------------------------------------------------------------------------------------
    def test_registration(self) -> None:
        registration = self.registration
        assert issubclass(registration.generator_class, Generator)
        assert issubclass(registration.pipeline_class, GenPipeline)
        objective = self.objective_name or registration.default_objective
        assert objective is not None, "register a default_objective or set objective_name"
        get_objective(objective)

    def test_listed_in_genzoo_plugins(self, capsys: Any) -> None:
        from .cli import main

        main(["plugins", "--json"])
        listed = json.loads(capsys.readouterr().out)["plugins"]
        owner = next(p for p in listed if p["name"] == self.registration.plugin)
        assert self.model_name in owner["models"]

    def test_config_holds_the_generator_contract(self) -> None:
        config = self.make_model().config
        for key in ("latent_dim", "image_size", "num_channels"):
            assert key in config, f"the generator's config must hold {key!r}"

    def test_output_shape_and_range(self) -> None:
        model = self.make_model()
        latents = model.sample_latents(self.batch_size, generator=torch.Generator().manual_seed(0))
        assert latents.shape == (self.batch_size, *model.latent_shape)
        with torch.no_grad():
            images = model(latents, self.class_labels(model))
        size, channels = model.config.image_size, model.config.num_channels
        assert images.shape == (self.batch_size, channels, size, size)
        assert torch.isfinite(images).all()
        assert images.min() >= -1.0 and images.max() <= 1.0

    def test_pipeline_output_types(self) -> None:
        pipe = self.make_pipeline()
        size, channels = pipe.model.config.image_size, pipe.model.config.num_channels
        array = self.sample(pipe, output_type="np").images
        assert array.shape == (self.batch_size, size, size, channels)
        assert array.min() >= 0.0 and array.max() <= 1.0
        tensor = self.sample(pipe, output_type="pt").images
        assert tensor.shape == (self.batch_size, channels, size, size)
        images = self.sample(pipe, output_type="pil").images
        assert len(images) == self.batch_size and images[0].size == (size, size)

    def test_deterministic_for_a_seed(self) -> None:
        pipe = self.make_pipeline()
        first = self.sample(pipe, seed=0).images
        np.testing.assert_array_equal(first, self.sample(pipe, seed=0).images)
        assert not np.array_equal(first, self.sample(pipe, seed=1).images)

    def test_save_and_load_round_trip(self, tmp_path: Path) -> None:
        pipe = self.make_pipeline()
        pipe.save_pretrained(tmp_path / "pipe")
        loaded = GenPipeline.from_pretrained(tmp_path / "pipe")
        assert type(loaded) is type(pipe), "from_pretrained must dispatch to the registered pipeline class"
        assert type(loaded.model) is type(pipe.model)
        assert _public(loaded.model.config) == _public(pipe.model.config)
        np.testing.assert_array_equal(self.sample(pipe).images, self.sample(loaded).images)

    def test_one_training_step(self) -> None:
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState, GradientState

        registration = self.registration
        objective_class = get_objective(self.objective_name or registration.default_objective).obj
        model = self.make_model().train()
        objective = objective_class(model, registration, **self.objective_args)
        optimizers = objective.configure_optimizers()
        assert set(optimizers) <= set(objective.networks), "optimizers must be keyed like networks"
        accelerator = Accelerator(cpu=True)
        try:
            names = list(optimizers)
            prepared = accelerator.prepare(*(objective.networks[n] for n in names), *(optimizers[n] for n in names))
            networks = {**objective.networks, **dict(zip(names, prepared[: len(names)], strict=True))}
            objective.bind(accelerator, networks, dict(zip(names, prepared[len(names) :], strict=True)))
            before = [p.detach().clone() for p in model.parameters()]
            size, channels = model.config.image_size, model.config.num_channels
            batch = {"pixel_values": torch.rand(self.batch_size, channels, size, size) * 2 - 1}
            if model.is_conditional:
                batch["class_labels"] = torch.arange(self.batch_size) % model.num_classes
            logs = objective.training_step(batch, 0, torch.Generator().manual_seed(0))
        finally:
            AcceleratorState._reset_state(reset_partial_state=True)
            GradientState._reset_state()
        assert logs, "training_step must return the scalars to log"
        for name, value in logs.items():
            assert torch.is_tensor(value) and value.numel() == 1, f"{name} must be a scalar tensor"
            assert torch.isfinite(value), f"{name} is not finite"
        changed = any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))
        assert changed, "one training step must update the generator"


def _public(config: Any) -> dict[str, Any]:
    """A config without the bookkeeping keys (`_name_or_path`, `_diffusers_version`) that loading adds."""
    return {key: value for key, value in config.items() if not key.startswith("_")}
