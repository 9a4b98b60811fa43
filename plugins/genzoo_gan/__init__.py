"""genzoo's GAN plugin: the DCGAN model family and the adversarial objectives (gan, hinge, wgan-gp).

It registers through the `genzoo` entry-point group, exactly as a third-party plugin would.
"""

from collections.abc import Callable

from genzoo import hookimpl

from .modeling_dcgan import DCGANDiscriminator, DCGANGenerator
from .objectives import AdversarialObjective, GANObjective, HingeObjective, WGANGPObjective, apply_spectral_norm

__all__ = [
    "AdversarialObjective",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANObjective",
    "HingeObjective",
    "WGANGPObjective",
    "apply_spectral_norm",
]


@hookimpl
def register_models(register: Callable) -> None:
    register(
        "dcgan",
        DCGANGenerator,
        discriminator_class=DCGANDiscriminator,
        default_objective="gan",
        description="DCGAN (Radford et al. 2016): transposed-convolution generator, strided-convolution critic",
    )


@hookimpl
def register_objectives(register: Callable) -> None:
    register("gan", GANObjective, aliases=("bce", "non-saturating"))
    register("hinge", HingeObjective)
    register("wgan-gp", WGANGPObjective, aliases=("wgangp",))
