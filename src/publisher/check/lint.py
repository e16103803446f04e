"""The manuscript linter: problems an author can fix in the Markdown, found before
anything is built, each as `file:line: CODE severity: message (how to fix)`.

Headings, notes, leftover straight quotes and hyphens are read from the tokens of
the same parser the build uses. Links and images are not judged here a second
time: the book is rendered as the build renders it, and the diagnostics reading
and rendering return (a link removed, an image dropped, a control character) become
findings by their codes and fields, never by their wording. Nothing is written; the
manuscript is only read."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from publisher.diagnostics import Diagnostic, carry
from publisher.errors import Location, PublisherError, ResourceError
from publisher.ids import IdPool, reserved
from publisher.model import Manuscript, RenderedBook, Resource, SourceFile
from publisher.render.book import render_book
from publisher.render.losses import NOTE_CALL
from publisher.render.markdown import ParseEnv, make_parser, parse, plain_text, quotes_for
from publisher.render.math import MATH_TOKENS
from publisher.source.manuscript import load
from publisher.source.resources import Locator
from publisher.xhtml import parse_body

ERROR, WARNING = "error", "warning"

# code -> (name, severity). Codes are stable: never renumbered, never reused.
CODES: dict[str, tuple[str, str]] = {
    "MS001": ("heading-skip", WARNING),
    "MS002": ("empty-chapter", WARNING),
    "MS003": ("duplicate-id", ERROR),
    "MS004": ("image-no-alt", ERROR),
    "MS005": ("straight-quote", WARNING),
    "MS006": ("hyphens", WARNING),
    "MS007": ("note-undefined", ERROR),
    "MS008": ("note-unused", WARNING),
    "MS009": ("link-unresolved", ERROR),
    "MS010": ("image-fenced", ERROR),
    "MS011": ("image-invalid", ERROR),
    "MS012": ("control-character", WARNING),
}


@dataclass(frozen=True)
class LintFinding:
    path: Path
    line: int | None
    code: str
    message: str

    @property
    def name(self) -> str:
        return CODES[self.code][0]

    @property
    def severity(self) -> str:
        return CODES[self.code][1]

    @property
    def where(self) -> str:
        return str(Location(self.path, self.line))

    def __str__(self) -> str:
        return f"{self.where}: {self.code} {self.severity}: {self.message}"


def lint_manuscript(path: Path, others: list[Diagnostic] | None = None) -> list[LintFinding]:
    """Every finding for the manuscript at `path`, in book order, then by line.
    A manuscript that cannot be read at all raises its `PublisherError`. `others`
    receives the diagnostics that are not the linter's to judge (a chapter skipped,
    raw HTML removed), for the caller to show as a build shows them."""
    manuscript = load(path)
    files = _parse_files(manuscript)
    try:
        book = render_book(manuscript, _Locate(Locator(manuscript.root)))
    except PublisherError as error:
        carry(error, manuscript.diagnostics)
        raise
    found = _Found()
    for diagnostic in (*manuscript.diagnostics, *book.diagnostics):
        if not found.take(diagnostic) and others is not None:
            others.append(diagnostic)
    findings: list[LintFinding] = []
    for file in files:
        findings += _headings(file, manuscript)
        findings += _duplicates(file)
        findings += file.leftovers
        findings += _notes(file)
        findings += _alt_texts(file)
        findings += found.links_and_images(file)
    findings += found.unplaced()
    findings += found.control
    findings += _empty_chapters(book, files)
    order = {s.path.resolve(): n for n, s in enumerate(manuscript.sources)}
    return sorted(
        set(findings),
        key=lambda f: (
            order.get(f.path.resolve(), len(order)),
            str(f.path),
            f.line or 0,
            f.code,
            f.message,
        ),
    )


def summary(findings: Sequence[LintFinding]) -> str:
    errors = sum(1 for f in findings if f.severity == ERROR)
    warnings = len(findings) - errors
    verdict = "FAILED" if errors else "passed"
    return f"lint {verdict}: {errors} error(s), {warnings} warning(s)"


# --- parsing -------------------------------------------------------------------------


@dataclass
class _File:
    source: SourceFile
    tokens: list[Token]
    env: ParseEnv
    holder: dict[str, Any]
    leftovers: list[LintFinding] = field(default_factory=list)


def _parse_files(manuscript: Manuscript) -> list[_File]:
    """Each file parsed as render_book parses it (same parser, same id pool, same
    order), so that ids and duplicates are the book's own."""
    lang = manuscript.meta.lang
    md = _lint_parser(lang)
    used_ids = IdPool()
    files = []
    for source in manuscript.sources:
        env = ParseEnv(used_ids)
        tokens, holder = parse(md, source.text, env)
        file = _File(source, tokens, env, holder)
        for kind, line, text in holder.get("lint", []):
            file.leftovers.append(_leftover(source.path, line, kind, text, lang))
        files.append(file)
    return files


def _lint_parser(lang: str) -> MarkdownIt:
    """The build's parser, plus two rules that only take notes: where each note is
    defined (the footnote plugin drops unused definitions), and what smart
    typography left in the text. The latter runs before `text_join`, while escaped
    characters (`\\"`, `\\-`) are still tokens of their own: an author who escapes a
    quote means it to stay straight."""
    md = make_parser(lang)
    md.core.ruler.before("footnote_tail", "lint_note_definitions", _note_definitions)
    rules = md.core.ruler.get_active_rules()
    typography = [name for name in ("smartquotes", "punctuation") if name in rules]
    last = max(typography, key=rules.index) if typography else "inline"
    md.core.ruler.after(last, "lint_leftovers", _leftovers)
    md.core.ruler.before("checked_attributes", "lint_span_ids", _span_ids)
    return md


def _span_ids(state: StateCore) -> None:
    """`{#id}` written on inline elements, in the order `checked_attributes` takes
    them, with their lines (inline tokens have none of their own)."""
    found: list[tuple[str, int | None]] = state.env.setdefault("lint_span_ids", [])
    for token, line in inline_lines(state.tokens):
        ident = token.attrs.get("id") if token.attrs else None
        if ident is not None:
            found.append((str(ident), line))


def _note_definitions(state: StateCore) -> None:
    lines: dict[str, int | None] = state.env.setdefault("lint_definitions", {})
    for token in state.tokens:
        if token.type == "footnote_reference_open":
            lines.setdefault(token.meta["label"], token.map[0] + 1 if token.map else None)


# Patterns over the author's text (never over messages); `re` caches them compiled.
_QUOTES = "[\"']"
_HYPHENS = r"-{2,}"


def _leftovers(state: StateCore) -> None:
    found: list[tuple[str, int | None, str]] = state.env.setdefault("lint", [])
    for token, line in inline_lines(state.tokens):
        if token.type != "text":
            continue
        text = token.content
        for match in re.finditer(_QUOTES, text):
            found.append((f"quote{match.group()}", line, _excerpt(text, match)))
        for match in re.finditer(_HYPHENS, text):
            found.append(("hyphens", line, match.group()))
        for match in NOTE_CALL.finditer(text):
            found.append(("note", line, match.group(1)))


def _excerpt(text: str, match: re.Match[str], width: int = 12) -> str:
    """Some words either side of the match."""
    start, end = max(0, match.start() - width), min(len(text), match.end() + width)
    while start > 0 and not text[start - 1].isspace() and match.start() - start < 2 * width:
        start -= 1
    while end < len(text) and not text[end].isspace() and end - match.end() < 2 * width:
        end += 1
    words = " ".join(text[start:end].split())
    return ("…" if start > 0 else "") + words + ("…" if end < len(text) else "")


def _leftover(path: Path, line: int | None, kind: str, text: str, lang: str) -> LintFinding:
    if kind.startswith("quote"):
        mark = kind[-1]
        marks = [m.strip() for m in quotes_for(lang)]
        if mark == "'":
            fix = f"type ’ for an apostrophe or {marks[2]} {marks[3]} as quotes yourself"
        else:
            fix = f"type {marks[0]} or {marks[1]} yourself"
        return LintFinding(
            path,
            line,
            "MS005",
            f"straight {mark} left in “{text}” (smart quotes found no partner for it: "
            f"{fix}, or write \\{mark} to keep it straight)",
        )
    if kind == "hyphens":
        return LintFinding(
            path,
            line,
            "MS006",
            f"hyphens '{text}' left in the text (only -- and --- become – and —: "
            "type the dash you mean, or escape the hyphens as \\-)",
        )
    return LintFinding(
        path,
        line,
        "MS007",
        f"note [^{text}] has no definition in this file, so it is printed as it stands "
        f"(add a line '[^{text}]: the note's text' to this file)",
    )


def inline_lines(tokens: Sequence[Token]) -> Iterator[tuple[Token, int | None]]:
    """Every inline token (image descriptions included) with the 1-based line it
    is on: the block's first line plus the line breaks before it. Notes written
    inline (`^[...]`) have no lines of their own; they take their call's line."""
    calls: dict[int, int | None] = {}
    for block in tokens:
        for token, line in _children(block, _block_line(block, None)):
            if token.type == "footnote_ref":
                calls.setdefault(token.meta["id"], line)
    fallback: int | None = None
    for block in tokens:
        if block.type == "footnote_open":
            fallback = calls.get(block.meta["id"])
        yield from _children(block, _block_line(block, fallback))


def _block_line(block: Token, fallback: int | None) -> int | None:
    return block.map[0] + 1 if block.map else fallback


def _children(block: Token, line: int | None) -> Iterator[tuple[Token, int | None]]:
    for token in block.children or ():
        yield token, line
        for inner in token.children or ():  # an image's description
            yield inner, line
        if token.type in ("softbreak", "hardbreak") and line is not None:
            line += 1
        elif token.type in MATH_TOKENS and line is not None:  # a formula over lines
            line += token.content.count("\n")


# --- checks on the tokens -------------------------------------------------------------


def _note_start(file: _File) -> int:
    return next(
        (i for i, t in enumerate(file.tokens) if t.type == "footnote_block_open"),
        len(file.tokens),
    )


def _headings(file: _File, manuscript: Manuscript) -> list[LintFinding]:
    """A heading more than one level below the one before it. A file starts below
    the book's title (level 1); with `split-level: N`, level N is a chapter's
    title, so a file may open at N - 1 (a part) or N."""
    split = manuscript.meta.split_level
    previous = max(1, split - 1) if split else 1
    out = []
    end = _note_start(file)
    for heading in file.env.headings:
        if heading.index >= end:  # a heading inside a note
            continue
        if heading.level > previous + 1:
            wanted = previous + 1
            out.append(
                LintFinding(
                    file.source.path,
                    _token_line(file.tokens[heading.index]),
                    "MS001",
                    f"heading '{heading.text}' is level {heading.level} after level "
                    f"{previous}, skipping level {wanted} (make it {'#' * wanted}, "
                    f"or add the missing level above it)",
                )
            )
        previous = heading.level
    return out


def _token_line(token: Token) -> int | None:
    return token.map[0] + 1 if token.map else None


def _duplicates(file: _File) -> list[LintFinding]:
    # A duplicate on an inline element comes without a line. Of the elements that
    # carry the same id in this file, the renamed ones are the last (headings take
    # their ids first, then inline elements in order).
    unplaced = Counter(ident for ident, line in file.env.duplicates if line is None)
    span_lines: dict[str, list[int | None]] = {}
    for ident, line in file.holder.get("lint_span_ids", []):
        span_lines.setdefault(ident, []).append(line)
    pending: dict[str, list[int | None]] = {
        ident: ([None] * count + span_lines.get(ident, []))[-count:]
        for ident, count in unplaced.items()
    }
    out = []
    for ident, written_line in file.env.duplicates:
        line = written_line if written_line is not None else pending[ident].pop(0)
        if reserved(ident):
            why = f"id '{ident}' is one publisher makes itself, so this one is renamed"
        else:
            why = f"id '{ident}' is already used in the book, so this one is renamed"
            why += f" and links to #{ident} do not reach it"
        out.append(
            LintFinding(file.source.path, line, "MS003", f"{why} (give it an id of its own)")
        )
    return out


def _notes(file: _File) -> list[LintFinding]:
    """Definitions never called. (Calls with no definition are left in the text as
    `[^x]` by the footnote plugin; _leftovers finds them.)"""
    refs: dict[str, int] = file.holder.get("footnotes", {}).get("refs", {})
    lines: dict[str, int | None] = file.holder.get("lint_definitions", {})
    out = []
    for key, note_id in refs.items():
        label = key[1:]  # the plugin keys labels as ":label"
        if note_id < 0:
            out.append(
                LintFinding(
                    file.source.path,
                    lines.get(label),
                    "MS008",
                    f"note [^{label}] is defined but never called, so it is left out "
                    f"(call it with [^{label}] in the text of this file, or delete it)",
                )
            )
    return out


def _alt_texts(file: _File) -> list[LintFinding]:
    out = []
    for token, line in inline_lines(file.tokens):
        if token.type == "image" and not plain_text(token.children or []):
            src = str(token.attrGet("src") or "")
            out.append(
                LintFinding(
                    file.source.path,
                    line,
                    "MS004",
                    f"image '{src}' has no alt text, so readers who cannot see it get nothing "
                    f"(describe it between the brackets: ![what it shows]({src}))",
                )
            )
    return out


def _references(file: _File, kind: str, attr: str) -> Iterator[tuple[str, int | None]]:
    for token, line in inline_lines(file.tokens):
        if token.type == kind:
            yield str(token.attrGet(attr) or ""), line


# --- what reading and rendering report -----------------------------------------------

LINK_REMOVED = ("T02", "T03", "T04", "T05")  # docs/errors.md: the build removes the link
IMAGE_FENCED = ("I01", "I02")  # the fence drops the image
CONTROL_CHARACTER = "T01"
NOTE_UNDEFINED = "T08"  # the build's warning for what MS007 finds here
ID_RENAMED = "T11"
IMAGE_INVALID = "MS011"  # made here, by _Locate


class _Locate:
    """The build's Locator, but a missing or broken image is noted and dropped
    instead of ending the run, so that every image problem is found at once."""

    def __init__(self, locator: Locator) -> None:
        self.locator = locator

    def __call__(self, source: Path, src: str, line: int | None) -> Resource | Diagnostic:
        try:
            return self.locator(source, src, line)
        except ResourceError as error:
            where = error.where or Location(source, line)
            return Diagnostic(IMAGE_INVALID, "error", where, error.message, error.hint, subject=src)


Key = tuple[Path, str]  # (the file, the reference as written)


@dataclass
class _Found:
    """The diagnostics of reading and rendering, as findings.

    Whether a link or an image gets through depends only on the file and what is
    written, not on where: each problem is reported at every place it is written,
    with the exact line found in the tokens."""

    links: dict[Key, Diagnostic] = field(default_factory=dict)
    images: dict[Key, Diagnostic] = field(default_factory=dict)
    invalid: dict[Key, Diagnostic] = field(default_factory=dict)
    control: list[LintFinding] = field(default_factory=list)
    placed: set[tuple[str, Path, str]] = field(default_factory=set)

    def take(self, diagnostic: Diagnostic) -> bool:
        """Whether the diagnostic is the linter's to report."""
        where = diagnostic.where
        if where is None:
            return False
        key = (where.path.resolve(), diagnostic.subject)
        if diagnostic.code in LINK_REMOVED:
            self.links.setdefault(key, diagnostic)
        elif diagnostic.code in IMAGE_FENCED:
            self.images.setdefault(key, diagnostic)
        elif diagnostic.code == IMAGE_INVALID:
            self.invalid.setdefault(key, diagnostic)
        elif diagnostic.code == CONTROL_CHARACTER:
            self.control.append(_control_finding(where, diagnostic.subject))
        elif diagnostic.code == NOTE_UNDEFINED:
            pass  # the linter's own MS007 reports it, as an error
        elif diagnostic.code == ID_RENAMED:
            pass  # MS003 reports it, from the tokens
        else:
            return False
        return True

    def links_and_images(self, file: _File) -> list[LintFinding]:
        path = file.source.path
        out = []
        for href, line in _references(file, "link_open", "href"):
            key = (path.resolve(), href)
            if key in self.links:
                self.placed.add(("link", *key))
                out.append(_link_finding(path, line, self.links[key]))
        for src, line in _references(file, "image", "src"):
            key = (path.resolve(), src)
            if key in self.images:
                self.placed.add(("image", *key))
                out.append(_fenced_finding(path, line, self.images[key]))
            if key in self.invalid:
                self.placed.add(("invalid", *key))
                out.append(_invalid_finding(path, line, self.invalid[key]))
        return out

    def unplaced(self) -> list[LintFinding]:
        """Problems reported for a reference the tokens do not show (not expected)."""
        out = []
        for kind, found, finding in (
            ("link", self.links, _link_finding),
            ("image", self.images, _fenced_finding),
            ("invalid", self.invalid, _invalid_finding),
        ):
            for (path, ref), diagnostic in found.items():
                if (kind, path, ref) not in self.placed:
                    where = diagnostic.where or Location(path)
                    out.append(finding(where.path, where.line, diagnostic))
        return out


def _link_finding(path: Path, line: int | None, removed: Diagnostic) -> LintFinding:
    return LintFinding(
        path,
        line,
        "MS009",
        f"link '{removed.subject}' goes nowhere: {removed.reason}; the book keeps its text only "
        "(point it at a heading's id, a chapter file, or a web address)",
    )


def _fenced_finding(path: Path, line: int | None, dropped: Diagnostic) -> LintFinding:
    return LintFinding(
        path,
        line,
        "MS010",
        f"image '{dropped.subject}' is dropped: {dropped.reason}; the book keeps its alt text "
        "only (copy the file into the manuscript folder and give its relative path)",
    )


def _invalid_finding(path: Path, line: int | None, invalid: Diagnostic) -> LintFinding:
    hint = f" ({invalid.hint})" if invalid.hint else ""
    return LintFinding(path, line, "MS011", f"{invalid.message}{hint}")


def _control_finding(where: Location, code_point: str) -> LintFinding:
    return LintFinding(
        where.path,
        where.line,
        "MS012",
        f"removed control character {code_point} (not allowed in EPUB or PDF text; delete it)",
    )


# --- checks on the rendered book ----------------------------------------------------------

_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def _empty_chapters(book: RenderedBook, files: list[_File]) -> list[LintFinding]:
    """A chapter with a title and nothing but headings. Part pages are meant to be
    a title alone."""
    lines: dict[str, int | None] = {}
    for file in files:
        for heading in file.env.headings:
            lines[heading.ident] = _token_line(file.tokens[heading.index])
    out = []
    for chapter in book.chapters:
        if chapter.kind == "part" or not chapter.title or chapter.source is None:
            continue
        section = parse_body(chapter.body)[0]
        if _has_content(section):
            continue
        label = section.get("aria-labelledby")
        out.append(
            LintFinding(
                chapter.source,
                lines.get(label) if label else None,
                "MS002",
                f"chapter '{chapter.title}' is empty: nothing follows its heading "
                "(write its text, or remove the heading)",
            )
        )
    return out


def _has_content(element: etree._Element) -> bool:
    """Text or elements other than headings (and an article's title header)."""
    if (element.text or "").strip():
        return True
    for child in element:
        name = etree.QName(child).localname
        is_header = name == "header" and "article-head" in (child.get("class") or "")
        if name not in _HEADINGS and not is_header:
            return True
        if (child.tail or "").strip():
            return True
    return False
