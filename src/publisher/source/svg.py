"""SVG images rebuilt from an allow-list, with a bounded cost.

An SVG is a program as much as a picture: scripts, event handlers, animations
that set `javascript:` links, style sheets that import from the web, foreign HTML,
entities, and `<use>` copies of copies that cost minutes to draw. So nothing of
the author's file is packaged as it is: a new document is built holding only

- the elements of static SVG graphics (`ELEMENTS`): shapes, paths, text, images,
  gradients, patterns, clip paths, masks, markers, symbols, `<use>`, filters;
  anything else goes with all it holds (scripts, `foreignObject`, animations,
  fonts, `metadata`, the drawing program's own elements);
- their attributes in `ATTRIBUTES` (geometry and presentation; no `on*`, no
  `xml:base`), each value read as CSS (tinycss2) and dropped if it holds a
  function other than `FUNCTIONS` or a `url()` other than a `#fragment`;
- links (`href`, `xlink:href`) to `#fragments` of the same file, and on `<image>`
  and `<feImage>` also PNG, JPEG, GIF or WebP data URLs that decode in full as
  the type they name (publisher.source.images);
- CSS, in `style` attributes and `<style>` elements, of the properties in
  `PROPERTIES` with values checked as above; every at-rule (`@import`,
  `@font-face`, `@media`...) is dropped.

Comments, processing instructions (`<?xml-stylesheet?>`), the DOCTYPE and CDATA
markers are not kept. The parser never loads a DTD, fetches nothing and expands no
entity; a file whose DOCTYPE declares entities is refused, since it would be
packaged unreadable otherwise.

The cost: what a renderer draws, counted with every `<use>` copy, gradient,
pattern, mask, clip path, marker and filter counted again where it is used (each
with its `WEIGHTS`), a text element
counting `TEXT_WEIGHT` and each character of its text one more (WeasyPrint, here,
draws about 4,000 paths a second, and lays out SVG text at about 5,000 characters
a second, 100,000 characters in one `<text>` taking 35 s), must stay under
`MAX_DRAWN`; the file under `MAX_ELEMENTS` elements and its drawing under
`MAX_DEPTH` levels of nesting. Past any of these the image is
refused in one line; what was removed is reported in one warning."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from publisher.errors import Location, ResourceError

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
XML = "http://www.w3.org/XML/1998/namespace"
XLINK_HREF = f"{{{XLINK}}}href"
NAMESPACES: Any = {None: SVG, "xlink": XLINK}

MAX_SVG_BYTES = 10_000_000
MAX_ELEMENTS = 50_000
MAX_DRAWN = 10_000
MAX_DEPTH = 64
TEXT_WEIGHT = 3

ELEMENTS = frozenset(
    {
        # structure
        "svg", "g", "defs", "symbol", "use", "switch", "a", "title", "desc", "style",
        # shapes and text
        "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
        "text", "tspan", "textPath", "image",
        # paint servers, clipping, masking, markers
        "linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask", "marker",
        # filters (no feConvolveMatrix: its kernel has no bound)
        "filter", "feBlend", "feColorMatrix", "feComponentTransfer", "feFuncR", "feFuncG",
        "feFuncB", "feFuncA", "feComposite", "feDiffuseLighting", "feSpecularLighting",
        "feDistantLight", "fePointLight", "feSpotLight", "feDisplacementMap", "feDropShadow",
        "feFlood", "feGaussianBlur", "feImage", "feMerge", "feMergeNode", "feMorphology",
        "feOffset", "feTile", "feTurbulence",
    }
)  # fmt: skip
# Dropped without a word: what drawing programs write about the drawing.
QUIET = frozenset({"metadata"})
EDITORS = (
    "http://www.inkscape.org/namespaces/inkscape",
    "http://sodipodi.sourceforge.net/",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "http://creativecommons.org/ns#",
    "http://web.resource.org/cc/",
    "http://purl.org/dc/",
    "http://ns.adobe.com/",
    "http://www.bohemiancoding.com/sketch/",
    "http://www.serif.com/",
)
# Not drawn where they stand, only where something refers to them.
REFERENCED_ONLY = frozenset(
    {"defs", "symbol", "clipPath", "mask", "pattern", "marker", "filter", "linearGradient",
     "radialGradient", "title", "desc", "style"}
)  # fmt: skip
TEXT = frozenset({"text", "tspan", "textPath"})
# What applying one costs, in plain shapes (measured with WeasyPrint here: a
# gradient or pattern fill about five rectangles, a mask four, a marker three),
# on top of what it holds (a gradient's stops: one each).
WEIGHTS = {"linearGradient": 5, "radialGradient": 5, "pattern": 5, "mask": 4, "marker": 3}

PRESENTATION = frozenset(
    {
        "alignment-baseline", "baseline-shift", "clip", "clip-path", "clip-rule", "color",
        "color-interpolation", "color-interpolation-filters", "color-rendering", "direction",
        "display", "dominant-baseline", "fill", "fill-opacity", "fill-rule", "filter",
        "flood-color", "flood-opacity", "font", "font-family", "font-feature-settings",
        "font-kerning", "font-size", "font-size-adjust", "font-stretch", "font-style",
        "font-variant", "font-weight", "glyph-orientation-horizontal",
        "glyph-orientation-vertical", "image-rendering", "isolation", "kerning",
        "letter-spacing", "lighting-color", "line-height", "marker", "marker-end",
        "marker-mid", "marker-start", "mask", "mask-type", "mix-blend-mode", "opacity",
        "overflow", "paint-order", "shape-rendering", "stop-color", "stop-opacity", "stroke",
        "stroke-dasharray", "stroke-dashoffset", "stroke-linecap", "stroke-linejoin",
        "stroke-miterlimit", "stroke-opacity", "stroke-width", "text-anchor",
        "text-decoration", "text-rendering", "transform", "transform-box", "transform-origin",
        "unicode-bidi", "vector-effect", "visibility", "white-space", "word-spacing",
        "writing-mode",
    }
)  # fmt: skip
# CSS properties kept in `style`: the presentation attributes and geometry.
PROPERTIES = PRESENTATION | {"x", "y", "cx", "cy", "r", "rx", "ry", "width", "height", "d"}
ATTRIBUTES = PRESENTATION | frozenset(
    {
        "id", "class", "style", "lang", "role", "aria-label", "aria-labelledby",
        "aria-describedby", "aria-hidden", "version", "viewBox", "preserveAspectRatio",
        "width", "height", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "ry",
        "fx", "fy", "fr", "d", "points", "pathLength", "dx", "dy", "rotate", "textLength",
        "lengthAdjust", "startOffset", "method", "spacing", "side", "gradientUnits",
        "gradientTransform", "spreadMethod", "offset", "patternUnits", "patternContentUnits",
        "patternTransform", "clipPathUnits", "maskUnits", "maskContentUnits", "markerUnits",
        "markerWidth", "markerHeight", "refX", "refY", "orient", "filterUnits",
        "primitiveUnits", "in", "in2", "result", "mode", "operator", "k1", "k2", "k3", "k4",
        "values", "type", "tableValues", "slope", "intercept", "amplitude", "exponent",
        "stdDeviation", "edgeMode", "radius", "scale", "xChannelSelector",
        "yChannelSelector", "baseFrequency", "numOctaves", "seed", "stitchTiles", "azimuth",
        "elevation", "pointsAtX", "pointsAtY", "pointsAtZ", "specularExponent",
        "specularConstant", "diffuseConstant", "surfaceScale", "limitingConeAngle",
        "kernelUnitLength", "z", "systemLanguage", "href",
    }
)  # fmt: skip
# Attributes and CSS properties named in the warning when they go, since they
# fetch or run something; any other unknown one (data-name, enable-background,
# -inkscape-font-specification) goes quietly.
LOUD = frozenset(
    {"src", "action", "behavior", "-moz-binding", "cursor", "content", "background",
     "background-image", "list-style-image", "border-image"}
)  # fmt: skip
# Attributes whose value is words for a reader (anything goes); in every other a
# colon is refused (no scheme: nothing that reads as an address).
WORDS = frozenset({"aria-label"})
# CSS functions a kept value may hold (`url()` is checked on its own).
FUNCTIONS = frozenset(
    {
        "rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color",
        "calc", "min", "max", "clamp", "matrix", "translate", "translatex", "translatey",
        "scale", "scalex", "scaley", "rotate", "skewx", "skewy", "skew",
    }
)  # fmt: skip
# Selector functions a `<style>` rule may use.
SELECTOR_FUNCTIONS = frozenset(
    {"not", "is", "where", "nth-child", "nth-last-child", "nth-of-type", "nth-last-of-type"}
)
# Attributes that point at another element of the file.
PAINT = frozenset({"linearGradient", "radialGradient", "pattern"})
# The properties that may hold `url(#id)`, and what the id may name.
REFERENCE_PROPERTIES = {
    "fill": PAINT,
    "stroke": PAINT,
    "clip-path": frozenset({"clipPath"}),
    "mask": frozenset({"mask"}),
    "filter": frozenset({"filter"}),
    **{
        name: frozenset({"marker"})
        for name in ("marker", "marker-start", "marker-mid", "marker-end")
    },
}
# What `href="#id"` may name, by the element that holds it (other elements: anything).
HREF_TARGETS = {
    "linearGradient": frozenset({"linearGradient", "radialGradient"}),
    "radialGradient": frozenset({"linearGradient", "radialGradient"}),
    "pattern": frozenset({"pattern"}),
    "filter": frozenset({"filter"}),
    "textPath": frozenset({"path"}),
    "image": frozenset(),
}
URL_ID = re.compile(r"url\(\s*['\"]?#([A-Za-z_][\w.-]*)")
DATA_URL = re.compile(r"data:(image/(?:png|jpeg|jpg|gif|webp));base64,(.*)", re.S | re.I)
FRAGMENT = re.compile(r"#([A-Za-z_][\w.-]*)")
NAME = re.compile(r"[A-Za-z_][\w.-]*")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class CleanSvg:
    data: bytes  # the document as packaged
    removed: tuple[str, ...]  # what went that the author may miss, in order, each once


def clean_svg(data: bytes, src: str = "", where: Location | None = None) -> CleanSvg:
    """The SVG as an EPUB or the PDF may hold it; a ResourceError (naming `src`
    at `where`) for a file publisher refuses."""
    key = hashlib.sha256(data).digest()
    if key in _CLEANED:  # checked when the manuscript was read, packaged later
        return _CLEANED[key]
    if len(data) > MAX_SVG_BYTES:
        raise ResourceError(f"image '{src}' is larger than 10 MB", where=where)
    root = _parse(data, src, where)
    cleaner = _Cleaner(src, where)
    out = cleaner.rebuild(root)
    _Cost(out, cleaner.sheet_references, src, where).check()
    packaged = etree.tostring(out, xml_declaration=True, encoding="utf-8")
    cleaned = CleanSvg(bytes(packaged), tuple(dict.fromkeys(cleaner.removed)))
    while _CLEANED and sum(len(c.data) for c in _CLEANED.values()) + len(packaged) > CACHE_BYTES:
        del _CLEANED[next(iter(_CLEANED))]  # the oldest first
    _CLEANED[key] = cleaned
    return cleaned


# The last SVGs cleaned, by the SHA-256 of the author's file: each is cleaned once
# a build (the build's check, the EPUB and the PDF's child all ask).
CACHE_BYTES = 32_000_000
_CLEANED: dict[bytes, CleanSvg] = {}


def _parse(data: bytes, src: str, where: Location | None) -> Any:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ResourceError(
            f"image '{src}' is not a well-formed SVG file ({exc.msg})",
            where=where,
            hint="re-export it from the drawing program",
        ) from None
    dtd: Any = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        at = data.find(b"<!ENTITY")
        line = data.count(b"\n", 0, at) + 1 if at >= 0 else 1
        raise ResourceError(
            f"image '{src}' declares XML entities in its DOCTYPE (line {line} of the SVG file)",
            where=where,
            hint="publisher expands no entities: save it again as plain SVG, without the DOCTYPE",
        )
    if etree.QName(root).localname != "svg" or _namespace(root) not in (SVG, None):
        raise ResourceError(f"image '{src}' is not an SVG file", where=where)
    return root


def _namespace(element: Any) -> str | None:
    return etree.QName(element).namespace


class _Cleaner:
    def __init__(self, src: str, where: Location | None) -> None:
        self.src, self.where = src, where
        self.removed: list[str] = []
        self.ids: set[str] = set()
        self.count = 0
        self.embedded_pixels = 0
        self.sheet_references: list[tuple[str, str]] = []  # (property, id) in <style>

    def rebuild(self, root: Any) -> Any:
        out = etree.Element(f"{{{SVG}}}svg", nsmap=NAMESPACES)
        out.sourceline = root.sourceline
        self._attributes(root, out, "svg")
        out.text = root.text
        self._children(root, out, depth=1)
        _resolve(out)
        return out

    def _children(self, element: Any, out: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ResourceError(
                f"image '{self.src}' nests its elements more than {MAX_DEPTH} deep "
                f"(line {element.sourceline} of the SVG file)",
                where=self.where,
                hint="simplify the drawing, or export it as PNG",
            )
        last = None
        for child in element:
            kept = self._element(child, out, depth)
            if kept is not None:
                last = kept
            elif child.tail:  # the text after a removed element stays
                if last is None:
                    out.text = (out.text or "") + child.tail
                else:
                    last.tail = (last.tail or "") + child.tail

    def _element(self, element: Any, parent: Any, depth: int) -> Any:
        if not isinstance(element.tag, str):
            return None  # an entity reference left unexpanded
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise ResourceError(
                f"image '{self.src}' has more than {MAX_ELEMENTS} elements",
                where=self.where,
                hint="simplify the drawing, or export it as PNG",
            )
        name = etree.QName(element).localname
        space = _namespace(element)
        if space not in (SVG, None) or name not in ELEMENTS:
            if not (name in QUIET or (space or "").startswith(EDITORS)):
                self.removed.append(f"<{name}>")
            return None
        out = etree.SubElement(parent, f"{{{SVG}}}{name}")
        out.sourceline = element.sourceline
        self._attributes(element, out, name)
        if name == "image" and out.get("href") is None and out.get(XLINK_HREF) is None:
            parent.remove(out)  # nothing left to show
            return None
        out.tail = element.tail
        if name == "style":
            out.text = self._style_sheet(element.text or "")
            return out
        if name in ("title", "desc"):  # words only (EPUB allows no SVG inside)
            out.text = element.text
            for child in element:
                if isinstance(child.tag, str):
                    self.removed.append(f"<{etree.QName(child).localname}> in <{name}>")
                out.text = (out.text or "") + (child.tail or "") or None
            return out
        out.text = element.text
        self._children(element, out, depth + 1)
        return out

    def _attributes(self, element: Any, out: Any, name: str) -> None:
        for key, value in element.attrib.items():
            qname = etree.QName(key)
            local, space = qname.localname, qname.namespace
            if space == XML:
                if local in ("lang", "space"):
                    out.set(key, value)
                else:
                    self.removed.append(f"xml:{local}")
                continue
            if space not in (None, XLINK):
                if not space.startswith(EDITORS):  # inkscape:label, sodipodi:role go quietly
                    self.removed.append(f"{local}= of {space}")
                continue
            if local.lower().startswith("on"):
                self.removed.append(f"{local} (a script)")
                continue
            if local == "href":
                kept = self._href(name, value)
                if kept is not None:
                    out.set(key, kept)
                continue
            if space == XLINK or local not in ATTRIBUTES:
                if local in LOUD or "url(" in value.lower() or ":" in value:
                    self.removed.append(f"{local}=")  # what may fetch or run; the rest quietly
                continue
            if local == "style":
                style = self._declarations(value)
                if style:
                    out.set(key, style)
                continue
            if local == "id":
                if not NAME.fullmatch(value) or value in self.ids:
                    continue  # not a usable id, or a repeated one: the first wins
                self.ids.add(value)
            elif local == "numOctaves" and not (value.strip().isdigit() and int(value) <= 10):
                continue  # each octave costs a pass over every pixel
            elif not self._value_ok(value, words=local in WORDS):
                continue
            out.set(key, value)

    def _href(self, element: str, value: str) -> str | None:
        value = value.strip()
        if element == "a":  # an image is never followed: a link in it goes nowhere
            self.removed.append(f"a link to '{_short(value)}'")
            return None
        if FRAGMENT.fullmatch(value) and element != "image":
            return value
        if element in ("image", "feImage") and (match := DATA_URL.fullmatch(value)):
            return self._data_url(match.group(1).lower(), match.group(2))
        self.removed.append(f"a link to '{_short(value)}'")
        return None

    def _data_url(self, media_type: str, payload: str) -> str | None:
        from publisher.source.images import MAX_PIXELS, BrokenImage, TooLarge, decode

        media_type = "image/jpeg" if media_type == "image/jpg" else media_type
        kind = media_type.split("/")[1].upper()
        compact = re.sub(r"\s+", "", payload)
        try:
            raw = base64.b64decode(compact, validate=True)
            width, height = decode(raw, media_type)
        except (binascii.Error, ValueError, BrokenImage):
            self.removed.append(f"an embedded image that is not a valid {kind} file")
            return None
        except TooLarge:
            width, height = MAX_PIXELS + 1, 1
        self.embedded_pixels += width * height
        if self.embedded_pixels > MAX_PIXELS:
            self.removed.append(f"embedded images past {MAX_PIXELS // 1_000_000} megapixels")
            return None
        return f"data:{media_type};base64,{compact}"

    def _declarations(self, text: str) -> str:
        import tinycss2

        kept = []
        for item in tinycss2.parse_blocks_contents(text, skip_comments=True, skip_whitespace=True):
            if item.type == "declaration":
                name = item.lower_name
                value = tinycss2.serialize(item.value).strip()
                if name in PROPERTIES and _tokens_ok(item.value):
                    kept.append(f"{name}:{value}{' !important' if item.important else ''}")
                elif name in LOUD or not _tokens_ok(item.value):
                    self.removed.append(f"CSS {name}: {_short(value)}")
                # else a property drawing has no use for (-inkscape-font-specification): quietly
            elif item.type == "at-rule":
                self.removed.append(f"CSS @{item.lower_at_keyword}")
        return ";".join(kept)

    def _style_sheet(self, text: str) -> str:
        import tinycss2

        rules = []
        for rule in tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True):
            if rule.type == "at-rule":
                self.removed.append(f"CSS @{rule.lower_at_keyword}")
            elif rule.type == "qualified-rule" and _selector_ok(rule.prelude):
                declarations = self._declarations(tinycss2.serialize(rule.content))
                if declarations:
                    self.sheet_references += _references(declarations)
                    rules.append(f"{tinycss2.serialize(rule.prelude).strip()}{{{declarations}}}")
        return "\n".join(rules)

    def _value_ok(self, value: str, words: bool = False) -> bool:
        if words:
            return True  # a label: read out, never fetched or parsed
        if not any(c in value for c in "():\\\"'"):
            return True  # the usual case: a number, a colour, a path
        import tinycss2

        tokens = tinycss2.parse_component_value_list(value, skip_comments=True)
        if ":" not in value and _tokens_ok(tokens):
            return True
        self.removed.append(f"'{_short(value)}'")
        return False


def _tokens_ok(tokens: Iterable[Any]) -> bool:
    for token in tokens:
        kind = token.type
        if kind == "url":
            if not FRAGMENT.fullmatch(token.value.strip()):
                return False
        elif kind == "function":
            if token.lower_name == "url":
                args = [a for a in token.arguments if a.type not in ("whitespace", "comment")]
                if not (
                    len(args) == 1
                    and args[0].type == "string"
                    and FRAGMENT.fullmatch(args[0].value.strip())
                ):
                    return False
            elif token.lower_name not in FUNCTIONS or not _tokens_ok(token.arguments):
                return False
        elif kind == "{} block":
            return False
        elif kind in ("() block", "[] block"):
            if not _tokens_ok(token.content):
                return False
        elif kind == "string":
            if any(c in token.value for c in ":()\\/;{}"):
                return False  # a font's name, never an address
        elif kind in ("at-keyword", "error"):
            return False
    return True


def _resolve(root: Any) -> None:
    """References to what the rebuilt document holds, of the kind they need; any
    other goes (a renderer draws nothing for it; EPUBCheck: RSC-012, RSC-014)."""
    kinds = {el.get("id"): _local(el) for el in root.iter() if el.get("id")}

    def fits(name: str, value: str) -> bool:
        targets = URL_ID.findall(value)
        if not targets:
            return "url(" not in value.lower()
        allowed = REFERENCE_PROPERTIES.get(name)
        return allowed is not None and all(kinds.get(t) in allowed for t in targets)

    def declarations(text: str) -> str:
        kept = [d for d in text.split(";") if fits(d.partition(":")[0].strip(), d)]
        return ";".join(kept)

    for element in root.iter():
        name = _local(element)
        for key in ("href", XLINK_HREF):
            value = element.get(key)
            if value and value.startswith("#"):
                allowed = HREF_TARGETS.get(name)
                target = kinds.get(value[1:])
                if target is None or (allowed is not None and target not in allowed):
                    del element.attrib[key]
        for key, value in list(element.attrib.items()):
            if key == "style":
                if cleaned := declarations(value):
                    element.set(key, cleaned)
                else:
                    del element.attrib[key]
            elif key not in ("href", XLINK_HREF) and not fits(key, value):
                del element.attrib[key]
        if name == "style" and element.text:
            rules = re.findall(r"([^{}]*)\{([^{}]*)\}", element.text)
            element.text = "\n".join(
                f"{prelude.strip()}{{{kept}}}"
                for prelude, body in rules
                if (kept := declarations(body))
            )


def _selector_ok(prelude: list[Any]) -> bool:
    """A selector of names, classes, ids, attributes, combinators and the
    structural pseudo-classes; anything else (a brace, an at-keyword) and the rule goes."""
    seen = False
    for token in prelude:
        kind = token.type
        if kind == "function":
            if token.lower_name not in SELECTOR_FUNCTIONS or not _selector_ok(token.arguments):
                return False
        elif kind == "literal":
            if token.value not in SELECTOR_LITERALS:
                return False
        elif kind == "[] block":
            if not _tokens_ok(token.content) or any(
                t.type not in ("ident", "literal", "string", "whitespace") for t in token.content
            ):
                return False
        elif kind not in ("ident", "hash", "whitespace", "number", "dimension", "percentage"):
            return False
        seen = seen or kind not in ("whitespace", "literal")
    return seen


SELECTOR_LITERALS = frozenset({".", "*", ">", "+", "~", ",", ":", "|"})


def _references(declarations: str) -> list[tuple[str, str]]:
    """(property, id) for each `url(#id)` in kept declarations."""
    out = []
    for declaration in declarations.split(";"):
        name, _, value = declaration.partition(":")
        for match in re.finditer(r"url\(\s*['\"]?#([A-Za-z_][\w.-]*)", value):
            out.append((name.strip(), match.group(1)))
    return out


def _short(text: str, size: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


class _Cost:
    """What drawing the cleaned document costs, in drawn elements; refuses past
    MAX_DRAWN, past MAX_DEPTH levels through references, and a reference cycle."""

    def __init__(
        self, root: Any, sheet: list[tuple[str, str]], src: str, where: Location | None
    ) -> None:
        self.root, self.src, self.where = root, src, where
        self.by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
        self.sheet = sheet
        self.done: dict[Any, tuple[int, int]] = {}  # element -> (drawn, depth)
        self.active: set[Any] = set()

    def check(self) -> None:
        drawn, depth = self.drawn(self.root, rendered=True, level=1)
        for element in self.by_id.values():  # a cycle is refused even where nothing uses it
            self.drawn(element, rendered=False, level=1)
        drawables = sum(1 for el in self.root.iter() if _local(el) not in REFERENCED_ONLY)
        vertices = sum(_vertices(el) for el in self.root.iter())
        for prop, ident in self.sheet:
            # A rule may apply to every element of the file: counted as if it did.
            target = self.by_id.get(ident)
            if target is not None:
                cost, height = self.drawn(target, rendered=False, level=2)
                drawn += cost * (vertices if prop in ("marker-mid", "marker") else drawables)
                depth = max(depth, height + 1)
        self._limit(drawn, depth, self.root)

    def drawn(self, element: Any, rendered: bool, level: int) -> tuple[int, int]:
        """(elements drawn, depth) for `element` drawn once, its references followed;
        `level`: how deep it is drawn (checked on the way down, so that a long chain
        of references is refused before it is followed to its end)."""
        if element in self.done:
            self._limit(0, level - 1 + self.done[element][1], element)
            return self.done[element]
        self._limit(0, level, element)
        if element in self.active:
            raise ResourceError(
                f"image '{self.src}' refers to itself (line {element.sourceline} of the SVG file)",
                where=self.where,
                hint="a <use>, pattern, mask or marker must not contain what refers to it",
            )
        self.active.add(element)
        name = _local(element)
        total = WEIGHTS.get(name, 1)
        if name in TEXT:  # each character is laid out on its own
            words = [element.text or "", *(child.tail or "" for child in element)]
            total = TEXT_WEIGHT + len(" ".join(" ".join(words).split()))
        depth = 1
        for child in element:
            if rendered and _local(child) in REFERENCED_ONLY:
                continue
            inner = rendered or name not in REFERENCED_ONLY
            cost, height = self.drawn(child, rendered=inner, level=level + 1)
            total, depth = total + cost, max(depth, height + 1)
            self._limit(total, level - 1 + depth, element)
        for times, target in self._targets(element):
            cost, height = self.drawn(target, rendered=False, level=level + 1)
            total, depth = total + times * cost, max(depth, height + 1)
            self._limit(total, level - 1 + depth, element)
        self.active.discard(element)
        self.done[element] = total, depth
        return total, depth

    def _targets(self, element: Any) -> Iterator[tuple[int, Any]]:
        href = element.get("href") or element.get(XLINK_HREF) or ""
        if href.startswith("#") and (target := self.by_id.get(href[1:])) is not None:
            name = _local(element)
            # A text path's path is drawn where it stands: followed for loops only.
            yield (0 if name == "textPath" else 1), target
        values = dict(element.attrib)
        for declaration in (element.get("style") or "").split(";"):
            prop, _, value = declaration.partition(":")
            values[prop.strip()] = value
        for prop, value in values.items():
            if prop not in REFERENCE_PROPERTIES or "url(" not in value:
                continue
            for match in re.finditer(r"url\(\s*['\"]?#([A-Za-z_][\w.-]*)", value):
                target = self.by_id.get(match.group(1))
                if target is None:
                    continue
                if prop in ("marker", "marker-mid"):
                    yield max(_vertices(element), 1), target
                else:
                    yield 1, target

    def _limit(self, drawn: int, depth: int, element: Any) -> None:
        if drawn > MAX_DRAWN:
            raise ResourceError(
                f"image '{self.src}' would draw more than {MAX_DRAWN} elements and characters "
                f"(line {element.sourceline} of the SVG file: <use> copies, patterns, masks "
                "and markers each count where they are drawn)",
                where=self.where,
                hint="simplify the drawing, or export it as PNG",
            )
        if depth > MAX_DEPTH:
            raise ResourceError(
                f"image '{self.src}' nests its elements more than {MAX_DEPTH} deep "
                f"(line {element.sourceline} of the SVG file)",
                where=self.where,
                hint="simplify the drawing, or export it as PNG",
            )


def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _vertices(element: Any) -> int:
    """At most how many vertices a path or polyline has (a marker is drawn at each)."""
    data = element.get("d") or element.get("points") or ""
    return len(NUMBER.findall(data)) // 2 + 1 if data else 0
