"""The back-of-book index (render/index.py, collation.py, pdf/pieces.py): marks in
the Markdown, entries and sub-entries, order by language, "see" and "see also",
the EPUB's index in the EPUB Indexes vocabulary with locators that reach the
marked places, and the PDF's index whose page numbers are the pages the marked
words are printed on (pdfplumber), the same numbers in the EPUB's index."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pdfplumber
import pikepdf
import pytest
from lxml import etree

from publisher.model import BookIndex, IndexEntry, RenderedBook
from publisher.pdf import job as pdfjob
from publisher.pdf import pieces
from publisher.pdf.weasyprint import hooks
from publisher.render.collation import collation
from publisher.render.index import with_pages

from conftest import ROOT, STYLES, Built, build_book, need, need_ace

XHTML = "{http://www.w3.org/1999/xhtml}"
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"
NS = {"h": "http://www.w3.org/1999/xhtml", "epub": "http://www.idpf.org/2007/ops"}


def write(folder: Path, text: str, name: str = "book.md") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def rendered(folder: Path, text: str) -> RenderedBook:
    from publisher.build import render

    return render(write(folder, text))


def entries(index: BookIndex) -> list[tuple[int, str]]:
    """(depth, term) of every entry, in order."""
    out: list[tuple[int, str]] = []

    def walk(items: tuple[IndexEntry, ...], depth: int) -> None:
        for entry in items:
            out.append((depth, entry.term))
            walk(entry.entries, depth + 1)

    for group in index.groups:
        walk(group.entries, 0)
    return out


SMALL = """---
title: Voyages
lang: en
---

# The Voyage

[Darwin]{.index} sailed on [the ship]{index="HMS Beagle"}; the `malloc`{.index} call
and [a link](#islands){.index} mark too. [Darwin]{.index #charles}.

## Islands

He saw [finches]{index="finches!Galápagos"} and [*Origin*]{.index sort="Origin"}.[^1]
[]{index="Beagle" see="HMS Beagle"} []{index="evolution" see-also="finches!Galápagos"}

[^1]: A note on [Lyell]{.index}.

# Theory

More on [finches]{index="finches!Darwin's"} and [evolution]{.index}.
"""


def test_marks_get_ids_and_no_attribute_reaches_the_output(tmp_path: Path) -> None:
    book = rendered(tmp_path, SMALL)
    body = book.chapters[0].body
    assert '<span id="ix-1">Darwin</span>' in body
    assert '<code id="ix-3">malloc</code>' in body
    assert 'href="#islands" id="ix-4"' in body  # a link marks its place too
    assert '<span id="charles">Darwin</span>' in body  # the author's id is the target
    assert "ix-" in book.chapters[0].body.split("footnotes")[1]  # a note's mark too
    for chapter in book.chapters[:-1]:
        assert not re.search(r'class="index"| index=| see=| see-also=| sort=', chapter.body)
    assert not book.diagnostics


def test_entries_sub_entries_and_references(tmp_path: Path) -> None:
    index = rendered(tmp_path, SMALL).index
    assert index is not None
    assert entries(index) == [
        (0, "a link"),
        (0, "Beagle"),
        (0, "Darwin"),
        (0, "evolution"),
        (0, "finches"),
        (1, "Darwin’s"),  # a term given is Markdown: curly quotes, emphasis, code
        (1, "Galápagos"),
        (0, "HMS Beagle"),
        (0, "Lyell"),
        (0, "<code>malloc</code>"),
        (0, "<em>Origin</em>"),
    ]
    flat = _by_term(index)
    assert [g.heading for g in index.groups] == ["A", "B", "D", "E", "F", "H", "L", "M", "O"]
    assert [e.term for e in flat["finches"].entries] == ["Darwin’s", "Galápagos"]
    assert len(flat["Darwin"].places) == 2  # two marks, one entry
    assert flat["Darwin"].places[1].ident == "charles"
    # "see" has no page of its own, and links to its target's entry
    assert flat["Beagle"].places == ()
    assert flat["Beagle"].see == (("HMS Beagle", flat["HMS Beagle"].ident),)
    assert flat["evolution"].see_also == (("finches: Galápagos", flat["Galápagos"].ident),)
    # Without page numbers a locator names the section the mark is in.
    assert [p.section for p in flat["Darwin"].places] == ["The Voyage", "The Voyage"]
    assert flat["Galápagos"].places[0].section == "Islands"
    assert flat["Lyell"].places[0].section == "The Voyage"  # in a note: its chapter


def _by_term(index: BookIndex) -> dict[str, IndexEntry]:
    found: dict[str, IndexEntry] = {}

    def walk(items: tuple[IndexEntry, ...]) -> None:
        for entry in items:
            found.setdefault(re.sub(r"<[^>]+>", "", entry.term), entry)
            walk(entry.entries)

    for group in index.groups:
        walk(group.entries)
    return found


@pytest.mark.parametrize(
    ("lang", "words", "order", "headings"),
    [
        # Swedish: å ä ö are letters after z, each its own heading.
        (
            "sv",
            ["öga", "apa", "Åsa", "zebra", "äpple", "ål", "ost"],
            ["apa", "ost", "zebra", "ål", "Åsa", "äpple", "öga"],
            ["A", "O", "Z", "Å", "Ä", "Ö"],
        ),
        # Finnish as Swedish; Danish and Norwegian æ ø å, and aa as å.
        ("fi", ["öljy", "ääni", "auto"], ["auto", "ääni", "öljy"], ["A", "Ä", "Ö"]),
        (
            "da",
            ["Aarhus", "øl", "æble", "åben", "abe", "zone"],
            ["abe", "zone", "æble", "øl", "åben", "Aarhus"],
            ["A", "Z", "Æ", "Ø", "Å"],
        ),
        ("nb", ["ørn", "åker", "ærlig"], ["ærlig", "ørn", "åker"], ["Æ", "Ø", "Å"]),
        # Spanish: ñ after n.
        (
            "es",
            ["ñandú", "nube", "oso", "nada"],
            ["nada", "nube", "ñandú", "oso"],
            ["N", "Ñ", "O"],
        ),
        # German as the Unicode default: ä with a, ö with o.
        (
            "de",
            ["Öl", "Apfel", "Ofen", "Äpfel", "Zucker"],
            ["Apfel", "Äpfel", "Ofen", "Öl", "Zucker"],
            ["A", "O", "Z"],
        ),
        # English: accents come second, case third; digits and symbols first.
        (
            "en",
            ["éclair", "Zürich", "1984", "apple", "Eclair", "“quoted”", "æther"],
            ["1984", "æther", "apple", "Eclair", "éclair", "“quoted”", "Zürich"],
            ["Symbols and numbers", "A", "E", "Q", "Z"],
        ),
    ],
)
def test_the_order_is_the_languages(
    tmp_path: Path, lang: str, words: list[str], order: list[str], headings: list[str]
) -> None:
    marks = " ".join(f"[{w}]{{.index}}" for w in words)
    index = rendered(tmp_path, f"---\ntitle: Order\nlang: {lang}\n---\n\n{marks}\n").index
    assert index is not None
    assert [term for _, term in entries(index)] == order
    assert [g.heading for g in index.groups] == headings
    # The same order straight from the collation.
    keys = collation(lang)
    assert sorted(words, key=lambda w: (keys.key(w), w)) == order


def test_see_and_title_are_in_the_books_language(tmp_path: Path) -> None:
    text = (
        "---\ntitle: Reise\nlang: de\n---\n\n[Schiff]{.index} []{index=Boot see=Schiff} "
        '[]{index="Schiff" see-also="Meer"} [Meer]{.index}\n'
    )
    book = rendered(tmp_path, text)
    body = book.chapters[-1].body
    assert '<h1 id="index-title">Register</h1>' in body
    assert "<i>Siehe</i>" in body and "<i>Siehe auch</i>" in body
    titled = rendered(tmp_path / "t", text.replace("lang: de", "lang: de\nindex-title: Index"))
    assert '<h1 id="index-title">Index</h1>' in titled.chapters[-1].body


def test_messages_name_the_place(tmp_path: Path) -> None:
    text = (
        "---\ntitle: Faults\n---\n\n"
        '[]{.index} and [x]{index="a!!b"}\n\n'  # line 5
        '[Beagle]{.index} []{index=ship see="Beagel"}\n\n'  # line 7
        "[]{index=voyage range=start}\n\n"  # line 9
        "[]{index=voyage range=end} []{index=calm range=end} [y]{index=z range=middle}\n"
    )
    book = rendered(tmp_path, text)
    found = [(d.code, d.where.line if d.where else None, d.message) for d in book.diagnostics]
    assert found == [
        ("T15", 5, "index mark without a term: it is left out of the index"),
        (
            "T15",
            5,
            "index term 'a!!b' has an empty level: the mark is left out of the index",
        ),
        (
            "T17",
            11,
            "index range 'middle' is neither start nor end: the mark is one place",
        ),
        (
            "T17",
            11,
            "index range of 'calm' closed here was never opened: it is printed as one place",
        ),
        (
            "T16",
            7,
            "index see 'Beagel' is not a term of the index: it is printed without a link",
        ),
    ]
    hint = next(d.hint for d in book.diagnostics if d.code == "T16")
    assert hint == "did you mean 'Beagle'?"
    assert book.index is not None
    ship = _by_term(book.index)["ship"]
    assert ship.see == (("Beagel", None),)  # printed, not linked
    assert "<i>See</i> Beagel</span>" in book.chapters[-1].body


def test_a_term_deeper_than_three_levels_is_left_out_not_a_crash(tmp_path: Path) -> None:
    """Each level is a recursion of the arrangement: thousands of `!` were an
    internal error (RecursionError, exit 70); more than makeindex's three levels
    is a warning and the mark is left out."""
    deep = "!".join(f"l{i}" for i in range(3000))
    text = (
        "---\ntitle: Deep\n---\n\n"
        f'[a]{{index="{deep}"}} [b]{{index="x!y!z"}} [c]{{index="p!q!r!s"}}\n'
    )
    book = rendered(tmp_path, text)
    found = [(d.code, d.where.line if d.where else None) for d in book.diagnostics]
    assert found == [("T18", 5), ("T18", 5)]
    assert "has 3000 levels, more than 3" in book.diagnostics[0].message
    assert book.index is not None
    assert sorted(_by_term(book.index)) == ["x", "y", "z"]  # x!y!z: three levels are kept


def test_references_that_go_round_are_named(tmp_path: Path) -> None:
    text = (
        "---\ntitle: Round\n---\n\n"
        '[]{index="A" see="B"} []{index="B" see="C"} []{index="C" see="A"}\n\n'  # line 5
        '[x]{index="D"} []{index="E" see="D"} []{index="D" see="E"}\n\n'  # D has a page
        '[y]{index="F" see-also="F"}\n'  # line 9
    )
    book = rendered(tmp_path, text)
    found = [(d.code, d.where.line if d.where else None, d.message) for d in book.diagnostics]
    assert found == [
        (
            "T19",
            5,
            "index see of 'A' leads back to it (A → B → C → A): no entry on the way has a page",
        ),
        ("T19", 9, "index see also of 'F' names the term itself"),
    ]


def test_no_index_without_marks_and_no_pyuca_either(tmp_path: Path) -> None:
    """A manuscript without marks has no index and never imports the collation."""
    plain = write(tmp_path / "plain", "---\ntitle: Plain\n---\n\n# One\n\n[a span]{.x}.\n")
    marked = write(tmp_path / "marked", "---\ntitle: Marked\n---\n\n# One\n\n[Darwin]{.index}.\n")
    script = (
        "import sys; from pathlib import Path; from publisher.build import render; "
        "book = render(Path(sys.argv[1])); "
        "print(book.index is not None, 'pyuca' in sys.modules, len(book.chapters))"
    )
    env = {"PYTHONPATH": str(ROOT / "src")}
    for path, expected in ((plain, "False False 1"), (marked, "True True 2")):
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        assert done.stdout.split() == expected.split()


def test_printed_pages_merge_into_ranges(tmp_path: Path) -> None:
    text = "---\ntitle: Pages\n---\n\n" + "".join(
        f"[Orca]{{.index}} [Seal]{{.index}} [Kelp]{{.index}} para {n}.\n\n" for n in range(8)
    )
    text += '[]{index="Tide" range=start} []{index="Tide" range=end} [Tide]{.index}\n'
    book = rendered(tmp_path, text)
    assert book.index is not None
    marks = list(book.index.marks)  # Orca, Seal, Kelp per paragraph, then the tides
    pages: dict[str, str] = {}
    for n in range(8):
        orca, seal, kelp = marks[3 * n : 3 * n + 3]
        pages[orca] = str(41 + n // 3)  # 41 41 41 42 42 42 43 43: one range
        pages[seal] = str([5, 6, 9, 12, 13, 14, 30, 30][n])  # runs of two and three
        pages[kelp] = str(7)
    start, end, single = marks[24:]
    pages |= {start: "50", end: "55", single: "53"}  # a marked range holds a page within
    numbered = with_pages(book, pages).chapters[-1].body
    assert ">41</a>\u2013<a" in numbered and ">43</a></span>" in numbered
    terms = _locators_by_term(numbered)
    assert terms["Orca"] == ["41\u201343"]
    assert terms["Seal"] == ["5\u20136", "9", "12\u201314", "30"]
    assert terms["Kelp"] == ["7"]
    assert terms["Tide"] == ["50\u201355"]
    ff = (
        with_pages(
            _with_ranges(book, "ff"),
            pages,
        )
        .chapters[-1]
        .body
    )
    assert _locators_by_term(ff)["Seal"] == ["5\u00a0f.", "9", "12\u00a0ff.", "30"]
    assert _locators_by_term(ff)["Orca"] == ["41\u00a0ff."]


def _with_ranges(book: RenderedBook, ranges: str) -> RenderedBook:
    from dataclasses import replace

    assert book.index is not None
    return replace(book, index=replace(book.index, ranges=ranges))


def _locators_by_term(body: str) -> dict[str, list[str]]:
    """term -> the locators' texts of its entry, a range's two ends as one."""
    tree = etree.fromstring(f'<body xmlns="{NS["h"]}" xmlns:epub="{NS["epub"]}">{body}</body>')
    found: dict[str, list[str]] = {}
    for item in tree.iterfind(".//h:li", NS):
        term_span = item.find("h:span[@epub:type='index-term']", NS)
        assert term_span is not None
        term = "".join(term_span.itertext())
        texts = []
        for child in item:
            kind = child.get(EPUB_TYPE)
            if kind in ("index-locator", "index-locator-range"):
                texts.append("".join(child.itertext()))
        found[term] = texts
    return found


def test_the_epub_index_follows_the_epub_indexes_vocabulary(tmp_path: Path) -> None:
    from publisher.build import build
    from publisher.model import BuildOptions

    source = write(tmp_path, SMALL)
    result = build(BuildOptions(source, tmp_path / "out", STYLES, ("epub",)))
    epub = result.outputs[0].path
    with zipfile.ZipFile(epub) as z:
        docs = {
            name.removeprefix("EPUB/"): etree.fromstring(z.read(name))
            for name in z.namelist()
            if name.endswith(".xhtml")
        }
        opf = z.read("EPUB/content.opf").decode()
    _check_epub_index(docs, opf)
    # Without pages, locators read as the sections' headings.
    texts = _locators_by_term(_section_xml(docs["index.xhtml"]))
    assert texts["Darwin"] == ["The Voyage"]  # two marks in one section: one locator
    assert texts["Galápagos"] == ["Islands"]
    assert texts["Darwin’s"] == ["Theory"]


def _section_xml(document: etree._Element) -> str:
    section = document.find(".//h:section", NS)
    text = etree.tostring(section, encoding="unicode")
    return re.sub(r' xmlns(:\w+)?="[^"]*"', "", text)


def _check_epub_index(docs: dict[str, etree._Element], opf: str) -> None:
    index = docs["index.xhtml"]
    section = index.find(".//h:section", NS)
    assert section is not None
    assert section.get(EPUB_TYPE) == "index" and section.get("role") == "doc-index"
    groups = section.findall(".//h:section", NS)
    assert groups and all(g.get(EPUB_TYPE) == "index-group" for g in groups)
    for group in groups:
        lists = group.findall("h:ul", NS)
        assert lists and all(ul.get(EPUB_TYPE) == "index-entry-list" for ul in lists)
    items = section.findall(".//h:li", NS)
    assert items and all(li.get(EPUB_TYPE) == "index-entry" for li in items)
    assert all(li.find("h:span[@epub:type='index-term']", NS) is not None for li in items)
    ids = {li.get("id") for li in items}
    # Every locator reaches an element with its id in its document; every "see"
    # reaches an entry of the index.
    locators = index.findall(".//h:a[@epub:type='index-locator']", NS)
    assert locators
    for link in locators:
        document, _, target = link.get("href", "").partition("#")
        assert document in docs and document != "index.xhtml"
        assert docs[document].find(f".//*[@id='{target}']") is not None, link.get("href")
    for kind in ("index-xref-preferred", "index-xref-related"):
        for link in index.findall(f".//h:a[@epub:type='{kind}']", NS):
            assert link.get("href", "")[1:] in ids
    nav = docs["nav.xhtml"]
    landmark = nav.find(".//h:nav[@epub:type='landmarks']//h:a[@epub:type='index']", NS)
    assert landmark is not None and landmark.get("href") == "index.xhtml"
    toc = nav.find(".//h:nav[@epub:type='toc']", NS)
    assert toc is not None and toc.findall(".//h:a", NS)[-1].get("href") == (
        "index.xhtml#index-title"
    )
    spine = re.findall(r'<itemref idref="([^"]+)"', opf)
    assert spine[-1] == "index"


# --- both outputs, with the PDF -------------------------------------------------------

FILLER = (
    "the river ran past the mill where she had waited through the long winter for news "
    "of the ship and of the men who sailed her north into the ice beyond the last charted "
    "islands while the town below kept its lamps lit against the early dark"
).split()
# Five letters or fewer: never hyphenated (print.css), so pdfplumber reads them whole.
ANIMALS = ["Okapi", "Tapir", "Lemur", "Dingo", "Bison", "Koala", "Hyrax", "Gecko"]
BULK = [
    f"{c1}{v1}{c2}{v2}{c3}"
    for c1 in "BDFGKMPRSTVZ"
    for v1, c2, v2, c3 in (("a", "l", "o", "n"), ("u", "r", "e", "x"))
]


def _paragraph(n: int, extra: str = "") -> str:
    words = [FILLER[(n * 7 + i * 3) % len(FILLER)] for i in range(70)]
    text = " ".join(words)
    return text[0].upper() + text[1:] + (" " + extra if extra else "") + "."


def index_book(folder: Path, ranges: str = "dash") -> Path:
    """Six chapters of about three A5 pages each; each animal's name appears only
    where it is marked, Orcas in every paragraph of chapter 2 (consecutive pages),
    a marked range from chapter 3 to 4 next to the words Ahoy and Adieu, a mark in
    a note, sub-entries, references, and enough terms for a two-page index."""
    lines = ["---", "title: The Index Book", "lang: en", f"index-ranges: {ranges}", "---", ""]
    bulk = iter(BULK)
    for c in range(1, 7):
        lines += [f"# Chapter {c}", ""]
        for p in range(14 if c == 2 else 9):
            extra = ""
            if c == 2:
                extra = "with [Orcas]{.index}"
            elif p == 2:
                extra = f"with [{ANIMALS[c - 1]}]{{.index}}"
            elif p == 5 and c in (1, 5):
                sub = "lowland" if c == 1 else "mountain"
                extra = f'with [Tapir]{{index="Tapir!{sub}"}}'
            elif p == 7 and c == 1:
                extra = "with a note[^okapi]"
            if c == 3 and p == 0:
                extra = 'Ahoy []{index="Whales" range=start}'
            if c == 4 and p == 8:
                extra = '[]{index="Whales" range=end} Adieu'
            for _ in range(3 if c != 2 else 0):
                word = next(bulk, None)
                if word:
                    extra += f" and [{word}]{{.index}}"
            lines += [_paragraph(c * 10 + p, extra), ""]
        if c == 1:
            lines += ["[^okapi]: The note names the [Hyrax]{.index}.", ""]
    lines += [
        '[]{index="Anta" see="Tapir"} []{index="Okapi" see-also="Tapir"}',
        "",
    ]
    return write(folder, "\n".join(lines))


@dataclass(frozen=True)
class Both:
    built: Built  # in pieces, the index the last
    tail: Built  # laid out whole but for the index (pieces.TailWork)
    whole: Built  # laid out whole, twice (without WeasyPrint patches, say)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    folder = tmp_path_factory.mktemp("index")
    source = index_book(folder / "src")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdfjob, "start", lambda styles, lang: pdfjob.PdfJob())
        # Several pieces, so that marks are found in each and the index joins them.
        patch.setattr(pieces, "SPLIT_TEXT", 1_000)
        patch.setattr(pieces, "PIECE_TEXT", 4_000)
        built = build_book(source, folder / "pieces")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdfjob, "start", lambda styles, lang: pdfjob.PdfJob())
        patch.setattr(pieces, "plan", lambda inputs: None)
        tail = build_book(source, folder / "tail")
        patch.setattr(hooks, "margins_deferrable", lambda: False)
        whole = build_book(source, folder / "whole")
    yield Both(built, tail, whole)


@dataclass(frozen=True)
class Printed:
    pages: list[str]  # each page's words, joined
    index_from: int  # the first page of the index, from 1
    lines: dict[str, str]  # term -> the rest of its printed index line


def _printed(pdf_path: Path) -> Printed:
    with pdfplumber.open(pdf_path) as pdf:
        pages = [" ".join(w["text"] for w in page.extract_words()) for page in pdf.pages]
        index_from = next(
            n
            for n, page in enumerate(pdf.pages, start=1)
            if page.extract_text().startswith("Index")
        )
        lines: dict[str, str] = {}
        for page in pdf.pages[index_from - 1 :]:
            half = page.width / 2
            for box in ((0, 0, half, page.height), (half, 0, page.width, page.height)):
                for line in (page.crop(box).extract_text(x_tolerance=1.5) or "").splitlines():
                    term, _, rest = line.strip().partition(",")
                    lines.setdefault(term.strip(), rest.strip())
    return Printed(pages, index_from, lines)


def _pages_of(printed: Printed, word: str) -> set[int]:
    """The body pages the word is printed on."""
    return {
        n
        for n, text in enumerate(printed.pages[: printed.index_from - 1], start=1)
        if re.search(rf"\b{word}\b", text)
    }


def _expanded(numbers: str) -> set[int]:
    pages: set[int] = set()
    for part in numbers.split(". See")[0].split(","):
        part = part.strip()
        if "\u2013" in part:
            low, high = part.split("\u2013")
            pages |= set(range(int(low), int(high) + 1))
        elif part:
            pages.add(int(part))
    return pages


@pytest.mark.slow
def test_the_pdfs_numbers_are_the_pages_of_the_marked_words(both: Both) -> None:
    printed = _printed(both.built.pdf)
    for word in [*ANIMALS[:6], *BULK[:20], "Hyrax"]:
        if word == ANIMALS[1]:
            continue  # Tapir: its sub-entries carry the pages
        where = _pages_of(printed, word)
        assert where, word
        assert _expanded(printed.lines[word]) == where, word
    # Orcas in every paragraph of a chapter: its pages, merged into one range.
    orcas = _pages_of(printed, "Orcas")
    assert len(orcas) >= 3
    assert printed.lines["Orcas"] == f"{min(orcas)}\u2013{max(orcas)}"
    # The marked range runs from the page of its start to the page of its end.
    start, end = _pages_of(printed, "Ahoy"), _pages_of(printed, "Adieu")
    assert printed.lines["Whales"] == f"{min(start)}\u2013{max(end)}"
    # Sub-entries under their entry, references in words.
    assert _expanded(printed.lines["lowland"]) == _pages_of(printed, "Tapir") - {
        max(_pages_of(printed, "Tapir"))
    }
    assert printed.lines["Tapir"] == ""  # its pages are its sub-entries'
    assert "Anta. See Tapir" in printed.lines
    assert printed.lines["Okapi"].endswith("See also Tapir")


@pytest.mark.slow
def test_the_epubs_numbers_are_the_pdfs(both: Both) -> None:
    printed = _printed(both.built.pdf)
    with zipfile.ZipFile(both.built.epub) as z:
        index = z.read("EPUB/index.xhtml").decode()
    epub = _locators_by_term(re.sub(r' xmlns(:\w+)?="[^"]*"', "", _body_of(index)))
    assert len(epub) > 30
    for term, locators in epub.items():
        if not locators:
            continue
        assert ", ".join(locators) == printed.lines[term].split(". See")[0], term


def _body_of(document: str) -> str:
    return document[document.index("<section") : document.rindex("</section>") + 10]


@pytest.mark.slow
def test_pieces_and_the_whole_book_print_the_same(both: Both) -> None:
    """The index laid out last in pieces, apart from the whole book, or with it in
    a second whole layout: the same pages, the same numbers."""
    one = _printed(both.built.pdf)
    for other in (both.tail, both.whole):
        assert _printed(other.pdf).pages == one.pages
        assert other.member("EPUB/index.xhtml") == both.built.member("EPUB/index.xhtml")
    with pikepdf.open(both.tail.pdf) as pdf:
        assert len(pdf.pages) == len(one.pages)
        assert _structure_kinds(pdf, one.index_from) >= {"/H1", "/H2", "/P"}


@pytest.mark.slow
def test_an_index_on_a_left_hand_page_of_a_screen_book(tmp_path: Path) -> None:
    """Chapters open on any page: the book is laid out whole but for its index,
    which may then begin on a left-hand page."""
    text = "---\ntitle: Screen\nprofile: screen\n---\n\n"
    for c in range(1, 4):
        text += f"# Part {c}\n\n" + _paragraph(c, f"with [{ANIMALS[c]}]{{.index}}") + "\n\n"
    built = build_book(write(tmp_path, text), tmp_path / "out")
    printed = _printed(built.pdf)
    assert printed.index_from % 2 == 0  # a left-hand page
    for word in ANIMALS[1:4]:
        assert _expanded(printed.lines[word]) == _pages_of(printed, word)
    assert re.search(rf"Index( ?\.)+ ?{printed.index_from}$", printed.pages[1])


@pytest.mark.slow
def test_the_index_is_in_the_outline_the_contents_and_the_nav(both: Both) -> None:
    printed = _printed(both.built.pdf)
    assert re.search(rf"Index( ?\.)+ ?{printed.index_from}$", printed.pages[1])
    with pikepdf.open(both.built.pdf) as pdf:
        titles = []
        item = pdf.Root.Outlines.First
        while item is not None:
            titles.append((str(item.Title), pdf.pages.index(pikepdf.Page(item.Dest[0])) + 1))
            item = item.get("/Next")
        assert titles[-1] == ("Index", printed.index_from)
        # Tagged: the index's heading, its letters and entries in the structure tree.
        kinds = _structure_kinds(pdf, printed.index_from)
        assert {"/H1", "/H2", "/P"} <= kinds
    docs = {"nav.xhtml": etree.fromstring(both.built.member("EPUB/nav.xhtml").encode())}
    assert docs["nav.xhtml"].find(".//h:a[@epub:type='index']", NS) is not None


def _structure_kinds(pdf: pikepdf.Pdf, first_page: int) -> set[str]:
    pages = {page.obj.objgen: n for n, page in enumerate(pdf.pages, start=1)}
    kinds: set[str] = set()

    def walk(element: object) -> None:
        if not isinstance(element, pikepdf.Dictionary) or element.get("/Type") != "/StructElem":
            return
        page = element.get("/Pg")
        if page is not None and pages.get(page.objgen, 0) >= first_page:
            kinds.add(str(element.S))
        kids = element.get("/K")
        for kid in kids if isinstance(kids, pikepdf.Array) else [kids]:
            walk(kid)

    walk(pdf.Root.StructTreeRoot.K[0])
    return kinds


@pytest.mark.slow
def test_two_columns_and_letter_headings_kept_with_their_entries(both: Both) -> None:
    with pdfplumber.open(both.built.pdf) as pdf:
        index_from = _printed(both.built.pdf).index_from
        columns_used = set()
        headings = 0
        for page in pdf.pages[index_from - 1 :]:
            words = page.extract_words(extra_attrs=["fontname"])
            half = page.width / 2
            bottom = max((w["bottom"] for w in words), default=0)
            for word in words:
                if word["top"] < 60 or word["bottom"] >= bottom - 1:
                    continue  # the running head, the folio
                columns_used.add(word["x0"] > half)
                heading = "Bold" in word["fontname"] and re.fullmatch(r"[A-Z]", word["text"])
                if heading:
                    headings += 1
                    same_column = [
                        w
                        for w in words
                        if (w["x0"] > half) == (word["x0"] > half) and w["top"] > word["bottom"]
                    ]
                    assert len(same_column) > 1, f"heading {word['text']} alone at the foot"
        assert columns_used == {False, True}
        assert headings >= 10


@pytest.mark.slow
def test_the_outputs_pass_their_checkers(both: Both) -> None:
    need("java")
    from publisher.check.outputs import run_epubcheck

    findings = [f for f in run_epubcheck(both.built.epub) if f.severity != "USAGE"]
    assert findings == []
    done = subprocess.run(
        [sys.executable, "-m", "pdfua", "check", "--format", "json", str(both.built.pdf)],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    assert report["summary"]["errors"] == 0
    assert {f["rule_id"] for f in report["findings"]} <= {"UA-15-003"}  # see test_print
    with zipfile.ZipFile(both.built.epub) as z:
        docs = {
            name.removeprefix("EPUB/"): etree.fromstring(z.read(name))
            for name in z.namelist()
            if name.endswith(".xhtml")
        }
        _check_epub_index(docs, z.read("EPUB/content.opf").decode())


@pytest.mark.slow
def test_daisy_ace_finds_no_violation(both: Both, tmp_path: Path) -> None:
    need_ace()
    from publisher.check.ace import run_ace, violations

    report = run_ace(both.built.epub, tmp_path)
    assert list(violations(report)) == []


@pytest.mark.slow
def test_an_epub_rebuilt_alone_keeps_the_pdfs_numbers(tmp_path: Path) -> None:
    """A change to the EPUB's style sheet rebuilds the EPUB alone: its index still
    shows the PDF's page numbers, kept with the page list in the build's record."""
    import shutil

    from publisher.build import build
    from publisher.model import BuildOptions

    styles = tmp_path / "styles"
    shutil.copytree(STYLES, styles)
    text = "---\ntitle: Kept\n---\n\n# One\n\n[Okapi]{.index}.\n\n# Two\n\n[Tapir]{.index}.\n"
    options = BuildOptions(write(tmp_path / "book", text), tmp_path / "out", styles)
    first = build(options)
    epub = next(o.path for o in first.outputs if o.format == "epub")
    numbered = zipfile.ZipFile(epub).read("EPUB/index.xhtml")
    (styles / "epub.css").write_text((styles / "epub.css").read_text() + "\n/* x */\n")
    again = build(options)
    assert {o.format: o.rebuilt for o in again.outputs} == {"epub": True, "pdf": False}
    assert zipfile.ZipFile(epub).read("EPUB/index.xhtml") == numbered
    assert _locators_by_term(_body_of(numbered.decode())) == {"Okapi": ["3"], "Tapir": ["5"]}
