"""The article's PDF: a typeset document, tagged, fonts embedded, metadata set."""

from __future__ import annotations

import pikepdf

from publisher.check.outputs import inspect_pdf

from conftest import Built, pdftotext


def test_pdf_structure_fonts_and_metadata(article: Built) -> None:
    findings, facts = inspect_pdf(article.pdf, article.result.book)
    assert findings == []
    assert facts["pages"] == 2
    assert facts["title"] == "Putin Visits China to Strengthen Partnership"
    assert facts["lang"] == "en"
    assert facts["tagged"] and facts["display_title"]
    # The complete family is used: bold headings, italic deck, regular text.
    assert any("Bold" in f for f in facts["fonts"])
    assert any("Italic" in f for f in facts["fonts"])
    assert all("Gentium" in f for f in facts["fonts"])
    assert facts["outline"] == [e.title for e in article.result.book.toc]


def test_pages_have_folios_and_a_running_head(article: Built) -> None:
    pages = pdftotext(article.pdf).split("\f")
    assert pages[0].strip().splitlines()[-1].strip() == "1"
    second = pages[1].strip().splitlines()
    assert second[-1].strip() == "2"
    # Left page: the book's title as running head, absent from the opening page.
    assert second[0].strip() == "Putin Visits China to Strengthen Partnership"
    assert not pages[0].strip().startswith("Putin Visits China to Strengthen Partnership\n\nPutin")


def test_text_is_justified_and_hyphenated(article: Built) -> None:
    text = pdftotext(article.pdf)
    # Hyphenation from lang=en breaks some words at line ends.
    assert any(
        line.rstrip()[-1:] in "-\u2010" and line.rstrip()[-2:-1].isalpha()
        for line in text.splitlines()
        if line.strip()
    )


def test_pdf_is_tagged_with_headings_and_paragraphs(article: Built) -> None:
    with pikepdf.open(article.pdf) as pdf:
        root = pdf.Root.StructTreeRoot
        kinds: set[str] = set()

        def walk(node: object, depth: int = 0) -> None:
            if depth > 50 or not isinstance(node, pikepdf.Dictionary):
                if isinstance(node, pikepdf.Array):
                    for child in node:
                        walk(child, depth + 1)
                return
            if "/S" in node:
                kinds.add(str(node.S))
            if "/K" in node:
                walk(node.K, depth + 1)

        walk(root.K)
    assert {"/H1", "/H2", "/P"} <= kinds
