"""The `Objective` interface: everything that turns a generator into a trained one."""

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:
    from accelerate import Accelerator

    from ..modeling import Generator
    from ..registry import ModelRegistration

__all__ = ["Objective"]


class Objective:
    r"""Base class for training objectives (an adversarial loss, the ELBO, ...).

    An objective owns the networks it trains: the generator under the key `"model"` and any extra networks it
    needs (a discriminator). The trainer prepares them and their optimizers with Accelerate, hands the prepared
    objects back through `bind()`, then calls `training_step()` once per step inside `accelerator.autocast()`.

    Subclasses take their options as keyword arguments of `__init__` (set from `objective_args` in a run config).

    Args:
        model (`Generator`): the generator to train.
        registration (`ModelRegistration`): the model family, for objectives that build family-specific networks.
    """

    #: Whether every batch must carry `class_labels` (the trainer checks the dataset before starting).
    requires_labels: ClassVar[bool] = False

    def __init__(self, model: "Generator", registration: "ModelRegistration | None" = None) -> None:
        self.registration = registration
        self.networks: dict[str, nn.Module] = {"model": model}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.accelerator: Accelerator | None = None

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One optimizer per trained network, keyed like `networks`."""
        raise NotImplementedError

    def bind(
        self,
        accelerator: "Accelerator",
        networks: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
    ) -> None:
        """Swap in the networks and optimizers as Accelerate prepared them (possibly DDP-wrapped)."""
        self.accelerator = accelerator
        self.networks = networks
        self.optimizers = optimizers

    def training_step(
        self, batch: dict[str, torch.Tensor], step: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        r"""Run one optimisation step on `batch` and return the detached scalars to log.

        Args:
            batch (`dict`): `pixel_values` in [-1, 1] of shape `(batch, channels, size, size)`, and
                `class_labels` of shape `(batch,)` when the dataset has labels.
            step (`int`): the number of completed optimisation steps (0 on the first call), for schedules such as
                updating one network every n steps.
            generator (`torch.Generator`): the only source of randomness to use (latents, noise), seeded by the
                trainer from the run seed, the step and the process, so a resumed run draws the same numbers.
        """
        raise NotImplementedError

    def unwrap(self, name: str) -> nn.Module:
        """The bare module behind `networks[name]`, without DDP or compile wrappers."""
        module = self.networks[name]
        return self.accelerator.unwrap_model(module) if self.accelerator is not None else module
