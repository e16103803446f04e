"""The article's EPUB: container, package, navigation, cover, fonts, golden files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image

from conftest import STYLES, Built, need

GOLDEN = Path(__file__).parent / "golden" / "article"
NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "x": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
    "ncx": "http://www.daisy.org/z3986/2005/ncx/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def opf(article: Built) -> etree._Element:
    return etree.fromstring(article.member("EPUB/content.opf").encode())


def test_zip_container(article: Built) -> None:
    with zipfile.ZipFile(article.epub) as z:
        first = z.infolist()[0]
        assert first.filename == "mimetype"
        assert first.compress_type == zipfile.ZIP_STORED
        assert z.read("mimetype") == b"application/epub+zip"
        assert first.extra == b""
        assert "META-INF/container.xml" in z.namelist()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in z.infolist())


def test_package_metadata(article: Built) -> None:
    root = opf(article)
    assert root.get("version") == "3.0"
    meta = root.find("opf:metadata", NS)
    titles = [t.text for t in meta.findall("dc:title", NS)]
    assert titles == [
        "Putin Visits China to Strengthen Partnership",
        "Deepening Trust and Collaboration",
    ]
    assert meta.findtext("dc:language", namespaces=NS) == "en"
    ident = meta.find("dc:identifier", NS)
    assert root.get("unique-identifier") == ident.get("id")
    assert ident.text.startswith("urn:uuid:")
    # No author and no date were given: none is invented.
    assert meta.find("dc:creator", NS) is None
    assert meta.find("dc:date", NS) is None
    modified = meta.find("opf:meta[@property='dcterms:modified']", NS)
    assert modified.text == "2000-01-01T00:00:00Z"


def test_every_document_has_lang_and_xml_lang(article: Built) -> None:
    root = opf(article)
    docs = [
        i.get("href")
        for i in root.iterfind("opf:manifest/opf:item", NS)
        if i.get("media-type") == "application/xhtml+xml"
    ]
    assert len(docs) >= 4  # cover, title page, chapter, nav
    for href in docs:
        html = etree.fromstring(article.member(f"EPUB/{href}").encode())
        assert html.get("lang") == "en", href
        assert html.get(XML_LANG) == "en", href


def test_navigation_toc_landmarks_and_ncx(article: Built) -> None:
    nav = etree.fromstring(article.member("EPUB/nav.xhtml").encode())
    toc = nav.find(".//x:nav[@epub:type='toc']", NS)
    labels = ["".join(a.itertext()) for a in toc.iterfind(".//x:a", NS)]
    assert labels == [
        "Putin Visits China to Strengthen Partnership",
        "A Significant Trip for Putin",
        "A Close Friendship",
        "China’s Defense of the Partnership",
        "The Belt and Road Initiative",
        "Energy Cooperation",
    ]
    landmarks = nav.find(".//x:nav[@epub:type='landmarks']", NS)
    types = [a.get(f"{{{NS['epub']}}}type") for a in landmarks.iterfind(".//x:a", NS)]
    assert types == ["cover", "titlepage", "bodymatter"]
    ncx = etree.fromstring(article.member("EPUB/toc.ncx").encode())
    assert [t.text for t in ncx.iterfind(".//ncx:navPoint/ncx:navLabel/ncx:text", NS)] == labels
    guide = [r.get("type") for r in opf(article).iterfind("opf:guide/opf:reference", NS)]
    assert guide == ["cover", "title-page", "text"]


def test_cover_is_a_real_image_flagged_in_the_package(article: Built) -> None:
    root = opf(article)
    item = root.find("opf:manifest/opf:item[@properties='cover-image']", NS)
    assert item is not None
    with zipfile.ZipFile(article.epub) as z:
        image = Image.open(io.BytesIO(z.read(f"EPUB/{item.get('href')}")))
    assert image.format == "JPEG" and image.size == (1600, 2400)
    # Not a blank rectangle: the title is drawn on it.
    assert len(image.convert("L").getcolors(maxcolors=65536) or []) > 16
    cover_meta = root.find("opf:metadata/opf:meta[@name='cover']", NS)
    assert cover_meta.get("content") == item.get("id")
    spine = [i.get("idref") for i in root.iterfind("opf:spine/opf:itemref", NS)]
    assert spine[:2] == ["cover", "titlepage"]


def test_fonts_are_embedded_and_used(article: Built) -> None:
    root = opf(article)
    fonts = [
        i.get("href")
        for i in root.iterfind("opf:manifest/opf:item", NS)
        if i.get("media-type") == "font/woff2"
    ]
    # Gentium's regular, italic and bold, subset and renamed; no text of the article
    # is bold italic, and Cabin, which no sheet names, is left out.
    assert fonts == [
        "fonts/PubSerif-Bold.woff2",
        "fonts/PubSerif-Italic.woff2",
        "fonts/PubSerif-Regular.woff2",
    ]
    css = article.member("EPUB/styles/epub.css")
    assert 'font-family: "Cabin"' not in css
    assert "Gentium Book Plus" not in css and "BoldItalic" not in css
    for href in fonts:
        assert f'url("../{href}")' in css
    assert 'font-family: "PubSerif", "Gentium Plus", serif;' in article.member(
        "EPUB/styles/default/base.css"
    )


def test_title_page(article: Built) -> None:
    page = etree.fromstring(article.member("EPUB/titlepage.xhtml").encode())
    section = page.find(".//x:section[@epub:type='titlepage']", NS)
    assert section.findtext("x:h1", namespaces=NS) == "Putin Visits China to Strengthen Partnership"


@pytest.mark.parametrize(
    "member",
    ["chapter-01.xhtml", "nav.xhtml", "content.opf", "toc.ncx", "titlepage.xhtml", "cover.xhtml"],
)
def test_golden(article: Built, member: str, request: pytest.FixtureRequest) -> None:
    """Extracted members, compared as text so that a diff can be reviewed.
    Regenerate with: pytest --update-golden"""
    actual = article.member(f"EPUB/{member}")
    golden = GOLDEN / member
    if request.config.getoption("--update-golden"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden.name}: run pytest --update-golden"
    assert actual == golden.read_text(encoding="utf-8")


def test_epubcheck_finds_nothing(epubcheck_report: list[object]) -> None:
    problems = [str(f) for f in epubcheck_report if f.severity in ("FATAL", "ERROR", "WARNING")]
    assert problems == []
    usage = {f.code for f in epubcheck_report}
    assert usage <= {"CSS-028", "OPF-097"}, "only font-face and licence usage notes are expected"
    # OPF-097: a manifest item no document links to; the fonts' licence is the only one.
    unlinked = [str(f) for f in epubcheck_report if f.code == "OPF-097"]
    assert unlinked and all("EPUB/fonts/OFL-" in f for f in unlinked), unlinked


def test_epubcheck_catches_a_broken_book(article: Built, tmp_path: Path) -> None:
    """The checker is really run: a book with a dangling link fails it."""
    need("java")
    from publisher.check.outputs import run_epubcheck

    broken = tmp_path / "broken.epub"
    with zipfile.ZipFile(article.epub) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("chapter-01.xhtml"):
                data = data.replace(b'href="#', b'href="missing.xhtml#', 1) + b""
                data = data.replace(b"<p>", b'<p><a href="missing.xhtml">x</a>', 1)
            dst.writestr(info, data)
    assert any(f.severity == "ERROR" for f in run_epubcheck(broken))


@pytest.mark.parametrize(
    "title",
    [
        "e" + "\u0301" * 3000,  # one letter under 3,000 accents: once two billion pixels
        "Z\u0336\u0335\u0334\u0333" * 3000,
        "word " * 5000,
        "x" * 20000,  # one word wider than the cover
    ],
)
def test_a_cover_from_any_title_is_the_covers_size(title: str) -> None:
    import io as _io

    from PIL import Image

    from publisher.epub.cover import (
        COVER_CHARACTERS,
        HEIGHT,
        MARKS_PER_LETTER,
        WIDTH,
        _draw,
        cover_text,
    )
    from publisher.model import BookMeta, Identifier

    shown = cover_text(title)
    assert len(shown) <= COVER_CHARACTERS + 2
    assert "\u0301" * (MARKS_PER_LETTER + 1) not in shown
    meta = BookMeta(title=title, authors=("A",), lang="en", identifier=Identifier("x", None))
    with Image.open(_io.BytesIO(_draw(meta, STYLES / "fonts"))) as cover:
        assert cover.size == (WIDTH, HEIGHT)
