"""The saved pipeline folder: its file names, one checked reader, the Hub/local resolution and the file list.

A genzoo pipeline folder (what `save_pretrained` and `genzoo train` write, and what a Hub repo holds) is:

| path | what it is |
| --- | --- |
| `model_index.json` | the pipeline class and its components |
| `<component>/config.json`, `<component>/*.safetensors[.index.json]` | each component's config and weights |
| `run_config.yaml` | the resolved training configuration (when trained by genzoo) |
| `eval_results.json` | metrics written by `genzoo evaluate` or the best in-training evaluation |
| `samples.png` | a sample grid, shown in the card |
| other top-level `*.png` | figures the family draws beside it, such as a VAE's `reconstructions.png` |
| `README.md` | the model card, written last from the files above |

`pipeline_file_patterns` is the one list of these files: a push uploads exactly them and a download fetches exactly
them (never Python code, pickle files, checkpoints, logs or intermediate grids). `read_pipeline_folder` opens and
checks a folder once, before anything it names is imported.
"""

import contextlib
import inspect
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from .errors import GenzooError, UnsafePipelineError
from .registry import ModelRegistration, models

__all__ = [
    "CHECKPOINTS_DIR",
    "CHECKPOINT_STATE",
    "EVAL_RESULTS",
    "MODEL_CARD",
    "MODEL_INDEX",
    "RUN_CONFIG",
    "SAMPLE_GRID",
    "PipelineFolder",
    "check_component_weights",
    "check_weights_size",
    "index_components",
    "pipeline_file_patterns",
    "pipeline_files",
    "read_model_index",
    "read_pipeline_folder",
    "resolve_pipeline_folder",
    "weight_files",
    "weight_variants",
]

MODEL_INDEX = "model_index.json"
# A run folder's training checkpoints (`checkpoints/step_N`), each finished by its state file (genzoo.checkpointing).
CHECKPOINTS_DIR = "checkpoints"
CHECKPOINT_STATE = "genzoo_state.json"
MODEL_CARD = "README.md"
RUN_CONFIG = "run_config.yaml"  # the resolved training configuration, beside the pipeline
EVAL_RESULTS = "eval_results.json"  # metrics written by `genzoo evaluate` or the best in-training evaluation
SAMPLE_GRID = "samples.png"
FIGURES = "*.png"  # top-level figures: the sample grid and what a family draws from real images
# Weight formats that unpickle, and so can run arbitrary code when loaded; genzoo refuses them.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
# fnmatch's `*` crosses `/`, so figures are allowed as `*.png` and those in sub-folders (intermediate training
# grids under `samples/`) are then ignored.
PIPELINE_IGNORE_PATTERNS = ["*/*.png"]
# The most bytes of weights a pipeline may hold before loading is refused (the free memory caps it further);
# GENZOO_MAX_WEIGHTS_GB overrides both, for a model that really is that large.
MAX_WEIGHTS_ENV_VAR = "GENZOO_MAX_WEIGHTS_GB"
DEFAULT_MAX_WEIGHTS_BYTES = 16 * 2**30
# Keys of eval_results.json that describe the measurement rather than being a metric.
_EVAL_CONTEXT_KEYS = ("features", "dataset", "split", "seed")  # and every num_* key


def pipeline_file_patterns(components: list[str]) -> list[str]:
    """The files of a pipeline with these components, as `huggingface_hub` allow patterns (used with
    `PIPELINE_IGNORE_PATTERNS`): the top-level files and figures, and each component's `config.json` and
    safetensors weights (with the shard index of sharded weights). Uploads and downloads both use this list."""
    patterns = [MODEL_INDEX, MODEL_CARD, RUN_CONFIG, EVAL_RESULTS, FIGURES]
    for component in components:
        patterns += [f"{component}/config.json", f"{component}/*.safetensors", f"{component}/*.safetensors.index.json"]
    return patterns


def pipeline_files(folder: str | Path, *, include_card: bool = False) -> dict[str, Path]:
    """The files of a local pipeline folder that belong to the pipeline (`pipeline_file_patterns`), as
    `{path in repo: local file}`, sorted. The card is left out unless `include_card`, since a push rebuilds it."""
    from huggingface_hub.utils import filter_repo_objects

    folder = Path(folder)
    components = index_components(read_model_index(folder), folder / MODEL_INDEX)
    local = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    patterns = pipeline_file_patterns(list(components))
    if not include_card:
        patterns.remove(MODEL_CARD)
    kept = list(filter_repo_objects(local, allow_patterns=patterns, ignore_patterns=PIPELINE_IGNORE_PATTERNS))
    root = folder.resolve()
    # A link to a private file would upload its target's bytes (and a linked component folder is not listed at all).
    for path in [*(folder / name for name in kept), *(folder / name for name in components)]:
        if path.exists() and not path.resolve().is_relative_to(root):
            raise GenzooError(
                f"{path} is a link to {path.resolve()}, outside the pipeline folder; genzoo uploads only files "
                "inside it, so copy the file in (or remove the link)."
            )
    return {name: folder / name for name in kept}


def index_components(index: dict[str, Any], index_path: Path) -> dict[str, Any]:
    """The components of a parsed `model_index.json` (its keys not starting with `_`), each name checked to be a
    plain identifier: a name is used as a folder name, so `../elsewhere` or `/etc` would read outside the pipeline
    folder."""
    components = {key: value for key, value in index.items() if not key.startswith("_")}
    for name in components:
        if not name.isidentifier():
            raise UnsafePipelineError(
                f"{index_path} names a component {name!r}; a component name must be a plain identifier such as "
                "'model' (it names the component's folder), so genzoo refuses to read it."
            )
    return components


@dataclass
class PipelineFolder:
    """A pipeline folder, opened and checked once by `read_pipeline_folder`.

    Attributes:
        path: the local folder.
        index: the parsed `model_index.json`.
        pipeline_class_name: its `_class_name`.
        pipeline_class: the registered pipeline class of that name; `None` for the base `GenPipeline`.
        components: each component's model registration, by component name (`"model"`).
        run_config: the parsed `run_config.yaml` (empty when the folder has none).
        eval_results: the parsed `eval_results.json` (empty when the folder has none).
    """

    path: Path
    index: dict[str, Any]
    pipeline_class_name: str
    pipeline_class: type | None
    components: dict[str, ModelRegistration]
    run_config: dict[str, Any] = field(default_factory=dict)
    eval_results: dict[str, Any] = field(default_factory=dict)

    @property
    def main_component(self) -> str:
        """The component the card describes: `model`, else the first one."""
        return "model" if "model" in self.components else next(iter(self.components))

    @property
    def registration(self) -> ModelRegistration:
        """The model registration of the main component."""
        return self.components[self.main_component]

    def component_config(self, component: str | None = None) -> dict[str, Any]:
        """The parsed `config.json` of a component (the main one by default)."""
        return read_json(self.path / (component or self.main_component) / "config.json")

    def metrics(self) -> tuple[dict[str, float], dict[str, Any]]:
        """The metrics (finite numbers) of `eval_results.json`, and the measurement context (`num_samples`,
        `features`, ...)."""
        results = self.eval_results
        if isinstance(results.get("metrics"), dict):  # tolerate {"metrics": {...}, ...}
            results = {**{k: v for k, v in results.items() if k != "metrics"}, **results["metrics"]}
        metrics: dict[str, float] = {}
        context: dict[str, Any] = {}
        for key, value in results.items():
            if key in _EVAL_CONTEXT_KEYS or key.startswith("num_") or not _is_number(value):
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    context[key] = value
            else:
                metrics[key] = float(value)
        return metrics, context

    def check_weights(self, variant: str | None = None, *, all_variants: bool = False) -> None:
        """`check_component_weights` for every component (for `variant`, or every variant a component holds), after
        the size cap (`check_weights_size`) on the bytes of all components together, as they would be loaded."""
        checks = [
            (self.path / component, registration.generator_class, each)
            for component, registration in self.components.items()
            for each in ((weight_variants(self.path / component) or [None]) if all_variants else [variant])
        ]
        totals: dict[str | None, int] = {}
        for directory, _, each in checks:
            files = [file for file in weight_files(directory, each) if file.is_file()]
            totals[each] = totals.get(each, 0) + sum(_safetensors_bytes(file) for file in files)
        for total in totals.values():
            check_weights_size(total, self.path)
        for directory, generator_class, each in checks:
            check_component_weights(directory, generator_class, each, check_size=False)


def read_pipeline_folder(folder: str | Path) -> PipelineFolder:
    """Open and check a local pipeline folder: `model_index.json`, the registration of every component and of the
    pipeline class, and the run config and eval results beside them.

    This runs before any module the folder names is imported: a malicious repo could name any module, and
    diffusers would execute a `<component>/<module>.py` (or a top-level `None.py`) as custom code. So it refuses
    modules and pipeline classes no installed plugin registered, Python files anywhere and pickle files in a
    component folder.

    Args:
        folder (`str` or `Path`): a local pipeline folder (see `resolve_pipeline_folder` for repo ids).

    Returns:
        `PipelineFolder`: what the folder holds.

    Raises:
        `GenzooError`: a one-line reason; `UnsafePipelineError` for unregistered code, Python or pickle files.
    """
    folder = Path(folder)
    index = read_model_index(folder)
    index_path = folder / MODEL_INDEX
    code_files = sorted(str(p.relative_to(folder)) for p in [*folder.glob("*.py"), *folder.glob("*/*.py")])
    if code_files:
        raise UnsafePipelineError(
            f"{folder} contains Python files ({', '.join(code_files)}); genzoo pipelines hold no code, so it "
            "refuses to load them."
        )

    registrations = list(models())
    # Compared by name, without importing anything: a registration made with an import string stays unimported.
    generator_classes = {r.reference(): r for r in registrations}
    components = index_components(index, index_path)
    if not components:
        raise GenzooError(f"{index_path} names no components.")
    matched: dict[str, ModelRegistration] = {}
    for component, value in components.items():
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise GenzooError(f"{index_path}: component {component!r} must be [module, class], got {value!r}.")
        module, class_name = value
        registration = generator_classes.get((module, class_name)) or _reexported_match(
            registrations, module, class_name
        )
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
    pipeline_class = _registered_pipeline_class(class_name, [*matched.values(), *registrations])
    if pipeline_class is None and class_name != "GenPipeline":
        raise UnsafePipelineError(
            f"{index_path} asks for pipeline class {class_name!r}, which no installed genzoo plugin registered."
        )
    # diffusers would ignore components the class does not take and then fail on the missing ones in its own terms.
    expected = _expected_components(pipeline_class)
    missing = [name for name in expected if name not in matched]
    if missing:
        names = ", ".join(map(repr, matched))
        raise GenzooError(
            f"{index_path} names the component(s) {names}, but {class_name} needs {', '.join(map(repr, missing))}; "
            "re-save the pipeline (genzoo pipelines name their generator 'model')."
        )
    return PipelineFolder(
        path=folder,
        index=index,
        pipeline_class_name=str(class_name),
        pipeline_class=pipeline_class,
        components=matched,
        run_config=_read_run_config(folder / RUN_CONFIG),
        eval_results=read_json(folder / EVAL_RESULTS) if (folder / EVAL_RESULTS).is_file() else {},
    )


def _reexported_match(registrations: list[ModelRegistration], module: str, name: str) -> ModelRegistration | None:
    """The registration whose class is `module.name` although its import string names another module (a plugin
    that registers `"pkg:Generator"` for a class defined in `pkg.modeling`). Only registered classes of that name
    are imported, never `module` itself."""
    for registration in registrations:
        given = registration.given()
        if isinstance(given, str) and registration.reference()[1] == name:
            imported = registration.generator_class
            if (imported.__module__, imported.__name__) == (module, name):
                return registration
    return None


def _expected_components(pipeline_class: type | None) -> list[str]:
    """The components a pipeline class's `__init__` requires (`GenPipeline`'s when `None`)."""
    if pipeline_class is None:
        return ["model"]
    parameters = inspect.signature(pipeline_class.__init__).parameters
    return [
        name
        for name, parameter in parameters.items()
        if name != "self"
        and parameter.default is inspect.Parameter.empty
        and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]


def _registered_pipeline_class(name: Any, registrations: list[ModelRegistration]) -> type | None:
    for registration in registrations:
        reference = registration.reference("pipeline_class")
        if reference is not None and reference[1] == name:
            return registration.pipeline_class  # imported only now: a registered plugin's class, and needed to load
    return None


def read_model_index(folder: Path) -> dict[str, Any]:
    """The parsed `model_index.json` of a pipeline folder, with a one-line error when it is missing or invalid."""
    index_path = folder / MODEL_INDEX
    if not index_path.is_file():
        if (folder / CHECKPOINT_STATE).is_file() or any(folder.glob("custom_checkpoint_*.pkl")):
            raise GenzooError(
                f"{folder} is a training checkpoint, not a pipeline; save it as one with `genzoo export {folder} -o "
                "DIR` (genzoo.checkpointing.export_checkpoint) and load DIR."
            )
        if (folder / CHECKPOINTS_DIR).is_dir():
            raise GenzooError(
                f"{folder} is a training run that has not saved its pipeline yet (still training, or stopped); "
                f"export its newest checkpoint with `genzoo export {folder} -o DIR` and load DIR."
            )
        raise GenzooError(f"{folder} is not a genzoo pipeline: it has no model_index.json.")
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as exc:
        raise GenzooError(f"{index_path} is not valid JSON: {exc}") from exc
    if not isinstance(index, dict):
        raise GenzooError(f"{index_path} must hold a JSON object.")
    return index


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


def _no_weight_init() -> contextlib.AbstractContextManager:
    """diffusers' `no_init_weights` (torch.nn.init's functions as no-ops), where this diffusers has it."""
    from diffusers.models import modeling_utils  # lazy: imported by then (the generator class is a ModelMixin)

    return getattr(modeling_utils, "no_init_weights", contextlib.nullcontext)()


def check_component_weights(
    directory: Path, generator_class: type, variant: str | None = None, *, check_size: bool = True
) -> None:
    """Check a component's safetensors weights against its `config.json` before diffusers loads them.

    Reading only the safetensors headers and building the model on the meta device, it turns what diffusers would
    report as a long multi-line error, or silently accept (missing tensors are left randomly initialised), into a
    one-line `GenzooError`: no weights, a corrupt file, too many bytes (`check_weights_size`, unless `check_size` is
    off because the caller totals a whole pipeline), or tensors whose names or shapes do not match the config.
    """
    from safetensors import SafetensorError, safe_open

    files = weight_files(directory, variant)
    if not files:
        wanted = f"variant {variant!r}" if variant else WEIGHTS_NAME
        others = [repr(v) if v else "the default" for v in weight_variants(directory) if v != variant]
        hint = f"it has {' and '.join(others)} weights, pass variant= to match" if others else "re-save the pipeline"
        raise GenzooError(f"{directory} has no safetensors weights ({wanted}); {hint}.")
    for file in files:
        if not file.is_file():
            raise GenzooError(f"{file} is missing (listed in the shard index); re-download or re-save the pipeline.")
    # Sparse files can describe tensors far larger than they are on disk, and even opening one maps it all: total
    # the sizes from the headers alone first.
    if check_size:
        check_weights_size(sum(_safetensors_bytes(file) for file in files), directory)
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    for file in files:
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
        # Only the shapes matter: skip the weight initialisers, which run slowly on the meta device.
        with _no_weight_init(), torch.device("meta"):
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


_MAX_HEADER_BYTES = 100_000_000  # the limit the safetensors library itself applies
# Bytes per element of each safetensors dtype (an unknown one counts as 8, to err on the large side).
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


def check_weights_size(num_bytes: int, directory: Path) -> None:
    """Refuse weights larger than the cap (`GENZOO_MAX_WEIGHTS_GB`, else 16 GB or the free memory, whichever is
    smaller) before anything allocates them, in one line naming the size and the override."""
    override = os.environ.get(MAX_WEIGHTS_ENV_VAR)
    if override:
        try:
            limit = int(float(override) * 2**30)
        except ValueError as exc:
            raise GenzooError(f"{MAX_WEIGHTS_ENV_VAR} must be a number of GB, got {override!r}.") from exc
        where = f"{MAX_WEIGHTS_ENV_VAR}={override}"
    else:
        import psutil  # lazy: only loading needs it (an Accelerate dependency)

        available = psutil.virtual_memory().available
        limit = min(DEFAULT_MAX_WEIGHTS_BYTES, available)
        where = "the free memory" if available < DEFAULT_MAX_WEIGHTS_BYTES else "genzoo's default cap"
    if num_bytes > limit:
        raise GenzooError(
            f"The weights in {directory} take {_gigabytes(num_bytes)}, more than {where} ({_gigabytes(limit)}); "
            f"if the model really is that large, set {MAX_WEIGHTS_ENV_VAR} to a larger number of GB."
        )


def _safetensors_bytes(file: Path) -> int:
    """The bytes of the tensors a safetensors file describes, from its header alone (an 8-byte length, then JSON)."""
    try:
        with open(file, "rb") as stream:
            length = int.from_bytes(stream.read(8), "little")
            if not 0 < length <= _MAX_HEADER_BYTES:
                raise ValueError(f"a header of {length} bytes")
            header = json.loads(stream.read(length))
        return sum(
            math.prod(entry["shape"]) * _DTYPE_BYTES.get(entry["dtype"], 8)
            for key, entry in header.items()
            if key != "__metadata__"
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        raise GenzooError(
            f"{file} is not a valid safetensors file ({' '.join(str(exc).split())}): it is corrupt or truncated; "
            "re-download or re-save it."
        ) from exc


def _gigabytes(num_bytes: int) -> str:
    return f"{num_bytes / 2**30:.3g} GB"


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, with a one-line error when it is missing or invalid."""
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise GenzooError(f"{path} is missing; re-save the pipeline.") from exc
    except json.JSONDecodeError as exc:
        raise GenzooError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise GenzooError(f"{path} must hold a JSON object.")
    return value


def _read_run_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise GenzooError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    return values if isinstance(values, dict) else {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
