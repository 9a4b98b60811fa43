r"""Tasks: one table of what a pipeline can do beyond sampling (inpaint, super-resolve, denoise, invert, restore,
find directions, traverse, class interpolation, and whatever plugins add), filled through the `register_tasks` hook.

How it fits together:

- **The table.** Each row is a `genzoo.registry.TaskRegistration`: the name, the function `function(pipe, ...)`, the
  pipeline method it becomes, its group (`"restoration"`: `genzoo restore --task` and the demo's Restore tab;
  `"exploration"`: `genzoo explore` and the Explore tab; `"method"`: a pipeline method only), which pipelines it
  applies to (`applies_to`: a capability such as `"invertible"`, `"class-mixing"`, `"encoder"`,
  `"latent-directions"`, or a predicate), its degradation (restore tasks) and its options (`TaskOption`: name,
  type, default, range, help) for the command line and the demo. genzoo's own rows are in `genzoo.tasks.builtin`;
  a plugin adds a row with the same hook, and a new task is one module plus one `register(...)` call.
- **Pipelines get their task methods from the table.** `pipe.inpaint(...)` is looked up in the table when the
  pipeline class has no attribute of that name, and calls `inpaint(pipe, ...)` as a bound method, so `help()` and
  `inspect.signature` show the function's own docstring and signature (the API reference lists them under
  `GenPipeline`). `pipe.supported_tasks()` names the rows that apply to it.
- **A family's own implementation.** A pipeline class that defines a method with the task's name (an image-to-image
  family's one-pass `inpaint`, say) is called instead of the table's function: ordinary attribute lookup finds it
  first, the task then applies to that pipeline whatever `applies_to` says, and everything that runs tasks (the CLI,
  the demo, the tester mixins) calls `getattr(pipe, task.method)`, so the override is used everywhere.
- **No import circle.** Task functions see the pipeline through the small `TaskPipeline` protocol and never import
  `genzoo.pipeline`; the pipeline reads the table through `genzoo.registry` and never imports this package.

The modules: `degradations` (what restore tasks undo), `inversion` (the search every restore task runs),
`restoration` (the inversion tasks), `directions` (SeFa, KL-ranked dimensions, traversals, class interpolation),
`capabilities` (the `applies_to` predicates), `protocol` and `builtin` (the built-in rows).
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from ..registry import TaskOption, TaskRegistration
    from .degradations import Degradation, Downsample, GaussianNoise, Mask
    from .directions import Directions
    from .inversion import InversionOptions, InversionResult, invert
    from .protocol import TaskPipeline

__all__ = [
    "Degradation",
    "Directions",
    "Downsample",
    "GaussianNoise",
    "InversionOptions",
    "InversionResult",
    "Mask",
    "TaskOption",
    "TaskPipeline",
    "TaskRegistration",
    "invert",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Degradation": ".degradations",
        "Downsample": ".degradations",
        "GaussianNoise": ".degradations",
        "Mask": ".degradations",
        "Directions": ".directions",
        "InversionOptions": ".inversion",
        "InversionResult": ".inversion",
        "invert": ".inversion",
        "TaskPipeline": ".protocol",
        "TaskOption": "..registry",
        "TaskRegistration": "..registry",
    },
)
