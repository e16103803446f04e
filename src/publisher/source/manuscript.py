"""Reading a manuscript from disk: a Markdown file, or a folder of them with an
optional `book.yaml`. The only module here that reads the user's Markdown files."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from publisher.diagnostics import WARNING, Diagnostic, carry
from publisher.errors import Location, ManuscriptError, MetadataError, PublisherError
from publisher.model import Manuscript, SourceFile
from publisher.source import fence
from publisher.source.bibliography import read_bibliography
from publisher.source.metadata import (
    bounded,
    build_meta,
    parse_yaml,
    shown_value,
    split_front_matter,
)
from publisher.source.text import decode, read_text

MARKDOWN_SUFFIXES = (".md", ".markdown")
BOOK_FILE = "book.yaml"


def load(path: Path) -> Manuscript:
    """The manuscript with what reading it found (`diagnostics`); an error raised
    carries those found before it."""
    if not path.exists():
        raise ManuscriptError(
            "manuscript not found",
            where=Location(path),
            hint="pass --manuscript a Markdown file or a folder of them",
        )
    if path.is_file() and path.name == BOOK_FILE:
        path = path.parent  # the book file stands for its folder
    elif path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        raise ManuscriptError(
            "a YAML file is not a manuscript",
            where=Location(path),
            hint=f"pass a Markdown file, or the folder whose {BOOK_FILE} lists the chapters",
        )
    found: list[Diagnostic] = []
    try:
        manuscript = _load_folder(path, found) if path.is_dir() else _load_file(path, found)
        bibliography = read_bibliography(manuscript.meta, found)
    except PublisherError as error:
        carry(error, found)
        raise
    return replace(manuscript, diagnostics=tuple(found), bibliography=bibliography)


def _load_file(path: Path, found: list[Diagnostic]) -> Manuscript:
    text = read_text(path, found)
    front = split_front_matter(text, path, found)
    root = path.parent.resolve()
    meta = build_meta(front.data, front.lines, path, found, root=root)
    return Manuscript(meta, (SourceFile(path, front.body),), root)


def _read(path: Path, real: Path, found: list[Diagnostic], what: str, where: Location) -> str:
    """A located file's text; `path` is the file as the manuscript names it."""
    data = fence.read_bytes(real)
    if isinstance(data, fence.Refused):
        raise fence.refusal(what, path.name, data, where)
    return decode(data, path, found)


def _load_folder(folder: Path, found: list[Diagnostic]) -> Manuscript:
    root = folder.resolve()
    book_file = folder / BOOK_FILE
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    has_book_file = os.path.lexists(book_file)
    if has_book_file:
        # Through the fence like every file: a book.yaml that is a link to a file
        # outside the folder (or to /proc/self/environ) is refused, not read.
        real = fence.locate(root, folder, BOOK_FILE)
        if isinstance(real, fence.Refused):
            raise fence.refusal("metadata file", BOOK_FILE, real, Location(book_file))
        text = _read(book_file, real, found, "metadata file", Location(book_file))
        data, lines = parse_yaml(text, book_file, found=found)
    chapter_list = data.pop("chapters", None)
    if chapter_list is None:
        entries: list[tuple[Path, Path, str | None]] = [
            (path, real, None) for path, real in _found_chapters(folder, root, found)
        ]
        if not entries:
            raise ManuscriptError(
                "no Markdown files (.md) in the manuscript folder",
                where=Location(folder),
                hint="add chapter files or list them under 'chapters:' in book.yaml",
            )
    else:
        where = Location(book_file, lines.get("chapters"))
        entries = _chapter_files(chapter_list, folder, root, where, lines)
        listed = {real for _, real, _ in entries}
        for path, real in _found_chapters(folder, root, []):
            if real not in listed:
                # A chapter the list forgot would vanish from the book without a word.
                found.append(
                    Diagnostic(
                        "M09",
                        WARNING,
                        Location(path),
                        f"not in {BOOK_FILE}'s chapters: left out of the book",
                        "list it under 'chapters:', or move it out of the manuscript folder",
                        subject=path.name,
                    )
                )

    sources = []
    meta_source = book_file if has_book_file else entries[0][0]
    for n, (file, real, part) in enumerate(entries):
        front = split_front_matter(_read(file, real, found, "chapter", Location(file)), file, found)
        if front.data:
            if data or n:
                raise MetadataError(
                    "metadata given in more than one place",
                    where=Location(file, 1),
                    hint=f"keep it in {BOOK_FILE} or in the first chapter's front matter",
                )
            data, lines, meta_source = front.data, front.lines, file
        sources.append(SourceFile(file, front.body, part))
    meta = build_meta(data, lines, meta_source, found, root=root)
    return Manuscript(meta, tuple(sources), root)


def _found_chapters(folder: Path, root: Path, found: list[Diagnostic]) -> list[tuple[Path, Path]]:
    """The Markdown files in the folder, in natural order, each through the fence:
    (the file as found, the file it is). One the fence stops is skipped with a
    warning; a folder named like a chapter, or a link to nothing, is no chapter."""
    out = []
    for path in sorted(folder.iterdir(), key=_natural_key):
        if path.suffix.lower() not in MARKDOWN_SUFFIXES:
            continue
        real = fence.locate(root, folder, path.name)
        if isinstance(real, fence.Refused):
            if real.kind in (fence.FOLDER, fence.MISSING):
                continue
            if real.kind == fence.OUTSIDE:
                # The fence: a link pointing out of the folder is not followed.
                message = "chapter skipped: it links outside the manuscript folder"
                hint = ""
            else:
                message, hint = f"chapter skipped: it {real.why}", real.hint
            found.append(Diagnostic("M08", WARNING, Location(path), message, hint=hint))
            continue
        out.append((path, real))
    return out


def _chapter_files(
    value: Any, folder: Path, root: Path, where: Location, lines: dict[str, int] | None = None
) -> list[tuple[Path, Path, str | None]]:
    """`chapters:` in book.yaml: file names, or `{part: Title, chapters: [...]}`. A
    message about one entry points at its own line (`lines`, from parse_yaml)."""
    chapters_where = where
    if not isinstance(value, list) or not value:
        raise MetadataError("'chapters' must be a list of Markdown files", where=where)
    out: list[tuple[Path, Path, str | None]] = []
    for item in value:
        if isinstance(item, dict) and set(item) == {"part", "chapters"}:
            files = _chapter_files(item["chapters"], folder, root, chapters_where, lines)
            part = item["part"]
            # a title is text (or a number): null, a list or a mapping is none
            part = "" if part is None or isinstance(part, bool | list | dict) else str(part)
            title = bounded("part", " ".join(part.split()), where)
            if not title:
                raise MetadataError("a part needs a title", where=where)
            out.append((files[0][0], files[0][1], title))
            out += files[1:]
            continue
        line = (lines or {}).get(f"chapters:{item}") if isinstance(item, str) else None
        where = Location(chapters_where.path, line) if line else chapters_where
        if not isinstance(item, str):
            raise MetadataError(
                f"chapter entry {shown_value(item)} is not a file name",
                where=where,
                hint="list file names, or {part: Title, chapters: [files]}",
            )
        real = fence.locate(root, folder, item)
        if isinstance(real, fence.Refused):
            name = fence.shown(item)
            if real.kind == fence.OUTSIDE:
                raise ManuscriptError(
                    f"chapter '{name}' is outside the manuscript folder", where=where
                )
            if real.kind == fence.MISSING:
                raise ManuscriptError(
                    f"chapter '{name}' not found",
                    where=where,
                    hint="check the name under 'chapters:'",
                )
            raise fence.refusal("chapter", item, real, where)
        if any(real == seen for _, seen, _ in out):
            raise MetadataError(f"chapter '{fence.shown(item)}' is listed twice", where=where)
        out.append((real, real, None))
    return out


def _natural_key(path: Path) -> list[Any]:
    """'chapter-2' before 'chapter-10'."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", path.name)]
