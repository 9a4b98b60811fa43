"""`TaskPipeline`: the little of a pipeline that tasks use. Tasks depend on this protocol, never on
`genzoo.pipeline`, so the pipeline can take its task methods from the table without an import circle."""

from typing import Any, Protocol, runtime_checkable

import torch

from ..modeling import Generator

__all__ = ["TaskPipeline"]


@runtime_checkable
class TaskPipeline(Protocol):
    """What a task function receives as `pipe`: a `genzoo.GenPipeline` (or any object with these members)."""

    model: Generator

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Sample images (`GenPipeline.__call__`)."""

    def prepare_class_labels(self, class_labels: Any, batch_size: int) -> torch.Tensor | None:
        """Class labels as a `(batch,)` long tensor (`GenPipeline.prepare_class_labels`)."""

    def class_indices(self, class_labels: Any) -> Any:
        """Class names mapped to indices (`GenPipeline.class_indices`)."""

    def postprocess(self, images: torch.Tensor, output_type: str) -> Any:
        """[-1, 1] images as the output type (`GenPipeline.postprocess`)."""
