"""`GenPipeline`: sample images from any genzoo generator, save it, and load it back by folder or Hub repo id."""

import json
import math
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils import make_image_grid

from .errors import GenzooError, UnsafePipelineError
from .modeling import Generator

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, ModelCard

    from .registry import ModelRegistration

__all__ = ["GenPipeline", "grid_shape", "resolve_pipeline_folder"]

RUN_CONFIG = "run_config.yaml"  # the resolved training configuration, beside the pipeline
EVAL_RESULTS = "eval_results.json"  # metrics written by `genzoo evaluate` or the best in-training evaluation
SAMPLE_GRID = "samples.png"
# What a genzoo pipeline repo holds besides its components; nothing else is downloaded (in particular no Python
# code, no pickle files, no training checkpoints or intermediate grids).
PIPELINE_TOP_LEVEL_FILES = ("model_index.json", "README.md", RUN_CONFIG, EVAL_RESULTS, SAMPLE_GRID)
# Weight formats that unpickle, and so can run arbitrary code when loaded; genzoo refuses them.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"


class GenPipeline(DiffusionPipeline):
    r"""Pipeline that turns latents (and optional class labels) into images with a genzoo `Generator`.

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
    ) -> ImagePipelineOutput | tuple:
        r"""Generate images.

        Args:
            batch_size (`int`, defaults to 1): how many images; ignored when `latents` or a list of
                `class_labels` give the count.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): makes sampling deterministic.
            latents (`torch.Tensor`, *optional*): latents to decode instead of drawing new ones.
            class_labels (`int`, `list[int]` or `torch.Tensor`, *optional*): classes for a conditional model;
                spread evenly over the classes when omitted (pipelines with class names take names too).
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
        class_labels = self.class_indices(class_labels)
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
        latents, labels = self._interpolation_inputs(start, end, steps, generator, self.class_indices(class_labels))
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
        `generator`, so a one-row grid equals `interpolate` with the same generator (and, for a conditional model,
        the same class label).

        Args:
            rows (`int`, defaults to 4): interpolations, one per row.
            steps (`int`, defaults to 8): images per row, both ends included.
            generator (`torch.Generator`, *optional*): makes the grid deterministic.
            class_labels (`int` or `list[int]`, *optional*): for a conditional model, one class for every row or
                one per row; when omitted the rows are spread evenly over the classes.

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

    def real_image_grids(self, images: torch.Tensor) -> dict[str, PIL.Image.Image]:
        r"""Figures that a model family draws from real images, which the trainer saves beside `samples.png` at the
        end of training (the VAE pipeline returns its reconstructions). None by default.

        Args:
            images (`torch.Tensor`): real images in [-1, 1] of shape `(batch, channels, size, size)`.

        Returns:
            `dict[str, PIL.Image.Image]`: grids by file stem, e.g. `{"reconstructions": grid}`.
        """
        return {}

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
            kwargs: other diffusers loading options such as `dtype` or `variant`.

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
        folder = resolve_pipeline_folder(pretrained_model_name_or_path, **download_options)
        pipeline_class, registrations = _checked_pipeline_class(folder)
        for component, registration in registrations.items():
            check_component_weights(folder / component, registration.generator_class, kwargs.get("variant"))
        try:
            return DiffusionPipeline.from_pretrained.__func__(
                pipeline_class, str(folder), use_safetensors=True, trust_remote_code=False, **kwargs
            )
        except OSError as exc:  # diffusers reports unreadable files as OSError with a multi-line message
            raise GenzooError(f"Could not load the pipeline in {folder}: {' '.join(str(exc).split())}") from exc

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
        from . import hub

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
        if model_card:
            (sample_grid if sample_grid is not None else hub.render_sample_grid(self)).save(folder / SAMPLE_GRID)
            try:
                card = hub.build_model_card(folder)
            except UnsafePipelineError as exc:  # an experimental model no plugin registered yet: save it all the same
                warnings.warn(f"No model card written to {folder}: {exc}", UserWarning, stacklevel=2)
            else:
                card.save(folder / hub.MODEL_CARD)
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

        The pipeline is saved to a temporary folder and published with `genzoo.hub.push_folder`. When it was loaded
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
        from . import hub

        source = Path(self.name_or_path) if self.name_or_path else None
        with tempfile.TemporaryDirectory(prefix="genzoo-push-") as tmp:
            folder = Path(tmp)
            self.save_pretrained(folder, variant=variant)
            if source is not None and source.is_dir():
                for name in (RUN_CONFIG, EVAL_RESULTS):
                    if (source / name).is_file():
                        (folder / name).write_bytes((source / name).read_bytes())
            return hub.push_folder(
                folder,
                repo_id,
                commit_message=commit_message,
                private=private,
                token=token,
                create_pr=create_pr,
                revision=revision,
                model_card=model_card,
            )


def grid_shape(count: int, num_classes: int = 0) -> tuple[int, int]:
    """Rows and columns for a grid of `count` images: one column per class when `count` is a multiple of
    `num_classes`, else the most nearly square factorisation."""
    if num_classes and count % num_classes == 0:
        return count // num_classes, num_classes
    rows = max(r for r in range(1, math.isqrt(count) + 1) if count % r == 0)
    return rows, count // rows


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
    resolves repo ids itself and fetches only the files a pipeline needs, never Python code or pickle files.
    """
    path = Path(name_or_path)
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.exists() or name.count("/") != 1 or name.startswith((".", "/")):
        raise GenzooError(f"{name!r} is neither a pipeline folder nor a Hub repo id like 'org/name'.")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    options = {"cache_dir": cache_dir, "token": token, "local_files_only": local_files_only}
    try:
        # model_index.json first, to learn the components; then exactly their files, from the same commit.
        index_folder = Path(
            snapshot_download(
                name, revision=revision, allow_patterns=["model_index.json"], force_download=force_download, **options
            )
        )
        if not (index_folder / "model_index.json").is_file():
            raise GenzooError(f"Hub repo {name!r} is not a genzoo pipeline: it has no model_index.json.")
        components = [key for key in read_model_index(index_folder) if not key.startswith("_")]
        return Path(
            snapshot_download(
                name,
                revision=index_folder.name,  # the commit hash of the snapshot
                allow_patterns=pipeline_file_patterns(components),
                force_download=force_download,
                **options,
            )
        )
    except HFValidationError as exc:
        raise GenzooError(f"{name!r} is neither a pipeline folder nor a valid Hub repo id: {exc}") from exc
    except RevisionNotFoundError as exc:
        raise GenzooError(f"Hub repo {name!r} has no revision {revision!r}.") from exc
    except RepositoryNotFoundError as exc:
        raise GenzooError(
            f"There is no local folder {name!r}, and no Hub repo of that name (or it is private: pass token=)."
        ) from exc
    except LocalEntryNotFoundError as exc:
        where = f" (revision {revision!r})" if revision else ""
        raise GenzooError(
            f"There is no local folder {name!r}; as a Hub repo{where} it could not be downloaded and is not in the "
            "Hugging Face cache. Check the path or the network, or download it once and use HF_HUB_OFFLINE=1."
        ) from exc
    except HfHubHTTPError as exc:
        raise GenzooError(f"Could not download {name!r} from the Hub: {' '.join(str(exc).split())}") from exc


def pipeline_file_patterns(components: list[str]) -> list[str]:
    """The `snapshot_download` patterns of a pipeline with these components: the top-level files, and each
    component's `config.json` and safetensors weights (with the shard index of sharded weights)."""
    patterns = list(PIPELINE_TOP_LEVEL_FILES)
    for component in components:
        patterns += [f"{component}/config.json", f"{component}/*.safetensors", f"{component}/*.safetensors.index.json"]
    return patterns


def read_model_index(folder: Path) -> dict[str, Any]:
    """The parsed `model_index.json` of a pipeline folder, with a one-line error when it is missing or invalid."""
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise GenzooError(f"{folder} is not a genzoo pipeline: it has no model_index.json.")
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as exc:
        raise GenzooError(f"{index_path} is not valid JSON: {exc}") from exc
    if not isinstance(index, dict):
        raise GenzooError(f"{index_path} must hold a JSON object.")
    return index


def _checked_pipeline_class(folder: Path) -> tuple[type[GenPipeline], dict[str, "ModelRegistration"]]:
    """Read `model_index.json` and return the registered pipeline class and each component's model registration,
    refusing anything unregistered, Python files anywhere and pickle files in a component folder.

    This runs before any module the folder names is imported: a malicious repo could name any module, and
    diffusers would execute a `<component>/<module>.py` (or a top-level `None.py`) as custom code.
    """
    from .registry import models

    index = read_model_index(folder)
    index_path = folder / "model_index.json"
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
    matched: dict[str, ModelRegistration] = {}
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
        directory = folder / component
        if not directory.is_dir():
            raise GenzooError(f"{folder} is missing the component folder {component!r} named in model_index.json.")
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise UnsafePipelineError(
                f"{directory} holds pickle files ({', '.join(pickles)}), which can run code when loaded; genzoo loads "
                "safetensors only, so remove them (re-save the pipeline with save_pretrained to get safetensors)."
            )
        matched[component] = registration

    class_name = index.get("_class_name")
    for registration in [*matched.values(), *registrations]:
        if registration.pipeline_class.__name__ == class_name:
            return registration.pipeline_class, matched
    if class_name == GenPipeline.__name__:
        return GenPipeline, matched
    raise UnsafePipelineError(
        f"{index_path} asks for pipeline class {class_name!r}, which no installed genzoo plugin registered."
    )


def weight_files(directory: Path, variant: str | None = None) -> list[Path]:
    """The safetensors files diffusers loads for a component: the single weights file, or the shards its index
    lists (`diffusion_pytorch_model[.variant].safetensors[.index.json]`)."""
    stem, suffix = WEIGHTS_NAME.rsplit(".", 1)
    name = f"{stem}.{variant}.{suffix}" if variant else WEIGHTS_NAME
    index_path = directory / f"{name}.index.json"
    if index_path.is_file():
        try:
            shards = sorted(set(json.loads(index_path.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise GenzooError(f"{index_path} is not a valid safetensors shard index: {exc}") from exc
        return [directory / shard for shard in shards]
    return [directory / name] if (directory / name).is_file() else []


def weight_variants(directory: Path) -> list[str | None]:
    """The weight variants a component folder holds: `None` for the default weights, `"fp16"` for
    `diffusion_pytorch_model.fp16.safetensors`, and so on (sharded weights count by their index)."""
    stem = WEIGHTS_NAME.rsplit(".", 1)[0]
    variants: set[str | None] = set()
    for path in directory.glob(f"{stem}*.safetensors*"):
        middle = path.name[len(stem) :]
        for ending in (".safetensors.index.json", ".safetensors"):
            if middle.endswith(ending) and not re.search(r"-\d+-of-\d+", middle):
                variants.add(middle[: -len(ending)].lstrip(".") or None)
    return sorted(variants, key=lambda v: v or "")


def check_component_weights(directory: Path, generator_class: type, variant: str | None = None) -> None:
    """Check a component's safetensors weights against its `config.json` before diffusers loads them.

    Reading only the safetensors headers and building the model on the meta device, it turns what diffusers would
    report as a long multi-line error, or silently accept (missing tensors are left randomly initialised), into a
    one-line `GenzooError`: no weights, a corrupt file, or tensors whose names or shapes do not match the config.
    """
    from safetensors import SafetensorError, safe_open

    files = weight_files(directory, variant)
    if not files:
        wanted = f"variant {variant!r}" if variant else WEIGHTS_NAME
        others = [repr(v) if v else "the default" for v in weight_variants(directory) if v != variant]
        hint = f"it has {' and '.join(others)} weights, pass variant= to match" if others else "re-save the pipeline"
        raise GenzooError(f"{directory} has no safetensors weights ({wanted}); {hint}.")
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    for file in files:
        if not file.is_file():
            raise GenzooError(f"{file} is missing (listed in the shard index); re-download or re-save the pipeline.")
        try:
            with safe_open(str(file), framework="pt") as weights:
                for key in weights.keys():  # noqa: SIM118  (safe_open is not a mapping)
                    found[key] = (tuple(weights.get_slice(key).get_shape()), file)
        except (SafetensorError, OSError) as exc:
            raise GenzooError(
                f"{file} is not a valid safetensors file ({exc}): it is corrupt or truncated; re-download or "
                "re-save it."
            ) from exc

    try:
        config = generator_class.load_config(directory)
        with torch.device("meta"):
            model = generator_class.from_config(config)
    except (OSError, ValueError, TypeError) as exc:
        raise GenzooError(
            f"{directory / 'config.json'} does not describe a valid {generator_class.__name__}: "
            f"{' '.join(str(exc).split())}"
        ) from exc
    except (RuntimeError, NotImplementedError):  # a constructor that needs real tensors: leave the check to diffusers
        return
    expected_shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    ignored = [re.compile(p) for p in (getattr(generator_class, "_keys_to_ignore_on_load_unexpected", None) or [])]
    problems = [f"{key} is missing" for key in expected_shapes if key not in found]
    problems += [
        f"{key} has shape {list(shape)} but the config needs {list(expected_shapes[key])}"
        for key, (shape, _) in found.items()
        if key in expected_shapes and shape != expected_shapes[key]
    ]
    problems += [
        f"{key} is not a parameter of {generator_class.__name__}"
        for key in found
        if key not in expected_shapes and not any(p.search(key) for p in ignored)
    ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise GenzooError(
            f"The weights in {directory} do not match its config.json: {problems[0]}{more}. The weights and the "
            "config come from different models; re-save the pipeline."
        )
