"""`GenPipeline`: sample images from any genzoo generator, save it, and load it back by folder or Hub repo id."""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils import make_image_grid

from .errors import GenzooError, UnsafePipelineError
from .modeling import Generator

__all__ = ["GenPipeline", "resolve_pipeline_folder"]

# What a genzoo pipeline folder holds; nothing else is downloaded (in particular no Python code).
PIPELINE_FILE_PATTERNS = ["model_index.json", "*/config.json", "*/*.safetensors", "*.md", "*.yaml", "*.png"]


class GenPipeline(DiffusionPipeline):
    r"""Pipeline that turns latents (and optional class labels) into images with a genzoo `Generator`.

    Args:
        model (`Generator`): the trained generator. The component is named `model`, because `generator` is the
            `torch.Generator` argument everywhere in diffusers.
    """

    model: Generator
    model_cpu_offload_seq = "model"

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
        if output_type not in ("pil", "np", "pt"):
            raise ValueError(f"`output_type` must be 'pil', 'np' or 'pt', got {output_type!r}.")

    def prepare_latents(
        self,
        batch_size: int,
        generator: torch.Generator | list[torch.Generator] | None,
        latents: torch.Tensor | None,
    ) -> torch.Tensor:
        if latents is None:
            return self.model.sample_latents(batch_size, generator=generator, device=self._execution_device)
        return latents.to(device=self._execution_device, dtype=self.model.dtype)

    def prepare_class_labels(
        self, class_labels: int | list[int] | torch.Tensor | None, batch_size: int
    ) -> torch.Tensor | None:
        """Class labels as a `(batch,)` long tensor: spread evenly over the classes when omitted, a single label
        repeated, or the given list. Unconditional models take none."""
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
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if len(bad):
            raise ValueError(f"Class label {int(bad[0])} is out of range: valid labels are 0 to {num_classes - 1}.")
        return labels.to(self._execution_device)

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
    ) -> ImagePipelineOutput | tuple:
        r"""Generate images.

        Args:
            batch_size (`int`, defaults to 1): how many images; ignored when `latents` or a list of
                `class_labels` give the count.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): makes sampling deterministic.
            latents (`torch.Tensor`, *optional*): latents to decode instead of drawing new ones.
            class_labels (`int`, `list[int]` or `torch.Tensor`, *optional*): classes for a conditional model;
                spread evenly over the classes when omitted.
            output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"` (floats in [0, 1], NHWC) or `"pt"` (floats
                in [0, 1], NCHW).
            return_dict (`bool`, defaults to `True`): return an `ImagePipelineOutput` rather than a tuple.

        Returns:
            `ImagePipelineOutput` (or a one-element tuple) holding the images.

        Examples:
            ```py
            >>> import torch
            >>> from genzoo import GenPipeline
            >>> pipe = GenPipeline.from_pretrained("runs/dcgan-mnist")
            >>> images = pipe(batch_size=16, generator=torch.Generator().manual_seed(0)).images
            ```
        """
        if latents is not None:
            batch_size = latents.shape[0]
        elif class_labels is not None and not isinstance(class_labels, int):
            batch_size = len(torch.as_tensor(class_labels).flatten())

        # 1. Check inputs
        self.check_inputs(batch_size, latents, output_type)

        # 2. Prepare latents and class labels
        latents = self.prepare_latents(batch_size, generator, latents)
        labels = self.prepare_class_labels(class_labels, batch_size)
        if labels is not None and len(labels) != batch_size:
            raise ValueError(f"Got {len(labels)} class labels for {batch_size} latents.")

        # 3. Generate images in [-1, 1]
        images = self.model(latents, labels) if labels is not None else self.model(latents)

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
    ) -> ImagePipelineOutput | tuple:
        r"""Images along the spherical path between two latents (slerp suits Gaussian latents).

        Args:
            start, end (`torch.Tensor`, *optional*): latents of shape `latent_shape` (no batch dimension); drawn
                from `generator` when omitted, `start` first.
            steps (`int`, defaults to 8): images on the path, both ends included.
            generator (`torch.Generator`, *optional*): source of the missing end points (and class).
            class_labels (`int`, *optional*): the class of every image, for a conditional model; drawn from
                `generator` when omitted, so the whole path shows one class.
            output_type, return_dict: as in `__call__`.

        Returns:
            `ImagePipelineOutput` (or a one-element tuple) with `steps` images, from `start` to `end`.

        Examples:
            ```py
            >>> pipe = GenPipeline.from_pretrained("runs/dcgan-mnist")
            >>> frames = pipe.interpolate(steps=16, generator=torch.Generator().manual_seed(0)).images
            ```
        """
        latents, labels = self._interpolation_inputs(start, end, steps, generator, class_labels)
        return self(latents=latents, class_labels=labels, output_type=output_type, return_dict=return_dict)

    @torch.no_grad()
    def interpolation_grid(
        self,
        rows: int = 4,
        steps: int = 8,
        generator: torch.Generator | None = None,
        class_labels: int | list[int] | None = None,
    ) -> PIL.Image.Image:
        r"""One image with an interpolation per row: each row walks the slerp path between two random latents.

        Row `r` is what `interpolate(steps=steps, ...)` returns for the `r`-th pair of end points drawn from
        `generator`, so a one-row grid equals `interpolate` with the same generator.

        Args:
            rows (`int`, defaults to 4): interpolations, one per row.
            steps (`int`, defaults to 8): images per row, both ends included.
            generator (`torch.Generator`, *optional*): makes the grid deterministic.
            class_labels (`int` or `list[int]`, *optional*): for a conditional model, one class for every row or
                one per row; when omitted the rows are spread evenly over the classes.

        Returns:
            `PIL.Image.Image`: `rows` × `steps` images.
        """
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
        inputs = [self._interpolation_inputs(None, None, steps, generator, label) for label in row_labels]
        latents = torch.cat([row_latents for row_latents, _ in inputs])
        labels = torch.cat([path_labels for _, path_labels in inputs]) if self.model.is_conditional else None
        images = self(latents=latents, class_labels=labels, output_type="pil").images
        return make_image_grid(images, rows, steps)

    def _interpolation_inputs(
        self,
        start: torch.Tensor | None,
        end: torch.Tensor | None,
        steps: int,
        generator: torch.Generator | None,
        class_label: int | None,
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
            start = self.model.sample_latents(1, generator=generator, device="cpu")[0]
        if end is None:
            end = self.model.sample_latents(1, generator=generator, device="cpu")[0]
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

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> "GenPipeline":
        r"""Load a saved pipeline from a local folder or a Hugging Face Hub repo id.

        The returned object is the pipeline class registered for the folder's `_class_name` (a CGAN folder loads as
        the CGAN pipeline), whichever genzoo pipeline class this is called on. Before anything is imported, every
        `[module, class]` in `model_index.json` must belong to a registration of an installed plugin.

        Args:
            pretrained_model_name_or_path (`str` or `os.PathLike`): a folder written by `save_pretrained`, or a repo
                id such as `"org/dcgan-cifar"`.
            revision, cache_dir, token, local_files_only, force_download: Hub download options, passed to
                `huggingface_hub.snapshot_download` (set `HF_HUB_OFFLINE=1` to resolve from the cache only).
            kwargs: other diffusers loading options such as `torch_dtype`.
        """
        for forbidden in ("custom_pipeline", "trust_remote_code", "use_safetensors"):
            if kwargs.pop(forbidden, None):
                raise GenzooError(
                    f"GenPipeline.from_pretrained does not accept {forbidden}=: it loads no remote code."
                )
        download_options = {
            key: kwargs.pop(key)
            for key in ("revision", "cache_dir", "token", "local_files_only", "force_download")
            if key in kwargs
        }
        folder = resolve_pipeline_folder(pretrained_model_name_or_path, **download_options)
        pipeline_class = _checked_pipeline_class(folder)
        return DiffusionPipeline.from_pretrained.__func__(
            pipeline_class, str(folder), use_safetensors=True, trust_remote_code=False, **kwargs
        )


def resolve_pipeline_folder(
    name_or_path: str | os.PathLike,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
) -> Path:
    """A local folder as is; a Hub repo id downloaded (or found in the cache) with `snapshot_download`.

    diffusers' own download rejects components from libraries other than diffusers and transformers, so genzoo
    resolves repo ids itself and fetches only the files a pipeline needs, never Python code.
    """
    path = Path(name_or_path)
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.exists() or name.count("/") != 1 or name.startswith((".", "/")):
        raise GenzooError(f"{name!r} is neither a pipeline folder nor a Hub repo id like 'org/name'.")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(
            snapshot_download(
                name,
                revision=revision,
                cache_dir=cache_dir,
                token=token,
                local_files_only=local_files_only,
                force_download=force_download,
                allow_patterns=PIPELINE_FILE_PATTERNS,
            )
        )
    except RepositoryNotFoundError as exc:
        raise GenzooError(f"Hub repo {name!r} does not exist or is private (pass token= for private repos).") from exc
    except LocalEntryNotFoundError as exc:
        raise GenzooError(
            f"Could not download {name!r} and it is not in the Hugging Face cache. Check the network, or download it "
            "once and load it with HF_HUB_OFFLINE=1."
        ) from exc
    except HfHubHTTPError as exc:
        raise GenzooError(f"Could not download {name!r} from the Hub: {exc}") from exc


def _checked_pipeline_class(folder: Path) -> type[GenPipeline]:
    """Read `model_index.json` and return the registered pipeline class for it, refusing anything unregistered.

    This runs before any module the folder names is imported: a malicious repo could name any module.
    """
    from .registry import models

    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise GenzooError(f"{folder} is not a genzoo pipeline: it has no model_index.json.")
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as exc:
        raise GenzooError(f"{index_path} is not valid JSON: {exc}") from exc
    code_files = sorted(str(p.relative_to(folder)) for p in [*folder.glob("*.py"), *folder.glob("*/*.py")])
    if code_files:
        raise UnsafePipelineError(
            f"{folder} contains Python files ({', '.join(code_files)}); genzoo pipelines hold no code, so it "
            "refuses to load them."
        )

    registrations = list(models())
    generator_classes = {(r.generator_class.__module__, r.generator_class.__name__): r for r in registrations}
    components = {key: value for key, value in index.items() if not key.startswith("_")}
    if not components:
        raise GenzooError(f"{index_path} names no components.")
    matched = []
    for component, value in components.items():
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise GenzooError(f"{index_path}: component {component!r} must be [module, class], got {value!r}.")
        module, class_name = value
        registration = generator_classes.get((module, class_name))
        if registration is None:
            top_level = module.split(".")[0]
            raise UnsafePipelineError(
                f"{index_path} names {module}.{class_name} for component {component!r}, which no installed genzoo "
                f"plugin registered; install the plugin that provides module {top_level!r} (see `genzoo plugins`)."
            )
        if not (folder / component).is_dir():
            raise GenzooError(f"{folder} is missing the component folder {component!r} named in model_index.json.")
        matched.append(registration)

    class_name = index.get("_class_name")
    for registration in matched + registrations:
        if registration.pipeline_class.__name__ == class_name:
            return registration.pipeline_class
    if class_name == GenPipeline.__name__:
        return GenPipeline
    raise UnsafePipelineError(
        f"{index_path} asks for pipeline class {class_name!r}, which no installed genzoo plugin registered."
    )
