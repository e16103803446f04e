"""Reader quirks, accessibility metadata, the Kobo edition, and real reading systems
on the example book (the article has its own in test_readers.py)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from conftest import ROOT, Built, build_book, need
from readers import ace_violations, run_ace, run_epubjs

X = "{http://www.w3.org/1999/xhtml}"
OPS = "{http://www.idpf.org/2007/ops}"
NS = {"opf": "http://www.idpf.org/2007/opf", "x": X[1:-1]}


def landmarks(built: Built) -> list[tuple[str, str]]:
    nav = etree.fromstring(built.member("EPUB/nav.xhtml").encode())
    marks = next(n for n in nav.iter(f"{X}nav") if n.get(f"{OPS}type") == "landmarks")
    return [(a.get(f"{OPS}type", ""), a.get("href", "")) for a in marks.iter(f"{X}a")]


def test_apple_books_starts_at_the_body_one_type_per_landmark(guide: Built) -> None:
    marks = landmarks(guide)
    assert all(" " not in kind for kind, _ in marks)
    assert ("bodymatter", "part-02.xhtml") in marks  # the preface is front matter
    assert [k for k, _ in marks] == ["cover", "titlepage", "toc", "bodymatter"]


def test_epub2_guide_for_kindle(guide: Built) -> None:
    opf = etree.fromstring(guide.member("EPUB/content.opf").encode())
    refs = [(r.get("type"), r.get("href")) for r in opf.iterfind("opf:guide/opf:reference", NS)]
    assert refs == [
        ("cover", "cover.xhtml"),
        ("title-page", "titlepage.xhtml"),
        ("toc", "nav.xhtml"),
        ("text", "part-02.xhtml"),
    ]


def test_cover_alone_in_its_own_page_flagged_for_kobo(guide: Built) -> None:
    page = etree.fromstring(guide.member("EPUB/cover.xhtml").encode())
    body = page.find(f"{X}body")
    assert [e.tag for e in body.iter() if e is not body] == [f"{X}section", f"{X}img"]
    opf = etree.fromstring(guide.member("EPUB/content.opf").encode())
    image = opf.find("opf:manifest/opf:item[@properties='cover-image']", NS)
    assert opf.find("opf:metadata/opf:meta[@name='cover']", NS).get("content") == image.get("id")
    first = opf.find("opf:spine/opf:itemref", NS)
    assert first.get("idref") == "cover" and first.get("linear") is None


def test_no_soft_hyphens_and_plain_nav_labels(tmp_path: Path) -> None:
    source = tmp_path / "styled.md"
    source.write_text(
        "---\ntitle: Styled\n---\n\n# A *styled* `code` title\n\nText\u00ad"
        "with a soft hyphen.\n\n# Second\n\nMore.\n",
        encoding="utf-8",
    )
    built = build_book(source, tmp_path / "out")
    with zipfile.ZipFile(built.epub) as z:
        for name in z.namelist():
            if name.endswith((".xhtml", ".ncx", ".opf")):
                assert "\u00ad" not in z.read(name).decode(), name
    nav = etree.fromstring(built.member("EPUB/nav.xhtml").encode())
    first = next(nav.iter(f"{X}a"))
    assert len(first) == 0 and first.text == "A styled code title"


def test_epub_css_uses_only_what_e_readers_support() -> None:
    for name in ("base.css", "epub.css", "epub-code.css"):
        css = (ROOT / "styles" / name).read_text(encoding="utf-8")
        css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
        assert "@page" not in css, name
        assert not re.search(r"\bposition\s*:", css), name
        assert not re.search(r"\d(vw|vh|vmin|vmax)\b", css), name
        assert "float: footnote" not in css and "string-set" not in css, name
        # No forced colour on body text: night modes stay readable.
        body = re.findall(r"(?:^|\})\s*(?:html|body|p)\s*\{([^}]*)\}", css)
        assert not any(re.search(r"(?<!-)color\s*:", rule) for rule in body), name


def test_accessibility_metadata_follows_the_content(guide: Built, article: Built) -> None:
    book = guide.member("EPUB/content.opf")
    for value in (
        "textual",
        "visual",
        "alternativeText",
        "pageBreakMarkers",
        "pageNavigation",
        "tableOfContents",
        "readingOrder",
        "structuralNavigation",
    ):
        assert f">{value}<" in book
    assert "dcterms:conformsTo" not in book  # nobody named to certify it
    paper = article.member("EPUB/content.opf")
    assert ">visual<" not in paper and ">alternativeText<" not in paper


def test_conformance_claimed_only_when_certified_and_met(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "a11y"
    folder.mkdir()
    Image.new("RGB", (8, 8), "blue").save(folder / "dot.png")
    head = "---\ntitle: Claim\naccessibility-certified-by: Example Press QA\n---\n\n"
    (folder / "good.md").write_text(head + "![A blue dot](dot.png)\n", encoding="utf-8")
    good = build_book(folder / "good.md", tmp_path / "good")
    opf = good.member("EPUB/content.opf")
    assert "EPUB Accessibility 1.1 - WCAG 2.1 Level AA</meta>" in opf
    assert '<meta property="a11y:certifiedBy">Example Press QA</meta>' in opf
    (folder / "bad.md").write_text(
        head.replace("Claim", "No claim") + "![](dot.png)\n", encoding="utf-8"
    )
    bad = build_book(folder / "bad.md", tmp_path / "bad")
    opf = bad.member("EPUB/content.opf")
    assert "conformsTo" not in opf and "alternativeText" not in opf


def test_kobo_edition(tmp_path: Path) -> None:
    from publisher.build import build
    from publisher.model import BuildOptions

    from conftest import GUIDE, STYLES

    result = build(BuildOptions(GUIDE, tmp_path, STYLES, ("epub", "kepub")))
    kepub = next(o.path for o in result.outputs if o.format == "kepub")
    assert kepub.name == "a-field-guide-to-books.kepub.epub"
    with zipfile.ZipFile(kepub) as z:
        assert z.infolist()[0].filename == "mimetype"
        chapter = z.read("EPUB/chapter-03.xhtml").decode()
        nav = z.read("EPUB/nav.xhtml").decode()
    assert '<div id="book-columns"><div id="book-inner">' in chapter
    assert re.search(r'<span class="koboSpan" id="kobo\.\d+\.\d+">Type is made of letters', chapter)
    assert "koboSpan" not in nav
    need("java")
    from publisher.check.outputs import run_epubcheck

    assert [str(f) for f in run_epubcheck(kepub) if f.severity != "USAGE"] == []


@pytest.mark.slow
def test_ace_finds_no_violations_in_the_book(guide: Built, tmp_path: Path) -> None:
    report = run_ace(guide.epub, tmp_path)
    assert ace_violations(report) == []
    assert report["earl:result"]["earl:outcome"] == "pass"


@pytest.mark.slow
def test_epubjs_reads_the_book(guide: Built) -> None:
    result = run_epubjs(guide.epub)
    assert result["ok"], result.get("error")
    assert [e["label"] for e in result["toc"]] == [e.title for e in guide.result.book.toc]
    assert result["console_errors"] == [] and result["page_errors"] == []
    assert result["at_end"] and not result["timed_out"]
