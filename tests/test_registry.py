"""The plugin system: entry-point discovery, register callbacks, duplicates, unknown names, broken plugins."""

import json
import warnings

import pytest

from genzoo import hookimpl, plugins
from genzoo.cli import main
from genzoo.errors import DuplicateRegistrationError, UnknownNameError
from genzoo.registry import get_model, get_objective, models, objectives

EXTRA_MODEL_PLUGIN = """
from genzoo import hookimpl
from genzoo_gan import DCGANDiscriminator, DCGANGenerator

class TinyGenerator(DCGANGenerator):
    '''A third-party generator.'''

@hookimpl
def register_models(register):
    register("tiny", TinyGenerator, discriminator_class=DCGANDiscriminator, default_objective="gan",
             aliases=("tiny-gan",))
"""


def test_builtin_plugins_register_through_entry_points():
    assert "dcgan" in models()
    assert {"gan", "hinge", "wgan-gp"} <= set(objectives().names())
    registration = get_model("dcgan")
    assert registration.plugin == "gan"
    assert plugins.plugin_source("gan").distribution == "genzoo"


def test_third_party_entry_point_is_discovered(installed_plugin):
    installed_plugin("extra", EXTRA_MODEL_PLUGIN, version="2.3.4")
    registration = get_model("tiny")
    assert registration.plugin == "extra"
    assert registration.generator_class.__name__ == "TinyGenerator"
    assert get_model("tiny-gan") is registration
    assert plugins.plugin_source("extra").version == "2.3.4"
    assert registration.description == "A third-party generator."


def test_unknown_name_lists_available_and_closest_match():
    with pytest.raises(UnknownNameError) as excinfo:
        get_model("dcgn")
    message = str(excinfo.value)
    assert "Did you mean 'dcgan'?" in message
    assert "dcgan" in message.partition("Available models: ")[2]  # other installed families are listed too
    with pytest.raises(UnknownNameError, match="Available objectives: ") as excinfo:
        get_objective("nope")
    assert {"gan", "hinge", "wgan-gp"} <= set(str(excinfo.value).rstrip(".").split(": ")[-1].split(", "))


def test_duplicate_name_names_both_plugins(installed_plugin):
    installed_plugin(
        "impostor",
        """
        from genzoo import hookimpl
        from genzoo_gan import DCGANGenerator

        @hookimpl
        def register_models(register):
            register("dcgan", DCGANGenerator)
        """,
    )
    with pytest.raises(DuplicateRegistrationError) as excinfo:
        models()
    assert "'gan'" in str(excinfo.value) and "'impostor'" in str(excinfo.value)


def test_alias_clashing_with_a_name_is_a_duplicate(register_plugin):
    class Clash:
        @hookimpl
        def register_objectives(self, register):
            register("my-objective", object, aliases=("hinge",))

    register_plugin(Clash(), name="clash")
    with pytest.raises(DuplicateRegistrationError, match=r"'hinge'.*'genzoo'.*'clash'"):
        objectives()


def test_broken_plugin_warns_and_the_rest_keeps_working(installed_plugin):
    installed_plugin("broken", "raise ImportError('missing dependency: foo')\n")
    with pytest.warns(RuntimeWarning, match=r"genzoo plugin 'broken'.*missing dependency: foo"):
        names = models().names()
    assert "dcgan" in names
    assert "broken" in plugins.failed_plugins()


def test_plugin_whose_hook_raises_warns(register_plugin):
    class Faulty:
        @hookimpl
        def register_models(self, register):
            raise RuntimeError("boom")

    register_plugin(Faulty(), name="faulty")
    with pytest.warns(RuntimeWarning, match="'faulty' failed in register_models.*boom"):
        assert "dcgan" in models()


def test_env_var_limits_loaded_plugins(installed_plugin, monkeypatch):
    installed_plugin("extra", EXTRA_MODEL_PLUGIN)
    monkeypatch.setenv(plugins.PLUGINS_ENV_VAR, "extra")
    plugins.reset_plugins()
    # The extra plugin loads; the built-in gan plugin does not (its module is imported by extra, but not registered).
    assert models().names() == ["tiny"]
    monkeypatch.setenv(plugins.PLUGINS_ENV_VAR, "")
    plugins.reset_plugins()
    assert models().names() == []
    with pytest.raises(UnknownNameError, match="none \\(is a plugin installed\\?\\)"):
        get_model("dcgan")
    # The unknown-name message says which installed plugins GENZOO_PLUGINS kept out, and what to do.
    monkeypatch.setenv(plugins.PLUGINS_ENV_VAR, "vae")
    plugins.reset_plugins()
    with pytest.raises(UnknownNameError) as excinfo:
        get_model("dcgan")
    message = str(excinfo.value)
    assert "GENZOO_PLUGINS kept plugin(s) " in message and "gan" in message.partition("kept plugin(s) ")[2]
    assert message.endswith("if one of them provides 'dcgan', add it to GENZOO_PLUGINS.") and "\n" not in message


def test_registry_follows_plugins_registered_at_run_time(register_plugin):
    class Late:
        @hookimpl
        def register_objectives(self, register):
            register("late", object, description="registered late")

    assert "late" not in objectives()
    plugin = register_plugin(Late(), name="late")
    assert objectives().get("late").description == "registered late"
    plugins.pm.unregister(plugin)
    assert "late" not in objectives()


def test_plugins_command_lists_versions_and_registrations(installed_plugin, capsys):
    installed_plugin("extra", EXTRA_MODEL_PLUGIN, version="2.3.4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        main(["plugins"])
    text = capsys.readouterr().out
    assert "gan 0.1.0 (genzoo_gan)" in text
    assert "models: dcgan" in text and "objectives: gan, hinge, wgan-gp" in text
    assert "extra 2.3.4" in text and "models: tiny" in text
    assert "    dcgan: DCGAN (Radford et al. 2016)" in text  # each registration's description

    main(["plugins", "--json"])
    payload = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in payload["plugins"]}
    assert by_name["extra"]["version"] == "2.3.4"
    assert by_name["gan"]["descriptions"]["dcgan"].startswith("DCGAN (Radford et al. 2016)")
    assert by_name["extra"]["models"] == ["tiny"]
    assert by_name["genzoo"]["objectives"] == ["gan", "hinge", "wgan-gp"]  # the core's, not the DCGAN plugin's
    assert "mnist-5k" in by_name["genzoo"]["datasets"]


def test_plugins_command_reports_failed_plugins(installed_plugin, capsys):
    installed_plugin("broken", "raise ImportError('nope')\n")
    with pytest.warns(RuntimeWarning):
        main(["plugins", "--json"])
    assert "ImportError: nope" in json.loads(capsys.readouterr().out)["failed"]["broken"]
