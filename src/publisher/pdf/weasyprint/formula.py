"""Formulas tagged as formulas: WeasyPrint tags every SVG in the text as a `Figure`
(with its <title> as the alternate text); a formula's SVG (pdf/math.py, class
`math`) is tagged `Formula` instead, as PDF/UA asks of mathematics, keeping the
alternate text (its TeX) and the bounding box.

Held while a document is written, through guard.swapped; where it does not fit,
formulas stay Figures with the same alternate text (still a valid PDF/UA file)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from publisher.pdf.weasyprint.guard import expect, expect_parameters, swapped

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
