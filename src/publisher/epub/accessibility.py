"""EPUB Accessibility 1.1 metadata, worked out from what the book contains."""

from __future__ import annotations

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location
from publisher.model import RenderedBook
from publisher.xhtml import XHTML_NS, parse_body

MATHML_NS = "http://www.w3.org/1998/Math/MathML"

CONFORMANCE = "EPUB Accessibility 1.1 - WCAG 2.1 Level AA"


def accessibility_metadata(
    book: RenderedBook, found: list[Diagnostic], paginated: bool = False
) -> list[tuple[str, str]]:
    """The metadata; a conformance claim that cannot be made is a warning in `found`."""
    images = 0
    described = 0
    mathml = False
    for chapter in book.chapters:
        tree = parse_body(chapter.body)
        mathml = mathml or tree.find(f".//{{{MATHML_NS}}}math") is not None
        for img in tree.iter(f"{{{XHTML_NS}}}img"):
            images += 1
            if (img.get("alt") or "").strip():
                described += 1
    all_described = images == described

    modes = ["textual"] + (["visual"] if images else [])
    sufficient = ["textual"] if all_described else ["textual,visual"]
    if images and all_described:
        sufficient.append("textual,visual")
    features = [
        "structuralNavigation",
        "tableOfContents",
        "readingOrder",
        "displayTransformability",
    ]
    if images and all_described:
        features.append("alternativeText")
    if mathml:
        features.append("MathML")  # formulas as MathML, their TeX as alttext
    if paginated:
        features += ["pageBreakMarkers", "pageNavigation"]
    if book.index is not None:
        features.append("index")

    summary = ["This publication has a table of contents and structured headings in reading order."]
    if images:
        summary.append(
            "Every image has a text alternative."
            if all_described
            else "Some images have no text alternative."
        )
    else:
        summary.append("Apart from the cover, it contains no images.")
    if mathml:
        summary.append("Formulas are MathML, with their TeX source as alternative text.")
    if paginated:
        summary.append("Page numbers of the print edition are marked and listed.")
    if book.index is not None:
        summary.append("An index links each of its terms to the places it is discussed.")
    summary.append("Text can be resized and restyled by the reading system. No hazards are known.")

    out = [("schema:accessMode", mode) for mode in modes]
    out += [("schema:accessModeSufficient", s) for s in sufficient]
    out += [("schema:accessibilityFeature", f) for f in features]
    out.append(("schema:accessibilityHazard", "none"))
    out.append(("schema:accessibilitySummary", " ".join(summary)))
    certifier = book.meta.certifier
    if certifier:
        if all_described:
            # Claimed only where what publisher can check holds, and someone answers for it.
            out.append(("dcterms:conformsTo", CONFORMANCE))
            out.append(("a11y:certifiedBy", certifier))
        else:
            missing = images - described
            found.append(
                Diagnostic(
                    "I14",
                    WARNING,
                    Location(book.meta.source) if book.meta.source else None,
                    f"no accessibility conformance claim: {missing} image(s) have no alt text",
                )
            )
    return out
