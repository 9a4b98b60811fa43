"""The `Generator` interface: latents (and optional class labels) in, images in [-1, 1] out."""

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.utils.torch_utils import randn_tensor

from .errors import GenzooError

__all__ = [
    "Generator",
    "check_sizes",
    "class_embedding",
    "dcgan_init",
    "meta_model",
    "model_bytes",
    "resolution_plan",
    "sampling_mode",
    "slerp",
]


class Generator(ModelMixin, ConfigMixin):
    r"""Base class for every genzoo generator.

    A subclass is a diffusers model: decorate its `__init__` with `@register_to_config` and its configuration is
    saved as `config.json` beside safetensors weights. The configuration must hold

    - `latent_dim` (`int`): size of the latent vector,
    - `image_size` (`int`): height and width of the generated images,
    - `num_channels` (`int`): 1 for grayscale, 3 for RGB,
    - `num_classes` (`int`, optional): number of classes for a class-conditional model, else 0 or absent.

    When it reloads a pipeline, diffusers looks the name `ModelMixin` up on the component's own module; defining a
    subclass puts that name into the subclass's module, so a modeling file needs no `from diffusers import
    ModelMixin` of its own.

    Attributes:
        latent_prior (`str`): the prior `sample_latents` draws from, `"gaussian"` (N(0, I)) by default. A subclass
            that overrides `sample_latents` with another prior names it here, so that the truncation trick (which
            assumes a Gaussian prior) is refused for it.
    """

    config_name = "config.json"
    latent_prior: ClassVar[str] = "gaussian"
    #: Redraw rounds after which the truncation trick gives up (a threshold too small to be met in practice).
    max_truncation_rounds: ClassVar[int] = 1000
    #: Whether images can be inverted to latents by optimising them through `forward` (which must then be
    #: differentiable in the latents). A family that cannot says so here: `pipe.invert`, `inpaint`,
    #: `super_resolve` and `denoise` then refuse it with a one-line error, and `supported_tasks()` leaves them out.
    supports_inversion: ClassVar[bool] = True
    #: Whether `forward` also takes `class_labels` as a float tensor of shape `(batch, num_classes)` of class
    #: weights, which mix the class embeddings linearly (what `pipe.class_interpolation` walks along).
    supports_class_mixing: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # diffusers' loader calls getattr(module, "ModelMixin") on the component's module to recognise it as a
        # loadable model; provide the name there so plugin authors need no unused import.
        module = sys.modules.get(cls.__module__)
        if module is not None and not hasattr(module, "ModelMixin"):
            module.ModelMixin = ModelMixin

    def forward(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        r"""Map latents of shape `(batch, *latent_shape)` (and integer `class_labels` of shape `(batch,)` for a
        conditional model) to images of shape `(batch, num_channels, image_size, image_size)` in [-1, 1]."""
        raise NotImplementedError

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one latent, without the batch dimension."""
        return (self.config.latent_dim,)

    @property
    def num_classes(self) -> int:
        """Number of classes a conditional model knows; 0 for an unconditional one."""
        return int(getattr(self.config, "num_classes", 0) or 0)

    @property
    def is_conditional(self) -> bool:
        return self.num_classes > 0

    def sample_latents(
        self,
        batch_size: int,
        generator: torch.Generator | list[torch.Generator] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        truncation: float | None = None,
    ) -> torch.Tensor:
        r"""Draw latents from the prior N(0, I).

        Args:
            batch_size (`int`): number of latents.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): source of randomness; a CPU
                generator gives the same latents on every device.
            device, dtype: where and how to return them (defaults: the model's).
            truncation (`float`, *optional*): the truncation trick: redraw the whole batch from the same generator
                and take the new value of every component still outside [-truncation, truncation], until none is;
                each component then follows N(0, 1) truncated to that interval. `None` draws the plain prior.

        Raises:
            `ValueError`: for a non-positive `truncation`, a prior that is not Gaussian, or a threshold so small
                that `max_truncation_rounds` redraws do not meet it.
        """
        shape = (batch_size, *self.latent_shape)
        device = torch.device(device) if device is not None else self.device
        latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype or self.dtype)
        if truncation is None:
            return latents
        if self.latent_prior != "gaussian":
            raise ValueError(
                f"{type(self).__name__} draws latents from a {self.latent_prior} prior; the truncation trick needs a "
                "Gaussian prior, so drop `truncation`."
            )
        if not truncation > 0:
            raise ValueError(f"`truncation` must be positive, got {truncation}.")
        for _ in range(self.max_truncation_rounds):
            outside = latents.abs() > truncation
            if not outside.any():
                return latents
            redrawn = randn_tensor(shape, generator=generator, device=device, dtype=dtype or self.dtype)
            latents = torch.where(outside, redrawn, latents)
        raise ValueError(
            f"`truncation` {truncation} is too small: {self.max_truncation_rounds} redraws left latents outside it; "
            "use a larger value."
        )

    def prior_nll(self, latents: torch.Tensor) -> torch.Tensor:
        r"""The negative log-density of the latent prior, up to a constant, per latent: ½‖z‖² for N(0, I).

        Inversion adds it to the data term so that optimised latents stay where the prior has mass. A generator
        that overrides `sample_latents` with another prior (and names it in `latent_prior`) overrides this one too.

        Args:
            latents (`torch.Tensor`): shape `(batch, *latent_shape)`.

        Returns:
            `torch.Tensor` of shape `(batch,)`.
        """
        if self.latent_prior != "gaussian":
            raise NotImplementedError(
                f"{type(self).__name__} has a {self.latent_prior} prior and does not define prior_nll; invert with "
                "prior='none' or override prior_nll."
            )
        return 0.5 * latents.flatten(1).pow(2).sum(1)

    def posterior(
        self, images: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        r"""The approximate posterior q(z|x) = N(mean, diag exp(logvar)) of a generator with an encoder (a VAE),
        or `None` for one without (a GAN), which is the default.

        Inversion starts from the posterior mean when there is one; `pipe.find_directions(method="dims")` ranks
        the latent dimensions by their KL to the prior.

        Args:
            images (`torch.Tensor`): `(batch, num_channels, image_size, image_size)` in [-1, 1].
            class_labels (`torch.Tensor`, *optional*): `(batch,)` class indices for a conditional encoder.

        Returns:
            `(mean, logvar)`, each of shape `(batch, *latent_shape)`, or `None`.
        """
        return None

    def interpolate_latents(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
        """Latents on the great circle from `start` to `end` (spherical interpolation suits Gaussian latents, whose
        mass lies near a sphere; a straight line would pass through unlikely low-norm latents)."""
        weights = torch.linspace(0.0, 1.0, steps, device=start.device, dtype=torch.float32)
        return torch.stack([slerp(start, end, float(t)) for t in weights])


@contextlib.contextmanager
def sampling_mode(model: torch.nn.Module, ema: Any = None) -> Iterator[torch.nn.Module]:
    """Sample from `model` as its saved pipeline will: in eval mode (batch norm must not update its statistics), in
    float32 even while a mixed-precision run trains it, and, with a diffusers `EMAModel`, with the EMA weights. The
    training mode, precision and weights come back afterwards, also after an error."""
    was_training = model.training
    # Accelerate's mixed precision wraps a prepared model's forward in autocast (keeping the original beside it);
    # a grid drawn through the wrapper would differ from what the saved pipeline draws.
    mixed_forward, full_forward = model.__dict__.get("forward"), model.__dict__.get("_original_forward")
    if ema is not None:
        ema.store(model.parameters())
        ema.copy_to(model.parameters())
    model.eval()
    if mixed_forward is not None and full_forward is not None:
        model.forward = full_forward
    try:
        yield model
    finally:
        model.train(was_training)
        if mixed_forward is not None and full_forward is not None:
            model.forward = mixed_forward
        if ema is not None:
            ema.restore(model.parameters())


def slerp(start: torch.Tensor, end: torch.Tensor, t: float, eps: float = 1e-7) -> torch.Tensor:
    r"""Spherical linear interpolation between two latents (each tensor is treated as one vector).

    The direction moves along the great circle from `start` to `end` at constant angular speed, and the norm
    moves linearly between theirs:

        slerp(p₀, p₁; t) = ((1 − t)‖p₀‖ + t‖p₁‖) · (sin((1 − t)Ω) u₀ + sin(tΩ) u₁) / sin Ω,

    with uᵢ = pᵢ / ‖pᵢ‖ and Ω the angle between them. For latents of equal norm this is the classic slerp, which
    keeps the norm; a straight line instead cuts through the low-norm middle of a Gaussian, where the prior has
    almost no mass (at its midpoint the norm drops to ‖p‖·cos(Ω/2), about 0.71‖p‖ for independent latents).
    `t = 0` returns `start` and `t = 1` returns `end` exactly.

    Edge cases: nearly parallel latents, a zero latent and one-element latents fall back to the straight line (the
    limit, or the only path there is). For nearly antiparallel latents the great circle is not unique, so the path
    turns through a fixed direction orthogonal to `start` (two quarter circles) instead of collapsing to zero.
    """
    if t == 0:
        return start.clone()
    if t == 1:
        return end.clone()
    start_flat, end_flat = start.flatten().double(), end.flatten().double()
    start_norm, end_norm = start_flat.norm(), end_flat.norm()
    if min(start_norm, end_norm) < eps or start_flat.numel() < 2:
        return ((1.0 - t) * start_flat + t * end_flat).reshape(start.shape).to(start.dtype)
    start_unit, end_unit = start_flat / start_norm, end_flat / end_norm
    omega = torch.arccos(torch.dot(start_unit, end_unit).clamp(-1.0, 1.0))
    if omega < 1e-4:
        return ((1.0 - t) * start_flat + t * end_flat).reshape(start.shape).to(start.dtype)
    if torch.pi - omega < 1e-4:
        middle = _orthogonal_direction(start_unit)
        if t <= 0.5:
            direction = _great_circle(start_unit, middle, 2 * t)
        else:
            direction = _great_circle(middle, end_unit, 2 * t - 1)
    else:
        direction = _great_circle(start_unit, end_unit, t)
    out = ((1.0 - t) * start_norm + t * end_norm) * direction
    return out.reshape(start.shape).to(start.dtype)


def _great_circle(start_unit: torch.Tensor, end_unit: torch.Tensor, t: float) -> torch.Tensor:
    """The unit vector a fraction `t` of the way along the great circle between two unit vectors that are neither
    parallel nor antiparallel."""
    omega = torch.arccos(torch.dot(start_unit, end_unit).clamp(-1.0, 1.0))
    return (torch.sin((1.0 - t) * omega) * start_unit + torch.sin(t * omega) * end_unit) / torch.sin(omega)


def _orthogonal_direction(unit: torch.Tensor) -> torch.Tensor:
    """A unit vector orthogonal to the 1-D unit vector `unit` (of two or more elements), chosen deterministically:
    the basis vector along its smallest component, with the `unit` part removed."""
    basis = torch.zeros_like(unit)
    basis[unit.abs().argmin()] = 1.0
    direction = basis - torch.dot(basis, unit) * unit
    return direction / direction.norm()


def check_sizes(owner: str, **sizes: Any) -> None:
    """Refuse a network size that is not a positive integer (`latent_dim=0`, `base_channels=-1`), in one line, when
    the network is built: torch would build such a layer and fail only at the first step.

    Args:
        owner (`str`): the class being built, for the message.
        sizes: the sizes to check, by argument name.

    Raises:
        `ValueError`: naming the first bad size.
    """
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{owner} needs {name} to be a positive integer, got {value!r}.")


def resolution_plan(image_size: int) -> tuple[int, int]:
    """The smallest feature map of a convolutional generator or critic and the number of 2x resamplings between it
    and `image_size`: 28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4).

    Raises:
        `ValueError`: for sizes that are not 4 to 7 times a power of two.
    """
    size, num_layers = image_size, 0
    while size > 7 and size % 2 == 0:
        size, num_layers = size // 2, num_layers + 1
    if not 4 <= size <= 7 or num_layers == 0:
        raise ValueError(
            f"image_size {image_size} is not supported: it must be 4 to 7 times a power of two, such as 28, 32 or 64."
        )
    return size, num_layers


def dcgan_init(module: torch.nn.Module) -> None:
    """The DCGAN paper's initialisation (Radford et al. 2016), for `network.apply(dcgan_init)`: N(0, 0.02)
    convolution and linear weights with zero biases, N(1, 0.02) scales of affine batch norms. Other layers keep
    PyTorch's initialisation."""
    nn = torch.nn
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def class_embedding(embedding: torch.nn.Embedding, class_labels: torch.Tensor) -> torch.Tensor:
    r"""Look up integer class labels `(batch,)` in `embedding`, or mix its rows linearly with float class weights
    `(batch, num_classes)`: what a generator with `supports_class_mixing` uses, so that class interpolation walks
    between class embeddings.

    Args:
        embedding (`torch.nn.Embedding`): one row per class.
        class_labels (`torch.Tensor`): integer labels or float class weights.

    Returns:
        `torch.Tensor` of shape `(batch, embedding_dim)`.
    """
    if class_labels.is_floating_point():
        return class_labels.to(embedding.weight.dtype) @ embedding.weight
    return embedding(class_labels)


# How torch words a size that does not fit (in a shape, a storage or a C integer).
_SIZE_ERROR = re.compile(r"overflow|too large|out of range|storage size", re.IGNORECASE)


def meta_model(generator_class: type[ModelMixin], config: dict[str, Any], *, where: Any = None) -> torch.nn.Module:
    r"""Build a model from its config on the meta device: every parameter's shape, and no memory, no weight
    initialisers. Loading checks weights and sizes against it before anything is allocated.

    Args:
        generator_class (`type`): a diffusers model class (a `Generator` subclass).
        config (`dict`): its configuration, as `load_config` returns it.
        where (*optional*): the file the config came from, for the message.

    Returns:
        `torch.nn.Module`: the model, on the meta device (`model_bytes` gives what it would take in memory).

    Raises:
        `GenzooError`: one line when the sizes overflow what torch can describe (`base_channels=2**31`).
        `ValueError`, `TypeError`, `RuntimeError`: what the constructor raises otherwise (a bad value, or a
            constructor that needs real tensors).
    """
    from diffusers.models import modeling_utils  # lazy: imported by then (the class is a ModelMixin)

    no_init = getattr(modeling_utils, "no_init_weights", contextlib.nullcontext)
    try:
        with no_init(), torch.device("meta"):
            return generator_class.from_config(config)
    except (OverflowError, MemoryError, RuntimeError, TypeError) as exc:
        message = " ".join(str(exc).split("\n")[0].split())  # torch appends a C++ stack trace to some
        if isinstance(exc, RuntimeError | TypeError) and not _SIZE_ERROR.search(message):
            raise
        source = f"{where} describes" if where is not None else f"The config of {generator_class.__name__} describes"
        raise GenzooError(
            f"{source} a {generator_class.__name__} too large to build ({type(exc).__name__}: {message[:200]}); "
            "check its sizes (channels, latent size, image size)."
        ) from None


def model_bytes(model: torch.nn.Module) -> int:
    """The bytes a model's parameters and buffers take once allocated (for a model on the meta device too)."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)
