"""Differentiable augmentation for discriminators trained on little data: DiffAugment (Zhao et al. 2020) and
adaptive discriminator augmentation (ADA; Karras et al. 2020).

The same augmentation policy is applied to real and generated images before the discriminator sees them, in both
its own update and the generator's, so the generator gets gradients through the augmentation and cannot learn to
reproduce it. Real and generated batches are augmented in separate calls, and every image gets its own random
parameters (offset, scale, shift, cutout position), drawn afresh on every call. With a few thousand images (such as
the embedded mnist-5k) this keeps the discriminator from memorising the training set.

ADA (`AdaptiveAugment`) applies each transform of its pipeline to each image with a probability p, and moves p
after every few discriminator updates so that the share of real images the discriminator scores as real,
r_t = E[sign(D(real))], stays near a target. Its transforms (`ADA_AUGMENTATIONS`) do not leak into the
generated images when p < ~0.8: x-flips, 90° rotations and integer translations (with reflected edges) keep every
pixel value; brightness, contrast and saturation are the colour part of ADA's "bgc" pipeline and, as there, are not
clipped to [-1, 1].
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ADA_AUGMENTATIONS",
    "ADA_GROUPS",
    "AUGMENTATIONS",
    "AdaptiveAugment",
    "ada_augment",
    "diff_augment",
    "parse_ada_policy",
    "parse_policy",
    "random_affine",
]


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
    return _warp(images, theta)


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator,
    degrees: float = 15.0,
    scale: float = 0.15,
    shift: float = 0.1,
) -> torch.Tensor:
    r"""Each image rotated by up to ±`degrees`, scaled by up to ±`scale` and shifted by up to ±`shift` of its size,
    uniformly and independently, the border pixels extended (the background, for digits). InfoGAN's clustering term
    uses it for the copies whose category must match.

    Args:
        images (`torch.Tensor`): `(batch, channels, height, width)`.
        generator (`torch.Generator`): the source of the random transforms.

    Returns:
        `torch.Tensor`: the transformed images, same shape and dtype.
    """
    uniform = _rand((4, images.shape[0]), generator, images) * 2 - 1
    angle = uniform[0] * math.radians(degrees)
    zoom = 1 + uniform[1] * scale
    shift_x, shift_y = uniform[2] * 2 * shift, uniform[3] * 2 * shift  # affine_grid's coordinates span [−1, 1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
    return _warp(images, theta)


def _warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """`images` resampled through the float32 affine maps `theta` `(batch, 2, 3)`, bilinearly, the border pixels
    extended; grid and sampling stay in float32 and the result takes the images' dtype."""
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


# --- ADA: each transform applied to each image with probability p -------------------------------------------------
# Each takes (images, p, generator) and draws the same numbers whatever p is, so the random stream of a step does not
# depend on p. Strengths are those of stylegan2-ada-pytorch's AugmentPipe (translation 0.125 of the size, brightness
# sd 0.2, contrast sd 0.5 and saturation sd 1 in log2 units).


def _chosen(images: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """One draw per image: True where the transform applies (probability `p`), shaped to broadcast over the image."""
    return (_rand((images.shape[0],), generator, images) < p).view(-1, 1, 1, 1)


def _randn(shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32).to(like.device)


def ada_xflip(images: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Mirror an image left to right with probability `p`."""
    return torch.where(_chosen(images, p, generator), images.flip(3), images)


def ada_rotate90(images: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """With probability `p`, rotate an image by 90°, 180° or 270° counter-clockwise, or leave it (one of the four
    uniformly, as in ADA). Square images only."""
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"rotate90 needs square images, got {images.shape[2]}x{images.shape[3]}.")
    chosen = _chosen(images, p, generator)
    quarter = (_rand((images.shape[0],), generator, images) * 4).floor().clamp(max=3).view(-1, 1, 1, 1)
    quarter = torch.where(chosen, quarter, torch.zeros_like(quarter))
    out = images
    for turns in (1, 2, 3):
        out = torch.where(quarter == turns, torch.rot90(images, turns, dims=(2, 3)), out)
    return out


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices outside [0, size) mirrored back inside, without repeating the edge (…2 1 0 1 2…)."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def ada_translation(images: torch.Tensor, p: float, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """With probability `p`, shift an image by a whole number of pixels, up to `ratio` of its size along each axis,
    filling the uncovered border with the reflected image (ADA's integer translation)."""
    batch, _, height, width = images.shape
    chosen = _chosen(images, p, generator).view(-1, 1)
    offsets = (_rand((batch, 2), generator, images) * 2 - 1) * ratio  # (x, y) in [-ratio, ratio)
    shifts = torch.where(chosen, (offsets * torch.tensor([width, height], device=images.device)).round(), 0).long()
    rows = _reflect(torch.arange(height, device=images.device)[None] - shifts[:, 1:2], height)  # (batch, height)
    cols = _reflect(torch.arange(width, device=images.device)[None] - shifts[:, 0:1], width)  # (batch, width)
    picked = images[torch.arange(batch, device=images.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return picked.permute(0, 3, 1, 2)  # advanced indexing put the channels last


def ada_brightness(images: torch.Tensor, p: float, generator: torch.Generator, std: float = 0.2) -> torch.Tensor:
    """With probability `p`, add an offset ~ N(0, `std`²) to an image (in [-1, 1] units)."""
    chosen = _chosen(images, p, generator)
    offset = _randn((images.shape[0], 1, 1, 1), generator, images) * std
    return images + torch.where(chosen, offset, 0.0).to(images.dtype)


def ada_contrast(images: torch.Tensor, p: float, generator: torch.Generator, std: float = 0.5) -> torch.Tensor:
    """With probability `p`, scale an image about mid-grey by 2^N(0, `std`²)."""
    chosen = _chosen(images, p, generator)
    factor = torch.exp2(_randn((images.shape[0], 1, 1, 1), generator, images) * std)
    return images * torch.where(chosen, factor, 1.0).to(images.dtype)


def ada_saturation(images: torch.Tensor, p: float, generator: torch.Generator, std: float = 1.0) -> torch.Tensor:
    """With probability `p`, scale each pixel's distance from its grey value (the mean over channels) by
    2^N(0, `std`²); grey images are left as they are (the draws are made all the same)."""
    chosen = _chosen(images, p, generator)
    factor = torch.exp2(_randn((images.shape[0], 1, 1, 1), generator, images) * std)
    if images.shape[1] == 1:
        return images
    grey = images.mean(dim=1, keepdim=True)
    return torch.where(chosen, (images - grey) * factor.to(images.dtype) + grey, images)  # exact where not chosen


ADA_AUGMENTATIONS = {
    "xflip": ada_xflip,
    "rotate90": ada_rotate90,
    "translation": ada_translation,
    "brightness": ada_brightness,
    "contrast": ada_contrast,
    "saturation": ada_saturation,
}
#: Names that stand for several transforms, in ADA's order ("bgc" without its non-integer geometry).
ADA_GROUPS = {
    "blit": ("xflip", "rotate90", "translation"),
    "color": ("brightness", "contrast", "saturation"),
}


def parse_ada_policy(policy: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """`"blit,color"` or `["xflip", "translation"]` -> the ADA transforms in pipeline order, groups expanded and
    duplicates dropped; `None` means `"blit,color"`. Anything else raises `ValueError`."""
    if policy is None:
        policy = "blit,color"
    if isinstance(policy, str):
        parts = policy.split(",")
    elif isinstance(policy, (list, tuple)) and all(isinstance(name, str) for name in policy):
        parts = [part for name in policy for part in name.split(",")]
    else:
        parts = None
    known = ", ".join([*ADA_GROUPS, *ADA_AUGMENTATIONS])
    if parts is None:
        raise ValueError(
            f"expected ADA transform names as a comma-separated string or a list of strings, got {policy!r}; "
            f"choose from {known}."
        )
    names: list[str] = []
    for name in (part.strip() for part in parts if part.strip()):
        if name not in ADA_GROUPS and name not in ADA_AUGMENTATIONS:
            raise ValueError(
                f"Unknown ADA transform {name!r} in {policy!r}; choose from {known}, separated by commas."
            )
        names.extend(ADA_GROUPS.get(name, (name,)))
    if not names:
        raise ValueError(f"No ADA transforms in {policy!r}; choose from {known}.")
    return tuple(name for name in ADA_AUGMENTATIONS if name in names)


def ada_augment(images: torch.Tensor, p: float, policy: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """Apply each ADA transform of `policy` to each image with probability `p`, drawing every random number from
    `generator`."""
    for name in policy:
        images = ADA_AUGMENTATIONS[name](images, p, generator)
    return images


class AdaptiveAugment:
    r"""Adaptive discriminator augmentation (Karras et al. 2020): the probability p and its controller.

    The discriminator's signs on (augmented) real images are summed over `interval` updates; then
    r_t = E[sign(D(real))] is compared with `target`, and p moves by ±(images in those updates) / (`kimg` · 1000),
    clamped to [0, 1], so that p can go from 0 to 1 after `kimg` thousand real images. p starts at 0.

    The state (p and the running sums) lives in buffers of `owner`, the discriminator: checkpoints save it with the
    discriminator's weights, a resumed run continues with the same p, and under DDP the copies stay equal because
    the sums are reduced over processes before they are added.

    Args:
        owner (`nn.Module`): the module whose buffers `ada_p` and `ada_signs` hold the state.
        target (`float`): the value of r_t to hold, in (0, 1); 0.6 in the paper.
        kimg (`float`): thousands of real images over which p can go from 0 to 1 (500 in the paper, for runs of
            millions of images).
        interval (`int`): discriminator updates between adjustments (4 in the paper).
        policy (`tuple[str, ...]`): the transforms, from `parse_ada_policy`.
    """

    def __init__(self, owner: nn.Module, target: float, kimg: float, interval: int, policy: tuple[str, ...]) -> None:
        if not 0.0 < target < 1.0:
            raise ValueError(f"the ADA target must lie in (0, 1), got {target}; 0.6 is the paper's.")
        if not (math.isfinite(kimg) and kimg > 0):
            raise ValueError(f"ada_kimg must be a positive number of thousands of images, got {kimg}.")
        if interval < 1:
            raise ValueError(f"ada_interval must be at least 1 discriminator update, got {interval}.")
        self.owner, self.target, self.kimg, self.interval, self.policy = owner, target, kimg, interval, policy
        owner.register_buffer("ada_p", torch.zeros((), dtype=torch.float32))
        # Since the last adjustment: the sum of sign(D(real)), the number of real images, the number of updates.
        owner.register_buffer("ada_signs", torch.zeros(3, dtype=torch.float32))

    @property
    def p(self) -> float:
        return float(self.owner.ada_p)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        p = self.p
        return images if p == 0.0 else ada_augment(images, p, self.policy, generator)

    @torch.no_grad()
    def observe(self, real_logits: torch.Tensor, reduce=None) -> torch.Tensor:
        """Add one discriminator update's signs of its real logits to the running sums (`reduce`, if given, sums
        them over processes first), and adjust p when `interval` updates are in. Returns this update's r_t."""
        stats = torch.stack([torch.sign(real_logits.detach().float()).sum(), torch.tensor(float(real_logits.numel()))])
        stats = stats.to(self.owner.ada_signs.device)
        if reduce is not None:
            stats = reduce(stats)
        self.owner.ada_signs[:2] += stats
        self.owner.ada_signs[2] += 1
        if self.owner.ada_signs[2] >= self.interval:
            self.adjust()
        return stats[0] / stats[1]

    @torch.no_grad()
    def adjust(self) -> None:
        """Move p by one step toward holding r_t at the target, and start new sums."""
        signs, count, _ = self.owner.ada_signs
        if count > 0:
            step = torch.sign(signs / count - self.target) * count / (self.kimg * 1000.0)
            self.owner.ada_p.copy_((self.owner.ada_p + step).clamp(0.0, 1.0))
        self.owner.ada_signs.zero_()
