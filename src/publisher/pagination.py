"""Print page numbers carried into the EPUB.

The print HTML marks every text block with `data-block="DOC:N"`: the EPUB document
it comes from and its position in that document's tree (both outputs parse the same
chapter XHTML, so N means the same element in both). After WeasyPrint's layout, the
first line of each page names the block and how many letters of it came before; the
EPUB gets a page-break marker at that letter (moved back to the word's start), and a
page-list nav lists them all."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from publisher.ids import page_id
from publisher.xhtml import EPUB_NS, MATHML_NS, SVG_NS, TEXT_BLOCKS, XHTML_NS, insert_at_text

TOC_DOCUMENT = "nav.xhtml"
# Text in a nested block counts for that block.
BLOCKS = TEXT_BLOCKS


@dataclass(frozen=True)
class PageStart:
    label: str  # the printed folio
    document: str  # EPUB file name
    block: int  # index of the block element in the document's section (iteration order)
    letters: int  # non-space characters of the block before the page begins


def mark_blocks(section: etree._Element, document: str) -> None:
    """Sets data-block on every element: the index of its nearest enclosing block."""
    for index, element in enumerate(section.iter()):
        if not isinstance(element.tag, str):
            continue
        if etree.QName(element).localname in BLOCKS:
            element.set("data-block", f"{document}:{index}")
        else:
            parent = element.getparent()
            block = parent.get("data-block") if parent is not None else None
            if block:
                element.set("data-block", block)


Place = tuple[str, int] | None  # (data-block, letters before the page) or None: no text


def starts_from_places(found: list[Place]) -> list[PageStart]:
    """Page starts, numbered from 1, from each page's place."""
    # A blank page (a verso left empty before a chapter) begins where the next does.
    starts: list[PageStart] = []
    following: Place = None
    for number in range(len(found), 0, -1):
        place = found[number - 1] or following
        following = place
        if place is None:
            continue
        document_name, _, index = place[0].partition(":")
        starts.append(PageStart(str(number), document_name, int(index), place[1]))
    return starts[::-1]


def marker(label: str) -> etree._Element:
    span = etree.Element(f"{{{XHTML_NS}}}span", nsmap={"epub": EPUB_NS})
    span.set(f"{{{EPUB_NS}}}type", "pagebreak")
    span.set("role", "doc-pagebreak")
    span.set("id", page_id(label))
    span.set("aria-label", label)
    return span


def insert_markers(section: etree._Element, starts: list[PageStart]) -> None:
    """Puts a page-break marker where each page begins, inside its block. One pass
    over each block's text, however many pages begin in it (a very long paragraph
    may hold hundreds)."""
    elements = list(section.iter())
    by_block: dict[int, list[PageStart]] = {}
    for start in starts:
        by_block.setdefault(start.block, []).append(start)
    for index, group in by_block.items():
        block = elements[index] if index < len(elements) else section
        _insert_all(block, sorted(group, key=lambda s: s.letters))


LONGEST_WORD = 40  # letters: longer runs are broken anywhere in print (pdf/layout.py)


def _insert_all(block: etree._Element, group: list[PageStart]) -> None:
    pending = deque(s for s in group if s.letters > 0)
    cuts: dict[tuple[int, str], list[tuple[int, PageStart]]] = {}
    nodes: dict[int, etree._Element] = {}
    seen = 0
    for node, which in _own_text(block):
        if not pending:
            break
        text = getattr(node, which) or ""
        word = 0  # where the word being read starts
        for i, char in enumerate(text):
            if char.isspace():
                word = i + 1
                continue
            while pending and pending[0].letters == seen:
                # At the start of the word, unless the word is longer than a line
                # (a word of a megabyte holds hundreds of page starts).
                cut = word if i - word <= LONGEST_WORD else i
                cuts.setdefault((id(node), which), []).append((cut, pending.popleft()))
                nodes[id(node)] = node
            seen += 1
            if not pending:
                break
    # Pages at the block's start, and any past its text, go first in the block.
    placed = {id(start) for entries in cuts.values() for _, start in entries}
    first = [s for s in group if id(s) not in placed]
    for (key, which), entries in cuts.items():
        _split_many(nodes[key], which, entries)
    for start in reversed(first):
        span = marker(start.label)
        span.tail = block.text
        block.text = None
        block.insert(0, span)


def _split_many(node: etree._Element, which: str, entries: list[tuple[int, PageStart]]) -> None:
    """Cuts one text (an element's text or tail) at several places, a marker at each."""
    text = getattr(node, which) or ""
    bounds = [cut for cut, _ in entries] + [len(text)]
    setattr(node, which, text[: bounds[0]])
    spans = []
    for n, (cut, start) in enumerate(entries):
        span = marker(start.label)
        span.tail = text[cut : bounds[n + 1]]
        spans.append(span)
    insert_at_text(node, which, spans)


def _own_text(block: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    """(node, 'text' or 'tail') pairs of the block's own text, in reading order,
    skipping nested blocks and note calls (print has no such letters), and
    formulas and drawings: print draws them, so they hold no letters there, and
    a page-break marker (XHTML) inside MathML or SVG would make the EPUB invalid."""
    yield block, "text"
    for child in block:
        if not isinstance(child.tag, str):
            yield child, "tail"
            continue
        qname = etree.QName(child)
        if qname.namespace in (MATHML_NS, SVG_NS):
            yield child, "tail"
            continue
        name = qname.localname
        nested = name in BLOCKS or (name == "a" and child.get(f"{{{EPUB_NS}}}type") == "noteref")
        if not nested:
            yield from _own_text(child)
        yield child, "tail"
