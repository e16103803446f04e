"""Citations, Pandoc's way, formatted by citeproc-py with a CSL style.

The `@` syntax is read here once, for citations and cross-references alike
(`citation_rule`): `@key` (in the text: "Smith (2020)"), `[@key, p. 33]`,
`[-@key]` (no author), `[see @a, pp. 3-4; @b]` (prefixes, locators with Pandoc's
locator terms, suffixes). A key with a cross-reference prefix (`fig-`, `tbl-`,
`lst-`, `eq-`, `sec-`) is a cross-reference (render/xref.py); any other is a
citation, read only when the manuscript has a bibliography (otherwise `@name`
stays text, as in Pandoc without citeproc). An e-mail address (`a@b.org`) and an
`@` inside a word or code are text.

`Citations` formats every citation of the book in reading order before any
chapter is rendered (citeproc needs them all: year suffixes, numbers, ibid.),
and the bibliography's entries; with a note style (Chicago notes) each citation
in the text becomes a footnote, as Pandoc makes it. citeproc-py is imported only
when a manuscript has a bibliography."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from html import escape, unescape
from importlib import resources
from pathlib import Path
from typing import Any

from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location, ResourceError
from publisher.ids import IdPool
from publisher.model import Bibliography, BookMeta
from publisher.render.xref import Crossrefs, Words, label_kind

DEFAULT_STYLE = "chicago-author-date-16th-edition.csl"

# --- the @ syntax -----------------------------------------------------------------------

# Pandoc's key: a letter, digit or _ first, then those and internal punctuation.
_KEY = re.compile(r"\w(?:\w|[:.#$%&\-+?<>~/](?=\w))*")


@dataclass(frozen=True)
class CiteItem:
    key: str
    prefix: str = ""
    suffix: str = ""  # what follows the locator
    locator: str = ""
    label: str = ""  # the CSL locator term: "page", "chapter", "sub verbo"
    suppress_author: bool = False  # [-@key]
    author_in_text: bool = False  # @key
    capitalize: bool = False  # @Fig-map

    @property
    def is_xref(self) -> bool:
        return label_kind(self.key) is not None


# Locator terms, Pandoc's English ones: the word, its plural, their abbreviations.
_TERMS = {
    "book": "book books bk. bks.",
    "chapter": "chapter chapters chap. chaps. ch.",
    "column": "column columns col. cols.",
    "figure": "figure figures fig. figs.",
    "folio": "folio folios fol. fols.",
    "number": "number numbers no. nos.",
    "line": "line lines l. ll.",
    "note": "note notes n. nn.",
    "opus": "opus opera op. opp.",
    "page": "page pages p. pp.",
    "paragraph": "paragraph paragraphs para. paras. ¶ ¶¶",
    "part": "part parts pt. pts.",
    "section": "section sections sec. secs. § §§",
    "sub verbo": "s.v. s.vv.",
    "verse": "verse verses v. vv.",
    "volume": "volume volumes vol. vols.",
}
LOCATOR_TERMS = {word: label for label, words in _TERMS.items() for word in words.split()}
LOCATOR_TERMS["sub verbo"] = LOCATOR_TERMS["sub verbis"] = "sub verbo"
_TERM = re.compile(
    "("
    + "|".join(re.escape(t) for t in sorted(LOCATOR_TERMS, key=len, reverse=True))
    + r")(?=\s|\d|\{|$)",
    re.IGNORECASE,
)
_ROMAN = r"[ivxlcdmIVXLCDM]+(?![\w])"
_CHUNK = rf"(?:{_ROMAN}|[^\s,;]*\d[^\s,;]*)"
_LOCATOR = re.compile(
    rf"{_CHUNK}(?:\s*[-–—]\s*{_CHUNK})?(?:\s*(?:,|&|and)\s*{_CHUNK}(?:\s*[-–—]\s*{_CHUNK})?)*"
)


def split_locator(suffix: str) -> tuple[str, str, str]:
    """(label, locator, rest) of a citation's suffix, as Pandoc reads it: `, p. 33`
    is page 33; `, 33` too (a bare number is a page); `, chap. 2, and elsewhere`
    keeps `, and elsewhere` as the suffix."""
    text = suffix.lstrip()
    if text.startswith(","):
        text = text[1:].lstrip()
    label = ""
    term = _TERM.match(text)
    if term:
        label = LOCATOR_TERMS[term.group(1).lower()]
        text = text[term.end() :].lstrip()
    if text.startswith("{") and "}" in text:
        end = text.index("}")
        return label or "page", text[1:end], text[end + 1 :]
    found = _LOCATOR.match(text)
    if not found or not found.group(0).strip():
        return "", "", suffix
    locator = found.group(0).strip()
    return label or "page", locator, text[found.end() :]


# A bracketed citation is looked for within this many characters of its `[`: no
# citation is longer, and a paragraph of unclosed brackets must not cost the square
# of its length.
MAX_BRACKET = 2000
_AFTER = re.compile(r" ?\[([^\[\]@]*)\](?![(\[])")


def citation_rule(citations: bool) -> Callable[[StateInline, bool], bool]:
    """The inline rule for `@` and `[`: a `citation` token whose `meta["items"]`
    are CiteItems. `citations`: whether keys without a cross-reference prefix are
    citations (the manuscript has a bibliography)."""

    def rule(state: StateInline, silent: bool) -> bool:
        char = state.src[state.pos]
        if char == "@":
            return _bare(state, silent, citations)
        if char == "[":
            return _bracketed(state, silent, citations)
        return False

    return rule


def _key_at(src: str, start: int) -> tuple[str, int] | None:
    """The key after an `@` at `start - 1`: Pandoc's form, or `@{any key}`."""
    if src.startswith("{", start):
        end = src.find("}", start)
        if end > start + 1:
            return src[start + 1 : end], end + 1
        return None
    found = _KEY.match(src, start)
    return (found.group(0), found.end()) if found else None


def _bare(state: StateInline, silent: bool, citations: bool) -> bool:
    src, pos = state.src, state.pos
    if pos > 0 and (src[pos - 1].isalnum() or src[pos - 1] in "_@"):
        return False  # an e-mail address, or an @ inside a word
    found = _key_at(src, pos + 1)
    if found is None:
        return False
    key, end = found
    xref = label_kind(key) is not None
    if not xref and not citations:
        return False
    suffix = ""
    if not xref:  # `@smith [p. 33] says`: the bracket is the suffix
        after = _AFTER.match(src, end, min(state.posMax, end + MAX_BRACKET))
        if after:
            suffix, end = after.group(1), after.end()
    if not silent:
        label, locator, rest = split_locator(suffix) if suffix else ("", "", "")
        item = CiteItem(
            key,
            suffix=rest,
            locator=locator,
            label=label,
            author_in_text=True,
            capitalize=xref and key[0].isupper(),
        )
        _push(state, [item], src[pos:end], bracketed=False)
    state.pos = end
    return True


def _bracketed(state: StateInline, silent: bool, citations: bool) -> bool:
    src, pos = state.src, state.pos
    if src.find("@", pos, pos + MAX_BRACKET) < 0:
        return False
    end = _closing_bracket(src, pos, min(state.posMax, pos + MAX_BRACKET))
    if end is None or src[end + 1 : end + 2] in ("(", "[", "{"):
        return False  # a link, an image's text, a reference link or a span (Pandoc's)
    items = []
    for piece in _split_items(src[pos + 1 : end]):
        item = _item(piece)
        if item is None:
            return False
        items.append(item)
    if not items or (not citations and not all(i.is_xref for i in items)):
        return False
    if not silent:
        _push(state, items, src[pos : end + 1], bracketed=True)
    state.pos = end + 1
    return True


def _closing_bracket(src: str, start: int, limit: int) -> int | None:
    depth, index = 0, start
    while index < limit:
        char = src[index]
        if char == "\\":
            index += 2
            continue
        if char == "`":
            return None  # code inside: not a citation
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None


def _split_items(text: str) -> list[str]:
    return [piece for piece in text.split(";")]


_ITEM = re.compile(r"(?:^|(?<=[\s(\[]))(-?)@")


def _item(piece: str) -> CiteItem | None:
    """One item of a bracketed citation: `see -@key, p. 3, suffix`."""
    found = _ITEM.search(piece)
    if found is None:
        return None
    key_found = _key_at(piece, found.end())
    if key_found is None:
        return None
    key, end = key_found
    prefix = " ".join(piece[: found.start()].split())
    rest = piece[end:]
    label, locator, suffix = split_locator(rest) if rest.strip() else ("", "", "")
    if rest.strip() and not locator:
        suffix = rest
    return CiteItem(
        key,
        prefix=prefix,
        suffix=" ".join(suffix.split()) if suffix.strip() else "",
        locator=locator,
        label=label,
        suppress_author=bool(found.group(1)),
        capitalize=label_kind(key) is not None and key[0].isupper(),
    )


def _push(state: StateInline, items: list[CiteItem], content: str, *, bracketed: bool) -> None:
    token = state.push("citation", "", 0)
    token.content = content
    token.meta["items"] = items
    token.meta["bracketed"] = bracketed


# --- notes for a note style ------------------------------------------------------------------


def to_notes(tokens: list[Token], notes: dict[int, list[Token]]) -> None:
    """A note style (Chicago notes): each citation in the text becomes a footnote,
    called where it stood (after the punctuation that follows it, Pandoc's
    `notes-after-punctuation`); `@key` keeps the author in the text. Citations
    already in notes stay where they are, in parentheses."""
    next_id = -1 - len([n for n in notes if n < 0])
    for inside in notes.values():
        for block in inside:
            for child in block.children or ():
                if child.type == "citation" and _citations_of(child):
                    child.meta["in_note"] = True
    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        for child in block.children:
            if child.type != "citation" or not _citations_of(child):
                children.append(child)
                continue
            in_text = bool(child.meta["items"] and child.meta["items"][0].author_in_text)
            if in_text:
                author = Token("citation", "", 0)
                author.content = child.content
                author.meta = {**child.meta, "author_only": True}
                children.append(author)
            note = Token("citation", "", 0)
            note.content = child.content
            note.meta = {**child.meta, "own_note": True}
            if "line" in child.meta:
                note.meta["line"] = child.meta["line"]
            call = Token("footnote_ref", "", 0)
            call.meta = {"id": next_id, "subId": 0, "label": ""}
            opening, closing = Token("paragraph_open", "p", 1), Token("paragraph_close", "p", -1)
            inline = Token("inline", "", 0)
            inline.children = [note]
            inline.content = child.content
            notes[next_id] = [opening, inline, closing]
            next_id -= 1
            children.append(call)
            child.meta["replaced"] = True
        block.children = _after_punctuation(children)


def _after_punctuation(children: list[Token]) -> list[Token]:
    """A note call before `.`, `,`, `;`, `:`, `!` or `?` goes after it, and the space
    before the citation goes: "text [@a]." becomes "text.¹"."""
    calls = [t for t in children if t.type == "footnote_ref" and t.meta.get("id", 0) < 0]
    for token in calls:  # the list grows as marks move: each call is visited once
        i = next(j for j, t in enumerate(children) if t is token)
        after = children[i + 1] if i + 1 < len(children) else None
        start = i - 1 if i > 0 and children[i - 1].meta.get("author_only") else i
        before = children[start - 1] if start > 0 else None
        if (
            before is not None
            and before.type == "text"
            and not children[start].meta.get("author_only")
        ):
            before.content = before.content.rstrip()
        if after is not None and after.type == "text" and after.content[:1] in tuple(".,;:!?"):
            mark = after.content[0]
            after.content = after.content[1:]
            moved = Token("text", "", 0)
            moved.content = mark
            children.insert(start, moved)
    return children


def _citations_of(token: Token) -> list[CiteItem]:
    return [item for item in token.meta.get("items", ()) if not item.is_xref]


# --- formatting with citeproc-py ---------------------------------------------------------------


class _Markup(str):
    """A formatter for citeproc-py that writes XHTML (its own writes `<l>` and
    inline styles): each class wraps text in an element."""

    open, close = "", ""

    def __new__(cls, text: str) -> _Markup:
        return super().__new__(cls, f"{cls.open}{text}{cls.close}")


class _Formatter:
    """The module-like object citeproc-py takes as `formatter`."""

    @staticmethod
    def preformat(text: Any) -> str:
        return escape(str(text), quote=False)

    class Italic(_Markup):
        open, close = "<i>", "</i>"

    class Oblique(_Markup):
        open, close = "<i>", "</i>"

    class Bold(_Markup):
        open, close = "<b>", "</b>"

    class Light(_Markup):
        open, close = '<span class="csl-light">', "</span>"

    class Underline(_Markup):
        open, close = '<span class="csl-underline">', "</span>"

    class Superscript(_Markup):
        open, close = "<sup>", "</sup>"

    class Subscript(_Markup):
        open, close = "<sub>", "</sub>"

    class SmallCaps(_Markup):
        open, close = '<span class="csl-small-caps">', "</span>"


class _SuffixedYear(int):
    """A year that prints with its disambiguating letter (2020a): citeproc-py
    reads `year-suffix` but never assigns one."""

    suffix = ""

    def __new__(cls, year: int, suffix: str) -> _SuffixedYear:
        value = super().__new__(cls, year)
        value.suffix = suffix
        return value

    def __abs__(self) -> _SuffixedYear:
        return self

    def __str__(self) -> str:
        return f"{int(self)}{self.suffix}"


_OPEN, _CLOSE, _END = "\ue000", "\ue001", "\ue002"  # around each item, to link it
_TEXT_END = re.compile(r"[.?!](?:</[a-z]+>)*\s*$")  # a note's citation ends a sentence
_FULL_STOP = re.compile(r"\.((?:</[a-z]+>)*)\s*$")
_CSL = "{http://purl.org/net/xbiblio/csl}"


@dataclass
class Entry:
    """One entry of a bibliography: its id in the book and its XHTML."""

    key: str
    ident: str
    html: str


@dataclass
class Group:
    """Citations that share one bibliography: the book's, or one chapter's."""

    file: str  # the document its entries are in
    tokens: list[Token]  # the citation tokens, in reading order
    nocite: bool = True  # `nocite:` entries belong here
    entries: list[Entry] = field(default_factory=list)


class Citations:
    """The manuscript's references formatted by its CSL style."""

    def __init__(self, bibliography: Bibliography, meta: BookMeta, found: list[Diagnostic]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import citeproc
            from citeproc.source.json import CiteProcJSON
        self.meta = meta
        self.found = found
        self.path = bibliography.style_path
        data = bibliography.style
        if data is None:
            data = resources.files("publisher.render").joinpath("csl", DEFAULT_STYLE).read_bytes()
        self.xml = data
        self.style = self._style(data)
        self.note_style = self.style.root.get("class") == "note"
        self.keys = {ref.key: f"r{n}" for n, ref in enumerate(bibliography.references)}
        self.references = {ref.key: ref for ref in bibliography.references}
        known = set(citeproc.VARIABLES) | {"year_suffix"}
        items = []
        for ref in bibliography.references:
            item = {k: _encoded(v) for k, v in ref.data.items() if k.replace("-", "_") in known}
            item["id"], item["type"] = self.keys[ref.key], ref.data.get("type", "document")
            items.append(item)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.source = CiteProcJSON(items)
        self._variants: dict[str, Any] = {}
        self._missing: dict[str, str] = {}  # citeproc-py's key of an unknown work -> its key
        self.piq = self._punctuation_in_quote()

    def _style(self, data: bytes) -> Any:
        import io

        from citeproc import CitationStylesStyle

        lang = self.meta.lang
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return CitationStylesStyle(io.BytesIO(data), locale=lang, validate=False)
        except Exception as exc:  # citeproc-py's own failures on a style it cannot use
            raise self._unusable(exc) from None

    def _unusable(self, exc: BaseException) -> ResourceError:
        name = self.path.name if self.path else DEFAULT_STYLE
        return ResourceError(
            f"CSL style '{name}' cannot be used: citeproc-py failed ({type(exc).__name__}: "
            f"{str(exc)[:120]})",
            where=Location(self.path) if self.path else None,
            hint="choose another style, or another version of it",
        )

    def _punctuation_in_quote(self) -> bool:
        try:
            value = self.style.root.get_locale_option("punctuation-in-quote")
        except Exception:  # citeproc-py's lookup of a locale option it lacks
            return False
        return str(value).lower() == "true"

    @property
    def has_bibliography(self) -> bool:
        return bool(self.style.has_bibliography())

    # --- processing ------------------------------------------------------------------

    def process(self, groups: Sequence[Group], used_ids: IdPool) -> None:
        """Formats every citation of each group (its text in `meta["cite_html"]`)
        and the group's entries; a key not in the bibliography is a warning, shown
        as `key?`."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for group in groups:
                    self._process(group, used_ids)
        except ResourceError:
            raise
        except Exception as exc:  # citeproc-py failing on this style and these data
            raise self._unusable(exc) from None

    def _process(self, group: Group, used_ids: IdPool) -> None:
        from citeproc import Citation, CitationItem, CitationStylesBibliography

        cited: list[str] = []
        for token in group.tokens:
            for item in _citations_of(token):
                if item.key in self.keys and item.key not in cited:
                    cited.append(item.key)
                elif item.key not in self.keys and not token.meta.get("warned"):
                    self._unknown(item.key, token)
            token.meta["warned"] = True
        if group.nocite:
            wanted = self.meta.nocite
            every = "*" in wanted
            for key in self.keys if every else wanted:
                if key in self.keys and key not in cited:
                    cited.append(key)
        if not cited and not group.tokens:
            return
        # One registration of every work, without locators, in the order of first
        # citation: the entries never show a locator of the first citation.
        bibliography = CitationStylesBibliography(self.style, self.source, _Formatter)
        bibliography.register(Citation([CitationItem(self.keys[k]) for k in cited]))
        if self.has_bibliography:
            bibliography.sort()
        self._year_suffixes(bibliography)
        ids = {}
        for internal in bibliography.keys:
            key = next(k for k, v in self.keys.items() if v == internal)
            ids[key] = used_ids.take(_entry_id(key))
        # A style whose citations do not depend on what came before (no `position`
        # test, not a note style) renders a citation written again the same as
        # before: it is rendered once (citeproc-py takes milliseconds a citation).
        memo: dict[tuple[Any, ...], str] | None = None
        if not self.note_style and b'position="' not in self.xml:
            memo = {}
        for token in group.tokens:
            items = _citations_of(token)
            if not items:
                continue
            flags = tuple(bool(token.meta.get(f)) for f in ("author_only", "own_note", "in_note"))
            signature = (flags, tuple(items))
            html = memo.get(signature) if memo is not None else None
            if html is None:
                html = self._cite(token, items, bibliography, group.file, ids)
                if memo is not None:
                    memo[signature] = html
            token.meta["cite_html"] = html
        if self.has_bibliography and not self.meta.suppress_bibliography:
            self._entries(group, bibliography, ids)

    def _unknown(self, key: str, token: Token) -> None:
        import difflib

        close = difflib.get_close_matches(key, list(self.keys), n=1, cutoff=0.75)
        hint = f"did you mean '@{close[0]}'?" if close else "add it to the bibliography"
        line = token.meta.get("line")
        source = token.meta.get("source")
        self.found.append(
            Diagnostic(
                "R02",
                WARNING,
                Location(source, line) if source is not None else None,
                f"citation key '{key}' is not in the bibliography: shown as '{key}?'",
                hint,
                subject=key,
            )
        )

    def _year_suffixes(self, bibliography: Any) -> None:
        """2020a, 2020b: works whose citations would read the same, lettered in the
        bibliography's order (citeproc-py leaves `year-suffix` to the caller)."""
        citation = self.style.root.find(f"{_CSL}citation")
        if citation is None or citation.get("disambiguate-add-year-suffix") != "true":
            return
        from citeproc import Citation, CitationItem, CitationStylesBibliography

        probe = CitationStylesBibliography(self.style, self.source, _Formatter)
        texts: dict[str, list[str]] = {}
        # Only works that share their names and year can read the same: the others
        # are not rendered to find out (a long bibliography would take seconds).
        suspects: dict[tuple[str, str], list[str]] = {}
        for key in bibliography.keys:
            suspects.setdefault(self._people_and_year(key), []).append(key)
        for key in bibliography.keys:
            reference = self.source[key]
            if "issued" not in reference or len(suspects[self._people_and_year(key)]) < 2:
                continue
            one = Citation([CitationItem(key)])
            probe.register(one)
            texts.setdefault(str(probe.cite(one, lambda item: None)), []).append(key)
        explicit = b'variable="year-suffix"' in self.xml
        for keys in texts.values():
            if len(keys) < 2:
                continue
            for n, key in enumerate(keys):
                letter = _letters(n)
                reference = self.source[key]
                if explicit:
                    reference["year_suffix"] = letter
                    continue
                issued = reference["issued"]
                date = issued.get("begin", issued)
                if "year" in date:
                    date["year"] = _SuffixedYear(int(date["year"]), letter)

    def _variant(self, name: str) -> Any:
        """The style with its citation reduced to the author ("author"), or without
        the author ("suppressed"): Pandoc's `@key` and `[-@key]`."""
        if name not in self._variants:
            from lxml import etree

            root = etree.fromstring(self.xml)
            layout = root.find(f"{_CSL}citation/{_CSL}layout")
            if layout is None or not _first_names(root, layout, name):
                self._variants[name] = None
            else:
                data = etree.tostring(root, encoding="utf-8")
                self._variants[name] = self._style(data)
        return self._variants[name]

    def _cite(
        self,
        token: Token,
        items: list[CiteItem],
        main: Any,
        file: str,
        ids: dict[str, str],
    ) -> str:
        own_note = bool(token.meta.get("own_note"))
        mode = "default"
        if token.meta.get("author_only"):
            mode = "author"
        elif items[0].author_in_text and not self.note_style:
            mode = "intext"
        elif all(i.suppress_author for i in items) and not own_note:
            # `[-@key]`. (In a note style the note is whole, whoever is named in the
            # text: its names come in several branches, by position, which a
            # variant without the first of them does not follow.)
            mode = "suppressed"
        if mode == "intext":
            author = self._render(token, items, main, file, ids, "author", bare=True)
            rest = self._render(token, items, main, file, ids, "suppressed")
            return f"{author} {rest}" if author else rest
        html = self._render(token, items, main, file, ids, mode, bare=mode == "author")
        if own_note:
            html = _capitalized(html)
            if not _TEXT_END.search(html):
                html += "."
        elif token.meta.get("in_note") and self.note_style:
            # A citation inside an author's note: in parentheses, without its full stop.
            html = "(" + _FULL_STOP.sub(r"\1", html) + ")"
        return html

    def _render(
        self,
        token: Token,
        items: list[CiteItem],
        main: Any,
        file: str,
        ids: dict[str, str],
        mode: str,
        *,
        bare: bool = False,
    ) -> str:
        from citeproc import Citation, CitationItem, Locator

        style = self.style if mode == "default" else self._variant(mode)
        bibliography = main
        if style is None:  # the style has no names to take out or keep
            if mode == "author":
                return ""
            style = self.style
        elif mode != "default":
            bibliography = self._variant_bibliography(mode, style, main)
        cite_items = []
        order: list[str] = []
        for n, item in enumerate(items):
            internal = self.keys.get(item.key) or f"missing-{n}"
            self._missing[internal] = item.key
            options: dict[str, Any] = {}
            prefix = escape(item.prefix + " ", quote=False) if item.prefix else ""
            suffix = escape(_spaced(item.suffix), quote=False) if item.suffix else ""
            if not bare:
                options["prefix"] = f"{prefix}{_OPEN}{n}{_CLOSE}"
                options["suffix"] = f"{_END}{suffix}"
            if item.locator and mode != "author":
                options["locator"] = Locator(item.label or "page", item.locator)
            cite_items.append(CitationItem(internal, **options))
            order.append(item.key)

        def missing(cite: Any) -> str:
            key = self._missing.get(cite.key, cite.key)
            return f"{cite.get('prefix', '')}<b>{escape(key)}?</b>{cite.get('suffix', '')}"

        layout = style.root.find(f"{_CSL}citation/{_CSL}layout")
        if len(cite_items) > 1 and layout is not None and not _sorted_citation(style):
            # citeproc-py puts a citation's works in the bibliography's order; CSL
            # keeps the author's when the style has no citation sort: each alone,
            # joined as the layout joins them.
            start, end = layout.get("prefix", ""), layout.get("suffix", "")
            pieces = []
            for cite_item in cite_items:
                one = Citation([cite_item])
                bibliography.register(one)
                piece = str(bibliography.cite(one, missing))
                if start and piece.startswith(start):
                    piece = piece[len(start) :]
                if end and piece.endswith(end):
                    piece = piece[: -len(end)]
                pieces.append(piece)
            citation_node = style.root.find(f"{_CSL}citation")
            collapse = citation_node.get("collapse", "") if citation_node is not None else ""
            if mode == "default" and collapse.startswith("year"):
                joint = citation_node.get("cite-group-delimiter", ", ")
                context = (main, file, ids)
                pieces = self._collapsed(token, items, pieces, context, (start, end), joint)
            text = start + layout.get("delimiter", "").join(pieces) + end
        else:
            citation = Citation(cite_items)
            bibliography.register(citation)
            text = str(bibliography.cite(citation, missing))
        if bare:
            return self._quotes(text)
        return self._linked(self._quotes(text), order, file, ids)

    def _collapsed(
        self,
        token: Token,
        items: list[CiteItem],
        pieces: list[str],
        context: tuple[Any, str, dict[str, str]],
        affixes: tuple[str, str],
        delimiter: str,
    ) -> list[str]:
        """CSL's `collapse="year"` (Chicago's "Smith 2020a, 2020b"), which
        citeproc-py does not apply: works by the same authors grouped where the
        first stands, the names printed once."""
        main, file, ids = context
        start, end = affixes
        groups: dict[str, list[int]] = {}
        for n, item in enumerate(items):
            known = item.key in self.keys and not item.prefix
            author = self._render(token, [item], main, file, ids, "author", bare=True)
            groups.setdefault(author if known and author else f"\0{n}", []).append(n)
        out = []
        for members in groups.values():
            parts = [pieces[members[0]]]
            for n in members[1:]:
                rest = self._render(token, [items[n]], main, file, ids, "suppressed")
                if start and rest.startswith(start):
                    rest = rest[len(start) :]
                if end and rest.endswith(end):
                    rest = rest[: -len(end)]
                parts.append(rest)
            out.append(delimiter.join(parts))
        return out

    def _variant_bibliography(self, mode: str, style: Any, main: Any) -> Any:
        from citeproc import CitationStylesBibliography

        key = f"{mode}-bibliography-{id(main)}"
        if key not in self._variants:
            variant = CitationStylesBibliography(style, self.source, _Formatter)
            variant.keys, variant.items = main.keys, main.items
            self._variants[key] = variant
        return self._variants[key]

    def _linked(self, text: str, order: list[str], file: str, ids: dict[str, str]) -> str:
        """Each item's text (between the markers) a link to its entry, Pandoc's
        `link-citations`; the markers go."""

        def link(match: re.Match[str]) -> str:
            key = order[int(match.group(1))]
            inner = match.group(2)
            ident = ids.get(key)
            if ident is None or not self.meta.link_citations or not self.has_bibliography:
                return inner
            if self.meta.suppress_bibliography:
                return inner
            href = f"{file}#{ident}"
            return f'<a class="citation" role="doc-biblioref" href="{href}">{inner}</a>'

        text = re.sub(f"{_OPEN}(\\d+){_CLOSE}(.*?){_END}", link, text, flags=re.DOTALL)
        return text.replace(_OPEN, "").replace(_CLOSE, "").replace(_END, "")

    def _quotes(self, text: str) -> str:
        """citeproc-py's output finished: the data's markup characters escaped
        (`_encoded`), and the locale's `punctuation-in-quote` (American English:
        `.”`), which citeproc-py reads but does not apply."""
        for mark, entity in _ENTITIES.items():
            text = text.replace(mark, entity)
        if not self.piq:
            return text
        return re.sub(r"([”’])([.,])", r"\2\1", text)

    def _entries(self, group: Group, bibliography: Any, ids: dict[str, str]) -> None:
        texts = [self._quotes(str(entry)) for entry in bibliography.bibliography()]
        keys = [next(k for k, v in self.keys.items() if v == i) for i in bibliography.keys]
        texts = self._substituted(texts, bibliography)
        for key, text in zip(keys, texts, strict=False):
            if self.meta.link_bibliography:
                text = _links(text)
            group.entries.append(Entry(key, ids[key], text))

    def _substituted(self, texts: list[str], bibliography: Any) -> list[str]:
        """CSL's `subsequent-author-substitute` ("———." for the same authors as the
        entry before), which citeproc-py does not apply."""
        node = self.style.root.find(f"{_CSL}bibliography")
        substitute = node.get("subsequent-author-substitute") if node is not None else None
        if substitute is None:
            return texts
        keys = bibliography.keys
        out = list(texts)
        for n in range(1, len(out)):
            if self._people(keys[n]) != self._people(keys[n - 1]):
                continue  # other authors: nothing to render to know it
            names = self._names(keys[n])
            if names and names == self._names(keys[n - 1]) and out[n].startswith(names):
                out[n] = escape(substitute, quote=False) + out[n][len(names) :]
        return out

    def _people(self, key: str) -> str:
        """Who a work is by, as its data says (authors, else editors, else title)."""
        data = self.source[key]
        for variable in ("author", "editor"):
            if variable in data:
                return repr([sorted(dict(name).items()) for name in data[variable]])
        return str(data["title"]) if "title" in data else key

    def _people_and_year(self, key: str) -> tuple[str, str]:
        data = self.source[key]
        issued = data.get("issued")
        year = issued.get("year", issued.get("begin", "")) if issued is not None else ""
        return self._people(key), str(year)

    def _names(self, key: str) -> str:
        """The names an entry opens with, as the bibliography renders them."""
        cached = self._variants.get(f"names-{key}")
        if cached is None:
            cached = self._variants[f"names-{key}"] = self._render_names(key)
        return str(cached)

    def _render_names(self, key: str) -> str:
        if "bibliography-names" not in self._variants:
            from lxml import etree

            root = etree.fromstring(self.xml)
            layout = root.find(f"{_CSL}bibliography/{_CSL}layout")
            ok = layout is not None and _first_names(root, layout, "author")
            self._variants["bibliography-names"] = (
                self._style(etree.tostring(root, encoding="utf-8")) if ok else None
            )
        style = self._variants["bibliography-names"]
        if style is None:
            return ""
        from citeproc import Citation, CitationItem, CitationStylesBibliography

        probe = CitationStylesBibliography(style, self.source, _Formatter)
        probe.register(Citation([CitationItem(key)]))
        entries = probe.bibliography()
        return self._quotes(str(entries[0])) if entries else ""


# citeproc-py escapes its own terms but not the data it formats: `&`, `<` and `>`
# in the data stand in as private-use characters (which no text case changes)
# until the output is finished (`Citations._quotes`).
_ENTITIES = {"\ue010": "&amp;", "\ue011": "&lt;", "\ue012": "&gt;"}
_NOCASE = re.compile(r'(<span class="nocase">|</span>)')


def _encoded(value: Any) -> Any:
    if isinstance(value, str):
        parts = _NOCASE.split(value)
        return "".join(
            part
            if _NOCASE.fullmatch(part)
            else part.replace("&", "\ue010").replace("<", "\ue011").replace(">", "\ue012")
            for part in parts
        )
    if isinstance(value, list):
        return [_encoded(v) for v in value]
    if isinstance(value, dict):
        return {k: _encoded(v) for k, v in value.items()}
    return value


def _sorted_citation(style: Any) -> bool:
    return style.root.find(f"{_CSL}citation/{_CSL}sort") is not None


def _first_names(root: Any, layout: Any, mode: str) -> bool:
    """Reduces `layout` (the citation's or the bibliography's) to its first names
    element ("author"), or takes that element out ("suppressed"), following macro
    calls: each macro on the way is copied, so that the rest of the style is
    unchanged. False when the layout has no names."""
    import copy

    macros = {m.get("name"): m for m in root.findall(f"{_CSL}macro")}
    path = _path_to_names(layout, macros, set())
    if path is None:
        return False
    if mode == "author":
        names = copy.deepcopy(path[-1])
        for attribute in ("prefix", "suffix", "delimiter"):
            layout.attrib.pop(attribute, None)
        for child in list(layout):
            layout.remove(child)
        layout.append(names)
        return True
    # Each macro on the way is copied (the call pointed at the copy), then the
    # names element is taken out of the last copy.
    i = 0
    while i < len(path) - 1:
        element = path[i]
        if element.tag == f"{_CSL}text" and element.get("macro") in macros:
            original = macros[element.get("macro")]
            clone = copy.deepcopy(original)
            name = f"{original.get('name')}-publisher-{mode}-{i}"
            clone.set("name", name)
            root.append(clone)
            element.set("macro", name)
            rest = _path_to_names(clone, macros, set())
            if rest is None:
                return False
            path = [*path[: i + 1], *rest]
        i += 1
    names = path[-1]
    parent = names.getparent()
    if parent is not None:
        parent.remove(names)
    return True


def _path_to_names(node: Any, macros: dict[str, Any], seen: set[str]) -> list[Any] | None:
    """The elements from `node` (exclusive) down to its first cs:names, depth first,
    through `cs:text macro=` calls (the call element stands for the macro)."""
    for child in node:
        if not isinstance(child.tag, str):
            continue
        if child.tag == f"{_CSL}names":
            return [child]
        if child.tag == f"{_CSL}text" and child.get("macro") in macros:
            name = child.get("macro")
            if name in seen:
                continue
            inner = _path_to_names(macros[name], macros, seen | {name})
            if inner is not None:
                return [child, *inner]
            continue
        inner = _path_to_names(child, macros, seen)
        if inner is not None:
            return [child, *inner] if child.tag != f"{_CSL}text" else inner
    return None


def _entry_id(key: str) -> str:
    """`ref-smith2020`, Pandoc's entry id, with what an XML id cannot hold replaced."""
    clean = re.sub(r"[^\w.-]", "-", key)
    return f"ref-{clean}"


def _letters(n: int) -> str:
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def _spaced(suffix: str) -> str:
    """A suffix as it follows the locator: `, emphasis added`; a word alone gets a
    space before it."""
    if suffix[:1] in ",.;:)" or suffix[:1].isspace():
        return suffix
    return " " + suffix


def _capitalized(html: str) -> str:
    """The first letter of a note's citation upper case ("Ibid.", "See ..."), past
    any opening tags."""
    found = re.search(r"(?:^|>)([^<]*?)([^\W\d_])", html)
    if found is None:
        return html
    at = found.start(2)
    return html[:at] + html[at].upper() + html[at + 1 :]


_URL = re.compile(r"(https?://[^\s<>\"]+?)(?=[.,;:)]?(?:\s|$|<))")
_DOI = re.compile(r"(?<=doi:)(10\.[^\s<>\"]+?)(?=[.,;:)]?(?:\s|$|<))")


def _links(html: str) -> str:
    """URLs and DOIs in an entry as links (Pandoc's `link-bibliography`)."""
    html = _URL.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', html)
    return _DOI.sub(lambda m: f'<a href="https://doi.org/{m.group(1)}">{m.group(1)}</a>', html)


def reading_order(tokens: Sequence[Token], notes: dict[int, list[Token]]) -> Iterator[Token]:
    """The citation tokens of a chapter in reading order: a note's where it is
    first called."""
    seen: set[int] = set()

    def inline(children: Sequence[Token]) -> Iterator[Token]:
        for child in children:
            yield child
            if child.type == "image" and child.children:  # a figure's caption
                yield from inline(child.children)

    def walk(blocks: Sequence[Token]) -> Iterator[Token]:
        for block in blocks:
            for child in inline(block.children or ()):
                if child.type == "citation" and not child.meta.get("replaced"):
                    yield child
                elif child.type == "footnote_ref" and child.meta["id"] not in seen:
                    seen.add(child.meta["id"])
                    yield from walk(notes.get(child.meta["id"], []))

    yield from walk(tokens)


# --- rendering ------------------------------------------------------------------------------


@dataclass
class Apparatus:
    """What one chapter's renderer needs of the book's cross-references and
    citations."""

    crossrefs: Crossrefs
    here: str  # the chapter's document
    source: Path
    found: list[Diagnostic]

    @property
    def words(self) -> Words:
        return self.crossrefs.words

    def reference(self, token: Token, line: int | None) -> str:
        """A `citation` token's XHTML: its cross-references and its citation."""
        items: list[CiteItem] = token.meta.get("items", [])
        where = Location(self.source, token.meta.get("line", line))
        parts = []
        xrefs = [i for i in items if i.is_xref]
        if xrefs:
            parts.append(self.crossrefs.render(xrefs, self.here, where, self.found))
        if len(xrefs) < len(items):
            html = token.meta.get("cite_html")
            parts.append(html if html is not None else escape(token.content))
        html = "; ".join(parts)
        if xrefs and token.meta.get("bracketed") and len(xrefs) < len(items):
            html = f"({html})"
        if token.meta.get("in_link"):
            html = re.sub(r"</?a\b[^>]*>", "", html)  # links never nest: the text alone
        return html

    def text(self, token: Token) -> str:
        """A `citation` token as plain text (a heading's entry in the contents and
        its document's title): what the heading shows, without its links; the
        warnings were given when the heading itself was rendered."""
        quiet = Apparatus(self.crossrefs, self.here, self.source, [])
        html = quiet.reference(token, token.meta.get("line"))
        return unescape(re.sub(r"<[^>]*>", "", html))


# The bibliography's heading by language: beside author-date (or numeric)
# citations, and beside notes (the CSL locales citeproc-py bundles have no such
# terms). `reference-section-title` overrides it.
SECTION_TITLES: dict[str, tuple[str, str]] = {
    "en": ("References", "Bibliography"),
    "de": ("Literatur", "Literaturverzeichnis"),
    "fr": ("Références", "Bibliographie"),
    "es": ("Referencias", "Bibliografía"),
    "it": ("Riferimenti bibliografici", "Bibliografia"),
    "pt": ("Referências", "Bibliografia"),
    "nl": ("Referenties", "Bibliografie"),
    "sv": ("Referenser", "Bibliografi"),
    "da": ("Referencer", "Bibliografi"),
    "nb": ("Referanser", "Bibliografi"),
    "nn": ("Referansar", "Bibliografi"),
    "no": ("Referanser", "Bibliografi"),
    "fi": ("Lähteet", "Kirjallisuus"),
    "pl": ("Bibliografia", "Bibliografia"),
    "cs": ("Literatura", "Bibliografie"),
    "ru": ("Список литературы", "Библиография"),
}


def bibliography_title(meta: BookMeta, note_style: bool) -> str:
    """`reference-section-title`, else the book language's word: "References"
    beside author-date citations, "Bibliography" beside notes."""
    if meta.reference_section_title:
        return meta.reference_section_title
    titles = SECTION_TITLES.get(meta.lang.split("-")[0].lower(), SECTION_TITLES["en"])
    return titles[1] if note_style else titles[0]


def bibliography_html(entries: Sequence[Entry], hanging: bool = True) -> str:
    """The entries as the EPUB and the PDF show them: a list in the style's order,
    inside the `doc-bibliography` section. No `biblioentry` semantics on the
    items: `epub:type="biblioentry"` and `role="doc-biblioentry"` are deprecated
    (EPUB 3 Structural Semantics 1.1, DPUB-ARIA 1.1); EPUBCheck flags the first
    (OPF-086b), warns on the second (RSC-017), and DAISY Ace fails it."""
    items = "".join(
        f'<li id="{escape(e.ident)}" class="csl-entry">{e.html}</li>\n' for e in entries
    )
    kind = "csl-bib-body hanging-indent" if hanging else "csl-bib-body"
    return f'<ol class="{kind}">\n{items}</ol>\n'
