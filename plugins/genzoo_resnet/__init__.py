"""genzoo's ResNet GAN plugin: the SNGAN/cGAN-PD residual generator and spectrally normalised residual discriminator
for 32 to 128 pixels, trained with genzoo's core `hinge` objective.

It registers through the `genzoo` entry-point group, exactly as a third-party plugin would.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from genzoo import hookimpl, lazy_exports

if TYPE_CHECKING:
    from .modeling_resnet import (
        DiscriminatorBlock,
        GeneratorBlock,
        ResNetDiscriminator,
        ResNetGenerator,
        default_discriminator_layout,
        default_generator_layout,
    )

__all__ = [
    "OBJECTIVE_DEFAULTS",
    "TRAINING_DEFAULTS",
    "DiscriminatorBlock",
    "GeneratorBlock",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "default_discriminator_layout",
    "default_generator_layout",
]
_EXPORTS = {name: ".modeling_resnet" for name in __all__ if not name.isupper()}

#: What `genzoo train resnet` uses unless a recipe, a config file, a flag or `--set` says otherwise: SNGAN's
#: CIFAR-10 batch size and a linearly decaying learning rate (Miyato et al. 2018; mimicry).
TRAINING_DEFAULTS = {
    "batch_size": 64,
    "max_steps": 10000,
    "lr_scheduler": "linear",
    "sample_every": 1000,
    "checkpoint_every": 2000,
}
#: SNGAN's optimiser with the hinge loss: Adam(2e-4, β = (0, 0.9)), five discriminator steps per generator step.
OBJECTIVE_DEFAULTS = {"hinge": {"lr": 2e-4, "betas": [0.0, 0.9], "n_critic": 5}}


@hookimpl
def register_models(register: Callable) -> None:
    register(
        "resnet",
        "genzoo_resnet.modeling_resnet:ResNetGenerator",
        # The class-aware pipeline: class names and per-class grids when the model is conditional; it samples an
        # unconditional one exactly like GenPipeline.
        pipeline_class="genzoo_cgan.modeling_cgan:CGANPipeline",
        discriminator_class="genzoo_resnet.modeling_resnet:ResNetDiscriminator",
        default_objective="hinge",
        training_defaults=TRAINING_DEFAULTS,
        objective_defaults=OBJECTIVE_DEFAULTS,
        # `sngan` names the family by the configuration its defaults are: SNGAN's networks, loss, optimiser, critic
        # steps and schedule. (The third-party example plugin registers its own SNGAN as `sngan-example`.)
        aliases=("sngan", "resnet-gan"),
        description=(
            "ResNet GAN (SNGAN, cGAN-PD): residual generator with conditional batch norm, spectrally normalised "
            "residual projection discriminator, 32-128 px"
        ),
    )


# The classes are re-exported lazily: importing this entry module (which `genzoo plugins` does) must not import
# torch and diffusers; registrations name the classes by import string for the same reason.
__getattr__ = lazy_exports(__name__, _EXPORTS)
