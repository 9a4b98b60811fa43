"""genzoo's conditional GAN plugin: a class-conditional generator and a projection discriminator, trained with the
adversarial objectives of the GAN plugin (hinge loss by default).

It registers through the `genzoo` entry-point group, exactly as a third-party plugin would.
"""

from collections.abc import Callable

from genzoo import hookimpl

from .modeling_cgan import CGANGenerator, CGANPipeline, ConditionalBatchNorm2d, ProjectionDiscriminator

__all__ = ["TRAINING_DEFAULTS", "CGANGenerator", "CGANPipeline", "ConditionalBatchNorm2d", "ProjectionDiscriminator"]

#: What `genzoo train cgan` uses unless a config file, a flag or `--set` says otherwise: tuned so that a run on
#: mnist-5k finishes in under 10 minutes on 2 CPU cores and draws the requested digit over 95 % of the time
#: (docs/models/cgan.md has the measurements).
TRAINING_DEFAULTS = {
    "dataset": "mnist-5k",
    "max_steps": 2000,
    "batch_size": 64,
    "sample_every": 500,
    "checkpoint_every": 1000,
    "ema_decay": 0.999,
    "model_args": {"latent_dim": 64, "base_channels": 32},
    "objective_args": {"lr": 2e-4, "betas": [0.0, 0.9], "discriminator": {"base_channels": 32}},
}


@hookimpl
def register_models(register: Callable) -> None:
    register(
        "cgan",
        CGANGenerator,
        pipeline_class=CGANPipeline,
        discriminator_class=ProjectionDiscriminator,
        default_objective="hinge",
        training_defaults=TRAINING_DEFAULTS,
        description="Conditional GAN: conditional-batch-norm generator, projection discriminator with spectral norm",
    )
