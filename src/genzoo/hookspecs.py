"""Hook specifications: the whole contract between genzoo and its plugins.

A plugin is a module with functions decorated by `genzoo.hookimpl` whose names match the specs below, exposed
through the `genzoo` entry-point group:

```toml
[project.entry-points.genzoo]
my_plugin = "my_package.plugin"
```

Every hook receives a `register` callback rather than returning objects, so the core keeps control of names,
aliases and duplicate detection (the same design as `llm`).
"""

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("genzoo")
"""Marks the hook specifications below (genzoo's own; plugins do not need it)."""
hookimpl = pluggy.HookimplMarker("genzoo")
"""Decorates a plugin's hook functions (`from genzoo import hookimpl`), such as `register_models` below."""


@hookspec
def register_models(register: Callable) -> None:
    """Register model families: `register(name, generator_class, *, pipeline_class=..., discriminator_class=...,
    default_objective=..., training_defaults={...}, objective_defaults={objective: {...}}, aliases=(),
    description=...)`."""


@hookspec
def register_objectives(register: Callable) -> None:
    """Register training objectives: `register(name, objective_class, *, aliases=(), description=...)`."""


@hookspec
def register_datasets(register: Callable) -> None:
    """Register dataset sources: `register(name, loader, *, aliases=(), description=...)`.

    `loader(argument: str | None, split: str) -> datasets.Dataset`, where `argument` is what follows `name:` in a
    dataset spec such as `imagefolder:./photos`. genzoo detects the image and label columns of the Hugging Face
    dataset it returns (the loader may also return a ready `genzoo.Dataset`).
    """


@hookspec
def register_feature_extractors(register: Callable) -> None:
    """Register feature extractors for evaluation metrics: `register(name, extractor_class, *, aliases=(),
    description=...)`."""


@hookspec
def register_metrics(register: Callable) -> None:
    """Register evaluation metrics: `register(name, compute, *, direction="lower", outputs=(name,),
    applies_to="any", needs=(), options={...}, default=True, aliases=(), description=...)`.

    `compute(context, **options) -> dict[str, float]` receives a `genzoo.metrics.MetricContext` (the pipeline, the
    generated and reference features it asked for through `needs`, held-out images, the seed) and the metric's
    options, resolved from `--metric-arg NAME.KEY=VALUE`; it may also be an import string `"module:function"`,
    imported on first use. `direction` says whether lower or higher `outputs` are better; `applies_to` is `"any"`,
    `"class-conditional"`, `"encoder"` (a generator with an `encode` method), `"codes"` (one with `encode_codes`,
    InfoGAN's) or `"representation"` (either); `needs` is any of `"stats"`,
    `"features"`, `"class_stats"` (generated and reference) and `"logits"` (generated). See
    `genzoo.registry.MetricRegistration`.
    """


@hookspec
def register_commands(register: Callable) -> None:
    """Register `genzoo` subcommands: `register(name, add_arguments, run, *, aliases=(), description=...)`.

    genzoo creates the subparser `genzoo NAME` (so it keeps control of names: one a built-in command or another
    plugin already uses is a one-line error) and calls `add_arguments(parser)` to add the command's options;
    `genzoo NAME ...` then calls `run(args)` with the parsed `argparse.Namespace`. `description` is the line
    `genzoo --help` and `genzoo plugins` show. Either function may be an import string `"module:function"`; the
    module is imported whenever the command line is built (`genzoo --help` too), so it should import torch and
    other heavy packages inside `run`, not at module level. A `genzoo.errors.GenzooError` raised by `run` is printed
    as one line, `genzoo: error: ...`, with exit status 1.
    """


@hookspec
def register_tasks(register: Callable) -> None:
    """Register tasks, what a pipeline can do beyond sampling: `register(name, function, *, method=name,
    group="method", applies_to="any", degradation=None, options=(), inputs=(), label=..., aliases=(),
    description=...)`.

    `function(pipe, ...)` takes the pipeline first (through the `genzoo.tasks.TaskPipeline` protocol) and becomes
    the pipeline method `method` (`pipe.<method>(...)`), with its signature and docstring; it may be an import string
    `"module:function"`, imported on first use. `group` is `"restoration"` (an image in, a restored image out: a
    `genzoo restore --task` choice and a choice in the demo's Restore tab), `"exploration"` (`genzoo explore` and the
    demo's Explore tab) or `"method"` (a pipeline method only). `applies_to` is a capability of
    `genzoo.registry.TASK_CAPABILITIES` or a predicate `pipe -> bool`; a pipeline class that defines the method itself
    overrides the function (and the task then applies to it). `degradation(**options)` builds the task's
    `genzoo.tasks.Degradation`, `options` (`genzoo.registry.TaskOption`) are its options for the command line and
    the demo, `inputs` the image arguments it takes (`"image"`, `"mask_image"`) and `label` a short noun for user
    interfaces. See `genzoo.registry.TaskRegistration` and `genzoo.tasks`.
    """
