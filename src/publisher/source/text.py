"""Reading the user's text files: strict UTF-8, BOM and CRLF accepted, characters
that XML forbids removed with a warning naming the line (a `Diagnostic` added to
the list the caller passes)."""

from __future__ import annotations

import re
from pathlib import Path

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location, ManuscriptError

# Characters XML 1.0 forbids or discourages, which markdown-it passes through and
# which make an XHTML document invalid: C0 controls but tab and line feed, DEL and
# C1 controls, lone surrogates, and the non-characters.
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    "\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff\U0004fffe\U0004ffff"
    "\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff"
    "\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff\U000cfffe\U000cffff"
    "\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe\U000fffff\U0010fffe\U0010ffff]"
)


def decode(data: bytes, path: Path, found: list[Diagnostic]) -> str:
    """UTF-8 bytes to text with `\\n` line ends; invalid UTF-8 is an error."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManuscriptError(
            f"invalid UTF-8 at byte {exc.start}",
            where=Location(path, line),
            hint="save the file as UTF-8",
        ) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return clean(text, path, found)


def clean(text: str, path: Path, found: list[Diagnostic], first_line: int = 1) -> str:
    """Remove forbidden characters, warning once per line that held any."""
    if not FORBIDDEN.search(text):
        return text
    seen: set[int] = set()
    for match in FORBIDDEN.finditer(text):
        line = text.count("\n", 0, match.start()) + first_line
        if line not in seen:
            seen.add(line)
            code_point = f"U+{ord(match.group()):04X}"
            found.append(
                Diagnostic(
                    "T01",
                    WARNING,
                    Location(path, line),
                    f"removed control character {code_point}",
                    hint="not allowed in EPUB or PDF text",
                    subject=code_point,
                )
            )
    return FORBIDDEN.sub("", text)


def read_text(path: Path, found: list[Diagnostic]) -> str:
    if path.exists() and not path.is_dir() and not path.is_file():
        # A pipe or a device would block or never end.
        raise ManuscriptError(
            "is not a regular file", where=Location(path), hint="give a Markdown file or a folder"
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ManuscriptError("file not found", where=Location(path)) from None
    except IsADirectoryError:
        raise ManuscriptError("is a folder, not a file", where=Location(path)) from None
    except OSError as exc:
        raise ManuscriptError(f"cannot read: {exc.strerror}", where=Location(path)) from None
    return decode(data, path, found)
