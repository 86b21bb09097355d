"""The exceptions ReaLLM raises: one class per exit code of the ``reallm`` command line.

Each carries the message the CLI prints after ``error:`` and the CLI's exit code as
``exit_code`` (see docs/exit-codes.md). Errors about bad input are also ``ValueError``
subclasses, and file errors ``OSError`` subclasses, so generic handlers keep working.
"""

from __future__ import annotations

from typing import Optional


class ReallmError(Exception):
    """Base class of every ReaLLM error.

    Attributes:
        message: the CLI's message (also ``str(err)``).
        exit_code: the exit code the ``reallm`` binary would return for this error.
    """

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ReallmError, ValueError):
    """A bad argument or ``--set`` override (exit code 2)."""

    exit_code = 2


class ConfigError(ReallmError, ValueError):
    """The configuration is invalid (exit code 3).

    Attributes:
        origin: where the config came from (a path, ``built-in default``, ``<string>``,
            ``<dict>``).
        key: the key path the error is about (e.g. ``workload.request_rates``), if any.
    """

    exit_code = 3
    origin: Optional[str] = None
    key: Optional[str] = None


class InputError(ReallmError, ValueError):
    """An input data file is invalid: trace CSV, device JSON, model config (exit code 4).

    Attributes:
        path: the file (or trace name).
    """

    exit_code = 4
    path: Optional[str] = None


class PluginError(ReallmError):
    """A plugin could not be found, loaded or built, or it failed (exit code 5).

    Attributes:
        plugin: the plugin's name.
    """

    exit_code = 5
    plugin: Optional[str] = None


class InfeasibleError(ReallmError):
    """The experiment cannot run, e.g. the model does not fit in device memory (exit code 6)."""

    exit_code = 6


class IoError(ReallmError, OSError):
    """Reading or writing a file failed (exit code 7).

    Attributes:
        path: the file.
    """

    exit_code = 7
    path: Optional[str] = None


class InternalError(ReallmError):
    """A bug in ReaLLM (exit code 70): please report it with the message."""

    exit_code = 70


__all__ = [
    "ReallmError",
    "UsageError",
    "ConfigError",
    "InputError",
    "PluginError",
    "InfeasibleError",
    "IoError",
    "InternalError",
]
