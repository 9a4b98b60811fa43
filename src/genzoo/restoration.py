r"""Inversion (image to latent) and restoration with a known degradation, behind `pipe.invert`, `pipe.restore`,
`pipe.inpaint`, `pipe.super_resolve` and `pipe.denoise`.

Restoration follows deep-generative-prior restoration (Bora et al. 2017; Pan et al. 2021): an observation y of an
unknown clean image x was made by a known degradation A (a mask, a downsampling, added noise). genzoo looks for the
latent z whose generated image G(z), degraded the same way, matches y, while staying where the prior has mass:

    minimise over z:   ‖A(G(z)) − y‖² / (2σ²)  +  prior_weight · (−log p(z))  [+ feature_weight · ‖φ(A(G(z))) − φ(y)‖²]

which is the negative log-posterior of z under Gaussian observation noise of standard deviation σ (the
degradation's `noise_std`): a maximum-a-posteriori estimate. Adam optimises several starting points at once
(random draws from the prior, and the encoder's posterior mean for a model that has an encoder) and the best one
per image is kept. A conditional model whose class is not given tries every class. Everything goes through the
`Generator` interface (`forward`, `sample_latents`, `prior_nll`, `posterior`), so a plugin's family gets it for
free.

Pixels are in [0, 1] here (the convention of diffusers' image processor and of `output_type="pt"`); the generator's
[-1, 1] images are mapped to it.
"""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from .errors import GenzooError
from .modeling import Generator, sampling_mode

if TYPE_CHECKING:
    from .pipeline import GenPipeline

__all__ = [
    "PRIORS",
    "Degradation",
    "Downsample",
    "GaussianNoise",
    "InversionResult",
    "Mask",
    "captioned_grid",
    "invert",
    "restoration_figure",
    "restore",
    "to_mask",
    "to_output",
    "to_pixels",
]

PRIORS = ("penalty", "sphere", "none")
_SCREEN_CHUNK = 1024  # prior draws evaluated at once when screening (bounds the memory of the forward passes)
ImageInput = PIL.Image.Image | list[PIL.Image.Image] | np.ndarray | torch.Tensor


# --- images in -----------------------------------------------------------------------------------------------------
def to_pixels(image: ImageInput, num_channels: int | None = None, name: str = "image") -> torch.Tensor:
    r"""Images as a float32 `(batch, channels, height, width)` tensor in [0, 1] on the CPU, without resizing.

    Args:
        image: a PIL image or a list of them (converted to grey for `num_channels=1`, to RGB for 3); a numpy array
            `(H, W)`, `(H, W, C)` or `(N, H, W, C)` in [0, 1] (uint8 arrays are divided by 255); or a torch tensor
            `(C, H, W)` or `(N, C, H, W)` in [0, 1], as diffusers' image processor takes them.
        num_channels (`int`, *optional*): the channels the model makes; arrays and tensors with another count are
            refused (PIL images are converted).
        name (`str`): what the error messages call the input.

    Returns:
        `torch.Tensor` of shape `(batch, channels, height, width)`.
    """
    if isinstance(image, PIL.Image.Image):
        image = [image]
    if isinstance(image, list | tuple):
        if not image or not all(isinstance(item, PIL.Image.Image) for item in image):
            raise GenzooError(f"`{name}` must be a PIL image, a list of PIL images, a numpy array or a torch tensor.")
        mode = {1: "L", 3: "RGB"}.get(num_channels or 0)
        arrays = [np.asarray(item.convert(mode) if mode else item, dtype=np.float32) / 255.0 for item in image]
        if len({array.shape for array in arrays}) != 1:
            raise GenzooError(f"The images in `{name}` have different sizes; pass images of one size.")
        image = np.stack([array[..., None] if array.ndim == 2 else array for array in arrays])
    if isinstance(image, np.ndarray):
        array = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4:
            raise GenzooError(
                f"`{name}` as a numpy array must be (H, W), (H, W, C) or (N, H, W, C), got {image.shape}."
            )
        image = torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))
    if not torch.is_tensor(image):
        raise GenzooError(
            f"`{name}` must be a PIL image, a numpy array or a torch tensor, got {type(image).__name__}."
        )
    pixels = image.detach().float().cpu()
    if pixels.dim() == 3:
        pixels = pixels[None]
    if pixels.dim() != 4 or pixels.shape[0] == 0:
        raise GenzooError(f"`{name}` as a tensor must be (C, H, W) or (N, C, H, W), got {tuple(image.shape)}.")
    if num_channels is not None and pixels.shape[1] != num_channels:
        raise GenzooError(
            f"`{name}` has {pixels.shape[1]} channel(s) but the model makes {num_channels}-channel images; convert "
            f"it (a PIL image is converted for you)."
        )
    if not torch.isfinite(pixels).all() or pixels.min() < -1e-3 or pixels.max() > 1 + 1e-3:
        raise GenzooError(
            f"`{name}` must hold pixels in [0, 1], got values in [{pixels.min():.3g}, {pixels.max():.3g}] (map "
            "[-1, 1] images with (x + 1) / 2)."
        )
    return pixels.clamp(0.0, 1.0)


def to_mask(mask_image: ImageInput) -> torch.Tensor:
    r"""An inpainting mask as a bool `(batch, 1, height, width)` tensor, True where pixels are to be repainted.

    The convention is diffusers': white (≥ 0.5 on [0, 1]) marks the pixels to repaint, black the known ones. A PIL
    mask is read in grey levels; arrays and tensors take the layouts of `to_pixels` (`(H, W)` too) and must have
    one channel.
    """
    if torch.is_tensor(mask_image) and mask_image.dim() == 2:
        mask_image = mask_image[None]
    mask = to_pixels(mask_image, None, name="mask_image")
    if mask.shape[1] != 1:
        if isinstance(mask_image, PIL.Image.Image | list | tuple):
            mask = mask.mean(dim=1, keepdim=True)
        else:
            raise GenzooError(f"`mask_image` must have one channel, got {mask.shape[1]}.")
    return mask >= 0.5


def _check_size(pixels: torch.Tensor, size: int, what: str, name: str = "image") -> None:
    height, width = pixels.shape[-2:]
    if (height, width) != (size, size):
        raise GenzooError(f"`{name}` is {width}x{height} but {what} {size}x{size}.")


# --- degradations --------------------------------------------------------------------------------------------------
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
        _check_size(observed, self.observed_size(image_size), f"{self.name} with this model needs")

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


# --- inversion -----------------------------------------------------------------------------------------------------
@dataclass
class InversionResult:
    r"""What `invert` found for each image.

    Args:
        latents (`torch.Tensor`): `(batch, *latent_shape)`, the best latent per image.
        class_labels (`torch.Tensor` or `None`): `(batch,)` the class used (given or found) for a conditional model.
        images (`torch.Tensor`): `(batch, C, H, W)` in [0, 1], the generated images G(z) (before `finalize`).
        objective (`torch.Tensor`): `(batch,)` the minimised objective (data term + prior [+ features]).
    """

    latents: torch.Tensor
    class_labels: torch.Tensor | None
    images: torch.Tensor
    objective: torch.Tensor


def _check_invertible(model: Generator) -> None:
    if not getattr(model, "supports_inversion", True):
        raise GenzooError(
            f"{type(model).__name__} does not support inversion (its family sets supports_inversion = False), so "
            "it cannot invert, inpaint, super-resolve or denoise images."
        )


def _load_feature_extractor(feature_extractor: Any) -> Any:
    if feature_extractor == "mnist-classifier":  # the classifier shipped with genzoo; lazy, it loads weights
        from .metrics.mnist_classifier import load_mnist_classifier

        return load_mnist_classifier().features
    if feature_extractor is not None and not callable(feature_extractor):
        raise GenzooError("`feature_extractor` must be a callable on [-1, 1] images or 'mnist-classifier'.")
    return feature_extractor


def invert(
    model: Generator,
    observed: torch.Tensor,
    *,
    degradation: Degradation | None = None,
    class_labels: torch.Tensor | None = None,
    num_steps: int = 200,
    num_restarts: int = 4,
    num_candidates: int | None = None,
    lr: float = 0.1,
    prior: str = "penalty",
    prior_weight: float = 1.0,
    feature_extractor: Any = None,
    feature_weight: float = 1.0,
    use_encoder: bool = True,
    batch_size: int = 64,
    generator: torch.Generator | None = None,
) -> InversionResult:
    r"""Find latents whose generated images, degraded by `degradation`, match `observed` (see the module docstring).

    Args:
        model (`Generator`): the generator (put in eval mode for the search; its weights are not changed).
        observed (`torch.Tensor`): observations `(batch, C, h, w)` in [0, 1]; clean images when `degradation` is
            `None` (plain inversion).
        degradation (`Degradation`, *optional*): the known degradation; `None` inverts clean images (σ = 0.05).
        class_labels (`torch.Tensor`, *optional*): `(batch,)` classes for a conditional model; when omitted every
            class is tried (`num_restarts` starts each) and the best is kept.
        num_steps (`int`, defaults to 200): Adam steps (the learning rate decays to 0 on a cosine). 0 keeps the
            encoder's posterior mean (models with an encoder only).
        num_restarts (`int`, defaults to 4): starting points per image (and class): the encoder's posterior mean
            when there is one (and `use_encoder`), the rest drawn from the prior with `generator`.
        num_candidates (`int`, *optional*): screen this many prior draws per image (and class) before optimising:
            the objective of each draw is computed once without gradients, and the best ones become the prior
            starting points (a cheap first stage, as in GAN-inversion work: a forward pass costs less than half an
            optimisation step). Defaults to `num_restarts` (no screening); it must be at least `num_restarts`.
        lr (`float`, defaults to 0.1): Adam's learning rate (0.1 inverted 16 held-out digits with a DCGAN 1.5 dB
            better than 0.05).
        prior (`str`, defaults to `"penalty"`): `"penalty"` adds `prior_weight · model.prior_nll(z)`; `"sphere"`
            keeps z on the sphere of radius √dim where a Gaussian latent's mass lies (no penalty); `"none"`.
        prior_weight (`float`, defaults to 1.0): weight of the prior penalty (1 is the true posterior).
        feature_extractor (callable or `"mnist-classifier"`, *optional*): features of [-1, 1] images for a feature
            loss; only where observations are full images (plain inversion, denoising).
        feature_weight (`float`, defaults to 1.0): weight of the feature loss.
        use_encoder (`bool`, defaults to `True`): start from the posterior mean of a model with an encoder.
        batch_size (`int`, defaults to 64): images optimised together (each with all its starting points).
        generator (`torch.Generator`, *optional*): makes the starting points, and so the result, deterministic.

    Returns:
        `InversionResult`.
    """
    _check_invertible(model)
    if prior not in PRIORS:
        raise GenzooError(f"`prior` must be one of {', '.join(PRIORS)}, got {prior!r}.")
    if not isinstance(num_steps, int) or num_steps < 0 or not isinstance(num_restarts, int) or num_restarts < 1:
        raise GenzooError(f"`num_steps` must be >= 0 and `num_restarts` >= 1, got {num_steps!r} and {num_restarts!r}.")
    num_candidates = num_restarts if num_candidates is None else num_candidates
    if not isinstance(num_candidates, int) or isinstance(num_candidates, bool) or num_candidates < num_restarts:
        raise GenzooError(
            f"`num_candidates` must be an integer of at least `num_restarts` ({num_restarts}), got {num_candidates!r}."
        )
    if batch_size < 1 or not lr > 0 or prior_weight < 0 or feature_weight < 0:
        raise GenzooError("`batch_size` and `lr` must be positive, `prior_weight` and `feature_weight` >= 0.")
    degradation = degradation if degradation is not None else GaussianNoise(0.05)
    features = _load_feature_extractor(feature_extractor)
    if features is not None and isinstance(degradation, Mask | Downsample):
        raise GenzooError(
            f"The feature loss compares full images, so it does not apply to {degradation.name}; drop "
            "feature_extractor."
        )
    image_size = int(model.config.image_size)
    degradation.check(observed, image_size)
    has_encoder = (
        use_encoder
        and model.posterior(
            torch.zeros(1, model.config.num_channels, image_size, image_size, device=model.device, dtype=model.dtype),
            torch.zeros(1, dtype=torch.long, device=model.device) if model.is_conditional else None,
        )
        is not None
    )
    if num_steps == 0 and not has_encoder:
        raise GenzooError(f"num_steps=0 keeps an encoder's estimate, but {type(model).__name__} has no encoder.")
    if class_labels is not None:
        class_labels = torch.as_tensor(class_labels).long().flatten().cpu()
        if not model.is_conditional:
            raise GenzooError(f"{type(model).__name__} is unconditional and takes no `class_labels`.")
        if len(class_labels) == 1 and len(observed) > 1:
            class_labels = class_labels.expand(len(observed))
        if len(class_labels) != len(observed):
            raise GenzooError(f"Got {len(class_labels)} class labels for {len(observed)} images.")

    # Every image's starting points (or candidates, when screening) are drawn up front from `generator`, in one
    # order, so a batch split does not change them: (images, classes, candidates, *latent_shape).
    num_classes = model.num_classes if model.is_conditional and class_labels is None else 1
    starts = model.sample_latents(len(observed) * num_classes * num_candidates, generator=generator, device="cpu")
    starts = starts.float().view(len(observed), num_classes, num_candidates, *model.latent_shape)
    if prior == "sphere" and model.latent_prior != "gaussian":
        raise GenzooError(
            f"prior='sphere' assumes a Gaussian latent prior; {type(model).__name__} has a {model.latent_prior} one."
        )
    if prior == "penalty" and prior_weight:
        try:
            model.prior_nll(starts[:1, 0, 0].to(model.device))
        except NotImplementedError as exc:
            raise GenzooError(str(exc)) from exc

    results = []
    with sampling_mode(model):
        for first in range(0, len(observed), batch_size):
            index = torch.arange(first, min(first + batch_size, len(observed)))
            labels = None if class_labels is None else class_labels[index]
            results.append(
                _invert_batch(
                    model, observed[index], degradation.select(index), labels, starts[index], num_restarts,
                    num_steps, lr, prior, prior_weight, features, feature_weight, has_encoder,
                )
            )  # fmt: skip
    return InversionResult(
        latents=torch.cat([r.latents for r in results]),
        class_labels=None if not model.is_conditional else torch.cat([r.class_labels for r in results]),
        images=torch.cat([r.images for r in results]),
        objective=torch.cat([r.objective for r in results]),
    )


def _invert_batch(
    model: Generator,
    observed: torch.Tensor,
    degradation: Degradation,
    class_labels: torch.Tensor | None,
    starts: torch.Tensor,
    num_restarts: int,
    num_steps: int,
    lr: float,
    prior: str,
    prior_weight: float,
    features: Any,
    feature_weight: float,
    has_encoder: bool,
) -> InversionResult:
    """`invert` for one batch: all candidates (image × class × restart) optimised together, the best kept.

    `starts` is `(images, classes, draws, *latent_shape)`; with more draws than `num_restarts`, the best
    `num_restarts` of them per image and class (by the objective, without gradients) are the starting points.
    """
    device, dtype = model.device, model.dtype
    count, num_classes, num_draws = starts.shape[:3]
    image_size = int(model.config.image_size)
    target = observed.to(device)
    target_features = None
    if features is not None:
        with torch.no_grad():
            target_features = features(target.to(dtype) * 2.0 - 1.0).float()

    def layout(num: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Image index and class label of each of `num` starts per (image, class), laid out (classes, starts,
        images), so candidate k belongs to image k % count."""
        image_index = torch.arange(count).repeat(num_classes * num)
        if not model.is_conditional:
            return image_index, None
        if class_labels is not None:
            return image_index, class_labels[image_index]
        return image_index, torch.arange(num_classes).repeat_interleave(num * count)

    def objective(z: torch.Tensor, rows: torch.Tensor, labels_z: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """The objective and generated images of latents `z`, the candidates of images `rows` with `labels_z`."""
        labels_z = None if labels_z is None else labels_z.to(device)
        degradation_z = degradation.select(rows.cpu())
        generated = model(z.to(dtype), labels_z) if labels_z is not None else model(z.to(dtype))
        generated = (generated.float() + 1.0) / 2.0
        value = degradation_z.data_term(degradation_z.forward(generated), target[rows.to(device)])
        if prior == "penalty" and prior_weight:
            value = value + prior_weight * model.prior_nll(z).float()
        if target_features is not None:
            difference = features(generated.to(dtype) * 2 - 1).float() - target_features[rows.to(device)]
            value = value + feature_weight * difference.pow(2).flatten(1).sum(1)
        return value, generated

    if num_draws > num_restarts:  # screening: keep the best draws (a prior draw is already on the sphere's shell)
        image_index, labels = layout(num_draws)
        draws = starts.permute(1, 2, 0, *range(3, starts.dim())).reshape(-1, *starts.shape[3:]).to(device)
        if prior == "sphere":
            draws = _project_to_sphere(draws)
        with torch.no_grad():
            values = torch.cat(
                [
                    objective(draws[rows], image_index[rows], None if labels is None else labels[rows])[0]
                    for rows in torch.arange(len(draws)).split(_SCREEN_CHUNK)
                ]
            )
        order = values.view(num_classes, num_draws, count).argsort(dim=1).cpu()[:, :num_restarts]
        if has_encoder:  # the encoder's start replaces the first; keep the best num_restarts - 1 draws after it
            order = order.roll(1, dims=1)
        chosen = starts.permute(1, 2, 0, *range(3, starts.dim()))  # (classes, draws, images, ...)
        index = order.view(num_classes, num_restarts, count, *([1] * (starts.dim() - 3))).expand(
            -1, -1, -1, *starts.shape[3:]
        )
        latents = chosen.gather(1, index).reshape(-1, *starts.shape[3:]).clone()
    else:
        latents = starts.permute(1, 2, 0, *range(3, starts.dim())).reshape(-1, *starts.shape[3:])
    image_index, labels = layout(num_restarts)
    if has_encoder:  # the first restart of every (image, class) starts from the posterior mean
        estimate = degradation.initial_estimate(observed, image_size).to(device, dtype) * 2.0 - 1.0
        first = torch.arange(len(latents)).view(num_classes, num_restarts, count)[:, 0].flatten()
        first_labels = None if labels is None else labels[first].to(device)
        with torch.no_grad():
            mean, _ = model.posterior(estimate[image_index[first]], first_labels)
        latents[first] = mean.float().cpu()
    latents = latents.to(device)
    if prior == "sphere":
        latents = _project_to_sphere(latents)

    best_value = torch.full((len(latents),), math.inf, device=device)
    best_latents = latents.detach().clone()
    if num_steps:
        latents = latents.detach().requires_grad_(True)
        optimizer = torch.optim.Adam([latents], lr=lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / num_steps))
        )
        with torch.enable_grad():
            for _ in range(num_steps):
                value, _ = objective(latents, image_index, labels)
                better = value.detach() < best_value
                best_value = torch.where(better, value.detach(), best_value)
                best_latents[better] = latents.detach()[better]
                (gradient,) = torch.autograd.grad(value.sum(), latents)  # no gradients for the weights
                latents.grad = gradient
                optimizer.step()
                schedule.step()
                if prior == "sphere":
                    with torch.no_grad():
                        latents.copy_(_project_to_sphere(latents))
    with torch.no_grad():  # the final point too
        value, _ = objective(latents.detach(), image_index, labels)
        better = value < best_value
        best_value = torch.where(better, value, best_value)
        best_latents[better] = latents.detach()[better]
        # The best candidate per image.
        choice = best_value.view(num_classes * num_restarts, count).argmin(0)
        chosen = choice * count + torch.arange(count, device=choice.device)
        final_latents = best_latents[chosen]
        final_labels = None if labels is None else labels[chosen.cpu()]
        final_value, images = objective(final_latents, image_index[chosen.cpu()], final_labels)
    return InversionResult(
        latents=final_latents.detach().cpu(),
        class_labels=final_labels,
        images=images.detach().cpu(),
        objective=final_value.detach().cpu(),
    )


def _project_to_sphere(latents: torch.Tensor) -> torch.Tensor:
    dim = latents[0].numel()
    norms = latents.flatten(1).norm(dim=1).clamp_min(1e-8).view(-1, *([1] * (latents.dim() - 1)))
    return latents * (math.sqrt(dim) / norms)


# --- restoration ---------------------------------------------------------------------------------------------------
def restore(
    pipe: "GenPipeline",
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
    r"""The implementation of `GenPipeline.restore` (see there)."""
    from diffusers import ImagePipelineOutput

    model = pipe.model
    _check_invertible(model)
    if output_type not in ("pil", "np", "pt", "latent"):
        raise GenzooError(f"`output_type` must be 'pil', 'np', 'pt' or 'latent', got {output_type!r}.")
    if not isinstance(degradation, Degradation):
        raise GenzooError(f"`degradation` must be a genzoo.restoration.Degradation, got {type(degradation).__name__}.")
    observed = to_pixels(image, model.config.num_channels)
    degradation.check(observed, int(model.config.image_size))
    labels = _class_labels(pipe, class_labels, len(observed))
    result = invert(
        model, observed, degradation=degradation, class_labels=labels, num_steps=num_steps, generator=generator,
        **inversion_kwargs,
    )  # fmt: skip
    if output_type == "latent":  # the latents found, whose images (before finalize) fit the observations best
        images = result.latents
    else:
        images = to_output(degradation.finalize(result.images, observed), output_type)
    return ImagePipelineOutput(images=images) if return_dict else (images,)


def invert_images(
    pipe: "GenPipeline",
    images: ImageInput,
    *,
    class_labels: Any = None,
    num_steps: int = 200,
    generator: torch.Generator | None = None,
    return_class_labels: bool = False,
    **inversion_kwargs: Any,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
    r"""The implementation of `GenPipeline.invert` (see there)."""
    model = pipe.model
    _check_invertible(model)
    pixels = to_pixels(images, model.config.num_channels, name="images")
    _check_size(pixels, int(model.config.image_size), "the model makes", name="images")
    labels = _class_labels(pipe, class_labels, len(pixels))
    result = invert(model, pixels, class_labels=labels, num_steps=num_steps, generator=generator, **inversion_kwargs)
    return (result.latents, result.class_labels) if return_class_labels else result.latents


def _class_labels(pipe: "GenPipeline", class_labels: Any, count: int) -> torch.Tensor | None:
    """Class labels (indices or names, one or one per image) as a `(count,)` tensor, or `None` to search them."""
    if class_labels is None:
        return None
    labels = pipe.prepare_class_labels(pipe.class_indices(class_labels), count).cpu()
    if len(labels) == 1:
        labels = labels.expand(count)
    if len(labels) != count:
        raise GenzooError(f"Got {len(labels)} class labels for {count} images.")
    return labels


def to_output(images: torch.Tensor, output_type: str) -> Any:
    """`(batch, C, H, W)` pixels in [0, 1] as `"pt"` (as they are), `"np"` (NHWC) or `"pil"` images."""
    from diffusers.image_processor import VaeImageProcessor

    if output_type == "pt":
        return images
    array = VaeImageProcessor.pt_to_numpy(images)
    return array if output_type == "np" else VaeImageProcessor.numpy_to_pil(array)


def restoration_figure(
    image: torch.Tensor | None,
    degraded: torch.Tensor,
    restored: torch.Tensor,
    original: torch.Tensor | None = None,
    panel_size: int = 112,
) -> PIL.Image.Image:
    r"""One row per image: input (when it differs from the others), degraded (what the model saw, at full size),
    restored and original (when known); see `captioned_grid`.

    Args:
        image, degraded, restored, original (`torch.Tensor`): `(batch, C, H, W)` in [0, 1]; `image` and `original`
            may be `None`.
        panel_size (`int`, defaults to 112): side of every panel.

    Returns:
        `PIL.Image.Image`: the figure.
    """
    columns = [("input", image), ("degraded", degraded), ("restored", restored), ("original", original)]
    return captioned_grid([(caption, pixels) for caption, pixels in columns if pixels is not None], panel_size)


def captioned_grid(columns: list[tuple[str, torch.Tensor]], panel_size: int = 112) -> PIL.Image.Image:
    r"""A grid with one captioned column per `(caption, images)` pair and one row per image, each panel scaled up to
    `panel_size` pixels with nearest neighbours (so pixels stay visible).

    Args:
        columns (`list[tuple[str, torch.Tensor]]`): captions and `(batch, C, H, W)` images in [0, 1], one batch size.
        panel_size (`int`, defaults to 112): side of every panel.

    Returns:
        `PIL.Image.Image`: the RGB grid.
    """
    from PIL import ImageDraw

    caption_height = 14
    rows = len(columns[0][1])
    figure = PIL.Image.new("RGB", (panel_size * len(columns), rows * (panel_size + caption_height)), "white")
    draw = ImageDraw.Draw(figure)
    for column, (caption, pixels) in enumerate(columns):
        resized = F.interpolate(pixels.float().cpu(), size=(panel_size, panel_size), mode="nearest")
        for row, panel in enumerate(to_output(resized.clamp(0, 1), "pil")):
            top = row * (panel_size + caption_height)
            draw.text((column * panel_size + 4, top + 1), caption, fill="black")
            figure.paste(panel.convert("RGB"), (column * panel_size, top + caption_height))
    return figure
