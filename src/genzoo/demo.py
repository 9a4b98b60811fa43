"""`genzoo demo`: a Gradio app for any saved pipeline, with a tab for each thing the pipeline can do.

The app asks the pipeline what it supports (`pipe.supported_tasks()`, or the methods it has when the pipeline is
older than that method) and shows only those tabs:

| tab | shown when the pipeline supports | what it does |
| --- | --- | --- |
| Sample | always | a grid from a seed; a class picker (by class name) and a truncation slider when supported |
| Interpolate | `interpolate` | the slerp path between the latents of two seeds |
| Explore | an explore task of the table | a slider per SeFa direction (or latent dimension), and a traversal grid |
| Restore | a restore task of the table | pick the task and its options, upload an image (draw a mask), restore it |
| About | always | the model card |

The table is genzoo's task table (`genzoo.tasks`): a plugin's restore task gets a choice and its option controls.

Gradio is an optional extra (the `demo` extra: `pip install -e ".[demo]"` in a clone), imported only when an app is
built. Errors in what the user gave (an upload of the wrong size or mode, a missing model) are shown in the page as
one line, never as a traceback.
"""

import functools
import inspect
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import PIL.Image
import torch

from .errors import GenzooError
from .images import grid_shape, open_image, to_output, to_pixels

if TYPE_CHECKING:
    import gradio as gr

    from .pipeline import GenPipeline

__all__ = [
    "DemoSession",
    "build_app",
    "error_app",
    "export_space",
    "launch",
    "load_app",
    "plugin_requirements",
    "supported_tasks",
    "theme",
]

logger = logging.getLogger(__name__)

#: The pipeline features the demo shows besides the task table's tasks (the Sample and Interpolate tabs' controls).
_FEATURE_METHODS = {"interpolate": "interpolate", "reconstruct": "reconstruct"}
EXPLORE_SLIDERS = 8  # at most this many direction sliders: SeFa's top directions carry most of the change
DISPLAY_SIZE = 128  # small images are enlarged by a whole factor (nearest neighbour) to at least this size
SPACE_MODEL_VARIABLE = "GENZOO_DEMO_MODEL"  # overrides the exported Space's repo id, e.g. with a local folder
#: Uploads above this many pixels are refused before they are decoded (the models work on images of at most a few
#: hundred pixels a side; a 10k × 10k PNG of 97 KB would decode to 300 MB).
MAX_UPLOAD_PIXELS = 2048 * 2048
#: The largest upload the server accepts, and how many requests run at once (the rest wait in Gradio's queue).
MAX_FILE_SIZE = "10mb"
CONCURRENCY_LIMIT = 2
QUEUE_SIZE = 32
#: Seeds are 64-bit (what `torch.Generator.manual_seed` takes).
MAX_SEED = 2**63 - 1


def supported_tasks(pipe: "GenPipeline") -> frozenset[str]:
    """What `pipe` can do: sampling features and the names of the task table's tasks (`genzoo.registry.tasks()`).

    Uses `pipe.supported_tasks()` when the pipeline has it; otherwise infers the tasks from the methods it has, the
    model's classes and whether `__call__` takes `truncation`.

    Args:
        pipe (`GenPipeline`): a loaded pipeline.

    Returns:
        `frozenset[str]`: the supported tasks; `"sample"` is always among them.
    """
    method = getattr(pipe, "supported_tasks", None)
    if callable(method):
        return frozenset(method()) | {"sample"}
    from .registry import tasks as task_table

    tasks = {"sample"}
    tasks |= {feature for feature, name in _FEATURE_METHODS.items() if callable(getattr(pipe, name, None))}
    tasks |= {task.name for task in task_table() if callable(getattr(pipe, task.method, None))}
    if pipe.model.num_classes:
        tasks.add("class_labels")
    gaussian = getattr(pipe.model, "latent_prior", "gaussian") == "gaussian"  # truncation redraws Gaussian components
    if gaussian and "truncation" in inspect.signature(pipe.__call__).parameters:
        tasks.add("truncation")
    return frozenset(tasks)


class DemoSession:
    r"""The demo's logic without the user interface: each method takes what a tab's controls hold and returns the
    images to show, raising `GenzooError` or `ValueError` with one line for bad input.

    Args:
        pipe (`GenPipeline`): the pipeline to demonstrate (moved to `device`).
        device (`str`, *optional*): torch device; defaults to CUDA when available.
        folder (`str` or `Path`, *optional*): the pipeline's folder, for the model card (defaults to the folder the
            pipeline was loaded from).
    """

    def __init__(
        self, pipe: "GenPipeline", device: str | None = None, folder: str | os.PathLike | None = None
    ) -> None:
        self.pipe = pipe.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tasks = supported_tasks(pipe)
        model = pipe.model
        self.num_classes = model.num_classes
        names = getattr(pipe, "class_names", None) if self.num_classes else None
        self.class_names = [str(name) for name in names] if names else [str(i) for i in range(self.num_classes)]
        # One image tells the size and channels a generator makes, whatever its config calls them.
        with torch.no_grad():
            probe = pipe(batch_size=1, generator=torch.Generator().manual_seed(0), output_type="pt").images
        self.channels, self.image_size = int(probe.shape[1]), int(probe.shape[-1])
        name = getattr(pipe, "name_or_path", None)
        self.folder = Path(folder) if folder else (Path(name) if name and Path(name).is_dir() else None)
        self._directions: tuple[torch.Tensor, list[str]] | None = None

    # -- what the tabs show ----------------------------------------------------------------------------------------
    @property
    def image_mode(self) -> str:
        return "L" if self.channels == 1 else "RGB"

    @property
    def display_scale(self) -> int:
        """The whole factor by which images are enlarged for the page (1 for images of `DISPLAY_SIZE` or more)."""
        return max(1, DISPLAY_SIZE // self.image_size)

    @property
    def restore_tasks(self) -> list[str]:
        """The names of the table's restore tasks this pipeline supports, in the table's order."""
        from .registry import tasks

        return [task.name for task in tasks() if task.group == "restoration" and task.name in self.tasks]

    @property
    def explores(self) -> bool:
        """Whether any of the table's explore tasks applies (the Explore tab)."""
        from .registry import tasks

        return any(task.group == "exploration" and task.name in self.tasks for task in tasks())

    @property
    def explore_labels(self) -> list[str]:
        return self.directions()[1]

    def model_card(self) -> str:
        """The model card's Markdown without its YAML header and images (the page cannot show relative files)."""
        text = ""
        if self.folder is not None and (self.folder / "README.md").is_file():
            text = (self.folder / "README.md").read_text()
        elif self.folder is not None:
            try:
                from . import hub

                text = str(hub.build_model_card(self.folder))
            except (GenzooError, OSError, ValueError) as exc:
                text = f"No model card: {exc}"
        text = _without_dataset_path(text, self.folder)
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.DOTALL)
        text = re.sub(r"!\[[^\]]*\]\([^)]*\)\n?", "", text)
        return text.strip() or f"A `{type(self.pipe).__name__}` with no model card."

    # -- Sample ----------------------------------------------------------------------------------------------------
    def sample(
        self, seed: float, num_images: float, class_name: str | None = None, truncation: float | None = None
    ) -> PIL.Image.Image:
        r"""A grid of `num_images` samples for `seed`.

        Args:
            seed (`int`): seeds the latents.
            num_images (`int`): images in the grid (1 to 64).
            class_name (`str`, *optional*): for a conditional model, one class's name, or `None` (or `""`) for
                one column per class.
            truncation (`float`, *optional*): the truncation threshold (`GenPipeline.__call__`'s `truncation`) for
                pipelines that support it; 0 (or `None`) turns it off.

        Returns:
            `PIL.Image.Image`: the grid, enlarged for the page.
        """
        seed, count = _whole(seed, "seed", 0, MAX_SEED), _whole(num_images, "number of images")
        if not 1 <= count <= 64:
            raise ValueError(f"The number of images must be between 1 and 64, got {count}.")
        kwargs: dict[str, Any] = {}
        columns_per_class = 0
        if self.num_classes:
            if class_name:
                kwargs["class_labels"] = [self.class_index(class_name)] * count
            elif count % self.num_classes == 0:  # row by row, one column per class
                kwargs["class_labels"] = [i % self.num_classes for i in range(count)]
                columns_per_class = self.num_classes
        if truncation is not None and float(truncation) > 0:
            if "truncation" not in self.tasks:
                raise ValueError(f"{type(self.pipe).__name__} does not support truncation.")
            kwargs["truncation"] = float(truncation)
        images = self.pipe(batch_size=count, generator=torch.Generator().manual_seed(seed), **kwargs).images
        rows, columns = grid_shape(count, columns_per_class)
        return self._show(_grid(images, rows, columns))

    # -- Interpolate -----------------------------------------------------------------------------------------------
    def interpolate(
        self, seed_a: float, seed_b: float, steps: float, class_name: str | None = None
    ) -> PIL.Image.Image:
        """A row of `steps` images on the slerp path from the latent of `seed_a` to that of `seed_b`."""
        seed_a, seed_b = _whole(seed_a, "first seed", 0, MAX_SEED), _whole(seed_b, "second seed", 0, MAX_SEED)
        steps = _whole(steps, "steps")
        if not 2 <= steps <= 16:
            raise ValueError(f"The number of steps must be between 2 and 16, got {steps}.")
        start, end = self._latent(seed_a), self._latent(seed_b)
        label = None
        if self.num_classes:
            label = self.class_index(class_name) if class_name else 0
        images = self.pipe.interpolate(start=start, end=end, steps=steps, class_labels=label).images
        return self._show(_grid(images, 1, steps))

    # -- Explore ---------------------------------------------------------------------------------------------------
    def directions(self) -> tuple[torch.Tensor, list[str]]:
        """The directions the Explore sliders move along, `(k, latent_size)`, and their labels: the top SeFa
        directions when the pipeline finds directions, else the first latent dimensions."""
        if self._directions is None:
            size = int(np.prod(self.pipe.model.latent_shape))
            k = min(EXPLORE_SLIDERS, size)
            found = None
            if self.explores:
                try:  # SeFa needs a linear first layer on the latent; a model with an encoder has KL-ranked dims
                    found = self.pipe.find_directions(method="sefa", num_directions=k)
                except GenzooError:
                    found = self.pipe.find_directions(method="dims", num_directions=k)
            if found is not None:
                vectors = torch.as_tensor(found.directions, dtype=torch.float32).reshape(-1, size)[:k]
                strengths = [float(s) for s in torch.as_tensor(found.strengths).flatten()[:k]]
                labels = [f"direction {i + 1} (strength {s:.3g})" for i, s in enumerate(strengths)]
            else:
                vectors, labels = torch.eye(size)[:k], [f"latent dimension {i}" for i in range(k)]
            self._directions = vectors.cpu(), labels
        return self._directions

    def explore(self, seed: float, *amounts: float, class_name: str | None = None) -> PIL.Image.Image:
        """The image of `seed`'s latent moved by `amounts[i]` along direction `i`, enlarged for the page."""
        return self._show(self._moved(_whole(seed, "seed", 0, MAX_SEED), amounts, class_name))

    def traverse(
        self, seed: float, index: float, extent: float = 3.0, class_name: str | None = None
    ) -> PIL.Image.Image:
        """A row of 7 images moving `seed`'s latent along direction `index`, from `-extent` to `extent`."""
        vectors, labels = self.directions()
        seed, index = _whole(seed, "seed", 0, MAX_SEED), _whole(index, "direction")
        if not 0 <= index < len(labels):
            raise ValueError(f"Pick a direction between 1 and {len(labels)}.")
        values = torch.linspace(-float(extent), float(extent), 7).tolist()
        if self.explores:
            latents = self._latent(seed).reshape(1, *self.pipe.model.latent_shape)
            target: Any = vectors[index]
            options = {"class_labels": [self.class_index(class_name)]} if self.num_classes and class_name else {}
            grid = self.pipe.traverse(target, values=values, latents=latents, **options)
            return self._show(grid if isinstance(grid, PIL.Image.Image) else _grid(list(grid), 1, len(values)))
        images = [self._moved(seed, [0.0] * index + [value], class_name) for value in values]
        return self._show(_grid(images, 1, len(values)))

    def _moved(self, seed: int, amounts: Any, class_name: str | None) -> PIL.Image.Image:
        vectors, _ = self.directions()
        latent = self._latent(seed).flatten()
        for amount, vector in zip(amounts, vectors, strict=False):
            latent = latent + float(amount) * vector
        label = [self.class_index(class_name) if class_name else 0] if self.num_classes else None
        return self.pipe(latents=latent.reshape(1, *self.pipe.model.latent_shape), class_labels=label).images[0]

    # -- Restore ---------------------------------------------------------------------------------------------------
    def restore(
        self,
        task: str,
        editor: Any,
        *,
        degrade_first: bool = False,
        class_name: str | None = None,
        seed: float = 0,
        add_noise: bool | None = None,
        **option_values: Any,
    ) -> tuple[PIL.Image.Image, PIL.Image.Image]:
        r"""Restore an uploaded image with one of the task table's restore tasks (`pipe.inpaint`, `super_resolve`,
        `denoise` or a plugin's).

        Args:
            task (`str`): the task's name (`"inpaint"`, `"super_resolve"`, `"denoise"`, ...).
            editor (`dict` or `PIL.Image.Image`): the image editor's value (`background` plus the drawn `layers`) or
                an image. A task that takes a mask repaints where the layers are drawn.
            degrade_first (`bool`, defaults to `False`): treat the upload as a clean image and degrade it first with
                the task's degradation (`Degradation.degrade`: add the noise, ...). A full-size upload to a task whose
                observations are smaller (super-resolution) is always degraded first.
            class_name (`str`, *optional*): the class, for a conditional model (else unknown).
            seed (`int`, defaults to 0): seeds the restoration (restarts) and the simulated degradation.
            add_noise (`bool`, *optional*): the older name of `degrade_first`.
            option_values: the task's options (`scale=4`, `noise_std=0.2`); options of other tasks are ignored, so
                one handler can pass every control of the Restore tab.

        Returns:
            `tuple[PIL.Image.Image, PIL.Image.Image]`: what the model was given (the masked, reduced or noisy image)
            and the restored image, both enlarged for the page.
        """
        from .registry import get_task

        if task not in self.restore_tasks:
            raise ValueError(f"{type(self.pipe).__name__} cannot {task.replace('_', '-')}.")
        entry = get_task(task)
        background, layers = _editor_parts(editor)
        if background is None:
            raise ValueError("Upload an image first.")
        seed_value = _whole(seed, "seed", 0, MAX_SEED)
        options = entry.resolve_options({o.name: option_values.get(o.name) for o in entry.options})
        common: dict[str, Any] = {"generator": torch.Generator().manual_seed(seed_value)}
        if self.num_classes and class_name:
            common["class_labels"] = [self.class_index(class_name)]
        common = entry.call_options(self.pipe, **common)  # a family's own implementation takes what it names
        method = getattr(self.pipe, entry.method)
        size = self.image_size
        if "mask_image" in entry.inputs:  # the drawn layers are the mask; the pipeline takes PIL images
            image = self.check_image(background, size)
            mask = _drawn_mask(layers, background.size, size)
            if not mask.getbbox():
                raise ValueError("Draw the region to repaint on the image with the brush first.")
            restored = method(image=image, mask_image=mask, **options, **common).images[0]
            shown = PIL.Image.composite(PIL.Image.new(image.mode, image.size, 128), image, mask)
            return self._show(shown), self._show(restored)
        degradation = entry.degradation(**options)
        observed_size = degradation.observed_size(size)
        if background.size == (size, size) and (observed_size != size or degrade_first or add_noise):
            clean = to_pixels(self.check_image(background, size), self.channels)
            observed = degradation.degrade(clean, generator=torch.Generator().manual_seed(seed_value))
        else:
            observed = to_pixels(self.check_image(background, observed_size), self.channels)
        restored = method(image=observed, **options, **common).images[0]
        shown = to_output(degradation.display(observed, size).clamp(0, 1), "pil")[0]
        return self._show(shown), self._show(restored)

    def check_image(self, image: PIL.Image.Image, size: int) -> PIL.Image.Image:
        """`image` as the model's mode at `size` × `size` pixels, or a one-line error naming what is wrong.

        An upload a whole number of times larger (such as an image this page showed) is reduced to `size`; a colour
        image is refused by a grayscale model (gray RGB images, as the image editor returns them, are accepted).
        """
        width, height = image.size
        if width != height or width % size:
            raise ValueError(
                f"The image is {width}×{height} pixels; this model works on {size}×{size} images (or a whole multiple "
                "of that, such as the images this page shows). Resize it first."
            )
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            image = _flatten_alpha(image)
        if self.channels == 1:
            rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
            if np.abs(rgb - rgb.mean(axis=2, keepdims=True)).max() > 8:
                raise ValueError("The image is in colour; this model makes grayscale images. Upload a grayscale one.")
            image = image.convert("L")
        elif self.channels == 3:
            image = image.convert("RGB")
        else:
            raise ValueError(f"This demo restores 1- or 3-channel images; the model makes {self.channels} channels.")
        if width != size:
            image = image.resize((size, size), PIL.Image.Resampling.BOX)
        return image

    # -- helpers ---------------------------------------------------------------------------------------------------
    def class_index(self, class_name: str) -> int:
        if class_name not in self.class_names:
            raise ValueError(f"Unknown class {class_name!r}; pick one of {', '.join(self.class_names)}.")
        return self.class_names.index(class_name)

    def _latent(self, seed: int) -> torch.Tensor:
        return self.pipe.model.sample_latents(1, generator=torch.Generator().manual_seed(seed), device="cpu")[0]

    def _show(self, image: PIL.Image.Image) -> PIL.Image.Image:
        if self.channels == 1:  # grids come back as RGB: show (and serve) grayscale as grayscale
            image = image.convert("L")
        scale = self.display_scale
        if scale == 1:
            return image
        return image.resize((image.width * scale, image.height * scale), PIL.Image.Resampling.NEAREST)


def _without_dataset_path(text: str, folder: Path | None) -> str:
    """The card's text with the training dataset's folder shown by its name only (an absolute path tells visitors
    about the machine it was trained on)."""
    if folder is None or not (folder / "run_config.yaml").is_file():
        return text
    try:
        import yaml

        spec = (yaml.safe_load((folder / "run_config.yaml").read_text()) or {}).get("dataset")
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        return text
    if not isinstance(spec, str):
        return text
    prefix, _, argument = spec.rpartition(":") if ":" in spec and not Path(spec).is_absolute() else ("", "", spec)
    if not (argument.startswith(("/", "~", ".")) or Path(argument).is_absolute()):
        return text
    name = Path(argument.rstrip("/\\")).name or argument
    return text.replace(spec, f"{prefix}:{name}" if prefix else name).replace(argument, name)


def _whole(value: Any, what: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number from a page control (numbers arrive as floats), within `[minimum, maximum]`, or a one-line
    error (a seed beyond 64 bits would otherwise end in torch's "Overflow when unpacking long long")."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"The {what} must be a whole number, got {value!r}.") from None
    if not number.is_integer():
        raise ValueError(f"The {what} must be a whole number, got {value!r}.")
    whole = int(value) if isinstance(value, int) else int(number)
    if (minimum is not None and whole < minimum) or (maximum is not None and whole > maximum):
        raise ValueError(f"The {what} must be between {minimum} and {maximum}, got {whole}.")
    return whole


def _grid(images: list[PIL.Image.Image], rows: int, columns: int) -> PIL.Image.Image:
    from diffusers.utils import make_image_grid

    return make_image_grid(images, rows, columns)


def _flatten_alpha(image: PIL.Image.Image) -> PIL.Image.Image:
    """Transparent pixels on black, the background of the digits genzoo's examples use."""
    rgba = image.convert("RGBA")
    flat = PIL.Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    flat.alpha_composite(rgba)
    return flat.convert("RGB")


def _editor_parts(value: Any) -> tuple[PIL.Image.Image | None, list[PIL.Image.Image]]:
    """The uploaded image and the drawn layers of an image editor value (a plain image has no layers)."""
    if value is None or isinstance(value, PIL.Image.Image):
        return value, []
    if not isinstance(value, dict):
        raise ValueError(f"Unexpected image value of type {type(value).__name__}.")
    layers = [layer for layer in value.get("layers") or [] if isinstance(layer, PIL.Image.Image)]
    return value.get("background"), layers


def _drawn_mask(layers: list[PIL.Image.Image], canvas: tuple[int, int], size: int) -> PIL.Image.Image:
    """White where any layer is painted (alpha > 0), reduced to `size`: a model pixel is repainted when any of the
    screen pixels over it was painted."""
    painted = np.zeros((canvas[1], canvas[0]), dtype=bool)
    for layer in layers:
        alpha = np.asarray(layer.convert("RGBA"))[..., 3] > 0
        if alpha.shape != painted.shape:
            alpha = np.asarray(layer.convert("RGBA").resize(canvas, PIL.Image.Resampling.NEAREST))[..., 3] > 0
        painted |= alpha
    mask = PIL.Image.fromarray((painted * 255).astype(np.uint8), mode="L")
    if canvas != (size, size):
        mask = mask.resize((size, size), PIL.Image.Resampling.BOX).point(lambda v: 255 if v else 0)
    return mask


# -- the Gradio app ----------------------------------------------------------------------------------------------
def _gradio() -> Any:
    """Gradio, imported on first use (an optional extra), with its usage analytics off."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as exc:
        raise GenzooError(
            f"`genzoo demo` needs Gradio, which is not installed ({exc}); install the demo extra: pip install "
            "'gradio>=6,<7' (or, in a clone of genzoo, pip install -e '.[demo]')."
        ) from exc
    return gradio


def _in_page(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run a handler, turning every error into Gradio's in-page message (one line, never a traceback)."""
    gr = _gradio()

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except gr.Error:
            raise
        except (GenzooError, ValueError) as exc:
            raise gr.Error(" ".join(str(exc).split()), print_exception=False) from None
        except Exception as exc:  # a bug or a resource problem: say what, log the traceback for the operator
            logger.exception("genzoo demo: %s failed", function.__name__)
            raise gr.Error(f"{type(exc).__name__}: {' '.join(str(exc).split())}", print_exception=False) from None

    return wrapper


def theme() -> Any:
    """A Gradio theme with the system's fonts, so that the page loads nothing from the internet."""
    gr = _gradio()
    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )


def build_app(session: DemoSession, title: str | None = None) -> "gr.Blocks":
    r"""The Gradio app for a `DemoSession`, with the tabs its pipeline supports.

    Args:
        session (`DemoSession`): the pipeline and its demo logic.
        title (`str`, *optional*): the page's title; defaults to the pipeline folder's name.

    Returns:
        `gradio.Blocks`: the app; call `.launch()` on it, or use `launch()`.
    """
    gr = _gradio()
    tasks = session.tasks
    title = title or (session.folder.name if session.folder else type(session.pipe).__name__)
    class_picker = functools.partial(_class_picker, gr, session.class_names)

    # Uploads land in Gradio's temporary folder: delete them hourly, and all of them when the server stops.
    with gr.Blocks(title=f"genzoo demo: {title}", delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"# {title}\nA genzoo `{type(session.pipe).__name__}`: {_task_summary(tasks)}.")
        with gr.Tabs():
            _sample_tab(gr, app, session, class_picker)
            if "interpolate" in tasks:
                _interpolate_tab(gr, session, class_picker)
            if session.explores:
                _explore_tab(gr, app, session, class_picker)
            if session.restore_tasks:
                _restore_tab(gr, session, class_picker)
            with gr.Tab("About", id="about"):
                gr.Markdown(session.model_card(), elem_id="about-card")
    # Requests wait in a bounded queue and at most CONCURRENCY_LIMIT run at once, so parallel uploads cannot add up.
    app.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_SIZE)
    return app


def _class_picker(gr: Any, classes: list[str], label: str, every: str | None) -> Any:
    """A class dropdown by class name (hidden for an unconditional model); `every` labels the "no class" choice."""
    choices = ([(every, "")] if every else []) + [(name, name) for name in classes]
    return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None, label=label, visible=bool(classes))


def _sample_tab(gr: Any, app: Any, session: DemoSession, class_picker: Callable[..., Any]) -> None:
    """The Sample tab: a grid for a seed, a class picker and a truncation slider where they apply."""
    tasks = session.tasks
    classes = session.class_names
    # Two rows of one column per class for a conditional model, else a 4 × 4 grid.
    default_count = 2 * len(classes) if 0 < len(classes) <= 32 else 16
    with gr.Tab("Sample", id="sample"):
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="seed", elem_id="sample-seed")
            count = gr.Slider(1, 64, value=default_count, step=1, label="number of images", elem_id="sample-count")
            sample_class = class_picker("class", "one column per class")
            sample_class.elem_id = "sample-class"
            psi = gr.Slider(
                0, 3, value=0, step=0.1, label="truncation (0 = off; lower = less variety, cleaner images)",
                visible="truncation" in tasks, elem_id="sample-truncation",
            )  # fmt: skip
        generate = gr.Button("Generate", variant="primary", elem_id="sample-generate")
        samples = gr.Image(label="samples", type="pil", format="png", interactive=False, elem_id="sample-out")
        generate.click(_in_page(session.sample), [seed, count, sample_class, psi], samples)
        # The page opens with the default seed's samples rather than an empty frame.
        app.load(_in_page(session.sample), [seed, count, sample_class, psi], samples)


def _interpolate_tab(gr: Any, session: DemoSession, class_picker: Callable[..., Any]) -> None:
    """The Interpolate tab: the slerp path between the latents of two seeds."""
    with gr.Tab("Interpolate", id="interpolate"):
        with gr.Row():
            seed_a = gr.Number(value=0, precision=0, label="first seed", elem_id="interp-seed-a")
            seed_b = gr.Number(value=1, precision=0, label="second seed", elem_id="interp-seed-b")
            steps = gr.Slider(2, 16, value=8, step=1, label="steps", elem_id="interp-steps")
            interp_class = class_picker("class", None)
        run = gr.Button("Interpolate", variant="primary", elem_id="interp-run")
        path = gr.Image(label="path", type="pil", format="png", interactive=False, elem_id="interp-out")
        run.click(_in_page(session.interpolate), [seed_a, seed_b, steps, interp_class], path)


def _explore_tab(gr: Any, app: Any, session: DemoSession, class_picker: Callable[..., Any]) -> None:
    """The Explore tab: a slider per direction of the table's explore tasks, and a traversal row."""
    labels = session.explore_labels
    with gr.Tab("Explore", id="explore"):
        what = "SeFa directions" if labels and labels[0].startswith("direction") else "latent dimensions"
        gr.Markdown(f"Move one sample along the model's top {what}.")
        with gr.Row():
            with gr.Column():
                explore_seed = gr.Number(value=0, precision=0, label="seed", elem_id="explore-seed")
                explore_class = class_picker("class", None)
                sliders = [gr.Slider(-5, 5, value=0, step=0.25, label=label) for label in labels]
            with gr.Column():
                moved = gr.Image(label="sample", type="pil", format="png", interactive=False, elem_id="explore-sample")
                direction = gr.Dropdown(
                    choices=[(label, i) for i, label in enumerate(labels)], value=0, label="walk along"
                )
                traverse = gr.Button("Traverse", elem_id="explore-traverse")
                walk = gr.Image(label="traversal", type="pil", format="png", interactive=False, elem_id="explore-walk")

        def explore(seed_value: float, class_name: str | None, *amounts: float) -> PIL.Image.Image:
            return session.explore(seed_value, *amounts, class_name=class_name)

        explore_inputs = [explore_seed, explore_class, *sliders]
        for control in explore_inputs:
            control.change(_in_page(explore), explore_inputs, moved)
        app.load(_in_page(explore), explore_inputs, moved)  # the sample the sliders will move

        def traverse_row(seed_value: float, index: int, class_name: str | None) -> PIL.Image.Image:
            return session.traverse(seed_value, index, class_name=class_name)

        traverse.click(_in_page(traverse_row), [explore_seed, direction, explore_class], walk)


def _restore_tab(gr: Any, session: DemoSession, class_picker: Callable[..., Any]) -> None:
    """The Restore tab: the table's restore tasks, a control per option, the editor and its brush."""
    from .registry import get_task

    restore_entries = [get_task(name) for name in session.restore_tasks]
    # One control per option name (tasks that share an option, such as a noise level, share it).
    options = list({o.name: o for entry in restore_entries for o in entry.options}.values())
    with gr.Tab("Restore", id="restore"):
        size, mode = session.image_size, "grayscale" if session.channels == 1 else "RGB"
        gr.Markdown(
            f"Upload a {size}×{size} {mode} image (or a whole multiple of that size). To inpaint, paint "
            "over the part to repaint with the brush; the rest of the image is kept exactly."
        )
        with gr.Row():
            with gr.Column():
                editor = _checked_editor(
                    gr,
                    type="pil", image_mode="RGBA", sources=["upload", "clipboard"], label="image",
                    layers=False, elem_id="restore-editor",
                    brush=gr.Brush(colors=["#ff0000"], color_mode="fixed", default_size=3),
                )  # fmt: skip
                restore_task = gr.Radio(
                    choices=[(entry.label, entry.name) for entry in restore_entries],
                    value=restore_entries[0].name, label="task", elem_id="restore-task",
                )  # fmt: skip
                controls = [_option_control(gr, option) for option in options]
                degrade_first = gr.Checkbox(
                    label="treat the upload as clean: degrade it first (add the noise, ...)",
                    elem_id="restore-degrade",
                )
                restore_class = class_picker("class", "unknown")
                restore_seed = gr.Number(value=0, precision=0, label="seed")
                restore_run = gr.Button("Restore", variant="primary", elem_id="restore-run")
            with gr.Column():
                given = gr.Image(
                    label="what the model sees", type="pil", format="png", interactive=False,
                    elem_id="restore-given",
                )  # fmt: skip
                restored = gr.Image(
                    label="restored", type="pil", format="png", interactive=False, elem_id="restore-out"
                )

        def restore(
            task: str, value: Any, first: bool, class_name: str, seed_value: float, *option_values: Any
        ) -> tuple[PIL.Image.Image, PIL.Image.Image]:
            values = {option.name: v for option, v in zip(options, option_values, strict=True)}
            return session.restore(task, value, degrade_first=first, class_name=class_name, seed=seed_value, **values)

        restore_run.click(
            _in_page(restore),
            [restore_task, editor, degrade_first, restore_class, restore_seed, *controls],
            [given, restored],
        )


def _task_summary(tasks: frozenset[str]) -> str:
    """What the pipeline can do, in words: its sampling features, then the task table's labels (the restore and
    explore tasks, which have tabs)."""
    from .registry import tasks as task_table

    features = {"class_labels": "class-conditional", "truncation": "truncation", "interpolate": "interpolation"}
    found = [label for feature, label in features.items() if feature in tasks]
    found += [task.label for task in task_table() if task.group != "method" and task.name in tasks]
    return "sampling" + "".join(f", {label}" for label in found)


def _option_control(gr: Any, option: Any) -> Any:
    """The Gradio control of a task option (`genzoo.registry.TaskOption`): a dropdown for choices, a checkbox for a
    flag, a slider for a number with a range of at most 1, else a number field with the range."""
    label, elem_id = option.help or option.name, f"restore-{option.name.replace('_', '-')}"
    if option.choices:
        return gr.Dropdown(choices=list(option.choices), value=option.default, label=label, elem_id=elem_id)
    if option.kind is bool:
        return gr.Checkbox(value=bool(option.default), label=label, elem_id=elem_id)
    bounded = option.minimum is not None and option.maximum is not None
    if option.kind is float and bounded and option.maximum - option.minimum <= 1:
        return gr.Slider(option.minimum, option.maximum, value=option.default, label=label, elem_id=elem_id)
    return gr.Number(
        value=option.default, precision=0 if option.kind is int else None, minimum=option.minimum,
        maximum=option.maximum, label=label, elem_id=elem_id,
    )  # fmt: skip


def _checked_editor(gr: Any, **kwargs: Any) -> Any:
    """A `gr.ImageEditor` whose uploads are checked before they are decoded: above `MAX_UPLOAD_PIXELS`, not an image,
    empty or truncated, each answered with one clear line in the page (Gradio's own answer is "Could not preprocess
    input component"). The check wraps the instance's decoder: subclassing a Gradio component would make Gradio write a
    `.pyi` stub beside this module."""
    editor = gr.ImageEditor(**kwargs)
    decode = editor.convert_and_format_image

    def convert_and_format_image(file: Any, flatten_on_white: bool = False) -> Any:
        if file is not None:
            import io

            source = getattr(file, "path", None) or io.BytesIO(bytes(file))
            try:
                open_image(source, name="uploaded image", max_pixels=MAX_UPLOAD_PIXELS)
            except GenzooError as exc:
                message = str(exc).replace(f" {getattr(file, 'path', '')}", "")  # not the server's temporary path
                raise gr.Error(message, print_exception=False) from None
        return decode(file, flatten_on_white)

    editor.convert_and_format_image = convert_and_format_image
    return editor


def error_app(message: str, title: str = "genzoo demo") -> "gr.Blocks":
    """A page that shows why the model could not be loaded, in place of the demo."""
    gr = _gradio()
    with gr.Blocks(title=title) as app:
        gr.Markdown(f"# {title}\n**The model could not be loaded.** {message}", elem_id="load-error")
    return app


def load_app(name_or_path: str, *, revision: str | None = None, device: str | None = None) -> "gr.Blocks":
    r"""Load a pipeline and build its app; a model that does not load gives a page that says why.

    This is what an exported Space's `app.py` calls: a Space has no terminal, so the message goes in the page.

    Args:
        name_or_path (`str`): a pipeline folder or a Hub repo id.
        revision (`str`, *optional*): Hub revision.
        device (`str`, *optional*): torch device.

    Returns:
        `gradio.Blocks`: the demo, or a page with the loading error.
    """
    from .pipeline import GenPipeline

    try:
        pipe = GenPipeline.from_pretrained(name_or_path, revision=revision)
        return build_app(DemoSession(pipe, device=device))
    except (GenzooError, OSError, ValueError) as exc:
        logger.error("genzoo demo: could not load %s: %s", name_or_path, exc)
        return error_app(" ".join(str(exc).split()))


def launch(
    app: "gr.Blocks",
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
) -> Any:
    r"""Serve an app built by `build_app`.

    Args:
        app (`gradio.Blocks`): the app.
        host (`str`, defaults to `"127.0.0.1"`): the address to bind; `0.0.0.0` serves every network interface.
        port (`int`, *optional*): the port; Gradio picks a free one from 7860 on when omitted.
        share (`bool`, defaults to `False`): also open a public `gradio.live` link (off unless asked for).
        block (`bool`, defaults to `True`): serve until interrupted; `False` returns once the server runs.

    Returns:
        What `gradio.Blocks.launch` returns (the app, its local URL and the share URL).
    """
    return app.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        quiet=not block,
        show_error=True,
        theme=theme(),
        max_file_size=MAX_FILE_SIZE,
    )


_SPACE_APP = '''\
"""A Hugging Face Space for the genzoo model {repo_id}: `python app.py` serves it (the demo of `genzoo demo`).

Set {variable} to load another model, such as a local pipeline folder, instead of the repo.
"""

import os

from genzoo.demo import launch, load_app

MODEL = os.environ.get("{variable}", {repo_id!r})

if __name__ == "__main__":
    # Spaces set GRADIO_SERVER_NAME and GRADIO_SERVER_PORT; locally this serves http://127.0.0.1:7860.
    launch(
        load_app(MODEL),
        host=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
'''

_SPACE_README = """\
---
title: {title}
sdk: gradio
sdk_version: {gradio_version}
app_file: app.py
models:
- {repo_id}
tags:
- genzoo
---

# {title}

The genzoo demo of [{repo_id}](https://huggingface.co/{repo_id}), written by `genzoo demo --export-space`.
Run it locally with `pip install -r requirements.txt && python app.py`.
"""


def export_space(
    repo_id: str, output_dir: str | os.PathLike, *, requirements: list[str] | None = None, overwrite: bool = False
) -> Path:
    r"""Write a Hugging Face Space folder (`app.py`, `requirements.txt`, `README.md`) that serves the demo of the
    model `repo_id`, loaded from the Hub when the Space starts.

    Args:
        repo_id (`str`): the model's Hub repo id (`org/name`); the environment variable `GENZOO_DEMO_MODEL`
            overrides it when the app runs.
        output_dir (`str` or `os.PathLike`): the folder to write (created; it must be empty or missing).
        requirements (`list[str]`, *optional*): extra `requirements.txt` lines, such as a third-party plugin's
            distribution that the model needs.
        overwrite (`bool`, defaults to `False`): replace the three files in a non-empty folder.

    Returns:
        `Path`: the folder.
    """
    from . import __version__

    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise GenzooError(
            f"{repo_id!r} is not a Hub repo id like 'org/name': the Space loads the model from the Hub, so push it "
            "first (`genzoo push DIR org/name`) and pass that id."
        )
    folder = Path(output_dir)
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not overwrite)):
        raise GenzooError(f"{folder} exists and is not an empty folder; pick another one or pass --overwrite.")
    gr = _gradio()
    from .hub import repository_url  # lazy: only an export reads distribution metadata

    # genzoo is on no package index, so the Space installs it from the repository genzoo declares; without one, the
    # file says what to put there (pip skips comment lines).
    url = repository_url("genzoo")
    if url:
        lines = [f"genzoo[demo] @ git+{url}"]
    else:
        version = __version__ if re.fullmatch(r"\d+(\.\d+)*", __version__) else None
        lines = [
            "# genzoo is on no package index: point the next line at its repository,",
            "# `genzoo[demo] @ git+https://...`, or at a wheel built with `python -m build` and uploaded beside",
            "# app.py, `./genzoo-VERSION-py3-none-any.whl[demo]`.",
            f"genzoo[demo]=={version}" if version else "genzoo[demo]",
        ]
    lines += requirements or []
    title = repo_id.split("/")[-1]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(_SPACE_APP.format(repo_id=repo_id, variable=SPACE_MODEL_VARIABLE))
    (folder / "requirements.txt").write_text("\n".join(dict.fromkeys(lines)) + "\n")
    (folder / "README.md").write_text(
        _SPACE_README.format(title=title, repo_id=repo_id, gradio_version=gr.__version__)
    )
    return folder


def plugin_requirements(pipe: "GenPipeline") -> list[str]:
    """The distribution of the plugin that registered `pipe`'s model, when it is not genzoo itself (a Space must
    install it to load the model)."""
    from .plugins import plugin_source
    from .registry import models

    for registration in models():
        if registration.generator_class is type(pipe.model):
            distribution = plugin_source(registration.plugin).distribution
            return [distribution] if distribution and distribution != "genzoo" else []
    return []
