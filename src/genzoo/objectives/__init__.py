"""Training objectives: the `Objective` interface and adversarial training.

- `Objective` (`base.py`): everything that turns a generator into a trained one.
- `AdversarialObjective` and the registered `gan`, `hinge` and `wgan-gp` (`adversarial.py`): alternating
  discriminator and generator updates, with R1, a gradient penalty, LeCam (`lecam.py`), spectral norm, DiffAugment
  and adaptive augmentation (ADA; `augment.py`).
  genzoo's own plugin registers them, so every model family with a `discriminator_class` can use them.
"""

from .adversarial import AdversarialObjective, GANObjective, HingeObjective, WGANGPObjective, apply_spectral_norm
from .augment import AdaptiveAugment, ada_augment, diff_augment, parse_ada_policy, parse_policy
from .base import Objective
from .lecam import LeCamAnchors, lecam_penalty

__all__ = [
    "AdaptiveAugment",
    "AdversarialObjective",
    "GANObjective",
    "HingeObjective",
    "LeCamAnchors",
    "Objective",
    "WGANGPObjective",
    "ada_augment",
    "apply_spectral_norm",
    "diff_augment",
    "lecam_penalty",
    "parse_ada_policy",
    "parse_policy",
]
