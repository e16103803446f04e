"""What EPUBCheck's MathML 3 schema accepts, for the elements latex2mathml writes:
each formula's MathML is checked here before it goes into a chapter, so that a
formula either passes EPUBCheck or is shown as its source (with the reason).

latex2mathml writes well-formed, mostly valid MathML, but not always: a command
missing an argument leaves an `<mfrac>` with one child, `\\color{orange}` a colour
MathML 3 does not name, `\\hskip` a width that is no length, `\\fcolorbox` a
`border-color` attribute MathML does not have. Attributes MathML does not have on
an element are dropped (they are latex2mathml's, not the author's); a named CSS
colour is written as its hex value; anything else that the schema refuses is a
reason the formula cannot be set. The rules are the schema's
(mathml3-presentation.rnc, mathml3-common.rnc), written as tables."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[str], bool]

_LENGTH = re.compile(
    r"\s*((-?[0-9]*([0-9]\.?|\.[0-9])[0-9]*(e[mx]|in|cm|mm|p[xtc]|%)?)"
    r"|(negative)?((very){0,2}thi(n|ck)|medium)mathspace)\s*"
)
_PADDED = re.compile(
    r"\s*([\+\-]?[0-9]*([0-9]\.?|\.[0-9])[0-9]*\s*((%?\s*(height|depth|width)?)|e[mx]|in|cm|mm"
    r"|p[xtc]|((negative)?((very){0,2}thi(n|ck)|medium)mathspace))?)\s*"
)
_NAMED = (
    "aqua black blue fuchsia gray green lime maroon navy olive purple red silver teal white yellow"
)
_COLOR = re.compile(
    r"\s*(#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?|" + "|".join(_NAMED.split()) + r")\s*", re.I
)


def _length(value: str) -> bool:
    return bool(_LENGTH.fullmatch(value))


def _padded(value: str) -> bool:
    return bool(_PADDED.fullmatch(value))


def _color(value: str) -> bool:
    return bool(_COLOR.fullmatch(value))


def _one_of(*values: str) -> Check:
    allowed = frozenset(values)
    return lambda value: value in allowed


def _either(*checks: Check) -> Check:
    return lambda value: any(check(value) for check in checks)


def _list_of(check: Check) -> Check:
    return lambda value: bool(value.split()) and all(check(v) for v in value.split())


def _integer(value: str) -> bool:
    return bool(re.fullmatch(r"\s*[+-]?[0-9]+\s*", value))


def _positive(value: str) -> bool:
    return bool(re.fullmatch(r"\s*\+?0*[1-9][0-9]*\s*", value))


_BOOL = _one_of("true", "false")
_ALIGN = _one_of("left", "center", "right")
_VERTICAL = _one_of("top", "bottom", "center", "baseline", "axis")
_LINES = _one_of("none", "solid", "dashed")
_VARIANT = _one_of(
    "normal", "bold", "italic", "bold-italic", "double-struck", "bold-fraktur", "script",
    "bold-script", "fraktur", "sans-serif", "bold-sans-serif", "sans-serif-italic",
    "sans-serif-bold-italic", "monospace", "initial", "tailed", "looped", "stretched",
)  # fmt: skip
_THICKNESS = _either(_length, _one_of("thin", "medium", "thick"))

_PRESENTATION: dict[str, Check] = {
    "mathcolor": _color,
    "mathbackground": _either(_color, _one_of("transparent")),
}
_TOKEN: dict[str, Check] = {
    **_PRESENTATION,
    "mathvariant": _VARIANT,
    "mathsize": _either(_length, _one_of("small", "normal", "big")),
    "dir": _one_of("ltr", "rtl"),
}
_STYLE: dict[str, Check] = {
    **_TOKEN,
    "scriptlevel": _integer,
    "displaystyle": _BOOL,
}
_SCRIPTS = {**_PRESENTATION, "subscriptshift": _length, "superscriptshift": _length}
_EMPTY_OK = {**_PRESENTATION}

ATTRIBUTES: dict[str, dict[str, Check]] = {
    "math": {**_STYLE, "display": _one_of("block", "inline"), "alttext": lambda v: True},
    "mrow": {**_PRESENTATION, "dir": _one_of("ltr", "rtl")},
    "mi": _TOKEN,
    "mn": _TOKEN,
    "mtext": _TOKEN,
    "ms": _TOKEN,
    "mo": {
        **_TOKEN,
        "form": _one_of("prefix", "infix", "postfix"),
        "fence": _BOOL,
        "separator": _BOOL,
        "lspace": _length,
        "rspace": _length,
        "stretchy": _BOOL,
        "symmetric": _BOOL,
        "maxsize": _either(_length, _one_of("infinity")),
        "minsize": _length,
        "largeop": _BOOL,
        "movablelimits": _BOOL,
        "accent": _BOOL,
    },
    "mspace": {
        **_TOKEN,
        "width": _length,
        "height": _length,
        "depth": _length,
        "linebreak": _one_of(
            "auto", "newline", "nobreak", "goodbreak", "badbreak", "indentingnewline"
        ),
    },
    "mfrac": {
        **_PRESENTATION,
        "linethickness": _THICKNESS,
        "numalign": _ALIGN,
        "denomalign": _ALIGN,
        "bevelled": _BOOL,
    },
    "msqrt": _EMPTY_OK,
    "mroot": _EMPTY_OK,
    "mstyle": _STYLE,
    "merror": _EMPTY_OK,
    "mpadded": {
        **_PRESENTATION,
        **{name: _padded for name in ("height", "depth", "width", "lspace", "voffset")},
    },
    "mphantom": _EMPTY_OK,
    "menclose": {**_PRESENTATION, "notation": lambda v: True},
    "msub": _SCRIPTS,
    "msup": _SCRIPTS,
    "msubsup": _SCRIPTS,
    "mmultiscripts": _SCRIPTS,
    "mprescripts": _EMPTY_OK,
    "none": _EMPTY_OK,
    "munder": {**_PRESENTATION, "accentunder": _BOOL, "align": _ALIGN},
    "mover": {**_PRESENTATION, "accent": _BOOL, "align": _ALIGN},
    "munderover": {**_PRESENTATION, "accent": _BOOL, "accentunder": _BOOL, "align": _ALIGN},
    "mtable": {
        **_PRESENTATION,
        "rowalign": _list_of(_VERTICAL),
        "columnalign": _list_of(_ALIGN),
        "columnwidth": _list_of(_either(_length, _one_of("auto", "fit"))),
        "width": _either(_length, _one_of("auto")),
        "rowspacing": _list_of(_length),
        "columnspacing": _list_of(_length),
        "rowlines": _list_of(_LINES),
        "columnlines": _list_of(_LINES),
        "frame": _LINES,
        "framespacing": lambda v: len(v.split()) == 2 and all(_length(x) for x in v.split()),
        "equalrows": _BOOL,
        "equalcolumns": _BOOL,
        "displaystyle": _BOOL,
    },
    "mtr": {**_PRESENTATION, "rowalign": _VERTICAL, "columnalign": _list_of(_ALIGN)},
    "mtd": {
        **_PRESENTATION,
        "rowspan": _positive,
        "columnspan": _positive,
        "rowalign": _VERTICAL,
        "columnalign": _ALIGN,
    },
}
# Children the schema requires: exactly n expressions.
ARITY = {
    "mfrac": 2,
    "mroot": 2,
    "msub": 2,
    "msup": 2,
    "msubsup": 3,
    "munder": 2,
    "mover": 2,
    "munderover": 3,
}
TOKENS = frozenset({"mi", "mn", "mo", "mtext", "ms"})  # text only
EMPTY = frozenset({"mspace", "mprescripts", "none"})
# What the schema allows inside: tables hold rows, rows hold cells; nothing else
# holds those.
_INSIDE = {"mtable": frozenset({"mtr"}), "mtr": frozenset({"mtd"})}
_ONLY_IN = {"mtr": "mtable", "mtd": "mtr", "mprescripts": "mmultiscripts", "none": "mmultiscripts"}
_COLOURS = ("mathcolor", "mathbackground")

MISSING = "a command lacks an argument"
NO_MATHML = "TeX that gives no MathML"


def schema_problem(root: Any) -> str:
    """Why the MathML tree (lxml, namespaced) does not pass the schema, or ''; it
    is first made to pass where that loses nothing the author wrote."""
    for element in root.iter():
        if not isinstance(element.tag, str):
            return NO_MATHML
        local = element.tag.rpartition("}")[2]
        allowed = ATTRIBUTES.get(local)
        if allowed is None:
            return f"TeX that gives <{local}>, which a book cannot hold"
        for name in list(element.attrib):
            check = allowed.get(name)
            if check is None:
                del element.attrib[name]
                continue
            value = element.attrib[name]
            if check(value):
                continue
            if name in _COLOURS and (hexed := _hex(value)):
                element.attrib[name] = hexed
                continue
            kind = "colour" if name in _COLOURS else "length" if _is_size(name) else "setting"
            return f"'{value}' is not a {kind} MathML can show"
        children = [child for child in element if isinstance(child.tag, str)]
        names = [child.tag.rpartition("}")[2] for child in children]
        if local in TOKENS and children:
            return MISSING
        if local in EMPTY and (children or (element.text or "").strip()):
            return MISSING
        if local in ARITY and len(children) != ARITY[local]:
            return MISSING
        inside = _INSIDE.get(local)
        if inside is not None and any(name not in inside for name in names):
            return MISSING
        if local == "mmultiscripts" and (
            not names or (len(names) - names.count("mprescripts")) % 2 != 1
        ):
            return MISSING
        for name in names:
            if name in _ONLY_IN and _ONLY_IN[name] != local:
                return MISSING
    return ""


def _is_size(name: str) -> bool:
    return name in {
        "width",
        "height",
        "depth",
        "lspace",
        "rspace",
        "voffset",
        "minsize",
        "maxsize",
        "linethickness",
        "mathsize",
    } or name.endswith(("spacing", "shift"))


def _hex(value: str) -> str:
    """A CSS colour name (`orange`) as MathML 3 can take it (`#ffa500`), or ''."""
    from PIL import ImageColor  # Pillow's table of the CSS colour names

    name = value.strip().lower()
    if name not in ImageColor.colormap:
        return ""
    red, green, blue = ImageColor.getrgb(name)[:3]
    return f"#{red:02x}{green:02x}{blue:02x}"
