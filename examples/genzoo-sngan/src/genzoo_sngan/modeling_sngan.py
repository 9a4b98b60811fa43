"""SNGAN (Miyato et al., 2018): a ResNet generator, a ResNet critic with spectral normalisation in every layer, and a
pipeline that adds the truncation trick.

The generator is a genzoo `Generator` (a diffusers model), so `GenPipeline.save_pretrained` writes its config and
safetensors weights. The critic is a plain `torch.nn.Module`: it is only needed for training, so it is never saved in
the pipeline (the trainer checkpoints it).
"""

import torch
from diffusers.configuration_utils import register_to_config
from genzoo import Generator, GenPipeline
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["SNGANDiscriminator", "SNGANGenerator", "SNGANPipeline", "truncated_latents"]


def bottom_size(image_size: int) -> tuple[int, int]:
    """The feature-map size the generator starts from and the number of 2x upsampling blocks to `image_size`:
    32 -> (4, 3), 28 -> (7, 2), 16 -> (4, 2)."""
    size, blocks = image_size, 0
    while size > 7 and size % 2 == 0:
        size, blocks = size // 2, blocks + 1
    if not 4 <= size <= 7 or blocks < 2:
        raise ValueError(f"image_size {image_size} is not supported: use 4 to 7 times a power of two, at least 16.")
    return size, blocks


class GeneratorBlock(nn.Module):
    """Pre-activation residual block that doubles the resolution: BN, ReLU, upsample, 3x3 conv, BN, ReLU, 3x3 conv,
    with an upsampled 1x1 conv shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1),
        )
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class SNGANGenerator(Generator):
    r"""The SNGAN ResNet generator: a linear projection of the latent to a small feature map, residual blocks that
    double the resolution, then BN, ReLU, a 3x3 convolution and tanh.

    Args:
        latent_dim (`int`, defaults to 128): size of the latent vector.
        image_size (`int`, defaults to 32): output height and width (16, 28, 32, 64, ...).
        num_channels (`int`, defaults to 3): output channels.
        base_channels (`int`, defaults to 128): channels of every residual block.
    """

    @register_to_config
    def __init__(self, latent_dim: int = 128, image_size: int = 32, num_channels: int = 3, base_channels: int = 128):
        super().__init__()
        size, num_blocks = bottom_size(image_size)
        self.start = (base_channels, size, size)
        self.project = nn.Linear(latent_dim, base_channels * size * size)
        self.blocks = nn.Sequential(*(GeneratorBlock(base_channels) for _ in range(num_blocks)))
        self.to_image = nn.Sequential(
            nn.BatchNorm2d(base_channels), nn.ReLU(), nn.Conv2d(base_channels, num_channels, 3, 1, 1), nn.Tanh()
        )

    def forward(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.project(latents).view(-1, *self.start)
        return self.to_image(self.blocks(x))


class DiscriminatorBlock(nn.Module):
    """Residual critic block: (ReLU,) 3x3 conv, ReLU, 3x3 conv, optional 2x average pooling; a 1x1 conv shortcut when
    the shape changes. The first block of the critic skips the leading ReLU (it sees images)."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [] if first else [nn.ReLU()]
        layers += [
            nn.Conv2d(in_channels, out_channels, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1),
        ]
        if downsample:
            layers.append(nn.AvgPool2d(2))
        self.residual = nn.Sequential(*layers)
        shortcut: list[nn.Module] = []
        if in_channels != out_channels or downsample:
            # The first block pools before its 1x1 conv (cheaper on full-size images), the others after.
            conv = nn.Conv2d(in_channels, out_channels, 1)
            pool = [nn.AvgPool2d(2)] if downsample else []
            shortcut = [*pool, conv] if first else [conv, *pool]
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class SNGANDiscriminator(nn.Module):
    r"""The SNGAN ResNet critic: two downsampling residual blocks, two more at that resolution, ReLU, global sum
    pooling and a linear layer, with spectral normalisation on every convolution and the linear layer.

    genzoo's adversarial objectives build it as `SNGANDiscriminator(image_size=..., num_channels=...,
    num_classes=..., **objective_args["discriminator"])` and call it as `critic(images, class_labels)`.

    Args:
        image_size (`int`): height and width of the images it judges (divisible by 4).
        num_channels (`int`): their channels.
        num_classes (`int`, defaults to 0): must be 0; this critic is unconditional.
        base_channels (`int`, defaults to 128): channels of every block.
    """

    def __init__(self, image_size: int = 32, num_channels: int = 3, num_classes: int = 0, base_channels: int = 128):
        super().__init__()
        if num_classes:
            raise ValueError("SNGANDiscriminator is unconditional; train it on unlabelled images or ignore labels.")
        if image_size % 4:
            raise ValueError(f"SNGANDiscriminator needs an image_size divisible by 4, got {image_size}.")
        self.blocks = nn.Sequential(
            DiscriminatorBlock(num_channels, base_channels, downsample=True, first=True),
            DiscriminatorBlock(base_channels, base_channels, downsample=True),
            DiscriminatorBlock(base_channels, base_channels, downsample=False),
            DiscriminatorBlock(base_channels, base_channels, downsample=False),
            nn.ReLU(),
        )
        self.linear = nn.Linear(base_channels, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                spectral_norm(module)

    def forward(self, images: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        features = self.blocks(images).sum(dim=(2, 3))  # global sum pooling
        return self.linear(features).flatten()


def truncated_latents(
    generator_model: Generator,
    batch_size: int,
    truncation: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Latents from N(0, I) with every component of magnitude above `truncation` redrawn until none is left (the
    truncation trick: less variety, more typical images), on the CPU. `pipe(..., truncation=t)` draws the same."""
    return generator_model.sample_latents(batch_size, generator=generator, device="cpu", truncation=truncation)


class SNGANPipeline(GenPipeline):
    r"""The SNGAN's pipeline: `GenPipeline` as it is, including its truncation trick (`pipe(batch_size=16,
    truncation=1.0)`), registered as the model's `pipeline_class`, so `save_pretrained` writes
    `"_class_name": "SNGANPipeline"` and `GenPipeline.from_pretrained` returns an `SNGANPipeline`.

    A pipeline that needs a sampling option of its own overrides `prepare_latents` alone: `__call__`,
    `interpolate` and `interpolation_grid` pass it every keyword argument they do not take themselves.
    """
