"""Start-up: registrations name classes by import string and import them on first use, so listing plugins, `--help`
and mistyped names import no torch, diffusers, datasets or accelerate (issue 14)."""

import subprocess
import sys
import textwrap

import pytest
import torch

from genzoo import GenPipeline, hookimpl
from genzoo.errors import GenzooError
from genzoo.folder import read_pipeline_folder
from genzoo.registry import ModelRegistration, get_model, get_objective, models, objectives

HEAVY = ("torch", "diffusers", "datasets", "accelerate")


def _heavy_modules_after(code: str) -> tuple[list[str], str]:
    """Run `code` in a fresh interpreter; the heavy packages it imported, and what it printed."""
    probe = (
        f"import sys\n{textwrap.dedent(code)}\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    *printed, heavy = result.stdout.strip().splitlines()
    return eval(heavy), "\n".join(printed)  # a printed list of names


def test_listing_plugins_and_mistyped_names_import_no_torch():
    heavy, printed = _heavy_modules_after(
        """
        from genzoo.cli import main
        main(["plugins"])
        for argv in (["train", "dcgn"], ["train", "dcgan", "--objective", "hinj"]):
            try:
                main(argv)
            except SystemExit as exc:
                print("exit", exc.code)
        """
    )
    assert heavy == []
    assert "models: cgan" in printed and "objectives: gan, hinge, wgan-gp" in printed  # every plugin listed
    assert "gan: The original GAN loss" in printed  # descriptions given at registration, nothing imported
    assert printed.count("exit 1") == 2


def test_help_imports_no_torch():
    heavy, printed = _heavy_modules_after(
        """
        from genzoo.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        """
    )
    assert heavy == [] and "plugins" in printed


def test_checking_a_folder_imports_only_its_own_plugin(tmp_path):
    """The folder safety check compares `model_index.json` with the registered import strings: the other families'
    modules are not imported (nor would an unregistered module be)."""
    from genzoo_gan import DCGANGenerator

    GenPipeline(model=DCGANGenerator(latent_dim=4, image_size=8, num_channels=1, base_channels=4)).save_pretrained(
        tmp_path / "pipe"
    )
    _, printed = _heavy_modules_after(
        f"""
        from genzoo.folder import read_pipeline_folder
        checked = read_pipeline_folder({str(tmp_path / "pipe")!r})
        print(checked.registration.name)
        print(sorted(m for m in sys.modules if m.startswith(("genzoo_cgan.", "genzoo_vae.", "genzoo_gan."))))
        """
    )
    assert printed.splitlines() == ["dcgan", "[]"]


def test_import_strings_are_imported_on_first_read(installed_plugin, tmp_path):
    installed_plugin(
        "lazy",
        """
        from genzoo import hookimpl

        @hookimpl
        def register_models(register):
            register("lazy", "fake_genzoo_lazy_modeling:LazyGenerator", default_objective="gan",
                     discriminator_class="genzoo_gan:DCGANDiscriminator")

        @hookimpl
        def register_objectives(register):
            register("lazy-objective", "fake_genzoo_lazy_modeling:missing_name", description="never importable")
        """,
    )
    with open(tmp_path / "site-packages" / "fake_genzoo_lazy_modeling.py", "w") as file:  # the fixture's folder
        file.write(
            "from genzoo_gan import DCGANGenerator\n\n"
            "class LazyGenerator(DCGANGenerator):\n    '''Read from the source, not imported.'''\n"
        )
    try:
        registration = get_model("lazy")
        # The description comes from the docstring, parsed without importing the module.
        assert registration.description == "Read from the source, not imported."
        assert "fake_genzoo_lazy_modeling" not in sys.modules
        assert registration.reference() == ("fake_genzoo_lazy_modeling", "LazyGenerator")
        assert "LazyGenerator" in repr(registration) and "fake_genzoo_lazy_modeling" not in sys.modules
        generator_class = registration.generator_class  # imported now, once
        assert generator_class.__name__ == "LazyGenerator" and registration.generator_class is generator_class
        assert registration.discriminator_class.__name__ == "DCGANDiscriminator"
        with pytest.raises(GenzooError, match=r"'lazy-objective' of plugin 'lazy' names .*missing_name.*cannot be"):
            _ = get_objective("lazy-objective").obj
    finally:
        sys.modules.pop("fake_genzoo_lazy_modeling", None)


def test_a_malformed_import_string_is_a_registration_error(register_plugin):
    class Malformed:
        @hookimpl
        def register_objectives(self, register):
            register("malformed", "no_colon_here")

    register_plugin(Malformed(), name="malformed")
    with pytest.warns(RuntimeWarning, match="must be an object or an import string 'module:attribute'"):
        names = objectives().names()
    assert "malformed" not in names and "gan" in names


def test_a_reexported_import_string_still_passes_the_folder_check(register_plugin, tmp_path):
    """A plugin may name its class where it re-exports it (`"genzoo_gan:DCGANGenerator"`): `model_index.json`
    records the defining module, which the check then confirms by importing only the registered class."""

    class Reexport:
        @hookimpl
        def register_models(self, register):
            register("reexported", "genzoo_gan:DCGANGenerator", description="re-exported")

    register_plugin(Reexport(), name="reexport")
    model = get_model("reexported").generator_class(latent_dim=4, image_size=8, num_channels=1, base_channels=4)
    GenPipeline(model=model).save_pretrained(tmp_path / "pipe")
    checked = read_pipeline_folder(tmp_path / "pipe")
    assert checked.registration.name in ("dcgan", "reexported")


def test_registrations_built_from_classes_keep_working():
    from genzoo_gan import DCGANDiscriminator, DCGANGenerator

    registration = ModelRegistration("direct", DCGANGenerator, "tests", discriminator_class=DCGANDiscriminator)
    assert registration.generator_class is DCGANGenerator and registration.discriminator_class is DCGANDiscriminator
    assert registration.pipeline_class is None and registration.reference("pipeline_class") is None
    assert registration.reference() == ("genzoo_gan.modeling_dcgan", "DCGANGenerator")
    assert isinstance(
        models().get("dcgan").generator_class(latent_dim=4, image_size=8, num_channels=1), torch.nn.Module
    )


def test_loading_a_local_folder_imports_only_what_it_needs(tmp_path):
    """`from_pretrained` on a local folder imports, of genzoo's own code, only the core and the folder's own plugin:
    not the publishing code (genzoo.hub), not the other families, and none of the heavy packages loading does not
    need (datasets, accelerate, transformers). It reads no plugin distribution's metadata.

    Only genzoo's modules and the heavy imports we mean to avoid are asserted on: what torch, diffusers or tqdm
    import on their own changes with their versions (tqdm's lock pulls in `multiprocessing`, for one)."""
    from genzoo_gan import DCGANGenerator

    GenPipeline(model=DCGANGenerator(latent_dim=4, image_size=8, num_channels=1, base_channels=4)).save_pretrained(
        tmp_path / "pipe"
    )
    probe = """
        import sys
        import torch
        from diffusers import DiffusionPipeline
        before = set(sys.modules)
        from genzoo import GenPipeline
        GenPipeline.from_pretrained({folder!r})
        from genzoo import plugins
        new = set(sys.modules) - before
        print(sorted(m for m in new if m.startswith(("genzoo", "datasets", "accelerate", "transformers"))))
        print(sorted(plugins._distributions))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(probe.format(folder=str(tmp_path / "pipe")))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    new_modules, unread = (eval(line) for line in result.stdout.strip().splitlines()[-2:])  # printed lists of names
    top_level = {m.split(".")[0] for m in new_modules}
    # Entry points import each plugin's package, which holds only import strings; the modeling file is the folder's.
    plugins = {"genzoo_gan", "genzoo_cgan", "genzoo_vae", "genzoo_resnet", "genzoo_infogan", "genzoo_pix2pix"}
    assert top_level <= {"genzoo", *plugins}
    plugin_modules = tuple(f"{name}." for name in sorted(plugins - {"genzoo_gan"}))
    assert not [m for m in new_modules if m.startswith(plugin_modules)]
    assert "genzoo.hub" not in new_modules
    assert {"gan", "cgan", "vae", "resnet"} <= set(unread)  # their metadata is read only when asked for


def test_lazy_exports_imports_on_first_use_and_names_unknown_attributes(tmp_path, monkeypatch):
    from genzoo import lazy_exports

    package = tmp_path / "lazy_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "heavy.py").write_text("VALUE = object()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazy_pkg

    lazy_pkg.__getattr__ = lazy_exports("lazy_pkg", {"VALUE": ".heavy"})
    assert "lazy_pkg.heavy" not in sys.modules
    value = lazy_pkg.VALUE
    assert "lazy_pkg.heavy" in sys.modules and value is sys.modules["lazy_pkg.heavy"].VALUE
    assert vars(lazy_pkg)["VALUE"] is value  # cached in the package: looked up once
    with pytest.raises(AttributeError, match="module 'lazy_pkg' has no attribute 'missing'"):
        getattr(lazy_pkg, "missing")  # noqa: B009
    for name in [name for name in sys.modules if name.startswith("lazy_pkg")]:
        del sys.modules[name]
