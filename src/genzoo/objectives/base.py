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
    #: `objective_args` that shape the networks this objective builds (a discriminator's options, say): a checkpoint
    #: trained with other values cannot be loaded, so resuming it is refused, naming the key.
    resume_sensitive_keys: ClassVar[frozenset[str]] = frozenset()
    #: `objective_args` that may change when a run is resumed without a warning that it is no longer reproducible
    #: (learning rates, lowered on purpose); a change of any other key is allowed with that warning.
    resume_tunable_keys: ClassVar[frozenset[str]] = frozenset({"lr"})
    #: Steps at the start of a run in which the generator is not trained (an objective's warm-up of its other
    #: networks); the trainer names them in its start line.
    warmup_steps: int = 0

    def __init__(self, model: "Generator", registration: "ModelRegistration | None" = None) -> None:
        self.registration = registration
        self.networks: dict[str, nn.Module] = {"model": model}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.accelerator: Accelerator | None = None
        # name -> (the network as bound, its bare module): `unwrap` runs on every step, Accelerate's unwrap_model
        # walks every submodule and probes for optional packages each time.
        self._bare: dict[str, tuple[nn.Module, nn.Module]] = {}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One optimizer per trained network, keyed like `networks`."""
        raise NotImplementedError

    def bind(
        self,
        accelerator: "Accelerator",
        networks: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
    ) -> None:
        """Swap in the networks and optimizers as Accelerate prepared them (possibly DDP-wrapped).

        The bare modules behind the networks are looked up once here (see `unwrap`).
        """
        self.accelerator = accelerator
        self.networks = networks
        self.optimizers = optimizers
        self._bare = {name: (module, accelerator.unwrap_model(module)) for name, module in networks.items()}

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
        """The bare module behind `networks[name]`, without DDP or compile wrappers (looked up once per bound
        network)."""
        module = self.networks[name]
        if self.accelerator is None:
            return module
        bound = self._bare.get(name)
        if bound is None or bound[0] is not module:  # a network swapped in after bind()
            bound = self._bare[name] = (module, self.accelerator.unwrap_model(module))
        return bound[1]
