"""The article's EPUB in real reading systems and checkers: DAISY Ace, Calibre and
epub.js in headless Chromium. Each tool runs once per session (see tests/readers.py;
.ci/install-checkers installs them)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from PIL import Image

from test_fidelity import assert_in_order, normalise, sentences

from conftest import Built
from readers import (
    CalibreMeta,
    ace_checked_documents,
    ace_violations,
    calibre_convert,
    calibre_meta,
    run_ace,
    run_epubjs,
)

pytestmark = pytest.mark.slow

NS = {"x": "http://www.w3.org/1999/xhtml", "epub": "http://www.idpf.org/2007/ops"}


def nav_toc(article: Built) -> list[tuple[str, str, int]]:
    """(label, href, depth) of every entry of the EPUB's own navigation document."""
    nav = etree.fromstring(article.member("EPUB/nav.xhtml").encode())
    toc = nav.find(".//x:nav[@epub:type='toc']", NS)
    assert toc is not None
    return [
        (
            "".join(a.itertext()).strip(),
            a.get("href", ""),
            len(a.xpath("ancestor::x:li", namespaces=NS)) - 1,
        )
        for a in toc.iterfind(".//x:a", NS)
    ]


def linear_spine(article: Built) -> list[str]:
    opf = etree.fromstring(article.member("EPUB/content.opf").encode())
    ns = {"opf": "http://www.idpf.org/2007/opf"}
    hrefs = {i.get("id"): i.get("href") for i in opf.iterfind("opf:manifest/opf:item", ns)}
    return [
        str(hrefs[r.get("idref")])
        for r in opf.iterfind("opf:spine/opf:itemref", ns)
        if r.get("linear", "yes") == "yes"
    ]


# ---- DAISY Ace ----


@pytest.fixture(scope="session")
def ace_report(article: Built, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_ace(article.epub, tmp_path_factory.mktemp("ace"))


def test_ace_really_checked_the_book(ace_report: dict[str, Any], article: Built) -> None:
    assert ace_report["earl:assertedBy"]["doap:name"] == "DAISY Ace"
    checked = {Path(url).name for url in ace_checked_documents(ace_report)}
    assert {"content.opf", "nav.xhtml", "cover.xhtml", "titlepage.xhtml"} <= checked
    assert {c.file_name for c in article.result.book.chapters} <= checked


def test_ace_finds_no_violations(ace_report: dict[str, Any]) -> None:
    violations = ace_violations(ace_report)
    assert violations == [], "Ace finds:\n" + "\n".join(violations)
    assert ace_report["earl:result"]["earl:outcome"] == "pass"


def test_ace_catches_a_document_without_a_language(article: Built, tmp_path: Path) -> None:
    """The checker is really run: a chapter stripped of its language fails it."""
    chapter = article.result.book.chapters[0].file_name
    broken = tmp_path / "no-lang.epub"
    with zipfile.ZipFile(article.epub) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == f"EPUB/{chapter}":
                data, n = re.subn(
                    rb'(<html[^>]*?) (?:xml:)?lang="[^"]*" (?:xml:)?lang="[^"]*"', rb"\1", data
                )
                assert n == 1
            dst.writestr(info, data)
    violations = ace_violations(run_ace(broken, tmp_path / "ace"))
    assert any(v.startswith("html-has-lang") and chapter in v for v in violations), violations


# ---- Calibre ----


@pytest.fixture(scope="session")
def calibre(article: Built) -> CalibreMeta:
    return calibre_meta(article.epub)


@pytest.fixture(scope="session")
def calibre_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("calibre")


def test_calibre_reads_title_language_and_no_invented_author(
    calibre: CalibreMeta, article: Built
) -> None:
    meta = article.result.book.meta
    # Calibre shows a title-type "subtitle" joined to the main title as
    # "Main: Subtitle" (calibre/ebooks/metadata/opf3.py, read_title); the main
    # title coming first shows that it read the title types.
    assert (
        calibre["title"]
        == "Putin Visits China to Strengthen Partnership: Deepening Trust and Collaboration"
    )
    assert calibre["title"] == meta.full_title
    assert meta.lang == "en" and calibre["languages"] == ["eng"]  # Calibre shows ISO 639-2
    assert calibre["authors"] == ["Unknown"]  # Calibre's word for none


def test_calibre_finds_the_cover(calibre: CalibreMeta, article: Built) -> None:
    assert calibre["cover"]
    with zipfile.ZipFile(article.epub) as z:
        packaged = z.read("EPUB/images/cover.jpg")
    assert calibre["cover_bytes"] == len(packaged)


def test_calibre_converts_to_azw3(article: Built, calibre_dir: Path) -> None:
    azw3 = calibre_convert(article.epub, ".azw3", calibre_dir)
    assert azw3.read_bytes()[60:68] == b"BOOKMOBI"  # a Kindle (PalmDB) file
    back = calibre_meta(azw3)  # and Calibre reads it back
    assert back["title"] == article.result.book.meta.full_title
    assert back["cover"]


def test_calibre_text_holds_every_sentence(
    article: Built, calibre_dir: Path, seed_lines: list[str]
) -> None:
    text = calibre_convert(article.epub, ".txt", calibre_dir).read_text(encoding="utf-8")
    assert_in_order(normalise(text), sentences(seed_lines))
    for sentence in sentences(seed_lines):
        assert sentence in " ".join(text.split())


# ---- epub.js in headless Chromium ----


@pytest.fixture(scope="session")
def epubjs_screenshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("epubjs") / "first-text-page.png"


@pytest.fixture(scope="session")
def epubjs(article: Built, epubjs_screenshot: Path) -> dict[str, Any]:
    return run_epubjs(article.epub, epubjs_screenshot)


def test_epubjs_opens_the_book_and_lists_the_toc(epubjs: dict[str, Any], article: Built) -> None:
    assert epubjs["ok"], epubjs.get("error")
    assert epubjs["title"] == article.result.book.meta.title
    assert epubjs["language"] == "en"
    expected = nav_toc(article)
    assert [(e["label"], e["href"], e["depth"]) for e in epubjs["toc"]] == expected
    assert [label for label, _, _ in expected] == [e.title for e in article.result.book.toc]
    assert [lm["type"] for lm in epubjs["landmarks"]] == ["cover", "titlepage", "bodymatter"]


def test_epubjs_turns_every_page_without_error(epubjs: dict[str, Any], article: Built) -> None:
    assert epubjs["console_errors"] == []
    assert epubjs["page_errors"] == []
    assert epubjs["failed_requests"] == [] and epubjs["not_served"] == []
    assert epubjs["at_end"] and not epubjs["timed_out"] and "stuck_at" not in epubjs
    assert epubjs["sections_visited"] == linear_spine(article)
    pages = epubjs["pages_visited"]
    assert epubjs["page_turns"] == len(pages) - 1
    # Every page of every section, in order: 1..total each time.
    by_section: dict[str, list[int]] = {}
    for page in pages:
        by_section.setdefault(page["href"], []).append(page["page"])
        assert page["pages"] >= 1
    for href, seen in by_section.items():
        total = next(p["pages"] for p in pages if p["href"] == href)
        assert seen == list(range(1, total + 1)), href
    chapter = article.result.book.chapters[0].file_name
    assert by_section[chapter][-1] >= 2, "the article should not fit one page"
    for page in pages:
        for doc in page["docs"]:
            assert doc["ready"] == "complete"
            assert doc["images_broken"] == 0 and doc["fonts_failed"] == []
    first = pages[0]
    assert first["href"] == "cover.xhtml" and first["docs"][0]["images"] == 1
    text_page = next(p for p in pages if p["href"] == chapter)
    assert any(f.startswith("PubSerif") for f in text_page["docs"][0]["fonts_loaded"])


def test_epubjs_shows_the_first_text_page(
    epubjs: dict[str, Any], epubjs_screenshot: Path, article: Built
) -> None:
    assert epubjs["screenshot"] == {
        "path": str(epubjs_screenshot),
        "href": article.result.book.chapters[0].file_name,
        "page": 1,
    }
    image = Image.open(io.BytesIO(epubjs_screenshot.read_bytes()))
    assert image.format == "PNG" and image.size == (600, 800)
    grey = image.convert("L")
    # Text, not a blank page: plenty of dark pixels and many grey levels (antialiasing).
    histogram = grey.histogram()
    assert sum(histogram[:128]) > 0.03 * 600 * 800
    assert len(grey.getcolors(maxcolors=256) or []) > 32


def test_epubjs_reports_a_missing_image(article: Built, tmp_path: Path) -> None:
    """The reader's errors really reach the result: a chapter with an image that
    the book lacks gives a console error and a failed request."""
    chapter = article.result.book.chapters[0].file_name
    broken = tmp_path / "missing-image.epub"
    with zipfile.ZipFile(article.epub) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == f"EPUB/{chapter}":
                data = data.replace(b"<p>", b'<p><img src="images/missing.png" alt="x" />', 1)
            dst.writestr(info, data)
    result = run_epubjs(broken)
    assert result["ok"] and result["at_end"]
    assert any("missing.png" in e for e in result["console_errors"]), result["console_errors"]
    assert any("missing.png" in r for r in result["failed_requests"]), result["failed_requests"]


# ---- the fonts, subset: the same page ----


@pytest.fixture(scope="session")
def whole_and_subset(article: Built, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The article's EPUB made twice from the same inputs, with the whole fonts (as
    before subsetting) and with the subsets, each read in epub.js."""
    import datetime as dt
    from dataclasses import replace

    from publisher.epub.writer import EpubInputs, make_epub

    from conftest import STYLES

    folder = tmp_path_factory.mktemp("fonts-in-epubjs")
    inputs = EpubInputs(article.result.book, STYLES, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    out: dict[str, Any] = {}
    for name, subset in (("whole", False), ("subset", True)):
        epub = folder / f"{name}.epub"
        epub.write_bytes(make_epub(replace(inputs, subset_fonts=subset), []))
        shot = folder / f"{name}.png"
        out[name] = (run_epubjs(epub, shot), shot, epub)
    return out


def test_epubjs_shows_the_same_page_with_subset_fonts(whole_and_subset: dict[str, Any]) -> None:
    """The first text page in epub.js (Chromium) with Gentium whole and with its
    subsets: the same glyphs in the same places, so (nearly) the same pixels."""
    from PIL import ImageChops

    (whole, whole_shot, whole_epub), (subset, subset_shot, subset_epub) = (
        whole_and_subset["whole"],
        whole_and_subset["subset"],
    )
    assert subset_epub.stat().st_size < whole_epub.stat().st_size / 8
    for report, family in ((whole, "Gentium Book Plus"), (subset, "PubSerif")):
        assert report["ok"] and report["at_end"], report.get("error")
        assert report["console_errors"] == [] and report["page_errors"] == []
        docs = [doc for page in report["pages_visited"] for doc in page["docs"]]
        assert not [face for doc in docs for face in doc["fonts_failed"]]
        assert any(face.startswith(family) for doc in docs for face in doc["fonts_loaded"])
    assert whole["screenshot"]["href"] == subset["screenshot"]["href"]
    assert [p["pages"] for p in whole["pages_visited"]] == [
        p["pages"] for p in subset["pages_visited"]
    ]
    a = Image.open(whole_shot).convert("L")
    b = Image.open(subset_shot).convert("L")
    difference = ImageChops.difference(a, b)
    changed = sum(difference.histogram()[16:])  # pixels more than a hair apart
    assert changed < 0.002 * 600 * 800, f"{changed} pixels differ"
    ink = sum(a.histogram()[:128])
    assert ink > 0.03 * 600 * 800  # a page of text, not two blank pages
