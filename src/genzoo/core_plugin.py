"""genzoo's own plugin (registered as "genzoo"): the built-in adversarial objectives, dataset sources, feature
extractors, metrics and `genzoo` commands, and the task table's built-in rows (`genzoo.tasks.builtin`)."""

from collections.abc import Callable

from .hookspecs import hookimpl
from .registry import MetricOption
from .tasks.builtin import register_tasks

__all__ = [
    "register_commands",
    "register_datasets",
    "register_feature_extractors",
    "register_metrics",
    "register_objectives",
    "register_tasks",
]


@hookimpl
def register_objectives(register: Callable) -> None:
    # Import strings: each class (and torch) is imported when the objective is first used, not to list the names.
    module = "genzoo.objectives.adversarial"
    register(
        "gan",
        f"{module}:GANObjective",
        aliases=("bce", "non-saturating"),
        description="The original GAN loss with a non-saturating generator loss; Adam(2e-4, betas=(0.5, 0.999)) "
        "unless the model family sets its own.",
    )
    register(
        "hinge",
        f"{module}:HingeObjective",
        description="Hinge loss (Lim & Ye 2017; Miyato et al. 2018); Adam(2e-4, betas=(0.5, 0.999)) unless the model "
        "family sets its own.",
    )
    register(
        "wgan-gp",
        f"{module}:WGANGPObjective",
        aliases=("wgangp",),
        description="Wasserstein loss with gradient penalty 10 and 5 critic steps per generator step (Gulrajani et "
        "al. 2017); Adam(1e-4, betas=(0.0, 0.9)) unless the model family sets its own.",
    )


@hookimpl
def register_datasets(register: Callable) -> None:
    # Import strings: `datasets` takes a second to import, and listing or looking up names must not pay for it.
    module = "genzoo.data"
    register(
        "mnist-5k",
        f"{module}:load_mnist_5k",
        aliases=("mnist5k",),
        description="The 5,000 real MNIST digits embedded in genzoo: 4,500 for `train`, 500 held out for `test`.",
    )
    register("imagefolder", f"{module}:load_imagefolder", description="Images in a folder; sub-folders are classes.")
    register(
        "parquet", f"{module}:load_parquet", description="A parquet file (or glob of files) with an image column."
    )
    register(
        "shapes",
        "genzoo.data_shapes:load_shapes",
        aliases=("dsprites-like",),
        description="Binary 64x64 shapes with 5 known factors (dSprites-like), rendered on first use and cached; "
        "shapes:small, shapes:tiny or shapes:S,C,O,X,Y for a subgrid.",
    )
    register(
        "hf",
        f"{module}:load_hub_dataset",
        aliases=("hub",),
        description="A dataset from the Hugging Face Hub (cached datasets load offline with HF_DATASETS_OFFLINE=1).",
    )


@hookimpl
def register_feature_extractors(register: Callable) -> None:
    # Import strings: only an evaluation needs the extractors (and torch).
    module = "genzoo.metrics.extractors"
    register(
        "mnist-classifier",
        f"{module}:MNISTClassifierExtractor",
        aliases=("mnist",),
        description="The domain classifier trained on genzoo's embedded digits: 128-d features, 10 logits, 28x28.",
    )
    register(
        "inception",
        f"{module}:InceptionExtractor",
        aliases=("inception-v3", "fid-inception"),
        description="The standard FID Inception-v3 (the 2015-12-05 TensorFlow graph): 2048-d pool features, 299x299.",
    )
    register(
        "dinov2",
        f"{module}:Dinov2Extractor",
        aliases=("dino-v2",),
        description="DINOv2 features for FD-DINOv2 (Stein et al. 2023): the normalised CLS token.",
    )


@hookimpl
def register_metrics(register: Callable) -> None:
    # Import strings: the compute functions (and torch) are imported only when a metric is computed.
    _register_sample_quality_metrics(register)
    _register_disentanglement_metrics(register)


def _register_sample_quality_metrics(register: Callable) -> None:
    """FID, KID, IS, precision/recall and class coverage: generated images against real ones."""
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


def _register_disentanglement_metrics(register: Callable) -> None:
    """MIG, DCI, the FactorVAE score and SAP: representations (a VAE's encoder, InfoGAN's codes) against a dataset's
    known factors."""
    module = "genzoo.metrics.disentanglement"
    points = MetricOption(10000, "dataset images encoded (a seeded random subset)", minimum=2)
    factors = MetricOption("", "comma-separated factor columns (default: the dataset's own, e.g. shapes')")
    register(
        "mig",
        f"{module}:compute_mig",
        direction="higher",
        applies_to="representation",
        options={
            "num_points": points,
            "num_bins": MetricOption(20, "equal-width bins per code for the mutual information", minimum=2),
            "factor_columns": factors,
        },
        default=False,
        description="Mutual information gap between the two codes most informative of each factor (Chen 2018)",
    )
    register(
        "dci",
        f"{module}:compute_dci",
        direction="higher",
        outputs=("dci_disentanglement", "dci_completeness", "dci_informativeness"),
        applies_to="representation",
        options={
            "num_points": points,
            "n_estimators": MetricOption(10, "boosting rounds per factor (disentanglement_lib: 100)", minimum=1),
            "factor_columns": factors,
        },
        default=False,
        description="DCI disentanglement, completeness, informativeness from boosted-tree importances (Eastwood 2018)",
    )
    register(
        "factorvae_score",
        f"{module}:compute_factor_vae_score",
        direction="higher",
        applies_to="representation",
        options={
            "num_points": points,
            "batch_size": MetricOption(64, "points sharing one factor value per vote", minimum=2),
            "num_votes": MetricOption(800, "votes to fit the classifier, and as many to score it", minimum=1),
            "factor_columns": factors,
        },
        aliases=("factor_vae_score", "factorvae"),
        default=False,
        description="Accuracy of a majority vote from the least-varying code to the fixed factor (Kim & Mnih 2018)",
    )
    register(
        "sap",
        f"{module}:compute_sap",
        direction="higher",
        applies_to="representation",
        options={
            "num_points": points,
            "continuous_factors": MetricOption(False, "score codes by R² instead of a linear classifier's accuracy"),
            "factor_columns": factors,
        },
        default=False,
        description="Separated attribute predictability: gap between the two best single-code predictors (Kumar 2018)",
    )


# The built-in commands, in the order `genzoo --help` lists them: name -> the line it shows. Each is the module
# genzoo.cli.NAME with `add_arguments(parser)` and `run(args)`, registered exactly as a plugin registers its own.
BUILTIN_COMMANDS = {
    "train": "train a model and save it as a pipeline",
    "export": "save a training checkpoint (or a run's newest one) as a pipeline folder, mid-training too",
    "sample": "generate a grid of images, or a folder of PNGs, from a saved pipeline",
    "interpolate": "draw a grid of latent interpolations (one slerp path per row) from a saved pipeline",
    "restore": "inpaint, super-resolve or denoise an image with a saved pipeline (as a generative prior)",
    "explore": "draw a grid of latent directions: SeFa directions (GANs) or KL-ranked latent dimensions (VAEs)",
    "push": "publish a saved pipeline folder to the Hugging Face Hub",
    "evaluate": "FID, KID, Inception Score, precision/recall (or any registered metric) of a saved pipeline",
    "demo": "serve a web demo (Gradio) of a saved pipeline, or export it as a Hugging Face Space",
    "recipes": "list the shipped recipes (genzoo train --recipe NAME) with the figure each aims at",
    "plugins": "list installed plugins and what they register",
}


@hookimpl
def register_commands(register: Callable) -> None:
    # Import strings: the command modules import nothing heavy, but only the one that runs needs its handler.
    for name, description in BUILTIN_COMMANDS.items():
        module = f"genzoo.cli.{name}"
        register(name, f"{module}:add_arguments", f"{module}:run", description=description)
