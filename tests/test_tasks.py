"""The task table (genzoo.tasks, `register_tasks`): pipelines get their task methods from it, a family's own method
overrides a task, and a third-party task registered through the hook (tests/plugins/task_plugin.py, one file, no
core edit) gets a pipeline method, a `genzoo restore --task` choice, a demo choice and the tester mixins' checks."""

import importlib.util
import inspect
from pathlib import Path

import pytest
import torch

from genzoo import GenPipeline, hookimpl
from genzoo.errors import GenzooError
from genzoo.registry import TaskOption, get_task, task_for_method, tasks
from genzoo.testing import GeneratorTesterMixin, known_tasks
from genzoo_gan.modeling_dcgan import DCGANGenerator

TINY = {"latent_dim": 8, "image_size": 28, "num_channels": 1, "base_channels": 8}


def _load_task_plugin():
    """tests/plugins/task_plugin.py as a module, as a plugin's distribution would provide it."""
    spec = importlib.util.spec_from_file_location("task_plugin", Path(__file__).parent / "plugins" / "task_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deblur_plugin = _load_task_plugin()


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
    assert task.plugin == "deblur-plugin" and task.group == "restoration" and "deblur" in pipe.supported_tasks()
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
    with pytest.warns(RuntimeWarning, match="group of task 'broken'.*restoration, exploration, method"):
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


# --- the command line, the demo and progress read the same table -------------------------------------------------
def test_genzoo_restore_offers_the_plugin_task_and_its_option(with_deblur, trained_dcgan, tmp_path, capsys):
    import numpy as np
    import PIL.Image

    from genzoo.cli import main

    with pytest.raises(SystemExit):
        main(["restore", "--help"])
    help_text = capsys.readouterr().out
    assert "deblur" in help_text and "--kernel-size" in help_text
    digit = tmp_path / "digit.png"
    PIL.Image.fromarray((np.arange(28 * 28).reshape(28, 28) % 256).astype(np.uint8)).save(digit)
    out = tmp_path / "deblurred.png"
    main(["restore", str(trained_dcgan), "--task", "deblur", "--kernel-size", "5", "-i", str(digit), "-o", str(out),
          "--simulate", "--steps", "2", "--restarts", "1"])  # fmt: skip
    with PIL.Image.open(out) as restored, PIL.Image.open(tmp_path / "deblurred-figure.png") as figure:
        assert restored.size == (28, 28) and figure.size == (3 * 112, 112 + 14)  # input, degraded, restored
    with pytest.raises(SystemExit) as exited:
        main(["restore", str(trained_dcgan), "--task", "deblur", "--kernel-size", "4", "-i", str(digit)])
    assert exited.value.code == 1 and "--kernel-size must be one of 1, 3, 5, 7, 9, got 4" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["restore", "--task", "denoise", "--candidates", "10000000"], "--candidates must be at most 100,000"),
        (["restore", "--task", "denoise", "--steps", "10000000"], "--steps must be from 1 to 100,000"),
        (["restore", "--task", "denoise", "--noise-std", "inf"], "--noise-std must be a finite number"),
        (["restore", "--task", "denoise", "--noise-std", "5"], "--noise-std must be between 0.001 and 1"),
        (["explore", "--steps", "10000000"], "would draw 80,000,000 images, above the limit of 4,096"),
        (["explore", "--values", "nan,3"], "--values must be finite numbers"),
        (["explore", "-k", "100000"], "--num-directions must be between 1 and 512"),
    ],
)
def test_counts_and_values_are_bounded_in_one_line(trained_dcgan, tmp_path, capsys, arguments, message):
    import numpy as np
    import PIL.Image

    from genzoo.cli import main

    digit = tmp_path / "digit.png"
    PIL.Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(digit)
    extra = ["-i", str(digit), "-o", str(tmp_path / "out.png")] if arguments[0] == "restore" else []
    with pytest.raises(SystemExit) as exited:
        main([arguments[0], str(trained_dcgan), *arguments[1:], *extra])
    error = capsys.readouterr().err
    assert exited.value.code == 1 and message in error and error.count("\n") == 1
    assert not (tmp_path / "out.png").exists()


def test_the_demo_offers_the_plugin_task_with_its_option(with_deblur):
    import gradio as gr

    from genzoo import demo

    session = demo.DemoSession(_pipe(), device="cpu")
    assert "deblur" in session.restore_tasks
    app = demo.build_app(session)
    blocks = list(app.blocks.values())
    radios = [block for block in blocks if isinstance(block, gr.Radio) and block.elem_id == "restore-task"]
    assert radios and ("deblurring", "deblur") in [tuple(choice) for choice in radios[0].choices]
    kernel = [block for block in app.blocks.values() if getattr(block, "elem_id", None) == "restore-kernel-size"]
    assert kernel and kernel[0].value == 3
    import PIL.Image

    clean = PIL.Image.new("L", (28, 28), 30)
    given, restored = session.restore("deblur", clean, degrade_first=True, kernel_size=5, seed=1)
    assert given.size == restored.size == (112, 112)


def test_inversion_shows_a_progress_bar_unless_turned_off(capsys):
    pipe = _pipe()
    image = torch.zeros(1, 1, 28, 28)
    pipe.set_progress_bar_config(delay=0)  # diffusers' convention; by default the bar waits a second
    pipe.invert(image, num_steps=3, num_restarts=2)
    assert "inverting 1 image(s), 2 start(s) each" in capsys.readouterr().err
    pipe.set_progress_bar_config(disable=True)
    pipe.invert(image, num_steps=3, num_restarts=2)
    assert "inverting" not in capsys.readouterr().err
