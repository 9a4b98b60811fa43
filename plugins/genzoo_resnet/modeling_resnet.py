"""ResNet GANs: the residual generator and spectrally normalised residual discriminator of SNGAN (Miyato et al.
2018), class-conditional through conditional batch norm and a projection discriminator (cGAN-PD, Miyato & Koyama
2018), with the channel layouts that SNGAN, mimicry and BigGAN use at 32, 64 and 128 pixels.

The depth follows the resolution: the generator starts from a 4x4 (to 7x7) feature map and adds one upsampling
residual block per doubling, and the discriminator has one residual block more than the generator.
"""

import itertools
import math

import torch
import torch.nn.functional as F
from diffusers import ModelMixin  # noqa: F401  (diffusers looks ModelMixin up on this module when reloading)
from diffusers.configuration_utils import register_to_config
from torch import nn

from genzoo import Generator
from genzoo.modeling import resolution_plan
from genzoo_cgan.modeling_cgan import ConditionalBatchNorm2d

__all__ = [
    "DiscriminatorBlock",
    "GeneratorBlock",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "default_discriminator_layout",
    "default_generator_layout",
]


def default_generator_layout(num_blocks: int) -> list[int]:
    """Channel multipliers of the generator's `num_blocks + 1` stages (the start feature map, then each block's
    output), times `base_channels`.

    With `base_channels = 64`: 32 px (3 blocks) gives 256 channels throughout, SNGAN's CIFAR-10 generator; 64 px
    gives 1024 → 512 → 256 → 128 → 64 and 128 px 1024 → 1024 → 512 → 256 → 128 → 64, the SNGAN/cGAN-PD ImageNet
    generators (mimicry's `ngf = 1024`).
    """
    if num_blocks <= 3:
        return [4] * (num_blocks + 1)
    return [16] * (num_blocks - 3) + [8, 4, 2, 1]


def default_discriminator_layout(num_blocks: int) -> tuple[list[int], list[bool]]:
    """Channel multipliers (times `base_channels`) and downsampling of the discriminator's `num_blocks + 1` residual
    blocks, for a generator of `num_blocks` blocks.

    With `base_channels = 64`: 32 px gives four blocks of 128 channels, the first two downsampling (SNGAN's CIFAR-10
    critic: 32 → 16 → 8); 64 and 128 px double the channels from 64 up to 1024 and downsample down to 4x4, then one
    block more at 4x4 (BigGAN's layout).
    """
    if num_blocks <= 3:
        return [2] * (num_blocks + 1), [True] * (num_blocks - 1) + [False, False]
    return [1, 2, 4, 8] + [16] * (num_blocks - 3), [True] * num_blocks + [False]


def _init_conv(module: nn.Module, gain: float) -> nn.Module:
    """Xavier-uniform weights and zero biases, as mimicry initialises SNGAN (gain √2 inside residual branches, 1 for
    shortcuts and the first and last layers)."""
    nn.init.xavier_uniform_(module.weight, gain)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


class GeneratorBlock(nn.Module):
    r"""Pre-activation residual block that doubles the resolution: norm, ReLU, 2x nearest upsampling, 3x3 conv, norm,
    ReLU, 3x3 conv, plus an upsampled 1x1-conv shortcut. With `num_classes > 0` both norms are conditional batch
    norms (a per-class scale and shift).

    Args:
        in_channels (`int`), out_channels (`int`): channels in and out.
        num_classes (`int`, defaults to 0): classes of the conditional batch norms; 0 for plain batch norm.
    """

    def __init__(self, in_channels: int, out_channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.norm1 = ConditionalBatchNorm2d(in_channels, num_classes) if num_classes else nn.BatchNorm2d(in_channels)
        self.conv1 = _init_conv(nn.Conv2d(in_channels, out_channels, 3, 1, 1), math.sqrt(2))
        self.norm2 = ConditionalBatchNorm2d(out_channels, num_classes) if num_classes else nn.BatchNorm2d(out_channels)
        self.conv2 = _init_conv(nn.Conv2d(out_channels, out_channels, 3, 1, 1), math.sqrt(2))
        self.shortcut = _init_conv(nn.Conv2d(in_channels, out_channels, 1), 1.0)

    def _norm(self, norm: nn.Module, x: torch.Tensor, class_labels: torch.Tensor | None) -> torch.Tensor:
        return norm(x, class_labels) if isinstance(norm, ConditionalBatchNorm2d) else norm(x)

    def forward(self, x: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self._norm(self.norm1, x, class_labels)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self._norm(self.norm2, self.conv1(h), class_labels)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResNetGenerator(Generator):
    r"""The SNGAN ResNet generator: a linear map of the latent to a 4x4 (to 7x7) feature map, one upsampling residual
    block per doubling of the resolution, then batch norm, ReLU, a 3x3 convolution to the image channels and tanh.

    It is class-conditional when `num_classes > 0` (`genzoo train` sets it from a labelled dataset): every batch
    norm then takes a per-class scale and shift (conditional batch norm, as in cGAN-PD and BigGAN).

    Args:
        latent_dim (`int`, defaults to 128): size of the latent vector.
        image_size (`int`, defaults to 32): output height and width: 4 to 7 times a power of two, such as 32, 64 or
            128 (also 16, 28 and 48).
        num_channels (`int`, defaults to 3): output channels.
        num_classes (`int`, defaults to 0): classes for a conditional model; 0 for an unconditional one.
        base_channels (`int`, defaults to 64): width unit; the stages have `base_channels` times
            `channel_multipliers` channels (256 throughout at 32 px, SNGAN's CIFAR-10 generator).
        channel_multipliers (`list[int]`, *optional*): one multiplier per stage (the start map, then each block);
            defaults to `default_generator_layout` for the resolution.
        class_names (`list[str]`, *optional*): a name per class, so that the pipeline accepts class names.
    """

    @register_to_config
    def __init__(
        self,
        latent_dim: int = 128,
        image_size: int = 32,
        num_channels: int = 3,
        num_classes: int = 0,
        base_channels: int = 64,
        channel_multipliers: list[int] | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        size, num_blocks = resolution_plan(image_size)
        multipliers = list(channel_multipliers or default_generator_layout(num_blocks))
        if len(multipliers) != num_blocks + 1 or min(multipliers) < 1:
            raise ValueError(
                f"channel_multipliers needs {num_blocks + 1} positive entries at image_size {image_size} (the start "
                f"map and {num_blocks} blocks), got {multipliers}."
            )
        if num_classes < 0:
            raise ValueError(f"num_classes must be 0 (unconditional) or more, got {num_classes}.")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names for {num_classes} classes.")
        channels = [base_channels * m for m in multipliers]
        self.start = (channels[0], size)
        self.project = _init_conv(nn.Linear(latent_dim, channels[0] * size * size), 1.0)
        self.blocks = nn.ModuleList(
            GeneratorBlock(c_in, c_out, num_classes) for c_in, c_out in itertools.pairwise(channels)
        )
        self.norm = nn.BatchNorm2d(channels[-1])
        self.to_image = _init_conv(nn.Conv2d(channels[-1], num_channels, 3, 1, 1), 1.0)

    def forward(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        r"""Images of shape `(batch, num_channels, image_size, image_size)` in [-1, 1] for `latents` of shape
        `(batch, latent_dim)` (and integer `class_labels` of shape `(batch,)` for a conditional model)."""
        if self.is_conditional:
            if class_labels is None:
                raise ValueError("This ResNetGenerator is class-conditional: pass class_labels of shape (batch,).")
            class_labels = class_labels.to(device=latents.device, dtype=torch.long)
        else:
            class_labels = None
        channels, size = self.start
        x = self.project(latents).view(-1, channels, size, size)
        for block in self.blocks:
            x = block(x, class_labels)
        return torch.tanh(self.to_image(F.relu(self.norm(x))))


class DiscriminatorBlock(nn.Module):
    r"""Residual discriminator block: (ReLU,) 3x3 conv, ReLU, 3x3 conv, optional 2x average pooling, plus a 1x1-conv
    shortcut (pooled) when the shape changes. The first block sees images, so it has no leading ReLU and pools before
    its shortcut convolution (SNGAN's "optimised" block).

    Args:
        in_channels (`int`), out_channels (`int`): channels in and out.
        downsample (`bool`): halve the resolution.
        first (`bool`, defaults to `False`): the block that takes the images.
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        self.first, self.downsample = first, downsample
        self.conv1 = _init_conv(nn.Conv2d(in_channels, out_channels, 3, 1, 1), math.sqrt(2))
        self.conv2 = _init_conv(nn.Conv2d(out_channels, out_channels, 3, 1, 1), math.sqrt(2))
        learned = first or downsample or in_channels != out_channels
        self.shortcut = _init_conv(nn.Conv2d(in_channels, out_channels, 1), 1.0) if learned else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        if self.shortcut is None:
            return h + x
        skip = self.shortcut(self._pool(x)) if self.first else self._pool(self.shortcut(x))
        return h + skip


class ResNetDiscriminator(nn.Module):
    r"""The SNGAN ResNet discriminator: residual blocks, ReLU, global sum pooling and a linear layer ψ, with spectral
    normalisation on every layer. With `num_classes > 0` it is the projection discriminator of Miyato & Koyama
    (2018): the logit is `ψ(φ(x)) + ⟨embed(y), φ(x)⟩`, where φ(x) are the pooled features.

    genzoo's adversarial objectives build it as `ResNetDiscriminator(image_size=..., num_channels=...,
    num_classes=..., **objective_args["discriminator"])`.

    Args:
        image_size (`int`), num_channels (`int`): the images it judges.
        num_classes (`int`, defaults to 0): classes of the projection term; 0 for an unconditional critic.
        base_channels (`int`, defaults to 64): width unit (128 channels throughout at 32 px, SNGAN's CIFAR-10
            critic).
        channel_multipliers (`list[int]`, *optional*): one multiplier per block; defaults to
            `default_discriminator_layout` for the resolution (which also sets where it downsamples).
        spectral_norm (`bool`, defaults to `True`): spectrally normalise every convolution, the linear layer and the
            class embedding (Miyato et al. 2018).
    """

    def __init__(
        self,
        image_size: int = 32,
        num_channels: int = 3,
        num_classes: int = 0,
        base_channels: int = 64,
        channel_multipliers: list[int] | None = None,
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        _, num_blocks = resolution_plan(image_size)
        default_multipliers, downsample = default_discriminator_layout(num_blocks)
        multipliers = list(channel_multipliers or default_multipliers)
        if len(multipliers) != len(downsample) or min(multipliers) < 1:
            raise ValueError(
                f"channel_multipliers needs {len(downsample)} positive entries at image_size {image_size}, got "
                f"{multipliers}."
            )
        channels = [num_channels] + [base_channels * m for m in multipliers]
        self.blocks = nn.Sequential(
            *(
                DiscriminatorBlock(channels[i], channels[i + 1], downsample[i], first=i == 0)
                for i in range(len(multipliers))
            )
        )
        self.linear = _init_conv(nn.Linear(channels[-1], 1), 1.0)
        self.class_embedding = None
        if num_classes:
            self.class_embedding = nn.Embedding(num_classes, channels[-1])
            nn.init.xavier_uniform_(self.class_embedding.weight)
        if spectral_norm:
            for module in self.modules():
                if isinstance(module, nn.Conv2d | nn.Linear | nn.Embedding):
                    nn.utils.parametrizations.spectral_norm(module)

    def forward(self, images: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        r"""One logit per image, shape `(batch,)`; `class_labels` are required when `num_classes > 0`."""
        features = F.relu(self.blocks(images)).sum(dim=(2, 3))  # φ(x): global sum pooling
        logits = self.linear(features).squeeze(1)
        if self.class_embedding is not None:
            if class_labels is None:
                raise ValueError("This projection discriminator is class-conditional: pass class_labels.")
            logits = logits + (self.class_embedding(class_labels.long()) * features).sum(dim=1)
        return logits
