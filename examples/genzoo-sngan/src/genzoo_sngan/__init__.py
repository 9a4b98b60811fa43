"""genzoo-sngan: SNGAN as a genzoo plugin.

genzoo imports this module through the `genzoo` entry point in `pyproject.toml` and calls its hooks. The model trains
with genzoo's registered `hinge` objective, which builds `SNGANDiscriminator` from the registration.
"""

from collections.abc import Callable

from genzoo import hookimpl

from .modeling_sngan import SNGANDiscriminator, SNGANGenerator, SNGANPipeline, truncated_latents

__all__ = ["SNGANDiscriminator", "SNGANGenerator", "SNGANPipeline", "truncated_latents"]


@hookimpl
def register_models(register: Callable) -> None:
    register(
        "sngan-example",
        SNGANGenerator,
        pipeline_class=SNGANPipeline,
        discriminator_class=SNGANDiscriminator,
        default_objective="hinge",
        # The SNGAN paper's Adam settings; a config file, flags and --set override any of them.
        training_defaults={"batch_size": 64, "max_steps": 5000, "objective_args": {"lr": 2e-4, "betas": [0.0, 0.9]}},
        aliases=("sngan-resnet",),
        description="SNGAN (Miyato et al. 2018): ResNet generator, spectrally normalised ResNet critic, hinge loss",
    )
