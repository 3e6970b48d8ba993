"""Every error aiperf raises derives from AiperfError (`except aiperf.AiperfError` catches them all).

Each keeps the builtin base it always had (ValueError, RuntimeError), so existing handlers still match. The engine's
`aiperf._engine.EngineError` is created by the C++ module with AiperfError among its bases. This module imports
nothing of the package: the C++ module imports it while it initialises.
"""
from __future__ import annotations

from pathlib import Path

__all__ = [
    "AccuracyError",
    "AiperfError",
    "ArtifactError",
    "ConfigError",
    "ImageError",
    "InputFileError",
    "PlotError",
    "RunError",
    "TokenizerError",
]


class AiperfError(Exception):
    """Base of every error aiperf raises; `exit_code` is what `aiperf` exits with for it."""

    exit_code = 1


class ConfigError(AiperfError, ValueError):
    """An invalid option, combination of options or input; the message names the option."""

    exit_code = 2


class InputFileError(AiperfError, ValueError):
    """A problem with `--input-file`: the message names the file, the line (1-based) and the field."""

    exit_code = 2

    def __init__(self, path: Path | str | None, line: int | None, field: str | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.problem = problem
        if field is not None and field.startswith("--"):  # about the option itself, e.g. an unreadable file
            message = f"{field} {path}: {problem}" if path is not None else f"{field}: {problem}"
        else:
            location = str(path) if path is not None else "--input-file"
            if line is not None:
                location += f":{line}"
            message = f"{location}: {field}: {problem}" if field else f"{location}: {problem}"
        super().__init__(message)


class TokenizerError(AiperfError):
    """A tokenizer could not be found or loaded; the message names `--tokenizer` and what was tried."""


class ImageError(AiperfError, ValueError):
    """An image input that cannot be sent: the message says what is wrong (callers add where it came from)."""


class RunError(AiperfError, RuntimeError):
    """The run could not start (the engine refused its configuration, the artifact folder is unwritable, …)."""


class ArtifactError(AiperfError, ValueError):
    """An artifact folder that cannot be read back; the message names the missing file or field."""


class PlotError(AiperfError, ValueError):
    """The runs have no data for this plot; the message says which run lacks what."""


class AccuracyError(AiperfError, ValueError):
    """A file cannot be read as a timing log or an artifact folder."""
