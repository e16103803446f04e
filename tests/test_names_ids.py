"""The naming authorities: publisher.names (file names in the EPUB container),
publisher.ids (ids in its documents) and publisher.langtag (every lang). Each
collision class is impossible by construction; these tests hold the construction
(generated ids in the reserved namespace, author ids outside it, names unique after
NFC and case folding) and its cost (calls counted, never seconds)."""

from __future__ import annotations

import re
import unicodedata
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import publisher.ids
import publisher.names
from publisher.build import build
from publisher.diagnostics import Diagnostic
from publisher.ids import (
    FIXED,
    IdPool,
    doc_id,
    kobo_id,
    note_id,
    noteref_id,
    page_id,
    part_id,
    reserved,
    section_id,
    title_id,
)
from publisher.langtag import well_formed
from publisher.model import BookMeta, BuildOptions, Identifier, Manuscript, Resource, SourceFile
from publisher.names import EntryNames, NameRefused, folded
from publisher.render.book import parse_body, render_book

from conftest import ROOT, STYLES

# --- ids ------------------------------------------------------------------------------


def test_every_generated_id_is_in_the_reserved_namespace() -> None:
    doc = doc_id(12)
    made = [
        note_id(doc, 3),
        noteref_id(doc, 3),
        noteref_id(doc, 3, 2),
        section_id(7),
        part_id(2),
        title_id(1),
        page_id("120"),
        kobo_id(4, 9),
        *FIXED,
    ]
    assert all(reserved(ident) for ident in made), [i for i in made if not reserved(i)]
    with pytest.raises(ValueError):
        page_id("xii")  # page labels are numbers; another form would leave the namespace


def test_static_ids_in_the_source_are_the_fixed_ones() -> None:
    """Every id written as a literal in a document publisher makes is one of FIXED;
    the numbered ones come from publisher.ids' generators (an f-string `id="{...}"`
    outside ids.py must hold one of them or an id taken from an IdPool)."""
    literal = re.compile(
        r"""\bid=\\?["']([a-z][a-z0-9.-]*)\\?["']|\.(?:set|attrSet)\("id", "([a-z][a-z0-9.-]*)"\)"""
    )
    found: dict[str, str] = {}
    for path in sorted((ROOT / "src" / "publisher").rglob("*.py")):
        if path.parts[-2] in ("app", "check"):  # the preview page and reports: no book
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for match in literal.finditer(line):
                found[match.group(1) or match.group(2)] = f"{path.name}:{number}"
            assert not re.search(
                r"""\bid="(fn|fnref|section|part|title|page|kobo)[-.]\{""", line
            ), f"{path.name}:{number} makes a numbered id by hand: use publisher.ids"
    assert {"toc", "titlepage", "print-toc-title", "book-columns"} <= set(found), found
    stray = {ident: where for ident, where in found.items() if ident not in FIXED}
    assert not stray, stray


@pytest.mark.parametrize(
    "base", ["section", "part", "page", "fn-c1-1", "fnref-c1-1", "toc", "cover", "kobo.1", "x"]
)
def test_the_pool_never_gives_a_reserved_id(base: str) -> None:
    pool = IdPool()
    taken = [pool.take(base) for _ in range(50)]
    assert len(set(taken)) == 50
    assert not any(reserved(ident) for ident in taken), taken
    assert all(ident in pool for ident in taken)
    with pytest.raises(ValueError):
        pool.add("fn-c2-4")


def test_taking_one_base_again_and_again_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """n takes of one base try O(n) candidates (a scan from 2 each time was n²/2)."""
    calls = 0
    real = publisher.ids.reserved

    def counted(ident: str) -> bool:
        nonlocal calls
        calls += 1
        return real(ident)

    monkeypatch.setattr(publisher.ids, "reserved", counted)
    for n in (10_000, 20_000):
        calls = 0
        pool = IdPool()
        for _ in range(n):
            pool.take("same")
        assert calls <= 3 * n, (n, calls)
    calls = 0
    pool = IdPool()
    for _ in range(20_000):
        pool.take("section")  # a family publisher makes: every other candidate is reserved
    assert calls <= 4 * 20_000, calls


# --- entry names ----------------------------------------------------------------------------


def test_names_differing_in_case_or_normalisation_are_one_name() -> None:
    names = EntryNames()
    nfc, nfd = "images/caf\u00e9.png", "images/cafe\u0301.png"
    assert folded(nfc) == folded(nfd)
    assert names.take("images/Foo.png") == "images/Foo.png"
    assert names.take("images/foo.png") == "images/foo-2.png"
    assert names.take("images/FOO.PNG") == "images/FOO-3.PNG"
    assert names.take(nfd) == unicodedata.normalize("NFC", nfd)
    assert names.take(nfc) == "images/caf\u00e9-2.png"
    assert names.take("images/STRASSE.png") == "images/STRASSE.png"
    assert names.take("images/straße.png") == "images/straße-2.png"  # full case folding
    keys = [folded(n) for n in ("images/Foo.png", "images/foo-2.png", "images/FOO-3.PNG")]
    assert len(set(keys)) == 3
    with pytest.raises(NameRefused):
        names.claim("images/foo.PNG")
    with pytest.raises(NameRefused):
        names.claim("styles/my font.woff2")


def test_one_file_gets_one_name() -> None:
    names = EntryNames()
    first = names.take("images/cover.jpg", Path("/a/cover.jpg"))
    assert names.take("images/other.jpg", Path("/a/cover.jpg")) == first
    assert names.take("images/cover.jpg", Path("/b/cover.jpg")) == "images/cover-2.jpg"
    assert names.claim(first, Path("/a/cover.jpg")) == first


def test_taking_one_name_again_and_again_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = publisher.names.folded

    def counted(name: str) -> str:
        nonlocal calls
        calls += 1
        return real(name)

    monkeypatch.setattr(publisher.names, "folded", counted)
    names = EntryNames()
    for _ in range(20_000):
        names.take("images/figure.png")
    assert calls <= 3 * 20_000, calls


# --- lang ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("en", True),
        ("en-GB", True),
        ("zh-Hans-CN", True),
        ("sr-Latn-RS", True),
        ("de-CH-1901", True),
        ("es-419", True),
        ("en-US-x-twain", True),
        ("en-a-bbb-x-a", True),
        ("en-US-a", False),
        ("zz-a", False),
        ("en-", False),
        ("", False),
        ("en_US", False),
        ("english", False),
        ("sl-rozaj-rozaj", False),
        ("en-a-bb-a-cc", False),
        ("i-klingon", False),
    ],
)
def test_language_tags(tag: str, ok: bool) -> None:
    assert well_formed(tag) is ok


# --- rendering ------------------------------------------------------------------------------

ROOT_V = Path("/virtual")


def rendered(*texts: str) -> tuple[list[str], tuple[Diagnostic, ...]]:
    sources = tuple(SourceFile(ROOT_V / f"ch{n}.md", t) for n, t in enumerate(texts, start=1))
    meta = BookMeta(title="T", lang="en", identifier=Identifier("urn:x"))

    def locate(source: Path, src: str, line: int | None) -> Resource:
        return Resource(ROOT_V / "ok.png", "images/ok.png", "image/png", 10, 10)

    book = render_book(Manuscript(meta, sources, ROOT_V), locate)
    return [c.body for c in (*book.front, *book.chapters)], book.diagnostics


def ids_and_links(bodies: list[str]) -> tuple[list[str], list[str]]:
    ids, links = [], []
    for body in bodies:
        for element in parse_body(body).iter():
            if isinstance(element.tag, str):
                if element.get("id"):
                    ids.append(element.get("id", ""))
                if element.get("href"):
                    links.append(element.get("href", ""))
    return ids, links


GENERATED = ["fn-c1-1", "fnref-c1-1", "fnref-c1-1-2", "section-1", "section-2", "page-3"]
# Kobo's span ids (kobo.1.1) are left out: `{#a.b}` reads .b as a class, so only raw
# HTML can write such an id, and the raw-HTML tests cover it.
GENERATED += ["part-1", "title-1", "toc", "cover", "titlepage", "landmarks"]


@pytest.mark.parametrize("ident", GENERATED)
@pytest.mark.parametrize("where", ["span", "heading", "block", "heading-line"])
def test_an_author_id_never_takes_a_generated_one(ident: str, where: str) -> None:
    written = {
        "span": f"A [target]{{#{ident}}} here.\n",
        "heading": f"## Target {{#{ident}}}\n",
        "block": f"{{#{ident}}}\n\nA paragraph.\n",
        "heading-line": f"{{#{ident}}}\n## Target\n",
    }[where]
    text = (
        "# Chapter\n\nA note.[^1] Again.[^1] [Jump](#" + ident + ").\n\n" + written + "\n"
        "[^1]: The note.\n"
    )
    bodies, diagnostics = rendered(text, "# Two\n\nMore.\n")
    ids, links = ids_and_links(bodies)
    assert len(ids) == len(set(ids)), ids
    renamed = [d for d in diagnostics if d.code == "T11"]
    assert len(renamed) == 1, diagnostics
    assert renamed[0].where is not None
    assert renamed[0].where.line == text.count("\n", 0, text.index(written)) + 1
    new = re.search(r"renamed '([^']+)'", renamed[0].message)
    assert new and not reserved(new.group(1)) and new.group(1) in ids
    # The author's link reaches the author's element; the notes' links their notes.
    assert f"#{new.group(1)}" in links
    assert "#fn-c1-1" in links and "#fnref-c1-1" in links
    assert {"fn-c1-1", "fnref-c1-1", "fnref-c1-1-2", "section-1", "section-2"} <= set(ids)


def test_raw_html_never_takes_a_generated_id() -> None:
    sources = (SourceFile(ROOT_V / "ch1.md", ""),)
    meta = BookMeta(title="T", lang="en", identifier=Identifier("urn:x"), raw_html=True)
    text = "".join(f'<span id="{ident}">x</span> ' for ident in GENERATED) + "A note.[^1]\n"
    sources = (SourceFile(ROOT_V / "ch1.md", "# One\n\n" + text + "\n[^1]: N.\n"),)
    book = render_book(
        Manuscript(meta, sources, ROOT_V), lambda *a: Diagnostic("I01", "warning", None, "")
    )
    ids, _ = ids_and_links([c.body for c in (*book.front, *book.chapters)])
    assert len(ids) == len(set(ids)), ids
    removed = [d for d in book.diagnostics if d.code == "T06" and "removed id=" in d.message]
    assert len(removed) == len(GENERATED), book.diagnostics


def test_slugs_in_the_generated_namespace_are_renamed_quietly() -> None:
    bodies, diagnostics = rendered("# Section 1\n\nText.\n\n# Section 2\n\n[Back](#section-1)\n")
    ids, links = ids_and_links(bodies)
    assert len(ids) == len(set(ids)), ids
    assert "section-1" in ids and "section-2" in ids  # the chapters' own
    assert "#section-1-2" in links or any(h.endswith("#section-1-2") for h in links), links
    assert not [d for d in diagnostics if d.code == "T11"]


@pytest.mark.parametrize(
    "text",
    [
        "{lang=en-US-a}\n## Heading\n",
        "## Heading {lang=zz-a}\n",
        "{lang=en-}\n\nA paragraph.\n",
        "A [span]{lang=i-klingon} here.\n",
    ],
)
def test_every_lang_passes_the_same_check(text: str) -> None:
    bodies, diagnostics = rendered("# Chapter\n\n" + text)
    dropped = [d for d in diagnostics if d.code == "T12"]
    assert len(dropped) == 1, diagnostics
    assert dropped[0].where is not None and dropped[0].where.line == 3
    for body in bodies:
        for element in parse_body(body).iter():
            if isinstance(element.tag, str):
                for name, value in element.attrib.items():
                    if name.endswith("lang"):
                        assert well_formed(value), (name, value)


def test_repeated_headings_render_in_linear_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls of `reserved` (every id taken asks it) grow with the input, not its square."""
    calls = 0
    real = publisher.ids.reserved

    def counted(ident: str) -> bool:
        nonlocal calls
        calls += 1
        return real(ident)

    monkeypatch.setattr(publisher.ids, "reserved", counted)
    counts = []
    for n in (2_000, 4_000):
        calls = 0
        rendered("# Top\n\n" + "## Same\n\n[w]{.c #x} [a](#x)\n\n" * n)
        counts.append(calls)
    assert counts[1] <= 2.2 * counts[0], counts


# --- the built EPUB -----------------------------------------------------------------------------


def png(path: Path, colour: str) -> None:
    Image.new("RGB", (12, 12), colour).save(path)


def test_cover_and_case_colliding_images_are_distinct_entries(tmp_path: Path) -> None:
    book = tmp_path / "book"
    book.mkdir()
    Image.new("RGB", (30, 40), "red").save(book / "cover.jpg")
    (book / "art").mkdir()
    Image.new("RGB", (30, 40), "blue").save(book / "art" / "cover.jpg")
    png(book / "Foo.png", "teal")
    png(book / "foo.png", "olive")
    (book / "book.md").write_text(
        "---\ntitle: Names\nlang: en\ncover-image: cover.jpg\n---\n\n# One\n\n"
        "![The cover](cover.jpg) ![Again](cover.jpg) ![Another cover](art/cover.jpg)\n\n"
        "![Upper](Foo.png) ![Lower](foo.png)\n",
        encoding="utf-8",
    )
    result = build(BuildOptions(book, tmp_path / "out", STYLES, ("epub",)))
    with zipfile.ZipFile(result.outputs[0].path) as z:
        names = z.namelist()
        opf = z.read("EPUB/content.opf").decode()
        chapter = z.read("EPUB/chapter-01.xhtml").decode()
    assert len({folded(n) for n in names}) == len(names), names
    images = sorted(n for n in names if n.startswith("EPUB/images/"))
    assert images == [
        "EPUB/images/Foo.png",
        "EPUB/images/cover-2.jpg",
        "EPUB/images/cover.jpg",
        "EPUB/images/foo-2.png",
    ]
    assert opf.count('properties="cover-image"') == 1
    assert re.search(r'href="images/cover.jpg" id="cover-image"', opf), opf
    assert chapter.count('src="images/cover.jpg"') == 2
    assert 'src="images/cover-2.jpg"' in chapter


def test_links_to_ids_inside_notes_reach_them() -> None:
    """An id inside a note is rendered with the chapter that calls the note (found by
    the property test: a link to it was an internal error, exit 70)."""
    bodies, diagnostics = rendered(
        "# One\n\nA call.[^1] [to x](#same) [to y](#inner) [to z](#never)\n\n"
        "[^1]: A note [x]{#same} and a call.[^2]\n\n[^2]: Inner [y]{#inner}.\n\n"
        "[^3]: Never called [z]{#never}.\n\n# Two\n\n[back](#same)\n"
    )
    ids, links = ids_and_links(bodies)
    assert {"same", "inner"} <= set(ids) and "never" not in ids
    assert "#same" in links and "#inner" in links and "chapter-01.xhtml#same" in links
    assert [d.subject for d in diagnostics if d.code == "T05"] == ["#never"]


def test_a_note_called_from_two_chapters_of_one_file_keeps_its_ids_once() -> None:
    """Two chapters cut from one file both call a note: each renders it, and the
    print (one HTML document) held the author's ids inside it twice. The first
    rendering keeps them (links go there); the second leaves them out, raw HTML's
    too, without a warning."""
    from lxml import html as lxml_html

    from publisher.pdf.layout import print_html

    text = (
        "# One\n\nA call.[^1]\n\n# Two\n\nAgain.[^1] [back](#same)\n\n"
        '[^1]: A note [x]{#same} with <span id="raw">raw</span> HTML.\n\n'
        "    {#block}\n\n    A second paragraph of the note.\n"
    )
    meta = BookMeta(title="T", lang="en", identifier=Identifier("urn:x"), raw_html=True)
    book = render_book(
        Manuscript(meta, (SourceFile(ROOT_V / "ch1.md", text),), ROOT_V),
        lambda *a: Diagnostic("I01", "warning", None, ""),
    )
    bodies = [c.body for c in (*book.front, *book.chapters)]
    ids, links = ids_and_links(bodies)
    assert len(ids) == len(set(ids)), ids
    assert {"same", "raw", "block"} <= set(ids)
    one, two = book.chapters
    assert 'id="same"' in one.body and 'id="same"' not in two.body
    assert two.body.count("A second paragraph of the note.") == 1  # the note, again
    assert "chapter-01.xhtml#same" in links
    assert not [d for d in book.diagnostics if "id" in d.message], book.diagnostics
    printed = [
        e.get("id") for e in lxml_html.document_fromstring(print_html(book)).iter() if e.get("id")
    ]
    assert len(printed) == len(set(printed)), sorted(i for i in printed if printed.count(i) > 1)
