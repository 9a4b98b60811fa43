"""The documentation site builds with `mkdocs build --strict` (no broken link, anchor or cross-reference, no
docstring the API reference cannot parse), its API reference covers every public name, and `.ci/run` runs exactly the
README's test command."""

import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from mkdocs_hooks import api_modules  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocstrings", reason="the docs extra (pip install -e '.[docs]') builds the site")
    output = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )
    problems = [line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert result.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(problems or [result.stderr[-3000:]])
    return output


def _inventory(site: Path) -> set[str]:
    """The object names in the site's Sphinx inventory (objects.inv), which mkdocstrings writes."""
    data = (site / "objects.inv").read_bytes()
    body = zlib.decompress(data.split(b"\n", 4)[4]).decode()
    return {line.split(" ", 1)[0] for line in body.splitlines() if line.strip()}


def test_the_site_builds_strict_with_the_cli_and_api_references(site):
    cli = (site / "cli" / "index.html").read_text()
    assert "genzoo demo" in cli and "--export-space" in cli and "--max-steps" in cli
    for page in ("index", "demo", "training-on-a-gpu", "checkpoints", "troubleshooting", "gallery"):
        assert (site / page / "index.html").is_file() or (site / f"{page}.html").is_file(), page


@pytest.mark.parametrize("module", api_modules())
def test_every_public_name_is_in_the_api_reference(site, module):
    import importlib
    import inspect

    namespace = importlib.import_module(module)
    names = getattr(namespace, "__all__", None)
    if names is None:  # the module's own public functions and classes
        names = [
            name
            for name, value in vars(namespace).items()
            if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
            and value.__module__ == module
        ]  # fmt: skip
    documented = _inventory(site)
    missing = [name for name in names if f"{module}.{name}" not in documented]
    assert not missing, f"{module}: {', '.join(missing)} missing from the API reference (check their docstrings)"


def test_ci_runs_exactly_the_readme_test_command():
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and line[0] not in "#"]
    commands = [line for line in commands if not re.match(r"(set|cd) ", line)]
    assert len(commands) == 1
    readme_block = (ROOT / "README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    assert commands[0] in readme_block.splitlines()
    assert "pytest" in commands[0]
