"""Incremental builds: nothing changed, nothing done; a change redoes only what
depends on it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from publisher.build import BuildResult, build
from publisher.model import BuildOptions

from conftest import ARTICLE, STYLES


def rebuilt(result: BuildResult) -> dict[str, bool]:
    return {o.format: o.rebuilt for o in result.outputs}


def stamps(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}


def test_nothing_changed_nothing_done(tmp_path: Path) -> None:
    book = tmp_path / "book"
    shutil.copytree(ARTICLE, book)
    styles = tmp_path / "styles"
    shutil.copytree(STYLES, styles)
    out = tmp_path / "out"
    options = BuildOptions(book, out, styles)

    assert rebuilt(build(options)) == {"epub": True, "pdf": True}
    before = stamps(out)
    again = build(options)
    assert rebuilt(again) == {"epub": False, "pdf": False} and again.book is None
    assert stamps(out) == before  # untouched

    # The EPUB's own stylesheet: only the EPUB, with the PDF's page numbers kept.
    pdf = next(out.glob("*.pdf"))
    (styles / "epub.css").write_text((styles / "epub.css").read_text() + "\n/* x */\n")
    result = build(options)
    assert rebuilt(result) == {"epub": True, "pdf": False}
    assert next(out.glob("*.pdf")).stat().st_mtime_ns == before[pdf.name]
    import zipfile

    with zipfile.ZipFile(next(out.glob("*.epub"))) as z:
        assert 'epub:type="page-list"' in z.read("EPUB/nav.xhtml").decode()

    # The text: both (the EPUB's page list follows the PDF).
    chapter = book / "article.md"
    chapter.write_text(
        chapter.read_text(encoding="utf-8") + "\nOne more sentence.\n", encoding="utf-8"
    )
    assert rebuilt(build(options)) == {"epub": True, "pdf": True}

    # Print styles: both again; an output deleted: rebuilt; --force: everything.
    (styles / "print.css").write_text((styles / "print.css").read_text() + "\n/* y */\n")
    assert rebuilt(build(options)) == {"epub": True, "pdf": True}
    next(out.glob("*.pdf")).unlink()
    assert rebuilt(build(options))["pdf"] is True
    assert rebuilt(build(options, force=True)) == {"epub": True, "pdf": True}


def test_a_changed_image_rebuilds(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "img"
    folder.mkdir()
    Image.new("RGB", (20, 20), "red").save(folder / "dot.png")
    (folder / "a.md").write_text("---\ntitle: Dot\n---\n\n![A red dot](dot.png)\n")
    options = BuildOptions(folder / "a.md", tmp_path / "out", STYLES, ("epub",))
    build(options)
    assert rebuilt(build(options)) == {"epub": False}
    Image.new("RGB", (20, 20), "blue").save(folder / "dot.png")
    assert rebuilt(build(options)) == {"epub": True}


def test_a_style_change_redoes_what_reads_it(tmp_path: Path) -> None:
    styles = tmp_path / "styles"
    shutil.copytree(STYLES, styles)
    out = tmp_path / "out"
    options = BuildOptions(ARTICLE, out, styles, style="classic")
    assert rebuilt(build(options)) == {"epub": True, "pdf": True}
    assert rebuilt(build(options)) == {"epub": False, "pdf": False}
    classic = styles / "classic"
    (classic / "epub.css").write_text((classic / "epub.css").read_text() + "\n/* e */\n")
    assert rebuilt(build(options)) == {"epub": True, "pdf": False}
    (classic / "base.css").write_text((classic / "base.css").read_text() + "\n/* b */\n")
    assert rebuilt(build(options)) == {"epub": True, "pdf": True}
    (classic / "style.toml").write_text('description = "Changed."\nchapter-numbers = "arabic"\n')
    assert rebuilt(build(options)) == {"epub": True, "pdf": True}
    # Another style is another look: both again.
    other = BuildOptions(ARTICLE, out, styles, style="news")
    assert rebuilt(build(other)) == {"epub": True, "pdf": True}
    # A different style's files do not touch this book.
    (styles / "modern" / "print.css").write_text("/* m */\n")
    assert rebuilt(build(other)) == {"epub": False, "pdf": False}


def test_an_upgraded_dependency_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record names the versions the outputs were made with; another version
    of a package that shapes them (here WeasyPrint) makes them stale."""
    import json

    from publisher import cache

    out = tmp_path / "out"
    options = BuildOptions(ARTICLE, out, STYLES, formats=("epub",))
    assert rebuilt(build(options)) == {"epub": True}
    record = json.loads(next((out / cache.CACHE_DIR).glob("*.json")).read_text())
    assert record["stack"]["weasyprint"] == cache.stack_versions()["weasyprint"]
    assert {"python", "pydyf", "tinyhtml5", "pyphen", "fonttools"} <= set(record["stack"])
    assert rebuilt(build(options)) == {"epub": False}
    installed = cache.stack_versions()
    monkeypatch.setattr(cache, "stack_versions", lambda: {**installed, "weasyprint": "99.0"})
    assert rebuilt(build(options)) == {"epub": True}


def test_a_file_saved_during_a_build_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save while the build renders (as in `watch`): the record keeps what was
    read, so the next build sees the change instead of calling it up to date."""
    import publisher.render.book

    book = tmp_path / "book"
    shutil.copytree(ARTICLE, book)
    chapter = book / "article.md"
    options = BuildOptions(book, tmp_path / "out", STYLES, formats=("epub",))
    render_book = publisher.render.book.render_book

    def render_then_save(*args: object, **kwargs: object) -> object:
        rendered = render_book(*args, **kwargs)  # type: ignore[arg-type]
        chapter.write_text(chapter.read_text(encoding="utf-8") + "\nSaved meanwhile.\n")
        return rendered

    monkeypatch.setattr(publisher.render.book, "render_book", render_then_save)
    assert rebuilt(build(options)) == {"epub": True}
    monkeypatch.setattr(publisher.render.book, "render_book", render_book)
    assert rebuilt(build(options)) == {"epub": True}  # not "up to date"
    assert rebuilt(build(options)) == {"epub": False}


def _record(
    content: str = "c", epub_style: str = "e", pdf_style: str = "p", **outputs: list[int]
) -> Any:
    from publisher.cache import Record

    return Record(content, epub_style, pdf_style, outputs=dict(outputs))


BOTH = ("epub", "pdf")
ON_DISK = {"epub": [10, 1], "pdf": [20, 2]}


@pytest.mark.parametrize(
    ("last", "now", "want", "stamps", "expected"),
    [
        (None, _record(), BOTH, ON_DISK, (False, False)),  # no record, or --force
        (None, _record(), ("epub",), ON_DISK, (False, True)),
        (_record(**ON_DISK), _record(), BOTH, ON_DISK, (True, True)),
        (_record(**ON_DISK), _record(content="x"), BOTH, ON_DISK, (False, False)),
        (_record(**ON_DISK), _record(epub_style="x"), BOTH, ON_DISK, (False, True)),
        (_record(**ON_DISK), _record(pdf_style="x"), BOTH, ON_DISK, (False, False)),  # page list
        (_record(**ON_DISK), _record(pdf_style="x"), ("epub",), ON_DISK, (True, True)),
        (_record(**ON_DISK), _record(), BOTH, {**ON_DISK, "pdf": None}, (False, False)),
        (_record(**ON_DISK), _record(), BOTH, {**ON_DISK, "epub": [11, 1]}, (False, True)),
        (_record(**ON_DISK), _record(), (*BOTH, "kepub"), ON_DISK, (False, True)),
    ],
    ids=[
        "no-record",
        "no-record-epub-only",
        "nothing-changed",
        "content",
        "epub-styles",
        "print-styles",
        "print-styles-epub-only",
        "pdf-deleted",
        "epub-touched",
        "kepub-never-made",
    ],
)
def test_what_is_up_to_date(
    last: Any, now: Any, want: tuple[str, ...], stamps: Any, expected: tuple[bool, bool]
) -> None:
    """(EPUB up to date, PDF up to date): the decision, as a pure function."""
    from publisher.cache import up_to_date

    assert up_to_date(last, now, want, stamps) == expected
