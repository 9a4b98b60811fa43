"""Exceptions that genzoo raises for bad input. The CLI prints them as one line and exits non-zero."""

import difflib
import os
import sys
from collections.abc import Iterable


class GenzooError(Exception):
    """Base class for user-facing errors: the message names the problem and the fix."""


class UnknownNameError(GenzooError, LookupError):
    """A model, objective, dataset or feature extractor name that no loaded plugin registered."""


class DuplicateRegistrationError(GenzooError):
    """Two registrations claim the same name."""


class ConfigError(GenzooError, ValueError):
    """A run configuration key or value that cannot be used."""


class UnsafePipelineError(GenzooError):
    """A saved pipeline names code that no installed plugin registered."""


class GenzooWarning(UserWarning):
    """A problem genzoo can work past but the user should know about; the CLI prints it as one line."""


class NonFiniteWeightsWarning(GenzooWarning):
    """A loaded pipeline's weights hold NaN or Inf values (the run that made them diverged)."""


class FlatImagesWarning(GenzooWarning):
    """A pipeline drew images without any variation (one flat colour): the run that made it collapsed."""


def network_errors() -> tuple[type[BaseException], ...]:
    """Connection and HTTP failures of whichever client huggingface_hub and datasets use (requests, httpx, httpx2),
    for `except` clauses that turn them into one-line errors. `OSError` covers `HfHubHTTPError` and
    `FileNotFoundError`."""
    errors: list[type[BaseException]] = [OSError]
    for module, name in (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException")):
        error = getattr(sys.modules.get(module), name, None)
        if isinstance(error, type) and issubclass(error, BaseException):
            errors.append(error)
    return tuple(errors)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`" Did you mean 'lr'?"` for the known name closest to a mistyped `name`, or `""` when none is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_writable(path: str | os.PathLike, what: str) -> None:
    """Refuse `path` in one line when no file can be created where it would go: the nearest folder that exists above
    it (or the path itself, if it is a folder) must take a new file. Checked with a real temporary file (permissions,
    read-only or virtual file systems and quotas all show), before any slow work.

    Args:
        path (`str` or `os.PathLike`): the file or folder a command is about to write.
        what (`str`): how the user named it, for the message (`--output-dir`, `-o`).

    Raises:
        `GenzooError`: the folder cannot take a file; the message names it and the reason.
    """
    import tempfile
    from pathlib import Path

    target = Path(path)
    folder = next((p for p in (target, *target.parents) if p.exists()), Path("."))
    if not folder.is_dir():
        return  # a file in the way: the callers' own checks name that case
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".genzoo-write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise GenzooError(
            f"{what} {str(target)!r}: cannot create files in {str(folder)!r} ({reason}); choose a writable location."
        ) from None
