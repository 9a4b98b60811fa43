"""The plugin-writing tutorial quotes the worked example: every quoted block must still be in the file it names."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "writing-a-plugin.md"
QUOTE = re.compile(r"<!-- from (?P<path>\S+) -->\n```[a-z]*\n(?P<code>.*?)```", re.DOTALL)


def _quotes() -> list[tuple[str, str]]:
    return [(m["path"], m["code"]) for m in QUOTE.finditer(TUTORIAL.read_text())]


def test_the_tutorial_quotes_every_file_of_the_example():
    quoted = {path for path, _ in _quotes()}
    assert quoted == {
        "examples/genzoo-sngan/pyproject.toml",
        "examples/genzoo-sngan/src/genzoo_sngan/__init__.py",
        "examples/genzoo-sngan/src/genzoo_sngan/modeling_sngan.py",
        "examples/genzoo-sngan/tests/test_sngan.py",
    }


@pytest.mark.parametrize(("path", "code"), _quotes(), ids=lambda value: str(value).splitlines()[0][:40])
def test_quoted_code_matches_the_example(path, code):
    assert code in (ROOT / path).read_text(), f"the tutorial's quote of {path} is out of date"


def test_bench_readme_lists_every_script():
    """bench/README.md says what each script measures, with its command and latest figures (issue 14)."""
    listed = set(re.findall(r"`(\w+\.py)`", (ROOT / "bench" / "README.md").read_text()))
    scripts = {path.name for path in (ROOT / "bench").glob("*.py")}
    assert scripts - listed == set(), "bench/README.md does not list these scripts"
