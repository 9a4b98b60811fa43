"""A third-party task in one file: `deblur`, registered through the `register_tasks` hook with no edit to genzoo.

tests/test_tasks.py registers this module as a plugin and checks that the task gets a pipeline method, a
`genzoo restore --task` choice with its option, a choice in the demo's Restore tab and the tester mixins' checks.
"""

from typing import Any

import torch
import torch.nn.functional as F

from genzoo import hookimpl
from genzoo.registry import TaskOption
from genzoo.tasks import Degradation
from genzoo.tasks.restoration import restore


class BoxBlur(Degradation):
    """A `kernel_size` × `kernel_size` box blur (mean of each neighbourhood, edges replicated)."""

    name = "deblurring"

    def __init__(self, kernel_size: int = 3, noise_std: float = 0.05) -> None:
        self.kernel_size, self.noise_std = int(kernel_size), float(noise_std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pad = self.kernel_size // 2
        padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
        return F.avg_pool2d(padded, self.kernel_size, stride=1)


def deblur(pipe: Any, image: Any, kernel_size: int = 3, **kwargs: Any) -> Any:
    r"""Remove a box blur of `kernel_size` pixels by inverting the generator.

    Args:
        image: the blurred images at the model's size.
        kernel_size (`int`, defaults to 3): the blur's width (odd).
        kwargs: as in `genzoo.tasks.restoration.restore`.
    """
    return restore(pipe, image, BoxBlur(kernel_size), **kwargs)


@hookimpl
def register_tasks(register):
    register(
        "deblur",
        deblur,
        group="restoration",
        applies_to="invertible",
        degradation=BoxBlur,
        options=(
            TaskOption("kernel_size", 3, "blur width in pixels (odd)", minimum=1, maximum=9, choices=(1, 3, 5, 7, 9)),
        ),
        inputs=("image",),
        label="deblurring",
    )
