"""Ids in the book's documents: the one place that makes the ids publisher
generates, and the pool every other id is taken from (an author's `{#id}`, a
heading's slug, an id in raw HTML).

The generated ids form a reserved namespace (`reserved`): the fixed names of
publisher's own pages and navigation, and numbered families (notes and their
calls, chapter sections, part and article titles, print page breaks, the Kobo
edition's sentence spans, the index's marked places, entries and letter
groups). `IdPool` never gives out an id in that namespace, so author ids and
generated ids are disjoint by construction: a generated id needs no check
against what the author wrote, and a note link cannot jump to an author's
element of the same name. Taking an id costs O(1) amortised: each base
keeps its own counter, so 10,000 headings of one title cost 10,000 steps, not
50 million."""

from __future__ import annotations

import re

# Fixed ids of publisher's own pages and navigation (and the print contents, the
# Kobo edition's wrappers).
FIXED = frozenset(
    {
        "cover",
        "titlepage",
        "copyright",
        "dedication",
        "toc",
        "toc-title",
        "landmarks",
        "landmarks-title",
        "page-list",
        "page-list-title",
        "print-toc-title",
        "book-columns",
        "book-inner",
        "index-title",
    }
)
# The numbered families; every generator below gives an id of one of them.
_FAMILIES = re.compile(
    r"(?:fn-c\d+-\d+|fnref-c\d+-\d+(?:-\d+)?|section-\d+|part-\d+|title-\d+|page-\d+"
    r"|kobo\.\d+\.\d+|ix-\d+|ix-entry-\d+|ix-group-\d+)"
)
# What an XML id may be here: no leading digit, no colon.
NAME = re.compile(r"^[^\W\d][\w.-]*$")


def reserved(ident: str) -> bool:
    """Whether `ident` is in publisher's own namespace: only publisher makes it."""
    return ident in FIXED or _FAMILIES.fullmatch(ident) is not None


def doc_id(number: int) -> str:
    """The chapter's part of its note ids (notes are numbered per chapter)."""
    return f"c{number}"


def note_id(doc: str, number: int) -> str:
    return f"fn-{doc}-{number}"


def noteref_id(doc: str, number: int, call: int = 1) -> str:
    """The id of a note's `call`-th call in the text."""
    return f"fnref-{doc}-{number}" + (f"-{call}" if call > 1 else "")


def section_id(number: int) -> str:
    """The `<section>` of the book's `number`-th chapter or part page."""
    return f"section-{number}"


def part_id(number: int) -> str:
    """The title of a part page made from book.yaml."""
    return f"part-{number}"


def title_id(number: int) -> str:
    """The headline of an article (a book of one untitled chapter)."""
    return f"title-{number}"


def page_id(label: str) -> str:
    """A print page-break marker; `label` is the page's number."""
    if not label.isdigit():
        raise ValueError(f"page label {label!r} is not a number")
    return f"page-{label}"


def kobo_id(block: int, sentence: int) -> str:
    return f"kobo.{block}.{sentence}"


def index_mark_id(number: int) -> str:
    """The `number`-th place an index term is marked in the book (an index locator's
    target)."""
    return f"ix-{number}"


_INDEX_MARK = re.compile(r"ix-\d+")


def is_index_mark_id(ident: str) -> bool:
    """Whether `ident` is one index_mark_id gives."""
    return _INDEX_MARK.fullmatch(ident) is not None


def index_entry_id(number: int) -> str:
    """An entry of the index document (the target of its "see" references)."""
    return f"ix-entry-{number}"


def index_group_id(number: int) -> str:
    """A letter group's heading in the index document."""
    return f"ix-group-{number}"


class IdPool:
    """The ids taken in one book, outside the reserved namespace. `in` is true for
    a taken id and for every reserved one."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._next: dict[str, int] = {}  # base -> the last number tried for it

    def __contains__(self, ident: object) -> bool:
        return isinstance(ident, str) and (ident in self._used or reserved(ident))

    def __len__(self) -> int:
        return len(self._used)

    def add(self, ident: str) -> None:
        """Marks an id as taken as it stands (raw HTML's, checked with `in` first)."""
        if reserved(ident):
            raise ValueError(f"id {ident!r} is reserved for publisher's own")
        self._used.add(ident)

    def take(self, base: str) -> str:
        """`base` if it is free, else the first free of base-2, base-3, ... (base_2,
        base_3, ... where base-N is a family publisher makes itself, as for
        `section`), counted on from the last number tried for the same base."""
        if base not in self:
            self._used.add(base)
            return base
        n = self._next.get(base, 1)
        while True:
            n += 1
            candidate = f"{base}-{n}"
            if reserved(candidate):
                candidate = f"{base}_{n}"  # never reserved: every family ends in -N or .N
            if candidate not in self._used:
                break
        self._next[base] = n
        self._used.add(candidate)
        return candidate
