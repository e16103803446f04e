"""Errors a user can cause, each carrying where it happened and how to fix it.

Every failure that reaches the user is a `PublisherError`: the task layer prints
`str(error)` as one line and exits with `error.exit_code`, never a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publisher.diagnostics import Diagnostic


@dataclass(frozen=True)
class Location:
    """A place in the user's files: `file` or `file:line`."""

    path: Path
    line: int | None = None

    def __str__(self) -> str:
        text = _display(self.path)
        if self.line is not None:
            text += f":{self.line}"
        return text


def _display(path: Path) -> str:
    """Paths relative to the working directory where possible: shorter, and no
    machine-specific prefix in messages or golden files."""
    # abspath, not resolve: a symbolic link is named as the user wrote it.
    absolute, cwd = os.path.abspath(path), os.getcwd()
    if absolute.startswith(cwd + os.sep):
        return os.path.relpath(absolute, cwd)
    return str(path)


def one_line(where: Location | None, severity: str, message: str, hint: str = "") -> str:
    """The form of every message publisher prints about the user's files:
    `file:line: severity: message (hint)`, the location and hint when there are any."""
    text = f"{where}: " if where else ""
    text += f"{severity}: {message}"
    if hint:
        text += f" ({hint})"
    return text


class PublisherError(Exception):
    """A failure the user can act on: what went wrong, where, and what to do."""

    exit_code = 2
    code = "error"

    def __init__(self, message: str, *, where: Location | None = None, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        # What the failing stage had found before it stopped (a control character,
        # a removed link): printed before the error, as they came before it.
        self.diagnostics: tuple[Diagnostic, ...] = ()

    def __str__(self) -> str:
        return one_line(self.where, "error", self.message, self.hint)


class ManuscriptError(PublisherError):
    """The manuscript cannot be read: missing, not UTF-8, broken front matter."""

    exit_code = 2


class MetadataError(ManuscriptError):
    """The book's metadata is missing something or has a wrong value."""


class ResourceError(ManuscriptError):
    """A file the manuscript refers to (an image, a cover) is missing or unusable."""


class OptionError(PublisherError):
    """An unknown or invalid build option."""

    exit_code = 2


class ToolError(PublisherError):
    """An external tool (Java, EPUBCheck, poppler) is missing or failed to run."""

    exit_code = 3


class CheckFailed(PublisherError):
    """Validation found errors or warnings in the built outputs."""

    exit_code = 4


class InternalError(PublisherError):
    """A bug of publisher's own, still reported as one line."""

    exit_code = 70

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{where}internal error: {self.message} ({self.hint or 'please report it'})"
