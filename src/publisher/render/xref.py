"""Cross-references, Quarto's way. Labels: a figure `![Caption](map.png){#fig-map}`,
a table's caption line `: Caption {#tbl-x}` (Pandoc's, before or after the table), a
listing ```` ```{.python #lst-x lst-cap="Caption"} ````, a section `# Heading
{#sec-x}`, a display equation's `{#eq-x}` (math's token, its id in `attrs`).
References: `@fig-map` ("Figure 3.2", linked), `@Fig-map` (capitalised),
`[-@fig-map]` (the number alone), `[@fig-a; @fig-b]`, with prefixes and suffixes.

Labels are collected while each file is parsed (`collect`), numbered once the book
is cut into chapters and before any chapter is rendered (`number_book`: per
chapter, `3.2`, in a book; through the document in an article), and each
labelled token gets its number as `token.meta["number"]` (the formatted number
alone: "3.2"), which the renderers print in captions and beside equations. The
words ("Figure", "Tabelle", "on page") follow `lang`, and Quarto's `crossref:`
keys override them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location
from publisher.render.math import DISPLAY

# The kinds of target, by their label's prefix.
PREFIXES = ("fig", "tbl", "lst", "eq", "sec")
_LABEL = re.compile(r"^(fig|tbl|lst|eq|sec)-")

# The words, by language: caption titles (fig, tbl, lst), the reference words for
# equations, sections, chapters and appendices, the caption delimiter, and the
# PDF's "on page". Quarto's defaults in English; Quarto's translations elsewhere.
WORDS: dict[str, dict[str, str]] = {
    "en": {"fig": "Figure", "tbl": "Table", "lst": "Listing", "eq": "Equation",
           "sec": "Section", "ch": "Chapter", "apx": "Appendix", "page": "on page"},
    "de": {"fig": "Abbildung", "tbl": "Tabelle", "lst": "Listing", "eq": "Gleichung",
           "sec": "Abschnitt", "ch": "Kapitel", "apx": "Anhang", "page": "auf Seite"},
    "fr": {"fig": "Figure", "tbl": "Tableau", "lst": "Listing", "eq": "Équation",
           "sec": "Section", "ch": "Chapitre", "apx": "Annexe", "page": "à la page",
           "delim": "\u00a0:"},
    "es": {"fig": "Figura", "tbl": "Tabla", "lst": "Listado", "eq": "Ecuación",
           "sec": "Sección", "ch": "Capítulo", "apx": "Apéndice", "page": "en la página"},
    "it": {"fig": "Figura", "tbl": "Tabella", "lst": "Listato", "eq": "Equazione",
           "sec": "Sezione", "ch": "Capitolo", "apx": "Appendice", "page": "a pagina"},
    "pt": {"fig": "Figura", "tbl": "Tabela", "lst": "Listagem", "eq": "Equação",
           "sec": "Secção", "ch": "Capítulo", "apx": "Apêndice", "page": "na página"},
    "pt-br": {"sec": "Seção"},
    "nl": {"fig": "Figuur", "tbl": "Tabel", "lst": "Listing", "eq": "Vergelijking",
           "sec": "Sectie", "ch": "Hoofdstuk", "apx": "Bijlage", "page": "op pagina"},
    "sv": {"fig": "Figur", "tbl": "Tabell", "lst": "Listning", "eq": "Ekvation",
           "sec": "Avsnitt", "ch": "Kapitel", "apx": "Bilaga", "page": "på sidan"},
    "da": {"fig": "Figur", "tbl": "Tabel", "lst": "Kodeliste", "eq": "Ligning",
           "sec": "Afsnit", "ch": "Kapitel", "apx": "Appendiks", "page": "på side"},
    "nb": {"fig": "Figur", "tbl": "Tabell", "lst": "Kodeliste", "eq": "Likning",
           "sec": "Avsnitt", "ch": "Kapittel", "apx": "Vedlegg", "page": "på side"},
    "fi": {"fig": "Kuva", "tbl": "Taulukko", "lst": "Listaus", "eq": "Yhtälö",
           "sec": "Osio", "ch": "Luku", "apx": "Liite", "page": "sivulla"},
    "pl": {"fig": "Rysunek", "tbl": "Tabela", "lst": "Listing", "eq": "Równanie",
           "sec": "Sekcja", "ch": "Rozdział", "apx": "Dodatek", "page": "na stronie"},
    "cs": {"fig": "Obrázek", "tbl": "Tabulka", "lst": "Výpis", "eq": "Rovnice",
           "sec": "Oddíl", "ch": "Kapitola", "apx": "Příloha", "page": "na straně"},
    "ru": {"fig": "Рисунок", "tbl": "Таблица", "lst": "Листинг", "eq": "Уравнение",
           "sec": "Раздел", "ch": "Глава", "apx": "Приложение", "page": "на странице"},
}  # fmt: skip
WORDS["no"] = WORDS["nn"] = WORDS["nb"]
# Quarto's `crossref:` keys that name words; `title-delim`, `chapters` and the
# `*-labels` numbering below.
_WORD_KEYS = {
    "fig-title": "fig",
    "tbl-title": "tbl",
    "lst-title": "lst",
    "fig-prefix": "fig-prefix",
    "tbl-prefix": "tbl-prefix",
    "lst-prefix": "lst-prefix",
    "eq-prefix": "eq",
    "sec-prefix": "sec",
    "ch-prefix": "ch",
    "apx-prefix": "apx",
    "title-delim": "delim",
    "page-prefix": "page",  # publisher's: the PDF's "on page" (style.toml page-references)
}
LABEL_STYLES = ("arabic", "roman", "Roman", "alpha a", "alpha A")
MISSING = "??"


def is_label(ident: str) -> bool:
    """Whether an id is a cross-reference label (Quarto's prefixes)."""
    return bool(_LABEL.match(ident))


def label_kind(key: str) -> str | None:
    """`fig` for `fig-map` (and for `Fig-map`, a capitalised reference)."""
    found = _LABEL.match(key[:1].lower() + key[1:])
    return found.group(1) if found else None


@dataclass(frozen=True)
class Words:
    """The words of captions and references, and how numbers are written."""

    titles: dict[str, str]  # kind -> caption word ("Figure")
    prefixes: dict[str, str]  # kind -> reference word ("Figure", "Fig.")
    delim: str = ":"
    chapter: str = "Chapter"
    appendix: str = "Appendix"
    on_page: str = "on page"
    labels: dict[str, str] = field(default_factory=dict)  # kind -> LABEL_STYLES
    chapters: bool | None = None  # numbers per chapter (3.2); None: as the style numbers

    @classmethod
    def make(cls, lang: str, settings: Sequence[tuple[str, str]] = ()) -> Words:
        words = dict(WORDS["en"])
        base = lang.split("-")[0].lower()
        words.update(WORDS.get(base, {}))
        words.update(WORDS.get(lang.lower(), {}))
        labels: dict[str, str] = {}
        chapters: bool | None = None
        for key, value in settings:
            if key in _WORD_KEYS:
                words[_WORD_KEYS[key]] = value
            elif key == "chapters":
                chapters = value.strip().lower() in ("true", "yes", "1")
            elif key.endswith("-labels") and key[:-7] in PREFIXES and value in LABEL_STYLES:
                labels[key[:-7]] = value
        titles = {kind: words.get(kind, "") for kind in ("fig", "tbl", "lst")}
        prefixes = {kind: words.get(f"{kind}-prefix", titles[kind]) for kind in titles}
        prefixes["eq"] = words["eq"]
        prefixes["sec"] = words["sec"]
        return cls(
            titles,
            prefixes,
            words.get("delim", ":"),
            words["ch"],
            words["apx"],
            words["page"],
            labels,
            chapters,
        )

    def caption(self, kind: str, number: str) -> str:
        """The start of a numbered caption: `<span class="caption-number">Figure
        3.2:</span> `."""
        return (
            f'<span class="caption-number">{escape(self.titles[kind])}\u00a0{escape(number)}'
            f"{escape(self.delim)}</span> "
        )


# --- while parsing -----------------------------------------------------------------------

_INFO_ATTRS = re.compile(r'([#.][^\s#.={}]+|[\w:-]+=(?:"[^"]*"|\S+))')


def fence_attributes(state: StateCore) -> None:
    """Pandoc's fenced code attributes, ```` ```{.python #lst-x lst-cap="..."} ````
    (or ```` ```python {#lst-x} ````): the language, the id (checked with every
    other id afterwards), the caption."""
    for token in state.tokens:
        if token.type != "fence" or "{" not in token.info:
            continue
        info = token.info.strip()
        before, _, inner = info.partition("{")
        if not inner.rstrip().endswith("}"):
            continue
        language = before.strip().split()[0] if before.strip() else ""
        for item in _INFO_ATTRS.findall(inner.rstrip()[:-1]):
            if item.startswith("#"):
                token.attrSet("id", item[1:])
            elif item.startswith("."):
                language = language or item[1:]
            else:
                key, value = item.split("=", 1)
                if key in ("lst-cap", "caption") and value.strip('"').strip():
                    token.meta["caption"] = " ".join(value.strip('"').split())
        token.meta["language"] = language


_CAPTION = re.compile(r"^(?:Table)?:\s+")
_TRAILING = re.compile(r"\s*\{([^{}]*)\}\s*$")


def table_captions(state: StateCore) -> None:
    """Pandoc's table caption: a paragraph beginning `:` or `Table:` right after
    (or before) a table, or a last row that is one (no blank line before it). It
    becomes the table's `<caption>`; a trailing `{#tbl-x}` is the table's id."""
    tokens = state.tokens
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type != "table_open":
            out.append(token)
            i += 1
            continue
        end = next(j for j in range(i, len(tokens)) if tokens[j].type == "table_close")
        table = tokens[i : end + 1]
        after = tokens[end + 1 : end + 4]
        caption: list[Token] | None = None
        following = end + 1
        if _is_caption(after, token.level):
            caption, following = after, end + 4
        elif (row := _caption_row(table)) is not None:
            caption, taken = row
            table = [t for t in table if id(t) not in taken]
        elif _is_caption(out[-3:], token.level):
            caption = out[-3:]
            del out[-3:]
        if caption is not None:
            table[1:1] = _as_caption(token, caption)
        out += table
        i = following
    state.tokens = out


def _is_caption(tokens: list[Token], level: int) -> bool:
    return (
        len(tokens) == 3
        and tokens[0].type == "paragraph_open"
        and tokens[0].level == level
        and tokens[1].type == "inline"
        and bool(_CAPTION.match(tokens[1].content))
    )


def _caption_row(table: list[Token]) -> tuple[list[Token], set[int]] | None:
    """`: Caption` written on the line after the last row is read as one more row
    (GFM's rule); Pandoc reads it as the caption. The caption's tokens, and the
    ids of the row's tokens to take out of the table."""
    if len(table) < 6 or table[-2].type != "tbody_close" or table[-3].type != "tr_close":
        return None
    start = max(j for j in range(len(table)) if table[j].type == "tr_open")
    row = table[start:-2]
    cells = [t for t in row if t.type == "inline"]
    if not cells or not _CAPTION.match(cells[0].content):
        return None
    if any(c.content.strip() for c in cells[1:]):
        return None
    taken = {id(t) for t in row}
    if table[start - 1].type == "tbody_open":  # the only row: the body goes with it
        taken |= {id(table[start - 1]), id(table[-2])}
    opening = Token("paragraph_open", "p", 1)
    opening.map = row[0].map
    return [opening, cells[0], Token("paragraph_close", "p", -1)], taken


def _as_caption(table: Token, caption: list[Token]) -> list[Token]:
    """The caption paragraph as `table_caption` tokens inside the table, its
    leading `:` gone and a trailing `{#tbl-x}` on the table."""
    inline = caption[1]
    children = inline.children or []
    if children and children[0].type == "text":
        children[0].content = _CAPTION.sub("", children[0].content, count=1)
    inline.content = _CAPTION.sub("", inline.content, count=1)
    if children and children[-1].type == "text":
        found = _TRAILING.search(children[-1].content)
        if found:
            for item in _INFO_ATTRS.findall(found.group(1)):
                if item.startswith("#"):
                    table.attrSet("id", item[1:])
                elif item.startswith("."):
                    classes = str(table.attrGet("class") or "").split()
                    table.attrSet("class", " ".join([*classes, item[1:]]))
            children[-1].content = children[-1].content[: found.start()]
            inline.content = _TRAILING.sub("", inline.content)
    classes = str(table.attrGet("class") or "").split()
    table.attrSet("class", " ".join([*classes, "captioned"]))  # base.css: wide enough
    opening = Token("table_caption_open", "caption", 1)
    closing = Token("table_caption_close", "caption", -1)
    opening.map = caption[0].map
    opening.meta["table"] = table
    opening.level = closing.level = table.level + 1
    inline.level = table.level + 2
    if caption[0].map:
        table.meta["caption_line"] = caption[0].map[0] + 1
    return [opening, inline, closing]


@dataclass
class Label:
    """A labelled target as parsed: what it is, its label as written, its id in the
    book (renamed if the label was taken), where it is."""

    kind: str
    label: str
    ident: str
    line: int | None
    index: int  # its block's position in the file's tokens
    token: Token
    title: str = ""  # a section's heading text


def labelled(tokens: Sequence[Token]) -> Iterator[tuple[int, Token]]:
    """Each token that can carry a label, with its block's index: the blocks, and
    the images and display formulas inside figures and paragraphs (`$$…$$ {#eq-x}`
    within a paragraph, where Pandoc and Quarto always have it)."""
    for index, token in enumerate(tokens):
        yield index, token
        for child in token.children or ():
            if child.type in ("image", DISPLAY):
                yield index, child


def collect(
    tokens: Sequence[Token],
    labels: list[Label],
    citations: list[Token],
    heading_text: Callable[[int], str],
) -> None:
    """The file's labels (in the order of the text) and its `@` references; each
    label numbered through the file, as an article numbers them (a book numbers
    them again per chapter: `number_book`)."""
    line: int | None = None
    counters: dict[str, int] = {}
    for index, token in labelled(tokens):
        if token.map:
            line = token.map[0] + 1
        ident = str(token.attrGet("id") or "") if token.attrs else ""
        written = str(token.meta.get("label") or ident)
        kind = label_kind(written) if written and written[0].islower() else None
        if kind is not None and ident:
            where = token.meta.get("label_line") or token.meta.get("attributes_line") or line
            title = heading_text(index) if token.type == "heading_open" else ""
            labels.append(Label(kind, written, ident, where, index, token, title))
            if kind != "sec":
                counters[kind] = counters.get(kind, 0) + 1
                token.meta["number"] = str(counters[kind])
    for block, block_line in _blocks_with_lines(tokens):
        inner = block_line
        links = 0  # inside a link, a reference is its text alone: links never nest
        for child in _inline(block.children or ()):
            if child.type == "citation":
                child.meta["line"] = inner
                child.meta["in_link"] = links > 0
                citations.append(child)
            elif child.type in ("link_open", "link_close"):
                links += 1 if child.type == "link_open" else -1
            elif child.type in ("softbreak", "hardbreak") and inner is not None:
                inner += 1


def _inline(children: Sequence[Token]) -> Iterator[Token]:
    """Inline tokens in order, an image's description (a figure's caption) too."""
    for child in children:
        yield child
        if child.type == "image" and child.children:
            yield from _inline(child.children)


def _blocks_with_lines(tokens: Sequence[Token]) -> Iterator[tuple[Token, int | None]]:
    line: int | None = None
    for token in tokens:
        if token.map:
            line = token.map[0] + 1
        if token.children:
            yield token, line


# --- numbering the book --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    kind: str
    number: str  # "3.2"; "" for a section without a number
    ident: str  # its id in the book
    file: str  # the document holding it
    title: str = ""  # a section's heading text
    where: Location | None = None


@dataclass
class Scope:
    """One chapter as numbering sees it."""

    labels: list[Label]
    file: str
    source: Path
    prefix: str | None  # the chapter's number in figure numbers ("3", "A"); None: none
    heading_numbers: dict[str, str]  # heading id -> its printed number
    chapter_heading: str | None  # the id of the chapter's title heading
    chapter_word: str = ""  # "Chapter" or "Appendix", for a reference to the title


def format_number(value: int, style: str) -> str:
    if style in ("roman", "Roman"):
        from publisher.source.styles import roman

        text = roman(value)
        return text.lower() if style == "roman" else text
    if style.startswith("alpha"):
        letters = ""
        while value:
            value, rest = divmod(value - 1, 26)
            letters = chr(ord("a") + rest) + letters
        return letters.upper() if style.endswith("A") else letters
    return str(value)


def number_book(scopes: Sequence[Scope], words: Words, per_chapter: bool) -> Crossrefs:
    """Every label numbered, and a table of them by label. `per_chapter`: numbers
    start again in each chapter with a number, after it (`3.2`); otherwise they
    run through the book. Each labelled token gets `meta["number"]`."""
    targets: dict[str, Target] = {}
    counters: dict[str, int] = {}
    for scope in scopes:
        if per_chapter:
            counters = {}
        for label in scope.labels:
            where = Location(scope.source, label.line)
            if label.kind == "sec":
                if label.ident == scope.chapter_heading and scope.prefix is not None:
                    number = scope.prefix
                else:
                    number = scope.heading_numbers.get(label.ident, "")
                if number:
                    label.token.meta["number"] = number
                targets.setdefault(
                    label.label,
                    Target("sec", number, label.ident, scope.file, label.title, where),
                )
                continue
            counters[label.kind] = counters.get(label.kind, 0) + 1
            shown = format_number(counters[label.kind], words.labels.get(label.kind, "arabic"))
            number = f"{scope.prefix}.{shown}" if per_chapter and scope.prefix else shown
            label.token.meta["number"] = number
            targets.setdefault(
                label.label, Target(label.kind, number, label.ident, scope.file, where=where)
            )
    chapter_words = {s.chapter_heading: s.chapter_word for s in scopes if s.chapter_heading}
    return Crossrefs(targets, words, chapter_words)


@dataclass
class Crossrefs:
    """The book's labels, numbered; renders references to them."""

    targets: dict[str, Target]
    words: Words
    chapter_words: dict[str, str] = field(default_factory=dict)  # title id -> "Chapter"

    def render(
        self,
        items: Sequence[Any],
        here: str,
        where: Location,
        found: list[Diagnostic],
    ) -> str:
        """`items` (render/cite.py's CiteItem): each a link with its word and number,
        joined by commas; a missing label is `??`, with a warning."""
        parts = []
        for item in items:
            key = item.key[:1].lower() + item.key[1:]
            target = self.targets.get(key)
            text = self._text(item, key, target)
            if target is None:
                found.append(self._missing(item.key, key, where))
                shown = f'<span class="xref xref-missing">{escape(text)}</span>'
            else:
                href = (
                    f"#{target.ident}" if target.file == here else f"{target.file}#{target.ident}"
                )
                shown = f'<a class="xref" href="{escape(href)}">{escape(text)}</a>'
            prefix = f"{escape(item.prefix)} " if item.prefix else ""
            parts.append(prefix + shown + escape(item.suffix))
        return ", ".join(parts)

    def _text(self, item: Any, key: str, target: Target | None) -> str:
        kind = label_kind(key) or "fig"
        number = target.number if target is not None else MISSING
        word = self.words.prefixes.get(kind, "")
        if target is not None and kind == "sec":
            if not number:
                return target.title  # an unnumbered section: its title
            word = self.chapter_words.get(target.ident, word)
        if item.suppress_author:
            return number  # `[-@fig-map]`: the number alone
        if item.capitalize and word:
            word = word[:1].upper() + word[1:]
        return f"{word}\u00a0{number}" if word else number

    def _missing(self, written: str, key: str, where: Location) -> Diagnostic:
        import difflib

        close = difflib.get_close_matches(key, list(self.targets), n=1, cutoff=0.75)
        hint = (
            f"did you mean '@{close[0]}'?"
            if close
            else f"label the figure, table, listing, equation or section with {{#{key}}}"
        )
        return Diagnostic(
            "R01",
            WARNING,
            where,
            f"cross-reference '@{written}' has no target: shown as '{MISSING}'",
            hint,
            subject=written,
        )
