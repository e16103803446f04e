"""Reading a laid-out WeasyPrint document: where each page begins (for the EPUB's
page list) and which page holds an anchor (for a long book's contents). The box
classes and the page boxes are WeasyPrint's internals; only this module walks them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from publisher.pagination import PageStart, Place, starts_from_places
from publisher.pdf.weasyprint.hooks import page_boxes

_HYPHENS = ("\u2010", "-", "\u00ad")


def page_starts(document: Any) -> list[PageStart]:
    """Where each page of a laid-out WeasyPrint document begins."""
    return starts_from_places(page_places(page_boxes(document)))


def page_places(boxes_of_pages: list[Any]) -> list[Place]:
    """The block and letter each laid-out page (a WeasyPrint page box) begins at."""
    from weasyprint.formatting_structure import boxes

    skipped = (boxes.MarginBox, boxes.FootnoteAreaBox)
    counts: dict[str, int] = {}
    found: list[Place] = []
    for page_box in boxes_of_pages:
        first: Place = None
        for box in _walk(page_box, skipped):
            element = getattr(box, "element", None)
            block = element.get("data-block") if element is not None else None
            if not block or "::" in str(getattr(box, "element_tag", "")):
                continue
            if isinstance(box, boxes.TextBox):
                text = box.text.rstrip()
                letters = sum(1 for c in text if not c.isspace())
                if text.endswith(_HYPHENS) and letters:
                    letters -= 1  # the hyphen added where a word was broken
                if first is None and letters:
                    first = (block, counts.get(block, 0))
                counts[block] = counts.get(block, 0) + letters
            elif isinstance(box, boxes.ReplacedBox) and first is None:
                first = (block, counts.get(block, 0))
        found.append(first)
    return found


def find_targets(boxes_of_pages: list[Any], targets: frozenset[str]) -> dict[str, int]:
    """For each id in `targets`, the index of the first page holding it (an index
    mark's id is its `data-mark` in print: layout.py)."""
    found: dict[str, int] = {}
    for index, page_box in enumerate(boxes_of_pages):
        for box in page_box.descendants():
            element = getattr(box, "element", None)
            if element is None:
                continue
            name = element.get("id") or element.get("data-mark")
            if name in targets and name not in found:
                found[name] = index
    return found


def _walk(box: Any, skipped: tuple[type, ...]) -> Iterator[Any]:
    if isinstance(box, skipped):
        return
    yield box
    for child in getattr(box, "children", ()):
        yield from _walk(child, skipped)
