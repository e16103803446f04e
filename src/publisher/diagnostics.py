"""Diagnostics as values: what a stage found that lets the build go on (a link
removed, an image dropped, a control character taken out).

Each stage returns its diagnostics with its value (`Manuscript.diagnostics`,
`RenderedBook.diagnostics`, the PDF job's), and `build.BuildResult` carries all of
a build's. Consumers read the fields, never the text: the linter turns them into
its own findings by `code`, `where` and `subject`. `str()` gives the one line
users see, in the same form as an error (`errors.one_line`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from publisher.errors import Location, PublisherError, one_line

Severity = Literal["error", "warning", "note"]
ERROR: Severity = "error"
WARNING: Severity = "warning"
NOTE: Severity = "note"


@dataclass(frozen=True)
class Diagnostic:
    code: str  # the entry in docs/errors.md ("T05", "I01"): stable, never reused
    severity: Severity
    where: Location | None
    message: str
    hint: str = ""
    # What it is about, as the author wrote it (a link's href, an image's src, a
    # character's U+ code), and why alone: for consumers that word it their own way.
    subject: str = ""
    reason: str = ""

    def __str__(self) -> str:
        return one_line(self.where, self.severity, self.message, self.hint)

    def as_dict(self) -> dict[str, Any]:
        """For JSON (the preview's /state): the fields, the location split."""
        return {
            "code": self.code,
            "severity": self.severity,
            "file": str(Location(self.where.path)) if self.where else None,  # as shown
            "line": self.where.line if self.where else None,
            "message": self.message,
            "hint": self.hint,
            "text": str(self),
        }


def carry(error: PublisherError, found: Iterable[Diagnostic]) -> None:
    """Gives `error` the diagnostics found before it (ahead of any it has), for the
    caller to print before the error: a failed stage returns no value to hold them."""
    error.diagnostics = (*found, *error.diagnostics)
