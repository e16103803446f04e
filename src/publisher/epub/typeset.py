"""Which characters the EPUB sets in which embedded face, and with which OpenType
features: a small CSS cascade over the EPUB's own documents, for fonts.py to
subset each face to what it shows.

Only what chooses a face or changes the characters drawn is computed:
font-family, font-weight, font-style (and the `font` shorthand), the
font-variant longhands and font-feature-settings (features), text-transform and
small caps (upper-case forms), list markers, and the `content` of ::before and
::after; text that is not drawn (`display: none`, the `hidden` attribute) counts
for nothing. The cascade is the author sheets over a user-agent sheet holding the
defaults that pick faces (bold `strong`, italic `em`...); selectors are matched
by cssselect2, the engine WeasyPrint uses. Where the result cannot be known
without laying the page out, it errs on the side of more characters: the whole
text of an element styled by ::first-line is counted in both faces, rules
inside @media and @supports count as if they applied, and every used face gets
the space and both hyphens that line breaking may draw."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

# The user agent's defaults that change the face or the characters (HTML's
# rendering section), written as CSS.
UA_SHEET = """
[hidden] { display: none; }
b, strong { font-weight: bolder; }
i, cite, em, var, dfn, address { font-style: italic; }
h1, h2, h3, h4, h5, h6, th { font-weight: bold; }
code, kbd, samp, pre, tt { font-family: monospace; }
q::before { content: open-quote; }
q::after { content: close-quote; }
ul, menu { list-style-type: disc; }
ol { list-style-type: decimal; }
ul ul, ol ul, ul menu, ol menu { list-style-type: circle; }
ul ul ul, ul ol ul, ol ul ul, ol ol ul { list-style-type: square; }
"""

# What line breaking and the quotes property may draw beyond the text itself.
ALWAYS = " -\u2010"
QUOTES = "\u201c\u201d\u2018\u2019\u00ab\u00bb\u2039\u203a\u201e\u201a"
MARKERS = {
    "disc": "\u2022 ",
    "circle": "\u25e6 ",
    "square": "\u25aa ",
    "disclosure-open": "\u25be ",
    "disclosure-closed": "\u25b8 ",
    "decimal": "0123456789. ",
    "decimal-leading-zero": "0123456789. ",
    "lower-roman": "ivxlcdm. ",
    "upper-roman": "IVXLCDM. ",
    "lower-alpha": "abcdefghijklmnopqrstuvwxyz. ",
    "lower-latin": "abcdefghijklmnopqrstuvwxyz. ",
    "upper-alpha": "ABCDEFGHIJKLMNOPQRSTUVWXYZ. ",
    "upper-latin": "ABCDEFGHIJKLMNOPQRSTUVWXYZ. ",
}
STRING_MARKER = "string:"  # a list-style-type given as a string: its text follows

# OpenType features for the font-variant longhands' keywords.
CAPS = {
    "small-caps": ("smcp",),
    "all-small-caps": ("smcp", "c2sc"),
    "petite-caps": ("pcap",),
    "all-petite-caps": ("pcap", "c2pc"),
    "unicase": ("unic",),
    "titling-caps": ("titl",),
}
VARIANT_FEATURES = {
    "lining-nums": "lnum",
    "oldstyle-nums": "onum",
    "proportional-nums": "pnum",
    "tabular-nums": "tnum",
    "diagonal-fractions": "frac",
    "stacked-fractions": "afrc",
    "ordinal": "ordn",
    "slashed-zero": "zero",
    "common-ligatures": "liga",
    "discretionary-ligatures": "dlig",
    "historical-ligatures": "hlig",
    "contextual": "calt",
    "super": "sups",
    "sub": "subs",
    "historical-forms": "hist",
}
FONT_STYLES = ("normal", "italic", "oblique")
WEIGHTS = {"normal": 400, "bold": 700}


@dataclass(frozen=True)
class Face:
    """One @font-face rule: the faces of a family differ by weight and style."""

    family: str  # lower-cased
    weight: int
    style: str  # normal, italic or oblique


@dataclass(frozen=True)
class Style:
    """The computed values that matter here. Inherited, all of them."""

    families: tuple[str, ...] = ()  # lower-cased, as listed
    weight: int = 400
    style: str = "normal"
    caps: str = "normal"
    transform: str = "none"
    features: frozenset[str] = frozenset()  # from font-variant-* and font-feature-settings
    list_type: str = "disc"


@dataclass(frozen=True)
class Use:
    chars: frozenset[str]
    features: frozenset[str]
    text: str = ""  # the runs set in the face, one a line: which ligatures can form


def match_face(faces: Sequence[Face], weight: int, style: str) -> Face:
    """CSS Fonts 4 font matching (5.2): the style first, then the nearest weight."""
    order = {
        "italic": ("italic", "oblique", "normal"),
        "oblique": ("oblique", "italic", "normal"),
    }.get(style, ("normal", "oblique", "italic"))
    for wanted in order:
        candidates = [f for f in faces if f.style == wanted]
        if candidates:
            break
    weights = sorted({f.weight for f in candidates})
    below = [w for w in weights if w < weight]
    above = [w for w in weights if w > weight]
    if weight in weights:
        chosen = weight
    elif 400 <= weight <= 500:
        near = [w for w in above if w <= 500]
        chosen = near[0] if near else below[-1] if below else above[0]
    elif weight < 400:
        chosen = below[-1] if below else above[0]
    else:
        chosen = above[0] if above else below[-1]
    return next(f for f in candidates if f.weight == chosen)


def face_uses(
    documents: Iterable[str],
    sheets: Sequence[str],
    faces: Sequence[Face],
    has_char: Callable[[Face, str], bool],
    has_feature: Callable[[Face, str], bool],
) -> dict[Face, Use]:
    """For each face the documents use: the characters set in it and the features
    the styles turn on for them. `sheets` are the CSS texts in cascade order;
    `has_char` tells whether a face's font maps a character (a character the
    first family lacks falls to the next family in the list, as in a browser),
    `has_feature` whether it has an OpenType feature (small caps a face lacks are
    drawn from its capitals, which it then needs)."""
    import cssselect2
    from lxml import etree

    rules = _Rules([UA_SHEET], origin=0)
    rules.extend(sheets, origin=1)
    by_family: dict[str, list[Face]] = {}
    for face in faces:
        by_family.setdefault(face.family, []).append(face)
    collected = _Texts()
    for document in documents:
        root = etree.fromstring(document.encode("utf-8"))
        wrapper = cssselect2.ElementWrapper.from_xml_root(root)
        body = next((e for e in wrapper.iter_subtree() if e.local_name == "body"), None)
        if body is None:
            continue
        parent = rules.computed(_ancestors(body), Style())
        _walk(body, parent, rules, collected)
    uses: dict[Face, tuple[set[str], set[str]]] = {}
    runs: dict[Face, list[str]] = {}
    for style, pieces in collected.runs.items():
        primary = next((f for f in style.families if f in by_family), None)
        if primary is not None:
            face = match_face(by_family[primary], style.weight, style.style)
            runs.setdefault(face, []).append("".join(pieces))
    for (style, synthetic), chars in collected.chars.items():
        features = style.features | frozenset(CAPS.get(style.caps, ()))
        for char in chars:
            for family in style.families:
                family_faces = by_family.get(family)
                if not family_faces:
                    continue
                face = match_face(family_faces, style.weight, style.style)
                if synthetic and has_feature(face, CAPS[style.caps][0]):
                    break  # the face has real small caps
                if has_char(face, char):
                    found = uses.setdefault(face, (set(), set()))
                    found[0].add(char)
                    found[1].update(features)
                    break
                # A letter the face lacks whole is drawn from its parts, when it has
                # them (a shaper decomposes it: "ǹ" as n and a combining grave).
                parts = unicodedata.normalize("NFD", char)
                if len(parts) > 1 and all(has_char(face, part) for part in parts):
                    found = uses.setdefault(face, (set(), set()))
                    found[0].update(parts)
                    found[1].update(features)
                    break
    return {
        face: Use(
            frozenset(chars | set(ALWAYS)), frozenset(features), "\n".join(runs.get(face, []))
        )
        for face, (chars, features) in uses.items()
    }


class _Texts:
    """What the walk finds: the characters of each style (and, apart, the capitals
    that synthesised small caps would need), and its text in document order."""

    def __init__(self) -> None:
        self.chars: dict[tuple[Style, bool], set[str]] = {}
        self.runs: dict[Style, list[str]] = {}


def _ancestors(element: Any) -> list[Any]:
    chain = []
    node = element.parent
    while node is not None:
        chain.append(node)
        node = node.parent
    return chain[::-1]


# --- the cascade -----------------------------------------------------------------


@dataclass(frozen=True)
class _Declaration:
    name: str
    value: list[Any]
    important: bool


class _Rules:
    """Every style rule of the sheets, for cssselect2 to match; each match carries
    its declarations and its place in the cascade."""

    def __init__(self, sheets: Sequence[str], origin: int) -> None:
        import cssselect2

        self.matcher = cssselect2.Matcher()
        self.order = 0
        self.extend(sheets, origin)

    def extend(self, sheets: Sequence[str], origin: int) -> None:
        import tinycss2

        for text in sheets:
            self._add(tinycss2.parse_stylesheet(text, True, True), origin)

    def _add(self, rules: list[Any], origin: int) -> None:
        import cssselect2
        import tinycss2

        for rule in rules:
            if rule.type == "at-rule" and rule.lower_at_keyword in ("media", "supports"):
                if rule.content:
                    inner = tinycss2.parse_rule_list(
                        rule.content, skip_comments=True, skip_whitespace=True
                    )
                    self._add(inner, origin)
                continue
            if rule.type != "qualified-rule":
                continue
            declarations = [
                _Declaration(d.lower_name, d.value, d.important)
                for d in tinycss2.parse_blocks_contents(
                    rule.content, skip_comments=True, skip_whitespace=True
                )
                if d.type == "declaration"
            ]
            if not declarations:
                continue
            try:
                selectors = cssselect2.compile_selector_list(rule.prelude)
            except cssselect2.SelectorError:
                continue  # a browser drops the rule too
            self.order += 1
            for selector in selectors:
                self.matcher.add_selector(selector, (origin, self.order, declarations))

    def declared(self, element: Any) -> dict[str | None, dict[str, list[Any]]]:
        """The winning value of each property for the element (key None) and for
        each of its pseudo-elements that a rule styles: one match for all of them
        (matching is most of the cascade's time: once an element, not five)."""
        ranked: dict[str | None, list[tuple[tuple[bool, int, Any, int], _Declaration]]] = {}
        for specificity, _, pseudo, (origin, order, declarations) in self.matcher.match(element):
            found = ranked.setdefault(pseudo, [])
            for declaration in declarations:
                found.append(((declaration.important, origin, specificity, order), declaration))
        out: dict[str | None, dict[str, list[Any]]] = {}
        for pseudo, found in ranked.items():
            found.sort(key=lambda item: item[0])
            out[pseudo] = {declaration.name: declaration.value for _, declaration in found}
        return out

    def computed(self, chain: Iterable[Any], style: Style) -> Style:
        for element in chain:
            style = _compute(self.declared(element).get(None, {}), style)
        return style


_NONE: dict[str, list[Any]] = {}


def _walk(element: Any, parent: Style, rules: _Rules, out: _Texts) -> None:
    every = rules.declared(element)
    declared = every.get(None, _NONE)
    if _keyword(declared.get("display", [])) == "none":
        return  # never drawn (the navigation's hidden landmarks and page list)
    style = _compute(declared, parent)
    _contents(element, style, every, rules, out)
    first_line = every.get("first-line")
    if first_line:
        # Which words end up on the first line is a matter of layout: count all.
        _contents(element, _compute(first_line, style), every, rules, out)
    first_letter = every.get("first-letter")
    if first_letter:
        _add(out, _compute(first_letter, style), _first_letter(element))


def _contents(
    element: Any,
    style: Style,
    every: dict[str | None, dict[str, list[Any]]],
    rules: _Rules,
    out: _Texts,
) -> None:
    node = element.etree_element
    before = every.get("before")
    if before:
        _add(out, _compute(before, style), _content(before, node))
    if _local(node) == "li":
        _add(out, style, _marker(style.list_type))
    alt = node.get("alt")
    if alt:
        _add(out, style, alt)
    _add(out, style, node.text or "")
    for child in element.iter_children():
        _walk(child, style, rules, out)
        _add(out, style, child.etree_element.tail or "")
    after = every.get("after")
    if after:
        _add(out, _compute(after, style), _content(after, node))


def _marker(list_type: str) -> str:
    if list_type.startswith(STRING_MARKER):
        return list_type.removeprefix(STRING_MARKER)
    return MARKERS.get(list_type, MARKERS["decimal"] if list_type != "none" else "")


def _local(node: Any) -> str:
    tag = node.tag if isinstance(node.tag, str) else ""
    return str(tag.rsplit("}", 1)[-1])


def _add(out: _Texts, style: Style, text: str) -> None:
    if not text or not style.families:
        return
    variants = [text]
    if style.transform == "uppercase":
        variants.append(text.upper())
    elif style.transform == "lowercase":
        variants.append(text.lower())
    elif style.transform == "capitalize":
        variants += [text.title(), text.upper()]
    chars = out.chars.setdefault((style, False), set())
    for variant in variants:
        chars.update(variant)
    out.runs.setdefault(style, []).append("\n".join(variants))
    if style.caps in CAPS:
        # Small caps a face lacks are drawn from its capitals (synthesised).
        out.chars.setdefault((style, True), set()).update(text.upper())


def _first_letter(element: Any) -> str:
    """The ::first-letter's text: leading punctuation, the first letter or digit
    with its combining marks, and the punctuation right after it."""
    text = "".join(element.etree_element.itertext()).lstrip()
    out = []
    seen_letter = False
    for char in text:
        kind = unicodedata.category(char)
        if not seen_letter:
            out.append(char)
            seen_letter = kind[0] in "LN"
            continue
        if kind[0] in "MP":
            out.append(char)
            continue
        break
    return "".join(out)


def _content(declared: dict[str, list[Any]], node: Any) -> str:
    """The text a `content` value generates (strings, quotes, counters, attr())."""
    value = declared.get("content")
    if not value:
        return ""
    out = []
    for token in value:
        if token.type == "string":
            out.append(token.value)
        elif token.type == "ident" and token.lower_value in ("open-quote", "close-quote"):
            out.append(QUOTES)
        elif token.type == "function" and token.lower_name == "attr":
            names = [t.value for t in token.arguments if t.type == "ident"]
            if names:
                out.append(node.get(names[0], ""))
        elif token.type == "function" and token.lower_name in ("counter", "counters"):
            idents = [t.lower_value for t in token.arguments if t.type == "ident"]
            kind = idents[1] if len(idents) > 1 else "decimal"
            out.append(MARKERS.get(kind, MARKERS["decimal"]))
            out.extend(t.value for t in token.arguments if t.type == "string")
    return "".join(out)


# --- computed values -------------------------------------------------------------


def _compute(declared: dict[str, list[Any]], parent: Style) -> Style:
    style = parent
    for name, value in declared.items():
        style = _apply(style, parent, name, value)
    return style


def _words(value: list[Any]) -> list[Any]:
    return [t for t in value if t.type not in ("whitespace", "comment")]


def _keyword(value: list[Any]) -> str | None:
    words = _words(value)
    if len(words) == 1 and words[0].type == "ident":
        return str(words[0].lower_value)
    return None


def _apply(style: Style, parent: Style, name: str, value: list[Any]) -> Style:
    keyword = _keyword(value)
    if keyword in ("inherit", "unset"):
        return style  # every property here is inherited: the parent's value stands
    if name == "font-family":
        if keyword == "initial":
            return replace(style, families=())
        return replace(style, families=families(value))
    if name == "font-weight":
        return replace(style, weight=_weight(value, parent.weight, style.weight))
    if name == "font-style":
        return replace(style, style=_font_style(value, style.style))
    if name == "font":
        return _font_shorthand(style, parent, value)
    if name in ("font-variant-caps", "font-variant"):
        words = [t.lower_value for t in _words(value) if t.type == "ident"]
        if name == "font-variant" and keyword in ("normal", "none", "initial"):
            return replace(style, caps="normal", features=frozenset())
        caps = next((w for w in words if w in CAPS or w == "normal"), None)
        if name == "font-variant":
            features = frozenset(VARIANT_FEATURES[w] for w in words if w in VARIANT_FEATURES)
            return replace(style, caps=caps or "normal", features=features)
        return replace(style, caps=caps or "normal")
    if name in (
        "font-variant-numeric",
        "font-variant-ligatures",
        "font-variant-position",
        "font-variant-alternates",
        "font-variant-east-asian",
    ):
        words = [t.lower_value for t in _words(value) if t.type == "ident"]
        added = frozenset(VARIANT_FEATURES[w] for w in words if w in VARIANT_FEATURES)
        return replace(style, features=style.features | added)
    if name == "font-feature-settings":
        return replace(style, features=style.features | _feature_settings(value))
    if name == "text-transform":
        return replace(style, transform=keyword or "none")
    if name in ("list-style-type", "list-style"):
        words = [t.lower_value for t in _words(value) if t.type == "ident"]
        kind = next((w for w in words if w in MARKERS or w == "none"), None)
        strings = [t.value for t in _words(value) if t.type == "string"]
        if kind is None and strings:
            kind = STRING_MARKER + strings[0]
        return replace(style, list_type=kind or style.list_type)
    return style


def families(value: list[Any]) -> tuple[str, ...]:
    """A font-family value as lower-cased names: quoted strings, or runs of idents."""
    names: list[str] = []
    run: list[str] = []
    for token in value:
        if token.type == "literal" and token.value == ",":
            if run:
                names.append(" ".join(run).lower())
            run = []
        elif token.type == "string":
            names.append(token.value.lower())
        elif token.type == "ident":
            run.append(token.value)
    if run:
        names.append(" ".join(run).lower())
    return tuple(names)


def _weight(value: list[Any], parent: int, current: int) -> int:
    words = _words(value)
    if not words:
        return current
    token = words[0]
    if token.type == "number" and token.is_integer:
        return int(token.int_value)
    if token.type == "number":
        return round(float(token.value))
    if token.type != "ident":
        return current
    word = token.lower_value
    if word in WEIGHTS:
        return WEIGHTS[word]
    if word == "initial":
        return 400
    if word == "bolder":
        return 400 if parent < 350 else 700 if parent < 550 else 900
    if word == "lighter":
        return parent if parent < 100 else 100 if parent < 550 else 400 if parent < 750 else 700
    return current


def _font_style(value: list[Any], current: str) -> str:
    keyword = next((t.lower_value for t in _words(value) if t.type == "ident"), None)
    if keyword == "initial":
        return "normal"
    return keyword if keyword in FONT_STYLES else current


def _feature_settings(value: list[Any]) -> frozenset[str]:
    tags: set[str] = set()
    words = _words(value)
    for n, token in enumerate(words):
        if token.type != "string" or len(token.value) != 4:
            continue
        following = words[n + 1] if n + 1 < len(words) else None
        off = following is not None and (
            (following.type == "number" and following.value == 0)
            or (following.type == "ident" and following.lower_value == "off")
        )
        if not off:
            tags.add(token.value)
    return frozenset(tags)


def _font_shorthand(style: Style, parent: Style, value: list[Any]) -> Style:
    """`font: [style] [variant] [weight] [stretch] size[/line-height] family`."""
    words = _words(value)
    size_at = next((n for n, t in enumerate(words) if t.type in ("dimension", "percentage")), None)
    if size_at is None:
        return style  # a system font keyword: the face is the system's
    weight, font_style, caps = 400, "normal", "normal"
    for token in words[:size_at]:
        if token.type == "number":
            weight = _weight([token], parent.weight, weight)
        elif token.type == "ident":
            word = token.lower_value
            if word in ("bold", "bolder", "lighter"):
                weight = _weight([token], parent.weight, weight)
            elif word in ("italic", "oblique"):
                font_style = word
            elif word == "small-caps":
                caps = word
    rest = words[size_at + 1 :]
    if rest and rest[0].type == "literal" and rest[0].value == "/":
        rest = rest[2:]
    family_tokens = value[value.index(rest[0]) :] if rest else []
    return replace(
        style,
        families=families(family_tokens) or style.families,
        weight=weight,
        style=font_style,
        caps=caps,
        features=frozenset(),
    )
