"""The Hugging Face Hub side of a pipeline folder: downloading a repo id, model cards, and publishing.

The folder format itself (file names, the checked reader, which files belong to a pipeline) is `genzoo.folder`'s;
this module turns a repo id into such a folder (`download_pipeline`, with `huggingface_hub.snapshot_download`),
builds its card (`build_model_card`, `finish_folder`) and publishes it (`push_folder`, and `push_pipeline` behind
`GenPipeline.push_to_hub`). Whoever finishes a folder (`save_pretrained`, the trainer, the best-model saver of
in-training evaluation) writes its card last, with `finish_folder`, once the run config and eval results are in
place. `GenPipeline.from_pretrained` imports this module only for a repo id, never for a local folder.
"""

import io
import json
import os
import re
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path
from typing import Any, Protocol

import PIL.Image
import torch
import yaml
from huggingface_hub import CommitInfo, CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData

from . import __version__
from .errors import GenzooError, UnsafePipelineError, network_errors
from .folder import (
    EVAL_RESULTS,
    MODEL_CARD,
    MODEL_INDEX,
    PIPELINE_IGNORE_PATTERNS,
    RUN_CONFIG,
    SAMPLE_GRID,
    PipelineFolder,
    index_components,
    pipeline_file_patterns,
    pipeline_files,
    read_model_index,
    read_pipeline_folder,
    weight_files,
)
from .images import grid_shape, image_grid
from .modeling import Generator, meta_model, sampling_mode
from .plugins import plugin_source
from .registry import ModelRegistration

__all__ = [
    "build_model_card",
    "check_repo_id",
    "download_pipeline",
    "finish_folder",
    "model_card_tags",
    "public_dataset_name",
    "publishable_files",
    "push_folder",
    "push_pipeline",
    "render_sample_grid",
]

CARD_TEMPLATE = Path(__file__).parent / "assets" / "model_card_template.md"
# The license a card declares when the run config names none: genzoo's own (the weights are the user's to relicense).
DEFAULT_LICENSE = "apache-2.0"
# Built-in dataset specs and the Hub dataset they come from.
_BUILTIN_HUB_DATASETS = {"mnist-5k": "ylecun/mnist", "mnist5k": "ylecun/mnist"}
# The longest string from the run config or eval results that a card repeats (a dataset name, a feature extractor);
# longer ones are not names, and a card must not grow with whatever a file holds.
MAX_CARD_STRING = 100
MAX_CARD_METRICS = 100  # rows of the card's metrics table (per-class figures of 10 classes come to about 30)
# What genzoo is installed from: it is on no package index, so from its repository or a wheel built there.
GENZOO_INSTALL = (
    "genzoo is not on a package index: install it from a clone of its repository (`pip install .`), or build a "
    "wheel there (`python -m build`) and `pip install dist/genzoo-*.whl`"
)


class SamplingPipeline(Protocol):
    """What publishing needs from a pipeline: its generator and a call that draws images (`GenPipeline` is one)."""

    model: Generator
    name_or_path: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None: ...


def render_sample_grid(pipeline: SamplingPipeline, num_images: int = 16, seed: int = 0) -> PIL.Image.Image:
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


def download_pipeline(
    repo_id: str,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
) -> Path:
    r"""Download a pipeline from the Hub (or find it in the Hugging Face cache) and return its local folder.

    diffusers' own download rejects components from libraries other than diffusers and transformers, so genzoo
    resolves repo ids itself with `huggingface_hub.snapshot_download`: `model_index.json` first, to learn the
    components, then exactly their files (`genzoo.folder.pipeline_file_patterns`) from the same commit, never Python
    code or pickle files. The folder is then read like any local one (`genzoo.folder.read_pipeline_folder`).

    Args:
        repo_id (`str`): `"org/name"`.
        revision (`str`, *optional*): a branch, tag or commit hash.
        cache_dir (`str` or `os.PathLike`, *optional*): the Hugging Face cache to use.
        token (`str` or `bool`, *optional*): for private repos.
        local_files_only (`bool`, defaults to `False`): resolve from the cache only (as `HF_HUB_OFFLINE=1` does).
        force_download (`bool`, defaults to `False`): download again even when cached.

    Returns:
        `Path`: the snapshot folder in the cache.

    Raises:
        `GenzooError`: a one-line reason: not a repo id, no such repo or revision, not cached offline, not a pipeline.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    name = str(repo_id)
    if Path(name).exists() or name.count("/") != 1 or name.startswith((".", "/", "~")):
        raise GenzooError(f"{name!r} is neither a pipeline folder nor a Hub repo id like 'org/name'.")
    options = {"cache_dir": cache_dir, "token": token, "local_files_only": local_files_only}
    try:
        index_folder = Path(
            snapshot_download(
                name, revision=revision, allow_patterns=[MODEL_INDEX], force_download=force_download, **options
            )
        )
        if not (index_folder / MODEL_INDEX).is_file():
            raise GenzooError(f"Hub repo {name!r} is not a genzoo pipeline: it has no model_index.json.")
        components = list(index_components(read_model_index(index_folder), index_folder / MODEL_INDEX))
        return Path(
            snapshot_download(
                name,
                revision=index_folder.name,  # the commit hash of the snapshot
                allow_patterns=pipeline_file_patterns(components),
                ignore_patterns=PIPELINE_IGNORE_PATTERNS,
                force_download=force_download,
                **options,
            )
        )
    except HFValidationError as exc:
        raise GenzooError(f"{name!r} is neither a pipeline folder nor a valid Hub repo id: {_one_line(exc)}") from exc
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
        raise GenzooError(f"Could not download {name!r} from the Hub: {_one_line(exc)}") from exc


def check_repo_id(repo_id: Any) -> str:
    """Check a repo id to publish to with huggingface_hub's own validator (`validate_repo_id`: `org/name` or
    `name`, no `..` or `--`, allowed characters only), before anything is saved or sent.

    Raises:
        `GenzooError`: one line naming the id and what is wrong with it.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        if not isinstance(repo_id, str):
            raise HFValidationError(f"a repo id is a string, got {type(repo_id).__name__}")
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise GenzooError(
            f"{repo_id!r} is not a valid Hub repo id: {_one_line(exc)} Use 'org/name' or 'name'."
        ) from None
    return repo_id


def model_card_tags(
    registration: ModelRegistration, pipeline_class: type | None, num_classes: int, objective: str | None = None
) -> list[str]:
    """Hub tags for a model: `genzoo`, the model family, `gan` for families trained against a discriminator, the
    objective, the pipeline class's own `card_tags` and the kind of image generation (unless the pipeline class names
    its own `card_pipeline_tag`, such as `image-to-image`)."""
    tags = ["genzoo", registration.name]
    if registration.discriminator_class is not None:
        tags.append("gan")
    if objective:
        tags.append(objective)
    tags += list(getattr(pipeline_class, "card_tags", ()))
    if getattr(pipeline_class, "card_pipeline_tag", None) is None:  # an image-to-image model generates from images
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
    num_classes = config["num_classes"] if _is_count(config.get("num_classes")) else 0
    run_config = checked.run_config
    metrics, eval_context = checked.metrics()
    metrics = dict(list(metrics.items())[:MAX_CARD_METRICS])  # eval results are a file anyone can edit

    # The objective and dataset are only known from a training run's config; a card shows names, never local paths.
    objective = (_card_string(run_config.get("objective")) or registration.default_objective) if run_config else None
    raw_dataset = _card_string(run_config.get("dataset"), limit=4096)
    hub_dataset = _hub_dataset_id(raw_dataset)
    dataset_spec = _card_string(public_dataset_name(raw_dataset)) if raw_dataset else None
    eval_context = _public_eval_context(eval_context)
    model_name = repo_id.split("/")[-1] if repo_id else registration.name
    task = "class-conditional-image-generation" if num_classes else "unconditional-image-generation"
    task = getattr(checked.pipeline_class, "card_pipeline_tag", None) or task  # e.g. image-to-image
    task_name = task.replace("-", " ").capitalize()
    license = _card_string(run_config.get("license")) or DEFAULT_LICENSE
    card_data = ModelCardData(
        license=license,
        library_name="genzoo",
        tags=model_card_tags(registration, checked.pipeline_class, num_classes, objective),
        pipeline_tag=getattr(checked.pipeline_class, "card_pipeline_tag", None)
        or (None if num_classes else "unconditional-image-generation"),
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
    # A pipeline class may say what its model does in its own words (a restoration model: its task), from the
    # saved config; `None` keeps the generic summary.
    card_summary = getattr(checked.pipeline_class, "card_summary", None)
    summary = card_summary(config) if callable(card_summary) else None
    # Likewise how to use it, when that is not sampling (a restoration model: restoring an image).
    card_usage = getattr(checked.pipeline_class, "card_usage", None)
    usage = card_usage(config, repo_id or "path/to/this/folder") if callable(card_usage) else None
    return ModelCard.from_template(
        card_data,
        template_path=str(CARD_TEMPLATE),
        title=model_name,
        summary=summary or f"A genzoo `{registration.name}` model: {conditioning} {kind}.",
        usage=usage,
        family=registration.name,
        description=registration.description.rstrip("."),
        has_grid=(folder / SAMPLE_GRID).is_file() if has_grid is None else has_grid,
        load_name=repo_id or "path/to/this/folder",
        call_args=f"class_labels=list(range({min(num_classes, 16)}))" if num_classes else "batch_size=16",
        cli_args=" --class-label 0" if num_classes else "",
        install=_install_text(distribution, registration.plugin),
        generator_path=f"{generator_class.__module__}.{generator_class.__name__}",
        pipeline_class=checked.pipeline_class_name,
        model_rows=_model_rows(folder / component, generator_class, config, num_classes),
        training_rows=_training_rows(run_config, objective, dataset_spec),
        metric_rows=[(_metric_label(name), f"{value:.4g}") for name, value in metrics.items()],
        eval_context=", ".join(f"{key} {value}" for key, value in eval_context.items()),
        genzoo_version=_genzoo_version(),
        license=license,
        limitations=_limitations(registration, config, dataset_spec, num_classes),
    )


def publishable_files(folder: str | Path) -> dict[str, Path]:
    """The files of a pipeline folder that a push uploads, as `{path in repo: local file}`: exactly the files of
    `genzoo.folder.pipeline_file_patterns` (what a download fetches), less the card, which a push rebuilds (and the
    sample grid, when missing, is rendered and comes on top)."""
    return pipeline_files(folder)


def finish_folder(
    folder: str | Path, pipeline: SamplingPipeline | None = None, sample_grid: PIL.Image.Image | None = None
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
    pipeline: SamplingPipeline | None = None,
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

    check_repo_id(repo_id)
    folder = Path(folder)
    if not folder.is_dir():
        raise GenzooError(f"{str(folder)!r} is not a folder; pass the folder `genzoo train` or save_pretrained wrote.")
    checked = read_pipeline_folder(folder)
    checked.check_weights(all_variants=True)
    files = publishable_files(folder)
    # The run config and eval results are published with names in place of local paths, as the card shows them.
    generated = {name: data for name, data in _public_files(checked).items() if name in files}
    files = {name: path for name, path in files.items() if name not in generated}
    for name, path in files.items():  # a figure must be an image: the card shows it, and the Hub serves it as one
        if name.endswith(".png"):
            try:
                with PIL.Image.open(path) as image:
                    image.verify()
            except (OSError, SyntaxError) as exc:  # PIL reports some broken PNGs as SyntaxError
                raise GenzooError(
                    f"{path} is not a valid image ({' '.join(str(exc).split())}); remove it or save the figure again."
                ) from exc
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
        raise GenzooError(f"{repo_id!r} is not a valid Hub repo id: {_one_line(exc)}") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        hint = " Log in with `hf auth login` or pass a token with write access." if status in (401, 403) else ""
        raise GenzooError(f"Could not push to {repo_id!r}: {_one_line(exc)}{hint}") from exc
    except network_errors() as exc:
        raise GenzooError(
            f"Could not reach the Hub to push to {repo_id!r} ({type(exc).__name__}: {exc}); check the network."
        ) from exc


def push_pipeline(
    pipeline: SamplingPipeline,
    repo_id: str,
    *,
    variant: str | None = None,
    **push_options: Any,
) -> CommitInfo:
    r"""Publish an in-memory pipeline (what `GenPipeline.push_to_hub` does): save it to a temporary folder and
    publish that with `push_folder`. When it was loaded from a folder, that folder's `run_config.yaml` and
    `eval_results.json` travel with it, so the card keeps the training details and metrics.

    Args:
        pipeline (`GenPipeline`): the pipeline.
        repo_id (`str`): `"org/name"` or `"name"`; checked before anything is saved.
        variant (`str`, *optional*): the weights variant to save.
        push_options: `push_folder`'s keyword arguments (`private`, `token`, `commit_message`, `revision`,
            `create_pr`, `model_card`).

    Returns:
        `huggingface_hub.CommitInfo` of the commit.
    """
    check_repo_id(repo_id)
    source = Path(pipeline.name_or_path) if pipeline.name_or_path else None
    with tempfile.TemporaryDirectory(prefix="genzoo-push-") as tmp:
        folder = Path(tmp)
        pipeline.save_pretrained(folder, variant=variant)
        if source is not None and source.is_dir():
            for name in (RUN_CONFIG, EVAL_RESULTS):
                # Only the folder's own files: a link to elsewhere would publish a private file (push_folder refuses
                # such links in a folder it is given).
                if (source / name).is_file() and (source / name).resolve().is_relative_to(source.resolve()):
                    (folder / name).write_bytes((source / name).read_bytes())
        return push_folder(folder, repo_id, pipeline=pipeline, **push_options)


def _metric_label(name: str) -> str:
    """`fid` -> `FID`, `kid` -> `KID`; longer names (`precision`) stay as they are."""
    return name.upper() if len(name) <= 4 else name


def public_dataset_name(spec: str) -> str:
    """The dataset of a dataset spec as a card may show it: Hub datasets and built-ins as they are, local paths
    reduced to their last part (`imagefolder:./faces` and `imagefolder:/home/me/faces` give `imagefolder:faces`,
    `/data/train.parquet` gives `train.parquet`), so no home folder, user or machine path is published."""
    spec = str(spec)
    prefix, sep, rest = spec.partition(":")
    is_drive = len(prefix) == 1 and rest.startswith(("/", "\\"))  # C:\data
    if sep and prefix in ("hf", "hub"):
        return spec
    if sep and prefix and not is_drive and not re.search(r"[/\\~.]", prefix):  # source:argument
        return f"{prefix}:{_path_name(rest)}" if rest else spec
    return _path_name(spec)


def _path_name(text: str) -> str:
    if not re.search(r"[/\\]|^[.~]", text):
        return text  # a name, not a path
    return re.split(r"[/\\]", text.rstrip("/\\"))[-1].lstrip("~") or "local data"


def _is_local_path(text: str) -> bool:
    """Whether a config string is (or, as a `source:path` spec, holds) a local path: absolute, home-relative or
    relative to the current folder. `org/name` repo ids and plain names are not."""
    path = text.split(":", 1)[1] if re.match(r"^[A-Za-z][\w-]+:", text) else text
    return bool(re.match(r"^(/|~|\.\.?([/\\]|$)|[A-Za-z]:[/\\]|\\\\)", path))


def _without_local_paths(values: Any) -> tuple[Any, bool]:
    """`values` (parsed YAML or JSON) with every local path string (the dataset, the output folder, a weights file)
    reduced to its last part, as `public_dataset_name` does, and whether any was."""
    changed = False

    def public(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, dict):
            return {key: public(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [public(inner) for inner in value]
        if isinstance(value, str) and _is_local_path(value):
            changed = True
            return public_dataset_name(value)
        return value

    return public(values), changed


def _public_files(checked: PipelineFolder) -> dict[str, bytes]:
    """`run_config.yaml` and `eval_results.json` as a push publishes them, when they hold local paths: reduced to
    names, as the card shows them (the local folder keeps the full paths, which repeat the run there)."""
    public: dict[str, bytes] = {}
    run_config, changed = _without_local_paths(checked.run_config)
    if changed:
        public[RUN_CONFIG] = yaml.safe_dump(run_config, sort_keys=False, allow_unicode=True).encode()
    eval_results, changed = _without_local_paths(checked.eval_results)
    if changed:
        public[EVAL_RESULTS] = (json.dumps(eval_results, indent=2) + "\n").encode()
    return public


def _card_string(value: Any, limit: int = MAX_CARD_STRING) -> str | None:
    """A string from the run config for the card, or `None` for anything else (a list, a mapping, a long text)."""
    if isinstance(value, str) and 0 < len(value) <= limit and "\n" not in value:
        return value
    return None


def _public_eval_context(context: dict[str, Any]) -> dict[str, Any]:
    """The measurement context of eval results as a card shows it: local paths reduced to names."""
    public = dict(context)
    if isinstance(public.get("dataset"), str):
        public["dataset"] = public_dataset_name(public["dataset"])
    if isinstance(public.get("reference_stats"), str):
        public["reference_stats"] = _path_name(public["reference_stats"])
    return public


def _install_text(distribution: str, plugin: str) -> str:
    """How to get genzoo and the plugin a card's model needs, from where they really are: a repository URL the
    distribution declares, else genzoo's repository or a wheel built from it (genzoo is on no package index)."""
    url = repository_url(distribution)
    if distribution == "genzoo":
        how = f'install it with `pip install "git+{url}"`' if url else GENZOO_INSTALL.split(": ", 1)[1]
        return (
            f"Loading needs genzoo, which includes the `{plugin}` plugin that registers this model. genzoo is not on "
            f"a package index: {how}"
        )
    how = f'`pip install "git+{url}"`' if url else "installed from its author's source"
    return (
        f"Loading needs genzoo and the `{distribution}` distribution, whose `{plugin}` plugin registers this model "
        f"({how}). {GENZOO_INSTALL}"
    )


def repository_url(distribution: str) -> str | None:
    """The source repository a distribution declares in its metadata (`Project-URL: Repository, ...`), if any."""
    try:
        urls = metadata(distribution).get_all("Project-URL") or []
    except PackageNotFoundError:
        return None
    for entry in urls:
        label, _, url = entry.partition(",")
        url = url.strip()
        if label.strip().lower() in ("repository", "source", "source code", "homepage") and url.startswith("https://"):
            return url
    return None


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
    if _is_count(config.get("image_size")):
        channels = config.get("num_channels") if _is_count(config.get("num_channels")) else None
        suffix = f", {channels} channel{'s' if channels != 1 else ''}" if channels else ""
        rows.append(("images", f"{config['image_size']} × {config['image_size']}{suffix}"))
    if _is_count(config.get("latent_dim")):
        rows.append(("latent size", str(config["latent_dim"])))
    rows.append(("classes", str(num_classes) if num_classes else "none (unconditional)"))
    try:
        model = meta_model(generator_class, generator_class.load_config(directory), where=directory / "config.json")
        rows.append(("parameters", f"{sum(p.numel() for p in model.parameters()):,}"))
    except (GenzooError, OSError, ValueError, TypeError):  # the load check reports a bad config; the card omits it
        pass
    if len(weight_files(directory)) > 1:
        rows.append(("weights", f"{len(weight_files(directory))} safetensors shards"))
    skip = {"image_size", "num_channels", "latent_dim", "num_classes"}
    # Short values only: a config is a file anyone can edit, and a card must not grow with it.
    options = ", ".join(
        f"{k}={v}" if len(str(v)) <= MAX_CARD_STRING else f"{k}=…"
        for k, v in config.items()
        if not k.startswith("_") and k not in skip
    )
    if options:
        rows.append(("config", f"`{options}`"))
    return rows


def _training_rows(run_config: dict[str, Any], objective: str | None, dataset: str | None) -> list[tuple[str, str]]:
    """Rows of the card's training table: only numbers and short names (a run config is a file anyone can edit)."""
    if not run_config:
        return []
    rows = [("dataset", f"`{dataset or 'unknown'}`"), ("objective", f"`{objective}`")]
    if _is_count(run_config.get("max_steps")):
        rows.append(("steps", f"{run_config['max_steps']:,}"))
    elif _is_count(run_config.get("epochs")):
        rows.append(("epochs", str(run_config["epochs"])))
    for key in ("batch_size", "mixed_precision", "ema_decay", "seed"):
        value = run_config.get(key)
        if (isinstance(value, int | float) and not isinstance(value, bool)) or _card_string(value):
            rows.append((key.replace("_", " "), str(value)))
    return rows


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _limitations(
    registration: ModelRegistration, config: dict[str, Any], dataset: str | None, num_classes: int
) -> list[str]:
    """What the model was trained on, at what resolution, and the failure modes of its kind of model."""
    size = config.get("image_size") if _is_count(config.get("image_size")) else None
    channels = config.get("num_channels")
    resolution = f"{size} × {size}" + (" grayscale" if channels == 1 else " colour" if channels == 3 else "")
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
