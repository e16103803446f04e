"""The print-grade PDF: profiles, standards, PDF/UA checks, notes at the foot of the
page, nothing outside the trim box, and rendered pages against reference images."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pdfplumber
import pikepdf
import pytest
from PIL import Image, ImageChops

from publisher.build import build
from publisher.model import BuildOptions

from conftest import ROOT, STYLES, Built, need, pdftotext

GOLDEN = Path(__file__).parent / "golden" / "pages"
POINTS_PER_MM = 72 / 25.4


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def pdf_only(source: Path, out: Path, **options: str) -> Path:
    result = build(BuildOptions(source, out, STYLES, ("pdf",), **options))  # type: ignore[arg-type]
    return result.outputs[0].path


def test_profiles_set_the_page(tmp_path: Path) -> None:
    source = write(tmp_path / "a.md", "---\ntitle: Pages\n---\n\nText.\n")
    with pikepdf.open(pdf_only(source, tmp_path / "print")) as pdf:
        box = [float(v) for v in pdf.pages[0].MediaBox]
    assert round(box[2] / POINTS_PER_MM) == 148 and round(box[3] / POINTS_PER_MM) == 210  # A5
    with pikepdf.open(pdf_only(source, tmp_path / "screen", profile="screen")) as pdf:
        box = [float(v) for v in pdf.pages[0].MediaBox]
    assert round(box[2] / POINTS_PER_MM) == 210 and round(box[3] / POINTS_PER_MM) == 297  # A4
    sized = write(tmp_path / "b.md", "---\ntitle: Trade\npage-size: 6x9\n---\n\nText.\n")
    with pikepdf.open(pdf_only(sized, tmp_path / "trade")) as pdf:
        box = [float(v) for v in pdf.pages[0].MediaBox]
    assert (round(box[2]), round(box[3])) == (432, 648)


def test_bleed_and_crop_marks_lie_outside_the_trim_box(tmp_path: Path) -> None:
    source = write(
        tmp_path / "a.md", "---\ntitle: Marks\nbleed: 3mm\ncrop-marks: true\n---\n\nText.\n"
    )
    with pikepdf.open(pdf_only(source, tmp_path / "out")) as pdf:
        page = pdf.pages[0]
        media = [float(v) for v in page.MediaBox]
        trim = [float(v) for v in page.TrimBox]
        bleed = [float(v) for v in page.BleedBox]
    assert trim[0] > bleed[0] >= media[0] and trim[2] < bleed[2] <= media[2]
    assert round((trim[2] - trim[0]) / POINTS_PER_MM) == 148  # the trim is the A5 page


def test_print_profile_opens_chapters_on_right_pages_with_blank_versos(guide: Built) -> None:
    pages = pdftotext(guide.pdf).split("\f")
    for chapter in guide.result.book.chapters:
        number = next(
            n for n, text in enumerate(pages, start=1) if text.strip().startswith(chapter.title)
        )
        assert number % 2 == 1, (chapter.title, number)
    blank = [n for n, text in enumerate(pages[:-1], start=1) if not text.strip()]
    assert blank and all(n % 2 == 0 for n in blank)  # truly blank: no head, no folio


def test_running_heads_absent_on_chapter_openers(guide: Built) -> None:
    pages = pdftotext(guide.pdf).split("\f")
    title = guide.result.book.meta.title
    for chapter in guide.result.book.chapters:
        for text in pages:
            lines = [line for line in text.splitlines() if line.strip()]
            if lines and lines[0] == chapter.title:
                assert title not in text.split(chapter.title)[0]
    left_heads = [
        text.splitlines()[0] for n, text in enumerate(pages, start=1) if n % 2 == 0 and text.strip()
    ]
    assert title in left_heads


@pytest.mark.parametrize(
    ("standard", "marker"),
    [
        ("a-3b", b'pdfaid:part="3"'),
        ("x-4", b"PDF/X-4"),
    ],
)
def test_pdf_standards_are_marked_and_reproducible(
    tmp_path: Path, standard: str, marker: bytes
) -> None:
    source = ROOT / "manuscript"
    first = pdf_only(source, tmp_path / "1", pdf_standard=standard)
    second = pdf_only(source, tmp_path / "2", pdf_standard=standard)
    assert first.read_bytes() == second.read_bytes()
    with pikepdf.open(first) as pdf:
        xmp = bytes(pdf.Root.Metadata.read_bytes())
        assert marker in xmp or marker.decode() in str(pdf.trailer.get("/Info", {}))


def test_pdfua_finds_no_errors(article: Built, guide: Built) -> None:
    for built in (article, guide):
        done = subprocess.run(
            [sys.executable, "-m", "pdfua", "check", "--format", "json", str(built.pdf)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode in (0, 1, 2), done.stderr  # 3 would be an error finding
        report = json.loads(done.stdout)
        assert report["summary"]["errors"] == 0
        assert report["summary"]["rules_run"] >= 10
        # Its one warning (tables) is a false alarm: the data cells carry /Headers and
        # the header cells /IDs (test_alt_text_and_table_headers_are_tagged), which
        # PDF/UA accepts instead of /Scope.
        assert {f["rule_id"] for f in report["findings"]} <= {"UA-15-003"}


def test_alt_text_and_table_headers_are_tagged(guide: Built) -> None:
    kinds: dict[str, list[pikepdf.Dictionary]] = {}
    with pikepdf.open(guide.pdf) as pdf:

        def walk(node: object) -> None:
            if isinstance(node, pikepdf.Array):
                for child in node:
                    walk(child)
            elif isinstance(node, pikepdf.Dictionary):
                if "/S" in node:
                    kinds.setdefault(str(node.S), []).append(node)
                if "/K" in node:
                    walk(node.K)

        walk(pdf.Root.StructTreeRoot.K)
        assert all("/Alt" in figure for figure in kinds["/Figure"])
        assert any("A bar chart" in str(f.Alt) for f in kinds["/Figure"])
        assert len(kinds["/TH"]) == 3
        assert all("/Headers" in td.A for td in kinds["/TD"])


@pytest.mark.slow  # a long book
def test_a_thousand_notes_each_on_the_page_of_its_call(tmp_path: Path) -> None:
    paragraphs = [f"Call{n:04d} here.[^{n}] Some words follow." for n in range(1, 1001)]
    notes = [f"[^{n}]: Note{n:04d} text." for n in range(1, 1001)]
    source = write(
        tmp_path / "notes.md", "---\ntitle: Notes\n---\n\n" + "\n\n".join(paragraphs + notes) + "\n"
    )
    pages = pdftotext(pdf_only(source, tmp_path / "out")).split("\f")
    call_page, note_page = {}, {}
    for number, text in enumerate(pages, start=1):
        for n in range(1, 1001):
            if f"Call{n:04d}" in text:
                call_page[n] = number
            if f"Note{n:04d}" in text:
                note_page[n] = number
    assert len(call_page) == len(note_page) == 1000
    assert call_page == note_page
    last = next(text for text in reversed(pages) if text.strip())
    assert "1000. Note1000 text." in " ".join(last.split())  # numbered as in the EPUB


def test_wide_tables_and_figures_stay_inside_the_trim_box(tmp_path: Path) -> None:
    header = "| " + " | ".join(f"Column{n}" for n in range(12)) + " |"
    rule = "|" + "---|" * 12
    row = "| " + " | ".join("Supercalifragilistic" for _ in range(12)) + " |"
    Image.new("RGB", (3000, 600), (20, 60, 120)).save(tmp_path / "wide.png")
    source = write(
        tmp_path / "wide.md",
        "---\ntitle: Wide\n---\n\n"
        + "\n".join([header, rule, row, row])
        + "\n\n![A very wide image](wide.png)\n",
    )
    pdf = pdf_only(source, tmp_path / "out")
    with pdfplumber.open(pdf) as doc:
        for page in doc.pages:
            trim = page.trimbox if hasattr(page, "trimbox") else page.bbox
            x0, _, x1, _ = trim
            for char in page.chars:
                assert x0 <= char["x0"] and char["x1"] <= x1 + 0.5, char["text"]
            for image in page.images:
                assert x0 <= image["x0"] and image["x1"] <= x1 + 0.5
    # Every cell's text is there, broken over lines but never clipped.
    letters = re.sub(r"[\s\u2010-]", "", pdftotext(pdf))
    assert letters.count("Supercalifragilistic") == 24


def test_long_tables_are_laid_out_with_column_widths_from_their_text(tmp_path: Path) -> None:
    """WeasyPrint's automatic table layout measured every cell twice: a long table
    gets the fixed layout, with widths worked out from the cells' text (the widest
    text, the widest column); a short one, or one whose cells span columns, keeps
    the automatic layout. Every cell stays inside the page, none is lost."""
    from lxml import html as lxml_html

    from publisher.pdf.layout import FIXED_TABLE_ROWS, print_html
    from publisher.render.book import render_book
    from publisher.source.manuscript import load
    from publisher.source.resources import Locator

    rows = FIXED_TABLE_ROWS + 10
    long = "| N | Description | Amount |\n|--:|:--|--:|\n" + "".join(
        f"| {n} | item number {n} of a long list of items | {n * 7} |\n" for n in range(rows)
    )
    wide = "| " + " | ".join(f"C{n}" for n in range(12)) + " |\n" + "|---" * 12 + "|\n"
    wide += ("| " + " | ".join("Supercalifragilistic" for _ in range(12)) + " |\n") * rows
    short = "| a | b |\n|---|---|\n| 1 | 2 |\n"
    source = write(
        tmp_path / "t.md",
        f"---\ntitle: Tables\n---\n\n{long}\n{wide}\n{short}\n<table><tr>"
        + '<td colspan="2">x</td></tr>'
        + "<tr><td>1</td><td>2</td></tr>" * rows
        + "</table>\n",
    )
    manuscript = load(source)
    book = render_book(manuscript, Locator(manuscript.root))
    tables = lxml_html.document_fromstring(print_html(book)).findall(".//table")
    assert len(tables) == 3  # raw HTML is off: the last is text
    first, second, third = tables
    assert "table-layout: fixed" in first.get("style", "")
    widths = [float(c.get("style", "")[7:-1]) for c in first.findall("colgroup/col")]
    assert abs(sum(widths) - 100) < 0.1 and widths[1] > widths[2] > widths[0], widths
    assert "table-layout: fixed" in second.get("style", "")
    assert third.get("style") is None and third.find("colgroup") is None
    pdf = pdf_only(source, tmp_path / "out")
    with pdfplumber.open(pdf) as doc:
        for page in doc.pages:
            x0, _, x1, _ = page.bbox
            for char in page.chars:
                assert x0 <= char["x0"] and char["x1"] <= x1 + 0.5, char["text"]
    text = pdftotext(pdf)
    letters = re.sub(r"[\s\u2010-]", "", text)
    assert letters.count("Supercalifragilistic") == 12 * rows
    assert all(f"item number {n} of a long" in " ".join(text.split()) for n in range(rows))


def test_a_word_longer_than_a_line_wraps_inside_the_page(tmp_path: Path) -> None:
    """A word longer than the line overflowed the page in a paragraph (lost past its
    edge), and where it could wrap (a table cell, code) WeasyPrint shaped the rest of
    it again for every line: quadratic. A run over LONG_WORD letters gets a break
    opportunity every LONG_WORD of them, and nothing longer reaches WeasyPrint."""
    from publisher.pdf.layout import LONG_WORD, print_html
    from publisher.render.book import render_book
    from publisher.source.manuscript import load
    from publisher.source.resources import Locator

    source = write(
        tmp_path / "w.md",
        "---\ntitle: Words\nlang: en\n---\n\n"
        + "A "
        + "a" * 3000
        + " word.\n\n"
        + "```\n"
        + "b" * 2000
        + "\n```\n\n"
        + "| x |\n|---|\n| "
        + "c" * 1000
        + " |\n\n"
        + "東京" * 500
        + "\n",
    )
    manuscript = load(source)
    printed = print_html(render_book(manuscript, Locator(manuscript.root)))
    runs = re.findall(r"[^\s<>\u200b]+", re.sub(r"<[^>]*>", " ", printed))
    assert max(len(run) for run in runs if not run.startswith("東京")) <= LONG_WORD
    assert "東京" * 500 in printed  # ideographs break between themselves already
    pdf = pdf_only(source, tmp_path / "out")
    with pdfplumber.open(pdf) as doc:
        for page in doc.pages:
            x0, _, x1, _ = page.bbox
            for char in page.chars:
                assert x0 <= char["x0"] and char["x1"] <= x1 + 0.5, char["text"]
    text = pdftotext(pdf).replace("\u200b", "")
    for letter, count in (("a", 3000), ("b", 2000), ("c", 1000)):
        assert re.sub(r"\s", "", text).count(letter * 40) == count // 40, letter


def test_a_letter_with_thousands_of_accents_is_set_in_short_pieces() -> None:
    """One letter and tens of thousands of combining accents (Zalgo text): one
    cluster, which WeasyPrint shaped again, whole, for every line (330,000 accents:
    over five minutes). Broken up like a long word, the paragraph is set in pieces
    of at most LONG_RUN_PARAGRAPH characters, cut at those breaks, text kept."""
    from lxml import html as lxml_html

    from publisher.model import BookMeta, Identifier, Manuscript, SourceFile
    from publisher.pdf.layout import LONG_RUN_PARAGRAPH, print_html
    from publisher.render.book import render_book

    root = Path("/virtual")
    meta = BookMeta(title="T", lang="en", identifier=Identifier("urn:x"))
    marks = "e" + "\u0301" * 30_000
    book = render_book(
        Manuscript(meta, (SourceFile(root / "a.md", f"# Top\n\n{marks}\n"),), root),
        lambda *a: None,  # type: ignore[arg-type, return-value]
    )
    body = lxml_html.document_fromstring(print_html(book)).find("body")
    assert body is not None
    pieces = [p.text_content() for p in body.iter("p") if "\u0301" in p.text_content()]
    assert len(pieces) >= 6 and max(len(piece) for piece in pieces) <= LONG_RUN_PARAGRAPH + 41
    assert "".join(pieces).replace("\u200b", "") == marks


def _printed_body(markdown: str) -> Any:
    from lxml import html as lxml_html

    from publisher.model import BookMeta, Identifier, Manuscript, SourceFile
    from publisher.pdf.layout import print_html
    from publisher.render.book import render_book

    root = Path("/virtual")
    meta = BookMeta(title="T", lang="en", identifier=Identifier("urn:x"))
    book = render_book(
        Manuscript(meta, (SourceFile(root / "a.md", markdown),), root),
        lambda *a: None,  # type: ignore[arg-type, return-value]
    )
    body = lxml_html.document_fromstring(print_html(book)).find("body")
    assert body is not None
    return body


def test_a_long_paragraph_with_emphasis_and_links_is_set_in_pieces() -> None:
    """A paragraph is set in pieces however its text is marked up: a long one whose
    words sit inside emphasis or a link was set whole (quadratic in WeasyPrint).
    Each piece opens the emphasis and the link again; an id is on the first only;
    the words are all there, in order."""
    from publisher.pdf.layout import LONG_PARAGRAPH

    words = " ".join(f"w{n}" for n in range(12_000))  # about 70,000 characters
    body = _printed_body(f"# Top\n\nStart *{words} [in a link {words}](#top){{#here}}* end.\n")
    pieces = [
        p for p in body.iter("p") if p.get("class", "").split()[:1] in (["runs-on"], ["continued"])
    ]
    assert len(pieces) >= 4
    assert max(len(p.text_content()) for p in pieces) <= LONG_PARAGRAPH
    assert " ".join("".join(p.text_content() for p in pieces).split()) == " ".join(
        f"Start {words} in a link {words} end.".split()
    )
    assert all(p.find("em") is not None for p in pieces[:-1])  # the emphasis reopened
    assert sum(1 for p in pieces for a in p.iter("a") if a.get("href") == "#top") >= 2
    assert sum(1 for p in pieces for e in p.iter() if e.get("id") == "here") == 1
    assert pieces[-1].get("class") == "continued" and "runs-on" in pieces[0].get("class", "")


def test_a_long_paragraph_of_broken_lines_is_cut_where_its_lines_end() -> None:
    """Verse or an address list of thousands of hard-broken lines is cut into pieces
    at its line breaks, none of them running on: a piece that runs on justifies the
    line before each break (CSS's last lines), spreading every line's words."""
    body = _printed_body("# Top\n\n" + "line of *verse* here\\\n" * 3000 + "end\n")
    pieces = [p for p in body.iter("p") if "verse" in p.text_content()]
    assert len(pieces) >= 3
    assert not any("runs-on" in p.get("class", "") for p in pieces)
    assert " ".join(p.text_content() for p in pieces).split().count("verse") == 3000


def test_a_long_code_block_is_set_in_pieces_at_its_lines_ends() -> None:
    """A code block of thousands of lines, or one line of 200,000 characters, is set
    as several blocks with its class (frame and font), cut at a line's end (inside
    a line only when it is too long); every character is kept."""
    lines = "def f(x):\n    return x  # comment\n" * 2000
    body = _printed_body(f"# Top\n\n```python\n{lines}```\n\n```\n{'y' * 200_000}\n```\n")
    pieces = [pre for pre in body.iter("pre")]
    code = [pre for pre in pieces if "def f" in pre.text_content()]
    assert len(code) >= 4 and all(pre.get("class", "").startswith("code") for pre in code)
    assert all(pre.text_content().endswith("\n") for pre in code)  # cut after a line
    assert "".join(pre.text_content() for pre in code) == lines
    assert sum(1 for pre in code for span in pre.iter("span") if span.get("class")) > 10_000
    long = [
        pre.text_content().replace("\u200b", "") for pre in pieces if "yyy" in pre.text_content()
    ]
    assert len(long) >= 10 and "".join(long).strip() == "y" * 200_000


def test_the_pieces_of_a_long_paragraph_keep_its_notes_marks_and_language() -> None:
    """A note is one float whatever its length, an index mark one mark: neither is
    cut. Every piece keeps the paragraph's language, direction and class (its id
    once); a raw <q> is not reopened (its marks would print at each cut)."""
    from lxml import etree

    from publisher.pdf.layout import _split_long_paragraphs

    words = " ".join(f"w{n}" for n in range(5000))
    section = etree.fromstring(
        f'<section><p id="para" class="wide" lang="ar" dir="rtl">{words} call'
        f'<span class="footnote-float">{words} {words}</span> <span data-mark="m1">term</span>'
        f" <q>{words}</q> {words}</p></section>"
    )
    _split_long_paragraphs(section)
    pieces = list(section.iter("p"))
    assert len(pieces) >= 3
    assert all(p.get("lang") == "ar" and p.get("dir") == "rtl" for p in pieces)
    assert all("wide" in p.get("class", "").split() for p in pieces)
    assert sum(1 for p in pieces if p.get("id") == "para") == 1
    notes = [e for e in section.iter("span") if e.get("class") == "footnote-float"]
    assert len(notes) == 1 and "".join(notes[0].itertext()).count("w4999") == 2
    assert sum(1 for e in section.iter("span") if e.get("data-mark")) == 1
    assert len(list(section.iter("q"))) == 1
    text = " ".join(" ".join(p.itertext()) for p in pieces).split()
    assert text.count("w4999") == 5 and text[-1] == "w4999"


def test_a_word_made_of_many_emphases_is_broken_like_any_long_word() -> None:
    """`*a*b*a*b…`: letters each in its own element are one word; counted across
    the elements, it gets a break opportunity every LONG_WORD letters (it ran off
    the page, and took 37 s)."""
    from publisher.pdf.layout import LONG_WORD

    body = _printed_body("# Top\n\nStart " + "*a*b" * 3000 + " end.\n")
    text = "".join(p.text_content() for p in body.iter("p"))
    runs = [len(run) for run in re.split(r"[\s\u200b]+", text)]
    assert max(runs) <= LONG_WORD and text.replace("\u200b", "").count("ab") == 3000


def test_deep_nesting_keeps_links_notes_index_marks_and_languages() -> None:
    """Past eight levels only emphasis and the like are unwrapped: a link, a note,
    an index mark and a language span keep their element."""
    stars = "*" * 18
    body = _printed_body(
        f"# Top\n\n{stars}Deep [a link](https://example.com) note[^1] [idx]{{.index}} "
        f"[ar]{{lang=ar dir=rtl}}{stars}\n\n[^1]: First note body.\n"
    )
    assert any(a.get("href") == "https://example.com" for a in body.iter("a"))
    assert any("footnote-float" in e.get("class", "") for e in body.iter("span"))
    assert any(e.get("data-mark") is not None for e in body.iter("span"))
    assert any(e.get("lang") == "ar" and e.get("dir") == "rtl" for e in body.iter("span"))


def test_inline_elements_nested_past_eight_levels_are_unwrapped_in_the_print() -> None:
    """WeasyPrint's cost for a line grows with the square of its inline nesting: the
    print keeps eight levels (text needs three or four) and unwraps the rest, text
    and ids kept. A megabyte of `*` is text, not a million delimiters."""
    from publisher.pdf.layout import MAX_PRINT_INLINE_DEPTH
    from publisher.render.markdown import MAX_RUN

    body = _printed_body("# Top\n\n" + "*" * 40 + "deep" + "*" * 40 + "\n\na " + "_" * 300 + " b\n")
    deep = next(e for e in body.iter() if e.text == "deep")
    levels = sum(1 for e in deep.iterancestors() if e.tag in ("em", "strong"))
    assert levels == MAX_PRINT_INLINE_DEPTH
    assert "_" * 300 in body.text_content().replace("\u200b", "") and MAX_RUN < 300


def test_a_table_whose_cells_span_columns_keeps_the_automatic_layout() -> None:
    from lxml import etree

    from publisher.pdf.layout import _column_widths

    rows = [etree.fromstring(f"<tr><td>{a}</td><td>{b}</td></tr>") for a, b in [("1", "22")] * 3]
    assert _column_widths(rows) == [4.5, 5.5]  # the longest word, one over, and padding
    rows.append(etree.fromstring('<tr><td colspan="2">x</td></tr>'))
    assert _column_widths(rows) is None
    assert _column_widths([etree.fromstring("<tr><td>1</td></tr>"), *rows[:1]]) is None


def test_proof_task_writes_pages_and_a_contact_sheet(article: Built, tmp_path: Path) -> None:
    need("pdftoppm")
    from publisher.app.proof import make_proof

    sheet, pages = make_proof(article.pdf, tmp_path / "proof", 30)
    assert len(pages) == 2 and sheet.is_file()
    with Image.open(sheet) as image:
        assert image.width > 2 * Image.open(pages[0]).width  # pages side by side


@pytest.mark.parametrize("page", [1, 2])
def test_rendered_pages_match_the_reference(
    article: Built, tmp_path: Path, page: int, request: pytest.FixtureRequest
) -> None:
    """Visual regression: the article's pages at 40 dpi against committed images.
    Regenerate with pytest --update-golden (and look at them)."""
    need("pdftoppm")
    from publisher.app.proof import render_pages

    rendered = render_pages(article.pdf, tmp_path / "pages", 40)[page - 1]
    reference = GOLDEN / f"article-page-{page}.png"
    if request.config.getoption("--update-golden"):
        reference.parent.mkdir(parents=True, exist_ok=True)
        reference.write_bytes(rendered.read_bytes())
    with Image.open(rendered) as new, Image.open(reference) as old:
        assert new.size == old.size
        diff = ImageChops.difference(new.convert("L"), old.convert("L"))
        changed = sum(count for count, value in diff.getcolors(256) or [] if value > 64)
    assert changed / (new.width * new.height) < 0.005, f"{changed} pixels changed"


def _long_titled_book(folder: Path) -> Path:
    passage = " ".join(["the lamps were lit along the harbour wall before the boats came in"] * 4)
    body = "\n\n".join([passage] * 14)
    source = folder / "long-titles.md"
    source.write_text(
        "---\ntitle: A Book Whose Title Runs On Far Past Anything a Running Head Could Hold"
        " on One Line\nlang: en\nstyle: {style}\n---\n\n"
        "# The first chapter, whose title is far too long for a running head at all"
        ' {{short-title="The First Chapter"}}\n\n' + body + "\n\n" + body + "\n\n"
        "# The second chapter, whose title is far too long for a running head as well\n\n"
        + body
        + "\n",
        "utf-8",
    )
    return source


@pytest.mark.parametrize("style", ["default", "classic", "modern", "news"])
def test_running_heads_fit_on_one_line(tmp_path: Path, style: str) -> None:
    """A chapter's short-title is its running head; a head too long for the line
    ends in an ellipsis on that line: its ink (rendered) stays on one line and inside
    the text block's width, never wrapping into the text or past the margin."""
    source = _long_titled_book(tmp_path)
    source.write_text(source.read_text("utf-8").format(style=style), "utf-8")
    result = build(BuildOptions(source, tmp_path / "out", STYLES))
    pdf = next(o.path for o in result.outputs if o.format == "pdf")
    tool = need("pdftoppm")
    subprocess.run([tool, "-r", "72", "-gray", "-png", str(pdf), str(tmp_path / "p")], check=True)
    heads = []
    with pdfplumber.open(pdf) as document:
        for page in document.pages:
            words = page.extract_words(extra_attrs=["size"])
            if not words:
                continue
            body = [w for w in words if w["size"] > 9]  # the text, and titles
            text_top = min(w["top"] for w in body)
            top = [w for w in words if w["size"] <= 9 and w["bottom"] < text_top]
            if not top:  # a chapter's opening page: no head
                continue
            assert len({round(w["top"]) for w in top}) == 1, (style, page.page_number, top)
            heads.append(" ".join(w["text"] for w in top))
            number = str(page.page_number).zfill(len(str(len(document.pages))))
            image = Image.open(tmp_path / f"p-{number}.png")
            head_bottom = max(w["bottom"] for w in top)
            assert head_bottom + 3 < min(w["top"] for w in body), (style, page.page_number)
            band = image.crop((0, 0, image.width, int(head_bottom) + 3))
            box = band.point(lambda v: 255 if v < 128 else 0).getbbox()
            assert box is not None, (style, page.page_number)
            left = min(w["x0"] for w in body)
            right = max(w["x1"] for w in body)
            assert left - 2 <= box[0] and box[2] <= right + 2, (style, page.page_number, box)
            assert box[3] - box[1] < 16, (style, page.page_number, "one line of 8.5 pt")
    assert any("The First Chapter" in head for head in heads), heads
    assert not any("The first chapter, whose" in head for head in heads), heads
