"""The `Generator` interface: latents (and optional class labels) in, images in [-1, 1] out."""

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.utils.torch_utils import randn_tensor

__all__ = ["Generator", "slerp"]


class Generator(ModelMixin, ConfigMixin):
    r"""Base class for every genzoo generator.

    A subclass is a diffusers model: decorate its `__init__` with `@register_to_config` and its configuration is
    saved as `config.json` beside safetensors weights. The configuration must hold

    - `latent_dim` (`int`): size of the latent vector,
    - `image_size` (`int`): height and width of the generated images,
    - `num_channels` (`int`): 1 for grayscale, 3 for RGB,
    - `num_classes` (`int`, optional): number of classes for a class-conditional model, else 0 or absent.

    The modeling file of a subclass must also `from diffusers import ModelMixin` by name: diffusers looks that
    name up on the component's own module when it reloads a pipeline.
    """

    config_name = "config.json"

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
    ) -> torch.Tensor:
        r"""Draw latents from the prior N(0, I).

        Args:
            batch_size (`int`): number of latents.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): source of randomness; a CPU
                generator gives the same latents on every device.
            device, dtype: where and how to return them (defaults: the model's).
        """
        return randn_tensor(
            (batch_size, *self.latent_shape),
            generator=generator,
            device=torch.device(device) if device is not None else self.device,
            dtype=dtype or self.dtype,
        )

    def interpolate_latents(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
        """Latents on the great circle from `start` to `end` (spherical interpolation suits Gaussian latents, whose
        mass lies near a sphere; a straight line would pass through unlikely low-norm latents)."""
        weights = torch.linspace(0.0, 1.0, steps, device=start.device, dtype=torch.float32)
        return torch.stack([slerp(start, end, float(t)) for t in weights])


def slerp(start: torch.Tensor, end: torch.Tensor, t: float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical linear interpolation between two latents; falls back to a straight line for parallel ones."""
    start_flat, end_flat = start.flatten().double(), end.flatten().double()
    cos = torch.dot(start_flat, end_flat) / (start_flat.norm() * end_flat.norm()).clamp_min(eps)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4:
        out = (1.0 - t) * start_flat + t * end_flat
    else:
        out = (torch.sin((1.0 - t) * omega) * start_flat + torch.sin(t * omega) * end_flat) / torch.sin(omega)
    return out.reshape(start.shape).to(start.dtype)
