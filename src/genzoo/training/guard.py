"""The stability guard: every step's losses and gradient norms must be finite, every checkpoint's weights finite and
its images varied, and the generator must keep receiving a gradient. On a failure the run rolls back to its newest
checkpoint with lower learning rates (`on_nonfinite: rollback`, at most `max_rollbacks` times) or stops with
`TrainingDivergedError`, and nothing of the failed step is saved."""

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from ..errors import GenzooError
from ..modeling import sampling_mode
from ..pipeline import FLAT_IMAGE_SPREAD, image_spread
from .checkpoints import Checkpointer, checkpoint_problem, list_checkpoints
from .trackers import truncate_log

if TYPE_CHECKING:
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel

__all__ = ["StabilityGuard", "TrainingDivergedError"]


class TrainingDivergedError(GenzooError):
    """A loss, a gradient norm or the weights became NaN or infinite during training, or the generator collapsed
    (no gradient, or images without any variation)."""


class StabilityGuard:
    """Checks each step and each checkpoint of a run, and rolls back or stops on a failure.

    Args:
        checkpointer (`Checkpointer`): saves and loads the run's state (the guard saves only sound states).
        networks (`dict`): the prepared networks, whose gradient norms are checked.
        probe_inputs (`tuple`): the fixed latents (and labels) of the sample grids; a checkpoint is refused when the
            generator's images of them do not vary.
    """

    def __init__(
        self,
        checkpointer: Checkpointer,
        networks: Mapping[str, torch.nn.Module],
        probe_inputs: tuple[torch.Tensor, torch.Tensor | None],
    ) -> None:
        self.checkpointer = checkpointer
        self.accelerator, self.config = checkpointer.accelerator, checkpointer.config
        self.networks, self.probe_inputs = networks, probe_inputs
        #: Consecutive steps whose generator gradient norm was exactly 0 (the collapse count).
        self.flat_steps = 0
        # fp16's gradient scaler expects (and skips) inf gradients, so gradients are only checked without it.
        self._check_gradients = self.accelerator.scaler is None

    def check_step(
        self, logs: dict[str, torch.Tensor], interrupted: bool
    ) -> tuple[bool, bool, dict[str, torch.Tensor]]:
        """Check a completed optimisation step: whether it is sound (else it was rolled back, or this raised), whether
        any process was interrupted, and the gradient norms to log. One host sync per step."""
        norms = _gradient_norms(self.networks) if self._check_gradients else {}
        finite, interrupted, flat = _step_status(
            self.accelerator, [*logs.values(), *norms.values()], interrupted, norms.get("grad_norm_model")
        )
        self.flat_steps = self.flat_steps + 1 if flat else 0
        collapsed = bool(self.config.collapse_steps) and self.flat_steps >= self.config.collapse_steps
        if finite and not collapsed:
            return True, interrupted, norms
        flat_for = f"the generator's gradient norm was exactly 0 for {self.flat_steps} steps"
        self.diverged(self.checkpointer.state.step + 1, {**logs, **norms}, collapse=None if not finite else flat_for)
        return False, interrupted, norms

    def save_checkpoint(self, prune: bool = True) -> bool:
        """Save a checkpoint if the weights are finite and the generator has not collapsed (else handle the
        divergence and return `False`). Collapsed means: its images of the fixed sample latents have no variation at
        all (`genzoo.pipeline.FLAT_IMAGE_SPREAD`; not checked at step 0, whose weights are the initialisation). A
        gradient norm of 0 alone is left to the per-step count (`collapse_steps`): a saturated loss can give one
        for a step or two (a tiny model's first steps) and recover."""
        checkpointer, step = self.checkpointer, self.checkpointer.state.step
        generator = self.accelerator.unwrap_model(checkpointer.generator)
        probe = self.probe_inputs if step > 0 else None
        finite, spread = _checkpoint_status(self.accelerator, generator, checkpointer.ema, probe)
        if not finite:
            self.diverged(step, {"weights": torch.tensor(float("nan"))})
            return False
        if spread < FLAT_IMAGE_SPREAD:
            why = f"its images of the fixed sample latents are one flat colour (relative spread {spread:.2g})"
            self.diverged(step, {}, collapse=why)
            return False
        checkpointer.save(prune=prune)
        return True

    def diverged(self, step: int, values: Mapping[str, torch.Tensor], collapse: str | None = None) -> None:
        """Handle a non-finite step (or, with `collapse` saying why, a collapsed generator): roll back to the newest
        checkpoint with lower learning rates (if the run says so and may still), else raise `TrainingDivergedError`
        naming the step and the values."""
        what, verb, shown = _describe(values, collapse)
        self.flat_steps = 0
        checkpoints = [p for p in list_checkpoints(self.checkpointer.output_dir) if checkpoint_problem(p) is None]
        last_good = checkpoints[-1] if checkpoints else None
        config, state = self.config, self.checkpointer.state
        if config.on_nonfinite == "rollback" and last_good is not None and state.rollbacks < config.max_rollbacks:
            rollbacks, scale = state.rollbacks + 1, state.lr_scale * config.rollback_lr_factor
            self.checkpointer.load(last_good)
            state.rollbacks, state.lr_scale = rollbacks, scale
            self.checkpointer.set_learning_rates()
            self.checkpointer.saved_step = state.step
            if self.accelerator.is_main_process:
                truncate_log(self.accelerator, state.step)
            self.accelerator.print(
                f"genzoo: warning: {what} at step {step} ({shown}); rolled back to {last_good.name} with "
                f"the learning rates x{scale:.3g} (rollback {rollbacks} of {config.max_rollbacks})."
            )
            return
        if config.on_nonfinite == "rollback":
            why = (
                f"after {state.rollbacks} rollback(s), the most max_rollbacks allows"
                if last_good is not None
                else "with no checkpoint to roll back to"
            )
            advice = f"Stopped {why}; lower objective_args.lr or raise max_rollbacks."
        else:
            advice = "Lower objective_args.lr, or train with --set on_nonfinite=rollback."
        if last_good is not None:
            kept = f"the last good checkpoint is {last_good} (continue from it with --resume latest)"
        else:
            kept = "there is no checkpoint yet (start over with --overwrite-output-dir)"
        self.accelerator.end_training()
        raise TrainingDivergedError(
            f"Training {verb} at step {step}: {shown}. Nothing from that step was saved; {kept}. {advice}"
        )


def _describe(values: Mapping[str, torch.Tensor], collapse: str | None) -> tuple[str, str, str]:
    """What happened, its verb, and the values to show (the non-finite ones first, or the losses of a collapse)."""
    numbers = {name: float(value) for name, value in values.items()}
    if collapse is None:
        shown = ", ".join(f"{name}={value:.4g}" for name, value in numbers.items() if not math.isfinite(value))
        others = ", ".join(f"{name}={value:.4g}" for name, value in numbers.items() if math.isfinite(value))
        shown += f" (finite: {others})" if others else ""
        return "non-finite values", "diverged", shown
    losses = ", ".join(f"{name}={value:.4g}" for name, value in numbers.items() if name.startswith("loss"))
    return "the generator collapsed", "collapsed", collapse + (f"; {losses}" if losses else "")


def _gradient_norms(networks: Mapping[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """The gradient norm of each network (as tensors: no host sync here)."""
    norms = {}
    for name, network in networks.items():
        grads = [p.grad for p in network.parameters() if p.grad is not None]
        if grads:
            norms[f"grad_norm_{name}"] = torch.nn.utils.get_total_norm(grads).float()
    return norms


def _step_status(
    accelerator: "Accelerator",
    values: list[torch.Tensor],
    interrupted: bool,
    generator_norm: torch.Tensor | None = None,
) -> tuple[bool, bool, bool]:
    """Whether every value is finite on every process, whether any process was interrupted, and whether the
    generator's gradient norm is exactly 0 (no gradient reaches its weights: saturated or dead outputs): one host sync
    (and with several processes one collective) per step."""
    device = accelerator.device
    finite = torch.isfinite(torch.stack([v.detach().float().reshape(()).to(device) for v in values])).all()
    flat = torch.zeros((), device=device) if generator_norm is None else (generator_norm.detach().to(device) == 0)
    status = torch.stack([(~finite).float(), torch.tensor(float(interrupted), device=device), flat.float()])
    if accelerator.num_processes > 1:
        status = accelerator.reduce(status, reduction="sum")
    bad, stop, flat_count = status.tolist()
    return bad == 0, stop > 0, flat_count > 0


@torch.no_grad()
def _checkpoint_status(
    accelerator: "Accelerator",
    generator: Any,
    ema: "EMAModel | None",
    probe: tuple[torch.Tensor, torch.Tensor | None] | None,
) -> tuple[bool, float]:
    """Whether the generator's weights (and the EMA's) are finite on every process, and the spread of its images of
    the `probe` latents (`genzoo.pipeline.image_spread`, averaged over processes; `inf` without a probe or with
    non-finite weights): one host sync, and with several processes one collective."""
    device = accelerator.device
    tensors = [p.detach() for p in generator.parameters()] + (list(ema.shadow_params) if ema is not None else [])
    finite = torch.stack([torch.isfinite(t).all() for t in tensors]).all().float().reshape(1).to(device)
    spread = torch.full((1,), float("inf"), device=device)
    if probe is not None:
        latents, labels = probe
        with sampling_mode(generator), torch.autocast(device.type, enabled=False):
            latents = latents.to(device)
            images = generator(latents, labels.to(device)) if labels is not None else generator(latents)
        spread = image_spread(images).reshape(1)
        spread = torch.where(torch.isfinite(spread), spread, torch.full_like(spread, float("inf")))
    status = torch.cat([1 - finite, spread])
    if accelerator.num_processes > 1:  # Accelerate's reduce sums (or averages): count the bad ones, average spreads
        status = accelerator.reduce(status, reduction="mean")
    bad, std = status.tolist()
    return bad == 0, std
