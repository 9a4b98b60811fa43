"""A small CNN trained on the embedded mnist-5k digits: the domain classifier for conditional accuracy, and a fast
offline feature extractor for FID/KID on digits (`bench/train_mnist_classifier.py` trains it)."""

from pathlib import Path

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

__all__ = ["MNIST_CLASSIFIER_DIR", "MNISTClassifier", "load_mnist_classifier"]

MNIST_CLASSIFIER_DIR = Path(__file__).resolve().parents[1] / "assets" / "mnist_classifier"


def _conv_block(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]


class MNISTClassifier(ModelMixin, ConfigMixin):
    r"""Five 3x3 convolutions with batch norm, two max-pools and global average pooling, then a linear layer.

    Args:
        num_classes (`int`, defaults to 10): number of digit classes.
        feature_dim (`int`, defaults to 128): size of the pooled features used for FID/KID.
        image_size (`int`, defaults to 28): input resolution; other sizes are resized to it.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, num_classes: int = 10, feature_dim: int = 128, image_size: int = 28) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            *_conv_block(1, 32),
            *_conv_block(32, 32),
            nn.MaxPool2d(2),
            *_conv_block(32, 64),
            *_conv_block(64, 64),
            nn.MaxPool2d(2),
            *_conv_block(64, feature_dim),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Grayscale at the trained resolution: RGB is averaged, other sizes are resized bilinearly."""
        if images.shape[1] == 3:
            images = images.mean(dim=1, keepdim=True)
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
        return images.to(self.dtype)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features of shape `(batch, feature_dim)` for images in [-1, 1]."""
        return self.backbone(self._prepare(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits of shape `(batch, num_classes)` for images in [-1, 1] of shape `(batch, C, H, W)`."""
        return self.head(self.dropout(self.features(images)))


def load_mnist_classifier(path: str | Path | None = None, device: str | torch.device = "cpu") -> MNISTClassifier:
    r"""The classifier shipped with genzoo (or one saved at `path`), in eval mode.

    Args:
        path (`str` or `Path`, *optional*): a folder written by `MNISTClassifier.save_pretrained`; the shipped
            classifier (`MNIST_CLASSIFIER_DIR`) when omitted.
        device (`str` or `torch.device`, defaults to `"cpu"`): where to put it.

    Returns:
        `MNISTClassifier`: the classifier in eval mode; call it on images in [-1, 1] for class logits, or use
        `features` for its 128-d pooled features.
    """
    model = MNISTClassifier.from_pretrained(str(path or MNIST_CLASSIFIER_DIR))
    return model.to(device).eval()
