"""genzoo's own plugin (registered as "genzoo"): the built-in adversarial objectives, dataset sources, feature
extractors and metrics."""

from collections.abc import Callable

from .hookspecs import hookimpl
from .registry import MetricOption

__all__ = ["register_datasets", "register_feature_extractors", "register_metrics", "register_objectives"]


@hookimpl
def register_objectives(register: Callable) -> None:
    # Imported on first use like the other built-ins: torch is slow to import and `genzoo --help` needs none of it.
    from .objectives import GANObjective, HingeObjective, WGANGPObjective

    register("gan", GANObjective, aliases=("bce", "non-saturating"))
    register("hinge", HingeObjective)
    register("wgan-gp", WGANGPObjective, aliases=("wgangp",))


@hookimpl
def register_datasets(register: Callable) -> None:
    # lazy: `datasets` takes a second to import, and a lookup of models alone must not pay for it
    from .data import load_hub_dataset, load_imagefolder, load_mnist_5k, load_parquet

    register("mnist-5k", load_mnist_5k, aliases=("mnist5k",))
    register("imagefolder", load_imagefolder)
    register("parquet", load_parquet)
    register("hf", load_hub_dataset, aliases=("hub",))


@hookimpl
def register_feature_extractors(register: Callable) -> None:
    # lazy: only an evaluation needs the extractors
    from .metrics.extractors import Dinov2Extractor, InceptionExtractor, MNISTClassifierExtractor

    register("mnist-classifier", MNISTClassifierExtractor, aliases=("mnist",))
    register("inception", InceptionExtractor, aliases=("inception-v3", "fid-inception"))
    register("dinov2", Dinov2Extractor, aliases=("dino-v2",))


@hookimpl
def register_metrics(register: Callable) -> None:
    # Import strings: the compute functions (and torch) are imported only when a metric is computed.
    module = "genzoo.metrics.standard"
    register("fid", f"{module}:compute_fid", needs=("stats",), description="Fréchet Inception Distance (Heusel 2017)")
    register(
        "fid_per_class",
        f"{module}:compute_fid_per_class",
        outputs=("fid_per_class_mean",),
        applies_to="class-conditional",
        needs=("class_stats",),
        aliases=("fid-per-class",),
        description="FID of each class against that class's real images, and their mean",
    )
    register(
        "kid",
        f"{module}:compute_kid",
        needs=("features",),
        options={
            "num_subsets": MetricOption(100, "random subsets averaged over", minimum=1),
            "subset_size": MetricOption(1000, "images per subset (lowered to the smaller set's size)", minimum=2),
        },
        description="Kernel Inception Distance, unbiased MMD² with a cubic kernel (Bińkowski 2018)",
    )
    register(
        "is",
        f"{module}:compute_is",
        direction="higher",
        needs=("logits",),
        options={"splits": MetricOption(10, "chunks the score is averaged over", minimum=1)},
        aliases=("inception_score", "isc"),
        description="Inception Score from the extractor's class logits (Salimans 2016)",
    )
    register(
        "pr",
        f"{module}:compute_pr",
        direction="higher",
        outputs=("precision", "recall"),
        needs=("features",),
        options={"k": MetricOption(3, "the nearest neighbour that sets each ball's radius", minimum=1)},
        aliases=("precision", "recall", "precision_recall"),
        description="k-NN manifold precision and recall (Kynkäänniemi 2019)",
    )
    register(
        "coverage",
        "genzoo.metrics.coverage:compute_coverage",
        direction="higher",
        outputs=("coverage_entropy", "coverage_min_share"),
        applies_to="unconditional",
        needs=("logits",),
        aliases=("class_coverage", "class-coverage"),
        description="class histogram of the samples by the extractor's classifier: normalised entropy, smallest share",
    )
