"""The scholarly example book (examples/scholarly): figures, tables, listings,
equations and sections cross-referenced, citations with a bibliography, formulas
and a back-of-book index, built as an author builds it. Every number the apparatus
prints is read back from both outputs and must be the same in each; both outputs
pass their checkers, and the outline, the navigation and the printed contents
agree."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pdfplumber
import pytest
from lxml import etree

from publisher.check.outputs import inspect_pdf

from conftest import ROOT, Built, build_book, need, need_ace, pdftotext

SCHOLARLY = ROOT / "examples" / "scholarly"
H = {"h": "http://www.w3.org/1999/xhtml", "epub": "http://www.idpf.org/2007/ops"}
EPUB_TYPE = f"{{{H['epub']}}}type"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_book(SCHOLARLY, tmp_path_factory.mktemp("scholarly"))


def documents(built: Built) -> dict[str, etree._Element]:
    with zipfile.ZipFile(built.epub) as z:
        return {
            name.removeprefix("EPUB/"): etree.fromstring(z.read(name))
            for name in sorted(z.namelist())
            if name.endswith(".xhtml")
        }


def chapters(built: Built) -> list[etree._Element]:
    docs = documents(built)
    return [docs[c.file_name] for c in built.result.book.chapters]


def texts(roots: list[etree._Element], path: str) -> list[str]:
    return [" ".join("".join(e.itertext()).split()) for r in roots for e in r.iterfind(path, H)]


def squeezed(text: str) -> str:
    """Text without its spaces and hyphens: the PDF's lines break and hyphenate
    where the EPUB's do not (and a hyphen at a line's end may be the word's own)."""
    return re.sub(r"[\s\-\u00ad\u2010]+", "", text)


def test_the_book_builds_without_a_word_of_warning(book: Built) -> None:
    assert [str(d) for d in book.result.diagnostics if d.severity != "note"] == []


def test_numbers_are_the_same_in_both_outputs(book: Built) -> None:
    body = chapters(book)
    pdf = pdftotext(book.pdf)
    # Captions: figures, tables and listings, numbered per chapter (the style numbers chapters).
    captions = texts(body, ".//h:span[@class='caption-number']")
    assert captions == [
        "Figure 1.1:",
        "Table 1.1:",
        "Table 2.1:",
        "Table 2.2:",
        "Figure 2.1:",
        "Listing 3.1:",
        "Table 3.1:",
    ]
    printed = re.findall(r"\b(?:Figure|Table|Listing) \d+\.\d+:", pdf)
    assert printed == captions
    # Equations: the number at each labelled display, (chapter.n).
    numbers = texts(body, ".//h:span[@class='equation-number']")
    assert numbers == ["(1.1)", "(2.1)", "(2.2)", "(3.1)"]
    assert re.findall(r"\(\d+\.\d+\)", pdf) == numbers
    # References to them, and citations, in reading order, in the PDF's text too.
    squeezed_pdf = squeezed(pdf)
    at = 0
    for kind in ("xref", "citation"):
        for text in texts(body, f".//h:a[@class='{kind}']"):
            assert squeezed(text) in squeezed_pdf, text
    for text in texts(body, ".//h:a[@class='xref']|.//h:a[@class='citation']"):
        found = squeezed_pdf.find(squeezed(text), at)
        assert found >= 0, f"{text!r} not in the PDF after position {at}"
        at = found


def test_references_resolve_to_their_targets(book: Built) -> None:
    docs = documents(book)
    ids = {(name, e.get("id")) for name, root in docs.items() for e in root.iter() if e.get("id")}
    links = texts(chapters(book), ".//h:a[@class='xref']")
    assert "Equation 2.2" in links and "Section 2.2" in links
    for name, root in docs.items():
        for link in root.iterfind(".//h:a[@href]", H):
            href = link.get("href", "")
            if href.startswith("http"):
                continue
            document, hashed, ident = href.partition("#")
            if hashed:
                assert (document or name, ident) in ids, (name, href)
            else:
                assert document in docs, (name, href)


def test_the_bibliography_is_the_same_in_both(book: Built) -> None:
    docs = documents(book)
    section = docs["bibliography.xhtml"].find(".//h:section", H)
    assert section is not None and section.get(EPUB_TYPE) == "bibliography"
    assert section.get("role") == "doc-bibliography"
    entries = texts([section], ".//h:li")
    assert len(entries) == 10  # every work cited, once
    assert entries[0].startswith("Alder, Ken. 2002. The Measure of All Things")
    pdf = squeezed(pdftotext(book.pdf))
    for entry in entries:
        assert squeezed(entry) in pdf, entry


def test_the_index_prints_the_same_pages_in_both(book: Built) -> None:
    docs = documents(book)
    section = docs["index.xhtml"].find(".//h:section", H)
    assert section is not None and section.get(EPUB_TYPE) == "index"
    epub: dict[str, list[str]] = {}
    for item in section.iterfind(".//h:li", H):
        term = item.find("h:span[@epub:type='index-term']", H)
        assert term is not None
        epub["".join(term.itertext())] = [
            "".join(child.itertext())
            for child in item
            if child.get(EPUB_TYPE) in ("index-locator", "index-locator-range")
        ]
    assert epub["Eratosthenes"] == ["5"] and epub["legacy of"] == ["15"]
    lines: set[str] = set()
    with pdfplumber.open(book.pdf) as pdf:
        for page in pdf.pages:
            if not (page.extract_text() or "").startswith("Index"):
                continue
            half = page.width / 2
            for box in ((0, 0, half, page.height), (half, 0, page.width, page.height)):
                text = page.crop(box).extract_text(x_tolerance=1.5) or ""
                lines |= {line.strip() for line in text.splitlines()}
    for term, locators in epub.items():
        if locators:
            assert f"{term}, {', '.join(locators)}" in lines, term
    # Each number is a page on which the marked word is printed.
    with pdfplumber.open(book.pdf) as pdf:
        pages = [page.extract_text() or "" for page in pdf.pages]
    for term in ("Eratosthenes", "Cleomedes", "gnomon", "haversine", "geodesic"):
        for number in epub[term]:
            assert term in pages[int(number) - 1], (term, number)


def test_outline_nav_and_printed_contents_agree(book: Built) -> None:
    nav = documents(book)["nav.xhtml"]
    toc = next(n for n in nav.iterfind(".//h:nav", H) if n.get(EPUB_TYPE) == "toc")
    labels = [" ".join("".join(a.itertext()).split()) for a in toc.iterfind(".//h:a", H)]
    assert labels[-2:] == ["References", "Index"]
    findings, facts = inspect_pdf(book.pdf, book.result.book)
    assert findings == []
    assert facts["outline"] == labels
    contents = pdftotext(book.pdf).split("\f")[2]
    printed = [
        re.sub(r"[\s.]*\d+$", "", line).strip()
        for line in contents.splitlines()
        if re.search(r"\d+$", line.strip())
    ]
    assert printed == labels


def test_the_outputs_pass_their_checkers(book: Built, tmp_path: Path) -> None:
    need("java")
    from publisher.check.outputs import run_epubcheck

    assert [f for f in run_epubcheck(book.epub) if f.severity != "USAGE"] == []
    done = subprocess.run(
        [sys.executable, "-m", "pdfua", "check", "--format", "json", str(book.pdf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(done.stdout)["summary"]["errors"] == 0
    need_ace()
    from publisher.check.ace import run_ace, violations

    assert list(violations(run_ace(book.epub, tmp_path))) == []


def test_a_short_table_is_not_split_from_its_caption(book: Built) -> None:
    """A table of a few rows is set on one page with its caption (split, a row was
    left alone at the top of the next page, and the caption at the foot of one)."""
    tables = [t for c in chapters(book) for t in c.iterfind(".//h:table", H)]
    assert len(tables) >= 4
    with pdfplumber.open(book.pdf) as pdf:
        pages = [squeezed(page.extract_text() or "") for page in pdf.pages]
    for table in tables:
        caption = squeezed("".join(table.find("h:caption", H).itertext()))  # type: ignore[union-attr]
        rows = ["".join(r.find("h:td", H).itertext()) for r in table.iterfind(".//h:tbody/h:tr", H)]  # type: ignore[union-attr]
        page = next(p for p in pages if caption in p)
        assert all(squeezed(row) in page for row in rows), (caption, rows)
