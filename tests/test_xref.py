"""Cross-references, Quarto's way: labels on figures, tables, listings, sections
(and equations), numbered per chapter in a book and through an article, with
captions that say the number; references that link to them with the same number
in the EPUB and in the PDF."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from markdown_it.token import Token

from publisher.diagnostics import Diagnostic
from publisher.errors import ManuscriptError
from publisher.model import BookMeta, Identifier, Manuscript, RenderedBook, Resource, SourceFile
from publisher.render import xref
from publisher.render.book import render_book
from publisher.source.styles import Numbering

from conftest import STYLES, Built, build_book
from readers import pdf_links, pdf_page_texts

X = "{http://www.w3.org/1999/xhtml}"


def book(*texts: str, numbering: Numbering | None = None, **meta: object) -> RenderedBook:
    """Chapters rendered from in-memory Markdown files ch1.md, ch2.md, ..."""
    root = Path("/virtual")
    sources = tuple(SourceFile(root / f"ch{n}.md", t) for n, t in enumerate(texts, start=1))
    lang = str(meta.pop("lang", "en"))
    info = BookMeta(title="T", lang=lang, identifier=Identifier("urn:x"), **meta)  # type: ignore[arg-type]

    def locate(source: Path, src: str, line: int | None) -> Resource | Diagnostic:
        return Resource(root / src, f"images/{src}", "image/png", 10, 10)

    return render_book(Manuscript(info, sources, root), locate, numbering)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


# --- numbering and references, rendered ------------------------------------------------------

NUMBERED = Numbering("arabic", True)


def test_numbers_per_chapter_after_the_printed_chapter_number() -> None:
    first, second = book(
        "# One\n\n![Map](m.png){#fig-map}\n\n![Flow](f.png){#fig-flow}\n\nSee @fig-rain.\n",
        "# Two\n\n![Rain](r.png){#fig-rain}\n\nBack to @fig-flow.\n",
        numbering=NUMBERED,
    ).chapters
    assert "Figure 1.1: Map" in text(first.body) and "Figure 1.2: Flow" in text(first.body)
    assert "Figure 2.1: Rain" in text(second.body)
    assert '<a class="xref" href="chapter-02.xhtml#fig-rain">Figure\u00a02.1</a>' in first.body
    assert '<a class="xref" href="chapter-01.xhtml#fig-flow">Figure\u00a01.2</a>' in second.body


def test_without_printed_chapter_numbers_figures_run_through_the_book() -> None:
    first, second = book(
        "# One\n\n![Map](m.png){#fig-map}\n", "# Two\n\n![Rain](r.png){#fig-rain}\n"
    ).chapters
    assert "Figure 1: Map" in text(first.body) and "Figure 2: Rain" in text(second.body)
    # Quarto's `crossref: chapters: true` numbers them per chapter all the same.
    chaptered = book(
        "# One\n\n![Map](m.png){#fig-map}\n",
        "# Two\n\n![Rain](r.png){#fig-rain}\n",
        crossref=(("chapters", "true"),),
    ).chapters
    assert "Figure 2.1: Rain" in text(chaptered[1].body)


def test_an_article_numbers_through_the_document() -> None:
    (article,) = book(
        "![Map](m.png){#fig-map}\n\n## Later\n\n![Rain](r.png){#fig-rain}\n\nSee @fig-rain.\n",
        numbering=NUMBERED,
    ).chapters
    assert "Figure 1: Map" in text(article.body) and "Figure 2: Rain" in text(article.body)
    assert '<a class="xref" href="#fig-rain">Figure\u00a02</a>' in article.body


def test_appendices_are_lettered_and_chapters_referenced_by_their_word() -> None:
    chapters = book(
        "# One {#sec-one}\n\n## Part {#sec-part}\n\nSee @sec-apx, @sec-part and @fig-c.\n",
        "# Notes {#sec-apx epub:type=appendix}\n\n![C](c.png){#fig-c}\n\nSee @sec-one.\n",
        numbering=NUMBERED,
    ).chapters
    one, appendix = text(chapters[0].body), text(chapters[1].body)
    assert "See Appendix A, Section 1.1 and Figure A.1." in one
    assert "Figure A.1: C" in appendix and "See Chapter 1." in appendix


def test_reference_forms() -> None:
    (article,) = book(
        "![Map](m.png){#fig-map}\n\n![Flow](f.png){#fig-flow}\n\n"
        "A @fig-map. B @Fig-map. C [-@fig-map]. D [@fig-map; @fig-flow]. "
        "E [see @fig-flow]. F @Tbl-x.\n\n| a |\n|---|\n| 1 |\n\n: Rain {#tbl-x}\n",
        crossref=(("fig-prefix", "fig."),),
    ).chapters
    words = text(article.body)
    assert "A fig. 1. B Fig. 1. C 1. D fig. 1, fig. 2. E see fig. 2. F Table 1." in words
    assert "Figure 1: Map" in words  # the caption keeps its title (fig-title)


def test_unnumbered_sections_are_referenced_by_their_title() -> None:
    (_, second) = book(
        "# One\n\n## Sources {#sec-sources}\n\nText.\n", "# Two\n\n@sec-sources.\n"
    ).chapters
    assert '<a class="xref" href="chapter-01.xhtml#sec-sources">Sources</a>' in second.body


def test_tables_listings_and_their_captions() -> None:
    (article,) = book(
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n: Rainfall *by* month {#tbl-rain}\n\n"
        "Table: Before the table {#tbl-before}\n\n| c |\n|---|\n| 3 |\n\n"
        "| d |\n|---|\n| 4 |\n: Right under the last row {#tbl-under}\n\n"
        '```{.python #lst-count lst-cap="Counting rain"}\nprint(1)\n```\n\n'
        "```{#lst-bare .sh}\nls\n```\n\n@tbl-rain, @tbl-before, @tbl-under, @lst-count, @lst-bare.\n"
    ).chapters
    body = article.body
    assert (
        '<table id="tbl-rain" class="captioned">\n<caption><span class="caption-number">Table\u00a01:</span> '
        "Rainfall <em>by</em> month</caption>" in body
    )
    assert "Table 2: Before the table" in text(
        body
    ) and "Table 3: Right under the last row" in text(body)
    assert "| 4 |" not in body and "<td>: Right" not in body  # the caption row is no row
    assert (
        '<figure class="listing" id="lst-count"><figcaption><span class="caption-number">'
        "Listing\u00a01:</span> Counting rain</figcaption>" in body
    )
    assert '<code class="language-python">' in body and '<code class="language-bash">' in body
    # a listing without a caption is still numbered, its number the caption
    assert (
        '<figure class="listing" id="lst-bare"><figcaption><span class="caption-number">'
        "Listing\u00a02</span></figcaption>" in body
    )
    assert "Table 1, Table 2, Table 3, Listing 1, Listing 2." in text(body)


@pytest.mark.parametrize(
    ("lang", "figure", "table"),
    [
        ("en", "Figure", "Table"),
        ("de", "Abbildung", "Tabelle"),
        ("fr", "Figure", "Tableau"),
        ("es", "Figura", "Tabla"),
        ("it", "Figura", "Tabella"),
        ("pt", "Figura", "Tabela"),
        ("nl", "Figuur", "Tabel"),
        ("sv", "Figur", "Tabell"),
        ("da", "Figur", "Tabel"),
        ("nb", "Figur", "Tabell"),
        ("fi", "Kuva", "Taulukko"),
        ("pl", "Rysunek", "Tabela"),
        ("cs", "Obrázek", "Tabulka"),
        ("ru", "Рисунок", "Таблица"),
    ],
)
def test_words_follow_the_language(lang: str, figure: str, table: str) -> None:
    (article,) = book(
        "![M](m.png){#fig-m}\n\n| a |\n|---|\n| 1 |\n\n: R {#tbl-r}\n\n@fig-m @tbl-r\n", lang=lang
    ).chapters
    words = text(article.body)  # no-break spaces read as spaces
    delim = " :" if lang == "fr" else ":"  # French sets a (no-break) space before it
    assert f"{figure} 1{delim} M" in words
    assert f"{figure} 1 {table} 1" in words


def test_crossref_keys_override_the_words() -> None:
    (article,) = book(
        "![M](m.png){#fig-m}\n\n@fig-m\n",
        lang="de",
        crossref=(
            ("fig-title", "Abb."),
            ("fig-prefix", "Abb."),
            ("title-delim", "."),
            ("fig-labels", "roman"),
        ),
    ).chapters
    assert "Abb. i. M" in text(article.body)
    assert "Abb.\u00a0i</a>" in article.body


def test_a_missing_label_is_a_warning_and_question_marks() -> None:
    rendered = book("# One\n\n![Map](m.png){#fig-map}\n\nText.\n\nSee @fig-mpa and @tbl-none.\n")
    assert "See Figure ?? and Table ??." in text(rendered.chapters[0].body)
    found = [str(d) for d in rendered.diagnostics if d.code == "R01"]
    assert found == [
        "/virtual/ch1.md:7: warning: cross-reference '@fig-mpa' has no target: shown as '??' "
        "(did you mean '@fig-map'?)",
        "/virtual/ch1.md:7: warning: cross-reference '@tbl-none' has no target: shown as '??' "
        "(label the figure, table, listing, equation or section with {#tbl-none})",
    ]


def test_a_labelled_display_formula_inside_a_paragraph_is_numbered() -> None:
    """Pandoc's display math is inline: Quarto numbers `$$…$$ {#eq-x}` written
    inside a paragraph, and so does publisher (it got an id, and '??')."""
    rendered = book("# One\n\nThe arc is\n$$ \\theta = s/r $$ {#eq-arc}\nas @eq-arc says.\n")
    body = rendered.chapters[0].body
    assert '<span class="equation-number">(1)</span>' in body
    assert "as Equation 1 says." in text(body)
    assert not rendered.diagnostics


def test_a_label_inside_a_note_is_named_not_silently_missing() -> None:
    rendered = book("# One\n\nSee @eq-n.[^1]\n\n[^1]: A note: $$ x $$ {#eq-n}\n")
    found = [(d.code, d.where.line if d.where else None) for d in rendered.diagnostics]
    assert found == [("R11", 5), ("R01", 3)]
    assert rendered.diagnostics[0].message == (
        "label 'eq-n' is inside a note: a note's figures, tables and equations are not "
        "numbered, and references to it show '??'"
    )


def test_an_id_that_cannot_be_kept_is_said_where_it_is_written() -> None:
    """`{#fig-x:y}` was dropped silently: only the reference warned, asking for
    the label the author had written."""
    rendered = book("# One {#1st}\n\n![Map](m.png){#fig-x:y}\n\nSee @fig-x:y.\n")
    found = [(d.code, d.where.line if d.where else None, d.subject) for d in rendered.diagnostics]
    assert found == [("T20", 1, "1st"), ("T20", 3, "fig-x:y"), ("R01", 5, "fig-x:y")]


def test_a_caption_keeps_its_links_and_an_inner_image_as_words() -> None:
    rendered = book("![The [basin](https://example.org) and ![inner](i.png)](m.png){#fig-b}\n")
    body = rendered.chapters[0].body
    assert '<a href="https://example.org">basin</a> and inner</figcaption>' in body
    assert "i.png" not in body


def test_a_label_given_twice_is_an_error_naming_both_places() -> None:
    with pytest.raises(ManuscriptError) as caught:
        book("# One\n\n![A](a.png){#fig-a}\n", "# Two\n\nText.\n\n![B](b.png){#fig-a}\n")
    assert str(caught.value) == (
        "/virtual/ch2.md:5: error: label 'fig-a' is given twice (first at /virtual/ch1.md:3) "
        "(give each figure, table, listing, equation and section its own label)"
    )
    assert not [d for d in caught.value.diagnostics if d.code == "T11"]  # the error says it


def test_at_signs_that_are_no_references_stay_text() -> None:
    rendered = book("Write to a@b.org, or `@fig-x` in code, or @ alone, or \\@fig-x, or @name.\n")
    assert (
        "Write to a@b.org, or <code>@fig-x</code> in code, or @ alone, or @fig-x, or @name."
        in rendered.chapters[0].body
    )  # without a bibliography, @name is text (Pandoc without citeproc)
    assert not rendered.diagnostics


def test_equations_are_numbered_through_the_contract_with_math() -> None:
    """math's display equation `$$ … $$ {#eq-x}` is a token with its id in
    attrs; numbering writes the formatted number into `meta["number"]`."""
    equation = Token("math_block", "math", 0)
    equation.attrSet("id", "eq-energy")
    equation.map = [4, 6]
    labels: list[xref.Label] = []
    xref.collect([equation], labels, [], lambda index: "")
    assert [(label.kind, label.label) for label in labels] == [("eq", "eq-energy")]
    assert equation.meta["number"] == "1"  # an article's number, at once
    scope = xref.Scope(labels, "chapter-03.xhtml", Path("c.md"), "3", {}, None)
    table = xref.number_book([scope], xref.Words.make("en"), per_chapter=True)
    assert equation.meta["number"] == "3.1"
    assert table.targets["eq-energy"].number == "3.1"


# --- both outputs: one book ---------------------------------------------------------------------

CHAPTER_ONE = """# Introduction {#sec-intro}

Rivers carry water (@fig-map shows one) and @Fig-flow shows another; the numbers
are in [-@tbl-rain], the code in @lst-count, the method in @sec-gauges.
We also miss @fig-nowhere.

![The river and its basin](map.png){#fig-map}
"""
CHAPTER_TWO = """# Methods

## Gauges {#sec-gauges}

![Flow at the gauge](map.png){#fig-flow}

| Month | Rain |
|-------|------|
| May   | 31   |

: Rainfall by month {#tbl-rain}

```{.python #lst-count lst-cap="Counting the gauges"}
print(len(gauges))
```

Back to @fig-map and @sec-intro.
"""


@pytest.fixture(scope="module")
def crossbook(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A book in the `modern` style (numbered chapters and sections), built once."""
    folder = tmp_path_factory.mktemp("xref")
    (folder / "book").mkdir()
    (folder / "book" / "book.yaml").write_text("title: Rivers\nlang: en\nauthor: Ann Author\n")
    (folder / "book" / "01-intro.md").write_text(CHAPTER_ONE)
    (folder / "book" / "02-methods.md").write_text(CHAPTER_TWO)
    from PIL import Image

    Image.new("RGB", (60, 40), (30, 90, 160)).save(folder / "book" / "map.png")
    return build_book(folder / "book", folder / "out", style="modern")


EXPECTED_CAPTIONS = [
    "Figure 1.1: The river and its basin",
    "Figure 2.1: Flow at the gauge",
    "Table 2.1: Rainfall by month",
    "Listing 2.1: Counting the gauges",
]
EXPECTED_REFERENCES = {  # reference text -> the id it links to
    "Figure 1.1": "fig-map",
    "Figure 2.1": "fig-flow",
    "2.1": "tbl-rain",
    "Listing 2.1": "lst-count",
    "Section 2.1": "sec-gauges",
    "Chapter 1": "sec-intro",
}


def _epub_documents(built: Built) -> dict[str, etree._Element]:
    with zipfile.ZipFile(built.epub) as z:
        return {
            name.removeprefix("EPUB/"): etree.fromstring(z.read(name))
            for name in z.namelist()
            if name.startswith("EPUB/chapter-")
        }


def test_epub_captions_and_references_link_to_their_targets(crossbook: Built) -> None:
    documents = _epub_documents(crossbook)
    captions = [
        " ".join("".join(c.itertext()).split())
        for tree in documents.values()
        for c in tree.iter(f"{X}figcaption", f"{X}caption")
    ]
    assert captions == EXPECTED_CAPTIONS
    found: dict[str, str] = {}
    for name, tree in documents.items():
        for a in tree.iter(f"{X}a"):
            if a.get("class") != "xref":
                continue
            file, _, ident = a.get("href", "").partition("#")
            target = documents[file] if file else tree
            element = target.xpath(f"//*[@id='{ident}']")
            assert element, f"{name}: {a.get('href')}"
            found["".join(a.itertext()).replace("\u00a0", " ")] = ident
    assert found == EXPECTED_REFERENCES
    missing = [
        t
        for t in documents["chapter-01.xhtml"].iter(f"{X}span")
        if "xref-missing" in (t.get("class") or "")
    ]
    assert ["".join(m.itertext()).replace("\u00a0", " ") for m in missing] == ["Figure ??"]
    (missed,) = [d for d in crossbook.result.diagnostics if d.code == "R01"]
    assert missed.where is not None and (missed.where.path.name, missed.where.line) == (
        "01-intro.md",
        5,
    )
    assert missed.message == "cross-reference '@fig-nowhere' has no target: shown as '??'"


def test_pdf_shows_the_same_numbers_and_links_to_the_pages_of_the_targets(crossbook: Built) -> None:
    pages = pdf_page_texts(crossbook.pdf)
    whole = " ".join(pages)
    for caption in EXPECTED_CAPTIONS:
        assert caption in whole
    links = {
        link["target"]: link
        for link in pdf_links(crossbook.pdf)
        if link["target"] in EXPECTED_REFERENCES.values()
    }
    assert set(links) == set(EXPECTED_REFERENCES.values())
    for words, ident in EXPECTED_REFERENCES.items():
        link = links[ident]
        assert words in link["text"], (words, link)
    # each link lands on the page that shows its target's caption (or heading)
    shown = dict(
        zip(("fig-map", "fig-flow", "tbl-rain", "lst-count"), EXPECTED_CAPTIONS, strict=True)
    )
    shown["sec-gauges"] = "2.1 Gauges"
    for ident, words in shown.items():
        assert words in pages[links[ident]["target_page"]], ident
    assert "Figure ??" in whole


@pytest.mark.slow
def test_the_pdf_says_the_page_where_the_style_asks(crossbook: Built, tmp_path: Path) -> None:
    """`page-references = true` in a style's style.toml: "Figure 2.1 on page 5", the
    page the figure is printed on. The EPUB has no pages and says nothing more."""
    from dataclasses import replace

    from publisher.build import build
    from publisher.model import BuildOptions
    from publisher.pdf.layout import PdfInputs
    from publisher.pdf.pieces import page_dependent_css
    from publisher.source.styles import load_style

    styles = tmp_path / "styles"
    shutil.copytree(STYLES, styles)
    (styles / "paged").mkdir()
    (styles / "paged" / "style.toml").write_text(
        'chapter-numbers = "arabic"\nnumber-sections = true\npage-references = true\n'
    )
    manuscript = crossbook.folder.parent / "book"
    result = build(BuildOptions(manuscript, tmp_path / "out", styles, ("pdf",), style="paged"))
    pdf = next(o.path for o in result.outputs if o.format == "pdf")
    pages = pdf_page_texts(pdf)
    flow = next(n for n, page in enumerate(pages) if "Figure 2.1: Flow at the gauge" in page)
    # the folio printed on that page (at its foot) is the number the reference gives
    folio = pages[flow].split()[-1]
    assert f"Figure 2.1 on page {folio}" in " ".join(pages).replace("\u00a0", " ")
    assert "on page" not in crossbook.member("EPUB/chapter-01.xhtml")
    # A book laid out in pieces cannot know another piece's pages: it is laid out whole.
    inputs = PdfInputs(crossbook.result.book, styles, None, style=load_style(styles, "paged"))  # type: ignore[arg-type]
    assert any("page references" in found for found in page_dependent_css(inputs))
    plain = replace(inputs, style=load_style(styles, "modern"))
    assert not any("page references" in found for found in page_dependent_css(plain))


@pytest.mark.slow
def test_the_cross_referenced_book_passes_epubcheck_ace_and_pdfua(
    crossbook: Built, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

    from conftest import need
    from readers import ace_violations, run_ace

    need("java")
    from publisher.check.outputs import run_epubcheck

    assert [str(f) for f in run_epubcheck(crossbook.epub) if f.severity != "USAGE"] == []
    assert ace_violations(run_ace(crossbook.epub, tmp_path)) == []
    done = subprocess.run(
        [sys.executable, "-m", "pdfua", "check", "--format", "json", str(crossbook.pdf)],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    assert report["summary"]["errors"] == 0
    assert {f["rule_id"] for f in report["findings"]} <= {"UA-15-003"}  # tables: see test_print
