"""Book styles (styles/NAME/): each one builds the article and a novel that pass
EPUBCheck, Ace and PDF/UA checks, reproducibly; scene breaks, drop caps, pull
quotes, numbers and print typography (runts, widows, orphans, headings kept with
their text) are checked on the laid-out pages."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from publisher.build import build
from publisher.ids import IdPool
from publisher.model import BuildOptions
from publisher.source.styles import available, load_style

from conftest import ARTICLE, ROOT, STYLES, Built, build_book, invoke, need, need_ace
from readers import ace_violations, run_ace, run_epubjs

NOVEL = ROOT / "examples" / "novel"
FEATURE = ROOT / "examples" / "feature"
STYLE_NAMES = available(STYLES)
XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="session")
def styled(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Built]:
    """The article and the novel in every style, built once."""
    base = tmp_path_factory.mktemp("styled")
    return {
        (name, book.name): build_book(book, base / name / book.name, style=name)
        for name in STYLE_NAMES
        for book in (ARTICLE, NOVEL)
    }


def test_the_styles_are_folders_with_a_description() -> None:
    assert STYLE_NAMES == ["classic", "default", "modern", "news"]
    for name in STYLE_NAMES:
        style = load_style(STYLES, name)
        assert len(style.description) > 40, name
        assert style.folder == STYLES / name


def test_a_new_folder_is_a_new_style(tmp_path: Path) -> None:
    import shutil

    styles = tmp_path / "styles"
    shutil.copytree(STYLES, styles, symlinks=True)
    (styles / "plain").mkdir()
    (styles / "plain" / "style.toml").write_text('description = "Plain."\n', "utf-8")
    (styles / "plain" / "base.css").write_text("p { text-indent: 0; }\n", "utf-8")
    assert "plain" in available(styles)
    result = build(BuildOptions(ARTICLE, tmp_path / "out", styles, ("epub",), style="plain"))
    with zipfile.ZipFile(result.outputs[0].path) as z:
        assert z.read("EPUB/styles/plain/base.css") == b"p { text-indent: 0; }\n"
        fonts = [n for n in z.namelist() if "/fonts/" in n]
    assert fonts == [], "a style that names no font embeds none"


@pytest.mark.parametrize("style", STYLE_NAMES)
@pytest.mark.parametrize("book", ["manuscript", "novel"])
def test_every_style_passes_epubcheck(
    styled: dict[tuple[str, str], Built], style: str, book: str
) -> None:
    need("java")
    from publisher.check.outputs import run_epubcheck

    report = list(run_epubcheck(styled[style, book].epub))
    problems = [str(f) for f in report if f.severity in ("FATAL", "ERROR", "WARNING")]
    assert problems == []


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_every_style_passes_ace(
    styled: dict[tuple[str, str], Built], style: str, tmp_path: Path
) -> None:
    report = run_ace(styled[style, "novel"].epub, tmp_path)
    assert ace_violations(report) == []
    assert report["earl:result"]["earl:outcome"] == "pass"


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_every_style_reads_in_epubjs_with_its_fonts(
    styled: dict[tuple[str, str], Built], style: str
) -> None:
    """A real reading system (epub.js in Chromium) turns every page, and every face
    the style embeds loads."""
    report = run_epubjs(styled[style, "novel"].epub)
    assert report["ok"] and report["at_end"]
    assert report["console_errors"] == [] and report["page_errors"] == []
    docs = [doc for page in report["pages_visited"] for doc in page["docs"]]
    loaded = {face.rsplit(" ", 2)[0] for doc in docs for face in doc["fonts_loaded"]}
    assert not [face for doc in docs for face in doc["fonts_failed"]]
    families = {"default": {"PubSerif"}, "classic": {"PubSerif"}}
    families |= {"news": {"PubSerif"}, "modern": {"PubSerif", "PubSans"}}
    assert families[style] <= loaded


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_every_style_makes_a_tagged_pdf(styled: dict[tuple[str, str], Built], style: str) -> None:
    import pikepdf

    for book in ("manuscript", "novel"):
        pdf = styled[style, book].pdf
        with pikepdf.open(pdf) as doc:
            assert doc.Root.MarkInfo.Marked
            assert "/StructTreeRoot" in doc.Root
        done = subprocess.run(
            [sys.executable, "-m", "pdfua", "check", "--format", "json", str(pdf)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert json.loads(done.stdout)["summary"]["errors"] == 0, (style, book)


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_every_style_is_reproducible(
    styled: dict[tuple[str, str], Built], style: str, tmp_path: Path
) -> None:
    again = build_book(NOVEL, tmp_path, style=style)
    first = styled[style, "novel"]
    assert again.epub.read_bytes() == first.epub.read_bytes()
    assert again.pdf.read_bytes() == first.pdf.read_bytes()


@pytest.mark.slow  # runs the external checkers in a subprocess
def test_invoke_check_passes_a_styled_build(styled: dict[tuple[str, str], Built]) -> None:
    """The PDF's bookmarks carry the style's chapter numbers, as the EPUB's contents
    do; `invoke check` compares the two."""
    need("java")
    need_ace()
    from publisher.check.outputs import check_outputs, inspect_pdf, nav_titles

    built = styled["classic", "novel"]
    assert nav_titles(built.epub) == ["I The Harbour", "II The Storm", "III Morning"]
    findings, _ = inspect_pdf(built.pdf, _render_novel(), nav_titles(built.epub))
    assert findings == []
    report = check_outputs(NOVEL, built.epub.parent)
    assert [f for f in report.findings if f.failing] == []


def _render_novel() -> Any:
    from publisher.build import render

    return render(NOVEL)


# The novel's faces in each style: the subset family, the family it was cut from
# (named in the licence beside it), the faces.
EXPECTED_FONTS = {
    "default": {"PubSerif": ("Gentium Book Plus", {"Regular", "Italic", "Bold"})},
    "classic": {"PubSerif": ("EB Garamond", {"Regular", "Italic"})},
    # Cabin would set the crossheads and bylines, which the novel lacks.
    "news": {"PubSerif": ("Vollkorn", {"Regular", "Italic", "Bold", "Black"})},
    "modern": {
        "PubSerif": ("Gentium Book Plus", {"Regular", "Italic"}),
        "PubSans": ("Cabin", {"Regular", "Bold"}),
    },
}


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_the_epub_embeds_only_the_fonts_its_design_uses(
    styled: dict[tuple[str, str], Built], style: str
) -> None:
    with zipfile.ZipFile(styled[style, "novel"].epub) as z:
        fonts = [n for n in z.namelist() if n.endswith(".woff2")]
        css = {n: z.read(n).decode() for n in z.namelist() if n.endswith(".css")}
        licences = {
            n.removeprefix("EPUB/fonts/OFL-").removesuffix(".txt"): z.read(n).decode()
            for n in z.namelist()
            if n.endswith(".txt")
        }
    faces: dict[str, set[str]] = {}
    for name in fonts:
        family, face = Path(name).stem.split("-")
        faces.setdefault(family, set()).add(face)
    expected = EXPECTED_FONTS[style]
    assert faces == {family: wanted for family, (_, wanted) in expected.items()}
    assert set(licences) == set(expected)
    for family, (source, _) in expected.items():
        assert f'font family\nnamed "{source}"' in licences[family]
    # Every embedded face is declared, and every declared face is embedded.
    declared = set()
    for name, text in css.items():
        for url in re.findall(r'url\("([^"]+)"\)', text):
            declared.add(os.path.normpath(os.path.join(os.path.dirname(name), url)))
    assert declared == set(fonts)


# Units and properties that would override a reader's own settings.
FORBIDDEN_IN_EPUB = (
    (re.compile(r"font-size:\s*[\d.]+(px|pt)"), "absolute font sizes"),
    (re.compile(r"!important"), "!important"),
    (re.compile(r"(?<![-\w])position:"), "positioning"),
    (re.compile(r"\b\d+(vw|vh)\b"), "viewport units"),
    (re.compile(r"@page"), "page rules"),
    (
        re.compile(
            r"(?<![-\w])(color|background(-color)?):\s*(?!inherit|transparent|currentColor)"
        ),
        "colours",
    ),
)


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_epub_sheets_respect_the_readers_choices(style: str) -> None:
    folder = STYLES / style
    for sheet in [folder / "base.css", folder / "epub.css"]:
        if not sheet.is_file():
            continue
        text = re.sub(r"/\*.*?\*/", "", sheet.read_text("utf-8"), flags=re.S)
        for pattern, what in FORBIDDEN_IN_EPUB:
            assert not pattern.search(text), f"{sheet.relative_to(ROOT)}: {what}"


def _chapter(epub: Path, name: str) -> etree._Element:
    with zipfile.ZipFile(epub) as z:
        return etree.fromstring(z.read(f"EPUB/{name}"))


def test_scene_breaks_are_named_rules(styled: dict[tuple[str, str], Built]) -> None:
    doc = _chapter(styled["classic", "novel"].epub, "chapter-02.xhtml")
    rules = doc.findall(f".//{XHTML}hr")
    assert len(rules) == 2
    for rule in rules:
        assert rule.get("class") == "scene-break"
        assert rule.get("aria-label") == "Scene break"


def test_classic_numbers_chapters_in_roman_and_the_contents_agree(
    styled: dict[tuple[str, str], Built],
) -> None:
    epub = styled["classic", "novel"].epub
    heading = _chapter(epub, "chapter-02.xhtml").find(f".//{XHTML}h1")
    assert heading is not None
    number = heading.find(f"{XHTML}span[@class='chapter-number']")
    assert number is not None and number.text == "II"
    nav = _chapter(epub, "nav.xhtml")
    labels = [a.text for a in nav.iterfind(f".//{XHTML}nav[@id='toc']//{XHTML}a")]
    assert labels == ["I The Harbour", "II The Storm", "III Morning"]
    # The default style prints no numbers.
    plain = _chapter(styled["default", "novel"].epub, "chapter-02.xhtml")
    assert plain.find(f".//{XHTML}span[@class='chapter-number']") is None


def test_modern_numbers_sections(tmp_path: Path) -> None:
    guide = ROOT / "examples" / "field-guide"
    result = build(BuildOptions(guide, tmp_path, STYLES, ("epub",), style="modern"))
    nav = etree.fromstring(zipfile.ZipFile(result.outputs[0].path).read("EPUB/nav.xhtml"))
    labels = [a.text or "" for a in nav.iterfind(f".//{XHTML}nav[@id='toc']//{XHTML}a")]
    numbered = [label for label in labels if re.match(r"^\d+(\.\d+)* ", label)]
    assert any(re.match(r"^\d+\.\d+ ", label) for label in numbered), labels
    assert any(re.match(r"^\d+ ", label) for label in numbered), labels
    # Front and back matter (the preface, the appendix) are not numbered.
    assert any(label.startswith("Preface") for label in labels)


def test_a_chapter_title_that_says_its_number_gets_no_second_one(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text(
        "---\ntitle: T\nlang: en\nstyle: classic\n---\n\n# Chapter 1\n\nOne.\n\n"
        "# IV. The Fourth\n\nTwo.\n\n# Plain\n\nThree.\n",
        "utf-8",
    )
    result = build(BuildOptions(tmp_path / "b.md", tmp_path / "out", STYLES, ("epub",)))
    epub = result.outputs[0].path
    shown = [
        _chapter(epub, f"chapter-0{n}.xhtml").findtext(f".//{XHTML}span[@class='chapter-number']")
        for n in (1, 2, 3)
    ]
    assert shown == [None, None, "III"]


def test_pull_quotes_are_skippable_asides(tmp_path: Path) -> None:
    result = build(BuildOptions(FEATURE, tmp_path, STYLES, ("epub",)))
    doc = _chapter(result.outputs[0].path, "chapter-01.xhtml")
    asides = [a for a in doc.iter(f"{XHTML}aside") if "pullquote" in (a.get("class") or "")]
    assert len(asides) == 1
    aside = asides[0]
    assert aside.get("role") == "doc-pullquote"
    assert aside.get("{http://www.idpf.org/2007/ops}type") == "pullquote"
    assert "a promise" in "".join(str(t) for t in aside.itertext())
    dateline = doc.find(f".//{XHTML}span[@class='dateline']")
    assert dateline is not None and dateline.text == "CARRICK MOR"


@pytest.mark.parametrize(
    ("source", "kept"),
    [
        ("{.pullquote}\n> Said.\n", None),
        ("{.pullquote lang=fr}\n\n> Dit.\n", None),
        ("{The End}\n\nText.\n", "{The End}"),
        ("{a=b}\n\nText.\n", "{a=b}"),
        ("{onclick=alert(1)}\n\nText.\n", "{onclick=alert(1)}"),
        ("Text.\n\n{.pullquote}\n", "{.pullquote}"),
    ],
)
def test_an_attribute_line_applies_to_the_next_block_or_stays_text(
    source: str, kept: str | None
) -> None:
    from publisher.render.markdown import ParseEnv, make_parser, parse

    tokens, _ = parse(make_parser("en"), source, ParseEnv(IdPool()))
    texts = [t.content for t in tokens if t.type == "inline"]
    if kept is None:
        assert tokens[0].type == "pullquote_open"
        assert not any("{" in text for text in texts)
    else:
        assert kept in texts, "nothing the author wrote disappears"


@pytest.mark.slow  # builds the feature and runs every checker
def test_the_feature_passes_every_checker(tmp_path: Path) -> None:
    """The news feature carries what the article does not: a dateline, a pull quote,
    a scene break."""
    need("java")
    from publisher.check.outputs import run_epubcheck

    built = build_book(FEATURE, tmp_path, style="news")
    report = list(run_epubcheck(built.epub))
    assert [str(f) for f in report if f.severity in ("FATAL", "ERROR", "WARNING")] == []
    ace = run_ace(built.epub, tmp_path / "ace")
    assert ace_violations(ace) == []
    done = subprocess.run(
        [sys.executable, "-m", "pdfua", "check", "--format", "json", str(built.pdf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(done.stdout)["summary"]["errors"] == 0


def test_the_news_style_sets_a_drop_cap_in_print(styled: dict[tuple[str, str], Built]) -> None:
    import pdfplumber

    with pdfplumber.open(styled["news", "manuscript"].pdf) as pdf:
        chars = pdf.pages[0].chars
    body = sorted(c["size"] for c in chars)[len(chars) // 2]
    big = [c for c in chars if c["size"] > 3 * body]
    assert [c["text"] for c in big] == ["R"], "the first letter of the story, three lines deep"
    # The default style has none.
    with pdfplumber.open(styled["default", "manuscript"].pdf) as pdf:
        chars = pdf.pages[0].chars
    headline = max(c["size"] for c in chars)
    assert not [c for c in chars if c["size"] > 3 * body and c["size"] != headline]


# --- print typography, on the laid-out pages --------------------------------------


_DROP_CAP_BOOK = """---
title: Drop
lang: en
style: {style}
---

# The harbour

The lamps were lit along the harbour wall before the boats came in, and she waited
by the steps with the others until the light went and the wind came round to the
north, and still there was no word of the ship or of the men who had sailed her.

A second paragraph, long enough to run over a line or two of the page's column.

# The quay

One line only.

And a paragraph after it, long enough to fill a line or two of the page's column.

# The steps

One line again.

## A heading after it

Text after the heading, long enough to fill a line or two of the page's column.
"""


def _drop_caps(folder: Path, style: str) -> list[tuple[Any, Any, list[Any], list[Any]]]:
    """Each paragraph opening with a floated initial on the laid-out pages: the
    paragraph, the initial's box, the paragraph's own lines, and the blocks after it
    on the same page."""
    from weasyprint.formatting_structure import boxes

    from publisher.pdf.layout import PdfInputs, layout
    from publisher.render.book import render_book
    from publisher.source.manuscript import load
    from publisher.source.resources import Locator

    source = folder / "drop.md"
    source.write_text(_DROP_CAP_BOOK.format(style=style), "utf-8")
    chosen = load_style(STYLES, style)
    manuscript = load(source)
    book = render_book(manuscript, Locator(manuscript.root), chosen.numbering)
    document = layout(PdfInputs(book, STYLES, None, style=chosen)).document
    found = []
    for page in document.pages:
        blocks = [b for b in page._page_box.descendants() if isinstance(b, boxes.BlockBox)]
        for index, block in enumerate(blocks):
            if block.element_tag != "p":
                continue
            initial = next(
                (b for b in block.descendants() if b.is_floated() and b.element_tag == "span"),
                None,
            )
            if initial is None:
                continue
            own = set(map(id, initial.descendants()))
            lines = [
                line
                for line in block.descendants()
                if isinstance(line, boxes.LineBox) and id(line) not in own
            ]
            inside = set(map(id, block.descendants()))
            after = [
                b
                for b in blocks[index + 1 :]
                if b.element_tag in ("p", "h2", "h3") and id(b) not in inside
            ]
            found.append((block, initial, lines, after))
    return found


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_drop_caps_span_exactly_their_lines(tmp_path: Path, style: str) -> None:
    """The initial sits beside the lines its letter spans (those that begin above
    its baseline) and no others: no third line indented under a two-line initial,
    and no following block (a heading after a one-line paragraph) beside it."""
    from weasyprint.formatting_structure import boxes

    caps = _drop_caps(tmp_path, style)
    if style != "news":
        assert caps == []
        return
    assert len(caps) == 3
    for block, initial, lines, after in caps:
        glyph = next(b for b in initial.descendants() if isinstance(b, boxes.LineBox))
        baseline = glyph.position_y + glyph.baseline
        bottom = initial.position_y + initial.margin_height()
        left = block.content_box_x()
        for line in lines:
            text = [b for b in line.descendants() if isinstance(b, boxes.TextBox)]
            indented = min(b.position_x for b in text) > left + 1
            assert indented == (line.position_y < baseline), (style, text[0].text)
        for following in after:
            assert following.border_box_y() >= bottom - 0.01, (style, following.element_tag)


def _stress_book(folder: Path, style: str) -> Path:
    """Paragraphs of every length with scene breaks and sections, so that breaks,
    headings and paragraph ends fall at every place on the page."""
    rng = random.Random(9)
    words = "the a harbour lamp of to and was she he night wind light in boat sea".split()
    out = [f"---\ntitle: Stress\nlang: en\nstyle: {style}\n---\n"]
    for chapter in range(1, 4):
        out.append(f"# Part of the night {chapter}\n")
        for n in range(26):
            size = rng.choice((8, 25, 40, 70, 120))
            text = " ".join(rng.choice(words) for _ in range(size)).capitalize()
            out.append(text + ".\n")
            if n % 5 == 3:
                out.append("* * *\n")
            if n % 9 == 8:
                out.append(f"## A section {n}\n")
            if n % 7 == 6:
                out.append(f"Term {n}\n: {text}\n")
    path = folder / "stress.md"
    path.write_text("\n".join(out), "utf-8")
    return path


def _flow(box: Any) -> Iterator[Any]:
    """Block boxes of the page's flow, in order (no margin boxes, no footnotes)."""
    from weasyprint.formatting_structure import boxes

    for child in getattr(box, "children", ()):
        if isinstance(child, (boxes.MarginBox, boxes.FootnoteAreaBox)):
            continue
        if isinstance(child, boxes.BlockBox) and child.element_tag in (
            "p", "hr", "h1", "h2", "h3", "li", "figure", "pre", "table", "dt", "dd",
        ):  # fmt: skip
            yield child
        elif isinstance(child, boxes.ParentBox) and not isinstance(child, boxes.LineBox):
            yield from _flow(child)


def _lines(box: Any) -> Iterator[Any]:
    """A paragraph's lines, in order, floats (a drop cap) left out."""
    from weasyprint.formatting_structure import boxes

    for child in box.children:
        if isinstance(child, boxes.LineBox):
            yield child
        elif isinstance(child, boxes.BlockBox) and child.style["float"] == "none":
            yield from _lines(child)


def _line_text(line: Any) -> str:
    from weasyprint.formatting_structure import boxes

    parts = []
    for box in line.descendants():
        if isinstance(box, boxes.TextBox):
            parts.append(box.text)
    return "".join(parts)


@pytest.fixture(scope="session", params=STYLE_NAMES)
def stress_pages(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[list[Any]], Any]:
    from publisher.pdf.layout import PdfInputs, layout
    from publisher.render.book import render_book
    from publisher.source.manuscript import load
    from publisher.source.resources import Locator

    style = load_style(STYLES, request.param)
    manuscript = load(_stress_book(tmp_path_factory.mktemp("stress"), style.name))
    book = render_book(manuscript, Locator(manuscript.root), style.numbering)
    document = layout(PdfInputs(book, STYLES, None, style=style)).document
    pages = [list(_flow(page._page_box)) for page in document.pages]
    return style.name, pages, document


def test_scene_breaks_and_headings_never_end_or_open_a_page(
    stress_pages: tuple[str, list[list[Any]], Any],
) -> None:
    style, pages, _ = stress_pages
    breaks = sum(1 for page in pages for box in page if box.element_tag == "hr")
    assert breaks == 15, "every scene break was set"
    for number, page in enumerate(pages[:-1], start=1):
        if not any(box.element_tag == "p" for box in page):
            continue  # a blank verso, the title page
        assert page[-1].element_tag not in ("hr", "h1", "h2", "h3", "dt"), (style, number)
        assert page[0].element_tag != "hr", (style, number)


def test_no_widows_orphans_or_runts(stress_pages: tuple[str, list[list[Any]], Any]) -> None:

    style, pages, _ = stress_pages
    pieces: dict[int, list[list[str]]] = {}
    for page in pages:
        for box in page:
            if box.element_tag == "p":
                lines = [_line_text(line) for line in _lines(box)]
                assert lines, (style, box, box.children)
                pieces.setdefault(id(box.element), []).append(lines)
    assert len(pieces) > 70
    split = 0
    for fragments in pieces.values():
        if len(fragments) > 1:
            split += 1
            assert all(len(lines) >= 2 for lines in fragments), (style, fragments)
        lines = [line for fragment in fragments for line in fragment]
        last = lines[-1].split()
        if len(lines) > 1:
            assert len(last) >= 2 or len(last[0]) > 8, (style, lines[-2:])
    assert split >= 3, "paragraphs do cross pages in this test"


def test_first_line_styles_do_not_return_after_a_page_break(
    stress_pages: tuple[str, list[list[Any]], Any],
) -> None:
    """The classic style's small-caps first line, only on the paragraph's first line:
    not again at the top of the next page (a WeasyPrint bug pdf.py works around)."""
    style, pages, _ = stress_pages
    seen: set[int] = set()
    styled_lines = 0
    for page in pages:
        for box in page:
            if box.element_tag != "p":
                continue
            first_lines = [
                line for line in _lines(box) for b in line.descendants()
                if b.element_tag.endswith("::first-line")
            ]  # fmt: skip
            if id(box.element) in seen:
                assert not first_lines, (style, _line_text(first_lines[0]))
            styled_lines += bool(first_lines)
            seen.add(id(box.element))
    if style == "classic":
        assert styled_lines >= 10, "the scene breaks' paragraphs do open in small caps"


def test_justified_lines_stay_tight(stress_pages: tuple[str, list[list[Any]], Any]) -> None:
    """Hyphenation keeps word spaces from opening into rivers: the space WeasyPrint
    adds to justify a line stays small on nearly every line."""
    from weasyprint.formatting_structure import boxes

    style, _, document = stress_pages
    stretch = sorted(
        box.justification_spacing / box.style["font_size"]
        for page in document.pages
        for box in page._page_box.descendants()
        if isinstance(box, boxes.TextBox) and getattr(box, "justification_spacing", 0)
    )
    assert len(stretch) > 100
    assert stretch[int(len(stretch) * 0.95)] < 0.25, (style, stretch[-10:])


def test_scene_break_ornaments_are_drawn(
    stress_pages: tuple[str, list[list[Any]], Any], tmp_path: Path
) -> None:
    """The ornament is ink on the page, not a gap (EB Garamond's ❦ is an empty glyph)."""
    need("pdftoppm")
    from PIL import Image

    style, pages, document = stress_pages
    number, rule = next(
        (n, box) for n, page in enumerate(pages) for box in page if box.element_tag == "hr"
    )
    pdf = tmp_path / "page.pdf"
    document.copy([document.pages[number]]).write_pdf(pdf)
    subprocess.run(["pdftoppm", "-r", "96", "-png", str(pdf), str(tmp_path / "p")], check=True)
    image = Image.open(next(tmp_path.glob("p*.png"))).convert("L")
    top = int(rule.position_y)
    band = image.crop((0, top, image.width, top + int(rule.margin_height()) + 1))
    assert min(band.get_flattened_data()) < 128, f"{style}: no ink where the scene break is"


# --- choosing a style --------------------------------------------------------------


def test_an_unknown_style_is_one_clear_line(chdir_tmp: Path) -> None:
    (chdir_tmp / "book.md").write_text("---\ntitle: T\nlang: en\nstyle: fancy\n---\n\nText.\n")
    done = invoke("build", "--manuscript", "book.md", cwd=chdir_tmp)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "book.md:4: error: unknown style 'fancy' (choose one of classic, default, modern, news)"
    ]
    done = invoke("build", "--manuscript", "book.md", "--style", "news", cwd=chdir_tmp)
    assert done.returncode == 0, done.stderr


def test_proof_and_gallery_render_a_style(tmp_path: Path) -> None:
    need("pdftoppm")
    done = invoke(
        "proof", "--manuscript", str(ARTICLE), "--output", str(tmp_path), "--style", "classic",
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "styles" / "classic" / "proof").glob("*contact-sheet.png"))
    done = invoke("gallery", "--output", str(tmp_path / "g"), "--style", "news", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    sheets = sorted(
        p.relative_to(tmp_path / "g") for p in (tmp_path / "g").rglob("*contact-sheet.png")
    )
    assert [str(p.parent.parent) for p in sheets] == [
        "news/article",
        "news/feature",
        "news/field-guide",
        "news/novel",
    ]
