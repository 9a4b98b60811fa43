"""Differentiable augmentation (DiffAugment; Zhao et al. 2020) for discriminators trained on little data.

The same augmentation policy is applied to real and generated images before the discriminator sees them, in both
its own update and the generator's, so the generator gets gradients through the augmentation and cannot learn to
reproduce it. Real and generated batches are augmented in separate calls, and every image gets its own random
parameters (offset, scale, shift, cutout position), drawn afresh on every call. With a few thousand images (such as
the embedded mnist-5k) this keeps the discriminator from memorising the training set.
"""

import torch
import torch.nn.functional as F

__all__ = ["AUGMENTATIONS", "diff_augment", "parse_policy"]


def _rand(shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Uniform draws in [0, 1), in float32 on `like`'s device: the parameters computed from them stay in float32 (a
    draw just below 1 would round to 1.0 in bfloat16) and are cast to the images' dtype only where applied."""
    return torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float32).to(like.device)


def brightness(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Add a per-image offset in [-0.5, 0.5) (images in [-1, 1])."""
    return images + (_rand((images.shape[0], 1, 1, 1), generator, images) - 0.5).to(images.dtype)


def saturation(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Scale each image's distance from its grey value by a factor in [0, 2); grey images are left as they are."""
    if images.shape[1] == 1:
        return images
    mean = images.mean(dim=1, keepdim=True)
    return (images - mean) * (_rand((images.shape[0], 1, 1, 1), generator, images) * 2).to(images.dtype) + mean


def contrast(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Scale each image's distance from its mean by a factor in [0.5, 1.5)."""
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * (_rand((images.shape[0], 1, 1, 1), generator, images) + 0.5).to(images.dtype) + mean


def translation(images: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by a whole number of pixels, up to `ratio` of its size, repeating the edge pixels."""
    batch, _, height, width = images.shape
    max_shift = torch.tensor([width * ratio, height * ratio], device=images.device).round()
    # Whole-pixel shifts in [-max_shift, max_shift], computed in float32 (in bfloat16 a draw just below 1 could round
    # up and overshoot the bound by a pixel).
    shifts = (_rand((batch, 2), generator, images) * (2 * max_shift + 1) - max_shift).floor()
    # An affine grid that moves by whole pixels samples them exactly (bilinear weights of 0 and 1). Grid and sampling
    # stay in float32 (a bfloat16 grid would land between pixels and blend them); the result takes the images' dtype.
    theta = torch.zeros(batch, 2, 3, device=images.device, dtype=torch.float32)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * shifts[:, 0] / width
    theta[:, 1, 2] = -2.0 * shifts[:, 1] / height
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return moved.to(images.dtype)


def cutout(images: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Set a square of `ratio` times the image size at a random place in each image to 0 (mid-grey)."""
    batch, _, height, width = images.shape
    cut_h, cut_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    offsets = _rand((batch, 2), generator, images)
    top = (offsets[:, 0] * (height + 1 - cut_h % 2)).long() - cut_h // 2
    left = (offsets[:, 1] * (width + 1 - cut_w % 2)).long() - cut_w // 2
    rows = torch.arange(height, device=images.device)[None, :, None]
    cols = torch.arange(width, device=images.device)[None, None, :]
    inside = (
        (rows >= top[:, None, None])
        & (rows < (top + cut_h)[:, None, None])
        & (cols >= left[:, None, None])
        & (cols < (left + cut_w)[:, None, None])
    )
    return images * (~inside)[:, None].to(images.dtype)


AUGMENTATIONS = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def parse_policy(policy: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """`"translation,cutout"` or `["translation", "cutout"]` (a YAML list) -> `("translation", "cutout")`, checked
    against the known augmentations. Anything else raises `ValueError`."""
    if policy is None:
        parts: list[str] = []
    elif isinstance(policy, str):
        parts = policy.split(",")
    elif isinstance(policy, (list, tuple)) and all(isinstance(name, str) for name in policy):
        parts = [part for name in policy for part in name.split(",")]
    else:
        raise ValueError(
            f"expected augmentation names as a comma-separated string or a list of strings, got {policy!r}; choose "
            f"from {', '.join(AUGMENTATIONS)}."
        )
    names = tuple(name.strip() for name in parts if name.strip())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"Unknown augmentation {unknown[0]!r} in {policy!r}; choose from {', '.join(AUGMENTATIONS)}, "
            "separated by commas."
        )
    return names


def diff_augment(images: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """Apply the augmentations of `policy` in order, drawing every random number from `generator`."""
    for name in policy:
        for transform in AUGMENTATIONS[name]:
            images = transform(images, generator)
    return images
