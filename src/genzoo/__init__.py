"""genzoo: plugin-based image generative models (GAN, conditional GAN, VAE) on Hugging Face conventions."""

from .data import Dataset, load_dataset
from .errors import GenzooError
from .hookspecs import hookimpl
from .modeling import Generator
from .objectives import Objective
from .pipeline import GenPipeline

__version__ = "0.1.0"

__all__ = ["Dataset", "GenPipeline", "Generator", "GenzooError", "Objective", "hookimpl", "load_dataset"]
