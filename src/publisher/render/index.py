"""The back-of-book index: the places an author marks, gathered into sorted entries
(`BookIndex`) and written as the book's last document, in the EPUB Indexes
vocabulary, with the locators a reader can follow.

The marks ride on Markdown's attribute spans (the parser's rule is in
markdown.py; README, "The index"):

- `[Darwin]{.index}`: the marked words are the term;
- `[natural selection]{index="selection, natural"}`: the term given;
- `index="evolution!theory of"`: a sub-entry, below its entry (makeindex's `!`);
- `[]{index="Beagle" see="HMS Beagle"}`, `see-also="…"`: references, no locator;
- `[]{index="evolution" range=start}` … `[]{index="evolution" range=end}`: a range;
- `sort="…"`: where the term sorts, when not by its own letters.

A locator is a link to the marked element. Without printed pages it reads as the
heading of the section the mark is in (marks of one entry in one section are one
locator, as marks on one page are); once the PDF is laid out, the printed page
numbers, consecutive ones merged (41–43, or 41 f. / 41 ff.). Entries are sorted
by the book's language (collation.py), under letter headings. Pure: values in,
values out."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location
from publisher.ids import index_entry_id, index_group_id, index_mark_id
from publisher.model import (
    BookIndex,
    BookMeta,
    IndexEntry,
    IndexGroup,
    IndexPlace,
    RenderedBook,
    RenderedChapter,
)

if TYPE_CHECKING:
    from markdown_it.token import Token

DOCUMENT = "index.xhtml"
TITLE_ID = "index-title"
# Attributes of a mark; with the class `index`, none reaches the output.
KEYS = ("index", "see", "see-also", "sort", "range")
RANGES = ("start", "end")
# makeindex's depth, from which the `!` syntax comes: an entry, a sub-entry and a
# sub-sub-entry. Deeper is no index a reader can use, and each level costs the
# arrangement a recursion.
MAX_LEVELS = 3

# The index's words by language: its title, "see", "see also", and the heading of
# the terms that begin with a digit or a symbol. English otherwise.
WORDS: dict[str, tuple[str, str, str, str]] = {
    "en": ("Index", "see", "see also", "Symbols and numbers"),
    "de": ("Register", "siehe", "siehe auch", "Symbole und Zahlen"),
    "fr": ("Index", "voir", "voir aussi", "Symboles et nombres"),
    "es": ("Índice analítico", "véase", "véase también", "Símbolos y números"),
    "it": ("Indice analitico", "vedi", "vedi anche", "Simboli e numeri"),
    "pt": ("Índice remissivo", "ver", "ver também", "Símbolos e números"),
    "nl": ("Register", "zie", "zie ook", "Symbolen en getallen"),
    "sv": ("Register", "se", "se även", "Symboler och siffror"),
    "fi": ("Hakemisto", "katso", "katso myös", "Symbolit ja numerot"),
    "da": ("Register", "se", "se også", "Symboler og tal"),
    "nb": ("Register", "se", "se også", "Symboler og tall"),
    "nn": ("Register", "sjå", "sjå også", "Symbol og tal"),
    "no": ("Register", "se", "se også", "Symboler og tall"),
    "pl": ("Indeks", "zob.", "zob. też", "Symbole i liczby"),
    "cs": ("Rejstřík", "viz", "viz též", "Symboly a čísla"),
    "ru": ("Предметный указатель", "см.", "см. также", "Символы и числа"),
    "uk": ("Предметний покажчик", "див.", "див. також", "Символи та числа"),
    "he": ("מפתח", "ראו", "ראו גם", "סמלים ומספרים"),
    "ar": ("الفهرس", "انظر", "انظر أيضًا", "رموز وأرقام"),
}
NBSP = "\u00a0"


def words(lang: str) -> tuple[str, str, str, str]:
    return WORDS.get(lang.split("-")[0].lower(), WORDS["en"])


# --- marks, as the parser finds them ------------------------------------------------


@dataclass(frozen=True)
class Term:
    xhtml: str  # as shown
    text: str  # plain, for sorting and messages


@dataclass(frozen=True)
class Mark:
    ident: str | None  # the marked element's id; None: a reference only (see, see also)
    terms: tuple[Term, ...]  # the entry, then its sub-entries
    sort: str | None = None
    see: tuple[Term, ...] | None = None
    see_also: tuple[Term, ...] | None = None
    range: str | None = None  # "start" or "end"
    source: Path | None = None
    line: int | None = None
    block: int = 0  # position of its block among the file's tokens

    @property
    def written(self) -> str:
        return "!".join(t.text for t in self.terms)


@dataclass
class IndexMarks:
    """The marks of every file of one book, in the book's order."""

    marks: list[Mark] = field(default_factory=list)
    terms: dict[str, Term] = field(default_factory=dict)  # term as written -> parsed
    placed: int = 0  # marked places so far: their ids are numbered across the book

    def next_id(self) -> str:
        self.placed += 1
        return index_mark_id(self.placed)


def split_levels(value: str) -> list[str]:
    """`evolution!theory of` -> its levels; `\\!` is a `!` inside a term."""
    levels: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value) and value[i + 1] in '!"':
            current.append(value[i + 1])  # the attribute parser keeps the backslash
            i += 2
            continue
        if char == "!":
            levels.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    levels.append("".join(current))
    return [" ".join(level.split()) for level in levels]


def unescaped(value: str) -> str:
    return " ".join(value.replace('\\"', '"').split())


_SHOWN = {"em_open": "<em>", "em_close": "</em>", "strong_open": "<strong>"}
_SHOWN |= {"strong_close": "</strong>", "s_open": "<s>", "s_close": "</s>"}


def term_of(tokens: Sequence[Token]) -> Term:
    """A term from inline tokens: its text with emphasis and code kept, anything
    else (links, images, notes, raw HTML) as its text or left out."""
    shown: list[str] = []
    plain: list[str] = []
    for token in tokens:
        if token.type == "text":
            shown.append(escape(token.content, quote=False))
            plain.append(token.content)
        elif token.type == "code_inline":
            shown.append(f"<code>{escape(token.content, quote=False)}</code>")
            plain.append(token.content)
        elif token.type in _SHOWN:
            shown.append(_SHOWN[token.type])
        elif token.type in ("softbreak", "hardbreak"):
            shown.append(" ")
            plain.append(" ")
        elif token.type == "image":
            inner = term_of(token.children or [])
            shown.append(escape(inner.text, quote=False))
            plain.append(inner.text)
        elif token.content and token.nesting == 0 and token.type != "html_inline":
            # Another rule's inline (a formula, a citation): its source, as text.
            shown.append(escape(token.content, quote=False))
            plain.append(token.content)
    text = " ".join("".join(plain).split())
    return Term(_trimmed("".join(shown)) if text else "", text)


def _trimmed(xhtml: str) -> str:
    """Spaces at the ends of a term's markup, and runs of them, as one."""
    return re.sub(r"\s+", " ", xhtml).strip()


# --- the sorted index -------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    """Where a marked place ended up: its document and its section's label."""

    document: str
    section: str


@dataclass
class _Node:
    term: Term
    places: list[IndexPlace] = field(default_factory=list)
    see: list[tuple[tuple[Term, ...], Mark]] = field(default_factory=list)  # (target, mark)
    see_also: list[tuple[tuple[Term, ...], Mark]] = field(default_factory=list)
    sort: str | None = None
    children: dict[str, _Node] = field(default_factory=dict)
    ident: str = ""
    order: list[_Node] = field(default_factory=list)  # children, sorted


def build_index(
    marks: Sequence[Mark],
    placed: Mapping[str, Placed],
    meta: BookMeta,
    section: str,
    found: list[Diagnostic],
) -> BookIndex | None:
    """The sorted index of the marks that are in the book (`placed`: where each
    marked element was rendered); None when there is nothing to index. `section`:
    the id of the index's own section. Unmatched ranges and references to terms
    not in the index are warnings added to `found`."""
    from publisher.render.collation import collation

    root = _Node(Term("", ""))
    open_ranges: dict[tuple[str, ...], list[tuple[Mark, _Node, int]]] = {}
    kept: list[str] = []
    for mark in marks:
        if mark.ident is not None and mark.ident not in placed:
            continue  # in a note no chapter calls, or a link that was removed
        node = root
        for term in mark.terms:
            node = node.children.setdefault(term.xhtml, _Node(term))
        if mark.sort and node.sort is None:
            node.sort = mark.sort
        if mark.see:
            node.see.append((mark.see, mark))
        if mark.see_also:
            node.see_also.append((mark.see_also, mark))
        if mark.ident is None:
            continue
        kept.append(mark.ident)
        where = placed[mark.ident]
        place = IndexPlace(mark.ident, where.document, where.section)
        path = tuple(t.xhtml for t in mark.terms)
        if mark.range == "end":
            opened = open_ranges.get(path)
            if opened:
                _, owner, at = opened.pop()
                owner.places[at] = replace(owner.places[at], end=place)
                continue
            found.append(_range_warning(mark, "closed here was never opened", "start"))
        node.places.append(place)
        if mark.range == "start":
            open_ranges.setdefault(path, []).append((mark, node, len(node.places) - 1))
    for opened in open_ranges.values():
        for mark, _, _ in opened:
            found.append(_range_warning(mark, "opened here is never closed", "end"))
    if not root.children:
        return None

    order = collation(meta.lang)
    entries: dict[tuple[str, ...], str] = {}  # path of terms (XHTML) -> entry id
    count = 0

    def arrange(node: _Node, path: tuple[str, ...]) -> None:
        nonlocal count
        node.order = sorted(
            node.children.values(),
            key=lambda n: (order.key(n.sort or n.term.text), n.term.text, n.term.xhtml),
        )
        for child in node.order:
            count += 1
            child.ident = index_entry_id(count)
            entries[(*path, child.term.xhtml)] = child.ident
            nodes[(*path, child.term.xhtml)] = child
            arrange(child, (*path, child.term.xhtml))

    nodes: dict[tuple[str, ...], _Node] = {}
    arrange(root, ())
    found.extend(_circular(nodes))
    title, see, see_also, symbols = words(meta.lang)
    written: list[str] = []  # every entry as an author writes it, for did-you-mean

    def refs(
        targets: list[tuple[tuple[Term, ...], Mark]], kind: str
    ) -> tuple[tuple[str, str | None], ...]:
        out: dict[str, str | None] = {}
        for target, mark in targets:
            shown = ": ".join(t.xhtml for t in target)
            path = tuple(t.xhtml for t in target)
            if path not in entries:
                if not written:
                    written.extend("!".join(_plain(p) for p in path) for path in entries)
                found.append(_missing_target(mark, target, kind, written))
            out.setdefault(shown, entries.get(path))
        return tuple(out.items())

    def frozen(node: _Node) -> IndexEntry:
        return IndexEntry(
            node.ident,
            node.term.xhtml,
            tuple(node.places),
            refs(node.see, "see"),
            refs(node.see_also, "see-also"),
            tuple(frozen(child) for child in node.order),
        )

    groups: list[IndexGroup] = []
    heading_of: list[str] = []
    members: list[list[IndexEntry]] = []
    for node in root.order:
        heading = order.heading(node.sort or node.term.text) or symbols
        if not heading_of or heading_of[-1] != heading:
            heading_of.append(heading)
            members.append([])
        members[-1].append(frozen(node))
    for number, (heading, group) in enumerate(zip(heading_of, members, strict=True), start=1):
        groups.append(IndexGroup(index_group_id(number), heading, tuple(group)))
    return BookIndex(
        DOCUMENT,
        meta.index_title or title,
        tuple(groups),
        see,
        see_also,
        meta.index_ranges,
        tuple(kept),
        section,
    )


def _range_warning(mark: Mark, what: str, other: str) -> Diagnostic:
    term = mark.written
    return Diagnostic(
        "T17",
        WARNING,
        Location(mark.source, mark.line) if mark.source else None,
        f"index range of '{term}' {what}: it is printed as one place",
        hint=f'mark its {other} with []{{index="{term}" range={other}}}',
        subject=term,
    )


def _circular(nodes: dict[tuple[str, ...], _Node]) -> list[Diagnostic]:
    """References that lead a reader back where they started: a term that is
    its own "see also", or "see" from term to term, none with a page, back to
    the first."""
    out: list[Diagnostic] = []
    for path, node in nodes.items():
        for target, mark in node.see_also:
            if tuple(t.xhtml for t in target) == path:
                term = "!".join(_plain(p) for p in path)
                out.append(
                    Diagnostic(
                        "T19",
                        WARNING,
                        Location(mark.source, mark.line) if mark.source else None,
                        f"index see also of '{term}' names the term itself",
                        hint="point the reference at another term",
                        subject=term,
                    )
                )
        if not node.see or node.places or node.children:
            continue  # a term with pages of its own: its reader has arrived
        chain = [path]
        target, first = node.see[0]
        current = tuple(t.xhtml for t in target)
        while current in nodes and current not in chain:
            chain.append(current)
            step = nodes[current]
            if step.places or step.children or not step.see:
                break  # a page or sub-entries to read: the reader arrives
            current = tuple(t.xhtml for t in step.see[0][0])
        else:
            if current == path and path == min(chain):  # each circle once
                out.append(_circle(first, [*chain, path]))
    return out


def _circle(mark: Mark, chain: list[tuple[str, ...]]) -> Diagnostic:
    shown = " → ".join("!".join(_plain(p) for p in path) for path in chain)
    return Diagnostic(
        "T19",
        WARNING,
        Location(mark.source, mark.line) if mark.source else None,
        f"index see of '{shown.split(' → ')[0]}' leads back to it ({shown}): "
        "no entry on the way has a page",
        hint="point the reference at a term the text marks",
        subject=shown,
    )


def _missing_target(
    mark: Mark, target: tuple[Term, ...], kind: str, entries: list[str]
) -> Diagnostic:
    written = "!".join(t.text for t in target)
    close = difflib.get_close_matches(written, entries, n=1, cutoff=0.75)
    hint = (
        f"did you mean '{close[0]}'?"
        if close
        else "mark the term in the text, or write it as the index has it"
    )
    return Diagnostic(
        "T16",
        WARNING,
        Location(mark.source, mark.line) if mark.source else None,
        f"index {kind} '{written}' is not a term of the index: it is printed without a link",
        hint=hint,
        subject=written,
    )


def _plain(xhtml: str) -> str:
    from html import unescape

    return unescape(re.sub(r"<[^>]*>", "", xhtml))


# --- the index document ---------------------------------------------------------------


def index_chapter(index: BookIndex, pages: Mapping[str, str] | None = None) -> RenderedChapter:
    """The index as the book's last document; with `pages` (a marked place's id ->
    its printed page), its locators are the page numbers."""
    from publisher.model import BACK, TocEntry

    return RenderedChapter(
        index.document,
        index.title,
        index_body(index, pages),
        (TocEntry(1, index.title, f"{index.document}#{TITLE_ID}"),),
        kind="index",
        matter=BACK,
    )


def with_pages(book: RenderedBook, pages: Mapping[str, str]) -> RenderedBook:
    """The book with its index's locators the printed pages (unchanged without an
    index, or without pages)."""
    index = book.index
    if index is None or not pages:
        return book
    chapters = tuple(
        index_chapter(index, pages) if chapter.file_name == index.document else chapter
        for chapter in book.chapters
    )
    return replace(book, chapters=chapters)


def index_body(index: BookIndex, pages: Mapping[str, str] | None = None) -> str:
    out = [
        f'<section id="{index.section}" class="index" epub:type="index" role="doc-index" '
        f'aria-labelledby="{TITLE_ID}">\n<h1 id="{TITLE_ID}">{escape(index.title)}</h1>\n'
        '<div class="index-groups">\n'
    ]
    for group in index.groups:
        out.append(
            f'<section class="index-group" epub:type="index-group" '
            f'aria-labelledby="{group.ident}">\n'
            f'<h2 id="{group.ident}" class="index-letter">{escape(group.heading)}</h2>\n'
        )
        _entries(out, index, group.entries, pages, 1)
        out.append("</section>\n")
    out.append("</div>\n</section>\n")
    return "".join(out)


def _entries(
    out: list[str],
    index: BookIndex,
    entries: Sequence[IndexEntry],
    pages: Mapping[str, str] | None,
    depth: int,
) -> None:
    out.append('<ul class="index-entries" epub:type="index-entry-list">\n')
    for entry in entries:
        out.append(
            f'<li class="index-entry" epub:type="index-entry" id="{entry.ident}">'
            f'<span class="index-term" epub:type="index-term">{entry.term}</span>'
        )
        locators = _locators(entry.places, pages, index.ranges == "ff")
        if locators:
            out.append(", " + ", ".join(locators))
        for refs, word, kind in (
            (entry.see, index.see, "index-xref-preferred"),
            (entry.see_also, index.see_also, "index-xref-related"),
        ):
            if not refs:
                continue
            targets = "; ".join(
                f'<a epub:type="{kind}" href="#{target}">{shown}</a>' if target else shown
                for shown, target in refs
            )
            if depth == 1:
                lead = word[:1].upper() + word[1:]
                out.append(f'. <span class="index-see"><i>{escape(lead)}</i> {targets}</span>')
            else:
                out.append(f' <span class="index-see">(<i>{escape(word)}</i> {targets})</span>')
        if entry.entries:
            out.append("\n")
            _entries(out, index, entry.entries, pages, depth + 1)
        out.append("</li>\n")
    out.append("</ul>\n")


def _link(place: IndexPlace, text: str) -> str:
    return (
        f'<a epub:type="index-locator" href="{escape(place.document)}#{place.ident}">'
        f"{escape(text)}</a>"
    )


def _range(first: IndexPlace, first_text: str, last: IndexPlace, last_text: str) -> str:
    return (
        f'<span epub:type="index-locator-range">{_link(first, first_text)}\u2013'
        f"{_link(last, last_text)}</span>"
    )


def _locators(places: Sequence[IndexPlace], pages: Mapping[str, str] | None, ff: bool) -> list[str]:
    if pages is None:
        return _by_section(places)
    return _by_page(places, pages, ff)


def _by_section(places: Sequence[IndexPlace]) -> list[str]:
    """Without pages: each section once, linked to the first mark in it, in the
    book's order (marks of one section are one place, as on one page)."""
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for place in places:
        key = (place.document, place.section)
        end = place.end
        if end is not None and (end.document, end.section) != key:
            out.append(_range(place, place.section, end, end.section))
            seen.add(key)
            continue
        if key in seen:
            continue
        seen.add(key)
        out.append(_link(place, place.section))
    return out


def _by_page(places: Sequence[IndexPlace], pages: Mapping[str, str], ff: bool) -> list[str]:
    """The printed pages, each once, consecutive ones merged into ranges (41–43, or
    41 f. and 41 ff.); a range marked by the author spans its pages."""
    spans: list[tuple[int, int, IndexPlace, IndexPlace]] = []
    other: list[str] = []  # pages that are not numbers, as they are
    for place in places:
        first = pages.get(place.ident)
        if first is None:
            continue
        last = pages.get(place.end.ident, first) if place.end is not None else first
        if not (first.isdigit() and last.isdigit()):
            other.append(_link(place, first))
            continue
        start, stop = int(first), int(last)
        end = place.end if place.end is not None and stop >= start else place
        spans.append((start, max(start, stop), place, end))
    spans.sort(key=lambda s: (s[0], s[1]))
    merged: list[tuple[int, int, IndexPlace, IndexPlace]] = []
    for start, stop, place, end in spans:
        if merged and start <= merged[-1][1] + 1:
            low, high, opened, _ = merged[-1]
            if stop > high:
                merged[-1] = (low, stop, opened, end)
            continue
        merged.append((start, stop, place, end))
    out: list[str] = []
    for start, stop, place, end in merged:
        if start == stop:
            out.append(_link(place, str(start)))
        elif ff:
            out.append(_link(place, f"{start}{NBSP}{'f.' if stop == start + 1 else 'ff.'}"))
        else:
            out.append(_range(place, str(start), end, str(stop)))
    return out + other
