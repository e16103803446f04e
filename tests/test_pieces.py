"""A long book's PDF is laid out in pieces and joined (publisher/pieces.py): the
joined PDF must be the whole book's PDF in all a reader or a checker can see (every
page's text with its folio and running head, the contents' page numbers, outline,
links, structure tree, the EPUB's page list), the same bytes whether the pieces
were made in forked processes or one after another here, and valid PDF/UA."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from publisher.build import build
from publisher.errors import ResourceError
from publisher.model import BuildOptions
from publisher.pdf import job as pdfjob
from publisher.pdf import pieces
from publisher.pdf.layout import PdfInputs
from publisher.pdf.profiles import make_profile
from publisher.render.book import render_book
from publisher.source.manuscript import load
from publisher.source.resources import Locator

from conftest import ARTICLE, GUIDE, STYLES, Built, build_book, need

pytestmark = pytest.mark.slow

WORDS = (
    "the river ran past the mill where she had waited through the long winter for news "
    "of the ship and of the men who sailed her north into the ice beyond the last charted "
    "islands while the town below kept its lamps lit against the early dark"
).split()


def _long_book(folder: Path, chapters: int = 14) -> Path:
    """About sixty A5 pages: a preface before the first right-hand opening,
    sections, notes, a table, links across chapters (so across pieces)."""
    lines = [
        "---",
        "title: The Long Winter",
        "author: Test Author",
        "lang: en",
        "dedication: For the ones who waited.",
        "---",
        "",
        "# Preface {epub:type=preface}",
        "",
        "A short preface, set before the first chapter. See [the last chapter](#chapter-14).",
        "",
    ]
    note = 0
    for c in range(1, chapters + 1):
        # One heading with a non-ASCII id: the joined name tree keeps its bytes.
        lines += ["# Глава Зима" if c == 13 else f"# Chapter {c} {{#chapter-{c}}}", ""]
        for s in range(1, 3):
            lines += [f"## Part {c}.{s} {{#part-{c}-{s}}}", ""]
            for p in range(6):
                start = (c * 7 + s * 3 + p) % len(WORDS)
                words = [WORDS[(start + i * 5) % len(WORDS)] for i in range(60 + (p * 13) % 50)]
                text = " ".join(words).capitalize() + "."
                if p % 3 == 1:
                    note += 1
                    text += f"[^n{note}]\n\n[^n{note}]: Note {note}, on the passage before it."
                lines += [text, ""]
        if c == 2:
            lines += ["Compare [the same place later](#part-11-2) and [winter](#глава-зима).", ""]
        if c == 11:
            lines += ["As in [the first chapter](#chapter-1).", ""]
        if c % 4 == 0:
            lines += ["| Port | Ships | Share |", "|:--|--:|--:|"]
            lines += [f"| port {r} | {r * 7} | {r * 3}% |" for r in range(1, 5)]
            lines += [""]
    path = folder / "long.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclasses.dataclass(frozen=True)
class Books:
    source: Path
    whole: Built  # laid out as one document
    forked: Built  # in pieces, in forked processes
    here: Built  # in pieces, one after another in this process


@pytest.fixture(scope="session")
def books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Books]:
    folder = tmp_path_factory.mktemp("pieces")
    source = _long_book(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdfjob, "start", lambda styles, lang: pdfjob.PdfJob())
        patch.setattr(pieces, "SPLIT_TEXT", 10**12)
        whole = build_book(source, folder / "whole")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdfjob, "start", pdfjob.ForkedPdfJob)
        forked = build_book(source, folder / "forked")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdfjob, "start", lambda styles, lang: pdfjob.PdfJob())
        here = build_book(source, folder / "here")
    yield Books(source, whole, forked, here)


def _inputs(manuscript: Path) -> PdfInputs:
    loaded = load(manuscript)
    return PdfInputs(render_book(loaded, Locator(loaded.root)), STYLES, None)


def test_a_long_book_is_cut_before_right_hand_openings(books: Books) -> None:
    cut = pieces.plan(_inputs(books.source))
    assert cut is not None
    assert cut.front == 1  # the preface opens on any page: it stays with the front
    assert len(cut.starts) >= 2
    # Short books, and an article, are laid out whole.
    assert pieces.plan(_inputs(ARTICLE)) is None
    assert pieces.plan(_inputs(GUIDE)) is None


def _pages_text(pdf: Path) -> list[str]:
    tool = need("pdftotext")
    text = subprocess.run(
        [tool, "-layout", "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return text.split("\f")


def _outline(pdf: pikepdf.Pdf) -> list[tuple[int, str, int]]:
    found: list[tuple[int, str, int]] = []

    def walk(item: Any, depth: int) -> None:
        while item is not None:
            found.append((depth, str(item.Title), pdf.pages.index(pikepdf.Page(item.Dest[0]))))
            if "/First" in item:
                walk(item.First, depth + 1)
            item = item.get("/Next")

    walk(pdf.Root.Outlines.First, 0)
    return found


def _links(pdf: pikepdf.Pdf) -> list[tuple[int, str, int, list[float]]]:
    names = list(pdf.Root.Names.Dests.Names)
    dests = {str(names[i]): names[i + 1] for i in range(0, len(names), 2)}
    found = []
    for number, page in enumerate(pdf.pages):
        for annot in page.obj.get("/Annots", ()):
            dest = dests[str(annot.Dest)]  # every link's name is there
            place = [round(float(v), 1) for v in dest[2:4]]
            found.append((number, str(annot.Dest), pdf.pages.index(pikepdf.Page(dest[0])), place))
    return found


def _structure(pdf: pikepdf.Pdf) -> list[tuple[int, str, int | None]]:
    """Every structure element (depth, type, page), after checking that the parent
    tree sends each page's marked content and each link back to its own element."""
    found: list[tuple[int, str, int | None]] = []
    pages = {page.obj.objgen: n for n, page in enumerate(pdf.pages)}

    def walk(element: Any, depth: int) -> None:
        if not isinstance(element, pikepdf.Dictionary) or element.get("/Type") != "/StructElem":
            return
        page = element.get("/Pg")
        found.append((depth, str(element.S), pages[page.objgen] if page is not None else None))
        kids = element.get("/K")
        for kid in kids if isinstance(kids, pikepdf.Array) else [kids]:
            walk(kid, depth + 1)

    walk(pdf.Root.StructTreeRoot.K[0], 0)
    nums = list(pdf.Root.StructTreeRoot.ParentTree.Nums)
    parents = {int(nums[i]): nums[i + 1] for i in range(0, len(nums), 2)}
    for number, page in enumerate(pdf.pages):
        for element in parents[int(page.obj.StructParents)]:
            assert pages[element.Pg.objgen] == number
        for annot in page.obj.get("/Annots", ()):
            assert parents[int(annot.StructParent)].S == "/Link"
    return found


def test_the_pieces_make_the_whole_books_pdf(books: Books) -> None:
    whole_text, split_text = _pages_text(books.whole.pdf), _pages_text(books.forked.pdf)
    assert len(split_text) == len(whole_text) > 50
    for number, (one, other) in enumerate(zip(whole_text, split_text, strict=True), start=1):
        assert one == other, f"page {number} differs"
    # So the contents (laid out apart, numbers written in) and the folios of the
    # later pieces (made after layout) are the whole book's.
    assert any("Chapter 14 . ." in page for page in split_text)
    with pikepdf.open(books.whole.pdf) as whole, pikepdf.open(books.forked.pdf) as split:
        assert _outline(split) == _outline(whole)
        assert len(_links(split)) > 30
        assert _links(split) == _links(whole)
        assert "глава-зима" in {name for _, name, _, _ in _links(split)}
        assert _structure(split) == _structure(whole)
        assert int(split.Root.StructTreeRoot.ParentTreeNextKey) > len(split.pages)
        assert split.Root.Lang == whole.Root.Lang
        assert bytes(split.Root.Metadata.read_bytes()) == bytes(whole.Root.Metadata.read_bytes())
        assert dict(split.docinfo.items()) == dict(whole.docinfo.items())
        assert split.pdf_version == whole.pdf_version


def test_the_epub_page_list_is_the_same(books: Books) -> None:
    assert books.forked.epub.read_bytes() == books.whole.epub.read_bytes()


def test_forked_or_not_the_pieces_make_the_same_bytes(books: Books) -> None:
    assert books.forked.pdf.read_bytes() == books.here.pdf.read_bytes()
    # Joining adds a few font subsets (one per piece), not the structure tree again.
    assert books.forked.pdf.stat().st_size < 1.25 * books.whole.pdf.stat().st_size


def test_the_joined_pdf_passes_pdfua(books: Books) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pdfua", "check", "--format", "json", str(books.forked.pdf)],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    assert report["summary"]["errors"] == 0
    assert {f["rule_id"] for f in report["findings"]} <= {"UA-15-003"}  # see test_print


def test_a_failing_piece_is_an_error_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(self: pieces.Piece, first: int, total: int) -> bytes:
        raise ResourceError("the PDF renderer was refused x.png", hint="keep files inside")

    monkeypatch.setattr(pieces.Piece, "write", failing)
    monkeypatch.setattr(pdfjob, "start", pdfjob.ForkedPdfJob)
    with pytest.raises(ResourceError, match=r"refused x\.png"):
        build_book(_long_book(tmp_path), tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.pdf"))


def test_a_lost_piece_process_is_made_again_here(
    books: Books, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pieces, "_serve", lambda *args: os._exit(9))
    monkeypatch.setattr(pdfjob, "start", pdfjob.ForkedPdfJob)
    again = build_book(books.source, tmp_path / "out")
    assert again.pdf.read_bytes() == books.forked.pdf.read_bytes()


def test_a_front_that_does_not_settle_lays_the_book_out_whole(
    books: Books, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    front = pieces.PieceWork._front
    calls = []

    def growing(self: pieces.PieceWork, numbers: dict[str, str]) -> pieces._Front:
        made = front(self, numbers)
        calls.append(made.pages)
        return dataclasses.replace(
            made, sketch=dataclasses.replace(made.sketch, pages=made.pages + len(calls))
        )

    monkeypatch.setattr(pieces.PieceWork, "_front", growing)
    monkeypatch.setattr(pdfjob, "start", lambda styles, lang: pdfjob.PdfJob())
    again = build_book(_long_book(tmp_path), tmp_path / "out")
    assert len(calls) == 5  # the guess, then four tries
    assert again.pdf.read_bytes() == books.whole.pdf.read_bytes()


@pytest.mark.parametrize("standard", ["none", "ua-2", "x-1a"])
def test_untagged_pdf_2_and_pdf_1_4_books_join_too(
    books: Books, standard: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No structure tree (none, and PDF/X-1a); PDF 2.0 with its namespace (ua-2);
    PDF/X-1a is also a PDF 1.4 file, which must not get object streams."""
    monkeypatch.setattr(pdfjob, "start", lambda styles, lang: pdfjob.PdfJob())

    def made(folder: str, split: bool) -> Path:
        monkeypatch.setattr(pieces, "SPLIT_TEXT", 60_000 if split else 10**12)
        options = BuildOptions(books.source, tmp_path / folder, STYLES, pdf_standard=standard)
        return next(o.path for o in build(options).outputs if o.format == "pdf")

    whole, split = made("whole", False), made("split", True)
    assert _pages_text(split) == _pages_text(whole)
    with pikepdf.open(whole) as one, pikepdf.open(split) as other:
        assert other.pdf_version == one.pdf_version
        assert _outline(other) == _outline(one)
        assert _links(other) == _links(one)
        tagged = "/StructTreeRoot" in one.Root
        assert tagged == standard.startswith("ua")
        if tagged:
            assert _structure(other) == _structure(one)
        assert (b"/ObjStm" in split.read_bytes()) == (one.pdf_version >= "1.5")
        if "/OutputIntents" in one.Root:
            assert other.Root.OutputIntents[0].S == one.Root.OutputIntents[0].S


def test_books_with_parts_are_cut_only_before_a_part(tmp_path: Path) -> None:
    lines = ["---", "title: Parts", "lang: en", "---", ""]
    for part in range(1, 4):
        lines += [f"# Part {part}", ""]
        for chapter in range(1, 5):
            lines += [f"## Chapter {part}.{chapter}", ""]
            lines += [" ".join(WORDS * 2).capitalize() + ".", ""] * 20
    source = tmp_path / "parts.md"
    source.write_text("\n".join(lines), encoding="utf-8")
    inputs = _inputs(source)
    cut = pieces.plan(inputs)
    assert cut is not None
    for start in cut.starts:
        assert inputs.book.chapters[start].kind == "part"
    # Right-to-left books, and the screen profile (chapters open on any page), are
    # laid out whole: the side a piece opens on would not be known.
    screen = dataclasses.replace(inputs, profile=make_profile("screen"))
    assert pieces.plan(screen) is None


def test_invoke_checks_pdf_findings_pass_on_the_joined_pdf(books: Books) -> None:
    """What `invoke check` asks of a PDF: tagged, fonts embedded, bookmarks as the
    EPUB's contents, title and language."""
    from publisher.check.outputs import inspect_pdf, nav_titles

    book = _inputs(books.source).book
    findings, facts = inspect_pdf(books.forked.pdf, book, nav_titles(books.forked.epub))
    assert [f for f in findings if f.severity in ("FATAL", "ERROR")] == []
    whole = inspect_pdf(books.whole.pdf, book, nav_titles(books.whole.epub))[1]
    assert facts == whole


def test_a_hung_piece_is_made_here(
    books: Books, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A piece's process that neither writes nor works is killed after
    PUBLISHER_FORK_TIMEOUT seconds and the piece is made here: the same bytes."""
    import time

    monkeypatch.setattr(pdfjob, "start", pdfjob.ForkedPdfJob)
    monkeypatch.setattr(pieces, "_serve", lambda *args: time.sleep(600))
    hung = build_book(books.source, tmp_path, env={"PUBLISHER_FORK_TIMEOUT": "1"})
    assert hung.pdf.read_bytes() == books.forked.pdf.read_bytes()
    assert hung.epub.read_bytes() == books.forked.epub.read_bytes()
