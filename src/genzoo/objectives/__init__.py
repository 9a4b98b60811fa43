"""Training objectives: the `Objective` interface and adversarial training.

- `Objective` (`base.py`): everything that turns a generator into a trained one.
- `AdversarialObjective` and the registered `gan`, `hinge` and `wgan-gp` (`adversarial.py`): alternating
  discriminator and generator updates, with R1, a gradient penalty, spectral norm and DiffAugment (`augment.py`).
  genzoo's own plugin registers them, so every model family with a `discriminator_class` can use them.
"""

from .adversarial import AdversarialObjective, GANObjective, HingeObjective, WGANGPObjective, apply_spectral_norm
from .augment import diff_augment, parse_policy
from .base import Objective

__all__ = [
    "AdversarialObjective",
    "GANObjective",
    "HingeObjective",
    "Objective",
    "WGANGPObjective",
    "apply_spectral_norm",
    "diff_augment",
    "parse_policy",
]
