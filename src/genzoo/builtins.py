"""genzoo's own plugin (registered as "genzoo"): the built-in dataset sources and feature extractors."""

from collections.abc import Callable

from .hookspecs import hookimpl

__all__ = ["register_datasets", "register_feature_extractors"]


@hookimpl
def register_datasets(register: Callable) -> None:
    from .data import load_hub_dataset, load_imagefolder, load_mnist_5k, load_parquet

    register("mnist-5k", load_mnist_5k, aliases=("mnist5k",))
    register("imagefolder", load_imagefolder)
    register("parquet", load_parquet)
    register("hf", load_hub_dataset, aliases=("hub",))


@hookimpl
def register_feature_extractors(register: Callable) -> None:
    from .metrics.extractors import Dinov2Extractor, InceptionExtractor, MNISTClassifierExtractor

    register("mnist-classifier", MNISTClassifierExtractor, aliases=("mnist",))
    register("inception", InceptionExtractor, aliases=("inception-v3", "fid-inception"))
    register("dinov2", Dinov2Extractor, aliases=("dino-v2",))
