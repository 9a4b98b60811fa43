"""genzoo's VAE plugin: a convolutional variational autoencoder, its class-conditional variant (cvae) and the ELBO
objective.

It registers through the `genzoo` entry-point group, exactly as a third-party plugin would.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from genzoo import hookimpl, lazy_exports
from genzoo.registry import MetricOption

if TYPE_CHECKING:
    from .disentangling import BetaTCVAEObjective, BetaVAEObjective, FactorVAEObjective
    from .modeling_vae import (
        CVAEGenerator,
        CVAEPipeline,
        VAEGenerator,
        VAEOutput,
        VAEPipeline,
        bernoulli_log_likelihood,
        diagonal_gaussian_log_prob,
        gaussian_kl,
        gaussian_log_likelihood,
        reparameterize,
    )
    from .objectives import ELBOObjective

__all__ = [
    "BetaTCVAEObjective",
    "BetaVAEObjective",
    "CVAEGenerator",
    "CVAEPipeline",
    "ELBOObjective",
    "FactorVAEObjective",
    "VAEGenerator",
    "VAEOutput",
    "VAEPipeline",
    "bernoulli_log_likelihood",
    "diagonal_gaussian_log_prob",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "reparameterize",
]
_DISENTANGLING = ("BetaTCVAEObjective", "BetaVAEObjective", "FactorVAEObjective")
_EXPORTS = {
    name: ".objectives" if name == "ELBOObjective" else ".disentangling" if name in _DISENTANGLING else ".modeling_vae"
    for name in __all__
}

# `genzoo train vae` with no other flags: measured on mnist-5k on 2 shared CPU cores (see docs/models/vae.md).
TRAINING_DEFAULTS = {
    "max_steps": 2000,
    "batch_size": 128,
    "sample_every": 500,
    "checkpoint_every": 1000,
    "log_every": 50,
}


@hookimpl
def register_models(register: Callable) -> None:
    register(
        "vae",
        "genzoo_vae.modeling_vae:VAEGenerator",
        pipeline_class="genzoo_vae.modeling_vae:VAEPipeline",
        default_objective="elbo",
        training_defaults=TRAINING_DEFAULTS,
        description="Convolutional VAE (Kingma & Welling 2014): encode, decode, reconstruct, interpolate, NLL",
    )
    register(
        "cvae",
        "genzoo_vae.modeling_vae:CVAEGenerator",
        pipeline_class="genzoo_vae.modeling_vae:CVAEPipeline",
        default_objective="elbo",
        training_defaults=TRAINING_DEFAULTS,
        description="Conditional VAE (Sohn et al. 2015): the VAE with encoder and decoder given the class",
    )


@hookimpl
def register_objectives(register: Callable) -> None:
    register(
        "elbo",
        "genzoo_vae.objectives:ELBOObjective",
        description="The ELBO with a β-weighted KL term (Bernoulli/Gaussian likelihood)",
    )
    module = "genzoo_vae.disentangling"
    register(
        "beta-vae",
        f"{module}:BetaVAEObjective",
        aliases=("betavae",),
        description="β-VAE: β·KL with β = 4 (Higgins 2017), or capacity annealing γ·|KL − C| (Burgess 2018)",
    )
    register(
        "beta-tcvae",
        f"{module}:BetaTCVAEObjective",
        aliases=("betatcvae",),
        description="β-TCVAE: β·total correlation, β = 6, by minibatch-weighted sampling (Chen 2018)",
    )
    register(
        "factor-vae",
        f"{module}:FactorVAEObjective",
        aliases=("factorvae",),
        description="FactorVAE: γ·total correlation from a discriminator on permuted codes, γ = 10 (Kim & Mnih 2018)",
    )


@hookimpl
def register_metrics(register: Callable) -> None:
    held_out = MetricOption(200, "held-out images (the dataset's test split when it has one)", minimum=1)
    register(
        "nll",
        "genzoo_vae.metrics:compute_nll",
        applies_to="encoder",
        options={
            "num_images": held_out,
            "importance_samples": MetricOption(100, "importance samples k per image", minimum=1),
        },
        description="Importance-sampled negative log-likelihood on held-out images, nats (Burda 2016)",
    )
    register(
        "reconstruction",
        "genzoo_vae.metrics:compute_reconstruction",
        outputs=("reconstruction_mse",),
        applies_to="encoder",
        options={"num_images": held_out},
        aliases=("reconstruction_mse", "recon"),
        description="Mean squared reconstruction error in [0, 1] on held-out images",
    )


# The classes are re-exported lazily: importing this entry module (which `genzoo plugins` does) must not import
# torch and diffusers; registrations name the classes by import string for the same reason.
__getattr__ = lazy_exports(__name__, _EXPORTS)
