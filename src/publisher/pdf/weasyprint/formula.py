"""Formulas tagged as formulas: WeasyPrint tags every SVG in the text as a `Figure`
(with its <title> as the alternate text); a formula's SVG (pdf/math.py, class
`math`) is tagged `Formula` instead, as PDF/UA asks of mathematics, keeping the
alternate text (its TeX) and the bounding box.

And each formula drawn once (`formulas_drawn`): WeasyPrint draws an SVG by
parsing its paths anew wherever it stands; a formula's drawing is instead made
once per document, as PDF operators (pdf/math.py), and placed as a form.

Both are held while a document is written, through guard.swapped; where they do
not fit, formulas stay Figures with the same alternate text (still a valid PDF/UA
file), and are drawn by WeasyPrint from their full SVGs, slower."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from publisher.pdf.weasyprint.guard import (
    Mismatch,
    enabled,
    expect,
    expect_parameters,
    swapped,
    version_fits,
)

SVG = "{http://www.w3.org/2000/svg}svg"
_BUILD = ["box", "parent", "pdf", "page_number", "nums", "annotations", "tags"]


def is_formula(box: Any) -> bool:
    """Whether a laid-out box is a formula's drawing."""
    box = getattr(box, "_box", box)  # an absolutely placed box's placeholder
    element = getattr(box, "element", None)
    if element is None or getattr(element, "tag", None) != SVG:
        return False
    return "math" in str(element.get("class") or "").split()


@contextlib.contextmanager
def formulas_tagged() -> Iterator[None]:
    import weasyprint.pdf.tags as tags

    def check(original: Any) -> None:
        expect_parameters(original, _BUILD, "_build_box_tree")
        tag = getattr(tags, "_get_pdf_tag", None)
        expect(callable(tag) and tag(SVG) == "Figure", "an SVG tagged as a Figure")

    def make(original: Any) -> Any:
        def build_box_tree(
            box: Any, parent: Any, pdf: Any, page_number: Any, nums: Any, annotations: Any,
            marked: Any,
        ) -> Any:  # fmt: skip
            # Recursive: WeasyPrint's own calls for the children come back here.
            for element in original(box, parent, pdf, page_number, nums, annotations, marked):
                if element.get("S") == "/Figure" and is_formula(box):
                    element["S"] = "/Formula"
                yield element

        return build_box_tree

    with swapped("formulas_tagged", tags, "_build_box_tree", make, check):
        yield


# --- drawing each distinct formula once ------------------------------------------

Drawings = Mapping[str, tuple[tuple[float, float, float, float], bytes]]
_DRAW = ["self", "stream", "concrete_width", "concrete_height", "_style"]
_GROUP = ["self", "x", "y", "width", "height"]


def _check_draw(original: Any) -> None:
    from weasyprint.pdf.stream import Stream

    expect_parameters(original, _DRAW, "SVGImage.draw")
    expect_parameters(Stream.add_group, _GROUP, "Stream.add_group")
    expect(callable(getattr(Stream, "draw_x_object", None)), "Stream.draw_x_object")
    expect(callable(getattr(Stream, "transform", None)), "Stream.transform")


def formulas_drawable() -> bool:
    """Whether `formulas_drawn` will place the formulas: the print HTML may then
    leave their SVGs empty. The same checks as the patch's, so the two agree."""
    if not (enabled() and version_fits()):
        return False
    import weasyprint.images as images

    try:
        _check_draw(images.SVGImage.draw)
    except Mismatch:
        return False
    return True


@contextlib.contextmanager
def formulas_drawn(drawings: Drawings) -> Iterator[bool]:
    """While a document is written: a formula's SVG that names one of `drawings`
    (pdf/math.py: `data-formula`) is drawn from it, once per document as a form
    XObject, and each place it stands shows that form. WeasyPrint would parse and
    draw every path of every formula at every place (18 ms a formula here, most of
    a math book's time); the form is drawn once and placed in microseconds."""
    import weasyprint.images as images

    forms: dict[tuple[int, str], str] = {}

    def make(original: Any) -> Any:
        def draw(
            self: Any, stream: Any, concrete_width: Any, concrete_height: Any, _style: Any
        ) -> Any:
            tree = getattr(getattr(self, "_svg", None), "tree", None)
            key = tree.get("data-formula") if tree is not None else None
            drawing = drawings.get(key) if key else None
            if drawing is None or not concrete_width:
                return original(self, stream, concrete_width, concrete_height, _style)
            (x, y, width, height), operators = drawing
            # One form for each resources dictionary it is drawn in (the document's).
            slot = (id(stream._resources), str(key))
            name = forms.get(slot)
            if name is None:
                pad = max(width, height)  # room for ink past the box: never clipped
                form = stream.add_group(x - pad, y - pad, width + 2 * pad, height + 2 * pad)
                form.extra.pop("Group", None)  # a plain form, no transparency group
                form.stream.append(operators)
                name = forms[slot] = form.id
            scale = concrete_width / width
            shift = (concrete_height - scale * height) / 2  # centred, as the SVG would be
            stream.transform(a=scale, d=scale, e=-scale * x, f=-scale * y + shift)
            stream.draw_x_object(name)
            return None

        return draw

    with swapped("formulas_drawn", images.SVGImage, "draw", make, _check_draw) as replaced:
        yield replaced
