"""The task table's built-in rows: genzoo's own `register_tasks` hook, which the core plugin (`genzoo.builtins`)
includes. Every task name genzoo knows is written here and nowhere else."""

from collections.abc import Callable

from ..hookspecs import hookimpl
from ..registry import TaskOption

__all__ = ["register_tasks"]

# Import strings: the functions (and torch) are imported when a task first runs, not to list the table.
_RESTORATION = "genzoo.tasks.restoration"
_DIRECTIONS = "genzoo.tasks.directions"
_DEGRADATIONS = "genzoo.tasks.degradations"


@hookimpl
def register_tasks(register: Callable) -> None:
    register(
        "invert",
        f"{_RESTORATION}:invert_images",
        applies_to="invertible",
        label="inversion",
        description="Latents whose generated images match given images (Adam from several starts).",
    )
    register(
        "restore",
        f"{_RESTORATION}:restore",
        applies_to="invertible",
        label="restoration",
        description="Undo any known degradation (a genzoo.tasks.Degradation) by inverting the generator.",
    )
    register(
        "inpaint",
        f"{_RESTORATION}:inpaint",
        group="restoration",
        applies_to="invertible",
        degradation=f"{_DEGRADATIONS}:masked",
        inputs=("image", "mask_image"),
        label="inpainting",
        description="Repaint the masked pixels (white = repaint); the known pixels are kept exactly.",
    )
    register(
        "super_resolve",
        f"{_RESTORATION}:super_resolve",
        group="restoration",
        applies_to="invertible",
        degradation=f"{_DEGRADATIONS}:Downsample",
        options=(TaskOption("scale", 4, "super-resolution factor; it must divide the model's image size", minimum=2,
                            maximum=64),),
        inputs=("image",),
        aliases=("super-resolve",),
        label="super-resolution",
        description="Upscale an area-downsampled image by an integer factor to the model's size.",
    )  # fmt: skip
    register(
        "denoise",
        f"{_RESTORATION}:denoise",
        group="restoration",
        applies_to="invertible",
        degradation=f"{_DEGRADATIONS}:GaussianNoise",
        options=(TaskOption("noise_std", 0.1, "noise σ on [0, 1] pixels", minimum=1e-3, maximum=1.0),),
        inputs=("image",),
        label="denoising",
        description="Remove additive Gaussian noise of a known standard deviation.",
    )
    register(
        "directions",
        f"{_DIRECTIONS}:find_directions",
        method="find_directions",
        group="exploration",
        applies_to="latent-directions",
        options=(
            TaskOption("method", "sefa", "SeFa directions (GANs) or KL-ranked latent dimensions (VAEs)",
                       choices=("sefa", "dims")),
            TaskOption("num_directions", 8, "directions, one per row", minimum=1, maximum=512),
        ),
        label="SeFa directions",
        description="Interpretable latent directions: SeFa (closed form) or a VAE's KL-ranked dimensions.",
    )  # fmt: skip
    register(
        "traverse",
        f"{_DIRECTIONS}:traverse",
        group="exploration",
        applies_to="latent-directions",
        label="latent traversals",
        description="A grid of images moving along latent directions or dimensions.",
    )
    register(
        "class_interpolation",
        f"{_DIRECTIONS}:class_interpolation",
        applies_to="class-mixing",
        label="class interpolation",
        description="Images walking from one class's embedding to another's at a fixed latent.",
    )
