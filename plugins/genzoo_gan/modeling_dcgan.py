"""DCGAN (Radford et al., 2016): a transposed-convolution generator and a strided-convolution discriminator."""

import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from genzoo import Generator, dcgan_init
from genzoo.modeling import check_sizes, resolution_plan

__all__ = ["DCGANDiscriminator", "DCGANGenerator"]


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "layer":  # per-sample normalisation, valid under gradient penalties (unlike batch norm)
        return nn.GroupNorm(1, channels)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {norm!r}.")


class DCGANGenerator(Generator):
    r"""The DCGAN generator: a projection of the latent to a small feature map, then transposed convolutions that
    double the resolution, with batch norm and ReLU, ending in tanh.

    Args:
        latent_dim (`int`, defaults to 100): size of the latent vector.
        image_size (`int`, defaults to 28): output height and width (28, 32, 64, ...).
        num_channels (`int`, defaults to 1): output channels.
        base_channels (`int`, defaults to 64): channels of the last hidden layer; each earlier layer has twice as
            many.
    """

    @register_to_config
    def __init__(self, latent_dim: int = 100, image_size: int = 28, num_channels: int = 1, base_channels: int = 64):
        super().__init__()
        check_sizes(type(self).__name__, latent_dim=latent_dim, num_channels=num_channels, base_channels=base_channels)
        size, num_layers = resolution_plan(image_size)
        channels = base_channels * 2 ** (num_layers - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, channels, size, 1, 0, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(True),
        ]
        for _ in range(num_layers - 1):
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(True),
            ]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, num_channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(latents[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    r"""The DCGAN discriminator: strided convolutions with LeakyReLU(0.2) that halve the resolution, and a final
    convolution to one logit per image.

    Args:
        image_size, num_channels: the images it judges.
        base_channels (`int`, defaults to 64): channels of the first layer; each later layer has twice as many.
        norm (`str`, defaults to `"batch"`): `"batch"`, `"layer"` or `"none"` after every hidden layer but the
            first.
    """

    def __init__(
        self,
        image_size: int = 28,
        num_channels: int = 1,
        num_classes: int = 0,
        base_channels: int = 64,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if num_classes:
            raise ValueError("DCGANDiscriminator is unconditional; use the cgan model for class labels.")
        check_sizes(type(self).__name__, num_channels=num_channels, base_channels=base_channels)
        size, num_layers = resolution_plan(image_size)
        channels = base_channels
        layers: list[nn.Module] = [nn.Conv2d(num_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(num_layers - 1):
            layers += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=norm != "batch"),
                _norm_layer(norm, channels * 2),
                nn.LeakyReLU(0.2, True),
            ]
            channels *= 2
        layers.append(nn.Conv2d(channels, 1, size, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(images).flatten()
