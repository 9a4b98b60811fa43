r"""pix2pix (Isola et al. 2017) for restoration: a U-Net that maps a degraded image to a clean one in one forward
pass, a PatchGAN discriminator that judges (degraded, restored) pairs, and the pipeline that restores with them.

The generator's "latent" is its input: the observation at full size plus one channel describing the degradation
(see `genzoo_pix2pix.degradations`), so the shared `Generator` contract holds (`pipe(latents=...)` runs the
network on given inputs, and a seed draws the same inputs). Its prior, what `sample_latents` draws, is uniform
noise degraded the way the model was trained: sampling an image-to-image model only shows what it does to noise,
and the trainer's `restorations.png` shows what it does to real images.
"""

import math
from typing import Any, ClassVar

import PIL.Image
import torch
from diffusers import ImagePipelineOutput
from diffusers.configuration_utils import register_to_config
from torch import nn

from genzoo import Generator, GenPipeline
from genzoo.errors import GenzooError
from genzoo.images import captioned_grid, to_mask, to_output, to_pixels
from genzoo.modeling import check_sizes
from genzoo.tasks import Degradation, Downsample, GaussianNoise, Mask

from .degradations import TaskSpec, encode_observation

__all__ = ["PatchGANDiscriminator", "Pix2PixGenerator", "Pix2PixPipeline"]

#: The pipeline method of each task.
TASK_METHODS = {"inpaint": "inpaint", "super-resolve": "super_resolve", "denoise": "denoise"}
#: Inversion steps of the generator prior that refines a pix2pix output (`prior=`) by default.
DEFAULT_PRIOR_STEPS = 20


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "group":  # per-sample normalisation: an image's output never depends on its batch
        return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'group', 'instance', 'batch' or 'none', got {kind!r}.")


def unet_depth(image_size: int, min_size: int = 4) -> int:
    """How many times a U-Net halves an `image_size` image: while the side is even and its half at least
    `min_size` (28 → 14 → 7: 2; 32 → 16 → 8 → 4: 3; 64: 4)."""
    depth, size = 0, image_size
    while size % 2 == 0 and size // 2 >= min_size:
        size, depth = size // 2, depth + 1
    return depth


class _ResidualBlock(nn.Module):
    """Two 3×3 convolutions with a skip: at the bottleneck they spread information across the whole image."""

    def __init__(self, channels: int, norm: str, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _norm(norm, channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
            _norm(norm, channels), nn.ReLU(), nn.Dropout(dropout), nn.Conv2d(channels, channels, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Pix2PixGenerator(Generator):
    r"""The pix2pix U-Net generator, sized for the image: strided 4×4 convolutions halve the resolution
    `unet_depth(image_size)` times (the channels double up to `max_channels`), residual blocks at the bottleneck
    reach across the whole image, and transposed convolutions come back up, each level concatenated with its skip
    connection (Ronneberger et al. 2015; Isola et al. 2017). The last layer also sees the input itself.

    For inpainting the known pixels of the input are returned exactly; only the missing ones are generated.

    Args:
        image_size (`int`, defaults to 28): height and width of the images.
        num_channels (`int`, defaults to 1): image channels (1 grey, 3 RGB).
        task (`str`, defaults to `"inpaint"`): `"inpaint"`, `"super-resolve"` or `"denoise"`.
        task_args (`dict`, *optional*): the degradations trained on (see `genzoo_pix2pix.degradations.TaskSpec`):
            `mask_kinds` (inpaint), `scales` or `scale` (super-resolve), `noise_std` as `[low, high]` or one value
            (denoise).
        base_channels (`int`, defaults to 16): channels at full resolution.
        max_channels (`int`, defaults to 128): the cap on channels at lower resolutions.
        bottleneck_blocks (`int`, *optional*): residual blocks at the bottleneck; by default enough for their
            receptive field to cover the bottleneck's feature map.
        dropout (`float`, defaults to 0.0): dropout in the bottleneck and the first up-sampling levels (pix2pix's
            noise source; 0 restores deterministically, which PSNR rewards).
        norm (`str`, defaults to `"group"`): `"group"` (per sample), `"instance"`, `"batch"` or `"none"`.
        latent_dim (`int`, *optional*): set from the others (the input's size, `(num_channels + 1) · image_size²`);
            a given value must match.
    """

    latent_prior: ClassVar[str] = "degraded-noise"
    supports_inversion: ClassVar[bool] = False  # it restores in one pass; invert a generator (vae, dcgan) instead

    @register_to_config
    def __init__(
        self,
        image_size: int = 28,
        num_channels: int = 1,
        task: str = "inpaint",
        task_args: dict[str, Any] | None = None,
        base_channels: int = 16,
        max_channels: int = 128,
        bottleneck_blocks: int | None = None,
        dropout: float = 0.0,
        norm: str = "group",
        latent_dim: int | None = None,
    ) -> None:
        super().__init__()
        check_sizes(
            type(self).__name__, image_size=image_size, num_channels=num_channels, base_channels=base_channels,
            max_channels=max_channels,
        )  # fmt: skip
        spec = TaskSpec.from_config(task, task_args, image_size)
        input_dim = (num_channels + 1) * image_size * image_size
        if latent_dim is not None and latent_dim != input_dim:
            raise ValueError(f"latent_dim is the input's size {input_dim} for this image size, got {latent_dim}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        # The canonical task name and options, and the input size, go into config.json.
        self.register_to_config(task=spec.task, task_args=spec.as_config(), latent_dim=input_dim)
        self.spec = spec
        depth = unet_depth(image_size)
        channels = [min(base_channels * 2**level, max_channels) for level in range(depth + 1)]
        bottleneck_size = image_size // 2**depth
        blocks = max(1, math.ceil(bottleneck_size / 4)) if bottleneck_blocks is None else int(bottleneck_blocks)
        in_channels = num_channels + 1
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.downs = nn.ModuleList(
            nn.Sequential(
                nn.LeakyReLU(0.2), nn.Conv2d(channels[i], channels[i + 1], 4, 2, 1), _norm(norm, channels[i + 1]),
            )
            for i in range(depth)
        )  # fmt: skip
        self.bottleneck = nn.Sequential(*(_ResidualBlock(channels[-1], norm, dropout) for _ in range(blocks)))
        self.ups = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(), nn.ConvTranspose2d(2 * channels[i + 1], channels[i], 4, 2, 1), _norm(norm, channels[i]),
                nn.Dropout(dropout if i >= depth - 2 else 0.0),
            )
            for i in reversed(range(depth))
        )  # fmt: skip
        self.head = nn.Conv2d(2 * channels[0] + in_channels, num_channels, 3, padding=1)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        size = int(self.config.image_size)
        return (int(self.config.num_channels) + 1, size, size)

    def forward(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        r"""Restore encoded observations `(batch, num_channels + 1, H, W)` (see `encode_observation`) to images in
        [-1, 1]; for inpainting, the known pixels are the input's."""
        if class_labels is not None:
            raise ValueError("Pix2PixGenerator is unconditional and takes no class labels.")
        stem = self.stem(latents)
        skips, x = [stem], stem
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.bottleneck(x)
        for up in self.ups:
            x = up(torch.cat([x, skips.pop()], dim=1))
        x = torch.cat([torch.relu(torch.cat([x, skips.pop()], dim=1)), latents], dim=1)
        images = torch.tanh(self.head(x))
        if self.spec.task == "inpaint":
            channels = int(self.config.num_channels)
            missing = latents[:, channels:] > 0.5
            images = torch.where(missing, images, latents[:, :channels])
        return images

    def sample_latents(
        self,
        batch_size: int,
        generator: torch.Generator | list[torch.Generator] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        truncation: float | None = None,
    ) -> torch.Tensor:
        r"""Inputs drawn from this model's prior: uniform noise images, degraded as in training (see the module's
        docstring). Deterministic for a CPU `generator`.

        Raises:
            `ValueError`: for `truncation`, which applies to Gaussian priors only.
        """
        if truncation is not None:
            raise ValueError(
                f"{type(self).__name__} draws its inputs from a {self.latent_prior} prior; the truncation trick "
                "needs a Gaussian prior, so drop `truncation`."
            )
        if isinstance(generator, list):
            generator = generator[0]
        if generator is None:
            generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,))))
        elif generator.device.type != "cpu":
            generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        size, channels = int(self.config.image_size), int(self.config.num_channels)
        noise = torch.rand(batch_size, channels, size, size, generator=generator)
        inputs, _ = self.spec.draw(noise, generator)
        device = torch.device(device) if device is not None else self.device
        return inputs.to(device=device, dtype=dtype or self.dtype)

    def interpolate_latents(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
        """A straight blend between two inputs (they are images, not Gaussian latents)."""
        weights = torch.linspace(0.0, 1.0, steps, device=start.device, dtype=start.dtype)
        return torch.stack([(1 - t) * start + t * end for t in weights])


class PatchGANDiscriminator(nn.Module):
    r"""The PatchGAN discriminator of pix2pix: it judges every overlapping patch of a (degraded input, image) pair
    as real or restored, one logit per patch (the 70×70 PatchGAN's layout, with as many strided layers as the
    image allows, so a 28-px digit gets 5×5 patches of 22 px).

    Args:
        image_size, num_channels: the images it judges.
        num_classes (`int`): must be 0 (the pair's input is its condition, not a class).
        base_channels (`int`, defaults to 32): channels of the first layer, doubling per layer up to 8×.
        norm (`str`, defaults to `"instance"`): `"instance"`, `"group"`, `"batch"` or `"none"`, after every layer
            but the first and last.
    """

    def __init__(
        self,
        image_size: int = 28,
        num_channels: int = 1,
        num_classes: int = 0,
        base_channels: int = 32,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        if num_classes:
            raise ValueError("PatchGANDiscriminator is conditioned on the degraded input, not on classes.")
        check_sizes(type(self).__name__, num_channels=num_channels, base_channels=base_channels)
        strided = max(1, unet_depth(image_size, min_size=7))
        channels = base_channels
        layers: list[nn.Module] = [nn.Conv2d(2 * num_channels + 1, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        for _ in range(strided - 1):
            wider = min(channels * 2, 8 * base_channels)
            layers += [nn.Conv2d(channels, wider, 4, 2, 1), _norm(norm, wider), nn.LeakyReLU(0.2)]
            channels = wider
        wider = min(channels * 2, 8 * base_channels)
        layers += [nn.Conv2d(channels, wider, 4, 1, 1), _norm(norm, wider), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(wider, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        r"""Logits `(batch, patches)` for images in [-1, 1] given their encoded degraded inputs `condition`
        `(batch, num_channels + 1, H, W)` (the adversarial objective passes it where other families pass labels)."""
        if condition is None:
            raise ValueError("PatchGANDiscriminator judges (input, image) pairs; pass the degraded input.")
        return self.net(torch.cat([condition.to(images.dtype), images], dim=1)).flatten(1)


class _StartFrom(Degradation):
    """A degradation whose inversion starts from a given estimate of the clean images (a pix2pix output), for a
    generator with an encoder; everything else is the wrapped degradation's."""

    def __init__(self, inner: Degradation, estimate: torch.Tensor) -> None:
        self.inner, self.estimate = inner, estimate
        self.name, self.noise_std = inner.name, inner.noise_std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.inner.forward(images)

    def observed_size(self, image_size: int) -> int:
        return self.inner.observed_size(image_size)

    def check(self, observed: torch.Tensor, image_size: int) -> None:
        self.inner.check(observed, image_size)

    def data_term(self, predicted: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return self.inner.data_term(predicted, observed)

    def degrade(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.inner.degrade(images, generator)

    def initial_estimate(self, observed: torch.Tensor, image_size: int) -> torch.Tensor:
        return self.estimate.to(observed)

    def finalize(self, restored: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return self.inner.finalize(restored, observed)

    def display(self, observed: torch.Tensor, image_size: int) -> torch.Tensor:
        return self.inner.display(observed, image_size)

    def select(self, index: torch.Tensor) -> "_StartFrom":
        return _StartFrom(self.inner.select(index), self.estimate[index])


class Pix2PixPipeline(GenPipeline):
    r"""A trained pix2pix model: it restores images in one forward pass through the API inversion uses
    (`inpaint`, `super_resolve`, `denoise`, `restore`), for the task it was trained on, and refuses the others in
    one line. `pipe(...)` runs the network on drawn or given inputs (see `Pix2PixGenerator`).

    Examples:
        ```py
        >>> pipe = GenPipeline.from_pretrained("runs/pix2pix-inpaint")
        >>> mask = torch.zeros(1, 1, 28, 28); mask[..., 7:21, 7:21] = 1  # white (1) = repaint
        >>> repaired = pipe.inpaint(image=digit, mask_image=mask).images
        ```
    """

    model: Pix2PixGenerator
    card_tags = ("pix2pix", "image-to-image", "image-restoration")
    card_pipeline_tag = "image-to-image"

    @classmethod
    def card_summary(cls, config: dict[str, Any]) -> str | None:
        """The model card's first line: the task and the degradations trained on (from the saved config)."""
        try:
            spec = TaskSpec.from_config(str(config.get("task")), config.get("task_args"), int(config["image_size"]))
        except (GenzooError, KeyError, TypeError, ValueError):
            return None
        return (
            f"A genzoo `pix2pix` model trained for **{spec.task}**: {spec.describe()}. It restores in one forward "
            f"pass with `pipe.{TASK_METHODS[spec.task]}(...)` or `genzoo restore FOLDER --task {spec.task}`; "
            "`restorations.png` shows training images degraded, restored and the originals."
        )

    @classmethod
    def card_usage(cls, config: dict[str, Any], load_name: str) -> str | None:
        """The model card's "How to load": restoring an image with the task the model was trained for, in Python and
        with `genzoo restore` (from the saved config; `None` keeps the generic sampling snippet)."""
        try:
            spec = TaskSpec.from_config(str(config.get("task")), config.get("task_args"), int(config["image_size"]))
        except (GenzooError, KeyError, TypeError, ValueError):
            return None
        size = int(config["image_size"])
        quarter = size // 4
        if spec.task == "inpaint":
            centre = f"{quarter}:{size - quarter}"
            setup = f"mask = torch.zeros(1, 1, {size}, {size})\nmask[..., {centre}, {centre}] = 1  # white = repaint"
            call, flags = "pipe.inpaint(image=image, mask_image=mask)", "--mask mask.png"
            image = f"a {size}x{size} image"
        elif spec.task == "super-resolve":
            scale = max(spec.scales)
            setup, call, flags = "", f"pipe.super_resolve(image=image, scale={scale})", f"--scale {scale}"
            image = f"a {size // scale}x{size // scale} image"
        else:
            noise_std = round(sum(spec.noise_std) / 2, 3)
            setup, call, flags = "", f"pipe.denoise(image=image, noise_std={noise_std})", f"--noise-std {noise_std}"
            image = f"a noisy {size}x{size} image"
        lines = [
            "import PIL.Image", "import torch", "from genzoo import GenPipeline", "",
            f'pipe = GenPipeline.from_pretrained("{load_name}")', f'image = PIL.Image.open("image.png")  # {image}',
            *([setup] if setup else []), f"restored = {call}.images[0]", 'restored.save("restored.png")',
        ]  # fmt: skip
        python = "\n".join(lines)
        return (
            f"```python\n{python}\n```\n\nFrom the command line (one forward pass): `genzoo restore {load_name} "
            f"--task {spec.task} -i image.png {flags} -o restored.png`."
        )

    @property
    def task(self) -> str:
        """The task the model was trained for: `"inpaint"`, `"super-resolve"` or `"denoise"`."""
        return self.model.spec.task

    def serves_task(self, name: str) -> bool:
        """Which of the task table's tasks this model's own methods serve (`genzoo.registry.TaskRegistration.applies`
        asks): `restore`, and the one restore task it was trained for."""
        return name in ("restore", TASK_METHODS[self.task])

    # --- restoration in one pass ---------------------------------------------------------------------------------
    @torch.no_grad()
    def restore(
        self,
        image: Any,
        degradation: Degradation,
        *,
        prior: Any = None,
        prior_steps: int = DEFAULT_PRIOR_STEPS,
        prior_options: dict[str, Any] | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> ImagePipelineOutput | tuple:
        r"""Restore observations made by `degradation` in one forward pass of the network.

        Args:
            image: the observations (PIL, numpy NHWC or torch NCHW in [0, 1]), at the model's size (the low
                resolution for super-resolution).
            degradation (`Degradation`): a `Mask` (inpainting), `Downsample` (super-resolution) or
                `GaussianNoise` (denoising) of `genzoo.restoration`, of the kind the model was trained on.
            prior (`str`, `os.PathLike` or `GenPipeline`, *optional*): a generator with an encoder (a `vae` or
                `cvae` run, a folder or a Hub id): the pix2pix output becomes its starting point, and inversion
                refines it for `prior_steps` steps (a hybrid; see docs/restoration.md for when it helps).
            prior_steps (`int`, defaults to 20): inversion steps with `prior`.
            prior_options (`dict`, *optional*): other options of the prior's `restore` (`num_restarts`,
                `class_labels`, `batch_size`, ...).
            generator (`torch.Generator`, *optional*): makes the prior's starting points deterministic (the pass
                itself is deterministic).
            output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"` (NHWC in [0, 1]), `"pt"` (NCHW in [0, 1]) or
                `"latent"` (the network's input: the observation encoded with its degradation channel).
            return_dict (`bool`, defaults to `True`): return an `ImagePipelineOutput` rather than a tuple.

        Returns:
            `ImagePipelineOutput` with the restored images at the model's size.
        """
        if output_type not in ("pil", "np", "pt", "latent"):
            raise GenzooError(f"`output_type` must be 'pil', 'np', 'pt' or 'latent', got {output_type!r}.")
        if prior is None and prior_options:
            raise GenzooError(
                "`prior_options` apply to inversion with prior=GENERATOR_RUN; pass a prior or drop them."
            )
        observed = to_pixels(image, int(self.model.config.num_channels))
        self.check_degradation(degradation, observed)
        if output_type == "latent":  # as for the other families: the network's input, here the encoded observation
            images = encode_observation(observed, degradation, int(self.model.config.image_size))
            return ImagePipelineOutput(images=images) if return_dict else (images,)
        restored = self.restore_pixels(observed, degradation)
        if prior is not None:
            restored = self._refine(
                prior, observed, degradation, restored, prior_steps, generator, prior_options or {}
            )
        images = to_output(restored, output_type)
        return ImagePipelineOutput(images=images) if return_dict else (images,)

    def restore_pixels(self, observed: torch.Tensor, degradation: Degradation) -> torch.Tensor:
        """The network's restoration of checked observations `(batch, C, h, w)` in [0, 1], as pixels in [0, 1] on
        the CPU, in batches of 256 (one forward pass each)."""
        size = int(self.model.config.image_size)
        outputs = []
        with torch.no_grad():
            for first in range(0, len(observed), 256):
                index = torch.arange(first, min(first + 256, len(observed)))
                part = degradation.select(index) if isinstance(degradation, Mask) else degradation
                inputs = encode_observation(observed[index], part, size)
                images = self.model(inputs.to(self._execution_device, self.model.dtype))
                outputs.append((images.float().cpu() + 1.0) / 2.0)
        return torch.cat(outputs).clamp(0.0, 1.0)

    def check_degradation(self, degradation: Degradation, observed: torch.Tensor) -> None:
        """One-line `GenzooError`s for a degradation this model was not trained for, or observations that do not fit
        it (size, mask)."""
        spec, size = self.model.spec, int(self.model.config.image_size)
        wanted = {"inpaint": Mask, "super-resolve": Downsample, "denoise": GaussianNoise}[spec.task]
        if not isinstance(degradation, wanted):
            asked = {Mask: "inpaint", Downsample: "super-resolve", GaussianNoise: "denoise"}.get(
                type(degradation), getattr(degradation, "name", type(degradation).__name__)
            )
            raise GenzooError(
                f"This pix2pix model was trained for {spec.task}, not {asked}: use pipe.{TASK_METHODS[spec.task]}(), "
                f"or train one with `genzoo train pix2pix --task {asked}`."
            )
        if isinstance(degradation, Downsample) and degradation.scale not in spec.scales:
            raise GenzooError(
                f"This pix2pix model was trained for super-resolution by {' and '.join(map(str, spec.scales))}, "
                f"not {degradation.scale}; pass scale={spec.scales[-1]} or train with --set task_args.scale="
                f"{degradation.scale}."
            )
        if isinstance(degradation, GaussianNoise):
            low, high = spec.noise_std
            if not low - 1e-6 <= degradation.noise_std <= high + 1e-6:
                raise GenzooError(
                    f"noise_std {degradation.noise_std:g} is outside the range {low:g} to {high:g} this model was "
                    "trained on; pass one inside it, or train with --set task_args.noise_std=[LOW,HIGH]."
                )
        degradation.check(observed, size)
        if isinstance(degradation, Mask):
            fraction = degradation.mask.flatten(1).float().mean(1)
            if bool((fraction == 1).any()):
                raise GenzooError(
                    "`mask_image` is all white: it marks every pixel as missing, so there is nothing to restore from; "
                    "white marks only the pixels to repaint."
                )
            if bool((fraction == 0).any()):
                raise GenzooError(
                    "`mask_image` is all black: it marks no pixel to repaint; white (>= 0.5) marks the missing ones."
                )

    def _refine(
        self,
        prior: Any,
        observed: torch.Tensor,
        degradation: Degradation,
        estimate: torch.Tensor,
        num_steps: int,
        generator: torch.Generator | None,
        inversion_kwargs: dict[str, Any],
    ) -> torch.Tensor:
        """Inversion of the `prior` generator through `degradation`, started from the encoder's mean of `estimate`."""
        prior_pipe = prior if isinstance(prior, GenPipeline) else GenPipeline.from_pretrained(prior)
        model = prior_pipe.model
        if isinstance(model, Pix2PixGenerator) or not model.supports_inversion:
            raise GenzooError(
                "`prior` must be a generator that can be inverted (a vae or cvae run), not a pix2pix model."
            )
        size = int(model.config.image_size)
        probe = torch.zeros(1, model.config.num_channels, size, size, device=model.device, dtype=model.dtype)
        labels = torch.zeros(1, dtype=torch.long, device=model.device) if model.is_conditional else None
        if model.posterior(probe, labels) is None:
            raise GenzooError(
                f"`prior` {type(model).__name__} has no encoder to start from the pix2pix output; use a vae or cvae "
                "run."
            )
        if (size, model.config.num_channels) != (self.model.config.image_size, self.model.config.num_channels):
            raise GenzooError("`prior` makes images of another size or channel count than this pix2pix model.")
        with torch.enable_grad():
            result = prior_pipe.restore(
                observed, _StartFrom(degradation, estimate), num_steps=num_steps, generator=generator,
                output_type="pt", **inversion_kwargs,
            )  # fmt: skip
        return result.images.float().cpu()

    def inpaint(
        self,
        image: Any,
        mask_image: Any,
        *,
        prior: Any = None,
        prior_steps: int = DEFAULT_PRIOR_STEPS,
        prior_options: dict[str, Any] | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> ImagePipelineOutput | tuple:
        r"""Fill in the masked pixels in one forward pass; the known pixels are returned exactly.

        Args:
            image: the images at the model's size (their masked pixels are ignored).
            mask_image: diffusers' convention, white (>= 0.5) = repaint; one mask or one per image, of the images'
                size, neither all white nor all black.
            prior, prior_steps, prior_options, generator, output_type, return_dict: as in `restore`.
        """
        return self.restore(
            image, Mask(to_mask(mask_image)), prior=prior, prior_steps=prior_steps, prior_options=prior_options,
            generator=generator, output_type=output_type, return_dict=return_dict,
        )  # fmt: skip

    def super_resolve(
        self,
        image: Any,
        scale: int | None = None,
        *,
        prior: Any = None,
        prior_steps: int = DEFAULT_PRIOR_STEPS,
        prior_options: dict[str, Any] | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> ImagePipelineOutput | tuple:
        r"""Upscale area-downsampled images by `scale` to the model's size in one forward pass.

        Args:
            image: low-resolution images of `image_size / scale` pixels a side.
            scale (`int`, *optional*): one of the factors the model was trained on (default: the largest).
            prior, prior_steps, prior_options, generator, output_type, return_dict: as in `restore`.
        """
        self._require("super-resolve")
        scale = self.model.spec.scales[-1] if scale is None else scale
        return self.restore(
            image, Downsample(scale), prior=prior, prior_steps=prior_steps, prior_options=prior_options,
            generator=generator, output_type=output_type, return_dict=return_dict,
        )  # fmt: skip

    def denoise(
        self,
        image: Any,
        noise_std: float | None = None,
        *,
        prior: Any = None,
        prior_steps: int = DEFAULT_PRIOR_STEPS,
        prior_options: dict[str, Any] | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> ImagePipelineOutput | tuple:
        r"""Remove Gaussian noise of standard deviation `noise_std` (on [0, 1] pixels) in one forward pass.

        Args:
            image: the noisy images at the model's size.
            noise_std (`float`, *optional*): the noise level, inside the range the model was trained on (default:
                the middle of it); the model is told it.
            prior, prior_steps, prior_options, generator, output_type, return_dict: as in `restore`.
        """
        self._require("denoise")
        if noise_std is None:
            noise_std = sum(self.model.spec.noise_std) / 2
        return self.restore(
            image, GaussianNoise(noise_std), prior=prior, prior_steps=prior_steps, prior_options=prior_options,
            generator=generator, output_type=output_type, return_dict=return_dict,
        )  # fmt: skip

    def _require(self, task: str) -> None:
        if self.task != task:
            raise GenzooError(
                f"This pix2pix model was trained for {self.task}, not {task}: use pipe.{TASK_METHODS[self.task]}(), "
                f"or train one with `genzoo train pix2pix --task {task}`."
            )

    # --- figures -------------------------------------------------------------------------------------------------
    def real_image_grids(
        self, images: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> dict[str, PIL.Image.Image]:
        """`restorations.png`: up to 8 real images degraded as in training (seed 0), restored, and the originals."""
        clean = ((images[:8].float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0)
        inputs, _ = self.model.spec.draw(clean, torch.Generator().manual_seed(0))
        channels = int(self.model.config.num_channels)
        with torch.no_grad():
            restored = (self.model(inputs.to(self._execution_device, self.model.dtype)).float().cpu() + 1.0) / 2.0
        shown = (inputs[:, :channels] + 1.0) / 2.0
        figure = captioned_grid([("degraded", shown), ("restored", restored.clamp(0, 1)), ("original", clean)], 84)
        return {"restorations": figure}


def _describe(config: dict[str, Any]) -> str:
    """The trained degradations of a saved model's config, in words (for model cards)."""
    spec = TaskSpec.from_config(config["task"], config.get("task_args"), int(config["image_size"]))
    return spec.describe()
