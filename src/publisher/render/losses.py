"""What the Markdown parser turns into something the author did not mean, without a
word: a code fence never closed (the rest of the file becomes code, headings
included), a note call with no note, a reference link or image with no definition
(printed as brackets), a heading inside a raw HTML block (printed as text). Each is
a warning with the file and line, found in the parsed tokens of one file."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from markdown_it.token import Token

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location

# A note call left as text: its note is not in the file (the linter reads it too).
NOTE_CALL = re.compile(r"\[\^([^\]\s]+)\]")
# `[text][label]`, `[label][]`, `![alt][label]` left as text: the label is undefined.
_REFERENCE = re.compile(r"(!?)\[([^\[\]\n]+)\]\[([^\[\]\n]*)\]")
_HEADING_LINE = re.compile(r"^ {0,3}(#{1,6})[ \t]+\S")
_QUOTE_PREFIX = re.compile(r"^(?: {0,3}> ?)*")


def silent_losses(tokens: Sequence[Token], text: str, source: Path) -> list[Diagnostic]:
    """The warnings for one file's block tokens (`text`: the file's text, line numbers
    as in the file)."""
    lines = text.split("\n")
    found: list[Diagnostic] = []
    for token in tokens:
        if token.type == "fence" and token.map and _unclosed(token, lines):
            swallowed = [
                n for n, line in enumerate(token.content.split("\n")) if _HEADING_LINE.match(line)
            ]
            what = f", {len(swallowed)} heading(s) among it" if swallowed else ""
            found.append(
                Diagnostic(
                    "T07",
                    WARNING,
                    Location(source, token.map[0] + 1),
                    f"code fence {token.markup} is never closed: the rest of the "
                    f"{'block' if token.level else 'file'} is set as code{what}",
                    f"close it with a line of {token.markup}",
                    subject=token.markup,
                )
            )
        elif token.type == "html_block" and token.map:
            for offset, row in enumerate(token.content.split("\n")):
                if _HEADING_LINE.match(row):
                    found.append(
                        Diagnostic(
                            "T10",
                            WARNING,
                            Location(source, token.map[0] + offset + 1),
                            f"heading inside a raw HTML block is set as text: '{row.strip()[:60]}'",
                            "leave a blank line between the HTML and the heading",
                            subject=row.strip(),
                        )
                    )
    for line, content in _texts(tokens):
        for match in NOTE_CALL.finditer(content):
            label = match.group(1)
            found.append(
                Diagnostic(
                    "T08",
                    WARNING,
                    Location(source, line),
                    f"note [^{label}] has no text: it is printed as written",
                    f"add a line '[^{label}]: the note's text' to this file",
                    subject=label,
                )
            )
        for match in _REFERENCE.finditer(content):
            image, label = match.group(1), match.group(3) or match.group(2)
            if label.startswith("^"):
                continue  # a note call, reported above
            kind = "image" if image else "link"
            found.append(
                Diagnostic(
                    "T09",
                    WARNING,
                    Location(source, line),
                    f"{kind} reference [{label}] has no definition: it is printed as written",
                    f"add a line '[{label}]: target' to this file",
                    subject=label,
                )
            )
    return sorted(found, key=lambda d: d.where.line or 0 if d.where else 0)


def _unclosed(token: Token, lines: list[str]) -> bool:
    """Whether the fence ran to the end of its file (or container) without its closing
    line: the block's last line is not a run of its marker."""
    assert token.map is not None
    last = lines[token.map[1] - 1] if 0 < token.map[1] <= len(lines) else ""
    stripped = _QUOTE_PREFIX.sub("", last).strip()
    marker = token.markup[:1]
    return token.map[1] - token.map[0] < 2 or not (
        stripped.startswith(token.markup) and set(stripped) == {marker}
    )


def _texts(tokens: Sequence[Token]) -> Iterator[tuple[int | None, str]]:
    """Each text run of the inline tokens, with its 1-based line."""
    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        line = block.map[0] + 1 if block.map else None
        for child in block.children:
            if child.type in ("softbreak", "hardbreak") and line is not None:
                line += 1
            elif child.type == "text":
                yield line, child.content
