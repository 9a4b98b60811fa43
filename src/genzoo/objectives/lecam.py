"""LeCam regularisation (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under Limited Data").

The discriminator's logits are pulled toward moving anchors: the exponential moving averages of its mean logit on
real images and on generated ones. The penalty

    R = E[relu(D(x) − α_F)²] + E[relu(α_R − D(G(z)))²]

only acts on real logits above the fake anchor and fake logits below the real anchor (the ReLU form of the
authors' and StudioGAN's code), which keeps the discriminator's predictions in a band and, with little data, stops
it from separating the training images from everything else.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LeCamAnchors", "lecam_penalty"]


def lecam_penalty(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, anchor_real: torch.Tensor, anchor_fake: torch.Tensor
) -> torch.Tensor:
    r"""mean(relu(D(real) − anchor_fake)²) + mean(relu(anchor_real − D(fake))²), in float32."""
    real_term = F.relu(real_logits.float() - anchor_fake).pow(2).mean()
    fake_term = F.relu(anchor_real - fake_logits.float()).pow(2).mean()
    return real_term + fake_term


class LeCamAnchors:
    r"""The EMA anchors α_R and α_F of the discriminator's mean logits on real and generated images.

    They start at 0 and follow α ← decay · α + (1 − decay) · mean(logits) after every discriminator update, before
    the penalty is computed (as in StudioGAN). They live in the buffer `lecam_anchors` (α_R, α_F) of `owner`, the
    discriminator, so checkpoints save them with its weights.

    Args:
        owner (`nn.Module`): the module whose buffer holds the anchors.
        decay (`float`): the EMA decay, 0.99 in the paper.
    """

    def __init__(self, owner: nn.Module, decay: float = 0.99) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"lecam_decay must lie in [0, 1), got {decay}; 0.99 is the paper's.")
        self.owner, self.decay = owner, decay
        owner.register_buffer("lecam_anchors", torch.zeros(2, dtype=torch.float32))

    @property
    def anchors(self) -> torch.Tensor:
        """(α_R, α_F)."""
        return self.owner.lecam_anchors

    @torch.no_grad()
    def update(self, real_logits: torch.Tensor, fake_logits: torch.Tensor, reduce=None) -> None:
        """Move the anchors toward this update's mean logits (`reduce`, if given, averages them over processes)."""
        means = torch.stack([real_logits.detach().float().mean(), fake_logits.detach().float().mean()])
        means = means.to(self.anchors.device)
        if reduce is not None:
            means = reduce(means)
        self.anchors.mul_(self.decay).add_(means, alpha=1.0 - self.decay)

    def penalty(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """The LeCam penalty of this update's logits against the current anchors."""
        anchor_real, anchor_fake = self.anchors
        return lecam_penalty(real_logits, fake_logits, anchor_real, anchor_fake)
