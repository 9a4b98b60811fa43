"""Tester mixins that every genzoo plugin (built-in or third-party) reuses with a tiny configuration.

```python
from genzoo.testing import GeneratorTesterMixin


class TestMyGAN(GeneratorTesterMixin):
    model_name = "my-gan"
    model_args = {"latent_dim": 8, "image_size": 16, "num_channels": 1, "base_channels": 8}
    objective_args = {"discriminator": {"base_channels": 8}}
```

Run with pytest (the plugin must be installed, so that its entry point is visible). The mixin checks:

- the registration (generator and pipeline classes, a known default objective, valid training defaults) and the
  model's presence in `genzoo plugins`;
- output shape, range and finiteness, every `output_type`, determinism for a seed, that `latents=` decodes exactly
  what a seed draws, and that images in a batch do not depend on each other at sampling time (eval mode);
- the `save_pretrained` -> `GenPipeline.from_pretrained` round trip with identical weights and outputs, plus the
  diffusers loading pitfalls behind it (`ModelMixin` reachable on the modeling module, only registered
  `[module, class]` pairs and safetensors in the folder);
- latent interpolation, as images and as a grid;
- `supported_tasks()` (names from the task table, each a documented pipeline method); inversion (latents that
  reproduce a generated image, deterministic for a seed) or a clear refusal from a family that sets
  `supports_inversion = False`; every restore task of the table that applies (plugins' tasks and the family's own
  implementations included) on an observation its degradation simulates, with the known pixels of a masked one
  kept exactly; SeFa (or KL-ranked) directions and a traversal grid;
- training: the objective's `training_step` with finite losses that updates every optimised network, and a
  two-step `genzoo train` through the command line whose saved pipeline reproduces the run's final sample grid.
"""

import json
import math
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import PIL.Image
import pytest
import torch
import yaml

from .images import image_grid
from .modeling import Generator
from .pipeline import GenPipeline, pipeline_class_of
from .registry import ModelRegistration, TaskRegistration, get_model, get_objective, tasks

__all__ = ["SAMPLING_FEATURES", "TINY_TRAIN_ARGS", "GeneratorTesterMixin", "known_tasks", "restore_option_sets"]

#: `genzoo train` arguments that make an adversarial family's networks tiny, for tests that train through the CLI
#: (a plugin's own tests may start from them too).
TINY_TRAIN_ARGS = (
    "--set", "model_args.latent_dim=8",
    "--set", "model_args.base_channels=8",
    "--set", "objective_args.discriminator.base_channels=8",
    "--set", "num_sample_images=4",
)  # fmt: skip
#: The sampling features `GenPipeline.supported_tasks()` may name besides the tasks of the table.
SAMPLING_FEATURES = frozenset({"sample", "interpolate", "class_labels", "truncation", "reconstruct"})


def known_tasks() -> frozenset[str]:
    """Every name `GenPipeline.supported_tasks()` may return: the sampling features and the task table's names
    (plugins' tasks included)."""
    return SAMPLING_FEATURES | frozenset(task.name for task in tasks())


def __getattr__(name: str) -> Any:
    if name == "KNOWN_TASKS":  # computed on use: plugins add tasks
        return known_tasks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class GeneratorTesterMixin:
    r"""Generic checks for a registered model family. Subclasses set:

    Attributes:
        model_name (`str`): the registered model name.
        model_args (`dict`): keyword arguments for a tiny generator (include `image_size` and `num_channels`).
        objective_name (`str`, *optional*): objective for the training checks (default: the model's own).
        objective_args (`dict`): keyword arguments for a tiny objective (e.g. a small discriminator).
        batch_size (`int`): images per check.
        max_training_steps (`int`): how many `training_step` calls may pass before the generator must have
            changed (an objective with `n_critic = 5` updates the generator on the fifth).
        train_config (`dict`): extra run-config values for the `genzoo train` check, e.g. `{"dataset": ...}`
            (default: two steps on a folder of random images that fits `model_args`, see `make_image_folder`).
    """

    model_name: ClassVar[str]
    model_args: ClassVar[dict[str, Any]] = {}
    objective_name: ClassVar[str | None] = None
    objective_args: ClassVar[dict[str, Any]] = {}
    batch_size: ClassVar[int] = 4
    max_training_steps: ClassVar[int] = 8
    train_config: ClassVar[dict[str, Any]] = {}

    # --- helpers -----------------------------------------------------------------------------------------------
    @property
    def registration(self) -> ModelRegistration:
        return get_model(self.model_name)

    @property
    def objective(self) -> str:
        """The objective the training checks use."""
        name = self.objective_name or self.registration.default_objective
        assert name is not None, f"model {self.model_name!r} registers no default_objective; set objective_name"
        return name

    def make_model(self, seed: int = 0) -> Generator:
        torch.manual_seed(seed)
        return self.registration.generator_class(**self.model_args).eval()

    def make_pipeline(self, model: Generator | None = None) -> GenPipeline:
        return pipeline_class_of(self.registration)(model=model if model is not None else self.make_model())

    def class_labels(self, model: Generator, count: int | None = None) -> torch.Tensor | None:
        count = self.batch_size if count is None else count
        return torch.arange(count) % model.num_classes if model.is_conditional else None

    def sample(self, pipe: GenPipeline, seed: int = 0, output_type: str = "np") -> Any:
        generator = torch.Generator().manual_seed(seed)
        labels = self.class_labels(pipe.model)
        return pipe(batch_size=self.batch_size, generator=generator, class_labels=labels, output_type=output_type)

    def make_image_folder(self, folder: Path) -> Path:
        """A tiny image folder that fits the tiny model: random images of its size and channels, `2 * batch_size`
        of them, in one sub-folder per class (`class_0`, ...) for a conditional model."""
        model = self.make_model()
        size, channels = model.config.image_size, model.config.num_channels
        classes = [f"class_{index}" for index in range(model.num_classes)] or [""]
        per_class = -(-2 * self.batch_size // len(classes))
        rng = np.random.default_rng(0)
        for name in classes:
            (folder / name).mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                pixels = rng.integers(0, 256, (size, size, channels), dtype=np.uint8)
                image = PIL.Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
                image.save(folder / name / f"{index}.png")
        return folder

    # --- registration ------------------------------------------------------------------------------------------
    def test_registration(self) -> None:
        from .config import resolve_train_config

        registration = self.registration
        assert issubclass(registration.generator_class, Generator)
        assert issubclass(pipeline_class_of(registration), GenPipeline)
        get_objective(self.objective)
        # The family's training defaults must be valid run-config values, with each objective they are tuned for.
        for objective in {None, *registration.objective_defaults}:
            resolve_train_config({"model": self.model_name, "objective": objective})

    def test_listed_in_genzoo_plugins(self, capsys: Any) -> None:
        from .cli import main

        main(["plugins", "--json"])
        listed = json.loads(capsys.readouterr().out)["plugins"]
        owner = next((p for p in listed if p["name"] == self.registration.plugin), None)
        assert owner is not None, f"plugin {self.registration.plugin!r} is missing from `genzoo plugins`"
        assert self.model_name in owner["models"]

    def test_config_holds_the_generator_contract(self) -> None:
        model = self.make_model()
        for key in ("latent_dim", "image_size", "num_channels"):
            assert key in model.config, f"the generator's config must hold {key!r} (use @register_to_config)"
        for key, value in self.model_args.items():
            assert _plain(model.config[key]) == _plain(value), f"config[{key!r}] is not the value passed to __init__"

    def test_modeling_module_exposes_model_mixin(self) -> None:
        from diffusers import ModelMixin

        module = self.registration.generator_class.__module__
        assert getattr(sys.modules[module], "ModelMixin", None) is ModelMixin, (
            f"{module} has no `ModelMixin`, which diffusers looks up on the component's own module when it reloads a "
            "pipeline; subclass genzoo.Generator (which provides it) or `from diffusers import ModelMixin` there"
        )

    # --- sampling ----------------------------------------------------------------------------------------------
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
        (first,) = pipe(batch_size=1, class_labels=self.class_labels(pipe.model, 1), return_dict=False)
        assert len(first) == 1

    def test_deterministic_for_a_seed(self) -> None:
        pipe = self.make_pipeline()
        first = self.sample(pipe, seed=0).images
        np.testing.assert_array_equal(first, self.sample(pipe, seed=0).images)
        assert not np.array_equal(first, self.sample(pipe, seed=1).images)

    def test_latents_argument_matches_seeded_sampling(self) -> None:
        """`pipe(generator=g)` must decode `model.sample_latents(n, generator=g)`, which is what training grids and
        `genzoo sample --seed` rely on."""
        pipe = self.make_pipeline()
        latents = pipe.model.sample_latents(self.batch_size, generator=torch.Generator().manual_seed(0))
        given = pipe(latents=latents, class_labels=self.class_labels(pipe.model), output_type="np").images
        np.testing.assert_array_equal(given, self.sample(pipe, seed=0).images)

    def test_batch_members_are_independent_at_sampling(self) -> None:
        """In eval mode an image must not depend on the rest of its batch (e.g. batch norm left in training mode):
        the first latent decodes to the same image beside different neighbours."""
        pipe = self.make_pipeline()
        count = max(self.batch_size, 2)
        latents = pipe.model.sample_latents(2 * count, generator=torch.Generator().manual_seed(0))
        labels = self.class_labels(pipe.model, count)
        first = pipe(latents=latents[:count], class_labels=labels, output_type="np").images
        neighbours = torch.cat([latents[:1], latents[count + 1 :]])
        second = pipe(latents=neighbours, class_labels=labels, output_type="np").images
        np.testing.assert_allclose(
            second[0], first[0], atol=1e-5, err_msg="an image depends on the other latents in its batch"
        )

    # --- saving and loading ------------------------------------------------------------------------------------
    def test_save_and_load_round_trip(self, tmp_path: Path) -> None:
        pipe = self.make_pipeline()
        folder = tmp_path / "pipe"
        pipe.save_pretrained(folder)

        # What diffusers wrote: only registered [module, class] pairs, weights as safetensors, no code.
        index = json.loads((folder / "model_index.json").read_text())
        generator_class = self.registration.generator_class
        assert index["_class_name"] == type(pipe).__name__
        assert index["model"] == [generator_class.__module__, generator_class.__name__], (
            f"model_index.json names {index['model']}; components that are not diffusers models are saved as "
            "[null, null] and cannot be reloaded"
        )
        assert (folder / "model" / "config.json").is_file()
        assert list((folder / "model").glob("*.safetensors")), "weights must be saved as safetensors"
        assert not list(folder.rglob("*.py")) and not list(folder.rglob("*.bin"))

        loaded = GenPipeline.from_pretrained(folder)
        assert type(loaded) is type(pipe), "from_pretrained must dispatch to the registered pipeline class"
        assert type(loaded.model) is type(pipe.model)
        assert _public(loaded.model.config) == _public(pipe.model.config)
        assert not loaded.model.training, "a loaded model must be in eval mode"
        expected, actual = pipe.model.state_dict(), loaded.model.state_dict()
        assert expected.keys() == actual.keys()
        for key, value in expected.items():
            assert torch.equal(value, actual[key]), f"{key} changed in the round trip"
        np.testing.assert_array_equal(self.sample(pipe).images, self.sample(loaded).images)
        # The registered pipeline class loads it too (it inherits GenPipeline.from_pretrained).
        again = type(pipe).from_pretrained(folder)
        np.testing.assert_array_equal(self.sample(pipe).images, self.sample(again).images)

    # --- interpolation -----------------------------------------------------------------------------------------
    def test_interpolation(self) -> None:
        pipe = self.make_pipeline()
        label = 0 if pipe.model.is_conditional else None
        start, end = pipe.model.sample_latents(2, generator=torch.Generator().manual_seed(0), device="cpu")
        path = pipe.interpolate(start, end, steps=3, class_labels=label, output_type="np").images
        size, channels = pipe.model.config.image_size, pipe.model.config.num_channels
        assert path.shape == (3, size, size, channels)
        labels = None if label is None else [label, label]
        ends = pipe(latents=torch.stack([start, end]), class_labels=labels, output_type="np").images
        np.testing.assert_allclose(path[[0, -1]], ends, atol=1e-5)

        seeded = pipe.interpolate(steps=3, generator=torch.Generator().manual_seed(1), output_type="np").images
        again = pipe.interpolate(steps=3, generator=torch.Generator().manual_seed(1), output_type="np").images
        np.testing.assert_array_equal(seeded, again)

        grid = pipe.interpolation_grid(rows=2, steps=3, generator=torch.Generator().manual_seed(1))
        assert isinstance(grid, PIL.Image.Image) and grid.size == (3 * size, 2 * size)

    # --- tasks: inversion, the restore tasks and directions (the task table, genzoo.tasks) ------------------------
    def test_supported_tasks(self) -> None:
        pipe = self.make_pipeline()
        supported = pipe.supported_tasks()
        assert isinstance(supported, frozenset) and {"sample", "interpolate"} <= supported
        known = known_tasks()
        assert supported <= known, f"unknown task names {sorted(supported - known)}"
        assert ("class_labels" in supported) == pipe.model.is_conditional
        for task in tasks():  # every supported task is a documented method of the pipeline
            if task.name in supported:
                method = getattr(pipe, task.method)
                assert callable(method) and method.__doc__, f"pipe.{task.method} has no docstring"

    def test_inversion(self) -> None:
        """A family supports inversion (latents that reproduce a generated image, deterministic for a seed) or says
        clearly that it does not (`supports_inversion = False` and a one-line error)."""
        from .errors import GenzooError
        from .tasks.capabilities import invertible

        pipe = self.make_pipeline()
        labels = self.class_labels(pipe.model, 2)
        latents = pipe.model.sample_latents(2, generator=torch.Generator().manual_seed(5))
        target = pipe(latents=latents, class_labels=labels, output_type="pt").images
        if not invertible(pipe):
            assert not pipe.model.supports_inversion
            with pytest.raises(GenzooError, match="does not support inversion"):
                pipe.invert(target, class_labels=labels, num_steps=1)
            return
        # No prior penalty: an untrained tiny generator barely depends on its latent, so the prior would win.
        options = {"class_labels": labels, "num_steps": 60, "num_restarts": 2, "prior": "none"}
        found = pipe.invert(target, generator=torch.Generator().manual_seed(0), **options)
        assert found.shape == latents.shape
        again = pipe.invert(target, generator=torch.Generator().manual_seed(0), **options)
        torch.testing.assert_close(found, again, rtol=0, atol=0)
        inverted = pipe(latents=found, class_labels=labels, output_type="pt").images
        random = pipe(batch_size=2, class_labels=labels, generator=torch.Generator().manual_seed(9), output_type="pt")
        assert (inverted - target).pow(2).mean() < 0.5 * (random.images - target).pow(2).mean(), (
            "the inverted latents reproduce the image hardly better than random ones"
        )

    def test_restore_tasks_keep_known_pixels_and_shapes(self) -> None:
        """Every restore task of the table that applies (the built-in ones, plugins' ones, or the family's own
        implementation) restores a simulated observation to the model's shape, in [0, 1]; a task that takes a mask
        returns the known pixels exactly."""
        pipe = self.make_pipeline()
        size, channels = pipe.model.config.image_size, pipe.model.config.num_channels
        labels = self.class_labels(pipe.model, 2)
        clean = pipe(batch_size=2, class_labels=labels, generator=torch.Generator().manual_seed(1), output_type="pt")
        clean = clean.images
        mask = torch.zeros(1, 1, size, size)
        mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
        supported = pipe.supported_tasks()  # the pipeline's own answer (a one-task family narrows the table's)
        for task in tasks():
            if task.group != "restoration" or task.name not in supported:
                continue
            inputs = {"mask_image": mask} if "mask_image" in task.inputs else {}
            observed, out = _run_restore_task(pipe, task, clean, inputs, labels)
            assert out.shape == (2, channels, size, size), f"{task.name}: shape {tuple(out.shape)}"
            assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1, f"{task.name}: not in [0, 1]"
            if inputs:
                known = (mask == 0).expand_as(out)
                assert torch.equal(out[known], observed[known]), f"{task.name} must return the known pixels exactly"

    def test_directions_and_traversal(self) -> None:
        from .errors import GenzooError
        from .tasks.capabilities import has_directions

        pipe = self.make_pipeline()
        if not has_directions(pipe):
            return
        size = pipe.model.config.image_size
        dim = int(torch.Size(pipe.model.latent_shape).numel())
        try:
            directions = pipe.find_directions(method="sefa", num_directions=2)
        except GenzooError:  # a model whose directions come from its encoder only
            directions = pipe.find_directions(method="dims", num_directions=2)
        assert directions.directions.shape == (2, dim) and directions.strengths.shape == (2,)
        grid = pipe.traverse(directions, values=[-1.0, 0.0, 1.0], generator=torch.Generator().manual_seed(0))
        assert grid.size == (3 * size, 2 * size)

    # --- training ----------------------------------------------------------------------------------------------
    def test_one_training_step(self) -> None:
        """The objective's `training_step` returns finite scalars and, within `max_training_steps` calls, updates
        the generator and every other network it has an optimizer for."""
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState, GradientState

        registration = self.registration
        objective_class = get_objective(self.objective).obj
        model = self.make_model().train()
        objective = objective_class(model, registration, **self.objective_args)
        assert objective.networks["model"] is model, "the generator must be networks['model']"
        optimizers = objective.configure_optimizers()
        assert "model" in optimizers and set(optimizers) <= set(objective.networks), (
            "configure_optimizers must return one optimizer per trained network, keyed like networks"
        )
        names = list(optimizers)
        before = {name: [p.detach().clone() for p in objective.networks[name].parameters()] for name in names}
        changed: set[str] = set()
        accelerator = Accelerator(cpu=True)
        try:
            prepared = accelerator.prepare(*(objective.networks[n] for n in names), *(optimizers[n] for n in names))
            networks = {**objective.networks, **dict(zip(names, prepared[: len(names)], strict=True))}
            objective.bind(accelerator, networks, dict(zip(names, prepared[len(names) :], strict=True)))
            size, channels = model.config.image_size, model.config.num_channels
            for step in range(self.max_training_steps):
                data = torch.Generator().manual_seed(step)
                batch = {"pixel_values": torch.rand(self.batch_size, channels, size, size, generator=data) * 2 - 1}
                if model.is_conditional:
                    batch["class_labels"] = torch.arange(self.batch_size) % model.num_classes
                logs = objective.training_step(batch, step, torch.Generator().manual_seed(1000 + step))
                assert logs, "training_step must return the scalars to log"
                for key, value in logs.items():
                    assert torch.is_tensor(value) and value.numel() == 1, f"{key} must be a scalar tensor"
                    assert not value.requires_grad, f"{key} must be detached"
                    assert torch.isfinite(value), f"{key} is not finite at step {step}"
                for name in names:
                    now = objective.unwrap(name).parameters()
                    if any(not torch.equal(a, b.detach()) for a, b in zip(before[name], now, strict=True)):
                        changed.add(name)
                if changed == set(names):
                    break
        finally:
            AcceleratorState._reset_state(reset_partial_state=True)
            GradientState._reset_state()
        assert changed == set(names), (
            f"after {self.max_training_steps} training steps, {sorted(set(names) - changed)} never changed"
        )

    def test_trains_saves_and_loads_through_the_cli(self, tmp_path: Path) -> None:
        """`genzoo train` for two steps; the saved pipeline must reproduce the run's final sample grid."""
        from accelerate.state import AcceleratorState, GradientState

        from .cli import main

        config = {
            "model": self.model_name,
            "dataset": f"imagefolder:{self.make_image_folder(tmp_path / 'images')}",
            "model_args": dict(self.model_args),
            "objective_args": dict(self.objective_args),
            "max_steps": 2,
            "batch_size": self.batch_size,
            "log_every": 1,
            "sample_every": 0,
            "checkpoint_every": 0,
            "num_sample_images": self.batch_size,
            "seed": 0,
            **self.train_config,
        }
        if self.objective_name:
            config["objective"] = self.objective_name
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
        output_dir = tmp_path / "run"
        try:
            main(["train", "--config", str(tmp_path / "run.yaml"), "--output-dir", str(output_dir)])
        finally:
            AcceleratorState._reset_state(reset_partial_state=True)
            GradientState._reset_state()

        logged = [json.loads(line) for line in (output_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
        losses = {key: value for row in logged for key, value in row.items() if key.startswith("loss")}
        assert losses, "training logged no loss"
        assert all(math.isfinite(value) for value in losses.values())

        pipe = GenPipeline.from_pretrained(output_dir)
        assert type(pipe) is pipeline_class_of(self.registration)
        count = config["num_sample_images"]
        images = pipe(
            batch_size=count,
            generator=torch.Generator().manual_seed(config["seed"]),
            class_labels=self.class_labels(pipe.model, count),
        ).images
        grid = image_grid(images, pipe.model.num_classes)
        with PIL.Image.open(output_dir / "samples.png") as saved:
            np.testing.assert_array_equal(np.asarray(grid), np.asarray(saved.convert(grid.mode)))


def _plain(value: Any) -> Any:
    """Tuples as lists, as they come back from a saved `config.json`."""
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


def _public(config: Any) -> dict[str, Any]:
    """A config without the bookkeeping keys (`_name_or_path`, `_diffusers_version`) that loading adds."""
    return {key: value for key, value in config.items() if not key.startswith("_")}


def restore_option_sets(task: TaskRegistration, image_size: int) -> list[dict[str, Any]]:
    """Option values to try a restore task with: its defaults first, then each other value of an integer option (a
    super-resolution factor) whose degradation fits the image size."""
    from .errors import GenzooError

    defaults = task.resolve_options()
    sets = [defaults]
    for option in task.options:
        if option.kind is int and option.minimum is not None:
            top = int(option.maximum or image_size)
            for value in option.choices or range(int(option.minimum), top + 1):
                candidate = {**defaults, option.name: value}
                try:
                    task.degradation(**candidate).observed_size(image_size)
                except GenzooError:
                    continue
                if candidate not in sets:
                    sets.append(candidate)
    return sets


def _run_restore_task(
    pipe: GenPipeline, task: TaskRegistration, clean: torch.Tensor, inputs: dict[str, Any], labels: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """A simulated observation and the task's restoration of it, with the first option values the pipeline accepts
    (a family's own implementation may be trained for one super-resolution factor only)."""
    from .errors import GenzooError

    size = int(pipe.model.config.image_size)
    method = getattr(pipe, task.method)
    first_error: GenzooError | None = None
    for options in restore_option_sets(task, size):
        try:
            degradation = task.degradation(**inputs, **options)
            degradation.observed_size(size)
        except GenzooError:
            continue
        observed = degradation.degrade(clean, generator=torch.Generator().manual_seed(2))
        try:
            return observed, method(image=observed, **inputs, **options, **_search_options(pipe, task, labels)).images
        except GenzooError as exc:
            first_error = first_error or exc
    raise AssertionError(f"{task.name} accepted none of its option values: {first_error}")


def _search_options(pipe: GenPipeline, task: TaskRegistration, labels: Any) -> dict[str, Any]:
    """Short-search settings for the table's inversion-based function; a family's own implementation (a one-pass
    image-to-image model) gets only the arguments its signature names."""
    return task.call_options(pipe, class_labels=labels, num_steps=5, num_restarts=1, output_type="pt")
