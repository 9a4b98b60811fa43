"""Exceptions that genzoo raises for bad input. The CLI prints them as one line and exits non-zero."""

import difflib
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
