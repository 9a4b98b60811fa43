"""The `genzoo` command line: one module per command, each registered through the `register_commands` hook.

genzoo's own commands (train, export, sample, interpolate, restore, explore, push, evaluate, demo, recipes, plugins)
are registered by its core plugin exactly as a plugin registers one (`genzoo.hookspecs.register_commands`): each is a
module `genzoo.cli.NAME` with `add_arguments(parser)` and `run(args)`. Errors in what the user typed end in one line
on stderr and exit status 1 (set `GENZOO_DEBUG=1` for the traceback); Ctrl-C exits with 130. The same entry point
runs under `accelerate launch -m genzoo train ...`.
"""

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import GenzooError, GenzooWarning
from ..registry import commands

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `genzoo` subcommand, built-in and registered by plugins; each subparser sets
    `_command_registration`, the command's `CommandRegistration` (whose `run` runs it). A command whose module
    cannot be imported is left out with a warning.

    Raises:
        `DuplicateRegistrationError`: when two plugins register the same command name.
    """
    parser = argparse.ArgumentParser(prog="genzoo", description="Train, sample and share image generative models.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands():
        try:
            add_arguments = command.add_arguments  # imports a plugin's command module
        except GenzooError as exc:  # one plugin's broken command must not take every other command down with it
            warnings.warn(f"genzoo command {command.name!r} is unavailable: {exc}", RuntimeWarning, stacklevel=2)
            continue
        subparser = subparsers.add_parser(
            command.name, aliases=list(command.aliases), help=command.description, description=command.description
        )
        add_arguments(subparser)
        subparser.set_defaults(
            _command_registration=command
        )  # `run` is read (and imported) only for the command given
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the `genzoo` command line with `argv` (defaults to `sys.argv[1:]`)."""
    with _one_line_errors():
        parser = build_parser()  # loads the plugins: a clash between two of them is the user's one-line error too
    args = parser.parse_args(argv)
    with _one_line_errors(), warnings.catch_warnings():
        warnings.simplefilter("always", GenzooWarning)
        warnings.showwarning = _show_warning
        args._command_registration.run(args)


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """Print an error the user can fix (`GenzooError`, `ValueError`, `OSError` such as an unwritable path or a network
    failure) as one line and exit 1; Ctrl-C exits 130. `GENZOO_DEBUG=1` lets the traceback through."""
    try:
        yield
    except (GenzooError, ValueError, OSError) as exc:
        if os.environ.get("GENZOO_DEBUG"):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"genzoo: error: {message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("genzoo: interrupted", file=sys.stderr)
        sys.exit(130)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """genzoo's own warnings as one line, `genzoo: warning: ...`; others as Python shows them."""
    if issubclass(category, GenzooWarning):
        print(f"genzoo: warning: {' '.join(str(message).split())}", file=sys.stderr)
    else:  # the default route, which a recorder (warnings.catch_warnings(record=True), pytest) may have replaced
        warnings._showwarnmsg_impl(warnings.WarningMessage(message, category, *args))  # type: ignore[attr-defined]
