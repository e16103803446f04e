"""Diagnostics as values: each stage returns what it found with its value, the
build carries them all, and the linter reads their fields, never their text."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from publisher.build import build, render
from publisher.check.lint import lint_manuscript
from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location, PublisherError, ResourceError
from publisher.model import BuildOptions, Manuscript, RenderedBook

from conftest import STYLES

HEAD = "---\ntitle: Diagnostics\nlang: en\n---\n\n"  # the body starts on line 6

TROUBLE = (
    "See [there](#nowhere).\n"  # line 6: a link to no id
    "\n"
    "![A map](https://example.org/map.png)\n"  # line 8: an image from a URL
    "\n"
    "A bell\x07 rings.\n"  # line 10: a control character
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_each_source_gives_its_fields(tmp_path: Path) -> None:
    book = write(tmp_path / "book.md", HEAD + TROUBLE)
    found = {d.code: d for d in render(book).diagnostics}
    assert sorted(found) == ["I01", "T01", "T05"]

    link = found["T05"]
    assert (link.severity, link.where, link.hint) == (WARNING, Location(book, 6), "")
    assert link.message == "link '#nowhere' removed: no heading or element has the id 'nowhere'"
    assert (link.subject, link.reason) == ("#nowhere", "no heading or element has the id 'nowhere'")

    image = found["I01"]
    assert (image.severity, image.where, image.hint) == (WARNING, Location(book, 8), "")
    assert image.message == (
        "image 'https://example.org/map.png' dropped: publisher never fetches URLs or absolute paths"
    )
    assert image.subject == "https://example.org/map.png"

    control = found["T01"]
    assert (control.severity, control.where) == (WARNING, Location(book, 10))
    assert control.message == "removed control character U+0007"
    assert control.hint == "not allowed in EPUB or PDF text"
    # The one-line form users see, as docs/errors.md gives it.
    assert str(control) == (
        f"{Location(book, 10)}: warning: removed control character U+0007 "
        "(not allowed in EPUB or PDF text)"
    )


def test_raw_html_removed_is_a_diagnostic(tmp_path: Path) -> None:
    book = write(
        tmp_path / "r.md", "---\ntitle: R\nraw-html: true\n---\n\nA <b onclick='x()'>b</b>.\n"
    )
    (found,) = render(book).diagnostics
    assert (found.code, found.severity, found.where) == ("T06", WARNING, Location(book, 6))
    assert found.message == "raw HTML: removed attribute onclick from <b>"


def test_the_renderer_s_own_messages_become_diagnostics() -> None:
    """WeasyPrint's log lines, while the PDF job works or receives from its child."""
    from publisher.pdf.job import renderer_messages

    found: list[Diagnostic] = []
    logger = logging.getLogger("weasyprint")
    with renderer_messages(found):
        logger.error("Failed to load image at %r: %s", "file:///x.png", "gone")
    logger.error("after the job: not the job's")
    assert found == [
        Diagnostic(
            "F04", WARNING, None, "WeasyPrint: Failed to load image at 'file:///x.png': gone"
        )
    ]
    assert str(found[0]) == "warning: WeasyPrint: Failed to load image at 'file:///x.png': gone"


def test_an_error_carries_what_was_found_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stage that fails returns no value: its diagnostics go with its error, and the
    command prints them before it, as they came."""
    from publisher.app import commands

    logger = logging.getLogger("publisher")  # the command binds a handler to this stderr
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    monkeypatch.chdir(tmp_path)
    book = write(tmp_path / "book.md", HEAD + "See [there](#nowhere).\n\n![A dot](dot.png)\n")
    with pytest.raises(ResourceError) as caught:
        render(book)
    assert [(d.code, d.where) for d in caught.value.diagnostics] == [("T05", Location(book, 6))]
    code = commands.build(Path("book.md"), Path("out"), STYLES, ("epub",))
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "book.md:6: warning: link '#nowhere' removed: no heading or element has the id 'nowhere'",
        "book.md:8: error: image 'dot.png' not found "
        "(check the file name; paths are relative to the chapter's file)",
    ]


def test_lint_reads_fields_not_wording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every diagnostic reworded (message, hint, its printed line): the linter finds
    the same things, word for word, so nothing in it reads their text."""
    import publisher.check.lint as lint

    book = write(tmp_path / "book.md", HEAD + TROUBLE)
    before = lint_manuscript(book)
    assert [(f.code, f.line) for f in before] == [("MS009", 6), ("MS010", 8), ("MS012", 10)]

    def reworded(found: tuple[Diagnostic, ...]) -> tuple[Diagnostic, ...]:
        return tuple(
            dataclasses.replace(d, message=f"something about {d.subject}", hint="do otherwise")
            for d in found
        )

    load, render_book = lint.load, lint.render_book

    def load_reworded(path: Path) -> Manuscript:
        manuscript = load(path)
        return dataclasses.replace(manuscript, diagnostics=reworded(manuscript.diagnostics))

    def render_reworded(*args: Any) -> RenderedBook:
        rendered = render_book(*args)
        return dataclasses.replace(rendered, diagnostics=reworded(rendered.diagnostics))

    monkeypatch.setattr(lint, "load", load_reworded)
    monkeypatch.setattr(lint, "render_book", render_reworded)
    monkeypatch.setattr(Diagnostic, "__str__", lambda self: "a line in other words")
    assert lint_manuscript(book) == before


def test_lint_passes_on_what_is_not_its_own(tmp_path: Path) -> None:
    book = write(
        tmp_path / "r.md", "---\ntitle: R\nraw-html: true\n---\n\nA <b onclick='x()'>b</b>.\n"
    )
    others: list[Diagnostic] = []
    assert lint_manuscript(book, others) == []
    assert [d.code for d in others] == ["T06"]


def test_consecutive_builds_do_not_share_diagnostics(tmp_path: Path) -> None:
    """watch and serve build many times in one process: each result holds its own."""
    book = write(tmp_path / "book.md", HEAD + TROUBLE)
    options = BuildOptions(book, tmp_path / "out", STYLES, ("epub",))
    first = build(options)
    assert [d.code for d in first.diagnostics] == ["T01", "T05", "I01"]
    write(book, HEAD + "All well.\n")
    second = build(options)
    assert second.book is not None and second.diagnostics == ()
    write(book, HEAD + "A bell\x07 again.\n")
    third = build(options)
    assert [(d.code, d.where) for d in third.diagnostics] == [("T01", Location(book, 6))]
    # Up to date: nothing is rendered, but what reading found is still reported.
    fourth = build(options)
    assert fourth.book is None and fourth.diagnostics == third.diagnostics
    assert lint_manuscript(book) == lint_manuscript(book)


def test_the_preview_state_holds_diagnostics_as_data() -> None:
    from publisher.app.serve import Preview

    preview = Preview(Path("unused"))
    error = PublisherError("it broke", where=Location(Path("book.md"), 3))
    error.diagnostics = (
        Diagnostic("T05", WARNING, Location(Path("book.md"), 2), "link '#x' removed: why"),
    )
    preview.failed(error)
    assert preview.state() == {
        "version": 0,
        "error": "book.md:3: error: it broke",
        "diagnostics": [
            {
                "code": "T05",
                "severity": "warning",
                "file": "book.md",
                "line": 2,
                "message": "link '#x' removed: why",
                "hint": "",
                "text": "book.md:2: warning: link '#x' removed: why",
            }
        ],
    }
