r"""What a pix2pix model is trained to undo, and how a degraded image is shown to it.

The degradations are genzoo's own (`Mask`, `Downsample`, `GaussianNoise`), the ones inversion restores through, so
a trained model and an inverted generator are measured on the same observations. During training they are drawn on
the fly from the clean images: masks of three kinds (the centre square, random boxes, and free-form brush strokes
drawn as DeepFill v2 draws its training masks, Yu et al. 2019), downsampling by one of the trained scales, and
Gaussian noise whose σ is drawn from a range.

The model sees an observation at full size plus one channel that describes the degradation, so one model handles
every degradation of its task and is told at run time which one it faces:

- inpainting: the observed pixels with the missing ones set to grey, and the mask (1 = missing);
- super-resolution: the low-resolution image upsampled bilinearly, and a constant 1 / scale;
- denoising: the noisy image, and a constant σ.
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import PIL.ImageDraw
import torch

from genzoo.errors import ConfigError
from genzoo.tasks import Degradation, Downsample, GaussianNoise, Mask

__all__ = [
    "MASK_KINDS",
    "TASKS",
    "TaskSpec",
    "box_masks",
    "brush_masks",
    "centre_mask",
    "draw_masks",
    "encode_observation",
]

#: The tasks a pix2pix model can be trained for (the names of `genzoo restore --task`).
TASKS = ("inpaint", "super-resolve", "denoise")
#: The mask kinds inpainting is trained on.
MASK_KINDS = ("centre", "boxes", "brush")
_DEFAULT_TASK_ARGS: dict[str, dict[str, Any]] = {
    "inpaint": {"mask_kinds": list(MASK_KINDS)},
    "super-resolve": {"scales": [2, 4]},
    "denoise": {"noise_std": [0.05, 0.5]},
}
_ALIASES = {"super_resolve": "super-resolve", "superresolve": "super-resolve", "inpainting": "inpaint"}


@dataclass(frozen=True)
class TaskSpec:
    r"""A task and the degradations a model is trained on for it.

    Args:
        task (`str`): one of `TASKS`.
        mask_kinds (`tuple[str, ...]`): inpainting: the kinds of `MASK_KINDS` drawn, in equal shares.
        scales (`tuple[int, ...]`): super-resolution: the factors drawn, in equal shares.
        noise_std (`tuple[float, float]`): denoising: σ is drawn uniformly from this range (on [0, 1] pixels).
    """

    task: str
    mask_kinds: tuple[str, ...] = ()
    scales: tuple[int, ...] = ()
    noise_std: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_config(cls, task: str, task_args: dict[str, Any] | None, image_size: int) -> "TaskSpec":
        """Check a task name and its options (`task_args`) against the image size; one-line `ConfigError`s."""
        task = _ALIASES.get(task, task)
        if task not in TASKS:
            raise ConfigError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")
        given = dict(task_args or {})
        if "scale" in given:  # `--set task_args.scale=4`: one scale
            given["scales"] = [given.pop("scale")]
        valid = set(_DEFAULT_TASK_ARGS[task])
        unknown = sorted(set(given) - valid)
        if unknown:
            raise ConfigError(
                f"task_args has unknown key(s) {', '.join(unknown)} for task {task!r}; it takes "
                f"{', '.join(sorted(valid | ({'scale'} if task == 'super-resolve' else set())))}."
            )
        options = {**_DEFAULT_TASK_ARGS[task], **given}
        if task == "inpaint":
            kinds = options["mask_kinds"]
            kinds = [kinds] if isinstance(kinds, str) else list(kinds)
            bad = [kind for kind in kinds if kind not in MASK_KINDS]
            if not kinds or bad:
                raise ConfigError(f"task_args.mask_kinds must be a subset of {', '.join(MASK_KINDS)}, got {kinds}.")
            return cls(task, mask_kinds=tuple(kinds))
        if task == "super-resolve":
            scales = options["scales"]
            scales = [scales] if isinstance(scales, int) else list(scales)
            if not scales or any(not isinstance(s, int) or isinstance(s, bool) or s < 2 for s in scales):
                raise ConfigError(f"task_args.scales must be integers of at least 2, got {scales}.")
            bad = [s for s in scales if image_size % s]
            if bad:
                raise ConfigError(f"scale {bad[0]} does not divide the image size {image_size}; pick one that does.")
            return cls(task, scales=tuple(sorted(set(scales))))
        noise = options["noise_std"]
        noise = [noise, noise] if isinstance(noise, int | float) else list(noise)
        if len(noise) != 2 or not 0 < float(noise[0]) <= float(noise[1]) <= 1:
            raise ConfigError(
                f"task_args.noise_std must be one σ or a range [low, high] with 0 < low <= high <= 1, got {noise}."
            )
        return cls(task, noise_std=(float(noise[0]), float(noise[1])))

    def as_config(self) -> dict[str, Any]:
        """The options as `task_args` (what the model's `config.json` stores)."""
        if self.task == "inpaint":
            return {"mask_kinds": list(self.mask_kinds)}
        if self.task == "super-resolve":
            return {"scales": list(self.scales)}
        return {"noise_std": list(self.noise_std)}

    def describe(self) -> str:
        """The degradations in words, for model cards and messages."""
        if self.task == "inpaint":
            return "inpainting of " + ", ".join(
                {"centre": "the centre square", "boxes": "random boxes", "brush": "free-form brush strokes"}[kind]
                for kind in self.mask_kinds
            )
        if self.task == "super-resolve":
            return "super-resolution by " + " and ".join(f"×{scale}" for scale in self.scales)
        low, high = self.noise_std
        return f"denoising of Gaussian noise σ = {low:g}" + (f" to {high:g}" if high > low else "")

    def draw(self, clean: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Degrade clean images `(batch, C, H, W)` in [0, 1] with a fresh draw of this task's degradations.

        Returns:
            `(model_input, known)`: the model's input `(batch, C + 1, H, W)` (see `encode_observation`) and, for
            inpainting, the bool mask of missing pixels (else `None`).
        """
        batch, _, size, _ = clean.shape
        if self.task == "inpaint":
            missing = draw_masks(self.mask_kinds, batch, size, generator).to(clean.device)
            return encode_observation(Mask(missing).forward(clean), Mask(missing)), missing
        if self.task == "super-resolve":
            picks = torch.randint(len(self.scales), (batch,), generator=generator)
            parts = torch.empty(batch, clean.shape[1] + 1, size, size, device=clean.device)
            for index, scale in enumerate(self.scales):
                rows = (picks == index).nonzero().flatten().to(clean.device)
                if len(rows):
                    degradation = Downsample(scale)
                    parts[rows] = encode_observation(degradation.forward(clean[rows]), degradation, size)
            return parts, None
        low, high = self.noise_std
        sigmas = low + (high - low) * torch.rand(batch, generator=generator)
        parts = []
        for index, sigma in enumerate(sigmas.tolist()):
            degradation = GaussianNoise(sigma)
            noisy = degradation.degrade(clean[index : index + 1], generator=generator)
            parts.append(encode_observation(noisy, degradation))
        return torch.cat(parts), None


def encode_observation(
    observed: torch.Tensor, degradation: Degradation, image_size: int | None = None
) -> torch.Tensor:
    r"""The model's input for observations `(batch, C, h, w)` in [0, 1] made by `degradation`: the observation at
    full size in [-1, 1] and one channel that describes the degradation (see the module's docstring).

    Returns:
        `torch.Tensor` of shape `(batch, C + 1, H, W)`.
    """
    if isinstance(degradation, Mask):
        missing = degradation.mask.to(observed.device).expand(len(observed), 1, *observed.shape[-2:])
        pixels = observed.masked_fill(missing, 0.5)
        extra = missing.to(observed.dtype)
    elif isinstance(degradation, Downsample):
        size = image_size or observed.shape[-1] * degradation.scale
        pixels = degradation.initial_estimate(observed, size)
        extra = torch.full_like(pixels[:, :1], 1.0 / degradation.scale)
    elif isinstance(degradation, GaussianNoise):
        pixels = observed
        extra = torch.full_like(pixels[:, :1], degradation.noise_std)
    else:
        raise TypeError(f"pix2pix models take Mask, Downsample or GaussianNoise observations, not {degradation}.")
    return torch.cat([pixels * 2.0 - 1.0, extra], dim=1)


# --- masks ---------------------------------------------------------------------------------------------------------
def centre_mask(size: int) -> torch.Tensor:
    """The centre square of half the image's side, as a bool `(1, 1, size, size)` mask (True = missing): the centre
    14×14 of a 28×28 digit, as in context encoders' centre region."""
    mask = torch.zeros(1, 1, size, size, dtype=torch.bool)
    start = size // 4
    mask[..., start : start + size // 2, start : start + size // 2] = True
    return mask


def box_masks(count: int, size: int, generator: torch.Generator, max_boxes: int = 3) -> torch.Tensor:
    """1 to `max_boxes` axis-aligned boxes per image, each side a quarter to a half of the image's, anywhere."""
    masks = torch.zeros(count, 1, size, size, dtype=torch.bool)
    numbers = torch.randint(1, max_boxes + 1, (count,), generator=generator).tolist()
    low, high = max(1, size // 4), max(2, size // 2)
    for index, number in enumerate(numbers):
        for _ in range(number):
            height, width = torch.randint(low, high + 1, (2,), generator=generator).tolist()
            top = int(torch.randint(0, size - height + 1, (1,), generator=generator))
            left = int(torch.randint(0, size - width + 1, (1,), generator=generator))
            masks[index, 0, top : top + height, left : left + width] = True
    return masks


def brush_masks(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    r"""Free-form masks of brush strokes, drawn as DeepFill v2's training masks (Yu et al. 2019, its
    `random_ff_mask`): 1 to 4 strokes per image, each a polyline of 4 to 12 segments of random angle and length
    with a random width, drawn with round joints. Lengths and widths scale with the image (DeepFill's are for 256
    px)."""
    seeds = torch.randint(0, 2**31 - 1, (count,), generator=generator).tolist()
    masks = np.zeros((count, size, size), dtype=bool)
    max_length, max_width = size / 4, max(2.0, size / 7)
    for index, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        canvas = PIL.Image.new("L", (size, size), 0)
        draw = PIL.ImageDraw.Draw(canvas)
        for _ in range(rng.integers(1, 5)):
            x, y = rng.uniform(0, size, 2)
            width = rng.uniform(max(1.0, max_width / 3), max_width)
            angle = rng.uniform(0, 2 * math.pi)
            for vertex in range(rng.integers(4, 13)):
                angle += rng.uniform(-math.pi / 3, math.pi / 3) + (math.pi if vertex % 2 else 0.0)
                length = rng.uniform(max_length / 3, max_length)
                end_x = float(np.clip(x + length * math.cos(angle), 0, size - 1))
                end_y = float(np.clip(y + length * math.sin(angle), 0, size - 1))
                draw.line([(x, y), (end_x, end_y)], fill=255, width=max(1, round(width)))
                radius = width / 2
                draw.ellipse([end_x - radius, end_y - radius, end_x + radius, end_y + radius], fill=255)
                x, y = end_x, end_y
        masks[index] = np.asarray(canvas) > 0
    return torch.from_numpy(masks)[:, None]


def draw_masks(kinds: tuple[str, ...], count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """`count` masks, each of a kind drawn from `kinds` in equal shares; a mask that came out empty or full (possible
    for strokes on tiny images) becomes the centre square, so every training mask hides something and keeps
    something."""
    picks = torch.randint(len(kinds), (count,), generator=generator)
    masks = centre_mask(size).expand(count, -1, -1, -1).clone()
    for index, kind in enumerate(kinds):
        rows = (picks == index).nonzero().flatten()
        if not len(rows) or kind == "centre":
            continue
        drawn = box_masks(len(rows), size, generator) if kind == "boxes" else brush_masks(len(rows), size, generator)
        masks[rows] = drawn
    fraction = masks.flatten(1).float().mean(1)
    degenerate = (fraction == 0) | (fraction == 1)
    masks[degenerate] = centre_mask(size)[0]
    return masks
