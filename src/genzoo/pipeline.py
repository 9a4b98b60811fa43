"""`GenPipeline`: sample images from any genzoo generator, save it, and load it back by folder or Hub repo id."""

import os
import types
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.image_processor import VaeImageProcessor

from .errors import FlatImagesWarning, GenzooError, NonFiniteWeightsWarning
from .folder import read_pipeline_folder
from .images import grid_shape, image_grid
from .modeling import Generator

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, ModelCard

    from .registry import ModelRegistration

# grid_shape lives in genzoo.images; re-exported for older imports.
__all__ = ["ClassConditionalMixin", "GenPipeline", "grid_shape", "pipeline_class_of"]

OUTPUT_TYPES = ("pil", "np", "pt", "latent")
# Options of iterative (diffusion) pipelines that diffusers users pass by habit; a GAN or VAE has no steps.
STEP_OPTIONS = (
    "num_inference_steps", "timesteps", "sigmas", "callback", "callback_steps", "callback_on_step_end",
    "callback_on_step_end_tensor_inputs",
)  # fmt: skip


class GenPipeline(DiffusionPipeline):
    r"""Pipeline that turns latents (and optional class labels) into images with a genzoo `Generator`.

    Sampling (`__call__`) and interpolation are its own; what it can do beyond that (`invert`, `restore`, `inpaint`,
    `super_resolve`, `denoise`, `find_directions`, `traverse`, `class_interpolation`, and plugins' tasks) comes from
    the task table (`genzoo.tasks`): `pipe.inpaint(...)` calls the table's function with the pipeline first, and
    `supported_tasks()` says which apply. A subclass that defines one of these methods replaces it for its family.

    Args:
        model (`Generator`): the trained generator. The component is named `model`, because `generator` is the
            `torch.Generator` argument everywhere in diffusers.
    """

    model: Generator
    model_cpu_offload_seq = "model"
    #: Extra Hub tags for this pipeline's model cards (a VAE pipeline might declare `("vae",)`). genzoo adds
    #: `genzoo`, the model family, the objective, `gan` for families with a discriminator and the conditioning.
    card_tags: tuple[str, ...] = ()

    def __init__(self, model: Generator) -> None:
        super().__init__()
        self.register_modules(model=model)
        self.image_processor = VaeImageProcessor(do_resize=False, do_normalize=True)

    def check_inputs(self, batch_size: int, latents: torch.Tensor | None, output_type: str) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        if latents is not None and tuple(latents.shape[1:]) != tuple(self.model.latent_shape):
            raise ValueError(
                f"`latents` must have shape (batch, {', '.join(map(str, self.model.latent_shape))}), "
                f"got {tuple(latents.shape)}."
            )
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be 'pil', 'np', 'pt' or 'latent', got {output_type!r}.")

    def prepare_latents(
        self,
        batch_size: int,
        generator: torch.Generator | list[torch.Generator] | None,
        latents: torch.Tensor | None,
        truncation: float | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        r"""The latents to decode: `latents` moved to the model, or `batch_size` drawn from the prior.

        Every keyword argument of `__call__`, `interpolate` and `interpolation_grid` that they do not take
        themselves arrives here, so a subclass adds a sampling option by overriding this method alone (take the new
        argument, pass the rest to `super().prepare_latents`); see "Writing a plugin" in the docs.

        Args:
            batch_size (`int`): how many latents to draw when `latents` is `None`.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): source of randomness.
            latents (`torch.Tensor`, *optional*): given latents, used as they are.
            truncation (`float`, *optional*): the truncation trick, see `__call__`.
            kwargs: options no pipeline in the class hierarchy took; any is an error.

        Returns:
            `torch.Tensor`: latents of shape `(batch_size, *latent_shape)` on the execution device.
        """
        steps = [name for name in kwargs if name in STEP_OPTIONS]
        if steps:
            raise ValueError(
                f"{type(self).__name__} got `{steps[0]}`, but a GAN or VAE samples in one step (one pass of its "
                "generator), so there are no inference steps to set or call back on; drop it."
            )
        if kwargs:
            raise ValueError(
                f"{type(self).__name__} got unexpected argument(s) {', '.join(map(repr, kwargs))}; "
                f"it takes no sampling option of that name."
            )
        if latents is None:
            return self.model.sample_latents(
                batch_size, generator=generator, device=self._execution_device, truncation=truncation
            )
        if truncation is not None:
            raise ValueError(
                "`truncation` applies to latents drawn from the prior; drop it or truncate the given `latents` "
                "yourself."
            )
        return latents.to(device=self._execution_device, dtype=self.model.dtype)

    def prepare_class_labels(
        self, class_labels: int | list[int] | torch.Tensor | None, batch_size: int
    ) -> torch.Tensor | None:
        """Class labels as a `(batch,)` long tensor: spread evenly over the classes when omitted, a single label
        repeated, or the given list, repeated as a whole when `batch_size` is a multiple of its length
        (`[0, 1]` for 4 images is `[0, 1, 0, 1]`); any other count is refused. Unconditional models take none."""
        num_classes = self.model.num_classes
        if num_classes == 0:
            if class_labels is not None:
                raise ValueError(f"{type(self.model).__name__} is unconditional and takes no `class_labels`.")
            return None
        if class_labels is None:
            labels = torch.arange(batch_size) * num_classes // batch_size
        elif isinstance(class_labels, int):
            labels = torch.full((batch_size,), class_labels)
        else:
            labels = torch.as_tensor(class_labels).flatten().long().cpu()
            if len(labels) != batch_size:
                if not len(labels) or batch_size % len(labels):
                    raise ValueError(
                        f"Got {len(labels)} class labels for {batch_size} images; pass one label per image, or a "
                        f"batch_size that is a multiple of {len(labels)} (the labels then repeat)."
                    )
                labels = labels.repeat(batch_size // len(labels))
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if len(bad):
            raise ValueError(f"Class label {int(bad[0])} is out of range: valid labels are 0 to {num_classes - 1}.")
        return labels.to(self._execution_device)

    def class_indices(self, class_labels: Any) -> Any:
        """Class labels as the sampling methods take them (`__call__`, `interpolate`, `interpolation_grid`) mapped to
        indices. The base pipeline takes indices only; a pipeline that knows class names overrides this one hook."""
        return class_labels

    def postprocess(self, images: torch.Tensor, output_type: str) -> list[PIL.Image.Image] | np.ndarray | torch.Tensor:
        return self.image_processor.postprocess(images.float(), output_type=output_type)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        class_labels: int | list[int] | torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        truncation: float | None = None,
        **kwargs: Any,
    ) -> ImagePipelineOutput | tuple:
        r"""Generate images.

        Args:
            batch_size (`int`, defaults to 1): how many images; ignored when `latents` give the count. A list of
                `n` class labels gives `n` images when `batch_size` is left at 1; with a `batch_size` that is a
                multiple of `n` the labels repeat (`class_labels=[0, 1], batch_size=4` draws classes 0, 1, 0, 1),
                and any other `batch_size` is refused.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): makes sampling deterministic.
            latents (`torch.Tensor`, *optional*): latents to decode instead of drawing new ones.
            class_labels (`int`, `list[int]` or `torch.Tensor`, *optional*): classes for a conditional model;
                spread evenly over the classes when omitted (pipelines with class names take names too).
            output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"` (floats in [0, 1], NHWC), `"pt"` (floats
                in [0, 1], NCHW) or `"latent"` (the latents that were drawn or given, as a tensor of shape
                `(batch, *latent_shape)`, without running the generator), as in diffusers.
            return_dict (`bool`, defaults to `True`): return an `ImagePipelineOutput` rather than a tuple
                `(images,)`.
            truncation (`float`, *optional*): the truncation trick of BigGAN (Brock et al., 2019): every latent
                component whose absolute value exceeds `truncation` is redrawn from the prior N(0, 1), until all lie
                in [-truncation, truncation], so each component follows the standard normal truncated to that
                interval. Smaller values trade variety for fidelity; `None` (the default) samples the plain prior.
                It must be positive, applies only to drawn latents (not together with `latents`), and only to
                families with a Gaussian prior (`Generator.latent_prior == "gaussian"`; the DCGAN, CGAN and VAE).
            kwargs: further sampling options that a pipeline subclass takes in its `prepare_latents`. A GAN or VAE
                samples in one step, so the options of diffusion pipelines (`num_inference_steps`,
                `callback_on_step_end`, ...) are refused with an error saying so.

        Returns:
            `ImagePipelineOutput` (or a one-element tuple) holding the images (the latents for `"latent"`).

        Examples:
            ```py
            >>> import torch
            >>> from genzoo import GenPipeline
            >>> pipe = GenPipeline.from_pretrained("runs/dcgan-mnist")
            >>> images = pipe(batch_size=16, generator=torch.Generator().manual_seed(0)).images
            ```
        """
        class_labels = self.class_indices(class_labels)
        if latents is not None:
            batch_size = latents.shape[0]
        elif class_labels is not None and not isinstance(class_labels, int) and batch_size == 1:
            batch_size = len(torch.as_tensor(class_labels).flatten())  # the labels give the count

        # 1. Check inputs
        self.check_inputs(batch_size, latents, output_type)

        # 2. Prepare latents and class labels
        if truncation is not None:  # passed only when set, so an override with the older signature keeps working
            kwargs["truncation"] = truncation
        latents = self.prepare_latents(batch_size, generator, latents, **kwargs)
        labels = self.prepare_class_labels(class_labels, batch_size)
        if labels is not None and len(labels) != batch_size:
            raise ValueError(f"Got {len(labels)} class labels for {batch_size} latents.")

        if output_type == "latent":  # as in diffusers: the latents, without decoding them
            images = latents
        else:
            # 3. Generate images in [-1, 1]
            images = self.model(latents, labels) if labels is not None else self.model(latents)
            _warn_if_flat(self, images)
            # 4. Post-process to the requested output type
            images = self.postprocess(images, output_type)
        self.maybe_free_model_hooks()

        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)

    @torch.no_grad()
    def interpolate(
        self,
        start: torch.Tensor | None = None,
        end: torch.Tensor | None = None,
        steps: int = 8,
        generator: torch.Generator | None = None,
        class_labels: int | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        **kwargs: Any,
    ) -> ImagePipelineOutput | tuple:
        r"""Images along the spherical path between two latents (slerp suits Gaussian latents).

        Args:
            start, end (`torch.Tensor`, *optional*): latents of shape `latent_shape` (no batch dimension); drawn
                from `generator` when omitted, `start` first. Pipelines that encode images (the VAE's) take images
                too, through `prepare_end_point`.
            steps (`int`, defaults to 8): images on the path, both ends included.
            generator (`torch.Generator`, *optional*): source of the missing end points (and class).
            class_labels (`int`, *optional*): the class of every image, for a conditional model; drawn from
                `generator` when omitted, so the whole path shows one class.
            output_type, return_dict: as in `__call__`.
            kwargs: sampling options for the drawn end points, as in `__call__` (such as `truncation`).

        Returns:
            `ImagePipelineOutput` (or a one-element tuple) with `steps` images, from `start` to `end`.

        Examples:
            ```py
            >>> pipe = GenPipeline.from_pretrained("runs/dcgan-mnist")
            >>> frames = pipe.interpolate(steps=16, generator=torch.Generator().manual_seed(0)).images
            ```
        """
        class_labels = self.class_indices(class_labels)
        start, end = self.prepare_end_point(start, class_labels), self.prepare_end_point(end, class_labels)
        latents, labels = self._interpolation_inputs(start, end, steps, generator, class_labels, kwargs)
        return self(latents=latents, class_labels=labels, output_type=output_type, return_dict=return_dict)

    @torch.no_grad()
    def interpolation_grid(
        self,
        rows: int = 4,
        steps: int = 8,
        generator: torch.Generator | None = None,
        class_labels: int | list[int] | None = None,
        **kwargs: Any,
    ) -> PIL.Image.Image:
        r"""One image with an interpolation per row: each row walks the slerp path between two random latents.

        Row `r` is what `interpolate(steps=steps, ...)` returns for the `r`-th pair of end points drawn from
        `generator`, so a one-row grid equals `interpolate` with the same generator (and, for a conditional model,
        the same class label).

        Args:
            rows (`int`, defaults to 4): interpolations, one per row.
            steps (`int`, defaults to 8): images per row, both ends included.
            generator (`torch.Generator`, *optional*): makes the grid deterministic.
            class_labels (`int` or `list[int]`, *optional*): for a conditional model, one class for every row or
                one per row; when omitted the rows are spread evenly over the classes.
            kwargs: sampling options for the drawn end points, as in `__call__` (such as `truncation`).

        Returns:
            `PIL.Image.Image`: `rows` × `steps` images.
        """
        class_labels = self.class_indices(class_labels)
        if not isinstance(rows, int) or rows < 1:
            raise ValueError(f"`rows` must be a positive integer, got {rows!r}.")
        if self.model.is_conditional:
            if class_labels is None or isinstance(class_labels, int):
                row_labels = self.prepare_class_labels(class_labels, rows).tolist()
            else:
                row_labels = [int(label) for label in class_labels]
                if len(row_labels) != rows:
                    raise ValueError(f"Got {len(row_labels)} class labels for {rows} rows; pass one per row.")
        else:
            self.prepare_class_labels(class_labels, rows)  # refuses labels for an unconditional model
            row_labels = [None] * rows
        inputs = [self._interpolation_inputs(None, None, steps, generator, label, kwargs) for label in row_labels]
        latents = torch.cat([row_latents for row_latents, _ in inputs])
        labels = torch.cat([path_labels for _, path_labels in inputs]) if self.model.is_conditional else None
        images = self(latents=latents, class_labels=labels, output_type="pil").images
        return image_grid(images, rows=rows)

    def _interpolation_inputs(
        self,
        start: torch.Tensor | None,
        end: torch.Tensor | None,
        steps: int,
        generator: torch.Generator | None,
        class_label: int | None,
        options: dict[str, Any],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents along the slerp path (and the class repeated along it, for a conditional model)."""
        if not isinstance(steps, int) or steps < 2:
            raise ValueError(f"`steps` must be an integer of at least 2, got {steps!r}.")
        shape = tuple(self.model.latent_shape)
        for name, latent in (("start", start), ("end", end)):
            if latent is not None and tuple(latent.shape) != shape:
                raise ValueError(
                    f"`{name}` must be one latent of shape {shape} (no batch dimension), got {tuple(latent.shape)}."
                )
        # 1. End points
        if start is None:
            start = self.prepare_latents(1, generator, None, **options)[0]
        if end is None:
            end = self.prepare_latents(1, generator, None, **options)[0]
        # 2. One class for the whole path
        labels = None
        if self.model.is_conditional:
            if class_label is None:
                device = generator.device if generator is not None else torch.device("cpu")
                class_label = int(torch.randint(self.model.num_classes, (1,), generator=generator, device=device))
            labels = self.prepare_class_labels(int(class_label), steps)
        elif class_label is not None:
            self.prepare_class_labels(class_label, steps)  # raises: an unconditional model takes no labels
        # 3. The path between them
        return self.model.interpolate_latents(start.float().cpu(), end.float().cpu(), steps), labels

    def prepare_end_point(self, value: Any, class_label: Any = None) -> torch.Tensor | None:
        """An interpolation end point as a latent of shape `latent_shape` (`None` when it is to be drawn). The base
        pipeline takes latents only; a pipeline with an encoder overrides this to take images (the VAE's does),
        encoded with the path's `class_label` when its encoder is conditional (the CVAE's)."""
        return value

    def real_image_grids(
        self, images: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> dict[str, PIL.Image.Image]:
        r"""Figures that a model family draws from real images, which the trainer saves beside `samples.png` at the
        end of training (the VAE pipeline returns its reconstructions). None by default.

        Args:
            images (`torch.Tensor`): real images in [-1, 1] of shape `(batch, channels, size, size)`.
            class_labels (`torch.Tensor`, *optional*): their classes, when the training data has labels.

        Returns:
            `dict[str, PIL.Image.Image]`: grids by file stem, e.g. `{"reconstructions": grid}`.
        """
        return {}

    # --- tasks: what the pipeline can do beyond sampling, from the task table (genzoo.tasks) ----------------------
    def supported_tasks(self) -> frozenset[str]:
        r"""What this pipeline can do, for user interfaces that show only what works (the demo builds its tabs from
        it): the sampling features `"sample"`, `"interpolate"`, `"class_labels"` (a conditional model),
        `"truncation"` (a Gaussian prior) and `"reconstruct"` (a pipeline with that method), and the name of every
        task of the table (`genzoo.registry.tasks()`) that applies to it.

        Returns:
            `frozenset[str]`: the names of the supported features and tasks.
        """
        from .registry import tasks

        features = {"sample", "interpolate"}
        if self.model.latent_prior == "gaussian":
            features.add("truncation")
        if self.model.is_conditional:
            features.add("class_labels")
        if callable(getattr(self, "reconstruct", None)):
            features.add("reconstruct")
        return frozenset(features | {task.name for task in tasks() if task.applies(self)})

    def __getattr__(self, name: str) -> Any:
        """A task method from the table (`pipe.inpaint`, `pipe.find_directions`, a plugin's task): its function bound
        to this pipeline, with the function's signature and docstring. Only names the class itself lacks get here,
        so a pipeline class that defines a task's method overrides the table's function."""
        try:
            return super().__getattr__(name)  # diffusers' deprecated access to config attributes
        except AttributeError:
            if name.startswith("_"):
                raise
        from .registry import task_for_method

        task = task_for_method(name)
        if task is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return types.MethodType(task.function, self)

    def __dir__(self) -> list[str]:
        from .registry import tasks

        return sorted({*super().__dir__(), *(task.method for task in tasks())})

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> "GenPipeline":
        r"""Load a saved pipeline from a local folder or a Hugging Face Hub repo id.

        The returned object is the pipeline class registered for the folder's `_class_name` (a CGAN folder loads as
        the CGAN pipeline), whichever genzoo pipeline class this is called on. Before anything is imported, every
        `[module, class]` in `model_index.json` must belong to a registration of an installed plugin; folders with
        Python files or pickle weights are refused, and weights must be safetensors whose tensors match the
        component's `config.json`.

        Args:
            pretrained_model_name_or_path (`str` or `os.PathLike`): a folder written by `save_pretrained`, or a repo
                id such as `"org/dcgan-cifar"`.
            revision, cache_dir, token, local_files_only, force_download: Hub download options, passed to
                `huggingface_hub.snapshot_download` (set `HF_HUB_OFFLINE=1` to resolve from the cache only).
            kwargs: other diffusers loading options, such as `dtype=torch.bfloat16` (the weights are cast to it on
                loading, as in diffusers; `torch_dtype` is its older name) or `variant="fp16"`.

        A pipeline whose weights hold NaN or Inf values (saved from a run that diverged) loads, with a one-line
        `genzoo.errors.NonFiniteWeightsWarning`: it would only draw blank images.

        Raises:
            `GenzooError`: a one-line reason when the folder or repo cannot be loaded; `UnsafePipelineError` (a
                subclass) when it names unregistered code or holds Python or pickle files.
        """
        for forbidden in ("custom_pipeline", "trust_remote_code"):
            if kwargs.pop(forbidden, None):
                raise GenzooError(
                    f"GenPipeline.from_pretrained does not accept {forbidden}=: it loads no remote code."
                )
        if kwargs.pop("use_safetensors", None) is False:
            raise GenzooError(
                "GenPipeline.from_pretrained loads safetensors weights only; drop use_safetensors=False."
            )
        download_options = {
            key: kwargs.pop(key)
            for key in ("revision", "cache_dir", "token", "local_files_only", "force_download")
            if key in kwargs
        }
        folder = Path(pretrained_model_name_or_path)
        if not folder.is_dir():
            from . import hub  # lazy: only a repo id needs the Hub client; a local folder loads without it

            folder = hub.download_pipeline(str(pretrained_model_name_or_path), **download_options)
        checked = read_pipeline_folder(folder)
        checked.check_weights(kwargs.get("variant"))
        pipeline_class = checked.pipeline_class or GenPipeline
        try:
            pipe = DiffusionPipeline.from_pretrained.__func__(
                pipeline_class, str(folder), use_safetensors=True, trust_remote_code=False, **kwargs
            )
        except (OSError, ValueError) as exc:  # diffusers reports unreadable files as OSError with a multi-line message
            message = " ".join(str(exc).split())
            if isinstance(exc, ValueError):
                if "does not seem to have any of the loading methods" not in message:
                    raise
                # diffusers looks `ModelMixin` up on the component's module, and lists every class it knows if absent
                message = (
                    "a component's modeling module has no `ModelMixin` for diffusers to recognise it by; subclass "
                    "genzoo.Generator (which provides it) or `from diffusers import ModelMixin` in that module"
                )
            raise GenzooError(f"Could not load the pipeline in {folder}: {message}") from exc
        _warn_if_not_finite(pipe, pretrained_model_name_or_path)
        return pipe

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        safe_serialization: bool = True,
        variant: str | None = None,
        max_shard_size: int | str | None = None,
        push_to_hub: bool = False,
        model_card: bool = True,
        sample_grid: PIL.Image.Image | None = None,
        **kwargs: Any,
    ) -> None:
        r"""Save the pipeline to a folder: `model_index.json`, a folder per component (`config.json` and
        safetensors weights), a sample grid `samples.png` and a model card `README.md`.

        Args:
            save_directory (`str` or `os.PathLike`): the folder (created if missing).
            safe_serialization (`bool`, defaults to `True`): must stay `True`: genzoo only loads safetensors.
            variant (`str`, *optional*): weights variant, saved as `diffusion_pytorch_model.<variant>.safetensors`.
            max_shard_size (`int` or `str`, *optional*): shard weights larger than this (e.g. `"5GB"`).
            push_to_hub (`bool`, defaults to `False`): also publish the folder with `genzoo.hub.push_folder`;
                `repo_id` (defaults to the folder name), `private`, `token`, `commit_message`, `revision` and
                `create_pr` in `kwargs` go to it.
            model_card (`bool`, defaults to `True`): write `samples.png` and the model card `README.md`.
            sample_grid (`PIL.Image.Image`, *optional*): the grid the card shows; rendered from the pipeline with a
                fixed seed when omitted.
        """
        if not safe_serialization:
            raise GenzooError("genzoo pipelines are saved as safetensors only; drop safe_serialization=False.")
        push_options = {
            key: kwargs.pop(key)
            for key in ("repo_id", "private", "token", "commit_message", "revision", "create_pr")
            if key in kwargs
        }
        super().save_pretrained(
            save_directory, safe_serialization=True, variant=variant, max_shard_size=max_shard_size, **kwargs
        )
        folder = Path(save_directory)
        from . import hub  # lazy: model cards and publishing are not needed to load or sample

        if model_card:
            hub.finish_folder(folder, self, sample_grid=sample_grid)
        if push_to_hub:
            repo_id = push_options.pop("repo_id", None) or folder.resolve().name
            hub.push_folder(folder, repo_id, **push_options)

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        create_pr: bool = False,
        revision: str | None = None,
        variant: str | None = None,
        model_card: "ModelCard | None" = None,
    ) -> "CommitInfo":
        r"""Publish the pipeline to the Hugging Face Hub as `repo_id`, with a model card and a sample grid.

        The pipeline is saved to a temporary folder and published with `genzoo.hub.push_pipeline`. When it was loaded
        from a folder, that folder's `run_config.yaml` and `eval_results.json` travel with it, so the card keeps the
        training details and metrics (re-evaluate and push the folder instead if you changed the weights since).

        Args:
            repo_id (`str`): `"org/name"` or `"name"` (in your namespace); created if missing.
            commit_message (`str`, *optional*): defaults to `"Upload <pipeline class> with genzoo"`.
            private (`bool`, *optional*): visibility of a repo this creates (an existing repo keeps its own).
            token (`str` or `bool`, *optional*): Hub token; defaults to the saved login or `HF_TOKEN`.
            create_pr (`bool`, defaults to `False`): open a pull request instead of committing directly.
            revision (`str`, *optional*): branch to commit to; created from the default branch if missing.
            variant (`str`, *optional*): weights variant to save.
            model_card (`huggingface_hub.ModelCard`, *optional*): a card to upload instead of the generated one.

        Returns:
            `huggingface_hub.CommitInfo`: the commit, with its `commit_url` (and `pr_url` for a pull request).

        Examples:
            ```py
            >>> from genzoo import GenPipeline
            >>> pipe = GenPipeline.from_pretrained("runs/dcgan-mnist")
            >>> pipe.push_to_hub("my-org/dcgan-mnist", private=True)
            ```
        """
        from . import hub  # lazy: model cards and publishing are not needed to load or sample

        return hub.push_pipeline(
            self, repo_id, variant=variant, commit_message=commit_message, private=private, token=token,
            create_pr=create_pr, revision=revision, model_card=model_card,
        )  # fmt: skip


class ClassConditionalMixin:
    r"""Class names and per-class grids for the pipeline of a class-conditional generator (the CGAN's and the
    CVAE's): classes are taken by name wherever class labels are (every method that calls `class_indices`) when the
    generator's config stores `class_names`, and `class_grid()` draws one column per class.

    Put it before the pipeline base class: `class MyPipeline(ClassConditionalMixin, GenPipeline)`.
    """

    model: Generator

    @property
    def class_names(self) -> list[str]:
        """Name of each class: the stored names, or the class indices as strings."""
        names = getattr(self.model.config, "class_names", None)
        return list(names) if names else [str(i) for i in range(self.model.num_classes)]

    def class_index(self, label: int | str) -> int:
        """The class index for a label given as an index or as a class name."""
        if isinstance(label, str):
            names = self.class_names
            if label not in names:
                raise ValueError(f"Unknown class name {label!r}; valid names are {', '.join(names)}.")
            return names.index(label)
        return int(label)

    def class_indices(self, class_labels: Any) -> Any:
        """`class_labels` with every class name replaced by its index (ints, tensors and `None` pass through); the
        hook that `GenPipeline.__call__`, `interpolate` and `interpolation_grid` call first."""
        if isinstance(class_labels, str):
            return self.class_index(class_labels)
        if isinstance(class_labels, Sequence):
            return [self.class_index(label) for label in class_labels]
        return class_labels

    @torch.no_grad()
    def class_grid(
        self,
        images_per_class: int = 8,
        classes: Sequence[int | str] | None = None,
        generator: torch.Generator | None = None,
        same_latents: bool = False,
    ) -> PIL.Image.Image:
        r"""A grid with one column per class and `images_per_class` rows.

        Args:
            images_per_class (`int`, defaults to 8): rows of the grid.
            classes (`list`, *optional*): the classes (indices or names) of the columns; all classes by default.
            generator (`torch.Generator`, *optional*): makes the grid deterministic.
            same_latents (`bool`, defaults to `False`): use one latent per row for every class, so a row shows
                what the class alone changes (style stays, content changes).

        Returns:
            `PIL.Image.Image`: the grid.
        """
        if images_per_class < 1:
            raise ValueError(f"`images_per_class` must be at least 1, got {images_per_class}.")
        columns = self.class_indices(list(classes) if classes is not None else list(range(self.model.num_classes)))
        if not columns:
            raise ValueError("`classes` is empty.")
        labels = torch.tensor(columns).repeat(images_per_class)  # row-major: row r holds every class once
        latents: Any = None
        if same_latents:
            rows = self.model.sample_latents(images_per_class, generator=generator, device="cpu")
            latents = rows.repeat_interleave(len(columns), dim=0)
        images = self(
            batch_size=len(labels), generator=generator, latents=latents, class_labels=labels, output_type="pil"
        ).images
        return image_grid(images, rows=images_per_class)


#: Images whose every channel varies (standard deviation over the images and pixels) by less than this fraction of
#: their mean absolute value show one flat colour: the generator collapsed (its outputs saturated or its units died,
#: so every pixel is computed alike). Relative, so that an untrained model, whose outputs are tiny but vary, is not
#: mistaken for one; the trainer refuses to checkpoint such weights.
FLAT_IMAGE_SPREAD = 1e-4


def image_spread(images: torch.Tensor) -> torch.Tensor:
    """How much images (N, C, H, W), in [-1, 1], vary: the largest over channels of the standard deviation over images
    and pixels, divided by the mean absolute value. 0 for images of one flat colour, whatever the colour. A 0-dim
    tensor (no host sync)."""
    values = images.detach().float()
    spread = values.transpose(0, 1).flatten(1).std(dim=1).max()
    return spread / values.abs().mean().clamp_min(1e-30)


def _warn_if_flat(pipe: GenPipeline, images: torch.Tensor) -> None:
    """One warning (once per pipeline) when the generated images, in [-1, 1], have no variation at all: one host sync
    per call."""
    if getattr(pipe, "_warned_flat", False) or images.numel() < 2:
        return
    if float(image_spread(images)) < FLAT_IMAGE_SPREAD:
        pipe._warned_flat = True
        count = images.shape[0]
        what = f"All {count} images drawn are" if count > 1 else "The image drawn is"
        warnings.warn(
            f"{what} one flat colour: the model collapsed in training (for instance with too high a "
            "learning rate); retrain it with a lower objective_args.lr, or load an earlier checkpoint.",
            FlatImagesWarning,
            stacklevel=3,
        )


def _warn_if_not_finite(pipe: GenPipeline, source: Any) -> None:
    """One warning when a loaded component's parameters or buffers hold NaN or Inf values."""
    for name, component in pipe.components.items():
        if not isinstance(component, torch.nn.Module):
            continue
        for tensor_name, tensor in [*component.named_parameters(), *component.named_buffers()]:
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                warnings.warn(
                    f"The weights of {source} hold NaN or Inf values ({name}.{tensor_name} and maybe others): the run "
                    "that saved them diverged, so the images will be blank or noise; retrain with a lower learning "
                    "rate or load an earlier checkpoint.",
                    NonFiniteWeightsWarning,
                    stacklevel=3,
                )
                return


def pipeline_class_of(registration: "ModelRegistration") -> type[GenPipeline]:
    """The pipeline class a model family samples with: its registered `pipeline_class`, else `GenPipeline`."""
    return registration.pipeline_class or GenPipeline
