r"""The VAE plugin's metrics, registered through `register_metrics`: importance-sampled NLL and reconstruction error
on held-out images. They apply to any generator with an encoder whose pipeline offers `estimate_nll` and
`reconstruct` (the VAE's, or another family's built on it), not to one family by name.
"""

from typing import Any

import torch
from tqdm.auto import tqdm

from genzoo.errors import GenzooError

__all__ = ["compute_nll", "compute_reconstruction"]


def _pipeline_method(context: Any, name: str, metric: str) -> Any:
    method = getattr(context.pipe, name, None)
    if not callable(method):
        raise GenzooError(
            f"Metric {metric!r} calls the pipeline's {name}(), which {type(context.pipe).__name__} does not have."
        )
    return method


def _class_kwargs(context: Any, labels: torch.Tensor | None) -> dict[str, Any]:
    """A conditional encoder model (a CVAE) is given the held-out images' labels."""
    return {"class_labels": labels} if context.num_classes and labels is not None else {}


def compute_nll(context: Any, num_images: int = 200, importance_samples: int = 100) -> dict[str, float]:
    """Importance-sampled negative log-likelihood, nats per image, on held-out images (Burda et al. 2016)."""
    estimate_nll = _pipeline_method(context, "estimate_nll", "nll")
    held_out = context.held_out(num_images)
    generator = torch.Generator().manual_seed(context.seed)
    device = context.pipe.device
    values = []
    for start in tqdm(range(0, len(held_out.images), context.batch_size), desc="nll", disable=not context.progress,
                      leave=False):  # fmt: skip
        stop = start + context.batch_size
        labels = held_out.labels[start:stop] if held_out.labels is not None else None
        images = held_out.images[start:stop].to(device)
        values.append(
            estimate_nll(
                images,
                num_importance_samples=importance_samples,
                batch_size=context.batch_size,
                generator=generator,
                **_class_kwargs(context, labels),
            )
            .double()
            .cpu()
        )
    return {"nll": float(torch.cat(values).mean())}


def compute_reconstruction(context: Any, num_images: int = 200) -> dict[str, float]:
    """Mean squared error of images decoded from a posterior sample, in [0, 1] intensities, on held-out images."""
    reconstruct = _pipeline_method(context, "reconstruct", "reconstruction")
    held_out = context.held_out(num_images)
    generator = torch.Generator().manual_seed(context.seed)
    device = context.pipe.device
    squared_error, seen = 0.0, 0
    for start in range(0, len(held_out.images), context.batch_size):
        stop = start + context.batch_size
        labels = held_out.labels[start:stop] if held_out.labels is not None else None
        images = held_out.images[start:stop].to(device)
        recon = reconstruct(images, output_type="pt", generator=generator, **_class_kwargs(context, labels)).images
        target = (images + 1.0) / 2.0
        squared_error += float(((recon.to(target) - target) ** 2).sum())
        seen += images.numel()
    return {"reconstruction_mse": squared_error / seen}
