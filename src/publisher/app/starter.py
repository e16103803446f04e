"""`publisher new DIR`: a starter manuscript that builds at once and lints clean."""

from __future__ import annotations

from pathlib import Path

from publisher.errors import Location, OptionError

BOOK_YAML = """\
title: My Book
subtitle: A starter made by publisher
author: Your Name
lang: en
# date: 2026-01-01
# rights: © 2026 Your Name
chapters:
  - 01-beginning.md
  - 02-middle.md
"""

CHAPTER_ONE = """\
# The Beginning

Write your chapters in Markdown, one file each, in the order `book.yaml` lists
them. "Straight quotes" become curly ones, and -- becomes a dash.

## A section

A note goes at the foot of the page in print and pops up in e-readers.[^first]
An image alone in its paragraph becomes a figure:

![A small square in the book’s blue](images/square.png "Figure 1. A square.")

[^first]: This is the note.
"""

CHAPTER_TWO = """\
# The Middle

Link to another chapter: [back to the beginning](01-beginning.md#a-section).

| Output | For        |
|:-------|:-----------|
| EPUB   | e-readers  |
| PDF    | print      |

Build with `publisher build`; look at it with `publisher serve`.
"""


def new_manuscript(folder: Path) -> list[Path]:
    if folder.name.startswith("-"):
        raise OptionError(
            f"'{folder}' looks like an option, not a folder name",
            hint="for help: publisher new --help",
        )
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OptionError(
            "the folder is not empty", where=Location(folder), hint="choose a new folder name"
        )
    from PIL import Image

    (folder / "images").mkdir(parents=True, exist_ok=True)
    files = {
        "book.yaml": BOOK_YAML,
        "01-beginning.md": CHAPTER_ONE,
        "02-middle.md": CHAPTER_TWO,
    }
    written = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    Image.new("RGB", (240, 240), (31, 42, 68)).save(folder / "images" / "square.png")
    written.append(folder / "images" / "square.png")
    return written
