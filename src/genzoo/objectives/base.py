"""The `Objective` interface: everything that turns a generator into a trained one."""

import functools
import inspect
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

        The bare modules behind the networks are looked up once here, and Accelerate's optimizer wrappers skip
        their per-step package lookups (see `_skip_per_step_lookups`); neither changes what a step computes.
        """
        self.accelerator = accelerator
        self.networks = networks
        self.optimizers = optimizers
        self._bare = {name: (module, accelerator.unwrap_model(module)) for name, module in networks.items()}
        for optimizer in optimizers.values():
            _skip_per_step_lookups(optimizer)

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


@functools.cache
def _lomo_installed() -> bool:
    from accelerate.utils import is_lomo_available  # lazy: accelerate is imported by then, once per process

    return is_lomo_available()


def _skip_per_step_lookups(optimizer: torch.optim.Optimizer) -> None:
    """Make an Accelerate-prepared optimizer skip the lookups it repeats on every call, in place.

    `AcceleratedOptimizer.step` asks the import system whether `lomo_optim` is installed (twice) and `zero_grad`
    inspects the wrapped optimizer's signature, on every call. Where neither a gradient scaler nor XLA is in play,
    the step reduces to "step the wrapped optimizer when gradients are synchronised"; `_LeanAcceleratedOptimizer`
    does exactly that with the answers looked up once. Anything else (a plain optimizer, a scaler, XLA, LOMO, an
    Accelerate subclass such as DeepSpeed's) is left as it is.
    """
    from accelerate.optimizer import AcceleratedOptimizer  # lazy: only bound (prepared) objectives get here
    from accelerate.utils import DistributedType  # lazy: as above

    if type(optimizer) is not AcceleratedOptimizer or optimizer.scaler is not None or _lomo_installed():
        return
    if optimizer.accelerator_state.distributed_type == DistributedType.XLA:
        return
    takes_set_to_none = "set_to_none" in inspect.signature(optimizer.optimizer.zero_grad).parameters
    optimizer.__class__ = _lean_optimizer_class()
    optimizer._zero_grad_takes_set_to_none = takes_set_to_none


@functools.cache
def _lean_optimizer_class() -> type:
    from accelerate.optimizer import AcceleratedOptimizer  # lazy: as in _skip_per_step_lookups

    # Built on first use, so that importing genzoo.objectives does not import Accelerate; the module's __getattr__
    # finds it under its qualified name, so a prepared optimizer still pickles.
    class _LeanAcceleratedOptimizer(AcceleratedOptimizer):
        """`AcceleratedOptimizer` without a scaler or XLA, with its per-call lookups answered once."""

        def step(self, closure=None):
            if self.gradient_state.sync_gradients:
                self.optimizer.step(closure)

        def zero_grad(self, set_to_none=None):
            if not self.gradient_state.sync_gradients:
                return
            if self._zero_grad_takes_set_to_none:
                self.optimizer.zero_grad(set_to_none=True if set_to_none is None else set_to_none)
            elif set_to_none is not None:
                raise ValueError("`set_to_none` for Optimizer.zero_grad` is not supported by this optimizer.")
            else:
                self.optimizer.zero_grad()

    _LeanAcceleratedOptimizer.__qualname__ = _LeanAcceleratedOptimizer.__name__
    return _LeanAcceleratedOptimizer


def __getattr__(name: str) -> type:
    if name == "_LeanAcceleratedOptimizer":
        return _lean_optimizer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
