"""genzoo's GAN plugin: the DCGAN model family, trained with genzoo's adversarial objectives (gan by default).

It registers through the `genzoo` entry-point group, exactly as a third-party plugin would.
"""

from collections.abc import Callable

from genzoo import hookimpl

from .modeling_dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = ["TRAINING_DEFAULTS", "DCGANDiscriminator", "DCGANGenerator"]

#: What `genzoo train dcgan` uses unless a config file, a flag or `--set` says otherwise: the README's main job.
#: On mnist-5k this takes 8-9 minutes on 2 quiet CPU cores (11-13.5 steps/s) and draws recognisable digits;
#: docs/models/dcgan.md has the measurements. A discriminator half as wide as the generator trains as well on these
#: small images, and a full-width one makes each step take 1.6 times as long (bench/train_step_speed.py).
TRAINING_DEFAULTS = {
    "max_steps": 6000,
    "batch_size": 64,
    "sample_every": 1000,
    "checkpoint_every": 2000,
    "objective_args": {"discriminator": {"base_channels": 32}},
}


@hookimpl
def register_models(register: Callable) -> None:
    register(
        "dcgan",
        DCGANGenerator,
        discriminator_class=DCGANDiscriminator,
        default_objective="gan",
        training_defaults=TRAINING_DEFAULTS,
        description="DCGAN (Radford et al. 2016): transposed-convolution generator, strided-convolution critic",
    )
