"""Print page numbers in the EPUB: one marker per PDF page, where that page begins."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pikepdf
from lxml import etree

from conftest import Built, build_book, pdftotext

X = "{http://www.w3.org/1999/xhtml}"
OPS = "{http://www.idpf.org/2007/ops}"


def page_list(built: Built) -> list[tuple[str, str]]:
    nav = etree.fromstring(built.member("EPUB/nav.xhtml").encode())
    pages = next(n for n in nav.iter(f"{X}nav") if n.get(f"{OPS}type") == "page-list")
    return [("".join(a.itertext()), a.get("href", "")) for a in pages.iter(f"{X}a")]


def text_after_marker(built: Built, href: str) -> str:
    file, _, ident = href.partition("#")
    tree = etree.fromstring(built.member(f"EPUB/{file or 'nav.xhtml'}").encode())
    body = tree.find(f"{X}body")
    marker = tree.xpath(f"//*[@id='{ident}']")[0]
    text, started = [], False
    for node in body.iter():
        if node is marker:
            started = True
            text.append(node.tail or "")
            continue
        if started:
            if node.get("class") == "noteref" or node.get(f"{OPS}type") == "footnote":
                text.append(node.tail or "")
                continue
            text.append((node.text or "") + (node.tail or ""))
        if started and len("".join(text)) > 200:
            break
    return "".join("".join(text).split())


def check_pages(built: Built) -> None:
    with pikepdf.open(built.pdf) as pdf:
        count = len(pdf.pages)
    entries = page_list(built)
    assert [label for label, _ in entries] == [str(n) for n in range(1, count + 1)]
    heads = {built.result.book.meta.title} | {e.title for e in built.result.book.toc}
    pages = pdftotext(built.pdf).split("\f")
    for (label, href), page in zip(entries, pages, strict=False):
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        if lines and lines[0] in heads and len(lines) > 1 and label != "1":
            lines = lines[1:]  # running head
        if not lines:
            continue  # a blank page: its marker shares the next page's place
        first = "".join(lines[0].split())
        first = re.sub(r"[\u2010-]$", "", first)
        after = text_after_marker(built, href)
        # The marker stands at the start of the word the page begins with (or in it).
        window = after[: len(first) + 25]
        assert first[-12:] in window or first[:12] in window, (label, first, after[:60])


def test_article_page_list(article: Built) -> None:
    check_pages(article)
    opf = article.member("EPUB/content.opf")
    assert '<meta refines="#print-source" property="source-of">pagination</meta>' in opf
    assert "pageBreakMarkers" in opf and "pageNavigation" in opf


def test_book_page_list(guide: Built) -> None:
    check_pages(guide)


def test_pages_starting_mid_paragraph(tmp_path: Path) -> None:
    words = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
        "sed",
        "do",
        "eiusmod",
        "tempor",
    ]
    paragraphs = []
    for p in range(12):
        body = " ".join(f"{words[(p * 7 + i) % len(words)]}{i}" for i in range(160))
        paragraphs.append(f"Paragraph {p} begins. {body}.[^n{p}]\n\n[^n{p}]: Note {p}.")
    source = tmp_path / "long.md"
    source.write_text(
        "---\ntitle: Long\n---\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8"
    )
    built = build_book(source, tmp_path / "out")
    check_pages(built)
    with zipfile.ZipFile(built.epub) as z:
        chapter = z.read("EPUB/chapter-01.xhtml").decode()
    # Some pages begin inside a paragraph, not only at block starts.
    assert re.search(r"[a-z0-9] <span epub:type=\"pagebreak\"", chapter)
    assert "\u00ad" not in chapter  # no soft hyphens in EPUB text (Kobo's dictionary)


def test_a_very_long_paragraph(tmp_path: Path) -> None:
    """Set in pieces for WeasyPrint (whose time grows with the square of a
    paragraph's length); page markers still land where each page begins."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    text = " ".join(f"{words[i % len(words)]}{i}" for i in range(8000))  # ≈ 75,000 letters
    source = tmp_path / "long.md"
    source.write_text(f"---\ntitle: Long\n---\n\nShort.\n\n{text}\n\nAfter.\n", encoding="utf-8")
    built = build_book(source, tmp_path / "out")
    check_pages(built)
    assert len(page_list(built)) > 20
    assert f"{words[7999 % 8]}7999" in pdftotext(built.pdf)


def test_no_page_break_marker_inside_a_formula() -> None:
    """Print draws formulas: they hold no letters there, and an XHTML marker inside
    MathML would make the EPUB invalid. A page that begins at a formula begins
    before it; letters count past it."""
    from publisher.pagination import PageStart, insert_markers, mark_blocks

    body = (
        '<section xmlns="http://www.w3.org/1999/xhtml"><p>Ab '
        '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>x</mi><mo>=</mo></math>'
        " cd ef</p></section>"
    )
    section = etree.fromstring(body)
    mark_blocks(section, "c.xhtml")
    block = int(section[0].get("data-block", "").split(":")[1])
    insert_markers(
        section, [PageStart("2", "c.xhtml", block, 2), PageStart("3", "c.xhtml", block, 4)]
    )
    math = section.find(".//{http://www.w3.org/1998/Math/MathML}math")
    assert math is not None and all(isinstance(e.tag, str) and "Math" in e.tag for e in math.iter())
    text = etree.tostring(section[0], encoding="unicode")
    # "Ab" are letters 0-1: page 2 begins at "cd" (letter 2, after the formula), 3 at "ef".
    assert re.search(
        r'id="page-2"[^>]*/> ?cd <[^>]*id="page-3"[^>]*/>ef', text.replace("\n", "")
    ), text
