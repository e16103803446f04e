"""Reading a manuscript from disk: a Markdown file, or a folder of them with an
optional `book.yaml`. The only module here that reads the user's Markdown files."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from publisher.diagnostics import WARNING, Diagnostic, carry
from publisher.errors import Location, ManuscriptError, MetadataError, PublisherError
from publisher.model import Manuscript, SourceFile
from publisher.source.metadata import build_meta, parse_yaml, split_front_matter
from publisher.source.text import read_text

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
    found: list[Diagnostic] = []
    try:
        manuscript = _load_folder(path, found) if path.is_dir() else _load_file(path, found)
    except PublisherError as error:
        carry(error, found)
        raise
    return replace(manuscript, diagnostics=tuple(found))


def _load_file(path: Path, found: list[Diagnostic]) -> Manuscript:
    text = read_text(path, found)
    front = split_front_matter(text, path)
    meta = build_meta(front.data, front.lines, path, found)
    return Manuscript(meta, (SourceFile(path, front.body),), path.parent.resolve())


def _load_folder(folder: Path, found: list[Diagnostic]) -> Manuscript:
    book_file = folder / BOOK_FILE
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    if book_file.is_file():
        data, lines = parse_yaml(read_text(book_file, found), book_file)
    chapter_list = data.pop("chapters", None)
    if chapter_list is None:
        root = folder.resolve()
        files = []
        for path in sorted(folder.iterdir(), key=_natural_key):
            if path.suffix.lower() not in MARKDOWN_SUFFIXES or not path.is_file():
                continue
            if not path.resolve().is_relative_to(root):
                # The fence: a link pointing out of the folder is not followed.
                found.append(
                    Diagnostic(
                        "M08",
                        WARNING,
                        Location(path),
                        "chapter skipped: it links outside the manuscript folder",
                    )
                )
                continue
            files.append(path)
        if not files:
            raise ManuscriptError(
                "no Markdown files (.md) in the manuscript folder",
                where=Location(folder),
                hint="add chapter files or list them under 'chapters:' in book.yaml",
            )
        entries: list[tuple[Path, str | None]] = [(f, None) for f in files]
    else:
        entries = _chapter_files(chapter_list, folder, Location(book_file, lines.get("chapters")))
        listed = {file.resolve() for file, _ in entries}
        for path in sorted(folder.iterdir(), key=_natural_key):
            if path.suffix.lower() in MARKDOWN_SUFFIXES and path.resolve() not in listed:
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
    meta_source = book_file if book_file.is_file() else entries[0][0]
    for n, (file, part) in enumerate(entries):
        front = split_front_matter(read_text(file, found), file)
        if front.data:
            if data or n:
                raise MetadataError(
                    "metadata given in more than one place",
                    where=Location(file, 1),
                    hint=f"keep it in {BOOK_FILE} or in the first chapter's front matter",
                )
            data, lines, meta_source = front.data, front.lines, file
        sources.append(SourceFile(file, front.body, part))
    meta = build_meta(data, lines, meta_source, found)
    return Manuscript(meta, tuple(sources), folder.resolve())


def _chapter_files(value: Any, folder: Path, where: Location) -> list[tuple[Path, str | None]]:
    """`chapters:` in book.yaml: file names, or `{part: Title, chapters: [...]}`."""
    if not isinstance(value, list) or not value:
        raise MetadataError("'chapters' must be a list of Markdown files", where=where)
    root = folder.resolve()
    out: list[tuple[Path, str | None]] = []
    for item in value:
        if isinstance(item, dict) and set(item) == {"part", "chapters"}:
            files = _chapter_files(item["chapters"], folder, where)
            title = " ".join(str(item["part"]).split())
            if not title:
                raise MetadataError("a part needs a title", where=where)
            out.append((files[0][0], title))
            out += files[1:]
            continue
        if not isinstance(item, str):
            raise MetadataError(
                f"chapter entry {item!r} is not a file name",
                where=where,
                hint="list file names, or {part: Title, chapters: [files]}",
            )
        file = (folder / item).resolve()
        if not file.is_relative_to(root):
            raise ManuscriptError(f"chapter '{item}' is outside the manuscript folder", where=where)
        if not file.is_file():
            raise ManuscriptError(
                f"chapter '{item}' not found", where=where, hint="check the name under 'chapters:'"
            )
        if any(file == seen for seen, _ in out):
            raise MetadataError(f"chapter '{item}' is listed twice", where=where)
        out.append((file, None))
    return out


def _natural_key(path: Path) -> list[Any]:
    """'chapter-2' before 'chapter-10'."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", path.name)]
