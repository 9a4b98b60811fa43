"""genzoo: plugin-based image generative models (GAN, conditional GAN, VAE) on Hugging Face conventions."""

from importlib.metadata import PackageNotFoundError, version

from .data import Dataset, load_dataset
from .errors import GenzooError
from .hookspecs import hookimpl
from .modeling import Generator
from .objectives import Objective
from .pipeline import GenPipeline

try:
    __version__ = version("genzoo")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Dataset", "GenPipeline", "Generator", "GenzooError", "Objective", "hookimpl", "load_dataset"]
