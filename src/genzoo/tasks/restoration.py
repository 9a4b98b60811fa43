r"""The inversion tasks: `invert` (images to latents) and the restore tasks `inpaint`, `super_resolve` and `denoise`,
all through `restore` (a known degradation undone by inverting the generator, see `genzoo.tasks.inversion`).

Each function takes the pipeline first and becomes the pipeline method of the same name through the task table
(`pipe.inpaint(...)` calls `inpaint(pipe, ...)`). Pixels are in [0, 1] here, as in diffusers' image processor.
"""

from typing import Any

import torch

from ..errors import GenzooError
from ..images import ImageInput, check_size, to_output, to_pixels
from .degradations import Degradation, Downsample, GaussianNoise, masked
from .inversion import InversionOptions, check_invertible, invert
from .protocol import TaskPipeline

__all__ = ["denoise", "inpaint", "invert_images", "restore", "super_resolve"]

OUTPUT_TYPES = ("pil", "np", "pt", "latent")


def _options(pipe: TaskPipeline, num_steps: int, inversion_kwargs: dict[str, Any]) -> InversionOptions:
    """The search settings, with the pipeline's progress-bar configuration (diffusers' `set_progress_bar_config`)."""
    inversion_kwargs.setdefault("progress_bar", getattr(pipe, "_progress_bar_config", True))
    return InversionOptions(num_steps=num_steps, **inversion_kwargs)


def class_labels_for(pipe: TaskPipeline, class_labels: Any, count: int) -> torch.Tensor | None:
    """Class labels (indices or names, one or one per image) as a `(count,)` tensor, or `None` to search them."""
    if class_labels is None:
        return None
    labels = pipe.prepare_class_labels(pipe.class_indices(class_labels), count).cpu()
    if len(labels) == 1:
        labels = labels.expand(count)
    if len(labels) != count:
        raise GenzooError(f"Got {len(labels)} class labels for {count} images.")
    return labels


def restore(
    pipe: TaskPipeline,
    image: ImageInput,
    degradation: Degradation,
    *,
    class_labels: Any = None,
    num_steps: int = 200,
    generator: torch.Generator | None = None,
    output_type: str = "pil",
    return_dict: bool = True,
    **inversion_kwargs: Any,
) -> Any:
    r"""Restore images observed through a known degradation: find the latent whose generated image, degraded the
    same way, matches the observation (a MAP estimate under the generator's prior), and return its image.

    Args:
        image: the observations (PIL, numpy NHWC or torch NCHW in [0, 1]).
        degradation (`genzoo.tasks.Degradation`): `Mask`, `Downsample`, `GaussianNoise` or your own.
        class_labels (*optional*): classes (indices or names) of a conditional model; every class is tried when
            omitted.
        num_steps (`int`, defaults to 200): optimisation steps.
        generator (`torch.Generator`, *optional*): makes the starting points, and so the result, deterministic.
        output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"` (NHWC in [0, 1]), `"pt"` (NCHW in [0, 1]) or
            `"latent"` (the latents found, `(batch, *latent_shape)`).
        return_dict (`bool`, defaults to `True`): return an `ImagePipelineOutput` rather than a tuple.
        inversion_kwargs: the settings of `genzoo.tasks.InversionOptions` (`num_restarts`, `num_candidates`, `lr`,
            `prior`, `prior_weight`, `feature_extractor`, `feature_weight`, `use_encoder`, `batch_size`,
            `progress_bar`).

    Returns:
        `ImagePipelineOutput` with the restored images at the model's size.
    """
    from diffusers import ImagePipelineOutput

    model = pipe.model
    check_invertible(model)
    if output_type not in OUTPUT_TYPES:
        raise GenzooError(f"`output_type` must be 'pil', 'np', 'pt' or 'latent', got {output_type!r}.")
    if not isinstance(degradation, Degradation):
        raise GenzooError(f"`degradation` must be a genzoo.tasks.Degradation, got {type(degradation).__name__}.")
    options = _options(pipe, num_steps, inversion_kwargs)
    observed = to_pixels(image, model.config.num_channels)
    degradation.check(observed, int(model.config.image_size))
    labels = class_labels_for(pipe, class_labels, len(observed))
    result = invert(
        model, observed, degradation=degradation, class_labels=labels, generator=generator, options=options
    )
    if output_type == "latent":  # the latents found, whose images (before finalize) fit the observations best
        images = result.latents
    else:
        images = to_output(degradation.finalize(result.images, observed), output_type)
    return ImagePipelineOutput(images=images) if return_dict else (images,)


def invert_images(
    pipe: TaskPipeline,
    images: ImageInput,
    *,
    class_labels: Any = None,
    num_steps: int = 200,
    generator: torch.Generator | None = None,
    return_class_labels: bool = False,
    **inversion_kwargs: Any,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
    r"""Latents whose generated images match `images`: Adam on the latents from several starting points (the
    encoder's posterior mean for a model with an encoder, refined unless `num_steps=0`), a pixel loss, an optional
    feature loss and the prior's penalty; the best start per image is kept.

    Args:
        images: PIL image(s), numpy `(N, H, W, C)` or torch `(N, C, H, W)` in [0, 1], at the model's size.
        class_labels (*optional*): classes (indices or names) of a conditional model; every class is tried when
            omitted (pass `return_class_labels=True` to learn which was kept).
        num_steps (`int`, defaults to 200): optimisation steps.
        generator (`torch.Generator`, *optional*): makes the starting points, and so the latents, deterministic.
        return_class_labels (`bool`, defaults to `False`): also return the classes used.
        inversion_kwargs: the settings of `genzoo.tasks.InversionOptions`, as in `restore`.

    Returns:
        `torch.Tensor` of shape `(batch, *latent_shape)` (and the `(batch,)` class labels, or `None`); decode them
        with `pipe(latents=..., class_labels=...)`.
    """
    model = pipe.model
    check_invertible(model)
    options = _options(pipe, num_steps, inversion_kwargs)
    pixels = to_pixels(images, model.config.num_channels, name="images")
    check_size(pixels, int(model.config.image_size), "the model makes", name="images")
    labels = class_labels_for(pipe, class_labels, len(pixels))
    result = invert(model, pixels, class_labels=labels, generator=generator, options=options)
    return (result.latents, result.class_labels) if return_class_labels else result.latents


def inpaint(
    pipe: TaskPipeline,
    image: ImageInput,
    mask_image: ImageInput,
    *,
    class_labels: Any = None,
    num_steps: int = 200,
    generator: torch.Generator | None = None,
    output_type: str = "pil",
    return_dict: bool = True,
    **inversion_kwargs: Any,
) -> Any:
    r"""Fill in the masked pixels of images with the generator; the known pixels are returned exactly.

    Args:
        image: the images at the model's size (their masked pixels are ignored).
        mask_image: diffusers' convention, white (>= 0.5) = repaint; PIL (any mode), numpy or torch, one mask or one
            per image, of the images' size.
        class_labels, num_steps, generator, output_type, return_dict, inversion_kwargs: as in `restore`.

    Examples:
        ```py
        >>> mask = torch.zeros(1, 1, 28, 28); mask[..., 7:21, 7:21] = 1  # repaint the centre
        >>> repaired = pipe.inpaint(image=digit, mask_image=mask, generator=torch.Generator().manual_seed(0))
        ```
    """
    return restore(
        pipe, image, masked(mask_image), class_labels=class_labels, num_steps=num_steps, generator=generator,
        output_type=output_type, return_dict=return_dict, **inversion_kwargs,
    )  # fmt: skip


def super_resolve(
    pipe: TaskPipeline,
    image: ImageInput,
    scale: int = 4,
    *,
    class_labels: Any = None,
    num_steps: int = 200,
    generator: torch.Generator | None = None,
    output_type: str = "pil",
    return_dict: bool = True,
    **inversion_kwargs: Any,
) -> Any:
    r"""Upscale low-resolution images by `scale` to the model's size, assuming they were area-downsampled.

    Args:
        image: low-resolution images of `image_size / scale` pixels a side.
        scale (`int`, defaults to 4): the factor; it must divide the model's image size.
        class_labels, num_steps, generator, output_type, return_dict, inversion_kwargs: as in `restore`.
    """
    return restore(
        pipe, image, Downsample(scale), class_labels=class_labels, num_steps=num_steps, generator=generator,
        output_type=output_type, return_dict=return_dict, **inversion_kwargs,
    )  # fmt: skip


def denoise(
    pipe: TaskPipeline,
    image: ImageInput,
    noise_std: float = 0.1,
    *,
    class_labels: Any = None,
    num_steps: int = 200,
    generator: torch.Generator | None = None,
    output_type: str = "pil",
    return_dict: bool = True,
    **inversion_kwargs: Any,
) -> Any:
    r"""Remove additive Gaussian noise of standard deviation `noise_std` (on [0, 1] pixels) from images.

    Args:
        image: the noisy images at the model's size.
        noise_std (`float`, defaults to 0.1): the noise level; it weighs the data term against the prior.
        class_labels, num_steps, generator, output_type, return_dict, inversion_kwargs: as in `restore`.
    """
    return restore(
        pipe, image, GaussianNoise(noise_std), class_labels=class_labels, num_steps=num_steps, generator=generator,
        output_type=output_type, return_dict=return_dict, **inversion_kwargs,
    )  # fmt: skip
