"""Books as authors write them: the example book in examples/field-guide, and
manuscript shapes (single file split into chapters and parts, split-level)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pikepdf
import pytest
from lxml import etree

from publisher.build import render
from publisher.check.outputs import inspect_pdf
from publisher.model import BACK, BODY, FRONT

from conftest import Built, need, pdftotext

X = "{http://www.w3.org/1999/xhtml}"
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"


def nav_labels(built: Built) -> list[str]:
    nav = etree.fromstring(built.member("EPUB/nav.xhtml").encode())
    toc = next(n for n in nav.iter(f"{X}nav") if n.get(EPUB_TYPE) == "toc")
    return ["".join(a.itertext()) for a in toc.iter(f"{X}a")]


def test_chapters_parts_and_matter(guide: Built) -> None:
    chapters = guide.result.book.chapters
    assert [(c.kind, c.matter, c.in_part) for c in chapters] == [
        ("preface", FRONT, False),
        ("part", BODY, False),
        ("chapter", BODY, True),
        ("chapter", BODY, True),
        ("part", BODY, False),
        ("chapter", BODY, True),
        ("chapter", BODY, True),
        ("appendix", BACK, False),
    ]
    assert [p.kind for p in guide.result.book.front] == [
        "titlepage",
        "copyright-page",
        "dedication",
    ]
    with zipfile.ZipFile(guide.epub) as z:
        names = z.namelist()
    for chapter in chapters:  # each its own content document
        assert f"EPUB/{chapter.file_name}" in names
    appendix = guide.member(f"EPUB/{chapters[-1].file_name}")
    assert 'epub:type="appendix" role="doc-appendix"' in appendix
    copyright_page = guide.member("EPUB/copyright.xhtml")
    for text in (
        "© 2026 The publisher contributors",
        "First edition",
        "ISBN 978-3-16-148410-0",
        "Example Press",
    ):
        assert text in copyright_page


def test_nav_pdf_outline_and_printed_toc_agree(guide: Built) -> None:
    labels = nav_labels(guide)
    assert labels[:4] == ["Preface", "Part One · Words", "Letters and Words", "Spacing"]
    findings, facts = inspect_pdf(guide.pdf, guide.result.book)
    assert findings == []
    assert facts["outline"] == labels
    # The printed contents, with page numbers, lists the same entries in order.
    contents = pdftotext(guide.pdf).split("\f")[3]
    printed = [
        re.sub(r"[\s.]*\d+$", "", line).strip()
        for line in contents.splitlines()
        if re.search(r"\d+$", line.strip())
    ]
    assert printed == labels


def test_outline_nests_chapters_under_parts(guide: Built) -> None:
    with pikepdf.open(guide.pdf) as pdf, pdf.open_outline() as outline:
        top = [(str(item.title), [str(c.title) for c in item.children]) for item in outline.root]
    assert top[1] == ("Part One · Words", ["Letters and Words", "Languages and Scripts"])


def test_notes_numbered_per_chapter_with_repeated_calls(guide: Built) -> None:
    letters = guide.member("EPUB/chapter-03.xhtml")
    assert letters.count('epub:type="noteref"') == 2
    assert 'id="fnref-c3-1"' in letters and 'id="fnref-c3-1-2"' in letters
    assert letters.count('epub:type="footnote"') == 1
    # In print the note sits at the foot of the page of its call, numbered alike.
    text = pdftotext(guide.pdf)
    assert "1. Hyphenation patterns come from Pyphen" in " ".join(text.split())


def test_links_between_chapters_resolve(guide: Built) -> None:
    preface = guide.member("EPUB/chapter-01.xhtml")
    assert '<a href="chapter-04.xhtml#scripts">languages</a>' in preface
    assert '<a href="chapter-08.xhtml">appendix</a>' in preface
    with zipfile.ZipFile(guide.epub) as z:
        for name in z.namelist():
            if not name.endswith(".xhtml"):
                continue
            tree = etree.fromstring(z.read(name))
            for a in tree.iter(f"{X}a"):
                href = a.get("href", "")
                if href.startswith(("http", "mailto")):
                    continue
                file, _, frag = href.partition("#")
                target = etree.fromstring(z.read(f"EPUB/{file}")) if file else tree
                if frag:
                    assert target.xpath(f"//*[@id='{frag}']"), f"{name}: {href}"
    # In the PDF every internal link has a destination inside the document.
    with pikepdf.open(guide.pdf) as pdf:
        for page in pdf.pages:
            for annot in page.get("/Annots", []):
                action = annot.get("/A")
                if action is not None and "/URI" in action:
                    assert not str(action.URI).startswith("chapter-")


def test_images_packaged_once_and_figures(guide: Built) -> None:
    with zipfile.ZipFile(guide.epub) as z:
        images = sorted(n for n in z.namelist() if n.startswith("EPUB/images/"))
    assert images == [
        "EPUB/images/chart.png",
        "EPUB/images/cover.jpg",
        "EPUB/images/diagram.svg",
        "EPUB/images/gradient.jpg",
    ]
    figures = guide.member("EPUB/chapter-06.xhtml")
    assert figures.count("<figure>") == 3
    assert "<figcaption>Figure 1. Growth over five years.</figcaption>" in figures


def test_languages_and_scripts(guide: Built) -> None:
    need("fc-list")
    languages = guide.member("EPUB/chapter-04.xhtml")
    assert '<span lang="ru" xml:lang="ru">Путин</span>' in languages
    assert 'lang="zh-Hans" xml:lang="zh-Hans"' in languages
    _, facts = inspect_pdf(guide.pdf, guide.result.book)
    # The CJK passage is drawn from a CJK font, not from boxes in the book face.
    assert any("CJK-SC" in name for name in facts["fonts"]), facts["fonts"]
    text = pdftotext(guide.pdf)
    assert "Путин" in text and "λόγος" in text and "一带一路" in text


def test_code_is_highlighted_with_the_shipped_face(guide: Built) -> None:
    code = guide.member("EPUB/chapter-07.xhtml")
    assert '<code class="language-python"><span class="hl-k">def</span>' in code
    _, facts = inspect_pdf(guide.pdf, guide.result.book)
    assert any("Liberation-Mono" in name for name in facts["fonts"])
    opf = guide.member("EPUB/content.opf")
    assert "fonts/PubMono-Regular.woff2" in opf  # Liberation Mono, subset and renamed


def test_epubcheck_passes_on_the_book(guide: Built) -> None:
    need("java")
    from publisher.check.outputs import run_epubcheck

    problems = [str(f) for f in run_epubcheck(guide.epub) if f.severity != "USAGE"]
    assert problems == []


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


NOVEL = """---
title: A Novel
---

# VOLUME I

## CHAPTER I

It was a dark night.

## CHAPTER II

The storm went on.

# VOLUME II

> An epigraph for the second volume.

## CHAPTER III

Morning came.
"""


def test_single_file_split_into_parts_and_chapters(tmp_path: Path) -> None:
    book = render(write(tmp_path / "novel.md", NOVEL))
    assert [(c.kind, c.title) for c in book.chapters] == [
        ("part", "VOLUME I"),
        ("chapter", "CHAPTER I"),
        ("chapter", "CHAPTER II"),
        ("part", "VOLUME II"),
        ("chapter", "CHAPTER III"),
    ]
    assert [(e.level, e.title) for e in book.toc] == [
        (1, "VOLUME I"),
        (2, "CHAPTER I"),
        (2, "CHAPTER II"),
        (1, "VOLUME II"),
        (2, "CHAPTER III"),
    ]
    # Each chapter's title is the <h1> of its own document.
    assert '<h1 id="chapter-i">CHAPTER I</h1>' in book.chapters[1].body


def test_chapters_at_level_one_and_split_level(tmp_path: Path) -> None:
    text = "---\ntitle: T\n---\n\n# One\n\nText.\n\n## A\n\nMore.\n\n# Two\n\nText.\n"
    book = render(write(tmp_path / "a.md", text))
    assert [c.title for c in book.chapters] == ["One", "Two"]
    split = render(write(tmp_path / "b.md", text.replace("title: T", "title: T\nsplit-level: 2")))
    assert [(c.kind, c.title) for c in split.chapters] == [
        ("part", "One"),
        ("chapter", "A"),
        ("part", "Two"),
    ]


def test_folder_in_natural_order_and_toc_depth(tmp_path: Path) -> None:
    write(tmp_path / "book" / "book.yaml", "title: Folder\ntoc-depth: 1\n")
    for n in (10, 2, 1):
        write(tmp_path / "book" / f"ch{n}.md", f"# Chapter {n}\n\n## Section\n\nText.\n")
    book = render(tmp_path / "book")
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2", "Chapter 10"]
    assert [e.title for e in book.toc] == ["Chapter 1", "Chapter 2", "Chapter 10"]
    assert len({c.file_name for c in book.chapters}) == 3


def test_the_book_file_named_stands_for_its_folder(tmp_path: Path) -> None:
    """`publisher build book/book.yaml` is what a new user types: it builds the
    folder (it said "the book has no title", reading the YAML as Markdown); another
    YAML file is refused in one line that says what to pass."""
    from publisher.errors import ManuscriptError

    write(tmp_path / "book" / "book.yaml", "title: Folder\nchapters: [one.md]\n")
    write(tmp_path / "book" / "one.md", "# One\n\nText.\n")
    book = render(tmp_path / "book" / "book.yaml")
    assert book.meta.title == "Folder" and [c.title for c in book.chapters] == ["One"]
    write(tmp_path / "book" / "other.yml", "title: Other\n")
    with pytest.raises(ManuscriptError) as refused:
        render(tmp_path / "book" / "other.yml")
    assert "a YAML file is not a manuscript" in str(refused.value)
    assert "book.yaml" in (refused.value.hint or "")


def test_large_images_are_scaled_down_for_the_epub_only(tmp_path: Path) -> None:
    from PIL import Image

    from conftest import build_book

    folder = tmp_path / "big"
    write(
        folder / "book.md",
        "---\ntitle: Big\nepub-image-size: 400\n---\n\n![A big red square](big.png)\n",
    )
    Image.new("RGB", (2400, 1800), (200, 30, 30)).save(folder / "big.png")
    built = build_book(folder / "book.md", tmp_path / "out")
    with zipfile.ZipFile(built.epub) as z:
        packaged = Image.open(io.BytesIO(z.read("EPUB/images/big.png")))
    assert packaged.size == (400, 300)
    with pikepdf.open(built.pdf) as pdf:
        widths = [int(img.Width) for page in pdf.pages for img in page.get_images().values()]
    assert 2400 in widths  # full resolution for print


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Alice's Adventures in Wonderland", "alices-adventures-in-wonderland"),
        ("Alice\u2019s Adventures", "alices-adventures"),
        ("'Tis the Season", "tis-the-season"),
        ("Rock 'n' Roll", "rock-n-roll"),
        ("Crème brûlée", "creme-brulee"),
        ("", "book"),
    ],
)
def test_file_names_from_titles(title: str, name: str) -> None:
    from publisher.source.metadata import slugify

    assert slugify(title) == name


def test_a_long_title_in_any_script_makes_a_file_name_the_system_accepts() -> None:
    from publisher.source.metadata import SLUG_BYTES, slugify

    for letter in ("a", "\u65e5", "\U00020000"):  # 1, 3 and 4 bytes in UTF-8
        slug = slugify(letter * 300)
        assert 0 < len(slug.encode("utf-8")) <= SLUG_BYTES
        assert len((slug + ".kepub.epub").encode("utf-8")) < 255
