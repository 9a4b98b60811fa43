"""Model cards and publishing on the Hugging Face Hub.

What a pipeline folder holds, and so what a push uploads, is defined once in `genzoo.folder`
(`pipeline_file_patterns`); the model card `README.md` is rebuilt here from the finished folder at every push. Whoever
finishes a folder (`save_pretrained`, the trainer, the best-model saver of in-training evaluation) writes its card
last, with `finish_folder`, once the run config and eval results are in place.
"""

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import PIL.Image
import torch
from huggingface_hub import CommitInfo, CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData

from . import __version__
from .errors import GenzooError, UnsafePipelineError, network_errors
from .folder import MODEL_CARD, SAMPLE_GRID, pipeline_files, read_pipeline_folder, weight_files
from .grids import grid_shape, image_grid
from .modeling import sampling_mode
from .plugins import plugin_source
from .registry import ModelRegistration

if TYPE_CHECKING:
    from .pipeline import GenPipeline

__all__ = [
    "build_model_card",
    "finish_folder",
    "model_card_tags",
    "publishable_files",
    "push_folder",
    "render_sample_grid",
]

CARD_TEMPLATE = Path(__file__).parent / "assets" / "model_card_template.md"
# The license a card declares when the run config names none: genzoo's own (the weights are the user's to relicense).
DEFAULT_LICENSE = "apache-2.0"
# Built-in dataset specs and the Hub dataset they come from.
_BUILTIN_HUB_DATASETS = {"mnist-5k": "ylecun/mnist", "mnist5k": "ylecun/mnist"}


def render_sample_grid(pipeline: "GenPipeline", num_images: int = 16, seed: int = 0) -> PIL.Image.Image:
    """A grid of samples drawn with a fixed seed, in eval mode (batch norm must not update its statistics).

    Unconditional models give a near-square grid of `num_images`; conditional ones give one column per class
    (evenly spaced classes when there are more than 16), at least two rows.

    Args:
        pipeline (`GenPipeline`): the pipeline to sample.
        num_images (`int`, defaults to 16): how many images an unconditional grid holds.
        seed (`int`, defaults to 0): seeds the latents (and nothing else), so the grid is reproducible.

    Returns:
        `PIL.Image.Image`: the grid.
    """
    model = pipeline.model
    num_classes = model.num_classes
    if num_classes:
        columns = min(num_classes, 16)
        rows = max(2, num_images // columns)
        labels = (torch.arange(columns) * num_classes // columns).repeat(rows).tolist()
    else:
        rows, columns = grid_shape(num_images)
        labels = None
    with sampling_mode(model):
        images = pipeline(
            batch_size=rows * columns, class_labels=labels, generator=torch.Generator().manual_seed(seed)
        ).images
    return image_grid(images, rows=rows)


def model_card_tags(
    registration: ModelRegistration, pipeline_class: type | None, num_classes: int, objective: str | None = None
) -> list[str]:
    """Hub tags for a model: `genzoo`, the model family, `gan` for families trained against a discriminator, the
    objective, the pipeline class's own `card_tags` and the kind of image generation."""
    tags = ["genzoo", registration.name]
    if registration.discriminator_class is not None:
        tags.append("gan")
    if objective:
        tags.append(objective)
    tags += list(getattr(pipeline_class, "card_tags", ()))
    tags.append("class-conditional-image-generation" if num_classes else "unconditional-image-generation")
    return list(dict.fromkeys(tags))


def build_model_card(folder: str | Path, repo_id: str | None = None, *, has_grid: bool | None = None) -> ModelCard:
    r"""Build the model card of a saved pipeline folder with huggingface_hub's `ModelCard`.

    The YAML metadata holds `library_name: genzoo`, tags, the dataset (for Hub datasets and built-ins that come from
    one), the pipeline tag for unconditional models and, when `eval_results.json` exists, the metrics as
    `model-index` results. The text shows the sample grid, how to load the model, its configuration, the training
    run (from `run_config.yaml`) and the metrics.

    Args:
        folder (`str` or `Path`): a folder written by `save_pretrained`.
        repo_id (`str`, *optional*): the Hub repo the card is for; the loading snippet uses it (else a placeholder).
        has_grid (`bool`, *optional*): whether `samples.png` is published beside the card (defaults to whether the
            folder has one).

    Returns:
        `huggingface_hub.ModelCard`: the card; `str(card)` is the `README.md` text.
    """
    checked = read_pipeline_folder(folder)
    folder, component, registration = checked.path, checked.main_component, checked.registration
    config = checked.component_config()
    num_classes = int(config.get("num_classes") or 0)
    run_config = checked.run_config
    metrics, eval_context = checked.metrics()

    # The objective and dataset are only known from a training run's config.
    objective = (run_config.get("objective") or registration.default_objective) if run_config else None
    dataset_spec = run_config.get("dataset")
    hub_dataset = _hub_dataset_id(dataset_spec)
    model_name = repo_id.split("/")[-1] if repo_id else registration.name
    task = "class-conditional-image-generation" if num_classes else "unconditional-image-generation"
    task_name = "Class-conditional image generation" if num_classes else "Unconditional image generation"
    license = str(run_config.get("license") or DEFAULT_LICENSE)
    card_data = ModelCardData(
        license=license,
        library_name="genzoo",
        tags=model_card_tags(registration, checked.pipeline_class, num_classes, objective),
        pipeline_tag=None if num_classes else "unconditional-image-generation",
        datasets=[hub_dataset] if hub_dataset else None,
        metrics=list(metrics) or None,
        model_name=model_name if metrics else None,
        eval_results=[
            EvalResult(
                task_type=task,
                task_name=task_name,
                dataset_type=hub_dataset or dataset_spec or "unknown",
                dataset_name=dataset_spec or "unknown",
                dataset_split=str(eval_context["split"]) if "split" in eval_context else None,
                metric_type=name,
                metric_name=_metric_label(name),
                metric_value=value,
            )
            for name, value in metrics.items()
        ]
        or None,
    )

    generator_class = registration.generator_class
    distribution = _distribution(registration)
    conditioning = f"class-conditional ({num_classes} classes)" if num_classes else "unconditional"
    kind = "GAN" if registration.discriminator_class is not None else "image generator"
    return ModelCard.from_template(
        card_data,
        template_path=str(CARD_TEMPLATE),
        title=model_name,
        summary=f"A genzoo `{registration.name}` model: {conditioning} {kind}.",
        family=registration.name,
        description=registration.description.rstrip("."),
        has_grid=(folder / SAMPLE_GRID).is_file() if has_grid is None else has_grid,
        load_name=repo_id or "path/to/this/folder",
        call_args=f"class_labels=list(range({min(num_classes, 16)}))" if num_classes else "batch_size=16",
        cli_args=" --class-label 0" if num_classes else "",
        install="genzoo" if distribution == "genzoo" else f"genzoo {distribution}",
        plugin=registration.plugin,
        generator_path=f"{generator_class.__module__}.{generator_class.__name__}",
        pipeline_class=checked.pipeline_class_name,
        model_rows=_model_rows(folder / component, generator_class, config, num_classes),
        training_rows=_training_rows(run_config, objective),
        metric_rows=[(_metric_label(name), f"{value:.4g}") for name, value in metrics.items()],
        eval_context=", ".join(f"{key} {value}" for key, value in eval_context.items()),
        genzoo_version=_genzoo_version(),
        license=license,
        limitations=_limitations(registration, config, run_config, num_classes),
    )


def publishable_files(folder: str | Path) -> dict[str, Path]:
    """The files of a pipeline folder that a push uploads, as `{path in repo: local file}`: exactly the files of
    `genzoo.folder.pipeline_file_patterns` (what a download fetches), less the card, which a push rebuilds (and the
    sample grid, when missing, is rendered and comes on top)."""
    return pipeline_files(folder)


def finish_folder(
    folder: str | Path, pipeline: "GenPipeline | None" = None, sample_grid: PIL.Image.Image | None = None
) -> None:
    r"""Finish a pipeline folder: write its sample grid (when given or renderable) and then its model card, built
    from everything the folder holds by now. Call it last, after the run config and eval results are written.

    Args:
        folder (`str` or `Path`): a folder `save_pretrained` wrote (with `model_card=False`).
        pipeline (`GenPipeline`, *optional*): renders `samples.png` with a fixed seed when `sample_grid` is not
            given and the folder has none.
        sample_grid (`PIL.Image.Image`, *optional*): the grid to save as `samples.png`.

    An experimental model that no plugin registered yet is saved without a card (with a warning), not refused.
    """
    folder = Path(folder)
    if sample_grid is None and pipeline is not None and not (folder / SAMPLE_GRID).is_file():
        sample_grid = render_sample_grid(pipeline)
    if sample_grid is not None:
        sample_grid.save(folder / SAMPLE_GRID)
    try:
        card = build_model_card(folder)
    except UnsafePipelineError as exc:
        warnings.warn(f"No model card written to {folder}: {exc}", UserWarning, stacklevel=2)
    else:
        card.save(folder / MODEL_CARD)


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | bool | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    model_card: ModelCard | None = None,
    pipeline: "GenPipeline | None" = None,
) -> CommitInfo:
    r"""Publish a saved pipeline folder to the Hub in one commit.

    The folder is checked as `GenPipeline.from_pretrained` would check it (registered modules only, no Python or
    pickle files, weights that match their configs), so a folder that would not load is never published. The
    upload is exactly `publishable_files(folder)` plus the model card, rebuilt for `repo_id` from the folder's
    current contents (so metrics that `genzoo evaluate` added since training appear), and a sample grid rendered
    from the pipeline if the folder has none. The folder itself is not modified.

    Args:
        folder (`str` or `Path`): a folder written by `save_pretrained` or `genzoo train`.
        repo_id (`str`): `"org/name"` or `"name"`; the repo is created if missing.
        private (`bool`, *optional*): visibility of a repo this creates (an existing repo keeps its own).
        token (`str` or `bool`, *optional*): Hub token; defaults to the saved login or `HF_TOKEN`.
        commit_message (`str`, *optional*): defaults to `"Upload <pipeline class> with genzoo"`.
        revision (`str`, *optional*): branch to commit to; created from the default branch if missing.
        create_pr (`bool`, defaults to `False`): open a pull request instead of committing directly.
        model_card (`ModelCard`, *optional*): upload this card instead of the generated one.
        pipeline (`GenPipeline`, *optional*): the loaded pipeline, to render the sample grid when the folder has
            none (`genzoo push` and `push_to_hub` pass it); without it such a folder is published without a grid.

    Returns:
        `huggingface_hub.CommitInfo` of the commit.
    """
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    folder = Path(folder)
    if not folder.is_dir():
        raise GenzooError(f"{str(folder)!r} is not a folder; pass the folder `genzoo train` or save_pretrained wrote.")
    checked = read_pipeline_folder(folder)
    checked.check_weights(all_variants=True)
    files = publishable_files(folder)
    for name, path in files.items():  # a figure must be an image: the card shows it, and the Hub serves it as one
        if name.endswith(".png"):
            try:
                with PIL.Image.open(path) as image:
                    image.verify()
            except (OSError, SyntaxError) as exc:  # PIL reports some broken PNGs as SyntaxError
                raise GenzooError(
                    f"{path} is not a valid image ({' '.join(str(exc).split())}); remove it or save the figure again."
                ) from exc
    generated: dict[str, bytes] = {}
    if SAMPLE_GRID not in files and pipeline is not None:
        buffer = io.BytesIO()
        render_sample_grid(pipeline).save(buffer, format="PNG")
        generated[SAMPLE_GRID] = buffer.getvalue()
    has_grid = SAMPLE_GRID in files or SAMPLE_GRID in generated
    # Built before any request, so a folder whose card cannot be built fails without touching the Hub.
    card = model_card if model_card is not None else build_model_card(folder, repo_id, has_grid=has_grid)
    api = HfApi(token=token)
    try:
        created = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model").repo_id
        if model_card is None and created != repo_id:  # "name" became "user/name": the snippet needs the full id
            card = build_model_card(folder, created, has_grid=has_grid)
        repo_id = created
        generated[MODEL_CARD] = str(card).encode()
        operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(f)) for path, f in files.items()]
        operations += [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in generated.items()]
        if revision and revision != "main" and not create_pr:
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        return api.create_commit(
            repo_id,
            operations,
            commit_message=commit_message or f"Upload {checked.pipeline_class_name} with genzoo",
            revision=revision,
            create_pr=create_pr,
            repo_type="model",
        )
    except OfflineModeIsEnabled as exc:
        raise GenzooError(f"Cannot push to {repo_id!r}: HF_HUB_OFFLINE is set; unset it to publish.") from exc
    except HFValidationError as exc:
        raise GenzooError(f"{repo_id!r} is not a valid Hub repo id: {' '.join(str(exc).split())}") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        hint = " Log in with `hf auth login` or pass a token with write access." if status in (401, 403) else ""
        raise GenzooError(f"Could not push to {repo_id!r}: {' '.join(str(exc).split())}{hint}") from exc
    except network_errors() as exc:
        raise GenzooError(
            f"Could not reach the Hub to push to {repo_id!r} ({type(exc).__name__}: {exc}); check the network."
        ) from exc


def _metric_label(name: str) -> str:
    """`fid` -> `FID`, `kid` -> `KID`; longer names (`precision`) stay as they are."""
    return name.upper() if len(name) <= 4 else name


def _hub_dataset_id(spec: str | None) -> str | None:
    """The Hub dataset behind a dataset spec: `hf:ORG/NAME` gives `ORG/NAME`; built-ins map to their source."""
    if not spec:
        return None
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in ("hf", "hub") and rest:
        return rest
    return _BUILTIN_HUB_DATASETS.get(spec)


def _model_rows(
    directory: Path, generator_class: type, config: dict[str, Any], num_classes: int
) -> list[tuple[str, str]]:
    rows = []
    if "image_size" in config:
        channels = config.get("num_channels")
        suffix = f", {channels} channel{'s' if channels != 1 else ''}" if channels else ""
        rows.append(("images", f"{config['image_size']} × {config['image_size']}{suffix}"))
    if "latent_dim" in config:
        rows.append(("latent size", str(config["latent_dim"])))
    rows.append(("classes", str(num_classes) if num_classes else "none (unconditional)"))
    try:
        with torch.device("meta"):
            model = generator_class.from_config(generator_class.load_config(directory))
        rows.append(("parameters", f"{sum(p.numel() for p in model.parameters()):,}"))
    except (OSError, ValueError, TypeError):  # the load check reports a bad config; the card just omits the count
        pass
    if len(weight_files(directory)) > 1:
        rows.append(("weights", f"{len(weight_files(directory))} safetensors shards"))
    skip = {"image_size", "num_channels", "latent_dim", "num_classes"}
    options = ", ".join(f"{k}={v}" for k, v in config.items() if not k.startswith("_") and k not in skip)
    if options:
        rows.append(("config", f"`{options}`"))
    return rows


def _training_rows(run_config: dict[str, Any], objective: str | None) -> list[tuple[str, str]]:
    if not run_config:
        return []
    rows = [("dataset", f"`{run_config.get('dataset')}`"), ("objective", f"`{objective}`")]
    if run_config.get("max_steps"):
        rows.append(("steps", f"{run_config['max_steps']:,}"))
    elif run_config.get("epochs"):
        rows.append(("epochs", str(run_config["epochs"])))
    for key in ("batch_size", "mixed_precision", "ema_decay", "seed"):
        if run_config.get(key) is not None:
            rows.append((key.replace("_", " "), str(run_config[key])))
    return rows


def _limitations(
    registration: ModelRegistration, config: dict[str, Any], run_config: dict[str, Any], num_classes: int
) -> list[str]:
    """What the model was trained on, at what resolution, and the failure modes of its kind of model."""
    size = config.get("image_size")
    channels = config.get("num_channels")
    resolution = f"{size} × {size}" + (" grayscale" if channels == 1 else " colour" if channels == 3 else "")
    dataset = run_config.get("dataset")
    if dataset:
        trained = f"It was trained on `{dataset}` only"
        if dataset in _BUILTIN_HUB_DATASETS:
            trained += " (5,000 real MNIST digits embedded in genzoo, 4,500 of them for training)"
        trained += ", so it draws images like those and nothing else."
    else:
        trained = (
            "The folder has no run configuration, so its training data is unknown; it draws what it was trained on."
        )
    lines = [trained, f"It makes {resolution} images{'' if size else ' (resolution unknown)'}; larger outputs need "
             "resizing, which adds no detail."]  # fmt: skip
    if registration.discriminator_class is not None:
        lines.append(
            "As a GAN it can miss parts of the training distribution (mode collapse: too little variety, some "
            "classes rarer than in the data) and draw malformed images; check a grid of samples, not one image."
        )
    else:
        lines.append("Likelihood models such as VAEs cover the data well but draw blurrier images than GANs.")
    if num_classes:
        lines.append(
            f"It is conditioned on {num_classes} classes; an image can still look like another class, so measure "
            "class accuracy with a classifier (`genzoo evaluate`) before relying on the labels."
        )
    lines.append(
        "The evaluation figures in this card, if any, are the only measurements; fairness and safety were not tested."
    )
    return lines


def _distribution(registration: ModelRegistration) -> str:
    source = plugin_source(registration.plugin)
    return source.distribution or source.module.split(".")[0].split(":")[0]


def _genzoo_version() -> str:
    return __version__
