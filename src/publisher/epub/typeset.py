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
from typing import Any, Protocol

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
    *,
    per_element: bool = False,
    collected: Texts | None = None,
) -> dict[Face, Use]:
    """For each face the documents use: the characters set in it and the features
    the styles turn on for them. `sheets` are the CSS texts in cascade order;
    `has_char` tells whether a face's font maps a character (a character the
    first family lacks falls to the next family in the list, as in a browser),
    `has_feature` whether it has an OpenType feature (small caps a face lacks are
    drawn from its capitals, which it then needs). `per_element`: match every
    element against every rule with cssselect2 instead of by signatures (the
    reference the tests hold the fast cascade to; the same result). `collected`:
    what `collect` found in the documents, when the caller has it already."""
    if collected is None:
        collected = collect(documents, sheets, per_element=per_element)
    by_family: dict[str, list[Face]] = {}
    for face in faces:
        by_family.setdefault(face.family, []).append(face)
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


class Texts:
    """What the walk finds: the characters of each style (and, apart, the capitals
    that synthesised small caps would need), and its text in document order."""

    def __init__(self) -> None:
        self.chars: dict[tuple[Style, bool], set[str]] = {}
        self.runs: dict[Style, list[str]] = {}


def primary_faces(collected: Texts, faces: Sequence[Face]) -> list[Face]:
    """The face each style found sets its text in, before any fallback: those
    face_uses will surely ask about."""
    by_family: dict[str, list[Face]] = {}
    for face in faces:
        by_family.setdefault(face.family, []).append(face)
    found: dict[Face, None] = {}
    for style, _ in collected.chars:
        primary = next((f for f in style.families if f in by_family), None)
        if primary is not None:
            found[match_face(by_family[primary], style.weight, style.style)] = None
    return list(found)


def collect(documents: Iterable[str], sheets: Sequence[str], *, per_element: bool = False) -> Texts:
    """The text of the documents' bodies by computed style (see face_uses)."""
    import cssselect2
    from lxml import etree

    rules = _Rules()
    rules.extend([UA_SHEET], origin=0)
    rules.extend(sheets, origin=1)
    engine = _PerElement(rules) if per_element else _engine(rules)
    collected = Texts()
    for document in documents:
        root = etree.fromstring(document.encode("utf-8"))
        wrapper = cssselect2.ElementWrapper.from_xml_root(root)
        body = next((e for e in wrapper.iter_subtree() if e.local_name == "body"), None)
        if body is None:
            continue
        parent, inner, previous = _above(body, engine)
        _walk(body, parent, inner, previous, engine, collected)
    return collected


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


Declared = dict[str, list[Any]]  # property -> its winning value
Matched = dict[str | None, Declared]  # pseudo-element (None: the element) -> declared
_NOTHING: Declared = {}


@dataclass(frozen=True)
class _Selector:
    """One selector of a rule, in the order cssselect2's Matcher would number it."""

    compiled: Any  # cssselect2's CompiledSelector: the whole selector, for _PerElement
    parsed: Any  # cssselect2's parsed selector: its compounds, for _Signatures
    payload: tuple[int, int, list[_Declaration]]  # origin, the rule's order, declarations


class _Rules:
    """Every style rule of the sheets: its declarations, its place in the cascade
    and its selectors."""

    def __init__(self) -> None:
        self.selectors: list[_Selector] = []
        self.order = 0

    def extend(self, sheets: Sequence[str], origin: int) -> None:
        import tinycss2

        for text in sheets:
            self._add(tinycss2.parse_stylesheet(text, True, True), origin)

    def _add(self, rules: list[Any], origin: int) -> None:
        import tinycss2
        from cssselect2 import SelectorError, parser
        from cssselect2.compiler import CompiledSelector

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
            try:  # what cssselect2.compile_selector_list does, keeping the parsed trees
                parsed = list(parser.parse(rule.prelude))
                compiled = [CompiledSelector(selector) for selector in parsed]
            except (SelectorError, NotImplementedError):
                continue  # a browser drops the rule too (cssselect2 cannot match `*|`)
            self.order += 1
            payload = (origin, self.order, declarations)
            for one, tree in zip(compiled, parsed, strict=True):
                self.selectors.append(_Selector(one, tree, payload))


def _by_pseudo(matches: Iterable[tuple[Any, int, str | None, Any]]) -> Matched:
    """The winning declarations of the element and of each of its pseudo-elements,
    from its matching selectors (specificity, order, pseudo-element, payload) in
    cssselect2's order: the later of two equal ones wins."""
    ranked: dict[str | None, list[tuple[tuple[Any, ...], _Declaration]]] = {}
    for specificity, _, pseudo, (origin, order, declarations) in matches:
        into = ranked.setdefault(pseudo, [])
        for declaration in declarations:
            into.append(((declaration.important, origin, specificity, order), declaration))
    out: Matched = {}
    for pseudo, found in ranked.items():
        found.sort(key=lambda item: item[0])
        out[pseudo] = {declaration.name: declaration.value for _, declaration in found}
    return out


class _PerElement:
    """The straightforward cascade: every element matched against every selector by
    cssselect2's Matcher. The contexts are unused (None)."""

    top = None

    def __init__(self, rules: _Rules) -> None:
        import cssselect2

        self.matcher = cssselect2.Matcher()
        for selector in rules.selectors:
            self.matcher.add_selector(selector.compiled, selector.payload)

    def match(self, element: Any, inner: Any, previous: Any) -> tuple[Any, Matched]:
        return None, _by_pseudo(self.matcher.match(element))

    def inner(self, state: Any, inner: Any) -> Any:
        return None

    def after(self, state: Any, previous: Any) -> Any:
        return None

    def compute(self, declared: Declared, parent: Style) -> Style:
        return _compute(declared, parent)


class _Unhandled(Exception):
    """A selector the signatures cannot decide: the cascade runs per element."""


def _engine(rules: _Rules) -> Engine:
    try:
        return _Signatures(rules)
    except _Unhandled:
        return _PerElement(rules)


# What a compound's simple selectors may read of an element, beyond its tag: the
# signature holds it. Pseudo-classes never true in a static document are free.
_STATIC = frozenset(
    (
        *("visited", "hover", "active", "focus", "focus-within", "focus-visible", "target"),
        *("target-within", "current", "past", "future", "playing", "paused", "seeking"),
        *("buffering", "stalled", "muted", "volume-locked", "user-valid", "user-invalid"),
        "host",
    )
)
_STRUCTURAL = {
    "first-child": ("first",),
    "last-child": ("last",),
    "only-child": ("first", "last"),
    "root": ("root",),
    "scope": ("root",),
    "empty": ("empty",),
}
_LINKS = ("link", "any-link", "local-link")


def _reads(simple: Any, needs: set[tuple[str, str]]) -> bool:
    """Adds to `needs` what cssselect2's test for the simple selector reads of the
    element (("attr", name) or ("flag", what)); False if it may read more than the
    element itself and the flags (its siblings' tags, its ancestors' state): then
    the compound is tested on every element."""
    from cssselect2 import parser

    if isinstance(simple, (parser.LocalNameSelector, parser.NamespaceSelector)):
        return True  # the tag
    if isinstance(simple, parser.ClassSelector):
        needs.add(("attr", "class"))
        return True
    if isinstance(simple, parser.IDSelector):
        needs.add(("attr", "id"))
        return True
    if isinstance(simple, parser.AttributeSelector):
        if simple.namespace != "":
            return False  # `*|name` cssselect2 cannot compile; `ns|name` needs a prefix
        needs.update({("attr", simple.name), ("attr", simple.lower_name)})
        return True
    if isinstance(simple, parser.PseudoClassSelector):
        if simple.name in _STATIC:
            return True
        if simple.name in _LINKS:
            needs.add(("attr", "href"))
            return True
        needs.update(("flag", flag) for flag in _STRUCTURAL.get(simple.name, ()))
        return simple.name in _STRUCTURAL
    if isinstance(simple, parser.FunctionalPseudoClassSelector):
        needs.add(("flag", "lang"))
        return bool(simple.name == "lang")
    if isinstance(
        simple,
        (parser.NegationSelector, parser.MatchesAnySelector, parser.SpecificityAdjustmentSelector),
    ):
        return all(
            isinstance(inner.parsed_tree, parser.CompoundSelector)
            and all(_reads(s, needs) for s in inner.parsed_tree.simple_selectors)
            for inner in simple.selector_list
        )
    return False  # :has(), :nth-*(), :*-of-type, form states: per element


def _shape(compound: Any) -> tuple[Any, ...] | None:
    """A key equal for compounds cssselect2 compiles alike (None: not compared)."""
    from cssselect2 import parser

    shape: list[tuple[Any, ...]] = []
    for simple in compound.simple_selectors:
        if isinstance(simple, parser.LocalNameSelector):
            shape.append(("tag", simple.local_name, simple.lower_local_name))
        elif isinstance(simple, parser.NamespaceSelector):
            shape.append(("ns", simple.namespace))
        elif isinstance(simple, parser.ClassSelector):
            shape.append(("class", simple.class_name))
        elif isinstance(simple, parser.IDSelector):
            shape.append(("id", simple.ident))
        elif isinstance(simple, parser.PseudoClassSelector):
            shape.append(("pseudo", simple.name))
        elif isinstance(simple, parser.AttributeSelector):
            shape.append(
                (
                    *("attr", simple.namespace, simple.name, simple.lower_name),
                    *(simple.operator, simple.value, simple.case_sensitive),
                )
            )
        else:
            return None
    return tuple(shape)


class _Signatures:
    """The same cascade as _PerElement, matched once per kind of element.

    A selector is a chain of compounds joined by combinators, matched left to
    right as the walk goes down the tree: each element carries the set of chain
    positions ("items") whose prefix matches it, made from the compounds it
    matches, the items its parent and ancestors carry forward (`>` and ` `) and
    those its previous siblings carry forward (`+` and `~`). Those contexts are
    interned as numbers, and an element's items are a function of (its compounds,
    its context from above, its context from before): computed once per distinct
    triple. Which compounds an element matches depends, for most compounds, only
    on its signature: its tag, the attributes the selectors read, and the flags
    the structural pseudo-classes read (first, last, root, empty, lang), so
    cssselect2 tests them once per signature; a compound that may read more (its
    siblings' tags, :nth-child(), :has()) is tested on every element. The result
    is the same as matching every element whole; tests/test_fonts.py compares
    them."""

    top = 0  # the empty context

    def __init__(self, rules: _Rules) -> None:
        import cssselect2
        from cssselect2 import parser
        from cssselect2.compiler import CompiledSelector

        self.compounds = cssselect2.Matcher()  # compounds decided by the signature
        self.tested: list[tuple[Callable[[Any], Any], int]] = []  # tested per element
        needs: set[tuple[str, str]] = set()
        compound_ids: dict[Any, int] = {}
        by_compound: list[list[int]] = []
        self.first: list[bool] = []  # per item: the chain's first compound
        self.then: list[str | None] = []  # per item: the combinator after it
        self.final: list[int | None] = []  # per item: the selector its chain completes
        self.selectors: list[tuple[Any, int, str | None, Any]] = []
        for number, selector in enumerate(rules.selectors):
            if selector.compiled.never_matches:
                continue  # cssselect2's Matcher leaves it out
            chain, combinators = [], []
            tree = selector.parsed.parsed_tree
            while isinstance(tree, parser.CombinedSelector):
                chain.append(tree.right)
                combinators.append(tree.combinator)
                tree = tree.left
            chain.append(tree)
            chain.reverse()
            combinators.reverse()
            if not all(isinstance(c, parser.CompoundSelector) for c in chain) or not all(
                c in (" ", ">", "+", "~") for c in combinators
            ):
                raise _Unhandled(selector.parsed)
            index = len(self.selectors)
            pseudo = selector.parsed.pseudo_element
            self.selectors.append((selector.parsed.specificity, number, pseudo, selector.payload))
            for k, compound in enumerate(chain):
                shape = _shape(compound)
                key = shape if shape is not None else object()
                known = compound_ids.get(key)
                if known is None:
                    known = compound_ids[key] = len(by_compound)
                    by_compound.append([])
                    try:
                        test = CompiledSelector(parser.Selector(compound))
                    except (cssselect2.SelectorError, NotImplementedError) as exc:
                        raise _Unhandled(selector.parsed) from exc
                    local: set[tuple[str, str]] = set()
                    if all(_reads(s, local) for s in compound.simple_selectors):
                        needs |= local
                        self.compounds.add_selector(test, known)
                    elif not test.never_matches:
                        self.tested.append((test.test, known))
                by_compound[known].append(len(self.first))
                self.first.append(k == 0)
                self.then.append(combinators[k] if k < len(combinators) else None)
                self.final.append(index if k == len(chain) - 1 else None)
        self.items_of = [tuple(items) for items in by_compound]
        self.attributes = tuple(sorted(name for kind, name in needs if kind == "attr"))
        flags = {name for kind, name in needs if kind == "flag"}
        self.structure = bool(flags - {"lang"})
        self.lang = "lang" in flags
        # Interned: compound sets (as their items), item sets, contexts.
        self.by_signature: dict[tuple[Any, ...], frozenset[int]] = {}
        self.candidates: list[tuple[int, ...]] = []
        self.candidate_ids: dict[frozenset[int], int] = {}
        self.contexts: list[tuple[frozenset[int], frozenset[int]]] = [(frozenset(), frozenset())]
        self.context_ids = {self.contexts[0]: 0}
        self.states: list[frozenset[int]] = []
        self.state_ids: dict[frozenset[int], int] = {}
        self.matched_of: list[Matched] = []
        self.matched_by_final: dict[tuple[int, ...], Matched] = {}
        self.memo: dict[tuple[int, int, int], int] = {}
        self.inner_memo: dict[tuple[int, int], int] = {}
        self.after_memo: dict[tuple[int, int], int] = {}
        self.computed: dict[tuple[int, Style], Style] = {}

    def _signature(self, element: Any) -> tuple[Any, ...]:
        node = element.etree_element
        get = node.get
        key: tuple[Any, ...] = (node.tag, *[get(name) for name in self.attributes])
        if self.structure:
            index = element.index
            key += (
                index == 0,
                index + 1 == len(element.etree_siblings),
                element.parent is None,
                not (element.etree_children or node.text),
            )
        if self.lang:
            key += (element.lang,)
        return key

    def _candidates(self, element: Any) -> int:
        """The items whose compound the element matches, interned."""
        signature = self._signature(element)
        compounds = self.by_signature.get(signature)
        if compounds is None:
            found = self.compounds.match(element)
            compounds = self.by_signature[signature] = frozenset(c for *_, c in found)
        if self.tested:
            extra = [known for test, known in self.tested if test(element)]
            if extra:
                compounds = compounds.union(extra)
        known = self.candidate_ids.get(compounds)
        if known is None:
            known = self.candidate_ids[compounds] = len(self.candidates)
            self.candidates.append(tuple(sorted(i for c in compounds for i in self.items_of[c])))
        return known

    def _context(self, carried: frozenset[int], available: frozenset[int]) -> int:
        key = (carried, available)
        known = self.context_ids.get(key)
        if known is None:
            known = self.context_ids[key] = len(self.contexts)
            self.contexts.append(key)
        return known

    def match(self, element: Any, inner: int, previous: int) -> tuple[int, Matched]:
        key = (self._candidates(element), inner, previous)
        state = self.memo.get(key)
        if state is None:
            available = self.contexts[inner][1] | self.contexts[previous][1]
            first = self.first
            items = frozenset(i for i in self.candidates[key[0]] if first[i] or i - 1 in available)
            state = self.state_ids.get(items)
            if state is None:
                state = self.state_ids[items] = len(self.states)
                self.states.append(items)
                finals = tuple(sorted(f for i in items if (f := self.final[i]) is not None))
                matched = self.matched_by_final.get(finals)
                if matched is None:
                    matched = _by_pseudo(sorted(self.selectors[f] for f in finals))
                    self.matched_by_final[finals] = matched
                self.matched_of.append(matched)
            self.memo[key] = state
        return state, self.matched_of[state]

    def inner(self, state: int, inner: int) -> int:
        """The context the element's children are matched in."""
        known = self.inner_memo.get((state, inner))
        if known is None:
            items, then = self.states[state], self.then
            carried = self.contexts[inner][0] | {i for i in items if then[i] == " "}
            available = carried | {i for i in items if then[i] == ">"}
            known = self.inner_memo[state, inner] = self._context(carried, available)
        return known

    def after(self, state: int, previous: int) -> int:
        """The context the element's next sibling is matched in."""
        known = self.after_memo.get((state, previous))
        if known is None:
            items, then = self.states[state], self.then
            carried = self.contexts[previous][0] | {i for i in items if then[i] == "~"}
            available = carried | {i for i in items if then[i] == "+"}
            known = self.after_memo[state, previous] = self._context(carried, available)
        return known

    def compute(self, declared: Declared, parent: Style) -> Style:
        # The declared dicts live as long as the engine: their ids are stable.
        key = (id(declared), parent)
        style = self.computed.get(key)
        if style is None:
            style = self.computed[key] = _compute(declared, parent)
        return style


class Engine(Protocol):
    """How the walk matches elements: _Signatures, or _PerElement when a selector
    is out of the signatures' reach. A context is what the element's ancestors
    (`inner`) or previous siblings (`previous`) pass on; a state, what the
    element passes on."""

    top: Any  # the context of a root, or of a first child

    def match(self, element: Any, inner: Any, previous: Any) -> tuple[Any, Matched]: ...

    def inner(self, state: Any, inner: Any) -> Any: ...

    def after(self, state: Any, previous: Any) -> Any: ...

    def compute(self, declared: Declared, parent: Style) -> Style: ...


def _above(body: Any, engine: Engine) -> tuple[Style, Any, Any]:
    """The style the body inherits, and the contexts it is matched in: its
    ancestors', each matched after its previous siblings."""
    style, inner = Style(), engine.top
    for node in [*_ancestors(body), body]:
        previous = engine.top
        if node.parent is not None:
            for sibling in node.parent.iter_children():
                if sibling.etree_element is node.etree_element:
                    break
                previous = engine.after(engine.match(sibling, inner, previous)[0], previous)
        if node is body:
            break
        state, matched = engine.match(node, inner, previous)
        style = engine.compute(matched.get(None, _NOTHING), style)
        inner = engine.inner(state, inner)
    return style, inner, previous


def _walk(
    element: Any, parent: Style, inner: Any, previous: Any, engine: Engine, out: Texts
) -> Any:
    """Collects the element's text in its styles; returns its state, for the
    context of its next sibling."""
    state, matched = engine.match(element, inner, previous)
    declared = matched.get(None, _NOTHING)
    if _keyword(declared.get("display", [])) == "none":
        return state  # never drawn (the navigation's hidden landmarks and page list)
    style = engine.compute(declared, parent)
    inner = engine.inner(state, inner)
    _contents(element, style, matched, inner, engine, out)
    first_line = matched.get("first-line")
    if first_line:
        # Which words end up on the first line is a matter of layout: count all.
        _contents(element, engine.compute(first_line, style), matched, inner, engine, out)
    first_letter = matched.get("first-letter")
    if first_letter:
        _add(out, engine.compute(first_letter, style), _first_letter(element))
    return state


def _contents(
    element: Any, style: Style, matched: Matched, inner: Any, engine: Engine, out: Texts
) -> None:
    node = element.etree_element
    before = matched.get("before")
    if before:
        _add(out, engine.compute(before, style), _content(before, node))
    if _local(node) == "li":
        _add(out, style, _marker(style.list_type))
    alt = node.get("alt")
    if alt:
        _add(out, style, alt)
    _add(out, style, node.text or "")
    previous = engine.top
    for child in element.iter_children():
        previous = engine.after(_walk(child, style, inner, previous, engine, out), previous)
        _add(out, style, child.etree_element.tail or "")
    after = matched.get("after")
    if after:
        _add(out, engine.compute(after, style), _content(after, node))


def _marker(list_type: str) -> str:
    if list_type.startswith(STRING_MARKER):
        return list_type.removeprefix(STRING_MARKER)
    return MARKERS.get(list_type, MARKERS["decimal"] if list_type != "none" else "")


def _local(node: Any) -> str:
    tag = node.tag if isinstance(node.tag, str) else ""
    return str(tag.rsplit("}", 1)[-1])


def _add(out: Texts, style: Style, text: str) -> None:
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
