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
import hashlib
import re
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
# ziamath lays each row out twice (once to find how tall its stretchy brackets
# must be), so its time doubles with every row nested in a row: ten nested
# fractions take seconds, fourteen a minute. `work` counts that cost in steps
# (0.05-0.3 ms each here): a formula of more than MAX_WORK steps is printed as
# its TeX, and a book whose formulas need more than BOOK_WORK in all is refused
# before any is typeset (the EPUB holds them all as MathML). A long display
# formula needs 200-2,000 steps, an inline one 10-100.
MAX_WORK = 20_000
BOOK_WORK = 200_000
_TWICE = frozenset({"math", "mrow", "merror", "mpadded", "mphantom"})


@dataclass(frozen=True)
class Typeset:
    """A formula drawn: the <svg> element (no namespace, as the print HTML holds
    it) and its width in em, or why it could not be drawn. `operators` is the same
    drawing as PDF content, in the units of the SVG's `viewbox` (empty if the SVG
    holds anything the conversion does not know): drawn once per document and
    placed wherever the formula is (weasyprint/formula.py)."""

    svg: str = ""
    width: float = 0.0
    why: str = ""
    viewbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    operators: bytes = b""
    key: str = ""  # names the drawing in the print HTML (data-formula)


# A formula's TeX (as its alttext holds it) and whether it is displayed -> its
# drawing: the MathML is a function of the two.
Key = tuple[str, bool]
Table = Mapping[Key, Typeset]


def typeset_book(book: RenderedBook, found: list[Diagnostic]) -> dict[Key, Typeset]:
    """Every distinct formula of the book typeset; those that cannot be, and those
    far wider than the text, are warnings in `found`."""
    costs = [min(work(etree.fromstring(f.mathml)), MAX_WORK + 1) for f in book.formulas]
    total = sum(cost for cost in costs if cost <= MAX_WORK)
    if total > BOOK_WORK:
        raise ResourceError(
            f"the book's {len(book.formulas)} different formulas would take about "
            f"{total * STEP_MS / 1000:.0f} s to typeset; the PDF allows "
            f"{BOOK_WORK * STEP_MS / 1000:.0f} s",
            where=Location(book.meta.source) if book.meta.source else None,
            hint="build the EPUB alone (publisher build --only epub), which holds them all "
            "as MathML",
        )
    table: dict[Key, Typeset] = {}
    for formula, cost in zip(book.formulas, costs, strict=True):
        done = typeset(formula.mathml) if cost <= MAX_WORK else Typeset(why=TOO_COMPLEX)
        key = formula_key(formula.mathml)
        table[key] = done
        tex = key[0]
        shown = tex if len(tex) <= 60 else tex[:59] + "…"
        if done.why:
            fix = (
                "nest fewer fractions, roots or brackets in one another, or split the formula"
                if done.why == TOO_COMPLEX
                else "write the text outside the formula, or use characters of the STIX Two "
                "Math font"
            )
            found.append(
                Diagnostic(
                    "F07",
                    WARNING,
                    formula.where,
                    f"formula '{shown}' cannot be typeset in the PDF: {done.why}; it is "
                    "printed as written",
                    hint=fix,
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


STEP_MS = 0.1  # what a step of `work` takes on one core, about
TOO_COMPLEX = "it nests too deep to typeset in reasonable time"


def work(element: Any) -> int:
    """The typesetter's steps for a MathML element: one for itself, and its
    children's, twice for the rows ziamath lays out twice."""
    inner = sum(work(child) for child in element if isinstance(child.tag, str))
    return 1 + (2 if etree.QName(element).localname in _TWICE else 1) * inner


def formula_key(mathml: str) -> Key:
    root = etree.fromstring(mathml)
    return root.get("alttext", ""), root.get("display") == "block"


@functools.lru_cache(maxsize=4096)
def typeset(mathml: str) -> Typeset:
    """One formula as an SVG measured in em (each distinct formula drawn once in a
    process: watch and serve rebuild without drawing again)."""
    import xml.etree.ElementTree as ET

    _load_ziamath()
    from ziamath.config import config
    from ziamath.zmath import Math

    # Each glyph drawn as a path where it is: SVG 2's shared <symbol>s would give
    # every formula ids that repeat in the print document.
    config.svg2 = False
    config.precision = 2  # a hundredth of a unit: 1/2000 em

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
    text = ET.tostring(svg, encoding="unicode")
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    viewbox = tuple(float(v) for v in svg.attrib["viewBox"].split())
    assert len(viewbox) == 4
    return Typeset(text, width, viewbox=viewbox, operators=pdf_operators(svg), key=key)


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PATH = re.compile(rf"[MLQZ]|{_NUMBER}")
_ARGUMENTS = {"M": 2, "L": 2, "Q": 4, "Z": 0}


def pdf_operators(svg: Any) -> bytes:
    """ziamath's drawing (paths of M, L, Q and Z, and rectangles, filled and at
    times stroked) as PDF content operators in the SVG's own units, y downwards
    as WeasyPrint draws; b'' for anything else, which is then left to WeasyPrint's
    own SVG drawing."""
    out: list[str] = []
    state = ""  # the colours last set: set again only when they change
    for node in svg:
        tag = node.tag
        if tag == "title":
            continue
        known = {"d", "fill", "stroke", "stroke-width"} if tag == "path" else None
        if tag == "rect":
            known = {"x", "y", "width", "height", "fill", "stroke", "stroke-width"}
        if known is None or set(node.attrib) - known or len(node):
            return b""
        paint = _paint(node)
        if paint is None:
            return b""
        if tag == "rect":
            x, y, w, h = (float(node.get(name, "0")) for name in ("x", "y", "width", "height"))
            shape = [f"{_n(x)} {_n(y)} {_n(w)} {_n(h)} re"]
        else:
            found = _path(node.get("d", ""))
            if found is None:
                return b""
            shape = found
        if paint[0] and paint[0] != state:
            out.append(paint[0])
            state = paint[0]
        out += [*shape, paint[1]]
    return ("q\n" + "\n".join(out) + "\nQ\n").encode("ascii")


def _n(value: float) -> str:
    """A coordinate as PDF writes it, to a hundredth of a unit (1/2000 em)."""
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def _path(d: str) -> list[str] | None:
    """A path's data as PDF operators: quadratic curves as the cubic ones PDF has."""
    tokens = _PATH.findall(d)
    out: list[str] = []
    x = y = 0.0
    i = 0
    while i < len(tokens):
        command = tokens[i]
        count = _ARGUMENTS.get(command)
        if count is None or i + count >= len(tokens):
            return None
        try:
            args = [float(v) for v in tokens[i + 1 : i + 1 + count]]
        except ValueError:
            return None
        if command == "M":
            x, y = args
            out.append(f"{_n(x)} {_n(y)} m")
        elif command == "L":
            x, y = args
            out.append(f"{_n(x)} {_n(y)} l")
        elif command == "Q":
            qx, qy, ex, ey = args
            c1x, c1y = x + 2 / 3 * (qx - x), y + 2 / 3 * (qy - y)
            c2x, c2y = ex + 2 / 3 * (qx - ex), ey + 2 / 3 * (qy - ey)
            out.append(f"{_n(c1x)} {_n(c1y)} {_n(c2x)} {_n(c2y)} {_n(ex)} {_n(ey)} c")
            x, y = ex, ey
        else:
            out.append("h")
        i += 1 + count
    return out


def _paint(node: Any) -> tuple[str, str] | None:
    """The colour operators before a shape and the painting one after it."""
    fill = _rgb(node.get("fill", "black"))
    stroke = _rgb(node.get("stroke", "none"))
    if fill is None or stroke is None:
        return None
    before = []
    if fill:
        before.append(f"{fill} rg")
    if stroke:
        width = node.get("stroke-width", "1")
        try:
            before.append(f"{stroke} RG {float(width):.2f} w")
        except ValueError:
            return None
    paint = "B" if fill and stroke else "f" if fill else "S" if stroke else "n"
    return " ".join(before) or "", paint


def _rgb(value: str) -> str | None:
    """A colour as PDF's `r g b`; '' for none; None if it cannot be read."""
    value = value.strip()
    if value == "none":
        return ""
    from PIL import ImageColor

    try:
        red, green, blue = ImageColor.getrgb(value)[:3]
    except ValueError:
        return None
    return f"{_n(red / 255)} {_n(green / 255)} {_n(blue / 255)}"


def _load_ziamath() -> None:
    """ziamath, imported when a PDF has formulas (never otherwise): its import finds
    its font through an importlib call Python deprecates, a warning for its
    authors, not for ours."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import ziamath.zmath  # noqa: F401


def _missing_characters(element: Any) -> str:
    """The characters of the formula's text the math font has no glyph for (the
    first three, described), or ''."""
    from ziamath.zmath import loadedfonts  # the font ziamath draws with

    from publisher.pdf.fonts import describe

    font = loadedfonts["default"]
    text = "".join(element.itertext())
    missing = sorted({c for c in text if not c.isspace() and font.glyphindex(c) == 0})
    return ", ".join(describe(c) for c in missing[:3])


def replace_formulas(section: etree._Element, table: Table, lean: bool = False) -> None:
    """Each <math> of a print section (namespaces already stripped) becomes its
    drawing, or its TeX in code type; `table` has the book's formulas typeset
    (one missing from it is typeset now). `lean`: WeasyPrint places the drawings
    of the table's formulas itself (weasyprint/formula.py), so their SVGs are
    left empty, which saves parsing their paths at every formula."""
    for math in list(section.iter("math")):
        tex, display = math.get("alttext", ""), math.get("display") == "block"
        done = table.get((tex, display))
        known = done is not None
        if done is None:
            done = typeset(etree.tostring(math, encoding="unicode", with_tail=False))
        parent = math.getparent()
        assert parent is not None
        if done.svg:
            new = etree.fromstring(done.svg)
            if lean and known and done.operators:
                for child in [c for c in new if c.tag != "title"]:
                    new.remove(child)
                new.set("data-formula", done.key)
        else:
            marks = "$$" if display else "$"
            new = etree.Element("code", {"class": "math-source"})
            new.text = f"{marks}{tex}{marks}"
        new.tail = math.tail
        parent.replace(math, new)


def drawings(table: Table) -> dict[str, tuple[tuple[float, float, float, float], bytes]]:
    """The table's drawings by the name the print HTML gives them."""
    return {t.key: (t.viewbox, t.operators) for t in table.values() if t.operators}
