"""genzoo: plugin-based image generative models (GAN, conditional GAN, VAE) on Hugging Face conventions."""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from .errors import GenzooError
from .hookspecs import hookimpl
from .lazy import lazy_exports

if TYPE_CHECKING:
    from .data import Dataset, load_dataset
    from .modeling import Generator, dcgan_init
    from .objectives import Objective
    from .pipeline import GenPipeline
    from .registry import ModelRegistration

try:
    __version__ = version("genzoo")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Dataset",
    "GenPipeline",
    "Generator",
    "GenzooError",
    "ModelRegistration",
    "Objective",
    "dcgan_init",
    "hookimpl",
    "lazy_exports",
    "load_dataset",
]

# torch, diffusers and datasets take seconds to import; load them on first use so that `genzoo --help` is instant.
_LAZY = {
    "Dataset": ".data",
    "load_dataset": ".data",
    "Generator": ".modeling",
    "dcgan_init": ".modeling",
    "ModelRegistration": ".registry",
    "Objective": ".objectives",
    "GenPipeline": ".pipeline",
}


__getattr__ = lazy_exports(__name__, _LAZY)
