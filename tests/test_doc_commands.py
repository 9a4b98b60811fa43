"""Every `genzoo ...` command in the model and publishing docs parses with the real command line: known
subcommands and flags, `--set` keys that the run config accepts, metric names that `genzoo evaluate` knows. (The
commands are parsed and resolved, not run: they train for minutes or talk to the Hub.)"""

import inspect
import re
import shlex
from pathlib import Path

import pytest

from genzoo.cli import build_parser
from genzoo.cli.train import config_from_args
from genzoo.metrics.evaluation import parse_metric_args, parse_metrics
from genzoo.registry import get_model, get_objective, models

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    "README.md",
    "docs/training.md",
    "docs/evaluation.md",
    "docs/writing-a-plugin.md",
    "docs/models/dcgan.md",
    "docs/models/cgan.md",
    "docs/models/vae.md",
    "docs/models/resnet.md",
    "docs/publish-and-load.md",
    "docs/restoration.md",
    "docs/interpretability.md",
    "docs/index.md",
    "docs/demo.md",
    "docs/training-on-a-gpu.md",
    "docs/small-data.md",
    "docs/checkpoints.md",
    "docs/troubleshooting.md",
]
SHELL_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
INLINE = re.compile(r"`(genzoo [^`]*--[^`]*)`", re.DOTALL)  # inline commands with at least one flag


def _commands(doc: str) -> list[str]:
    text = (ROOT / doc).read_text()
    found = []
    for block in SHELL_BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            found.append(line)
    found += [" ".join(match.split()) for match in INLINE.findall(text)]
    commands = []
    for line in found:
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # HF_HUB_OFFLINE=1 genzoo ...
                words.pop(0)
            if words and words[0] == "genzoo":
                commands.append(shlex.join(words[1:]))
    return commands


CASES = [(doc, command) for doc in DOCS for command in _commands(doc)]


def test_the_docs_have_commands():
    subcommands = {shlex.split(command)[0] for _, command in CASES}
    assert {"train", "sample", "evaluate", "push"} <= subcommands
    assert len(CASES) >= 15


@pytest.mark.parametrize(("doc", "command"), CASES, ids=[f"{d.split('/')[-1]}: {c[:60]}" for d, c in CASES])
def test_documented_command_parses(doc, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative output folders resolve here; nothing is written
    words = shlex.split(command)
    if any(re.fullmatch(r"[A-Z_]+", word) or "|" in word for word in words):
        pytest.skip("a template (MODEL, DIR, a|b), not a command")
    if "--help" in words or "-h" in words:  # `genzoo --help`, `genzoo restore --help`: the help prints, exit 0
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(words)
        assert exited.value.code == 0
        return
    args = build_parser().parse_args(words)
    if args.command == "train":
        if args.config:  # the docs show the flags, not the file: a config naming only the model stands in for it
            Path(args.config).parent.mkdir(parents=True, exist_ok=True)
            Path(args.config).write_text("{}\n" if args.model else "model: dcgan\n")
        if args.model == "sngan-example" and "sngan-example" not in models():
            pytest.skip("the tutorial's third-party plugin is not installed (tests/test_third_party_plugin.py is)")
        config = config_from_args(args)  # checks every --set key and value against the run config
        objective = get_objective(config.objective or get_model(config.model).default_objective).obj
        accepted = inspect.signature(objective).parameters
        unknown = set(config.objective_args) - set(accepted)
        assert not unknown, f"{objective.__name__} takes no {', '.join(sorted(unknown))}"
    elif args.command == "evaluate":
        if args.metrics:
            parse_metrics(args.metrics)  # a metric name that no plugin registers fails here
        parse_metric_args(args.metric_arg)
