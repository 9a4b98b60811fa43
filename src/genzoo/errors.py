"""Exceptions that genzoo raises for bad input. The CLI prints them as one line and exits non-zero."""


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
