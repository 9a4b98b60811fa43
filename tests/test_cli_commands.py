"""Commands that plugins add (`register_commands`, issue 19): a plugin in one file (tests/plugins/command_plugin.py)
adds `genzoo describe`, which runs, shows in `genzoo --help` and `genzoo plugins`, and imports no torch to be listed;
a name two plugins claim is a one-line error."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genzoo import GenPipeline, hookimpl
from genzoo.cli import build_parser, main
from genzoo.registry import commands

PLUGIN_SOURCE = (Path(__file__).parent / "plugins" / "command_plugin.py").read_text()


@pytest.fixture
def describe_plugin(installed_plugin, tmp_path):
    """The command plugin, installed as a pip-installed distribution is: a module and its `genzoo` entry point."""
    installed_plugin("describe", PLUGIN_SOURCE)
    return tmp_path / "site-packages"


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory) -> Path:
    from genzoo_gan import DCGANGenerator

    folder = tmp_path_factory.mktemp("describe") / "pipe"
    GenPipeline(model=DCGANGenerator(latent_dim=4, image_size=8, num_channels=1, base_channels=4)).save_pretrained(
        folder
    )
    (folder / "eval_results.json").write_text(json.dumps({"fid": 12.5, "num_samples": 100}))
    return folder


def test_a_plugin_command_runs(describe_plugin, tiny_pipeline, capsys):
    main(["describe", str(tiny_pipeline)])
    printed = capsys.readouterr().out
    assert "family: dcgan" in printed and "image_size: 8" in printed and "latent_dim: 4" in printed
    assert "metrics: {'fid': 12.5}" in printed
    main(["info", str(tiny_pipeline), "--json"])  # the alias it registered
    assert json.loads(capsys.readouterr().out)["num_channels"] == 1


def test_a_plugin_command_shows_in_help_and_plugins(describe_plugin, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["--help"])
    assert excinfo.value.code == 0
    help_text = capsys.readouterr().out
    assert "describe" in help_text and "print what a saved pipeline is" in help_text
    with pytest.raises(SystemExit):
        main(["describe", "--help"])
    assert "--json" in capsys.readouterr().out
    main(["plugins"])
    listed = capsys.readouterr().out
    assert "describe 1.0.0 (fake_genzoo_describe)" in listed and "  commands: describe" in listed
    main(["plugins", "--json"])
    report = {plugin["name"]: plugin for plugin in json.loads(capsys.readouterr().out)["plugins"]}
    assert report["describe"]["commands"] == ["describe"] and report["describe"]["aliases"] == {"describe": ["info"]}
    assert "train" in report["genzoo"]["commands"]


def test_a_plugin_command_is_listed_without_importing_torch(describe_plugin):
    probe = (
        "import sys\nfrom genzoo.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'diffusers', 'datasets', 'accelerate'}))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(describe_plugin), *sys.path])}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert "describe" in result.stdout and result.stdout.strip().splitlines()[-1] == "[]"


def test_a_plugin_error_is_one_line(describe_plugin, tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["describe", str(tmp_path / "nowhere")])
    assert excinfo.value.code == 1
    assert (
        capsys.readouterr().err
        == f"genzoo: error: describe reads a local pipeline folder; {tmp_path}/nowhere is none.\n"
    )


@pytest.mark.parametrize("name", ["sample", "describe", "info"])
def test_a_command_name_claimed_twice_is_a_one_line_error(describe_plugin, register_plugin, name, capsys):
    """A plugin cannot take a built-in command's name, or another plugin's name or alias: `genzoo` answers every
    command with one line naming both plugins, rather than run one of them silently."""

    class Clash:
        @hookimpl
        def register_commands(self, register):
            register(name, lambda parser: None, lambda args: print("clash ran"), description="clashes")

    register_plugin(Clash(), name="clash")
    with pytest.raises(SystemExit) as excinfo:
        main(["plugins"])
    assert excinfo.value.code == 1
    error = capsys.readouterr().err
    owner = "genzoo" if name == "sample" else "describe"
    assert error == (
        f"genzoo: error: command {name!r} is registered by both plugin {owner!r} and plugin 'clash'; uninstall one "
        "of them or limit loading with GENZOO_PLUGINS.\n"
    )


def test_a_command_name_argparse_cannot_take_is_refused(register_plugin):
    class BadName:
        @hookimpl
        def register_commands(self, register):
            register("--describe", lambda parser: None, lambda args: None)

    register_plugin(BadName(), name="bad-name")
    with pytest.warns(RuntimeWarning, match=r"Command name '--describe' of plugin 'bad-name' must be lower-case"):
        names = commands().names()
    assert "train" in names and "--describe" not in names


def test_every_builtin_command_has_help():
    parser = build_parser()
    (subparsers,) = [action for action in parser._actions if action.dest == "command"]
    assert list(subparsers.choices) == [
        "train", "export", "sample", "interpolate", "restore", "explore", "push", "evaluate", "demo", "recipes",
        "plugins",
    ]  # fmt: skip
    for name, subparser in subparsers.choices.items():
        assert subparser.format_help().startswith(f"usage: genzoo {name}")
        assert subparser.description, f"genzoo {name} --help says nothing about what it does"


def test_plugins_lists_what_each_family_sets_over_an_objective(capsys):
    """A dcgan hinge run uses lr 2e-3 and betas (0, 0.9), not the hinge objective's generic Adam(2e-4, (0.5, 0.999)):
    `genzoo plugins` says so under the model, in the keys `--set objective_args.KEY=VALUE` takes."""
    main(["plugins"])
    lines = capsys.readouterr().out.splitlines()
    dcgan = next(index for index, line in enumerate(lines) if line.startswith("    dcgan: "))
    assert (
        lines[dcgan + 1]
        == "      with hinge: lr=0.002, betas=[0.0, 0.9], spectral_norm=true, discriminator.norm=none, "
        "reuse_fakes=true"
    )
    main(["plugins", "--json"])
    report = {plugin["name"]: plugin for plugin in json.loads(capsys.readouterr().out)["plugins"]}
    assert report["gan"]["objective_defaults"]["dcgan"]["hinge"]["betas"] == [0.0, 0.9]


def test_a_command_whose_module_cannot_be_imported_is_left_out(register_plugin, capsys):
    class Broken:
        @hookimpl
        def register_commands(self, register):
            register("broken", "genzoo_no_such_module:add_arguments", "genzoo_no_such_module:run", description="x")

    register_plugin(Broken(), name="broken")
    with pytest.warns(RuntimeWarning, match=r"genzoo command 'broken' is unavailable: 'broken' of plugin 'broken'"):
        main(["recipes"])  # every other command still works
    assert "aims at" in capsys.readouterr().out
