"""What laying out the PDF will cost, worked out before WeasyPrint sees the book.

WeasyPrint keeps every page of a document, and every box on it, until the PDF is
written: its time and memory follow the number of elements (each paragraph, list
item, emphasis, link, table cell has a box and a computed style: about 0.7-1.6 ms
and 15-35 KB each on one core of the reference machine), the lines of text, the
pages (a chapter's opening and its blank verso cost as much as a full page), and
the notes (each note placed lays its page's notes out again, so a note costs more
the more notes share its page). `estimate` counts these from the rendered
chapters and the page's size, and turns them into seconds and megabytes with the
coefficients measured by `invoke bench --limits` (docs/performance.md, "The
budget"), rounded up.

The budget (README, Limits): a manuscript under 1 MB builds or is refused within
60 s and 1 GiB on one core. The PDF may take `SECONDS` and `MEBIBYTES` of it (the
rest is the reading, the rendering and the EPUB) for each megabyte of the
manuscript's text, and at least that much: a longer book may take longer, in
proportion, and a short one cannot make it take more."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lxml import etree

from publisher.ids import is_index_mark_id
from publisher.model import FRONT, RenderedBook
from publisher.pdf.profiles import Profile
from publisher.xhtml import EPUB_NS, parse_body

# What the PDF may cost, for each megabyte of the manuscript's text (at least one).
SECONDS = 40.0
MEBIBYTES = 650.0
MEGABYTE = 1_000_000

# Each thing's cost on one core of the reference machine (a 2-core AMD EPYC VM,
# WeasyPrint 70), in milliseconds of CPU and kibibytes, rounded up. The times were
# measured under a load of 5-8 and divided by 1.5, the ratio of that machine's CPU
# times loaded and quiet (the 328-page benchmark book: 13.5 s loaded, 8.5 s quiet).
ELEMENT = (0.7, 20.0)  # any element: a paragraph, a list item, an emphasis, a link...
CELL = (0.7, 10.0)  # a table cell, beyond being an element (its column, its row)
CHARACTER = (0.015, 0.15)  # a character of text: shaped, broken into lines, drawn
PAGE = (6.0, 100.0)  # a page: its margin boxes, running heads, folio, the page itself
NOTE = (1.5, 2.0)  # a note, plus NOTE_PER_NEIGHBOUR for each other note on its page
# ms: the page's notes laid out again as each is placed (2,539 notes called from
# one paragraph, 38 a page: 67 s, 26 ms a note).
NOTE_PER_NEIGHBOUR = 0.7
# An SVG is drawn again wherever it is shown: each of its elements, each time.
SVG_ELEMENT = (0.04, 0.45)
NOTES_PER_PAGE = 40  # at most, one-line notes filling a page
NOTE_LINE_SHARE = 0.6  # a note's line: 8.5 pt on 1.3 against 10.5 pt, more a line

# The page the measurements were made on: A5 with the print profile's margins
# (113 x 172 mm of text), where the default style sets about 62 characters a line
# and 33 lines a page.
TEXT_WIDTH_MM = 113.0
TEXT_HEIGHT_MM = 172.0
LINE_CHARACTERS = 62
PAGE_LINES = 33

# Blocks: each starts a line of its own (or several).
BLOCKS = frozenset(
    "p li dt dd h1 h2 h3 h4 h5 h6 blockquote pre tr figcaption caption hr div".split()
)
BREAK_LINES = 3  # a scene break's height in lines (14,160 took 1,576 pages, not 861)
FIGURE_LINES = 8  # an image's height in lines, about (its size is not known here)
RUNT_SPAN = 16  # a paragraph longer than this gets a span for its last words (layout.py)
# Elements that cost twice: a list item (its marker's box), a line break (the
# line it ends: 26,041 breaks in one paragraph took 960 MiB, 37 KiB each).
TWO_BOXES = frozenset({"li", "br"})
TOC_ELEMENTS = 3  # a line of the printed contents: its item, link and dot leader
_EPUB_TYPE = f"{{{EPUB_NS}}}type"


@dataclass(frozen=True)
class Estimate:
    """The counts, and what they cost."""

    elements: int
    cells: int
    characters: int
    lines: int
    pages: int
    notes: int
    note_neighbours: float  # notes sharing a page with each note, summed
    drawn: int  # the elements of SVG images, each time one is shown
    seconds: float
    mebibytes: float


def estimate(book: RenderedBook, profile: Profile, recto: bool) -> Estimate:
    """The PDF's cost. `recto`: chapters open on a right-hand page, so that each
    takes an even number of pages (its last, if odd, is followed by a blank)."""
    width, height = text_area_mm(profile)
    drawings = _svg_sizes(book)
    per_line = max(8.0, LINE_CHARACTERS * width / TEXT_WIDTH_MM)
    per_page = max(4.0, PAGE_LINES * height / TEXT_HEIGHT_MM)
    # The printed contents: a line for each entry, and its own opening.
    entries = len(book.toc)
    elements, cells, notes, drawn = TOC_ELEMENTS * entries, 0, 0, 0
    characters = sum(len(entry.title) for entry in book.toc)
    lines = entries
    pages = _chapter_pages(entries / per_page, False)
    neighbours = 0.0
    padded = False
    for chapter in (*book.front, *book.chapters):
        # Front matter follows the page before; the rest opens on the right.
        opens_right = recto and chapter.matter != FRONT
        counted = _Counts(per_line, drawings)
        counted.walk(parse_body(chapter.body))
        # Notes are set smaller at the foot of the page: their lines take less room.
        filled = counted.lines + NOTE_LINE_SHARE * counted.note_lines
        chapter_pages = max(1.0, filled / per_page)
        elements += counted.elements
        cells += counted.cells
        characters += counted.characters
        lines += math.ceil(filled)
        notes += counted.notes
        drawn += counted.drawn
        taken = _chapter_pages(filled / per_page, opens_right)
        padded = taken > _chapter_pages(filled / per_page, False)
        pages += taken
        if counted.notes:
            crowd = min(NOTES_PER_PAGE, counted.notes / chapter_pages)
            neighbours += counted.notes * max(0.0, crowd - 1)
    whole_pages = math.ceil(pages) - (1 if book.chapters and padded else 0)  # no blank at the end
    seconds = (
        elements * ELEMENT[0]
        + cells * CELL[0]
        + characters * CHARACTER[0]
        + whole_pages * PAGE[0]
        + notes * NOTE[0]
        + neighbours * NOTE_PER_NEIGHBOUR
        + drawn * SVG_ELEMENT[0]
    ) / 1000
    kib = (
        elements * ELEMENT[1]
        + cells * CELL[1]
        + characters * CHARACTER[1]
        + whole_pages * PAGE[1]
        + notes * NOTE[1]
        + drawn * SVG_ELEMENT[1]
    )
    return Estimate(
        elements=elements,
        cells=cells,
        characters=characters,
        lines=lines,
        pages=whole_pages,
        notes=notes,
        note_neighbours=neighbours,
        drawn=drawn,
        seconds=seconds,
        mebibytes=kib / 1024,
    )


def _svg_sizes(book: RenderedBook) -> dict[str, int]:
    """Each SVG image's elements, by its name in the book (its bytes are the
    cleaned drawing the fence kept: publisher.source.svg bounds them)."""
    sizes = {}
    for resource in book.resources:
        if resource.media_type == "image/svg+xml" and resource.data:
            try:
                root = etree.fromstring(resource.data, etree.XMLParser(resolve_entities=False))
            except etree.XMLSyntaxError:
                continue
            sizes[resource.href] = sum(1 for _ in root.iter())
    return sizes


def _chapter_pages(filled: float, recto: bool) -> float:
    """The pages a chapter takes: what its lines fill, at least one, and the blank
    verso after it when the next chapter must open on the right."""
    pages = max(1, math.ceil(filled - 0.05))
    return float(pages + pages % 2 if recto else pages)


def allowance(book: RenderedBook) -> float:
    """How many megabytes of text the book counts as: its manuscript's, at least one."""
    return max(1.0, book.source_size / MEGABYTE)


# An index mark is a span with no line of its own and no destination in print:
# 10,000 in a 1 MB book cost 2.3 s and 110 MiB (0.23 ms, 11 KiB each), about half
# an element.
MARK_SHARE = 0.5


def _anchored(element: etree._Element) -> bool:
    ident = element.get("id")
    return bool(ident) and not is_index_mark_id(ident or "")  # print drops a mark's id


class _Counts:
    """One walk over a chapter's XHTML: elements, cells, notes, characters, and the
    lines its blocks take at `per_line` characters a line."""

    def __init__(self, per_line: float, drawings: dict[str, int]) -> None:
        self.per_line = per_line
        self.drawings = drawings
        self.elements = self.cells = self.characters = self.lines = self.notes = 0
        self.note_lines = self.marks = 0
        self._note_starts: list[int] = []  # the lines counted when each open note began
        self.drawn = 0

    def walk(self, root: etree._Element) -> None:
        # (element, characters of the block it belongs to so far) without recursion:
        # a chapter may nest deeper than Python's stack.
        block_chars = [0]
        stack: list[tuple[etree._Element, bool]] = [(root, False)]
        while stack:
            element, done = stack.pop()
            tag = element.tag if isinstance(element.tag, str) else ""
            name = tag.rsplit("}", 1)[-1]
            block = name in BLOCKS
            if done:
                if block:
                    self._end_block(name, block_chars.pop(), element)
                if name == "aside" and element.get(_EPUB_TYPE) == "footnote":
                    moved = self.lines - self._note_starts.pop()
                    self.lines -= moved
                    self.note_lines += moved
                block_chars[-1] += len(element.tail or "")
                self.characters += len(element.tail or "")
                continue
            if name == "math":
                self._formula(element, block_chars)
                continue
            if is_index_mark_id(element.get("id") or ""):
                self.marks += 1
            elif element.get(_EPUB_TYPE, "").startswith("index-locator"):
                pass  # a page number, plain text in the print's index
            else:
                self.elements += 2 if name in TWO_BOXES else 1
                if _anchored(element) or (element.get("lang") and not block):
                    self.elements += 1  # a named destination in the PDF; a language's run
                if name == "a" and element.get("href"):
                    self.elements += 1  # its annotation (32,000 links: 56 s and 1 GiB)
            if name in ("td", "th"):
                self.cells += 1
            elif name == "aside" and element.get(_EPUB_TYPE) == "footnote":
                self.notes += 1
                self._note_starts.append(self.lines)
            elif name == "br":
                self.lines += 1  # a line ends here, however short
            elif name == "img":
                self.lines += FIGURE_LINES
                self.drawn += self.drawings.get(element.get("src", ""), 0)
            if block:
                block_chars.append(0)
            text = len(element.text or "")
            block_chars[-1] += text
            self.characters += text
            stack.append((element, True))
            stack.extend((child, False) for child in reversed(element))
        self.elements -= 1  # the root (parse_body's <body>) is not the book's
        self.elements += math.ceil(self.marks * MARK_SHARE)

    def _formula(self, element: etree._Element, block_chars: list[int]) -> None:
        """A formula is one drawing in the PDF (pdf/math.py), whatever its MathML:
        one element as wide as about half its TeX, on a line of its own when it
        is displayed. Typesetting it is bounded apart (F09, F10)."""
        self.elements += 1
        width = len(element.get("alttext") or "") // 2
        block_chars[-1] += width + len(element.tail or "")
        self.characters += width + len(element.tail or "")
        if element.get("display") == "block":
            self.lines += 1 + width // max(1, int(self.per_line))

    def _end_block(self, name: str, chars: int, element: etree._Element) -> None:
        if name == "p" and chars > RUNT_SPAN:
            self.elements += 1  # the print keeps its last words together in a span
        self._lines(name, chars, element)

    def _lines(self, name: str, chars: int, element: etree._Element) -> None:
        """The lines a block takes: its text at `per_line` characters a line (a table
        row's cells side by side take, together, about as many lines as their text
        would across the page), a preformatted block's own lines each at least one."""
        if name == "hr":  # a scene break: its space above and below, its ornament
            self.lines += BREAK_LINES
        elif name == "pre":
            text = "".join(str(t) for t in element.itertext())
            self.lines += sum(
                max(1, math.ceil(len(line) / self.per_line)) for line in text.split("\n")
            )
        else:
            self.lines += max(1, math.ceil(chars / self.per_line))


# --- the page --------------------------------------------------------------------------

# CSS page sizes by name, in millimetres (width, height).
NAMED_SIZES = {
    "a3": (297.0, 420.0),
    "a4": (210.0, 297.0),
    "a5": (148.0, 210.0),
    "a6": (105.0, 148.0),
    "b4": (250.0, 353.0),
    "b5": (176.0, 250.0),
    "letter": (215.9, 279.4),
    "legal": (215.9, 355.6),
    "ledger": (279.4, 431.8),
}
MM = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72, "px": 25.4 / 96, "pc": 25.4 / 6}
_LENGTH = re.compile(r"^(\d+(?:\.\d+)?)(mm|cm|in|pt|px|pc)$")


def millimetres(length: str) -> float | None:
    match = _LENGTH.match(length.strip().lower())
    return float(match.group(1)) * MM[match.group(2)] if match else None


def page_mm(size: str) -> tuple[float, float]:
    """A CSS page size (a name, or two lengths) in millimetres; A5 if unreadable."""
    words = size.lower().split()
    if words and words[0] in NAMED_SIZES:
        width, height = NAMED_SIZES[words[0]]
        return (height, width) if "landscape" in words else (width, height)
    lengths = [millimetres(w) for w in words]
    if len(lengths) == 2 and all(v is not None for v in lengths):
        return lengths[0] or 0.0, lengths[1] or 0.0
    return NAMED_SIZES["a5"]


def text_area_mm(profile: Profile) -> tuple[float, float]:
    """The width and height of the text on a page, in millimetres (at least 10)."""
    width, height = page_mm(profile.size)
    inner = millimetres(profile.inner) or 0.0
    outer = millimetres(profile.outer) or 0.0
    top = millimetres(profile.top) or 0.0
    bottom = millimetres(profile.bottom) or 0.0
    return max(10.0, width - inner - outer), max(10.0, height - top - bottom)
