"""Every sentence of the seed appears in both outputs, in order, typography intact."""

from __future__ import annotations

import re
import zipfile

from lxml import etree

from conftest import ROOT, SEED, Built, pdftotext

HYPHENS = re.compile("[-\u2010]")


def sentences(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out += [s for s in re.split(r"(?<=[.!?”])\s+", line.strip()) if s]
    return out


def normalise(text: str) -> str:
    text = text.replace("\u00ad", "")
    text = re.sub(r"[-\u2010]\n", "", text)  # a word hyphenated at a line end
    text = HYPHENS.sub("", text)
    return " ".join(text.split())


def assert_in_order(text: str, wanted: list[str]) -> None:
    position = 0
    for sentence in wanted:
        found = text.find(normalise(sentence), position)
        assert found >= 0, f"missing or out of order: {sentence!r}"
        position = found + 1


def epub_text(epub: Built) -> str:
    parts = []
    with zipfile.ZipFile(epub.epub) as z:
        for chapter in epub.result.book.chapters:
            tree = etree.fromstring(z.read(f"EPUB/{chapter.file_name}"))
            body = tree.find("{http://www.w3.org/1999/xhtml}body")
            parts.append("".join(body.itertext()))
    return "\n".join(parts)


def pdf_text(built: Built) -> str:
    pages = pdftotext(built.pdf).split("\f")
    heads = {built.result.book.meta.title} | {e.title for e in built.result.book.toc}
    kept = []
    for n, page in enumerate(pages):
        lines = page.strip("\n").split("\n")
        if n and lines and lines[0].strip() in heads:  # running head
            lines = lines[1:]
        if lines and lines[-1].strip().isdigit():  # folio
            lines = lines[:-1]
        kept.append("\n".join(lines))
    return "\n".join(kept)


def test_seed_copy_matches_shared_seed() -> None:
    shared = ROOT.parent / "shared" / "seed" / "article.txt"
    if shared.is_file():
        assert shared.read_bytes() == SEED.read_bytes()


def test_manuscript_holds_the_seed_word_for_word(seed_lines: list[str]) -> None:
    text = (ROOT / "manuscript" / "article.md").read_text(encoding="utf-8")
    for line in seed_lines:
        assert line in text
    assert "’" in text and "“" in text and "”" in text
    assert "'" not in text.split("---", 2)[2], "straight apostrophes in the body"


def test_every_sentence_in_the_epub_in_order(article: Built, seed_lines: list[str]) -> None:
    text = epub_text(article)
    assert_in_order(normalise(text), sentences(seed_lines))
    # Typography intact, not merely the letters: the exact sentences are there.
    for sentence in sentences(seed_lines):
        assert sentence in " ".join(text.split())


def test_every_sentence_in_the_pdf_in_order(article: Built, seed_lines: list[str]) -> None:
    text = normalise(pdf_text(article))
    assert_in_order(text, sentences(seed_lines))
    for mark in ("’", "“", "”"):
        assert mark in text
    assert "'" not in text and '"' not in text
