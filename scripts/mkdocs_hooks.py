"""mkdocs hooks (mkdocs.yml `hooks:`) that generate two parts of the documentation site at build time, so they
cannot drift from the code:

- `cli.md`: the marker `<!-- cli-reference -->` becomes the `--help` of `genzoo` and of every subcommand, from the
  real argparse parser (`genzoo.cli.build_parser`);
- `api/<module>.md`: one API page per public module of genzoo and of the built-in plugins, rendered by mkdocstrings
  from the docstrings (the names in each module's `__all__`), added to the nav under "API reference"; the
  `genzoo.pipeline` page also lists the pipeline's task methods from the task table.
"""

import argparse
import os
import pkgutil
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
CLI_MARKER = "<!-- cli-reference -->"
PACKAGES = ("genzoo", "genzoo_gan", "genzoo_cgan", "genzoo_vae", "genzoo_infogan")
SKIPPED = {"genzoo.__main__", "genzoo.cli"}  # the CLI (and its command modules) has its own reference page


def api_modules() -> list[str]:
    """The documented modules: each package and its public submodules (no leading underscore)."""
    modules = []
    for package in PACKAGES:
        base = ROOT / ("src" if package == "genzoo" else "plugins") / package
        modules.append(package)
        for info in pkgutil.walk_packages([str(base)], prefix=f"{package}."):
            skipped = any(info.name == name or info.name.startswith(f"{name}.") for name in SKIPPED)
            if not any(part.startswith("_") for part in info.name.split(".")) and not skipped:
                modules.append(info.name)
    return modules


def on_config(config):
    for entry in config.nav or []:
        if isinstance(entry, dict) and "API reference" in entry:
            entry["API reference"] += [{name: f"api/{name}.md"} for name in api_modules()]
    return config


def on_files(files: Files, config) -> Files:
    for name in api_modules():
        content = f"# `{name}`\n\n::: {name}\n    options:\n      show_root_heading: false\n      heading_level: 2\n"
        if name == "genzoo.pipeline":
            content += task_methods()
        files.append(File.generated(config, f"api/{name}.md", content=content))
    return files


def task_methods() -> str:
    """The pipeline's task methods, one section per row of the task table: the function's own signature and
    docstring (its first argument is the pipeline, `pipe.<method>(...)` passes it)."""
    from genzoo.registry import tasks

    sections = [
        "\n## Task methods\n\n`GenPipeline` gets these methods from the task table (`genzoo.tasks`): "
        "`pipe.<method>(...)` calls the function below with the pipeline as its first argument.\n"
    ]
    for task in tasks():
        module, name = task.reference()
        sections.append(
            f"\n### `GenPipeline.{task.method}`\n\nTask `{task.name}` ({task.description})\n\n"
            f"::: {module}.{name}\n    options:\n      show_root_heading: false\n      heading_level: 4\n"
        )
    return "".join(sections)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    return markdown


def cli_reference() -> str:
    """`genzoo --help` and each subcommand's `--help`, as Markdown sections."""
    from genzoo.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps help at the terminal width: fix it for the page
    parser = build_parser()
    sections = [f"## genzoo\n\n```text\n{parser.format_help()}```\n"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                if subparser.prog.split()[-1] != name:  # an alias: the command has its section under its name
                    continue
                sections.append(f"## genzoo {name}\n\n```text\n{subparser.format_help()}```\n")
    return "\n".join(sections)
