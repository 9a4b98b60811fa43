"""genzoo's pix2pix plugin: trained restoration. A U-Net restores a degraded image (masked, downsampled or noisy) in
one forward pass, trained with L1 alone (`l1`) or with pix2pix's conditional PatchGAN loss (`pix2pix`), beside the
inversion of generators that every other family offers.

    genzoo train pix2pix --task inpaint --output-dir runs/inpaint

It registers through the `genzoo` entry-point group, exactly as a third-party plugin would.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from genzoo import hookimpl, lazy_exports

if TYPE_CHECKING:
    from .degradations import TASKS, TaskSpec, encode_observation
    from .modeling_pix2pix import PatchGANDiscriminator, Pix2PixGenerator, Pix2PixPipeline
    from .objectives import L1Objective, Pix2PixObjective

__all__ = [
    "TASKS",
    "TRAINING_DEFAULTS",
    "L1Objective",
    "PatchGANDiscriminator",
    "Pix2PixGenerator",
    "Pix2PixObjective",
    "Pix2PixPipeline",
    "TaskSpec",
    "encode_observation",
]
_EXPORTS = {
    "TASKS": ".degradations",
    "TaskSpec": ".degradations",
    "encode_observation": ".degradations",
    "PatchGANDiscriminator": ".modeling_pix2pix",
    "Pix2PixGenerator": ".modeling_pix2pix",
    "Pix2PixPipeline": ".modeling_pix2pix",
    "L1Objective": ".objectives",
    "Pix2PixObjective": ".objectives",
}

#: What `genzoo train pix2pix --task T` uses unless a config file, a flag or `--set` says otherwise: sized so each
#: task's default model trains in under 10 minutes on 2 CPU cores (docs/restoration.md has the measurements). With the
#: cosine decay of the learning rate, L1 centre inpainting reached 17.7 dB after 4,000 steps and 17.8 after 6,000
#: (16.7 after the earlier default's 1,200 steps at a constant rate).
TRAINING_DEFAULTS = {
    "max_steps": 6000,
    "batch_size": 32,
    "lr_scheduler": "cosine",
    "sample_every": 2000,
    "checkpoint_every": 2000,
    "log_every": 50,
    "num_sample_images": 16,
}


@hookimpl
def register_models(register: Callable) -> None:
    register(
        "pix2pix",
        "genzoo_pix2pix.modeling_pix2pix:Pix2PixGenerator",
        pipeline_class="genzoo_pix2pix.modeling_pix2pix:Pix2PixPipeline",
        discriminator_class="genzoo_pix2pix.modeling_pix2pix:PatchGANDiscriminator",
        default_objective="pix2pix",
        training_defaults=TRAINING_DEFAULTS,
        description="pix2pix (Isola et al. 2017): a U-Net that inpaints, super-resolves or denoises in one pass",
    )


@hookimpl
def register_objectives(register: Callable) -> None:
    register(
        "l1",
        "genzoo_pix2pix.objectives:L1Objective",
        description="L1 reconstruction of degraded images (image-to-image regression), optional feature loss",
    )
    register(
        "pix2pix",
        "genzoo_pix2pix.objectives:Pix2PixObjective",
        description="100·L1 + a conditional PatchGAN loss on (degraded, restored) pairs (Isola et al. 2017)",
    )


# The classes are re-exported lazily: importing this entry module (which `genzoo plugins` does) must not import
# torch and diffusers; registrations name the classes by import string for the same reason.
__getattr__ = lazy_exports(__name__, _EXPORTS)
