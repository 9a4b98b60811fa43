"""genzoo's InfoGAN plugin: the `infogan` model family (Chen et al. 2016), its objective, and the `code_accuracy`
metric (how well the categorical code matches the classes of a classifier).

It registers through the `genzoo` entry-point group, exactly as a third-party plugin would.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from genzoo import hookimpl, lazy_exports
from genzoo.registry import MetricOption

if TYPE_CHECKING:
    from .modeling_infogan import CodeRecognizer, InfoGANDiscriminator, InfoGANGenerator, InfoGANPipeline
    from .objectives import InfoGANObjective

__all__ = [
    "TRAINING_DEFAULTS",
    "CodeRecognizer",
    "InfoGANDiscriminator",
    "InfoGANGenerator",
    "InfoGANObjective",
    "InfoGANPipeline",
]
_EXPORTS = {
    name: ".objectives" if name == "InfoGANObjective" else ".modeling_infogan"
    for name in __all__
    if not name.isupper()
}

#: What `genzoo train infogan` uses unless a config file, a flag or `--set` says otherwise: the paper's MNIST setting
#: (62 noise values, a 10-way category, 2 continuous codes, batch 64) on the embedded digits, the first 1,500 steps
#: being the objective's clustering warm-up; docs/disentanglement.md has the measurements.
TRAINING_DEFAULTS = {
    "dataset": "mnist-5k",
    "max_steps": 4000,
    "batch_size": 64,
    "sample_every": 500,
    "num_sample_images": 100,  # ten rows, one per category value, when drawn with code_rows
    "checkpoint_every": 1000,
    "mixed_precision": "auto",  # bf16 where the CPU or GPU has it: 1.6× faster steps on a CPU with AVX512-BF16
}


@hookimpl
def register_models(register: Callable) -> None:
    register(
        "infogan",
        "genzoo_infogan.modeling_infogan:InfoGANGenerator",
        pipeline_class="genzoo_infogan.modeling_infogan:InfoGANPipeline",
        discriminator_class="genzoo_infogan.modeling_infogan:InfoGANDiscriminator",
        default_objective="infogan",
        training_defaults=TRAINING_DEFAULTS,
        description="InfoGAN (Chen et al. 2016): categorical and continuous codes read back by a Q head on the critic",
    )


@hookimpl
def register_objectives(register: Callable) -> None:
    register(
        "infogan",
        "genzoo_infogan.objectives:InfoGANObjective",
        description="GAN loss + λ·mutual-information loss of the codes (Chen et al. 2016) + Q clustering real images "
        "(IMSAT) after a 1,500-step clustering warm-up; G and D 2e-4",
    )


@hookimpl
def register_tasks(register: Callable) -> None:
    register(
        "codes",
        "genzoo_infogan.modeling_infogan:code_rows",
        method="code_rows",
        group="exploration",  # `genzoo explore --method codes`
        applies_to="genzoo_infogan.modeling_infogan:has_codes",
        label="code rows",
        description="One row per value of a learned code (InfoGAN), the noise fixed down each column.",
    )


@hookimpl
def register_metrics(register: Callable) -> None:
    register(
        "code_accuracy",
        "genzoo_infogan.metrics:compute_code_accuracy",
        direction="higher",
        applies_to="codes",
        options={
            "samples_per_code": MetricOption(500, "images drawn for each categorical code value", minimum=1),
            "features": MetricOption("mnist-classifier", "the feature extractor whose class logits label them"),
        },
        aliases=("code-to-class", "code_to_class"),
        description="Categorical code vs. classifier classes, matched by the Hungarian algorithm: accuracy",
    )


# The classes are re-exported lazily: importing this entry module (which `genzoo plugins` does) must not import
# torch and diffusers; registrations name the classes by import string for the same reason.
__getattr__ = lazy_exports(__name__, _EXPORTS)
