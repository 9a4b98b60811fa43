"""The task table (genzoo.tasks, `register_tasks`): pipelines get their task methods from it, a family's own method
overrides a task, and a third-party task registered through the hook (tests/plugins_for_tests/deblur.py, no core
edit) gets a pipeline method, a `genzoo restore --task` choice, a demo choice and the tester mixins' checks."""

import inspect

import pytest
import torch
from plugins_for_tests import deblur as deblur_plugin

from genzoo import GenPipeline, hookimpl
from genzoo.errors import GenzooError
from genzoo.registry import TaskOption, get_task, task_for_method, tasks
from genzoo.testing import GeneratorTesterMixin, known_tasks
from genzoo_gan.modeling_dcgan import DCGANGenerator

TINY = {"latent_dim": 8, "image_size": 28, "num_channels": 1, "base_channels": 8}


def _pipe() -> GenPipeline:
    torch.manual_seed(0)
    return GenPipeline(model=DCGANGenerator(**TINY).eval())


@pytest.fixture
def with_deblur(register_plugin):
    return register_plugin(deblur_plugin, name="deblur-plugin")


def test_the_table_holds_the_built_in_tasks_and_pipelines_get_their_methods():
    pipe = _pipe()
    for task in tasks():
        method = getattr(pipe, task.method)
        assert method.__doc__ == inspect.getdoc(task.function) or method.__doc__ == task.function.__doc__
        parameters = list(inspect.signature(method).parameters)
        assert parameters == list(inspect.signature(task.function).parameters)[1:]  # `pipe` is bound
        assert task.method in dir(pipe)
    assert {task.name for task in tasks() if task.applies(pipe)} <= pipe.supported_tasks()
    assert get_task("super-resolve") is get_task("super_resolve")  # the command line's spelling is an alias


def test_an_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'not_a_task'"):
        _pipe().not_a_task  # noqa: B018


def test_a_family_s_own_method_overrides_the_table_and_makes_the_task_apply():
    class OnePass(GenPipeline):
        def denoise(self, image, noise_std=0.1, **kwargs):
            """One forward pass."""
            return "own"

    torch.manual_seed(0)
    model = DCGANGenerator(**TINY).eval()
    model.supports_inversion = False  # the table's inversion tasks no longer apply ...
    pipe = OnePass(model=model)
    supported = pipe.supported_tasks()
    denoising = task_for_method("denoise")
    assert denoising.name in supported and denoising.applies(pipe)  # ... but its own method does
    assert getattr(pipe, denoising.method)(None) == "own"
    assert not task_for_method("inpaint").applies(pipe) and task_for_method("inpaint").name not in supported


def test_a_plugin_task_gets_a_pipeline_method_with_its_signature(with_deblur):
    pipe = _pipe()
    task = get_task("deblur")
    assert task.plugin == "deblur-plugin" and task.group == "restore" and "deblur" in pipe.supported_tasks()
    assert "deblur" in known_tasks()
    assert "kernel_size" in inspect.signature(pipe.deblur).parameters
    clean = pipe(batch_size=1, generator=torch.Generator().manual_seed(1), output_type="pt").images
    blurred = task.degradation(kernel_size=3).degrade(clean)
    out = pipe.deblur(blurred, kernel_size=3, num_steps=3, num_restarts=1, output_type="pt").images
    assert out.shape == clean.shape


def test_the_plugin_task_leaves_the_table_with_its_plugin(register_plugin):
    from genzoo import plugins

    plugin = register_plugin(deblur_plugin, name="deblur-plugin")
    assert "deblur" in [task.name for task in tasks()]
    plugins.pm.unregister(plugin)
    assert task_for_method("deblur") is None
    with pytest.raises(AttributeError):
        _pipe().deblur  # noqa: B018


class TestDCGANWithThePluginTask(GeneratorTesterMixin):
    """The tester mixins run the plugin's restore task like the built-in ones."""

    model_name = "dcgan"
    model_args = TINY

    @pytest.fixture(autouse=True)
    def _deblur(self, with_deblur):
        return with_deblur

    def test_the_plugin_task_is_among_the_checked_ones(self):
        pipe = self.make_pipeline()
        assert get_task("deblur").applies(pipe)

    # Only the task checks: the rest of the mixin runs in tests/test_dcgan.py.
    test_trains_saves_and_loads_through_the_cli = None
    test_one_training_step = None
    test_save_and_load_round_trip = None
    test_listed_in_genzoo_plugins = None


def test_registrations_are_checked(register_plugin):
    class Bad:
        @hookimpl
        def register_tasks(self, register):
            register("broken", lambda pipe: None, group="nowhere")

    register_plugin(Bad(), name="bad")
    with pytest.warns(RuntimeWarning, match="group of task 'broken'.*restore, explore, method"):
        assert "broken" not in tasks()


def test_task_options_parse_and_bound_their_values():
    option = TaskOption("noise_std", 0.1, "noise", minimum=1e-3, maximum=1.0)
    assert option.flag == "--noise-std" and option.parse("denoise", "0.25") == 0.25
    for bad, match in (("inf", "finite"), ("2", "between 0.001 and 1"), ("x", "takes float")):
        with pytest.raises(GenzooError, match=match):
            option.parse("denoise", bad)
    scale = get_task("super_resolve").option("scale")
    with pytest.raises(GenzooError, match="takes int"):
        scale.parse("super_resolve", "2.5")
    assert get_task("super_resolve").resolve_options({"scale": "2"}) == {"scale": 2}
    with pytest.raises(GenzooError, match="has no option 'size'"):
        get_task("super_resolve").resolve_options({"size": 2})


def test_inversion_bounds_are_checked_before_anything_is_allocated():
    pipe = _pipe()
    image = torch.zeros(1, 1, 28, 28)
    with pytest.raises(GenzooError, match=r"num_candidates.*100,000"):
        pipe.invert(image, num_candidates=10_000_000)
    with pytest.raises(GenzooError, match=r"num_steps.*100,000"):
        pipe.invert(image, num_steps=10**7)
    with pytest.raises(GenzooError, match="finite"):
        pipe.invert(image, lr=float("inf"))
    with pytest.raises(GenzooError, match="traversal takes at most"):
        pipe.traverse(0, values=list(range(10**5)))
    with pytest.raises(GenzooError, match="finite"):
        pipe.traverse(0, values=[0.0, float("nan")])
