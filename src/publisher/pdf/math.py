"""Formulas in the PDF. WeasyPrint has no MathML: each formula is typeset here by
ziamath (STIX Two Math, drawn as paths, so there is no font to embed) as an
inline SVG whose size is given in em, so that it takes the size of the text
around it (a note's formulas are a note's size), and whose vertical-align puts
the formula's baseline on the text's. Display formulas are centred by the
stylesheet, with the equation's number at the right; one wider than the text is
scaled down to fit it (never clipped), with a warning when that halves it.

The SVG carries the TeX as its title, which WeasyPrint writes as the alternate
text of the formula's structure element, and the tagging patch
(weasyprint/formula.py) makes that element a `Formula` instead of a `Figure`.

`typeset_book` typesets every distinct formula of the book once, before the
layout, and says which could not be typeset (a character STIX Two Math lacks) as
warnings with the file and line; the layout then only looks the SVGs up. A
formula that cannot be typeset is printed as its TeX, in code type."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location, ResourceError
from publisher.model import RenderedBook

SIZE = 20.0  # ziamath's font size, in its units: the SVG is measured in em of it
MARGIN = 0.5  # room around the drawing, in the same units (antialiased edges)
# A display formula this many em wide is printed at less than half its size on
# any of publisher's pages (their text is 28 to 45 em wide): worth a warning.
TOO_WIDE = 60.0
# ziamath takes about 4 ms a formula and WeasyPrint about as long to lay one out
# and draw it; beyond this many distinct formulas the PDF is refused before
# any is typeset (the EPUB holds them all as MathML).
MAX_FORMULAS = 5_000


@dataclass(frozen=True)
class Typeset:
    """A formula drawn: the <svg> element (no namespace, as the print HTML holds
    it) and its size in em, or why it could not be drawn."""

    svg: str = ""
    width: float = 0.0
    why: str = ""


# A formula's TeX (as its alttext holds it) and whether it is displayed -> its
# drawing: the MathML is a function of the two.
Key = tuple[str, bool]
Table = Mapping[Key, Typeset]


def typeset_book(book: RenderedBook, found: list[Diagnostic]) -> dict[Key, Typeset]:
    """Every distinct formula of the book typeset; those that cannot be, and those
    far wider than the text, are warnings in `found`."""
    if len(book.formulas) > MAX_FORMULAS:
        raise ResourceError(
            f"the book has {len(book.formulas)} different formulas; the PDF sets at most "
            f"{MAX_FORMULAS}",
            where=Location(book.meta.source) if book.meta.source else None,
            hint="build the EPUB alone (publisher build --only epub), which holds them all",
        )
    table: dict[Key, Typeset] = {}
    for formula in book.formulas:
        done = typeset(formula.mathml)
        key = formula_key(formula.mathml)
        table[key] = done
        tex = key[0]
        shown = tex if len(tex) <= 60 else tex[:59] + "…"
        if done.why:
            found.append(
                Diagnostic(
                    "F07",
                    WARNING,
                    formula.where,
                    f"formula '{shown}' cannot be typeset in the PDF: {done.why}; it is "
                    "printed as written",
                    hint="write the text outside the formula, or use characters of the "
                    "STIX Two Math font",
                    subject=tex,
                    reason=done.why,
                )
            )
        elif done.width > TOO_WIDE and key[1]:
            found.append(
                Diagnostic(
                    "F08",
                    WARNING,
                    formula.where,
                    f"formula '{shown}' is {done.width:.0f} em wide: the PDF prints it at "
                    "less than half its size to fit the text",
                    hint="break it over lines (\\begin{aligned} … \\\\ … \\end{aligned})",
                    subject=tex,
                )
            )
    return table


def formula_key(mathml: str) -> Key:
    root = etree.fromstring(mathml)
    return root.get("alttext", ""), root.get("display") == "block"


@functools.lru_cache(maxsize=4096)
def typeset(mathml: str) -> Typeset:
    """One formula as an SVG measured in em (each distinct formula drawn once in a
    process: watch and serve rebuild without drawing again)."""
    import xml.etree.ElementTree as ET

    from ziamath.zmath import Math  # lazy: only a PDF with formulas pays its import

    element = ET.fromstring(mathml)
    missing = _missing_characters(element)
    if missing:
        return Typeset(why=f"STIX Two Math has no {missing}")
    tex = element.get("alttext", "")
    try:
        drawn = Math(element, size=SIZE, title=tex or None, margin=MARGIN)
        svg = drawn.svgxml()
        ymin = drawn.node.bbox.ymin
    except Exception as error:  # ziamath's own failure on MathML it was not written for
        return Typeset(why=f"the typesetter failed ({type(error).__name__})")
    width = float(svg.attrib["width"]) / SIZE
    depth = (MARGIN - ymin) / SIZE  # how far the drawing reaches below the baseline
    svg.attrib.pop("xmlns", None)
    for name in ("width", "height"):
        del svg.attrib[name]
    svg.attrib["class"] = "math"
    # The height follows the width (the viewBox's ratio): a formula shrunk to the
    # text's width keeps its shape.
    svg.attrib["style"] = f"width: {width:.3f}em; vertical-align: {-depth:.3f}em"
    return Typeset(ET.tostring(svg, encoding="unicode"), width)


def _missing_characters(element: Any) -> str:
    """The characters of the formula's text the math font has no glyph for (the
    first three, described), or ''."""
    from ziamath.zmath import loadedfonts  # the font ziamath draws with

    from publisher.pdf.fonts import describe

    font = loadedfonts["default"]
    text = "".join(element.itertext())
    missing = sorted({c for c in text if not c.isspace() and font.glyphindex(c) == 0})
    return ", ".join(describe(c) for c in missing[:3])


def replace_formulas(section: etree._Element, table: Table) -> None:
    """Each <math> of a print section (namespaces already stripped) becomes its
    drawing, or its TeX in code type; `table` has the book's formulas typeset
    (one missing from it is typeset now)."""
    for math in list(section.iter("math")):
        tex, display = math.get("alttext", ""), math.get("display") == "block"
        done = table.get((tex, display))
        if done is None:
            done = typeset(etree.tostring(math, encoding="unicode", with_tail=False))
        parent = math.getparent()
        assert parent is not None
        if done.svg:
            new = etree.fromstring(done.svg)
        else:
            marks = "$$" if display else "$"
            new = etree.Element("code", {"class": "math-source"})
            new.text = f"{marks}{tex}{marks}"
        new.tail = math.tail
        parent.replace(math, new)
