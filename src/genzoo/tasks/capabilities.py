"""What a task can apply to: predicates `pipe -> bool`, named in `genzoo.registry.TASK_CAPABILITIES` and chosen by
a task's `applies_to`."""

import torch

from ..errors import GenzooError
from ..modeling import sampling_mode
from .protocol import TaskPipeline

__all__ = ["any_pipeline", "class_conditional", "class_mixing", "has_directions", "has_encoder", "invertible"]


def any_pipeline(pipe: TaskPipeline) -> bool:
    """Every pipeline."""
    return True


def invertible(pipe: TaskPipeline) -> bool:
    """Generators that inversion can search (`supports_inversion`, true unless a family turns it off)."""
    return bool(getattr(pipe.model, "supports_inversion", True))


def class_conditional(pipe: TaskPipeline) -> bool:
    """Class-conditional generators."""
    return bool(pipe.model.is_conditional)


def class_mixing(pipe: TaskPipeline) -> bool:
    """Class-conditional generators that mix class embeddings (`supports_class_mixing`)."""
    return bool(pipe.model.is_conditional and pipe.model.supports_class_mixing)


def has_encoder(pipe: TaskPipeline) -> bool:
    """Generators with an encoder: `posterior` gives a mean and log-variance (a VAE)."""
    model = pipe.model
    size = int(model.config.image_size)
    probe = torch.zeros(1, model.config.num_channels, size, size, device=model.device, dtype=model.dtype)
    labels = torch.zeros(1, dtype=torch.long, device=model.device) if model.is_conditional else None
    with torch.no_grad(), sampling_mode(model):
        return model.posterior(probe, labels) is not None


def has_directions(pipe: TaskPipeline) -> bool:
    """Generators with interpretable directions: SeFa finds a first layer on the latent, or there is an encoder."""
    from .directions import first_latent_layer

    try:
        first_latent_layer(pipe.model)
    except GenzooError:
        return has_encoder(pipe)
    return True
