"""Manuscript -> RenderedBook: every chapter rendered once to well-formed XHTML.

Three passes: parse every file (heading ids are made unique across the book),
cut the token streams into chapters and parts, then render each chapter with its
own notes and with links resolved across chapters. No file I/O here: resources
are located through the function the caller passes. What rendering finds (a link
removed, an image the fence dropped, raw HTML removed) is returned with the book,
as `RenderedBook.diagnostics`."""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape, unescape
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree
from markdown_it import MarkdownIt
from markdown_it.token import Token

from publisher.diagnostics import WARNING, Diagnostic, carry
from publisher.errors import InternalError, Location, ManuscriptError, PublisherError
from publisher.ids import IdPool, doc_id, part_id, section_id, title_id
from publisher.model import (
    BACK,
    BODY,
    FRONT,
    Bibliography,
    BookIndex,
    BookMeta,
    Formula,
    Manuscript,
    RenderedBook,
    RenderedChapter,
    Resource,
    SourceFile,
    TocEntry,
)
from publisher.render import xref
from publisher.render.cite import Apparatus, Citations, Group, bibliography_html, reading_order
from publisher.render.index import IndexMarks, Mark, Placed, build_index, index_chapter
from publisher.render.losses import silent_losses
from publisher.render.markdown import (
    Heading,
    ParseEnv,
    RenderEnv,
    make_parser,
    parse,
    plain_text,
    render_tokens,
    slug,
    walk,
)
from publisher.render.math import Budget
from publisher.source.fence import Refused, resolve
from publisher.source.styles import Numbering, already_numbered, roman
from publisher.xhtml import parse_body

# (chapter source, src as written, line) -> the resource, or the warning why the
# fence stopped it (the reference is dropped, its alt text stays)
Locate = Callable[[Path, str, int | None], Resource | Diagnostic]

# epub:type -> (DPUB-ARIA role, where it goes), after Pandoc's EPUB writer.
SECTION_TYPES: dict[str, tuple[str | None, str]] = {
    "chapter": ("doc-chapter", BODY),
    "part": ("doc-part", BODY),
    "prologue": ("doc-prologue", BODY),
    "epilogue": ("doc-epilogue", BODY),
    "introduction": ("doc-introduction", BODY),
    "conclusion": ("doc-conclusion", BODY),
    "foreword": ("doc-foreword", FRONT),
    "preface": ("doc-preface", FRONT),
    "dedication": ("doc-dedication", FRONT),
    "epigraph": ("doc-epigraph", FRONT),
    "acknowledgments": ("doc-acknowledgments", FRONT),
    "abstract": ("doc-abstract", FRONT),
    "titlepage": (None, FRONT),
    "copyright-page": (None, FRONT),
    "appendix": ("doc-appendix", BACK),
    "afterword": ("doc-afterword", BACK),
    "bibliography": ("doc-bibliography", BACK),
    "glossary": ("doc-glossary", BACK),
    "colophon": ("doc-colophon", BACK),
    "endnotes": ("doc-endnotes", BACK),
    "index": ("doc-index", BACK),
}
EXTERNAL_SCHEMES = ("http", "https", "mailto", "ftp", "tel")
# The accessible name of a scene break (`***`), by language; English otherwise.
SCENE_BREAK = {
    "en": "Scene break",
    "de": "Szenenwechsel",
    "fr": "Changement de scène",
    "es": "Cambio de escena",
    "it": "Cambio di scena",
    "pt": "Mudança de cena",
    "nl": "Scènewisseling",
    "ru": "Смена сцены",
    "uk": "Зміна сцени",
    "pl": "Zmiana sceny",
}


@dataclass
class ParsedFile:
    source: SourceFile
    tokens: list[Token]
    env: ParseEnv
    notes: dict[int, list[Token]]
    heading_starts: list[int] = field(default_factory=list)  # env.headings' indices, in order
    # Notes an earlier chapter cut from this file has rendered: another chapter that
    # calls one renders it again without the author's ids (the print is one document).
    notes_rendered: set[int] = field(default_factory=set)

    def headings_in(self, start: int, end: int) -> list[Heading]:
        """The headings among tokens[start:end], found by bisection: a chapter's
        headings cost their own number, not the file's."""
        return self.env.headings[
            bisect_left(self.heading_starts, start) : bisect_left(self.heading_starts, end)
        ]


@dataclass
class Plan:
    """One chapter (or part page) before rendering."""

    parsed: ParsedFile
    start: int  # the chapter's tokens: parsed.tokens[start:end]
    end: int
    heading: Heading | None  # the title heading at its start, if any
    kind: str
    matter: str
    chapter_level: int  # heading level chapters are split at in its file
    in_part: bool = False
    part_title: str | None = None  # a part page made from book.yaml
    file_name: str = ""

    @property
    def tokens(self) -> list[Token]:
        return self.parsed.tokens[self.start : self.end]


def render_book(
    manuscript: Manuscript, locate: Locate, numbering: Numbering | None = None
) -> RenderedBook:
    """`numbering`: the chapter and section numbers the book's style prints. An
    error raised carries the diagnostics found before it."""
    found: list[Diagnostic] = []
    try:
        return _render_book(manuscript, locate, numbering or Numbering(), found)
    except PublisherError as error:
        carry(error, found)
        raise


def _render_book(
    manuscript: Manuscript, locate: Locate, numbering: Numbering, found: list[Diagnostic]
) -> RenderedBook:
    meta = manuscript.meta
    citing = manuscript.bibliography is not None
    md = make_parser(meta.lang, raw_html=meta.raw_html, dashes=meta.dashes, citations=citing)
    used_ids = IdPool()
    budget = Budget()
    marks = IndexMarks()
    parsed = [
        _parse_file(md, source, used_ids, found, budget, marks) for source in manuscript.sources
    ]
    for file in parsed:
        kept = [*file.tokens, *(t for note in file.notes.values() for t in note)]
        found += silent_losses(kept, file.source.text, file.source.path)
    _check_labels(parsed, found)
    citations = _citations(manuscript.bibliography, meta, parsed, found)
    plans = _plan(parsed, meta)
    width = max(2, len(str(len(plans))))
    id_files: dict[str, str] = {}
    first_file: dict[Path, str] = {}
    resolved: dict[Path, Path] = {}  # each path resolved once (a system call each time)
    anchors = {_resolved(p.source.path, resolved): p.env.anchors for p in parsed}
    for number, plan in enumerate(plans, start=1):
        plan.file_name = f"{'part' if plan.kind == 'part' else 'chapter'}-{number:0{width}d}.xhtml"
        for ident in _ids_in(plan):
            id_files.setdefault(ident, plan.file_name)
        first_file.setdefault(_resolved(plan.parsed.source.path, resolved), plan.file_name)

    article = len(plans) == 1 and plans[0].heading is None
    resources: dict[str, Resource] = {}
    chapters = []
    heading_numbers = _all_heading_numbers(plans, article, numbering)
    groups = _citation_groups(plans, meta, article, citations)
    if citations is not None:
        citations.process(groups, used_ids)
        _cited_titles(parsed)
    crossrefs = _crossrefs(plans, heading_numbers, article, numbering, meta)
    by_file = {group.file: group for group in groups if group.entries}
    references = _references_title(meta, citations)
    marked = {m.ident: m for m in marks.marks if m.ident is not None}
    placed: dict[str, Placed] = {}
    for number, (plan, numbers) in enumerate(zip(plans, heading_numbers, strict=True), start=1):
        links = Links(anchors, id_files, first_file, used_ids, found, resolved)
        apparatus = Apparatus(crossrefs, plan.file_name, plan.parsed.source.path, found)
        chapter = _render_plan(
            md,
            plan,
            number,
            meta,
            locate,
            links,
            resources,
            article,
            numbers,
            apparatus,
            _Entries(by_file.get(plan.file_name), references, used_ids),
        )
        chapters.append(chapter)
        if marked:
            placed |= _placed(plan, chapter, numbers, marked, meta)
    back = by_file.get(BIBLIOGRAPHY)
    if back is not None:
        chapters.append(_bibliography_chapter(back, references, len(chapters) + 1, used_ids))
    index = _index(marks, placed, meta, chapters, found)  # the last chapter
    front = _front_pages(meta)
    return RenderedBook(
        meta,
        tuple(chapters),
        front,
        tuple(resources.values()),
        single_article=article,
        diagnostics=tuple(found),
        formulas=_formulas(parsed),
        index=index,
        source_size=sum(
            len(source.text.encode("utf-8", "surrogatepass")) for source in manuscript.sources
        ),
    )


def _all_heading_numbers(
    plans: list[Plan], article: bool, numbering: Numbering
) -> list[dict[str, tuple[str, str]]]:
    """Each chapter's heading numbers (`_heading_numbers`), known before any chapter
    is rendered: cross-references print them."""
    out: list[dict[str, tuple[str, str]]] = []
    counted = 0  # body chapters so far: their printed numbers
    for plan in plans:
        numbers: dict[str, tuple[str, str]] = {}
        if article:
            numbers = _heading_numbers(plan, None, numbering)
        elif (
            plan.kind == "chapter"
            and plan.matter == BODY
            and plan.heading is not None
            and not plan.heading.unnumbered
        ):
            counted += 1
            numbers = _heading_numbers(plan, counted, numbering)
        out.append(numbers)
    return out


# --- cross-references and citations (render/xref.py, render/cite.py) -------------------

BIBLIOGRAPHY = "bibliography.xhtml"  # the generated back matter's document


def _check_labels(parsed: list[ParsedFile], found: list[Diagnostic]) -> None:
    """A cross-reference label given twice is an error naming both places (an id
    given twice is only renamed: a reference must know which target it means)."""
    first: dict[str, Location] = {}
    for file in parsed:
        for label in file.env.labels:
            where = Location(file.source.path, label.line)
            if label.label in first:
                found[:] = [d for d in found if not (d.code == "T11" and d.subject == label.label)]
                raise ManuscriptError(
                    f"label '{label.label}' is given twice (first at {first[label.label]})",
                    where=where,
                    hint="give each figure, table, listing, equation and section its own label",
                )
            first[label.label] = where


def _citations(
    bibliography: Bibliography | None,
    meta: BookMeta,
    parsed: list[ParsedFile],
    found: list[Diagnostic],
) -> Citations | None:
    """The citation processor (citeproc-py is imported here, only for a manuscript
    with a bibliography); with a note style, each citation in the text becomes a
    footnote before the chapters are cut and their ids gathered."""
    if bibliography is None:
        return None
    citations = Citations(bibliography, meta, found)
    if citations.note_style:
        from publisher.render.cite import to_notes

        for file in parsed:
            to_notes(file.tokens, file.notes)
    return citations


def _crossrefs(
    plans: list[Plan],
    heading_numbers: list[dict[str, tuple[str, str]]],
    article: bool,
    numbering: Numbering,
    meta: BookMeta,
) -> xref.Crossrefs:
    """Every label numbered: per chapter after the chapter's printed number (3.2)
    when the style numbers chapters (or `crossref: chapters: true`), appendices
    lettered (A.1); through the book otherwise, and in an article."""
    words = xref.Words.make(meta.lang, meta.crossref)
    per_chapter = (
        words.chapters if words.chapters is not None else numbering.chapters != "none"
    ) and not article
    scopes: list[xref.Scope] = []
    appendices = 0
    for plan, numbers in zip(plans, heading_numbers, strict=True):
        title = plan.heading.ident if plan.heading is not None else None
        prefix = numbers[title][1] if title is not None and title in numbers else None
        word = ""
        if plan.kind == "appendix":
            appendices += 1
            prefix, word = xref.format_number(appendices, "alpha A"), words.appendix
        elif title is not None and title in numbers:
            word = words.chapter
        if prefix is None and per_chapter and plan.kind == "chapter" and plan.matter == BODY:
            prefix = str(len([s for s in scopes if s.prefix]) + 1) if words.chapters else None
        labels = plan.parsed.env.labels
        scopes.append(
            xref.Scope(
                [label for label in labels if plan.start <= label.index < plan.end],
                plan.file_name,
                plan.parsed.source.path,
                prefix,
                {ident: shown for ident, (_, shown) in numbers.items()},
                title,
                word,
            )
        )
    return xref.number_book(scopes, words, per_chapter)


def _citation_groups(
    plans: list[Plan], meta: BookMeta, article: bool, citations: Citations | None
) -> list[Group]:
    """The citations in reading order, by the bibliography they go to: the book's
    (back matter), or each chapter's with `bibliography-per-chapter` and in an
    article (its references end the article)."""
    if citations is None:
        return []
    ordered = [list(reading_order(plan.tokens, plan.parsed.notes)) for plan in plans]
    if not (meta.bibliography_per_chapter or article):
        return [Group(BIBLIOGRAPHY, [t for tokens in ordered for t in tokens])]
    groups = [
        Group(plan.file_name, tokens, nocite=article)
        for plan, tokens in zip(plans, ordered, strict=True)
    ]
    if not article and meta.nocite:
        groups.append(Group(BIBLIOGRAPHY, []))  # works listed without a citation
    return groups


def _references_title(meta: BookMeta, citations: Citations | None) -> str:
    if citations is None:
        return ""
    from publisher.render.cite import bibliography_title

    return bibliography_title(meta, citations.note_style)


@dataclass
class _Entries:
    """A chapter's own bibliography (per chapter, or an article's)."""

    group: Group | None
    title: str
    used_ids: IdPool

    def section(self, level: int) -> tuple[str, str] | None:
        """The section's XHTML and its heading's id."""
        if self.group is None or not self.group.entries:
            return None
        ident = self.used_ids.take(slug(self.title) or "references")
        return (
            f'<section class="references" epub:type="bibliography" role="doc-bibliography" '
            f'aria-labelledby="{ident}">\n<h{level} id="{ident}">{escape(self.title)}</h{level}>\n'
            f"{bibliography_html(self.group.entries)}</section>\n",
            ident,
        )


def _bibliography_chapter(
    group: Group, title: str, number: int, used_ids: IdPool
) -> RenderedChapter:
    """The book's bibliography: generated back matter at the end of the book, in
    the contents, the EPUB's navigation and the PDF's outline."""
    ident = used_ids.take(slug(title) or "references")
    body = (
        f'<section id="{section_id(number)}" class="bibliography" epub:type="bibliography" '
        f'role="doc-bibliography" aria-labelledby="{ident}">\n'
        f'<h1 id="{ident}">{escape(title)}</h1>\n{bibliography_html(group.entries)}</section>\n'
    )
    check_well_formed(body, Path(BIBLIOGRAPHY))
    return RenderedChapter(
        BIBLIOGRAPHY,
        title,
        body,
        (TocEntry(1, title, f"{BIBLIOGRAPHY}#{ident}"),),
        kind="bibliography",
        matter=BACK,
    )


def _formulas(parsed: list[ParsedFile]) -> tuple[Formula, ...]:
    """Each distinct formula of the book once, with where it is first written."""
    first: dict[str, Formula] = {}
    for file in parsed:
        for mathml, line in file.env.formulas.items():
            if mathml not in first:
                first[mathml] = Formula(mathml, Location(file.source.path, line))
    return tuple(first.values())


_ID = re.compile(r' id="([^"]+)"')


def _placed(
    plan: Plan,
    chapter: RenderedChapter,
    numbers: dict[str, tuple[str, str]],
    marked: dict[str, Mark],
    meta: BookMeta,
) -> dict[str, Placed]:
    """The index marks the chapter holds (its notes' too), each with the heading of
    the section it is in, as the contents show it: where the index points to when
    there are no page numbers."""

    def label(heading: Heading) -> str:
        shown = numbers.get(heading.ident)
        return f"{shown[1]} {heading.text}" if shown else heading.text

    whole = label(plan.heading) if plan.heading else chapter.title or meta.title
    out: dict[str, Placed] = {}
    for ident in _ID.findall(chapter.body):
        mark = marked.get(ident)
        if mark is None or mark.source != plan.parsed.source.path:
            continue
        section = whole
        if plan.start <= mark.block < plan.end:
            for heading in reversed(plan.parsed.headings_in(plan.start, mark.block)):
                if plan.parsed.tokens[heading.index].level == 0:
                    section = label(heading)
                    break
        out[ident] = Placed(chapter.file_name, section)
    return out


def _index(
    marks: IndexMarks,
    placed: dict[str, Placed],
    meta: BookMeta,
    chapters: list[RenderedChapter],
    found: list[Diagnostic],
) -> BookIndex | None:
    """The back-of-book index, appended to the chapters as the book's last document
    (render/index.py); None when no term is marked."""
    if not marks.marks:
        return None
    index = build_index(marks.marks, placed, meta, section_id(len(chapters) + 1), found)
    if index is not None:
        chapters.append(index_chapter(index))
    return index


def _ids_in(plan: Plan) -> list[str]:
    """The ids of the chapter's elements, and of those in the notes it calls (and
    the notes those call): the chapter renders them, so links to them go there."""
    ids: list[str] = []
    called: list[int] = []
    tokens: Sequence[Token] = plan.tokens
    seen: set[int] = set()
    while True:
        for token in walk(tokens):
            if token.attrs and token.attrGet("id"):
                ids.append(str(token.attrGet("id")))
            if token.type == "footnote_ref" and token.meta["id"] not in seen:
                seen.add(token.meta["id"])
                called.append(token.meta["id"])
        if not called:
            return ids
        tokens = plan.parsed.notes.get(called.pop(), [])


def _parse_file(
    md: MarkdownIt,
    source: SourceFile,
    used_ids: IdPool,
    found: list[Diagnostic],
    budget: Budget,
    marks: IndexMarks | None = None,
) -> ParsedFile:
    env = ParseEnv(
        used_ids,
        source=source.path,
        math=budget,
        index=marks if marks is not None else IndexMarks(),
    )
    tokens, _ = parse(md, source.text, env)
    found += env.found
    notes: dict[int, list[Token]] = {}
    if any(t.type == "footnote_block_open" for t in tokens):
        start = next(i for i, t in enumerate(tokens) if t.type == "footnote_block_open")
        current: int | None = None
        for token in tokens[start + 1 :]:
            if token.type == "footnote_open":
                current = token.meta["id"]
                notes[current] = []
            elif token.type == "footnote_close":
                current = None
            elif current is not None and token.type != "footnote_anchor":
                notes[current].append(token)
        tokens = tokens[:start]
        # A heading inside a note is set as the note's text: no chapter, no contents entry.
        env.headings = [h for h in env.headings if h.index < start]
        # Nor is a label numbered there: the reference would say it has no target.
        for label in env.labels:
            if label.index >= start:
                found.append(
                    Diagnostic(
                        "R11",
                        WARNING,
                        Location(source.path, label.line),
                        f"label '{label.label}' is inside a note: a note's figures, tables "
                        "and equations are not numbered, and references to it show '??'",
                        hint="move it from the note into the text",
                        subject=label.label,
                    )
                )
        env.labels = [label for label in env.labels if label.index < start]
    return ParsedFile(source, tokens, env, notes, [h.index for h in env.headings])


# --- cutting files into chapters ------------------------------------------------


def _levels(parsed: ParsedFile, meta: BookMeta) -> tuple[int | None, int]:
    """(part level or None, chapter level) for one file.

    Pandoc's rule: chapters start at level-1 headings. Where every level-1 heading
    only groups level-2 ones (`# VOLUME I` over `## CHAPTER I`), the level-1
    headings are parts and chapters start at level 2. `split-level` overrides."""
    top = [h for h in parsed.env.headings if parsed.tokens[h.index].level == 0]
    if meta.split_level is not None:
        level = meta.split_level
        return (level - 1 if level > 1 and any(h.level < level for h in top) else None), level
    ones = [h for h in top if h.level == 1]
    if len(ones) < 2:
        # One level-1 heading is a chapter's title, even when a section follows it
        # at once; parts need at least two of them in the file (or split-level).
        return None, 1
    grouping = True
    position = {id(h): k for k, h in enumerate(top)}  # top is in token order
    for n, heading in enumerate(ones):
        end = ones[n + 1].index if n + 1 < len(ones) else len(parsed.tokens)
        k = position[id(heading)] + 1
        first = top[k] if k < len(top) and top[k].index < end else None
        if first is None or first.level != 2:
            grouping = False
            break
        # A part page may carry an epigraph (a block quote), nothing else: a heading
        # followed by text is a chapter with sections.
        between = parsed.tokens[heading.index + 3 : first.index]
        if any(
            t.level == 0 and t.nesting >= 0 and t.type != "blockquote_open"
            for t in between
            if t.type != "blockquote_close"
        ):
            grouping = False
            break
    return (1, 2) if grouping else (None, 1)


def _has_content(tokens: Sequence[Token]) -> bool:
    return any(t.type != "inline" or t.content.strip() for t in tokens)


def _plan(files: list[ParsedFile], meta: BookMeta) -> list[Plan]:
    plans: list[Plan] = []
    in_part = False
    for parsed in files:
        part_level, chapter_level = _levels(parsed, meta)
        if parsed.source.part:
            plans.append(
                Plan(parsed, 0, 0, None, "part", BODY, chapter_level, part_title=parsed.source.part)
            )
            in_part = True
        top = [
            h
            for h in parsed.env.headings
            if parsed.tokens[h.index].level == 0 and h.level <= chapter_level
        ]
        cuts = [h.index for h in top]
        by_start = {h.index: h for h in top}
        starts = [0, *cuts] if not cuts or cuts[0] != 0 else cuts
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(parsed.tokens)
            heading = by_start.get(start)
            if heading is None and not _has_content(parsed.tokens[start:end]):
                continue  # blank lines before the first heading
            kind, matter = _kind(heading, part_level)
            if kind == "part":
                in_part = True
            elif matter != BODY:
                in_part = False
            plans.append(
                Plan(
                    parsed,
                    start,
                    end,
                    heading,
                    kind,
                    matter,
                    chapter_level,
                    in_part=in_part and kind != "part",
                )
            )
    return plans


def _kind(heading: Heading | None, part_level: int | None) -> tuple[str, str]:
    if heading is None:
        return "chapter", BODY
    if part_level is not None and heading.level <= part_level:
        return "part", BODY
    kind = heading.epub_type if heading.epub_type in SECTION_TYPES else "chapter"
    assert kind is not None
    return kind, SECTION_TYPES[kind][1]


# --- rendering -----------------------------------------------------------------


def _heading_numbers(
    plan: Plan, chapter: int | None, numbering: Numbering
) -> dict[str, tuple[str, str]]:
    """heading id -> (class, number shown) for one chapter: the chapter's own number
    (unless its title already says it), then 1.1, 1.1.1 for the sections below it."""
    numbers: dict[str, tuple[str, str]] = {}
    title = plan.heading
    if (
        chapter is not None
        and title is not None
        and numbering.chapters != "none"
        and not already_numbered(title.text)
    ):
        shown = roman(chapter) if numbering.chapters == "roman" else str(chapter)
        numbers[title.ident] = ("chapter-number", shown)
    if not numbering.sections:
        return numbers
    top = title.level if title is not None else 1
    counters = [0, 0, 0]
    for heading in plan.parsed.headings_in(plan.start, plan.end):
        if heading is title:
            continue
        depth = heading.level - top  # 1: a section of the chapter
        if plan.parsed.tokens[heading.index].level != 0 or not 1 <= depth <= 3:
            continue
        if heading.unnumbered:
            continue
        counters[depth - 1] += 1
        counters[depth:] = [0] * (3 - depth)
        parts = ([str(chapter)] if chapter is not None else []) + [str(n) for n in counters[:depth]]
        numbers[heading.ident] = ("section-number", ".".join(parts))
    return numbers


def _cited_titles(parsed: list[ParsedFile]) -> None:
    """A section's title, as a reference to it shows it, with its citations
    formatted (they were left out when the heading was read)."""
    for file in parsed:
        for label in file.env.labels:
            children = file.tokens[label.index + 1].children if label.kind == "sec" else None
            if children and any(c.type == "citation" and "cite_html" in c.meta for c in children):
                label.title = plain_text(children, _cited_text)


def _cited_text(token: Token) -> str:
    html = str(token.meta.get("cite_html", ""))
    return unescape(re.sub(r"<[^>]*>", "", html))


def _shown_text(plan: Plan, heading: Heading, apparatus: Apparatus | None) -> str:
    """A heading's text as it is printed: its citations and cross-references
    resolved (the contents, the outline and the document's title agree)."""
    if apparatus is None:
        return heading.text
    children = plan.parsed.tokens[heading.index + 1].children or []
    if not any(child.type == "citation" for child in children):
        return heading.text
    return plain_text(children, apparatus.text)


def _render_plan(
    md: MarkdownIt,
    plan: Plan,
    number: int,
    meta: BookMeta,
    locate: Locate,
    links: Links,
    resources: dict[str, Resource],
    article: bool,
    numbers: dict[str, tuple[str, str]],
    apparatus: Apparatus | None = None,
    entries: _Entries | None = None,
) -> RenderedChapter:
    source = plan.parsed.source.path

    def resolve_image(src: str, line: int | None) -> str | None:
        resource = locate(source, src, line)
        drain = getattr(locate, "drain", None)  # the Locator's warnings on what it packaged
        if drain is not None:
            links.found.extend(drain())
        if isinstance(resource, Diagnostic):
            links.found.append(resource)
            return None
        resources.setdefault(resource.href, resource)
        return resource.href

    def resolve_link(href: str, line: int | None) -> str | None:
        return links.resolve(href, source, line, plan.file_name)

    shift = plan.heading.level - 1 if plan.heading else 0

    warned: set[tuple[str, int | None]] = set()

    def warn(note: str, line: int | None) -> None:
        # Once a line: 1 MB of one unclosed tag was 166,000 times the same warning.
        if (note, line) not in warned:
            warned.add((note, line))
            links.found.append(
                Diagnostic(
                    "T06", WARNING, Location(source, line), f"raw HTML: {note}", subject=note
                )
            )

    env = RenderEnv(
        doc_id(number),
        resolve_image,
        resolve_link,
        heading_shift=shift,
        used_ids=links.used_ids,
        warn=warn,
        heading_numbers=numbers,
        scene_break=SCENE_BREAK.get(meta.lang.split("-")[0].lower(), SCENE_BREAK["en"]),
        apparatus=apparatus,
    )
    html = render_tokens(md, plan.tokens, env)
    references = entries.section(2) if entries is not None else None
    if references is not None:
        html += references[0]
    html += _render_notes(md, plan, env)

    toc: list[TocEntry] = []
    base = plan.chapter_level - (1 if plan.in_part else 0)
    if plan.part_title:
        title = plan.part_title
        ident = part_id(number)
        html = f'<h1 id="{ident}">{escape(title)}</h1>\n' + html
        toc.append(TocEntry(1, title, f"{plan.file_name}#{ident}"))
    elif article:
        title = meta.title
        ident = title_id(number)
        html = _article_header(meta, ident) + _with_dateline(html, meta.dateline)
        toc.append(TocEntry(1, title, f"{plan.file_name}#{ident}"))
    elif plan.heading is not None:
        title = _shown_text(plan, plan.heading, apparatus)
    else:
        title = ""
    if plan.kind == "part":
        base = plan.heading.level if plan.heading else 1
    for heading in plan.parsed.headings_in(plan.start, plan.end):
        level = max(1, heading.level - base + 1)
        if plan.parsed.tokens[heading.index].level == 0 and level <= meta.toc_depth:
            # The contents show the numbers the headings show.
            shown = numbers.get(heading.ident)
            text = _shown_text(plan, heading, apparatus)
            label = f"{shown[1]} {text}" if shown else text
            toc.append(TocEntry(level, label, f"{plan.file_name}#{heading.ident}"))
    if references is not None and entries is not None:
        level = 2 if article else max(1, (plan.heading.level if plan.heading else 1) - base + 2)
        if level <= meta.toc_depth:
            toc.append(TocEntry(level, entries.title, f"{plan.file_name}#{references[1]}"))
    role, _ = SECTION_TYPES[plan.kind]
    role_attr = f' role="{role}"' if role else ""
    label = f' aria-labelledby="{plan.heading.ident}"' if plan.heading else ""
    body = (
        f'<section id="{section_id(number)}" class="{plan.kind}" epub:type="{plan.kind}"'
        f"{role_attr}{label}>\n{html}</section>\n"
    )
    check_well_formed(body, source)
    return RenderedChapter(
        plan.file_name,
        title,
        body,
        tuple(toc),
        kind=plan.kind,
        matter=plan.matter,
        in_part=plan.in_part,
        source=source,
    )


def _render_notes(md: MarkdownIt, plan: Plan, env: RenderEnv) -> str:
    """The chapter's notes, in the order of their first call; notes called from
    inside notes follow, until none is left."""
    notes = plan.parsed.notes
    parts: list[str] = []
    done = 0  # notes in the order of their numbers: those before `done` are rendered
    while done < len(env.note_order):
        pending = [n for n in env.note_order[done:] if n in notes]
        done = len(env.note_order)
        if not pending:
            continue
        tokens: list[Token] = []
        for note in pending:
            open_token = Token("footnote_open", "", 1)
            open_token.meta = {"id": note}
            body = notes[note]
            if note in plan.parsed.notes_rendered:
                body = _without_ids(body)
            tokens += [open_token, *body, Token("footnote_close", "", -1)]
        plan.parsed.notes_rendered.update(pending)
        parts.append(render_tokens(md, tokens, env))
    if not parts:
        return ""
    return '<section class="footnotes" aria-label="Notes">\n' + "".join(parts) + "</section>\n"


def _without_ids(tokens: Sequence[Token]) -> list[Token]:
    """Copies of a note's tokens without the ids the author gave its elements (raw
    HTML's are dropped when it is sanitised): the note's first rendering keeps them,
    and links to them go there."""
    out = []
    for token in tokens:
        changes: dict[str, object] = {}
        if token.attrs and "id" in token.attrs:
            changes["attrs"] = {k: v for k, v in token.attrs.items() if k != "id"}
        if token.children:
            changes["children"] = _without_ids(token.children)
        if token.type in ("html_inline", "html_block"):
            changes["meta"] = {**token.meta, "drop_ids": True}
        out.append(token.copy(**changes) if changes else token)
    return out


@dataclass(frozen=True)
class Links:
    """Resolves links between chapters: `#id`, `other.md`, `other.md#id`."""

    anchors: dict[Path, dict[str, str]]  # file -> id as written -> id in the book
    id_files: dict[str, str]  # id in the book -> the document holding it
    first_file: dict[Path, str]  # source file -> its first document
    used_ids: IdPool  # every id in the book (raw HTML takes its ids from it)
    found: list[Diagnostic] = field(default_factory=list)  # the book's diagnostics, in order
    resolved: dict[Path, Path] = field(default_factory=dict)  # paths resolved so far

    def resolve(self, href: str, source: Path, line: int | None, here: str) -> str | None:
        parts = urlsplit(href)
        if parts.scheme:
            scheme = parts.scheme.lower()
            if scheme not in EXTERNAL_SCHEMES:
                self.found.append(
                    _dropped("T02", href, source, line, "links of this kind are not kept")
                )
                return None
            if scheme in ("http", "https", "ftp") and not _valid_host(parts.netloc):
                self.found.append(_dropped("T03", href, source, line, "it has no valid host name"))
                return None
            return href
        target = _resolved(source, self.resolved)
        if parts.path:
            named = resolve(source.parent, unquote(parts.path))  # a NUL: no chapter
            if isinstance(named, Refused) or named not in self.first_file:
                why = "it is not a chapter of this book"
                names = [os.path.relpath(f, source.parent) for f in self.first_file]
                hint = _did_you_mean(unquote(parts.path), names)
                self.found.append(_dropped("T04", href, source, line, why, hint))
                return None
            target = named
        fragment = unquote(parts.fragment)
        if not fragment:
            return self.first_file[target]
        ident = self.anchors.get(target, {}).get(fragment)
        if ident is None and fragment in self.id_files:
            ident = fragment  # an id as it stands in the book, such as a note's
        if ident is None:
            why = f"no heading or element has the id '{fragment}'"
            hint = _did_you_mean(fragment, list(self.anchors.get(target, {})), prefix="#")
            self.found.append(_dropped("T05", href, source, line, why, hint))
            return None
        file = self.id_files.get(ident)
        if file is None:  # an id in a note no chapter calls: not in the book
            why = f"no heading or element has the id '{fragment}'"
            self.found.append(_dropped("T05", href, source, line, why))
            return None
        return f"#{ident}" if file == here else f"{file}#{ident}"


def _resolved(path: Path, cache: dict[Path, Path]) -> Path:
    found = cache.get(path)
    if found is None:
        found = cache[path] = path.resolve()
    return found


_HOST_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$")


def _valid_host(netloc: str) -> bool:
    """A host EPUBCheck accepts: non-empty dot-separated labels, or an IP literal."""
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.endswith("]") or "]:" in host
    host = host.split(":", 1)[0].rstrip(".")
    return bool(host) and all(_HOST_LABEL.match(label) for label in host.split("."))


def _dropped(
    code: str, href: str, source: Path, line: int | None, why: str, hint: str | None = None
) -> Diagnostic:
    return Diagnostic(
        code,
        WARNING,
        Location(source, line),
        f"link '{href}' removed: {why}",
        hint or "",
        subject=href,
        reason=why,
    )


def _did_you_mean(wrong: str, names: list[str], prefix: str = "") -> str | None:
    """The closest of `names` to a mistyped target, as a hint: close enough to be a
    slip of the keys (a letter or two), not merely the same extension."""
    import difflib

    close = difflib.get_close_matches(wrong, names, n=1, cutoff=0.75)
    return f"did you mean '{prefix}{close[0]}'?" if close else None


def _with_dateline(html: str, dateline: str | None) -> str:
    """The dateline runs in at the start of the story's first paragraph."""
    if not dateline:
        return html
    at = html.find("<p>")
    if at < 0:
        return f'<p class="dateline">{escape(dateline)}</p>\n' + html
    run_in = f'<p class="has-dateline"><span class="dateline">{escape(dateline)}</span> \u2014 '
    return html[:at] + run_in + html[at + 3 :]


def _article_header(meta: BookMeta, ident: str) -> str:
    parts = [f'<header class="article-head">\n<h1 id="{ident}">{escape(meta.title)}</h1>\n']
    if meta.subtitle:
        parts.append(f'<p class="subtitle" role="doc-subtitle">{escape(meta.subtitle)}</p>\n')
    if meta.authors:
        parts.append(f'<p class="byline">{escape(", ".join(meta.authors))}</p>\n')
    parts.append("</header>\n")
    return "".join(parts)


# --- front matter pages ------------------------------------------------------------


def _front_pages(meta: BookMeta) -> tuple[RenderedChapter, ...]:
    pages = []
    parts = [
        '<section class="titlepage" epub:type="titlepage" id="titlepage">\n',
        f'<h1 class="title">{escape(meta.title)}</h1>\n',
    ]
    if meta.subtitle:
        parts.append(f'<p class="subtitle">{escape(meta.subtitle)}</p>\n')
    if meta.authors:
        parts.append(f'<p class="authors">{escape(", ".join(meta.authors))}</p>\n')
    if meta.publisher:
        parts.append(f'<p class="publisher">{escape(meta.publisher)}</p>\n')
    parts.append("</section>\n")
    pages.append(
        RenderedChapter(
            "titlepage.xhtml", meta.title, "".join(parts), (), kind="titlepage", matter=FRONT
        )
    )

    lines = []
    if meta.rights:
        lines.append(escape(meta.rights))
    if meta.edition:
        lines.append(escape(meta.edition))
    if meta.publisher:
        lines.append(f"Published by {escape(meta.publisher)}")
    if meta.identifier.scheme == "ISBN":
        lines.append(f"ISBN {escape(meta.identifier.value)}")
    elif meta.identifier.scheme not in ("UUID", None) or (
        meta.identifier.scheme is None and not meta.identifier.value.startswith("urn:uuid:")
    ):
        lines.append(escape(meta.identifier.value))
    if lines:
        body = "".join(f"<p>{line}</p>\n" for line in lines)
        pages.append(
            RenderedChapter(
                "copyright.xhtml",
                "Copyright",
                f'<section class="copyright-page" epub:type="copyright-page" '
                f'id="copyright" aria-label="Copyright">\n{body}</section>\n',
                (),
                kind="copyright-page",
                matter=FRONT,
            )
        )
    if meta.dedication:
        pages.append(
            RenderedChapter(
                "dedication.xhtml",
                "Dedication",
                '<section class="dedication" epub:type="dedication" role="doc-dedication" '
                f'id="dedication" aria-label="Dedication">\n<p>{escape(meta.dedication)}</p>\n'
                "</section>\n",
                (),
                kind="dedication",
                matter=FRONT,
            )
        )
    return tuple(pages)


def check_well_formed(body: str, source: Path) -> None:
    try:
        parse_body(body)
    except etree.XMLSyntaxError as exc:
        # Never expected: raw HTML is escaped. A bug in a render rule, reported as such.
        raise InternalError(
            f"rendered XHTML is not well-formed ({exc.msg})",
            where=Location(source),
            hint="please report it with the manuscript",
        ) from None
