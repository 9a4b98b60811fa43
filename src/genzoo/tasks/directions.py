r"""Interpretable latent directions and traversals, behind `pipe.find_directions`, `pipe.traverse` and
`pipe.class_interpolation`.

- **SeFa** (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021): the first layer that
  acts on the latent, y = A z + b, moves the output most along the eigenvectors of AᵀA with the largest
  eigenvalues; those unit vectors are the directions and the eigenvalues their strengths. No data and no training.
  The layer is found by running the generator once and watching which linear layer (or transposed convolution on
  a 1×1 map) first receives the latent, so it works for any family built that way.
- **KL-ranked dimensions** for a model with an encoder (a VAE): the dimensions whose posterior departs most from the
  prior, on average over images, carry the information; β-VAE papers traverse them in that order.
- **Class interpolation** for conditional generators that accept class weights: the class embedding moves linearly
  from one class to another while the latent stays fixed.
"""

from dataclasses import dataclass
from typing import Any

import PIL.Image
import torch
from torch import nn

from ..errors import GenzooError
from ..images import check_size, image_grid, to_pixels
from ..modeling import Generator, sampling_mode
from .limits import MAX_GRID_IMAGES
from .protocol import TaskPipeline

__all__ = [
    "METHODS",
    "Directions",
    "class_interpolation",
    "find_directions",
    "first_latent_layer",
    "kl_ranked_dims",
    "sefa",
    "traverse",
]

METHODS = ("sefa", "dims")
DEFAULT_VALUES = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
#: The most model samples `kl_ranked_dims` averages over.
MAX_KL_IMAGES = 65_536


@dataclass
class Directions:
    r"""Latent directions, strongest first.

    Args:
        directions (`torch.Tensor`): `(k, latent_dim)` unit vectors (on the flattened latent).
        strengths (`torch.Tensor`): `(k,)`: SeFa's eigenvalues, or each dimension's mean KL in nats.
        method (`str`): `"sefa"` or `"dims"`.
        dims (`torch.Tensor` or `None`): `(k,)` the latent dimension of each direction, for `"dims"`.
    """

    directions: torch.Tensor
    strengths: torch.Tensor
    method: str
    dims: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.directions)


def _latent_dim(model: Generator) -> int:
    return int(torch.Size(model.latent_shape).numel())


def _call(model: Generator, latents: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return model(latents, labels) if labels is not None else model(latents)


def first_latent_layer(model: Generator) -> tuple[nn.Module, torch.Tensor]:
    r"""The first layer that acts on the latent and its weight as a matrix A of shape `(outputs, latent_dim)`.

    The generator runs once on two latents while forward hooks watch every `nn.Linear` and `nn.ConvTranspose2d`;
    the first one whose input starts with the latent values (flattened, so a `(batch, dim, 1, 1)` map counts, and
    so does a latent concatenated with a class embedding) is the layer.

    Raises:
        `GenzooError`: when no such layer exists (the latent is normalised or mapped by something else first).
    """
    dim = _latent_dim(model)
    latents = model.sample_latents(2, generator=torch.Generator().manual_seed(0), device="cpu").to(model.device)
    labels = torch.zeros(2, dtype=torch.long, device=model.device) if model.is_conditional else None
    found: list[nn.Module] = []
    flat = latents.flatten(1).float()

    def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
        if found or not inputs or not torch.is_tensor(inputs[0]):
            return
        x = inputs[0]
        if isinstance(module, nn.ConvTranspose2d) and x.shape[-2:] != (1, 1):
            return
        values = x.flatten(1).float()
        if values.shape[1] >= dim and torch.allclose(values[:, :dim], flat, atol=1e-5):
            found.append(module)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Linear | nn.ConvTranspose2d)]
    try:
        with torch.no_grad(), sampling_mode(model):
            _call(model, latents.to(model.dtype), labels)
    finally:
        for handle in handles:
            handle.remove()
    if not found:
        raise GenzooError(
            f"SeFa needs a first layer acting on the latent that is linear or a transposed convolution on a 1x1 map; "
            f"{type(model).__name__} has none."
        )
    layer = found[0]
    weight = layer.weight.detach().float()
    # A transposed convolution's weight is (in, out, kh, kw), one input channel per latent coordinate; a linear
    # layer's is (out, in), where a latent concatenated with a class embedding comes first.
    matrix = weight[:dim].reshape(dim, -1).T if isinstance(layer, nn.ConvTranspose2d) else weight[:, :dim]
    return layer, matrix


def sefa(model: Generator, num_directions: int = 8) -> Directions:
    r"""The top `num_directions` SeFa directions of `model`: the eigenvectors of AᵀA with the largest eigenvalues,
    for the first layer's weight A (see `first_latent_layer`). Each direction's sign is fixed so that its largest
    component is positive.

    Returns:
        `Directions` with eigenvalues as strengths.
    """
    _, matrix = first_latent_layer(model)
    dim = matrix.shape[1]
    _check_count(num_directions, dim)
    eigenvalues, eigenvectors = torch.linalg.eigh((matrix.T @ matrix).double())
    order = eigenvalues.argsort(descending=True)[:num_directions]
    directions = eigenvectors[:, order].T.float()
    signs = directions.gather(1, directions.abs().argmax(1, keepdim=True)).sign()
    return Directions(directions=directions * signs, strengths=eigenvalues[order].float(), method="sefa")


def kl_ranked_dims(
    pipe: TaskPipeline,
    num_directions: int = 8,
    images: Any = None,
    class_labels: Any = None,
    num_images: int = 256,
    generator: torch.Generator | None = None,
) -> Directions:
    r"""The latent dimensions of a model with an encoder, ranked by their mean KL(q(z_i|x) ‖ N(0, 1)) over images.

    Args:
        pipe (`GenPipeline`): a pipeline whose generator has a `posterior` (a VAE).
        num_directions (`int`, defaults to 8): how many dimensions to return.
        images (*optional*): the images to average over (PIL, numpy or torch in [0, 1]); by default `num_images` of
            the model's own samples, which needs no data.
        class_labels (*optional*): their classes, for a conditional encoder (required with `images`).
        num_images (`int`, defaults to 256): how many samples to draw when `images` is omitted.
        generator (`torch.Generator`, *optional*): for those samples.

    Returns:
        `Directions` with one-hot directions, the mean KL (nats) as strengths and the dimension indices as `dims`.
    """
    model = pipe.model
    dim = _latent_dim(model)
    _check_count(num_directions, dim)
    if not isinstance(num_images, int) or not 1 <= num_images <= MAX_KL_IMAGES:
        raise GenzooError(f"`num_images` must be an integer from 1 to {MAX_KL_IMAGES:,}, got {num_images!r}.")
    if images is None:
        labels = pipe.prepare_class_labels(None, num_images) if model.is_conditional else None
        pixels = pipe(batch_size=num_images, generator=generator, class_labels=labels, output_type="pt").images
    else:
        pixels = to_pixels(images, model.config.num_channels, name="images")
        check_size(pixels, int(model.config.image_size), "the model makes", name="images")
        labels = None
        if model.is_conditional:
            if class_labels is None:
                raise GenzooError("Pass the images' `class_labels`: this model's encoder is class-conditional.")
            labels = pipe.prepare_class_labels(pipe.class_indices(class_labels), len(pixels))
    with torch.no_grad(), sampling_mode(model):
        posterior = model.posterior(
            (pixels.to(model.device, model.dtype) * 2 - 1), None if labels is None else labels.to(model.device)
        )
    if posterior is None:
        raise GenzooError(
            f"method 'dims' ranks the latent dimensions of a model with an encoder (a VAE); {type(model).__name__} "
            "has none, use method 'sefa'."
        )
    mean, logvar = (t.float().flatten(1) for t in posterior)
    kl = (-0.5 * (1.0 + logvar - mean.pow(2) - logvar.exp())).mean(0)
    order = kl.argsort(descending=True)[:num_directions]
    return Directions(
        directions=torch.eye(dim)[order.cpu()], strengths=kl[order].cpu(), method="dims", dims=order.cpu()
    )


def find_directions(pipe: TaskPipeline, method: str = "sefa", num_directions: int = 8, **kwargs: Any) -> Directions:
    r"""Directions by `method`: `"sefa"` (`sefa`, any generator with a linear first layer on the latent) or
    `"dims"` (`kl_ranked_dims`, models with an encoder; `kwargs` go to it)."""
    if method == "sefa":
        if kwargs:
            raise GenzooError(f"method 'sefa' takes no options, got {', '.join(kwargs)}.")
        return sefa(pipe.model, num_directions)
    if method == "dims":
        return kl_ranked_dims(pipe, num_directions, **kwargs)
    raise GenzooError(f"Unknown direction method {method!r}; choose from {', '.join(METHODS)}.")


def _check_count(num_directions: int, dim: int) -> None:
    if not isinstance(num_directions, int) or not 1 <= num_directions <= dim:
        raise GenzooError(f"`num_directions` must be between 1 and the latent size {dim}, got {num_directions!r}.")


def _values(values: Any) -> torch.Tensor:
    """Traversal values as a float tensor: finite, at least one, at most `MAX_GRID_IMAGES`."""
    if values is None:
        values = DEFAULT_VALUES
    if hasattr(values, "__len__") and len(values) > MAX_GRID_IMAGES:
        raise GenzooError(f"`values` holds {len(values):,} values; a traversal takes at most {MAX_GRID_IMAGES:,}.")
    values_t = torch.tensor(list(values), dtype=torch.float32).flatten()
    if len(values_t) < 1:
        raise GenzooError("`values` is empty.")
    if not torch.isfinite(values_t).all():
        raise GenzooError(f"`values` must be finite numbers, got {values_t.tolist()}.")
    return values_t


def _check_grid(rows: int, columns: int) -> None:
    if rows * columns > MAX_GRID_IMAGES:
        raise GenzooError(
            f"A traversal of {rows} rows × {columns} values would draw {rows * columns:,} images, above the limit of "
            f"{MAX_GRID_IMAGES:,}; pass fewer directions, rows or values."
        )


def traverse(
    pipe: TaskPipeline,
    direction_or_dim: Any,
    values: Any = None,
    latents: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    class_labels: Any = None,
    num_rows: int = 4,
) -> PIL.Image.Image:
    r"""A grid of images along latent directions, one column per value.

    Args:
        pipe (`GenPipeline`): the pipeline.
        direction_or_dim: what to move along:
            - an `int`: a latent dimension, *set* to each value (the β-VAE traversal);
            - a `(latent_dim,)` tensor: a direction, the latent *moved* by value × direction;
            - a `Directions` or a `(k, latent_dim)` tensor: one row per direction (dimensions of a `"dims"`
              `Directions` are set, SeFa directions moved), all from the same latent.
        values (sequence of `float`, *optional*): the columns; -3 to 3 in steps of 1 by default.
        latents (`torch.Tensor`, *optional*): the starting latent(s): `(rows, *latent_shape)` for one direction, one
            latent for several; drawn from the prior with `generator` when omitted.
        generator (`torch.Generator`, *optional*): for the starting latents (and classes).
        class_labels (*optional*): the class of each row (conditional models); spread over the classes by default.
        num_rows (`int`, defaults to 4): rows for a single direction when `latents` is omitted.

    Returns:
        `PIL.Image.Image`: rows × len(values) images.
    """
    model = pipe.model
    dim = _latent_dim(model)
    values_t = _values(values)
    # What moves: (rows or 1, dim) directions, and whether each coordinate is set (dims) or the latent moved.
    set_dims: torch.Tensor | None = None
    if isinstance(direction_or_dim, Directions):
        vectors = direction_or_dim.directions.float()
        set_dims = direction_or_dim.dims
    elif isinstance(direction_or_dim, int) and not isinstance(direction_or_dim, bool):
        if not 0 <= direction_or_dim < dim:
            raise GenzooError(f"Latent dimension {direction_or_dim} is out of range: the latent has {dim}.")
        vectors = torch.eye(dim)[[direction_or_dim]]
        set_dims = torch.tensor([direction_or_dim])
    elif torch.is_tensor(direction_or_dim):
        vectors = direction_or_dim.detach().float().cpu()
        vectors = vectors[None] if vectors.dim() == 1 else vectors
        if vectors.dim() != 2 or vectors.shape[1] != dim:
            raise GenzooError(
                f"A direction must have shape ({dim},) or (k, {dim}), got {tuple(direction_or_dim.shape)}."
            )
    else:
        raise GenzooError(
            f"`direction_or_dim` must be a latent dimension (int), a direction tensor or Directions, got "
            f"{type(direction_or_dim).__name__}."
        )
    several = len(vectors) > 1
    if not several and (not isinstance(num_rows, int) or isinstance(num_rows, bool) or num_rows < 1):
        raise GenzooError(f"`num_rows` must be a positive integer, got {num_rows!r}.")
    rows = len(vectors) if several else num_rows
    _check_grid(rows if latents is None else len(vectors) if several else len(latents), len(values_t))
    if latents is None:
        base = model.sample_latents(1 if several else rows, generator=generator, device="cpu").float()
    else:
        base = latents.detach().float().cpu()
        base = base[None] if tuple(base.shape) == tuple(model.latent_shape) else base
        if tuple(base.shape[1:]) != tuple(model.latent_shape) or (several and len(base) != 1):
            raise GenzooError(
                f"`latents` must be {'one latent' if several else '(rows, *latent_shape)'} of shape "
                f"{tuple(model.latent_shape)}, got {tuple(latents.shape)}."
            )
        rows = len(vectors) if several else len(base)
    base = base.flatten(1).expand(rows, dim)
    vectors = vectors.expand(rows, dim)
    steps = values_t.view(1, -1, 1)
    if set_dims is not None:  # set the coordinate: z_i = value
        dims = set_dims.expand(rows) if len(set_dims) == 1 else set_dims
        current = base.gather(1, dims.view(-1, 1)).view(-1, 1, 1)
        grid_latents = base[:, None] + (steps - current) * vectors[:, None]
    else:  # move along the direction: z + value · n
        grid_latents = base[:, None] + steps * vectors[:, None]
    grid_latents = grid_latents.reshape(-1, *model.latent_shape)

    labels = None
    if model.is_conditional:
        if class_labels is None and generator is not None:
            row_labels = torch.randint(model.num_classes, (rows,), generator=generator, device=generator.device)
        else:
            row_labels = pipe.prepare_class_labels(pipe.class_indices(class_labels), rows).cpu()
            row_labels = row_labels.expand(rows) if len(row_labels) == 1 else row_labels
        if len(row_labels) != rows:
            raise GenzooError(f"Got {len(row_labels)} class labels for {rows} rows.")
        labels = row_labels.cpu().repeat_interleave(len(values_t))
    else:
        pipe.prepare_class_labels(class_labels, rows)  # an unconditional model takes none: one-line error
    images = pipe(latents=grid_latents, class_labels=labels, output_type="pil").images
    return image_grid(images, rows=rows)


def class_interpolation(
    pipe: TaskPipeline,
    start_class: Any,
    end_class: Any,
    steps: int = 8,
    latents: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    output_type: str = "pil",
    return_dict: bool = True,
) -> Any:
    r"""Images at one latent while the class embedding walks linearly from `start_class` to `end_class`.

    The generator receives class weights `(1 − t)·e_start + t·e_end` (a `(steps, num_classes)` float tensor), which a
    generator with `supports_class_mixing` turns into the same mix of its class embeddings.

    Args:
        pipe (`GenPipeline`): a conditional pipeline.
        start_class, end_class: class indices or names.
        steps (`int`, defaults to 8): images, both ends included.
        latents (`torch.Tensor`, *optional*): the fixed latent (`latent_shape`); drawn with `generator` if omitted.
        generator (`torch.Generator`, *optional*): for the latent.
        output_type, return_dict: as in `GenPipeline.__call__`.

    Returns:
        `ImagePipelineOutput` (or a tuple) with `steps` images; the ends equal sampling the two classes.
    """
    from diffusers import ImagePipelineOutput

    model = pipe.model
    if not model.is_conditional or not model.supports_class_mixing:
        raise GenzooError(
            f"Class interpolation needs a conditional generator that mixes class embeddings; {type(model).__name__} "
            "is not one (supports_class_mixing is False)."
        )
    if not isinstance(steps, int) or isinstance(steps, bool) or not 2 <= steps <= MAX_GRID_IMAGES:
        raise GenzooError(f"`steps` must be an integer from 2 to {MAX_GRID_IMAGES:,}, got {steps!r}.")
    ends = pipe.prepare_class_labels(pipe.class_indices([start_class, end_class]), 2).cpu()
    if latents is None:
        latent = model.sample_latents(1, generator=generator, device="cpu")
    else:
        latent = latents.detach().cpu()[None] if tuple(latents.shape) == tuple(model.latent_shape) else latents
        if tuple(latent.shape) != (1, *model.latent_shape):
            raise GenzooError(f"`latents` must be one latent of shape {tuple(model.latent_shape)}.")
    t = torch.linspace(0.0, 1.0, steps).view(-1, 1)
    one_hot = torch.eye(model.num_classes)[ends]
    weights = (1 - t) * one_hot[0] + t * one_hot[1]
    path_latents = latent.expand(steps, *model.latent_shape).to(model.device, model.dtype)
    if output_type == "latent":  # as in __call__: the latents, undecoded (one latent, repeated along the path)
        return ImagePipelineOutput(images=path_latents) if return_dict else (path_latents,)
    with torch.no_grad(), sampling_mode(model):
        images = model(path_latents, weights.to(model.device, model.dtype))
    images = pipe.postprocess(images, output_type)
    return ImagePipelineOutput(images=images) if return_dict else (images,)
