"""The saved pipeline folder: its file names, one checked reader and the list of its files.

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

`pipeline_files` lists the files of a local folder that belong to the pipeline (what a push uploads): those the
index and its components name, never Python code, pickle files, checkpoints, logs, intermediate grids or a stray
file in a component folder. `pipeline_file_patterns` is the same list as download patterns, for a repo whose files
are not known yet. `read_pipeline_folder` opens and checks a folder once, before anything it names is imported;
`read_json` is the one reader of genzoo's JSON files. Downloading and publishing are `genzoo.hub`'s.
"""

import inspect
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import GenzooError, UnsafePipelineError
from .registry import ModelRegistration, models

__all__ = [
    "CHECKPOINTS_DIR",
    "CHECKPOINT_STATE",
    "EVAL_RESULTS",
    "MAX_EVAL_RESULTS_BYTES",
    "MAX_JSON_BYTES",
    "MODEL_CARD",
    "MODEL_INDEX",
    "RUN_CONFIG",
    "SAMPLES_DIR",
    "SAMPLE_GRID",
    "PipelineFolder",
    "check_component_weights",
    "check_is_pipeline_folder",
    "check_weights_size",
    "component_files",
    "index_components",
    "pipeline_file_patterns",
    "pipeline_files",
    "read_json",
    "read_model_index",
    "read_pipeline_folder",
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
SAMPLES_DIR = "samples"  # a run folder's grids of fixed-latent samples, one per logging step
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
_EVAL_CONTEXT_KEYS = ("features", "dataset", "split", "seed", "reference_stats")  # and every num_* key
# Eval results are a few hundred bytes of numbers and names; the card repeats strings of at most this length.
MAX_EVAL_RESULTS_BYTES = 2**20
MAX_CONTEXT_STRING = 100


def pipeline_file_patterns(components: list[str]) -> list[str]:
    """The files of a pipeline with these components, as `huggingface_hub` allow patterns (used with
    `PIPELINE_IGNORE_PATTERNS`), for a download, which cannot list a repo's files before it has them: the top-level
    files and figures, and each component's `config.json` and diffusers-named safetensors weights (with the shard
    index of sharded weights). A push uploads the narrower `pipeline_files`."""
    stem = WEIGHTS_NAME.rsplit(".", 1)[0]
    patterns = [MODEL_INDEX, MODEL_CARD, RUN_CONFIG, EVAL_RESULTS, FIGURES]
    for component in components:
        patterns += [f"{component}/config.json", f"{component}/{stem}*.safetensors"]
        patterns.append(f"{component}/{stem}*.safetensors.index.json")
    return patterns


def component_files(directory: Path) -> list[Path]:
    """The files of a component folder that belong to the pipeline: `config.json`, and for every weight variant
    the weights file or the shard index and exactly the shards it lists. Anything else in the folder (a stray
    `.safetensors`, notes, caches) is not part of the pipeline."""
    stem, suffix = WEIGHTS_NAME.rsplit(".", 1)
    files = [directory / "config.json"]
    for variant in weight_variants(directory):
        index = directory / (f"{stem}.{variant}.{suffix}" if variant else WEIGHTS_NAME)
        index = index.with_name(index.name + ".index.json")
        files += [index] if index.is_file() else []
        files += weight_files(directory, variant)
    return [file for file in files if file.is_file()]


def pipeline_files(folder: str | Path, *, include_card: bool = False) -> dict[str, Path]:
    """The files of a local pipeline folder that belong to the pipeline, as `{path in repo: local file}`, sorted:
    `model_index.json`, the files of each component it names (`component_files`), the run config, eval results and
    top-level figures genzoo writes beside them. The card is left out unless `include_card`, since a push rebuilds
    it. A file linked from outside the folder is refused (it would publish a private file's bytes)."""
    folder = Path(folder)
    components = index_components(read_model_index(folder), folder / MODEL_INDEX)
    names = [MODEL_INDEX, RUN_CONFIG, EVAL_RESULTS, *([MODEL_CARD] if include_card else [])]
    names += [path.name for path in folder.glob(FIGURES)]
    root = folder.resolve()
    for component in components:
        directory = folder / component
        if directory.exists() and not directory.resolve().is_relative_to(root):
            _refuse_link(directory)
        names += [file.relative_to(folder).as_posix() for file in component_files(directory)]
    kept = sorted({name for name in names if (folder / name).is_file()})
    for name in kept:
        if not (folder / name).resolve().is_relative_to(root):
            _refuse_link(folder / name)
    return {name: folder / name for name in kept}


def _refuse_link(path: Path) -> None:
    raise GenzooError(
        f"{path} is a link to {path.resolve()}, outside the pipeline folder; genzoo uploads only files inside it, so "
        "copy the file in (or remove the link)."
    )


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
        `features`, ...): only numbers and short strings of the known context keys, since a card repeats them."""
        results = self.eval_results
        if isinstance(results.get("metrics"), dict):  # tolerate {"metrics": {...}, ...}
            results = {**{k: v for k, v in results.items() if k != "metrics"}, **results["metrics"]}
        metrics: dict[str, float] = {}
        context: dict[str, Any] = {}
        for key, value in results.items():
            if not isinstance(key, str) or len(key) > MAX_CONTEXT_STRING:
                continue
            if key in _EVAL_CONTEXT_KEYS or key.startswith("num_"):
                if _is_number(value) or (isinstance(value, str) and 0 < len(value) <= MAX_CONTEXT_STRING):
                    context[key] = value
            elif _is_number(value):
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
        folder (`str` or `Path`): a local pipeline folder (`genzoo.hub.download_pipeline` fetches a repo id).

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
        eval_results=read_json(folder / EVAL_RESULTS, max_bytes=MAX_EVAL_RESULTS_BYTES)
        if (folder / EVAL_RESULTS).is_file()
        else {},
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


def check_is_pipeline_folder(folder: Path, name: str | None = None) -> None:
    """Refuse, in one line, a folder without `model_index.json`: a training checkpoint or a run that has not saved its
    pipeline yet gets the `genzoo export` command that turns it into one. `name` is how the user wrote the path.
    Reads no file and imports nothing heavy, so the CLI asks it before torch loads."""
    name = name or str(folder)
    if (folder / MODEL_INDEX).is_file():
        return
    if (folder / CHECKPOINT_STATE).is_file() or any(folder.glob("custom_checkpoint_*.pkl")):
        raise GenzooError(
            f"{name} is a training checkpoint, not a pipeline; save it as one with `genzoo export {name} -o DIR` "
            "(genzoo.training.export_checkpoint) and use DIR."
        )
    if (folder / CHECKPOINTS_DIR).is_dir():
        raise GenzooError(
            f"{name} is a training run that has not saved its pipeline yet (still training, or stopped); export its "
            f"newest checkpoint with `genzoo export {name} -o DIR` and use DIR."
        )
    raise GenzooError(f"{name} is not a genzoo pipeline: it has no {MODEL_INDEX}.")


def read_model_index(folder: Path) -> dict[str, Any]:
    """The parsed `model_index.json` of a pipeline folder, with a one-line error when it is missing or invalid."""
    check_is_pipeline_folder(folder)
    return read_json(folder / MODEL_INDEX)


def weight_files(directory: Path, variant: str | None = None) -> list[Path]:
    """The safetensors files diffusers loads for a component: the single weights file, or the shards its index
    lists (`diffusion_pytorch_model[.variant].safetensors[.index.json]`)."""
    stem, suffix = WEIGHTS_NAME.rsplit(".", 1)
    name = f"{stem}.{variant}.{suffix}" if variant else WEIGHTS_NAME
    index_path = directory / f"{name}.index.json"
    if index_path.is_file():
        weight_map = read_json(index_path).get("weight_map")
        shards = sorted(set(weight_map.values())) if isinstance(weight_map, dict) else None
        # A shard is a file beside the index: a path ("../x") would read or publish a file from elsewhere.
        if not shards or not all(isinstance(s, str) and s and Path(s).name == s and s != ".." for s in shards):
            raise GenzooError(
                f"{index_path} is not a valid safetensors shard index: its weight_map must name shard files beside "
                "it; re-save the pipeline."
            )
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

    from .modeling import meta_model, model_bytes  # lazy: torch and diffusers, only once weights are checked

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
        read_json(directory / "config.json")  # bounded, UTF-8, not nested too deeply, 64-bit integers
        config = generator_class.load_config(directory)
        # Only the shapes matter: skip the weight initialisers, which run slowly on the meta device.
        model = meta_model(generator_class, config, where=directory / "config.json")
    except (OSError, ValueError, TypeError) as exc:
        raise GenzooError(
            f"{directory / 'config.json'} does not describe a valid {generator_class.__name__}: "
            f"{' '.join(str(exc).split())}"
        ) from exc
    except (RuntimeError, NotImplementedError):  # a constructor that needs real tensors: leave the check to diffusers
        return
    # The config decides what loading allocates, whatever the weight files say: bound it before diffusers builds it.
    check_weights_size(
        model_bytes(model), directory, what=f"The weights of the model {directory / 'config.json'} describes"
    )
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


def check_weights_size(num_bytes: int, directory: Path, *, what: str | None = None) -> None:
    """Refuse weights larger than the cap (`GENZOO_MAX_WEIGHTS_GB`, else 16 GB or the free memory, whichever is
    smaller) before anything allocates them, in one line naming the size and the override (`what` names what takes
    them: the weights in `directory` by default)."""
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
            f"{what or f'The weights in {directory}'} take {_gigabytes(num_bytes)}, more than {where} "
            f"({_gigabytes(limit)}); "
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
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # JSON errors too
        raise GenzooError(
            f"{file} is not a valid safetensors file ({' '.join(str(exc).split())}): it is corrupt or truncated; "
            "re-download or re-save it."
        ) from exc


def _gigabytes(num_bytes: int) -> str:
    return f"{num_bytes / 2**30:.3g} GB"


# The largest JSON file genzoo reads (configs, indexes, eval results and checkpoint states are kilobytes); larger
# ones are refused before they are read, so a planted file cannot fill memory or the model card.
MAX_JSON_BYTES = 16 * 2**20
_INT64 = 2**63


def read_json(
    path: str | os.PathLike, *, max_bytes: int = MAX_JSON_BYTES, what: str = "a JSON object"
) -> dict[str, Any]:
    """Read one of genzoo's JSON files (`model_index.json`, configs, shard indexes, eval results, checkpoint states):
    the one reader, so every such file is bounded the same way.

    Args:
        path (`str` or `os.PathLike`): the file.
        max_bytes (`int`, defaults to 16 MiB): refuse larger files before reading them.
        what (`str`): what the file must hold, for the message.

    Returns:
        `dict`: the parsed object.

    Raises:
        `GenzooError`: one line naming the file, when it is missing, too large, not UTF-8, not JSON, nested too deeply
            to parse, holds an integer beyond 64 bits, or is not an object.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise GenzooError(
                f"{path} takes {size:,} bytes, more than the {max_bytes:,} genzoo reads from a JSON file; it is not "
                "a file genzoo wrote, so replace it (re-save the pipeline or re-run the command that wrote it)."
            )
        text = path.read_bytes().decode("utf-8")
        value = json.loads(text, parse_int=_int64)
    except FileNotFoundError as exc:
        raise GenzooError(f"{path} is missing; re-save the pipeline.") from exc
    except IsADirectoryError as exc:
        raise GenzooError(f"{path} is a folder, not a JSON file.") from exc
    except UnicodeDecodeError as exc:
        raise GenzooError(f"{path} is not valid UTF-8 JSON (byte {exc.start} cannot be decoded).") from exc
    except RecursionError as exc:  # json recurses once per nesting level
        raise GenzooError(f"{path} is not valid JSON: it is nested too deeply to read.") from exc
    except json.JSONDecodeError as exc:
        raise GenzooError(f"{path} is not valid JSON: {exc}") from exc
    except ValueError as exc:  # an integer beyond 64 bits (or beyond Python's digit limit)
        raise GenzooError(f"{path} is not valid JSON for genzoo: {' '.join(str(exc).split())}") from exc
    if not isinstance(value, dict):
        raise GenzooError(f"{path} must hold {what}.")
    return value


def _int64(text: str) -> int:
    """An integer of a JSON file, which must fit 64 bits (a size of 2**63 would only fail later, allocating)."""
    if len(text.lstrip("-")) > 19 or not -_INT64 <= (value := int(text)) < _INT64:
        raise ValueError(f"the integer {text[:24]}{'...' if len(text) > 24 else ''} does not fit 64 bits")
    return value


# A run config genzoo writes is about a kilobyte; a larger one, or one whose aliases expand to more nodes, is not
# read (a YAML alias bomb expands exponentially).
MAX_RUN_CONFIG_BYTES = 2**20
MAX_YAML_NODES = 100_000


def _read_run_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    if path.stat().st_size > MAX_RUN_CONFIG_BYTES:
        raise GenzooError(
            f"{path} takes {path.stat().st_size:,} bytes, more than the {MAX_RUN_CONFIG_BYTES:,} of a run config; "
            "it is not one genzoo wrote, so replace or remove it."
        )
    try:
        loader = yaml.SafeLoader(path.read_bytes().decode("utf-8"))
        try:
            node = loader.get_single_node()
            if node is not None and _yaml_nodes(node) > MAX_YAML_NODES:
                raise GenzooError(
                    f"{path} expands to more than {MAX_YAML_NODES:,} values (YAML aliases); a run config genzoo "
                    "writes has none, so replace it."
                )
            values = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except UnicodeDecodeError as exc:
        raise GenzooError(f"{path} is not valid UTF-8 YAML (byte {exc.start} cannot be decoded).") from exc
    except RecursionError as exc:
        raise GenzooError(f"{path} is not valid YAML: it is nested too deeply to read.") from exc
    except yaml.YAMLError as exc:
        raise GenzooError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    return values if isinstance(values, dict) else {}


def _yaml_nodes(root: yaml.Node) -> int:
    """How many nodes a composed YAML document holds with every alias expanded, counted up to just past the limit
    (an alias is the same node object again, so the count follows the expansion without building it)."""
    count, stack = 0, [root]
    while stack and count <= MAX_YAML_NODES:
        node = stack.pop()
        count += 1
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += [key, value]
    return count


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
