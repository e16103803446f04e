"""EPUB Accessibility 1.1 metadata, worked out from what the book contains."""

from __future__ import annotations

from .model import RenderedBook
from .render import XHTML_NS, parse_body


def accessibility_metadata(book: RenderedBook, paginated: bool = False) -> list[tuple[str, str]]:
    images = 0
    described = 0
    tables = 0
    for chapter in book.chapters:
        tree = parse_body(chapter.body)
        for img in tree.iter(f"{{{XHTML_NS}}}img"):
            images += 1
            if (img.get("alt") or "").strip():
                described += 1
        tables += sum(1 for _ in tree.iter(f"{{{XHTML_NS}}}table"))
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
    if tables:
        features.append("table")
    if paginated:
        features += ["pageBreakMarkers", "pageNavigation"]

    summary = ["This publication has a table of contents and structured headings in reading order."]
    if images:
        summary.append(
            "Every image has a text alternative."
            if all_described
            else "Some images have no text alternative."
        )
    else:
        summary.append("Apart from the cover, it contains no images.")
    if paginated:
        summary.append("Page numbers of the print edition are marked and listed.")
    summary.append("Text can be resized and restyled by the reading system. No hazards are known.")

    out = [("schema:accessMode", mode) for mode in modes]
    out += [("schema:accessModeSufficient", s) for s in sufficient]
    out += [("schema:accessibilityFeature", f) for f in features]
    out.append(("schema:accessibilityHazard", "none"))
    out.append(("schema:accessibilitySummary", " ".join(summary)))
    return out
