r"""Degradations: the known operators A from clean images to observations that restoration undoes (a mask, a
downsampling, added noise), differentiable, on pixels in [0, 1].

A restore task registers a factory of its degradation in the task table (`degradation=`); the command line's
`--simulate`, the demo and the tester mixins build observations with `degrade`, and inversion fits `forward` and
`data_term`. A new degradation subclasses `Degradation` and implements `forward`.
"""

import torch
import torch.nn.functional as F

from ..errors import GenzooError
from ..images import ImageInput, check_size, to_mask

__all__ = ["Degradation", "Downsample", "GaussianNoise", "Mask", "masked"]


class Degradation:
    r"""A known degradation A from clean images to observations, differentiable, on pixels in [0, 1].

    Subclasses implement `forward` (the noise-free operator) and may override the rest.

    Attributes:
        noise_std (`float`): standard deviation σ of the observation noise the data term assumes; small for a
            noise-free degradation (it then only sets how much the prior counts).
        name (`str`): a short name for figures and errors.
    """

    name = "degradation"
    noise_std: float = 0.05

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The noise-free degradation of clean images `(batch, C, H, W)` in [0, 1]."""
        raise NotImplementedError

    def observed_size(self, image_size: int) -> int:
        """Height and width of an observation of an `image_size` image."""
        return image_size

    def check(self, observed: torch.Tensor, image_size: int) -> None:
        """Raise a one-line `GenzooError` when `observed` does not fit a model of `image_size`."""
        check_size(observed, self.observed_size(image_size), f"{self.name} with this model needs")

    def data_term(self, predicted: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        r"""‖predicted − observed‖² / (2σ²) per image, for `predicted = forward(G(z))`."""
        return (predicted - observed).pow(2).flatten(1).sum(1) / (2.0 * self.noise_std**2)

    def degrade(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Simulate an observation of clean images (the operator, plus noise for a noisy degradation)."""
        return self.forward(images)

    def initial_estimate(self, observed: torch.Tensor, image_size: int) -> torch.Tensor:
        """A rough clean image for an observation, which an encoder can start inversion from."""
        return observed

    def finalize(self, restored: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """The returned images, from the generated ones (inpainting puts the known pixels back here)."""
        return restored

    def display(self, observed: torch.Tensor, image_size: int) -> torch.Tensor:
        """The observation at full size, for figures."""
        return observed

    def select(self, index: torch.Tensor) -> "Degradation":
        """This degradation for a subset (or repetition) of the images, by index into the batch."""
        return self


class Mask(Degradation):
    r"""Missing pixels: only the pixels outside the mask are observed (inpainting).

    Args:
        mask (`torch.Tensor`): bool `(batch or 1, 1, H, W)`, True where the pixels are missing (see `to_mask`).
        noise_std (`float`, defaults to 0.05): σ of the data term.
    """

    name = "inpainting"

    def __init__(self, mask: torch.Tensor, noise_std: float = 0.05) -> None:
        if mask.dtype != torch.bool or mask.dim() != 4 or mask.shape[1] != 1:
            raise GenzooError("Mask needs a bool mask of shape (batch, 1, H, W); build it with to_mask().")
        self.mask, self.noise_std = mask, float(noise_std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.masked_fill(self.mask.to(images.device), 0.0)

    def check(self, observed: torch.Tensor, image_size: int) -> None:
        super().check(observed, image_size)
        if self.mask.shape[-2:] != observed.shape[-2:]:
            height, width = self.mask.shape[-2:]
            raise GenzooError(
                f"`mask_image` is {width}x{height} but the image is {observed.shape[-1]}x{observed.shape[-2]}; "
                "pass a mask of the image's size."
            )
        if self.mask.shape[0] not in (1, observed.shape[0]):
            raise GenzooError(f"Got {self.mask.shape[0]} masks for {observed.shape[0]} images; pass one or one each.")

    def data_term(self, predicted: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        # Only the known pixels count: the missing ones are zeroed on both sides (forward() is idempotent).
        return super().data_term(self.forward(predicted), self.forward(observed))

    def initial_estimate(self, observed: torch.Tensor, image_size: int) -> torch.Tensor:
        mask = self.mask.to(observed.device).expand_as(observed[:, :1])
        known = (~mask).float()
        fill = (observed * known).flatten(1).sum(1) / known.flatten(1).sum(1).clamp_min(1.0) / observed.shape[1]
        return torch.where(mask, fill.view(-1, 1, 1, 1), observed)

    def finalize(self, restored: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask.to(restored.device), restored, observed.to(restored))

    def display(self, observed: torch.Tensor, image_size: int) -> torch.Tensor:
        return observed.masked_fill(self.mask.to(observed.device), 0.5)  # missing pixels shown grey

    def select(self, index: torch.Tensor) -> "Mask":
        return Mask(self.mask if self.mask.shape[0] == 1 else self.mask[index], self.noise_std)


class Downsample(Degradation):
    r"""Downsampling by an integer factor with area averaging (each low-resolution pixel is the mean of a
    `scale` × `scale` block): super-resolution.

    Args:
        scale (`int`, defaults to 4): the factor; it must divide the model's image size.
        noise_std (`float`, defaults to 0.05): σ of the data term.
    """

    name = "super-resolution"

    def __init__(self, scale: int = 4, noise_std: float = 0.05) -> None:
        if not isinstance(scale, int) or isinstance(scale, bool) or scale < 2:
            raise GenzooError(f"`scale` must be an integer of at least 2, got {scale!r}.")
        self.scale, self.noise_std = scale, float(noise_std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(images, self.scale)

    def observed_size(self, image_size: int) -> int:
        if image_size % self.scale:
            raise GenzooError(
                f"scale {self.scale} does not divide the model's image size {image_size}; pick a scale that does "
                f"(e.g. {', '.join(str(s) for s in range(2, image_size) if image_size % s == 0)})."
            )
        return image_size // self.scale

    def check(self, observed: torch.Tensor, image_size: int) -> None:
        size = self.observed_size(image_size)
        height, width = observed.shape[-2:]
        if (height, width) != (size, size):
            hint = (
                " (a full-size image: downsample it first with Downsample(scale).degrade)"
                if height == image_size
                else ""
            )
            raise GenzooError(
                f"super-resolution by {self.scale} on this {image_size}x{image_size} model takes {size}x{size} "
                f"low-resolution images, got {width}x{height}{hint}."
            )

    def initial_estimate(self, observed: torch.Tensor, image_size: int) -> torch.Tensor:
        return F.interpolate(observed, size=(image_size, image_size), mode="bilinear", align_corners=False)

    def display(self, observed: torch.Tensor, image_size: int) -> torch.Tensor:
        return F.interpolate(observed, size=(image_size, image_size), mode="nearest")


class GaussianNoise(Degradation):
    r"""Additive Gaussian noise of standard deviation `noise_std` on [0, 1] pixels: denoising.

    `degrade` clips the noisy pixels to [0, 1], as saving an image does; the data term treats the noise as Gaussian.

    Args:
        noise_std (`float`, defaults to 0.1): σ on the [0, 1] pixel scale.
    """

    name = "denoising"

    def __init__(self, noise_std: float = 0.1) -> None:
        if not noise_std > 0:
            raise GenzooError(f"`noise_std` must be positive, got {noise_std!r}.")
        self.noise_std = float(noise_std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def degrade(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(images.shape, generator=generator, device=images.device if generator is None else "cpu")
        return (images + self.noise_std * noise.to(images)).clamp(0.0, 1.0)


def masked(mask_image: ImageInput, noise_std: float = 0.05) -> Mask:
    """The `Mask` of an inpainting mask in any form `genzoo.images.to_mask` reads (white = repaint)."""
    return Mask(to_mask(mask_image), noise_std)
