"""Patches that hold only while one document is laid out or written, and the reads of
WeasyPrint's private page state that a long book's pieces need.

- `stable_document_id`: PDF/X files get an XMP DocumentID derived from the book's
  identifier rather than WeasyPrint's random one (byte-reproducible builds);
- `first_line_only_once`: a paragraph resumed after a page break gets no
  ::first-line style again (the classic style's small caps);
- `deferred_margins` and `finish_margins`: a piece is laid out without its margin
  boxes, which are made once its real page numbers are known (pdf/pieces.py).

Each goes through guard.swapped: where it does not fit, WeasyPrint's own behaviour
runs (a random DocumentID, the small caps again, or the book laid out whole)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from publisher.pdf.weasyprint.guard import (
    Mismatch,
    enabled,
    expect,
    expect_parameters,
    swapped,
    version_fits,
)

_LINE_BOXES = (
    "context box position_y bottom_space skip_stack containing_block absolute_boxes "
    "fixed_boxes first_letter_style first_line_style"
).split()


@contextlib.contextmanager
def stable_document_id(identifier: str) -> Iterator[None]:
    """WeasyPrint gives PDF/X-4 files a random XMP DocumentID (uuid4); ours is
    derived from the book's identifier, so that builds stay byte-identical."""
    import weasyprint.pdf.metadata as xmp

    stable = uuid.uuid5(uuid.NAMESPACE_URL, f"publisher-pdf:{identifier}")

    def check(original: Any) -> None:
        expect(callable(original), "weasyprint.pdf.metadata.uuid4 is not a function")

    with swapped("stable_document_id", xmp, "uuid4", lambda original: lambda: stable, check):
        yield


@contextlib.contextmanager
def first_line_only_once() -> Iterator[None]:
    """WeasyPrint gives the first line of a paragraph's continuation on the next page
    the ::first-line (and ::first-letter) style again: the classic style's small caps
    came back at the top of the page. A paragraph resumed from a page break (a
    skip stack) has no first line; the patch says so while the book is laid out."""
    import weasyprint.layout.block as block

    def make(original: Any) -> Any:
        def iter_line_boxes(
            context: Any, box: Any, position_y: Any, bottom_space: Any, skip_stack: Any,
            containing_block: Any, absolute_boxes: Any, fixed_boxes: Any,
            first_letter_style: Any, first_line_style: Any,
        ) -> Any:  # fmt: skip
            if skip_stack is not None:
                first_letter_style = first_line_style = None
            return original(
                context, box, position_y, bottom_space, skip_stack, containing_block,
                absolute_boxes, fixed_boxes, first_letter_style, first_line_style,
            )  # fmt: skip

        return iter_line_boxes

    def check(original: Any) -> None:
        expect_parameters(original, _LINE_BOXES, "iter_line_boxes")

    with swapped("first_line_only_once", block, "iter_line_boxes", make, check):
        yield


# --- a piece's margin boxes, made after its layout -----------------------------


@dataclass
class Deferred:
    """What the margin boxes of a piece's pages need, kept from its layout."""

    context: Any = None
    states: list[Any] = field(default_factory=list)
    # Before the first `finish_margins`: each page's own boxes and its page counter,
    # which a later call (with other numbers) starts from again.
    children: list[tuple[Any, ...]] | None = None
    numbers: list[int] = field(default_factory=list)


def margins_deferrable() -> bool:
    """Whether pieces can be made here: the two functions `deferred_margins` swaps
    are there and shaped as expected (and patches are on)."""
    if not (enabled() and version_fits()):
        return False
    import weasyprint.layout as layout

    try:
        _check_margin_boxes(layout.make_margin_boxes)
        _check_backgrounds(layout.layout_backgrounds)
    except Mismatch:
        return False
    return True


def _check_margin_boxes(original: Any) -> None:
    expect_parameters(original, ["context", "page", "state"], "make_margin_boxes")


def _check_backgrounds(original: Any) -> None:
    expect_parameters(original, ["page", "get_image_from_uri"], "layout_backgrounds")


@contextlib.contextmanager
def deferred_margins(kept: Deferred) -> Iterator[bool]:
    """While a piece is laid out, its pages get no margin boxes (their folios would
    be wrong) and no background layout (done after them, as WeasyPrint does): the
    page states that `finish_margins` needs are kept instead. Yields False if
    either swap could not be made: the piece must not be used."""
    import weasyprint.layout as layout

    def keep(context: Any, page: Any, state: Any) -> list[Any]:
        kept.context = context
        kept.states.append(state)
        return []

    with (
        swapped(
            "deferred_margins", layout, "make_margin_boxes", lambda _: keep, _check_margin_boxes,
        ) as margins,
        swapped(
            "deferred_backgrounds", layout, "layout_backgrounds",
            lambda _: lambda page, get_image: None, _check_backgrounds,
        ) as backgrounds,
    ):  # fmt: skip
        yield margins and backgrounds


def finish_margins(document: Any, kept: Deferred, first: int, total: int) -> None:
    """The margin boxes of a piece laid out with `deferred_margins`, now that its
    first page's number and the book's page count are known (again, if they change).
    Raises Mismatch if WeasyPrint's page state is not shaped as expected."""
    from weasyprint.layout import layout_backgrounds, make_margin_boxes

    context = kept.context
    if context is None:
        return
    boxes = page_boxes(document)
    expect(len(boxes) == len(kept.states), "a page state for every page")
    if kept.children is None:
        for state in kept.states:
            expect(
                isinstance(state, tuple | list)
                and len(state) > 1
                and isinstance(state[1], dict)
                and isinstance(state[1].get("page"), list),
                "a page state whose counters hold the page number",
            )
        expect(hasattr(context, "current_page"), "the layout context's current page")
        kept.children = [box.children for box in boxes]
        kept.numbers = [state[1]["page"][0] for state in kept.states]
    for index, (box, state) in enumerate(zip(boxes, kept.states, strict=True)):
        state[1]["page"] = [kept.numbers[index] + first - 1]
        state[1]["pages"] = [total]
        context.current_page = index + 1  # the running strings are kept by local page
        box.children = (*kept.children[index], *make_margin_boxes(context, box, state))
        layout_backgrounds(box, context.get_image_from_uri)


def page_boxes(document: Any) -> list[Any]:
    """The laid-out page boxes of a WeasyPrint document (private: `_page_box`)."""
    pages = list(document.pages)
    expect(all(hasattr(page, "_page_box") for page in pages), "each page's _page_box")
    return [page._page_box for page in pages]
