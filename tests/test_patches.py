"""WeasyPrint's internals are reached through one door (publisher/pdf/weasyprint/):
each patch applies only where the installed code is what it was written for, is
otherwise skipped with WeasyPrint's own behaviour, and the book is the same with
every patch switched off. A long book's pieces decline style sheets whose
page-dependent CSS they cannot carry, and fall back to a whole-book layout when
their own machinery fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from publisher.build import build
from publisher.model import BuildOptions
from publisher.pdf import job as pdfjob
from publisher.pdf import pieces
from publisher.pdf.layout import PdfInputs
from publisher.pdf.profiles import make_profile
from publisher.pdf.weasyprint import guard, hooks
from publisher.pdf.weasyprint.load import load_weasyprint
from publisher.render.book import render_book
from publisher.source.manuscript import load
from publisher.source.resources import Locator
from publisher.source.styles import load_style
from test_pieces import _long_book, _outline, _pages_text, _structure

from conftest import ROOT, STYLES

LASTING = {
    "share_page_styles",
    "cache_tokenizer_regexes",
    "skip_plain_backgrounds",
    "write_streams_once",
    "cache_page_references",
    "skip_pages_without_fixed_boxes",
    "index_target_counters",
    "one_run_per_leader",
}
DURING_LAYOUT = {
    "first_line_only_once",
    "stable_document_id",
    "deferred_margins",
    "deferred_backgrounds",
    "formulas_tagged",
    "formulas_drawn",
}


def _inputs(source: Path, styles: Path = STYLES, standard: str = "ua-1") -> PdfInputs:
    from publisher.pdf.profiles import pdf_variant

    manuscript = load(source)
    book = render_book(manuscript, Locator(manuscript.root))
    style = load_style(styles, "default")
    return PdfInputs(book, styles, None, make_profile("print"), pdf_variant(standard), style)


@pytest.mark.slow
def test_every_patch_applies_on_the_pinned_weasyprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long book, in pieces, as PDF/X-4, in this process: every patch is tried,
    and on the WeasyPrint pinned in constraints.txt none is skipped."""
    load_weasyprint()
    kept = {name: outcome for name, outcome in guard.report().items() if name != "pieces"}
    monkeypatch.setattr(guard, "_outcomes", kept)  # another test's fallback is not ours
    job = pdfjob.PdfJob()
    job.submit(_inputs(_long_book(tmp_path), standard="x-4"), [])
    job.pages()
    assert job.result().startswith(b"%PDF-")
    report = guard.report()
    assert {name: report.get(name) for name in LASTING | DURING_LAYOUT} == dict.fromkeys(
        LASTING | DURING_LAYOUT, guard.APPLIED
    )
    assert "pieces" not in report  # no fallback


def _built(source: Path, out: Path, env: dict[str, str]) -> tuple[Path, Path]:
    done = subprocess.run(
        [sys.executable, "-m", "publisher", "build", str(source), "-o", str(out), "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **env},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return next(out.glob("*.pdf")), next(out.glob("*.epub"))


def _page_list(epub: Path) -> list[str]:
    with zipfile.ZipFile(epub) as z:
        nav = z.read("EPUB/nav.xhtml").decode()
    return [line for line in nav.split("<li>") if "#page-" in line]


@pytest.mark.slow
def test_with_every_patch_off_the_book_is_the_same(tmp_path: Path) -> None:
    """PUBLISHER_NO_PATCHES=1: WeasyPrint as it ships, the book laid out whole. The
    same pages, text, outline, structure and EPUB page list; only the bytes and the
    time differ."""
    source = _long_book(tmp_path)
    on_pdf, on_epub = _built(source, tmp_path / "on", {})
    off_pdf, off_epub = _built(source, tmp_path / "off", {"PUBLISHER_NO_PATCHES": "1"})
    assert on_pdf.read_bytes() != off_pdf.read_bytes()  # the patches did something
    assert _pages_text(off_pdf) == _pages_text(on_pdf)
    with pikepdf.open(on_pdf) as on, pikepdf.open(off_pdf) as off:
        assert len(off.pages) == len(on.pages) > 50
        assert _outline(off) == _outline(on)
        assert _structure(off) == _structure(on)
    assert _page_list(off_epub) == _page_list(on_epub) != []


def test_a_patch_that_does_not_fit_is_skipped_and_weasyprint_runs_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import weasyprint.layout.block as block

    def iter_line_boxes(context: Any, box: Any) -> None:  # a "new release's" shape
        raise AssertionError("not called here")

    monkeypatch.setattr(block, "iter_line_boxes", iter_line_boxes)
    with hooks.first_line_only_once():
        assert block.iter_line_boxes is iter_line_boxes
    assert guard.report()["first_line_only_once"].startswith("skipped: iter_line_boxes is not (")


def test_another_weasyprint_release_gets_no_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    import weasyprint

    monkeypatch.setattr(weasyprint, "__version__", "71.0")
    monkeypatch.setattr(guard, "_outcomes", {})
    applied = []
    assert not guard.install("example", lambda: applied.append(1))
    assert applied == []
    assert guard.report() == {"example": "skipped: written for WeasyPrint 70.x, not 71.0"}
    assert not hooks.margins_deferrable()


def test_patches_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_NO_PATCHES", "1")
    monkeypatch.setattr(guard, "_outcomes", {})
    assert not guard.install("example", lambda: None)
    assert guard.report() == {"example": guard.OFF}
    assert not hooks.margins_deferrable()


def test_a_patch_whose_checks_raise_anything_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "_outcomes", {})

    def apply() -> None:
        raise KeyError("a private attribute gone")

    assert not guard.install("example", apply)
    assert guard.report()["example"] == "skipped: 'a private attribute gone'"


def _styles_with(tmp_path: Path, css: str) -> Path:
    styles = tmp_path / "styles"
    shutil.copytree(STYLES, styles)
    with (styles / "default" / "print.css").open("a", encoding="utf-8") as sheet:
        sheet.write(css)
    return styles


@pytest.mark.parametrize(
    "css",
    [
        "figure { counter-increment: figure; }\nfigcaption::before { content: counter(figure); }",
        'a.xref::after { content: " (page " target-counter(attr(href url), page) ")"; }',
        ".titlepage .subtitle { string-set: subtitle content(); }",
        "@media print { aside.note { float: footnote; } }",
    ],
)
def test_page_dependent_css_keeps_the_book_whole(tmp_path: Path, css: str) -> None:
    source = _long_book(tmp_path)
    assert pieces.plan(_inputs(source)) is not None  # publisher's own sheets: cut
    inputs = _inputs(source, _styles_with(tmp_path, css))
    found = pieces.page_dependent_css(inputs)
    assert found and all(line.startswith("print.css: ") for line in found)
    assert pieces.plan(inputs) is None


def test_page_counters_and_list_items_do_not_keep_the_book_whole(tmp_path: Path) -> None:
    css = (
        "@page { @bottom-right { content: counter(page) ' / ' counter(pages); } }\n"
        "ol.steps li::marker { content: counter(list-item) '. '; }\n"
    )
    inputs = _inputs(_long_book(tmp_path), _styles_with(tmp_path, css))
    assert pieces.page_dependent_css(inputs) == []


@pytest.mark.slow
def test_pieces_that_fail_in_their_machinery_fall_back_to_the_whole_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only their own Unsettled: anything WeasyPrint does that the pieces did not
    expect (here, its page state missing a key) lays the book out whole."""
    source = _long_book(tmp_path)
    monkeypatch.setattr(guard, "_outcomes", dict(guard._outcomes))  # the note stays here
    monkeypatch.setattr(pdfjob, "start", lambda styles, lang: pdfjob.PdfJob())
    monkeypatch.setattr(pieces, "SPLIT_TEXT", 10**12)
    whole = build(BuildOptions(source, tmp_path / "whole", STYLES))
    monkeypatch.setattr(pieces, "SPLIT_TEXT", 60_000)

    def broken(document: Any, kept: Any, first: int, total: int) -> None:
        raise KeyError("pages")

    monkeypatch.setattr(pieces, "finish_margins", broken)
    fallen = build(BuildOptions(source, tmp_path / "fallen", STYLES))

    def pdf(result: Any) -> bytes:
        return next(o.path for o in result.outputs if o.format == "pdf").read_bytes()

    assert pdf(fallen) == pdf(whole)
    assert guard.report()["pieces"].startswith("fell back to a whole-book layout")
