"""genzoo's GAN plugin: the DCGAN model family, trained with genzoo's adversarial objectives (hinge by default).

It registers through the `genzoo` entry-point group, exactly as a third-party plugin would.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from genzoo import hookimpl, lazy_exports

if TYPE_CHECKING:
    from .modeling_dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = ["OBJECTIVE_DEFAULTS", "TRAINING_DEFAULTS", "DCGANDiscriminator", "DCGANGenerator"]
_EXPORTS = {"DCGANDiscriminator": ".modeling_dcgan", "DCGANGenerator": ".modeling_dcgan"}

#: What `genzoo train dcgan` uses unless a config file, a flag or `--set` says otherwise: the README's main job.
#: With the hinge recipe below, 1,750 steps on mnist-5k draw every digit (each class at least 5 % of 5,000 samples,
#: scored by the shipped digit classifier) at FID 1.69 ± 0.08 in that classifier's features over five seeds;
#: docs/models/dcgan.md and docs/training.md have the measurements. A discriminator half as wide as the generator
#: trains as well on these small images, and a full-width one makes each step take 1.6 times as long
#: (bench/train_step_speed.py). The EMA of the generator (what the saved pipeline samples) smooths the noise of the
#: high learning rate. `auto` precision trains in bf16 on a CPU that computes it natively (a step there takes 0.57 of
#: the float32 time at the same quality), and `reuse_fakes` generates once per step instead of twice, so the run
#: costs under half of the earlier float32 2,000 steps (bench/default_cost.py).
TRAINING_DEFAULTS = {
    "max_steps": 1750,
    "mixed_precision": "auto",
    "batch_size": 64,
    "ema_decay": 0.999,
    "sample_every": 500,
    "checkpoint_every": 500,
    "objective_args": {"discriminator": {"base_channels": 32}},
}
#: The CGAN's recipe (Miyato et al. 2018), tuned for the DCGAN with the hinge loss: spectral norm on every critic
#: layer instead of batch norm, and Adam at lr 2e-3 with beta1 = 0. The old setting (BCE loss, batch-norm critic,
#: lr 2e-4, betas (0.5, 0.999)) covered the digits unevenly (a third of the samples were threes after 500 steps,
#: ones and sixes under 1 %). The generator update scores the images the discriminator update just generated
#: (`reuse_fakes`, since 2026-12-07). Other objectives keep their own settings (`--objective gan` is the DCGAN
#: paper's).
OBJECTIVE_DEFAULTS = {
    "hinge": {
        "lr": 2e-3,
        "betas": [0.0, 0.9],
        "spectral_norm": True,
        "discriminator": {"norm": "none"},
        "reuse_fakes": True,
    },
}


@hookimpl
def register_models(register: Callable) -> None:
    register(
        "dcgan",
        "genzoo_gan.modeling_dcgan:DCGANGenerator",
        discriminator_class="genzoo_gan.modeling_dcgan:DCGANDiscriminator",
        default_objective="hinge",
        training_defaults=TRAINING_DEFAULTS,
        objective_defaults=OBJECTIVE_DEFAULTS,
        description="DCGAN (Radford et al. 2016): transposed-convolution generator, strided-convolution critic",
    )


# The classes are re-exported lazily: importing this entry module (which `genzoo plugins` does) must not import
# torch and diffusers; registrations name the classes by import string for the same reason.
__getattr__ = lazy_exports(__name__, _EXPORTS)
