"""RenderedBook -> PDF through WeasyPrint, from the same chapter XHTML as the EPUB.

The print document differs from the EPUB's only where paper needs it: notes move to
their call (`float: footnote`), images point at their source files, and the whole
book is one HTML document so that page numbers, running heads and the outline run
across chapters. Every file WeasyPrint asks for goes through a fenced fetcher."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lxml.html
from lxml import etree

from publisher.errors import Location, ResourceError
from publisher.ids import is_index_mark_id
from publisher.model import RenderedBook, RenderedChapter
from publisher.pagination import TOC_DOCUMENT, mark_blocks
from publisher.pdf.cost import (
    CELL,
    CHARACTER,
    ELEMENT,
    MEBIBYTES,
    NOTE,
    NOTE_PER_NEIGHBOUR,
    PAGE,
    SECONDS,
    SVG_ELEMENT,
    Estimate,
    allowance,
    estimate,
)
from publisher.pdf.profiles import Profile, make_profile
from publisher.pdf.weasyprint.formula import formulas_drawable, formulas_drawn, formulas_tagged
from publisher.pdf.weasyprint.hooks import first_line_only_once, stable_document_id
from publisher.pdf.weasyprint.speed import fewer_collections
from publisher.source.styles import DEFAULT, Style, load_style
from publisher.xhtml import EPUB_NS, parse_body

if TYPE_CHECKING:
    from publisher.pdf.math import Typeset

STYLESHEETS = ("base.css", "print.css")


@dataclass(frozen=True)
class PdfInputs:
    book: RenderedBook
    styles: Path
    modified: dt.datetime | None  # written only when SOURCE_DATE_EPOCH or the manuscript gives it
    profile: Profile = field(default_factory=lambda: make_profile("print"))
    variant: str | None = "pdf/ua-1"
    style: Style | None = None  # None: the default style
    # The book's formulas typeset (pdf/math.typeset_book); one missing is typeset
    # while the page is made.
    formulas: Mapping[tuple[str, bool], Typeset] = field(default_factory=dict)


def print_html(
    book: RenderedBook,
    page_references: bool = False,
    formulas: Mapping[tuple[str, bool], Typeset] | None = None,
) -> str:
    """The whole book as one HTML5 document (serialised as HTML: WeasyPrint parses
    HTML5, where a self-closed <a/> would swallow what follows). `page_references`:
    cross-references say their target's page (the style's `page-references`);
    `formulas`: the book's formulas typeset (pdf/math.py)."""
    return piece_html(
        book,
        range(len(book.chapters)),
        front=True,
        page_references=page_references,
        formulas=formulas,
    )[0]


def page_word(book: RenderedBook) -> str:
    """ "on page", in the book's language (or `crossref:`'s `page-prefix`)."""
    from publisher.render.xref import Words

    return Words.make(book.meta.lang, book.meta.crossref).on_page


# A cross-reference's page, where the style asks for it: "Figure 3.2 on page 41".
PAGE_REFERENCE_CSS = """a.xref[data-on-page]::after {
  content: " " attr(data-on-page) "\\a0" target-counter(attr(href url), page);
}
"""


def page_reference_css(inputs: PdfInputs) -> str:
    """The sheet that prints cross-references' pages, when the style asks for them
    (`page-references = true` in its style.toml); empty otherwise."""
    return PAGE_REFERENCE_CSS if inputs.style is not None and inputs.style.page_references else ""


def piece_html(
    book: RenderedBook,
    chapters: range,
    *,
    front: bool,
    numbers: dict[str, str] | None = None,
    page_references: bool = False,
    formulas: Mapping[tuple[str, bool], Typeset] | None = None,
    opening: str | None = None,
    side: str | None = None,
) -> tuple[str, frozenset[str]]:
    """Some of the book's chapters as one HTML5 document (see pieces.py), with the
    title pages and contents if `front`; `numbers` gives the contents the page
    numbers of headings laid out elsewhere; `formulas` the book's formulas typeset
    (pdf/math.py). Also returns the anchors it links to
    but does not hold: each gets an empty stand-in, so that WeasyPrint keeps the
    link (the joined PDF sends it to the real one). `opening`: a chapter laid out
    apart (the index) opens an empty page at the end, holding its heading's id, so
    that the contents give its page. `side`: the first page is a `left` or `right`
    one, where WeasyPrint's first page would be the other."""
    meta = book.meta
    sources = {r.href: r.source for r in book.resources}
    head = [
        '<meta charset="utf-8">',
        f"<title>{escape(meta.title)}</title>",
    ]
    if meta.authors:
        head.append(f'<meta name="author" content="{escape(", ".join(meta.authors))}">')
    if meta.description or meta.subtitle:
        head.append(
            f'<meta name="description" content="{escape(meta.description or meta.subtitle or "")}">'
        )
    keywords = ", ".join(dict.fromkeys((*meta.subjects, *meta.keywords)))
    if keywords:
        head.append(f'<meta name="keywords" content="{escape(keywords)}">')
    if meta.date:
        head.append(f'<meta name="dcterms.created" content="{escape(meta.date)}">')
    toc_levels = {e.href.split("#", 1)[1]: e.level for e in book.toc if "#" in e.href}
    section_ids = {ch.file_name: _section_id(ch) for ch in book.chapters}
    on_page = page_word(book) if page_references else None
    sections = []
    toc = ""
    if front and not book.single_article:
        for page in book.front:
            sections.append(
                _print_section(page, sources, toc_levels, section_ids, meta.title, on_page)
            )
        if len(book.chapters) > 1:
            toc = _print_toc(book, numbers or {})
    body_parts = [lxml.html.tostring(s, encoding="unicode", method="html") for s in sections]
    if toc:
        body_parts.append(toc)
    # Formulas drawn once each, from their operators, where WeasyPrint allows it.
    lean = bool(book.formulas) and formulas_drawable()
    for index in chapters:
        section = _print_section(
            book.chapters[index],
            sources,
            toc_levels,
            section_ids,
            meta.title,
            on_page,
            formulas or {},
            lean,
        )
        sections.append(section)
        body_parts.append(lxml.html.tostring(section, encoding="unicode", method="html"))
    if opening is not None:
        chapter = next(c for c in book.chapters if c.file_name == opening)
        classes = f"{_section_class(chapter)} {chapter.matter}"
        target = chapter.toc[0].href.split("#", 1)[1]
        body_parts.append(
            f'<section class="{escape(classes)} opening-only" id="{escape(target)}"></section>\n'
        )
    held = {str(e.get("id")) for s in sections for e in s.iter() if e.get("id")}
    if opening is not None:
        held.add(target)
    links = (str(a.get("href", "")) for s in sections for a in s.iter("a"))
    wanted = {href[1:] for href in links if href[:1] == "#"}
    if toc:
        wanted |= set(toc_levels)
        held.add("print-toc-title")
    whole = front and len(chapters) == len(book.chapters)
    stubs = frozenset() if whole else frozenset(wanted - held)
    if stubs:
        anchors = "".join(f'<span id="{escape(name)}"></span>' for name in sorted(stubs))
        body_parts.append(
            '<div class="piece-anchors" aria-hidden="true" style="position: absolute; '
            f'width: 0; height: 0; overflow: hidden">{anchors}</div>\n'
        )
    kind = "article" if book.single_article else "book"
    direction = ' dir="rtl"' if meta.direction == "rtl" else ""
    if side is not None:
        direction += f' style="break-before: {side}"'
    document = (
        f'<!DOCTYPE html>\n<html lang="{meta.lang}" class="{kind}"{direction}>\n<head>\n'
        + "\n".join(head)
        + "\n</head>\n<body>\n"
        + "".join(body_parts)
        + "</body>\n</html>\n"
    )
    return document, stubs


def _section_id(chapter: RenderedChapter) -> str:
    return str(parse_body(chapter.body)[0].get("id", ""))


def _section_class(chapter: RenderedChapter) -> str:
    return str(parse_body(chapter.body)[0].get("class", ""))


def _print_toc(book: RenderedBook, numbers: dict[str, str]) -> str:
    """The printed contents: the same entries as the EPUB's nav, with page numbers
    (target-counter, or `numbers` for headings laid out in another piece) and dot
    leaders from print.css. Its pages begin, in the EPUB, at the nav document."""
    block = f'data-block="{TOC_DOCUMENT}:0"'
    items = []
    for entry in book.toc:
        target = entry.href.split("#", 1)[1] if "#" in entry.href else ""
        page = f' data-page="{numbers[target]}"' if target in numbers else ""
        items.append(
            f'<li class="toc-level-{entry.level}" {block}><a href="#{escape(target)}"{page} '
            f"{block}>{escape(entry.title)}</a></li>"
        )
    return (
        f'<nav class="print-toc" role="doc-toc" aria-labelledby="print-toc-title" {block}>'
        f'<h1 id="print-toc-title" style="bookmark-level: none" {block}>Contents</h1>'
        f"<ol {block}>" + "".join(items) + "</ol></nav>\n"
    )


def _print_section(
    chapter: RenderedChapter,
    sources: dict[str, Path],
    toc_levels: dict[str, int],
    section_ids: dict[str, str],
    book_title: str,
    on_page: str | None = None,
    formulas: Mapping[tuple[str, bool], Typeset] | None = None,
    lean: bool = False,
) -> etree._Element:
    tree = parse_body(chapter.body)
    _strip_namespaces(tree)
    section = tree[0]
    # Blocks are numbered on the tree the EPUB has (its MathML), before the formulas
    # become drawings: the page list's positions must name the same elements.
    mark_blocks(section, chapter.file_name)
    if formulas is not None and "<math" in chapter.body:
        from publisher.pdf.math import replace_formulas  # lazy: only a book with formulas

        replace_formulas(section, formulas, lean)
    _unanchored_marks(section)
    classes = [section.get("class", ""), chapter.matter]
    if chapter.in_part:
        classes.append("in-part")
    section.set("class", " ".join(c for c in classes if c))
    # The article's headline carries the book title into the running head; a
    # chapter's title re-sets it, so that the head stays empty on its opening page.
    for h1 in section.iter("h1"):
        parent = h1.getparent()
        if parent is not None and parent.get("class") == "article-head":
            h1.set("class", "book-title")
        elif parent is section:
            h1.set("data-book-title", book_title)
            # The running head: the title alone, without a number or note call, or
            # the shorter one the author gave ({short-title="..."}).
            h1.set("data-title", h1.get("data-short-title") or chapter.title)
    # Bookmarks: exactly the EPUB's navigation entries, at the same levels.
    for heading in section.iter("h1", "h2", "h3", "h4", "h5", "h6"):
        level = toc_levels.get(heading.get("id", ""))
        heading.set("style", f"bookmark-level: {level}" if level else "bookmark-level: none")
        if level and heading.find(".//svg") is not None:
            # A formula's drawing has no text: the outline says its TeX, as the nav does.
            label = " ".join(_with_formulas_as_tex(heading).split())
            escaped = label.replace("\\", "\\\\").replace('"', '\\"')
            heading.set("style", f'bookmark-level: {level}; bookmark-label: "{escaped}"')
    for link in section.iter("a"):
        file, _, fragment = link.get("href", "").partition("#")
        if file in section_ids:
            link.set("href", f"#{fragment or section_ids[file]}")
        if on_page and "xref" in link.get("class", "").split():
            link.set("data-on-page", on_page)  # page_reference_css prints the page
    _notes_to_floats(section)
    _fixed_tables(section)
    _shallow_inlines(section)
    _break_long_words(section)
    _split_long_paragraphs(section)
    _initials(section)
    _no_runts(section)
    if chapter.kind == "index":
        _flat_index(section)
    for img in section.iter("img"):
        source = sources.get(img.get("src", ""))
        if source is not None:
            img.set("src", source.as_uri())
    return section


def _with_formulas_as_tex(element: etree._Element) -> str:
    """An element's text, each formula's drawing read as its TeX (its title)."""
    if element.tag == "svg":
        return element.findtext("title") or ""
    parts = [element.text or ""]
    for child in element:
        parts += [_with_formulas_as_tex(child), child.tail or ""]
    return "".join(parts)


def _unanchored_marks(section: etree._Element) -> None:
    """A place marked for the index keeps its id as `data-mark`: nothing links to
    it in print (the index prints page numbers), and as an id it would cost
    WeasyPrint an anchor and the PDF a named destination each (10,000 of them a
    second of layout and one of writing). An author's own id on a mark stays."""
    for element in section.iter():
        ident = element.get("id")
        if ident is not None and is_index_mark_id(ident):
            del element.attrib["id"]
            element.set("data-mark", ident)


def _flat_index(section: etree._Element) -> None:
    """The index in print: each entry a paragraph of its own, indented by its level,
    its term and page numbers plain text (the EPUB's nested lists of spans and
    links took WeasyPrint six times as long to lay out: a link costs as much as a
    line, and, in a piece, a stand-in anchor too); its "see" references stay links
    within the index. Each paragraph keeps its list item's data-block: the EPUB's
    page-break markers land in the same entries."""

    def flatten(entries: etree._Element, level: int, out: list[etree._Element]) -> None:
        for item in [c for c in entries if c.tag == "li"]:
            nested = [c for c in item if c.tag == "ul"]
            for inner in nested:
                item.remove(inner)
            item.tag = "p"
            item.set("class", f"index-entry index-level-{min(level, 4)}")
            item.tail = "\n"
            out.append(item)
            for inner in nested:
                flatten(inner, level + 1, out)

    for group in [s for s in section.iter("section") if s.get("class") == "index-group"]:
        for entries in [c for c in group if c.tag == "ul"]:
            paragraphs: list[etree._Element] = []
            flatten(entries, 1, paragraphs)
            at = group.index(entries)
            group.remove(entries)
            for offset, paragraph in enumerate(paragraphs):
                group.insert(at + offset, paragraph)
    for link in section.iter("a"):
        if link.get("data-epub-type") == "index-locator":
            link.tag = "span"  # its text stays, the link goes with the spans
    etree.strip_tags(section, "span")


# WeasyPrint's automatic table layout measures every cell twice (its narrowest and
# its widest) before it lays the cell out: a long table spent most of its time
# there (a 6,000-row table of three columns, 63 s of CPU; 12 s without). Beyond
# this many rows a table gets the fixed layout, with column widths worked out here
# from the cells' text, as the automatic layout would give them on a data table.
FIXED_TABLE_ROWS = 40
_CELL_CHARS = 40  # a cell longer than this wraps: its column wants no more
_CELL_PADDING = 2.5  # th and td's padding (0.6em a side), in characters
_CHAR_EM = 0.55  # the average width of a character of text, in em (a little over)


SHORT_TABLE_ROWS = 12  # about a third of a page: moved whole rather than split


def _fixed_tables(section: etree._Element) -> None:
    for table in list(section.iter("table")):
        rows = [row for row in table.iter("tr") if not _nested(row, table)]
        inside = any(a.tag in ("table", "li", "blockquote") for a in table.iterancestors())
        if len(rows) <= SHORT_TABLE_ROWS and not inside:
            # Kept on one page with its caption: split, a row or two was left alone.
            # A block around it: WeasyPrint keeps a table whole but not its caption.
            parent = table.getparent()
            assert parent is not None
            block = etree.Element("div", {"class": "short-table"})
            block.tail, table.tail = table.tail, None
            parent.replace(table, block)
            block.append(table)
        if len(rows) <= FIXED_TABLE_ROWS:
            continue
        widths = _column_widths(rows)
        if widths is None:
            continue  # cells spanning columns: the automatic layout works them out
        total = sum(widths)
        table.set("style", f"table-layout: fixed; width: min(100%, {total * _CHAR_EM:.1f}em)")
        group = etree.Element("colgroup")
        for width in widths:
            etree.SubElement(group, "col", {"style": f"width: {100 * width / total:.2f}%"})
        caption = table.find("caption")
        table.insert(table.index(caption) + 1 if caption is not None else 0, group)


def _nested(row: etree._Element, table: etree._Element) -> bool:
    parent = row.getparent()
    while parent is not None and parent.tag != "table":
        parent = parent.getparent()
    return parent is not table


def _column_widths(rows: list[etree._Element]) -> list[float] | None:
    """Each column's width in characters: its longest cell (up to _CELL_CHARS, a
    longer one wraps), at least its longest word, with the padding; None when a
    cell spans columns or rows, or the rows differ in length."""
    want: list[int] = []
    for row in rows:
        cells = [cell for cell in row if cell.tag in ("td", "th")]
        if any(cell.get(span, "1") != "1" for cell in cells for span in ("colspan", "rowspan")):
            return None
        if not want:
            want = [0] * len(cells)
        elif len(cells) != len(want):
            return None
        for i, cell in enumerate(cells):
            text = " ".join("".join(str(t) for t in cell.itertext()).split())
            longest = max((len(word) for word in text.split(" ")), default=0)
            want[i] = max(want[i], min(len(text), _CELL_CHARS), longest + 1)
    return [max(w, 1) + _CELL_PADDING for w in want] if want else None


_BREAK = re.compile("[ \u200b]")
_NEWLINE = re.compile("\n")
# WeasyPrint shapes the rest of a paragraph again for every line, so its time grows
# with the square of a paragraph's length. Beyond this, a paragraph of plain text is
# set as several that read as one (no indent, the last line justified).
LONG_PARAGRAPH = 20_000
# The same for a paragraph holding a run _break_long_words broke up (a word of a
# megabyte, a letter with 300,000 accents, which cost far more a character to
# shape): cut into pieces at its break opportunities (40,000 accents: 8.7 s of
# CPU as one piece of 40,000, 2.9 s as two of 20,000, 1.5 s as pieces of 5,000).
LONG_RUN_PARAGRAPH = 5_000


# Inline elements a long paragraph may be cut through: each piece opens them again
# (their id only on the first). Anything else (an image, a formula's drawing, a
# line break) goes whole into one piece.
_CUTTABLE = frozenset(
    "a abbr b bdi bdo cite code data del dfn em i ins kbd mark s samp small span "
    "strong sub sup time u var".split()
)


# WeasyPrint opens every inline element again on each line it spans, and walks
# the line's boxes at each level (layout/inline.py, boxes.descendants): a line
# costs the square of its nesting. Text needs a few levels (a link in an emphasis
# in a quotation); beyond this, the deeper inline elements are unwrapped in the
# print (emphasis 64 deep over a megabyte took 3 GB and minutes).
MAX_PRINT_INLINE_DEPTH = 8


def _shallow_inlines(section: etree._Element) -> None:
    depth: dict[etree._Element, int] = {}
    deep = []
    for element in section.iter():
        if element.tag not in _CUTTABLE:
            continue
        parent = element.getparent()
        depth[element] = depth.get(parent, 0) + 1 if parent is not None else 1
        if depth[element] > MAX_PRINT_INLINE_DEPTH and _unwrappable(element):
            deep.append(element)
    for element in deep:
        _unwrap(element)


def _unwrappable(element: etree._Element) -> bool:
    """Emphasis and the like with nothing but a class or an id (the id is kept)."""
    return element.tag in _TYPE_ONLY and not (set(element.attrib) - {"class", "id", "data-block"})


def _unwrap(element: etree._Element) -> None:
    """`element` replaced by its text and children (an empty span keeps its id)."""
    parent = element.getparent()
    assert parent is not None
    at = parent.index(element)
    moved = list(element)
    if element.get("id"):
        moved.insert(0, etree.Element("span", {"id": element.get("id", "")}))
        moved[0].tail = element.text
    elif element.text:
        if at:
            parent[at - 1].tail = (parent[at - 1].tail or "") + element.text
        else:
            parent.text = (parent.text or "") + element.text
    tail = element.tail or ""
    if moved:
        moved[-1].tail = (moved[-1].tail or "") + tail
    elif at:
        parent[at - 1].tail = (parent[at - 1].tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent[at : at + 1] = moved


ELEMENT_WEIGHT = 40  # characters: what an inline element weighs in a piece


def _whole(element: etree._Element) -> bool:
    """An element a piece must hold whole: a note (a float: cut, it would be two
    notes), an index mark (two marks, two page numbers)."""
    note = "footnote-float" in element.get("class", "").split()
    return note or element.get("data-mark") is not None


# Inline elements that only set the type, which the print may unwrap: nested,
# they look the same (a link, a note, an index mark, a language are kept).
_TYPE_ONLY = frozenset("b del em i ins s small strong u".split())


def _split_long_paragraphs(section: etree._Element) -> None:
    for p in list(section.iter("p", "pre")):
        texts = [t for t in p.itertext() if t]
        # Inline elements weigh as text does: WeasyPrint's time for a paragraph
        # grows faster than its elements (30,000 emphases: 60 s in one paragraph,
        # 18 s in paragraphs of 200).
        length = sum(len(t) for t in texts) + ELEMENT_WEIGHT * sum(1 for _ in p.iterdescendants())
        if length <= LONG_RUN_PARAGRAPH:
            continue
        limit = LONG_RUN_PARAGRAPH if any(_ZERO_WIDTH_SPACE in t for t in texts) else LONG_PARAGRAPH
        if length > limit:
            cutter = _Cutter(limit, p.find(".//br") is not None, str(p.tag))
            _replace_with_pieces(p, cutter.cut(p))


def _replace_with_pieces(p: etree._Element, pieces: list[etree._Element]) -> None:
    """`p` set as `pieces` that read as one paragraph: no indent after the first,
    every line but the paragraph's last justified."""
    if len(pieces) < 2:
        return
    parent = p.getparent()
    assert parent is not None
    at = parent.index(p)
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        # A piece cut at a line break ends its line there, unjustified.
        ends_line = _ENDS_LINE in piece.attrib
        if ends_line:
            del piece.attrib[_ENDS_LINE]
        runs_on = "" if last or ends_line else " runs-on"
        if n == 0:
            piece.attrib.update(p.attrib)
            piece.set("class", (p.get("class", "") + runs_on).strip())
        else:  # the paragraph's language, direction, class; its id once
            for name, value in _attributes(p, False).items():
                piece.set(name, value)
            piece.set("class", (p.get("class", "") + " continued" + runs_on).strip())
        piece.tail = p.tail if last else "\n"
    parent[at : at + 1] = pieces


def _attributes(element: etree._Element, with_id: bool) -> dict[str, str]:
    return {str(k): str(v) for k, v in element.attrib.items() if with_id or k != "id"}


_ENDS_LINE = "data-ends-line"


class _Cutter:
    """A paragraph with inline elements cut into pieces of about `limit` characters
    at its break opportunities, in one pass (no recursion: raw HTML may nest deep)."""

    def __init__(self, limit: int, lines_broken: bool = False, tag: str = "p") -> None:
        self.limit = limit
        self.tag = tag
        # With line breaks, a piece ends at one (a space only past twice the
        # limit): a piece that runs on justifies its last line, and CSS counts the
        # line before each break as a last line.
        self.at_space = limit * 2 if lines_broken else limit // 2
        self.pieces: list[etree._Element] = []
        self.open: list[etree._Element] = []  # the original inline elements open here
        self.into: etree._Element = etree.Element(tag)  # where text goes now
        self.chars = 0

    def cut(self, p: etree._Element) -> list[etree._Element]:
        self.pieces.append(self.into)
        self.text(p.text)
        stack: list[tuple[etree._Element, bool]] = [(c, False) for c in reversed(p)]
        while stack:
            element, done = stack.pop()
            if done:  # the end of a cuttable element
                self.open.pop()
                parent = self.into.getparent()
                assert parent is not None
                self.into = parent
                self.text(element.tail)
                continue
            name = element.tag if isinstance(element.tag, str) else ""
            if name in _CUTTABLE and not _whole(element):
                self.into = etree.SubElement(self.into, name, _attributes(element, True))
                self.chars += ELEMENT_WEIGHT
                self.open.append(element)
                self.text(element.text)
                stack.append((element, True))
                stack.extend((c, False) for c in reversed(element))
            elif name == "br" and self.chars >= self.limit // 2:
                # A line ends here anyway: the piece ends instead (hard line breaks
                # by the thousand have no other place to cut).
                self.pieces[-1].set(_ENDS_LINE, "")
                self._next_piece()
                self.text((element.tail or "").lstrip("\n"))
            else:  # whole, in this piece
                whole = copy.deepcopy(element)
                whole.tail = None
                self.into.append(whole)
                self.chars += ELEMENT_WEIGHT
                self.text(element.tail)
        return self.pieces

    def text(self, text: str | None) -> None:
        while text:
            if self.tag == "pre":  # code: at a line's end, else inside a line too long
                start = max(0, self.limit // 2 - self.chars)
                found = _NEWLINE.search(text, start, max(start, self.limit - self.chars))
                if found is None:  # no line ends before the limit
                    found = _BREAK.search(text, max(0, self.limit - self.chars))
            else:
                found = _BREAK.search(text, max(0, self.at_space - self.chars))
            if found is None or found.end() == len(text):
                self._append(text)
                self.chars += len(text)
                return
            self._append(text[: found.end()])
            text = text[found.end() :]
            self._next_piece()

    def _append(self, text: str) -> None:
        if len(self.into):
            self.into[-1].tail = (self.into[-1].tail or "") + text
        else:
            self.into.text = (self.into.text or "") + text

    def _next_piece(self) -> None:
        """A new piece, with the inline elements open here opened again (no ids:
        the first piece has them)."""
        self.into = etree.Element(self.tag)
        self.pieces.append(self.into)
        self.chars = 0
        for element in self.open:
            self.into = etree.SubElement(self.into, str(element.tag), _attributes(element, False))


# A paragraph's last line should not be one short word, nor the end of a hyphenated
# one (a runt): its last two words are kept together and unhyphenated, when they are
# short enough to move to the line together (else the last word alone).
RUNT_PAIR = 16


def _no_runts(section: etree._Element) -> None:
    for p in section.iter("p"):
        found = _last_text(p)
        if found is None:
            continue
        node, attribute = found
        text = getattr(node, attribute) or ""
        stripped = text.rstrip()
        last = stripped.rfind(" ")
        pair = stripped.rfind(" ", 0, last) if last > 0 else -1
        start = pair if len(stripped) - pair - 1 <= RUNT_PAIR else last
        if len(stripped) - start - 1 > RUNT_PAIR:
            continue  # a long word (or text without spaces, as CJK): free to break
        if start < 0 and node is p and attribute == "text":
            continue  # the paragraph is these few words: one line, no runt
        keep = etree.Element("span", {"class": "last-words"})
        if p.get("data-block") is not None:  # its letters count where the page list looks
            keep.set("data-block", p.get("data-block", ""))
        keep.text = stripped[start + 1 :]
        keep.tail = text[len(stripped) :]
        setattr(node, attribute, stripped[: start + 1])
        if attribute == "text":
            node.insert(0, keep)
        else:
            parent = node.getparent()
            assert parent is not None
            parent.insert(parent.index(node) + 1, keep)


# WeasyPrint breaks a word too long for its line (overflow-wrap) by shaping the
# whole rest of the word again for every line: 12,000 letters took 5 s, 24,000 took
# 21 s, a megabyte would take hours; where the style lets it overflow (a paragraph),
# the rest of the word is lost past the page's edge. So a run of more than LONG_WORD
# letters without a space gets a break opportunity (U+200B, which prints nothing)
# after every LONG_WORD of them. Ideographic text breaks between its characters.
LONG_WORD = 40
_ZERO_WIDTH_SPACE = "\u200b"
_NO_BREAK = r"[^\s\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
_TOKEN = re.compile(rf"({_NO_BREAK}+)|(?:(?!{_NO_BREAK}).)+", re.DOTALL)
_TRAILING = re.compile(rf"{_NO_BREAK}*\Z")


def _break_long_words(section: etree._Element) -> None:
    """Counted across inline elements: a word of letters each in its own emphasis
    (`*a*b*a*b…`) is as long as one written plainly (6,000 letters ran off the
    page, and took 37 s). A block, an image, a note starts the count again."""
    run = 0
    for event, element in etree.iterwalk(section, events=("start", "end")):
        inline = element.tag in _CUTTABLE and not _whole(element)
        if not inline:
            run = 0
        if event == "start":
            if element.text and isinstance(element.tag, str):
                element.text, run = _broken(element.text, run)
        elif element.tail:
            element.tail, run = _broken(element.tail, run)


def _broken(text: str, run: int) -> tuple[str, int]:
    """`text` with a break opportunity after every LONG_WORD letters without one,
    `run` letters without one before it; and the run at its end."""
    if run + len(text) <= LONG_WORD:
        trailing = len(_TRAILING.search(text).group(0))  # type: ignore[union-attr]
        return text, trailing if trailing < len(text) else run + trailing
    parts = []
    for match in _TOKEN.finditer(text):
        word = match.group(1)
        if word is None:  # spaces, ideographs: they break
            parts.append(match.group(0))
            run = 0
        elif run + len(word) <= LONG_WORD:
            parts.append(word)
            run += len(word)
        else:
            first = LONG_WORD - run
            chunks = [word[:first]] + [
                word[i : i + LONG_WORD] for i in range(first, len(word), LONG_WORD)
            ]
            parts.append(_ZERO_WIDTH_SPACE.join(chunks))
            run = len(chunks[-1])
    return "".join(parts), run


# The opening letter of a story or chapter, with the punctuation before it (“I).
_INITIAL = re.compile(r"^(\s*[^\w\s]*\w)", re.UNICODE)


def _initials(section: etree._Element) -> None:
    """The first letter after a chapter's title in a span.initial, which a style
    may set as a drop cap (print.css); WeasyPrint cannot float ::first-letter."""
    if not {"chapter", "article"} & set(section.get("class", "").split()):
        return  # title, part and front matter pages open with no initial
    for p in section.iter("p"):
        previous = p.getprevious()
        if previous is None or p.getparent() is not section:
            continue
        if not (previous.tag == "h1" or previous.get("class") == "article-head"):
            continue
        found = _INITIAL.match(p.text or "")
        if found is None:
            continue  # opens with markup (a dateline, a link): no drop cap
        initial = etree.Element("span", {"class": "initial"})
        initial.text = found.group(1).lstrip()
        initial.tail = p.text[found.end() :] if p.text else ""
        p.text = found.group(1)[: len(found.group(1)) - len(initial.text)]
        p.insert(0, initial)


def _last_text(element: etree._Element) -> tuple[etree._Element, str] | None:
    """The last piece of text inside an element, in reading order (notes skipped)."""
    for child in reversed(element):
        if child.tail and child.tail.strip():
            return child, "tail"
        if "footnote-float" in (child.get("class") or "") or child.tag == "svg":
            continue  # a note, or a formula's drawing (its title is no text of the line)
        found = _last_text(child)
        if found is not None:
            return found
    if element.text and element.text.strip():
        return element, "text"
    return None


def _strip_namespaces(tree: etree._Element) -> None:
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        element.tag = etree.QName(element).localname
        for name in [str(n) for n in element.attrib]:
            if name.startswith("{"):
                value = element.attrib.pop(name)
                if name == f"{{{EPUB_NS}}}type":
                    element.set("data-epub-type", value)
    etree.cleanup_namespaces(tree)


def _notes_to_floats(section: etree._Element) -> None:
    """Each note goes to its first call as a `float: footnote` span; later calls
    to the same note become plain numbered links to it."""
    notes = {
        aside.get("id"): aside
        for aside in section.iter("aside")
        if aside.get("data-epub-type") == "footnote"
    }
    if not notes:
        return
    placed: set[str] = set()
    for ref in list(section.iter("a")):
        if ref.get("data-epub-type") != "noteref":
            continue
        note_id = (ref.get("href") or "").lstrip("#")
        aside = notes.get(note_id)
        if aside is None:
            continue
        if note_id in placed:
            ref.set("href", f"#{note_id}")
            ref.attrib.pop("id", "")
            continue
        placed.add(note_id)
        span = etree.Element(
            "span", {"class": "footnote-float", "id": note_id, "data-n": ref.text or ""}
        )
        span.tail = ref.tail
        _fill_note(span, aside)
        parent = ref.getparent()
        assert parent is not None
        parent.replace(ref, span)
    for block in list(section.iter("section")):
        if block.get("class") == "footnotes":
            parent = block.getparent()
            assert parent is not None
            parent.remove(block)


def _fill_note(span: etree._Element, aside: etree._Element) -> None:
    first = True
    for block in aside:
        block = copy.deepcopy(block)
        for label in block.iter("a"):
            if label.get("class") == "note-label":
                parent = label.getparent()
                assert parent is not None
                if parent.text is None:
                    parent.text = (label.tail or "").lstrip()
                parent.remove(label)
                break
        inner = etree.SubElement(
            span, "span", {"class": "note-block" if not first else "note-first"}
        )
        inner.text = block.text
        for child in block:
            inner.append(child)
        first = False


class _Fence:
    """WeasyPrint's URL fetcher, limited to an explicit set of local files. The
    book's images are served from the bytes the resource fence read and checked
    (`served`, by their resolved path; an SVG as rebuilt from publisher.source.svg's
    allow-list): their files are never opened again. The only data URLs an SVG
    holds then are raster images checked there: those are decoded here, anything
    else is refused. The styles folder's files (fonts, the sheets' images) are read
    from it."""

    def __init__(self, allowed_roots: tuple[Path, ...], served: dict[Path, bytes]) -> None:
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        roots = tuple(r.resolve() for r in allowed_roots)
        refused: list[str] = []
        self.refused = refused

        class Fetcher(URLFetcher):  # type: ignore[misc]
            def fetch(self, url: str, headers: Any = None) -> Any:
                if url.startswith("file:"):
                    from urllib.request import url2pathname

                    named = Path(url2pathname(url.removeprefix("file:").split("?")[0]))
                    if named in served:  # as written in the print HTML: nothing resolved
                        return URLFetcherResponse(url, body=served[named])
                    path = named.resolve()
                    if any(path.is_relative_to(r) for r in roots):
                        return URLFetcherResponse(url, body=path.read_bytes())
                elif match := _RASTER_DATA.fullmatch(url):
                    body = base64.b64decode(match.group(2))
                    return URLFetcherResponse(url, body=body, headers={"Content-Type": match[1]})
                # A data URL can be half a megabyte: the message shows its start.
                refused.append(url if len(url) <= 80 else url[:79] + "…")
                raise ValueError(f"publisher does not fetch {refused[-1]}")

        self.fetcher = Fetcher()


_RASTER_DATA = re.compile(r"data:(image/(?:png|jpeg|gif|webp));base64,([A-Za-z0-9+/=]*)")


def check_glyphs(book: RenderedBook, fonts: Path) -> None:
    """Stops the build when a character has no font: never an empty box."""
    from publisher.pdf.fonts import describe, missing_characters, package_for

    for chapter in (*book.front, *book.chapters):
        text = "".join(_printed_text(parse_body(chapter.body)))
        missing = missing_characters(text, fonts)
        if not missing:
            continue
        shown = ", ".join(describe(c) for c in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        packages = " ".join(sorted({package_for(c) for c in missing}))
        where = (
            Location(chapter.source, _first_line(chapter.source, missing[0]))
            if chapter.source
            else None
        )
        raise ResourceError(
            f"no font can print {shown}{more}",
            where=where,
            hint=f"install a font that has them, e.g. apt-get install {packages}",
        )


def _printed_text(tree: etree._Element) -> list[str]:
    """The text the fonts print: a formula's is drawn by the math typesetter
    (pdf/math.py), which says itself what it cannot draw; its TeX is printed
    instead when it cannot be."""
    parts = []
    for element in tree.iter():
        if element.tag == _MATH:
            parts.append(element.get("alttext", ""))
        if element.text and isinstance(element.tag, str) and not _in_math(element):
            parts.append(element.text)
        if element.tail and not _in_math(element.getparent()):
            parts.append(element.tail)
    return parts


_MATH = "{http://www.w3.org/1998/Math/MathML}math"


def _in_math(element: etree._Element | None) -> bool:
    return (
        element is not None
        and isinstance(element.tag, str)
        and element.tag.startswith("{http://www.w3.org/1998/Math/MathML}")
    )


def _first_line(path: Path, char: str) -> int | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    index = text.find(char)
    return text.count("\n", 0, index) + 1 if index >= 0 else None


@dataclass
class Layout:
    """A laid-out PDF: its pages are known before its bytes are written."""

    document: Any
    fonts: Any
    fence: _Fence
    inputs: PdfInputs
    marks: dict[str, str] = field(default_factory=dict)  # index mark id -> printed page

    def write(self) -> bytes:
        from publisher.pdf.math import drawings  # ziamath is not needed: the drawings are made

        # pdf_identifier=True: the file id is a hash of the content, never random.
        with (
            stable_document_id(self.inputs.book.meta.identifier.value),
            formulas_tagged(),
            formulas_drawn(drawings(self.inputs.formulas)),
            fewer_collections(freeze=True),
        ):
            data: bytes = self.document.write_pdf(
                pdf_variant=self.inputs.variant, pdf_identifier=True
            )
        if self.fence.refused:
            book = self.inputs.book
            raise ResourceError(
                f"the PDF renderer was refused {self.fence.refused[0]}",
                where=Location(book.meta.source) if book.meta.source else None,
                hint="only files inside the manuscript and styles folders are used",
            )
        return data


# WeasyPrint places each footnote by laying the page's notes out again: tens of
# thousands of notes take hours and gigabytes. Beyond this, the PDF is refused in a
# clear line (fewer may still cost too much: pdf/cost.py weighs them).
MAX_FOOTNOTES = 10_000
# WeasyPrint measures every cell of a table it lays out. 20,000 cells (a 7,000-row,
# three-column table) is the most a PDF sets, whatever the book's length.
MAX_TABLE_CELLS = 20_000
# Each formula is a drawing WeasyPrint lays out and places (2-4 ms on one core,
# drawn once per distinct formula: pdf/math.py): 10,000 keep a book inside the
# one-minute budget (README, Limits).
MAX_FORMULAS = 10_000
_FORMULA = re.compile(r"<math[\s>]")
# WeasyPrint lays out about 50 pages a second on one core (each chapter's opening
# page and blank verso as much as a full one): 10,000 one-line chapters took over
# five minutes. Beyond this many pages the PDF is refused before any layout.
MAX_PAGES = 3_000


def layout(inputs: PdfInputs) -> Layout:
    """The whole book laid out as one document. With an index, twice: its page
    numbers are those of the first layout, made without it (pieces.py lays a book
    with an index out once, where it can be cut)."""
    check(inputs)
    book = inputs.book
    page_references = bool(page_reference_css(inputs))
    if book.index is None:
        return render_html(inputs, print_html(book, page_references, inputs.formulas))
    from publisher.pdf.weasyprint.boxes import find_targets
    from publisher.pdf.weasyprint.hooks import page_boxes
    from publisher.render.index import with_pages

    # Nothing before the index depends on it: its own page in the contents is the
    # one left out of the first layout's numbers, which are not kept.
    chapters = tuple(c for c in book.chapters if c.file_name != book.index.document)
    first = render_html(
        inputs, print_html(replace(book, chapters=chapters), page_references, inputs.formulas)
    )
    found = find_targets(page_boxes(first.document), frozenset(book.index.marks))
    del first
    marks = {name: str(page + 1) for name, page in found.items()}
    laid = render_html(
        inputs, print_html(with_pages(book, marks), page_references, inputs.formulas)
    )
    laid.marks = marks
    return laid


def check(inputs: PdfInputs) -> None:
    """What stops a PDF before any layout: a character no font has, too many notes,
    table cells or formulas, too many pages, or more than the budget allows a book
    of its length (pdf/cost.py)."""
    book = inputs.book
    where = Location(book.meta.source) if book.meta.source else None
    check_glyphs(book, inputs.styles / "fonts")
    cost = estimate(book, inputs.profile, inputs.profile.chapter_break == "right")
    if cost.notes > MAX_FOOTNOTES:
        raise ResourceError(
            f"the book has {cost.notes} notes; the PDF sets at most {MAX_FOOTNOTES} at the foot "
            "of its pages",
            where=where,
            hint="build the EPUB alone (publisher build --only epub), or turn some notes into text",
        )
    if cost.cells > MAX_TABLE_CELLS:
        raise ResourceError(
            f"the book's tables have {cost.cells} cells; the PDF sets at most {MAX_TABLE_CELLS}",
            where=where,
            hint="build the EPUB alone (publisher build --only epub), or shorten the tables "
            "(a long data table reads better as a file beside the book)",
        )
    formulas = sum(len(_FORMULA.findall(chapter.body)) for chapter in book.chapters)
    if formulas > MAX_FORMULAS:
        raise ResourceError(
            f"the book has {formulas} formulas; the PDF sets at most {MAX_FORMULAS}",
            where=Location(book.meta.source) if book.meta.source else None,
            hint="build the EPUB alone (publisher build --only epub), which holds them all "
            "as MathML",
        )
    share = allowance(book)
    seconds, mebibytes = SECONDS * share, MEBIBYTES * share
    if cost.seconds > seconds or cost.mebibytes > mebibytes:
        raise ResourceError(
            f"the PDF would take too much to lay out: {_heaviest(cost)} would take about "
            f"{cost.seconds:.0f} s and {cost.mebibytes:.0f} MiB on one core; a manuscript of "
            f"{_megabytes(book.source_size)} may take {seconds:.0f} s and {mebibytes:.0f} MiB",
            where=where,
            hint="build the EPUB alone (publisher build --only epub), or publish the book "
            "in smaller volumes",
        )
    if cost.pages > MAX_PAGES:
        raise ResourceError(
            f"the PDF would have about {cost.pages} pages; publisher prints at most {MAX_PAGES}",
            where=where,
            hint="build the EPUB alone (publisher build --only epub), or join short chapters "
            "into longer ones",
        )


def _heaviest(cost: Estimate) -> str:
    """What costs the most of the budget (time or memory), in the author's words."""
    cells, pages = cost.cells, cost.pages
    elements = cost.elements - cells  # a cell is counted with the cells
    parts = {
        f"its {elements} paragraphs, list items, emphases, links and other elements": (
            elements * ELEMENT[0],
            elements * ELEMENT[1],
        ),
        f"its {cells} table cells": (
            cells * (CELL[0] + ELEMENT[0]),
            cells * (CELL[1] + ELEMENT[1]),
        ),
        f"its {cost.characters} characters of text": (
            cost.characters * CHARACTER[0],
            cost.characters * CHARACTER[1],
        ),
        f"its {pages} pages": (pages * PAGE[0], pages * PAGE[1]),
        f"its {cost.notes} notes": (
            cost.notes * NOTE[0] + cost.note_neighbours * NOTE_PER_NEIGHBOUR,
            cost.notes * NOTE[1],
        ),
        f"its SVG images, {cost.drawn} elements drawn in all": (
            cost.drawn * SVG_ELEMENT[0],
            cost.drawn * SVG_ELEMENT[1],
        ),
    }

    def share(part: str) -> float:
        ms, kib = parts[part]
        return max(ms / 1000 / SECONDS, kib / 1024 / MEBIBYTES)

    return max(parts, key=share)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else "under 1 MB"


def sheet_paths(inputs: PdfInputs) -> list[Path]:
    """The print's style sheets, in cascade order (the profile's comes after)."""
    style = inputs.style or load_style(inputs.styles, DEFAULT)
    sheets = [inputs.styles / name for name in STYLESHEETS]
    return sheets + [p for p in (style.sheet("base.css"), style.sheet("print.css")) if p]


def render_html(inputs: PdfInputs, html: str) -> Layout:
    """One print HTML document (the book, or a piece of it) laid out."""
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    book = inputs.book
    fence = _Fence((inputs.styles,), {r.source: r.data for r in book.resources})
    fonts = FontConfiguration()
    css = [
        weasyprint.CSS(filename=str(path), font_config=fonts, url_fetcher=fence.fetcher)
        for path in sheet_paths(inputs)
    ]
    css.append(
        weasyprint.CSS(string=inputs.profile.css(), font_config=fonts, url_fetcher=fence.fetcher)
    )
    if page_reference_css(inputs):
        css.append(weasyprint.CSS(string=page_reference_css(inputs), font_config=fonts))
    if inputs.modified is not None:
        stamp = inputs.modified.strftime("%Y-%m-%dT%H:%M:%SZ")
        dates = f'<meta name="dcterms.modified" content="{stamp}">\n'
        if not book.meta.date:
            dates += f'<meta name="dcterms.created" content="{stamp}">\n'
        html = html.replace("</head>", dates + "</head>", 1)
    with first_line_only_once(), fewer_collections():
        document = weasyprint.HTML(
            string=html, base_url=inputs.styles.resolve().as_uri() + "/", url_fetcher=fence.fetcher
        ).render(stylesheets=css, font_config=fonts)
    return Layout(document, fonts, fence, inputs)
