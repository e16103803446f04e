"""A long book's PDF laid out in pieces, at once, and joined into one.

WeasyPrint lays a document out page after page in one process: a 300-page book
keeps one core busy for seconds while the others idle. So a long book is cut,
before layout, into pieces that each begin with a chapter opening on a right-hand
page (its parity is then known: odd), and each piece is laid out and written as
its own document, in its own process where fork is there. What crosses a cut:

- page numbers: a piece is laid out without its folios; once every piece's page
  count is known, its margin boxes (folios, running heads) are made with its real
  page numbers (`deferred_margins`, `finish_margins` in weasyprint/hooks.py);
- the printed contents: the front piece (title pages, contents, and any chapters
  before the first right-hand opening) is laid out once the others are, with the
  page numbers of their headings written in (`data-page`); a first layout with
  numbers of the likely width, made while they are laid out, gives its length,
  from which they are numbered;
- links and bookmarks: a piece holds an empty anchor for each target it links to
  elsewhere; in the joined PDF each name goes to the piece that really has it, and
  the outlines, the structure tree and its parent tree are joined (`join`);
- the index: its locators are the pages of the marked places, known once every
  other piece is laid out, so it is a piece of its own, laid out last (once, unless
  the front's length changes the numbers), after a right-hand opening. A book with
  an index is cut this way however short it is: the rest is laid out once, never
  twice (layout.py's whole-book way needs two layouts).

The first piece and the front are made in the process that joins them (the PDF's
child, job.py), every other piece in a process forked from it. The plan depends
on the book alone, never on the machine: the same book gives the same pieces, and
the same bytes, with or without fork, on any number of cores. Without fork (or if
a piece's process is lost) the pieces are made one after another here."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.forked import Channel, Forked, Lost, can_fork
from publisher.pagination import PageStart, starts_from_places
from publisher.pdf.weasyprint.boxes import find_targets, page_places
from publisher.pdf.weasyprint.hooks import (
    Deferred,
    deferred_margins,
    finish_margins,
    margins_deferrable,
    page_boxes,
)
from publisher.xhtml import parse_body

if TYPE_CHECKING:
    from publisher.model import RenderedBook
    from publisher.pdf.layout import Layout, PdfInputs

# Below this much text, one process lays the book out sooner than pieces would
# (each piece pays for its own style cascade, and the front piece waits for all).
SPLIT_TEXT = 60_000
PIECE_TEXT = 120_000  # text per piece, roughly, beyond the first cut
MAX_PIECES = 4
# Laying out and drawing one line of the printed contents (its dot leader is a box
# per dot) costs about as much as this much text.
FRONT_ENTRY_TEXT = 250
# Section classes that open on a right-hand page in a profile whose chapters do.
_OPENINGS = {"chapter", "bodymatter", "backmatter", "part"}


@dataclass(frozen=True)
class Plan:
    """chapters[:front] go with the title pages and contents (the front piece);
    piece i holds chapters[starts[i]:starts[i + 1]] (the last, up to the index or
    the end); chapters[index], the index, is a piece of its own, laid out last."""

    front: int
    starts: tuple[int, ...]
    text: int  # characters of text in the book
    index: int | None = None


def plan(inputs: PdfInputs) -> Plan | None:
    """Where to cut the book, or None to lay it out whole."""
    book = inputs.book
    index = index_position(book)
    body = len(book.chapters) if index is None else index
    if (
        book.single_article
        or inputs.profile.chapter_break != "right"
        or book.meta.direction == "rtl"
        or body < (2 if index is None else 1)
        or not margins_deferrable()
        or page_dependent_css(inputs)
    ):
        return None
    sections = [parse_body(chapter.body)[0] for chapter in book.chapters[:body]]
    sizes = [sum(len(text) for text in section.itertext()) for section in sections]
    total = sum(sizes)
    if total < SPLIT_TEXT and index is None:
        return None
    cuts = {
        i
        for i, (chapter, section) in enumerate(zip(book.chapters, sections, strict=False))
        if not chapter.in_part and set(str(section.get("class", "")).split()) & _OPENINGS
    }
    if not cuts:
        return None
    front = min(cuts)
    starts = [front]
    if total >= SPLIT_TEXT:  # shorter: one piece besides the front (and the index)
        count = max(2, min(MAX_PIECES, total // PIECE_TEXT))
        # The process of the first piece also lays out the front (twice) and
        # writes it: a lighter piece of the body evens out the work.
        done = 2 * sum(sizes[:front]) + FRONT_ENTRY_TEXT * len(book.toc)
        work = done + sum(sizes[front:])
        for i in range(front, len(sizes)):
            if i in cuts and i != front and done >= work * len(starts) / count:
                starts.append(i)
                if len(starts) == count:
                    break
            done += sizes[i]
    if len(starts) < 2 and index is None:
        return None
    return Plan(front, tuple(starts), total, index)


def index_position(book: RenderedBook) -> int | None:
    """Where the index is among the chapters (the last), if the book has one."""
    if book.index is None or not book.chapters:
        return None
    last = len(book.chapters) - 1
    return last if book.chapters[last].file_name == book.index.document else None


# --- one piece ------------------------------------------------------------------


@dataclass(frozen=True)
class Sketch:
    """A laid-out piece, before its folios: what the others need to know of it."""

    pages: int
    places: tuple[tuple[str, int] | None, ...]  # where each page begins (pagination)
    targets: dict[str, int]  # contents targets found here: id -> page index in the piece
    stubs: frozenset[str]  # anchors it links to but does not hold


class Piece:
    """One piece: laid out (`sketch`), then finished and written (`write`)."""

    def __init__(
        self,
        inputs: PdfInputs,
        chapters: range,
        front: bool = False,
        numbers: dict[str, str] | None = None,
        *,
        deferred: bool | None = None,
        opening: str | None = None,
        side: str | None = None,
    ) -> None:
        self.inputs = inputs
        self.chapters = chapters
        self.front = front
        self.numbers = numbers
        self.deferred = not front if deferred is None else deferred
        self.opening = opening  # piece_html's
        self.side = side
        self.kept = Deferred()
        self.layout: Layout | None = None

    def sketch(self, targets: frozenset[str]) -> Sketch:
        """Lays the piece out. The front piece has the other pieces' page numbers
        written in, and its margin boxes made as usual; the others defer theirs."""
        from publisher.pdf.layout import piece_html, render_html

        book = self.inputs.book
        html, stubs = piece_html(
            book,
            self.chapters,
            front=self.front,
            numbers=self.numbers,
            formulas=self.inputs.formulas,
            opening=self.opening,
            side=self.side,
        )
        if not self.deferred:
            self.layout = render_html(self.inputs, html)
        else:
            with deferred_margins(self.kept) as deferred:
                if not deferred:  # WeasyPrint not as expected: the book is laid out whole
                    raise Unsettled("margin boxes cannot be deferred")
                self.layout = render_html(self.inputs, html)
        boxes = page_boxes(self.layout.document)
        found = find_targets(boxes, targets)
        return Sketch(len(boxes), tuple(page_places(boxes)), found, stubs)

    def write(self, first: int, total: int) -> bytes:
        """The piece's PDF, its first page numbered `first`; it may be written again
        with other numbers until `release`."""
        assert self.layout is not None
        finish_margins(self.layout.document, self.kept, first, total)
        return self.layout.write()

    def release(self) -> None:
        self.layout = None


# --- the whole book -------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    starts: tuple[PageStart, ...]
    pages: int
    marks: dict[str, str] = field(default_factory=dict)  # index mark id -> printed page


class PieceWork:
    """The pieces of one book: `pages` lays them all out, `result` joins them."""

    def __init__(self, inputs: PdfInputs, cut: Plan, parallel: bool) -> None:
        self.inputs = inputs
        self.plan = cut
        self.parallel = parallel
        book = inputs.book
        ends = (*cut.starts[1:], len(book.chapters) if cut.index is None else cut.index)
        self.marks = frozenset(book.index.marks) if book.index is not None else frozenset()
        self.targets = (
            frozenset(e.href.split("#", 1)[1] for e in book.toc if "#" in e.href) | self.marks
        )
        # The first piece is made in this process (with the front), the others in
        # forked ones: one process fewer holding WeasyPrint and its own copy of
        # what it touches.
        self.workers: list[_Worker] = [
            _Worker(Piece(inputs, range(start, end)), self.targets, parallel and index > 0)
            for index, (start, end) in enumerate(zip(cut.starts, ends, strict=True))
        ]
        self.sketches: list[Sketch] = []
        self.front: Piece | None = None
        self.front_sketch: Sketch | None = None
        self.firsts: list[int] = []
        self.total = 0
        self.index: _Index | None = None

    def pages(self) -> Made:
        # The front piece's contents carry the other pieces' page numbers, which
        # depend on its own length. A first layout with numbers of the likely width
        # (here while the other pieces are laid out) gives that length; the pieces
        # are numbered from it and written while the front is laid out again with
        # the real numbers. If its length changed (a contents line wrapping with
        # wider numbers), they are numbered and written again, until it holds.
        # The index, last, is laid out once the pages of its marks are known.
        width = len(str(self.plan.text // 500 + 10))
        likely = {name: "8" * width for name in self.targets}
        mine = self.workers[0].sketch()  # here, while the others are made elsewhere
        front = self._front(likely)
        pages = front.pages
        if self.parallel and not _prints_page_total(self.inputs):
            # While the others are still laid out: the first piece's numbers follow
            # from the front's length alone.
            self.workers[0].write_early(_numbering(pages, [mine.pages])[0][0])
        sketches = [mine] + [worker.sketch() for worker in self.workers[1:]]
        for _ in range(4):
            firsts, body = _numbering(pages, [s.pages for s in sketches])
            numbers = {
                name: str(first + index)
                for sketch, first in zip(sketches, firsts, strict=True)
                for name, index in sketch.targets.items()
            }
            total = body
            if self.plan.index is not None:
                total = self._index(front.sketch, sketches, firsts, body)
                numbers[self._index_target()] = str(total - self._index_pages() + 1)
            for worker, first in zip(self.workers, firsts, strict=True):
                worker.number(first, total)
            front = self._front(numbers)
            if front.pages == pages:
                break
            pages = front.pages
        else:
            raise Unsettled("the front pages' length did not settle")
        if self.plan.index is not None and self.index is not None:
            # The marks in the front's chapters, as its last layout placed them.
            again = self._index(front.sketch, sketches, firsts, body)
            if again != total:
                total = again
                for worker, first in zip(self.workers, firsts, strict=True):
                    worker.number(first, total)
        front_sketch = front.sketch
        self.front, self.firsts, self.total = front.piece, firsts, total
        self.sketches, self.front_sketch = sketches, front_sketch
        places: list[tuple[str, int] | None] = list(front_sketch.places)
        for sketch, first in zip(sketches, firsts, strict=True):
            places += [None] * (first - 1 - len(places))  # a blank verso
            places += sketch.places
        marks: dict[str, str] = {}
        if self.index is not None:
            places += [None] * (self.index.first - 1 - len(places))
            places += self.index.sketch.places
            marks = self.index.marks
        return Made(tuple(starts_from_places(places)), total, marks)

    def _front(self, numbers: dict[str, str]) -> _Front:
        piece = Piece(self.inputs, range(self.plan.front), front=True, numbers=numbers)
        return _Front(piece, piece.sketch(self.marks))

    def _index_target(self) -> str:
        index = self.inputs.book.index
        assert index is not None
        return next(
            e.href.split("#", 1)[1]
            for e in self.inputs.book.toc
            if e.href.startswith(f"{index.document}#")
        )

    def _index_pages(self) -> int:
        return self.index.sketch.pages if self.index is not None else 0

    def _index(self, front: Sketch, sketches: list[Sketch], firsts: list[int], done: int) -> int:
        """Lays the index out with its marks' pages, unless it was with the same
        ones; returns the book's page count with it (`done`: without it)."""
        from publisher.render.index import with_pages

        assert self.plan.index is not None
        marks = {
            name: str(index + 1) for name, index in front.targets.items() if name in self.marks
        }
        for sketch, first in zip(sketches, firsts, strict=True):
            marks |= {
                name: str(first + index)
                for name, index in sketch.targets.items()
                if name in self.marks
            }
        first = _numbering(done, [0])[0][0]
        if self.index is None or self.index.marks != marks or self.index.first != first:
            book = with_pages(self.inputs.book, marks)
            chapters = range(self.plan.index, self.plan.index + 1)
            piece = Piece(replace(self.inputs, book=book), chapters)
            self.index = _Index(piece, piece.sketch(frozenset()), marks, first)
        return first - 1 + self.index.sketch.pages

    def result(self) -> bytes:
        assert self.front is not None and self.front_sketch is not None
        front = self.front.write(1, self.total)
        self.front.release()
        parts = [(front, self.front_sketch.stubs, 1)]
        for worker, sketch, first in zip(self.workers, self.sketches, self.firsts, strict=True):
            parts.append((worker.result(), sketch.stubs, first))
        if self.index is not None:
            data = self.index.piece.write(self.index.first, self.total)
            self.index.piece.release()
            parts.append((data, self.index.sketch.stubs, self.index.first))
        return join(parts)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


@dataclass(frozen=True)
class _Front:
    piece: Piece
    sketch: Sketch

    @property
    def pages(self) -> int:
        return self.sketch.pages


@dataclass(frozen=True)
class _Index:
    """The index's piece, laid out with its marks' pages, from page `first` on."""

    piece: Piece
    sketch: Sketch
    marks: dict[str, str]
    first: int


class TailWork:
    """A book laid out whole but for its index, which is laid out apart once the
    pages of its marks are known: where the book cannot be cut into pieces (an
    article, chapters opening on any page, right to left, a style sheet whose
    result depends on earlier pages). The book's last page is an empty one where
    the index opens, so that the contents give its number; it is replaced by the
    index's pages when they are joined."""

    def __init__(self, inputs: PdfInputs) -> None:
        index = inputs.book.index
        position = index_position(inputs.book)
        assert index is not None and position is not None
        self.inputs = inputs
        self.position = position
        self.main = Piece(
            inputs, range(position), front=True, deferred=True, opening=index.document
        )
        self.marks = frozenset(index.marks)
        self.main_sketch: Sketch | None = None
        self.index: _Index | None = None
        self.total = 0

    def pages(self) -> Made:
        from publisher.render.index import with_pages

        opening = self._opening()
        main = self.main_sketch = self.main.sketch(self.marks | {opening})
        first = main.pages  # the empty page where the index opens
        if main.targets.get(opening) != first - 1:
            raise Unsettled("the index's opening is not the book's last page")
        marks = {name: str(page + 1) for name, page in main.targets.items() if name in self.marks}
        # Its side, where WeasyPrint would start the index on the other one: page
        # 1 is a right-hand page left to right, a left-hand one right to left.
        side = None
        if first % 2 == 0:
            side = "right" if self.inputs.book.meta.direction == "rtl" else "left"
        book = with_pages(self.inputs.book, marks)
        chapters = range(self.position, self.position + 1)
        piece = Piece(replace(self.inputs, book=book), chapters, side=side)
        self.index = _Index(piece, piece.sketch(frozenset()), marks, first)
        self.total = first - 1 + self.index.sketch.pages
        places = [*main.places[:-1], *self.index.sketch.places]
        return Made(tuple(starts_from_places(places)), self.total, marks)

    def result(self) -> bytes:
        assert self.index is not None and self.main_sketch is not None
        main = self.main.write(1, self.total)
        self.main.release()
        index = self.index.piece.write(self.index.first, self.total)
        self.index.piece.release()
        return join(
            [
                (main, self.main_sketch.stubs | {self._opening()}, 1),
                (index, self.index.sketch.stubs, self.index.first),
            ],
            drop_last=True,
        )

    def _opening(self) -> str:
        """The id of the index's heading: the contents' link to it."""
        return self.inputs.book.chapters[self.position].toc[0].href.split("#", 1)[1]

    def close(self) -> None:
        self.main.release()
        if self.index is not None:
            self.index.piece.release()


class Unsettled(Exception):
    """The pieces could not be joined consistently: the book is laid out whole."""


# Counters whose values do not depend on what came before a piece: the page
# numbers (set again when a piece's margin boxes are made) and list items.
_CARRIED_COUNTERS = frozenset({"page", "pages", "list-item"})
_COUNTER_PROPERTIES = frozenset({"counter-increment", "counter-reset", "counter-set"})
_TARGET_FUNCTIONS = frozenset({"target-counter", "target-counters", "target-text"})


def page_dependent_css(inputs: PdfInputs) -> list[str]:
    """The declarations in the print's style sheets whose result a piece cannot know
    (a counter other than page/pages, a target-counter, a string set in the front
    matter, a footnote counted across the book) and that publisher's own print.css,
    which the pieces are built to carry, does not make. Empty: the book may be cut."""
    from publisher.pdf.layout import sheet_paths
    from publisher.source.styles import shipped_styles

    def rule(found: str) -> str:
        return found.partition(": ")[2]

    handled = {rule(d) for d in _dependent_declarations(shipped_styles() / "print.css")}
    found: list[str] = []
    for path in sheet_paths(inputs):
        found += [d for d in _dependent_declarations(path) if rule(d) not in handled]
    found += [d for d in _dependent_in(inputs.profile.css(), "profile") if rule(d) not in handled]
    from publisher.pdf.layout import page_reference_css

    found += _dependent_in(page_reference_css(inputs), "page references")  # target-counter
    return found


def _dependent_declarations(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return [f"{path.name}: unreadable"]  # the layout reports it; no pieces meanwhile
    return _dependent_in(text, path.name)


def _dependent_in(text: str, where: str) -> list[str]:
    import tinycss2

    found: list[str] = []

    def rules(nodes: list[Any], outer: str) -> None:
        for rule in nodes:
            if rule.type == "qualified-rule":
                declarations(tinycss2.serialize(rule.prelude), rule.content, outer)
            elif rule.type == "at-rule" and rule.content is not None:
                prelude = f"@{rule.at_keyword}{tinycss2.serialize(rule.prelude)}"
                if rule.lower_at_keyword in {"media", "supports", "layer"}:
                    rules(tinycss2.parse_rule_list(rule.content, True, True), outer + prelude)
                else:  # @page and its margin boxes: declarations inside
                    declarations(prelude, rule.content, outer)

    def declarations(selector: str, content: list[Any], outer: str) -> None:
        for item in tinycss2.parse_blocks_contents(content, True, True):
            if item.type == "qualified-rule":  # a margin box inside @page
                declarations(selector + tinycss2.serialize(item.prelude), item.content, outer)
                continue
            if item.type == "at-rule" and item.content is not None:
                declarations(f"{selector} @{item.at_keyword}", item.content, outer)
                continue
            if item.type != "declaration":
                continue
            if _depends_on_pages(item.lower_name, item.value):
                value = " ".join(tinycss2.serialize(item.value).split())
                rule = " ".join(f"{outer} {selector}".split())
                found.append(f"{where}: {rule} {{ {item.lower_name}: {value} }}")

    rules(tinycss2.parse_stylesheet(text, True, True), "")
    return found


def _depends_on_pages(name: str, value: list[Any]) -> bool:
    if name == "string-set":
        return True
    if name == "float" and any(t.type == "ident" and t.lower_value == "footnote" for t in value):
        return True
    if name in _COUNTER_PROPERTIES:
        names = {t.lower_value for t in value if t.type == "ident"} - {"none"}
        return bool(names - _CARRIED_COUNTERS)
    return _uses_dependent_function(value)


def _uses_dependent_function(tokens: list[Any]) -> bool:
    for token in tokens:
        if token.type != "function":
            continue
        if token.lower_name in _TARGET_FUNCTIONS:
            return True
        if token.lower_name in {"counter", "counters"}:
            first = next((t for t in token.arguments if t.type == "ident"), None)
            if first is not None and first.lower_value not in _CARRIED_COUNTERS:
                return True
        if _uses_dependent_function(token.arguments):
            return True
    return False


def _prints_page_total(inputs: PdfInputs) -> bool:
    """Whether a sheet prints the book's page count (`counter(pages)`)."""
    import re

    from publisher.pdf.layout import sheet_paths

    texts = [inputs.profile.css()] + [p.read_text(encoding="utf-8") for p in sheet_paths(inputs)]
    return any(re.search(r"counters?\(\s*pages\b", text) for text in texts)


def _numbering(front_pages: int, pages: list[int]) -> tuple[list[int], int]:
    """Each piece's first page number (odd: a right-hand page) and the total."""
    firsts = []
    done = front_pages
    for count in pages:
        first = done + 1 + (done % 2)  # after a blank verso if `done` is odd
        firsts.append(first)
        done = first - 1 + count
    return firsts, done


class _Worker:
    """A piece made in a forked process, or here when there is no fork."""

    def __init__(self, piece: Piece, targets: frozenset[str], parallel: bool) -> None:
        self.piece = piece
        self.targets = targets
        self.child: Forked | None = None
        self._numbers = (0, 0)
        self._sent = 0  # numberings sent: as many PDFs will come back, the last one counts
        self._early: tuple[int, bytes] | None = None  # (first page number, PDF)
        if parallel and can_fork():
            with contextlib.suppress(Lost):  # no process to be had: made here
                self.child = Forked(lambda channel: _serve(piece, targets, channel))

    def sketch(self) -> Sketch:
        value = self._receive()
        if isinstance(value, Sketch):
            return value
        return self.piece.sketch(self.targets)  # no fork, or its process was lost

    def number(self, first: int, total: int) -> None:
        """Its first page number and the book's page count: a forked piece starts
        writing at once; here, the piece is written when its result is wanted."""
        self._numbers = (first, total)
        if self.child is not None:
            try:
                self.child.send(self._numbers)
            except Lost:
                self.close()
                return
            self._sent += 1

    def write_early(self, first: int) -> None:
        """Writes a piece made here before the book's page count is known (none of
        the sheets prints it): kept if its first page number holds."""
        self._early = (first, self.piece.write(first, 0))

    def result(self) -> bytes:
        if self._early is not None and self._early[0] == self._numbers[0]:
            self.piece.release()
            return self._early[1]
        if self.child is not None:
            self.child.finish_sending()  # no other numbers: the piece can finish
            value: object = None
            for _ in range(self._sent):  # the last PDF is the one with the right numbers
                value = self._receive()
            if isinstance(value, bytes):
                self.close()
                return value
        if self.piece.layout is None:  # its process was lost: made here, the same
            self.piece.sketch(self.targets)
        data = self.piece.write(*self._numbers)
        self.piece.release()
        return data

    def _receive(self) -> object:
        """The process's next message (its error raised here), or None if the
        process is gone or its message cannot be read: the piece is made here then."""
        if self.child is None:
            return None
        try:
            return self.child.receive()[1]
        except Lost:
            self.close()
            return None

    def close(self) -> None:
        if self.child is not None:
            self.child.close()
            self.child = None


def _serve(piece: Piece, targets: frozenset[str], channel: Channel) -> None:
    """The forked process of one piece: sketch, wait for its numbers, write."""
    try:
        channel.send("sketch", piece.sketch(targets))
        while True:
            try:
                first, total = channel.receive()
            except EOFError:  # the last numbering was the right one
                break
            channel.send("pdf", piece.write(first, total))
    except Exception as exc:
        channel.send("error", exc)


# --- joining --------------------------------------------------------------------


def join(parts: list[tuple[bytes, frozenset[str], int]], drop_last: bool = False) -> bytes:
    """One PDF from the pieces' PDFs, each given with the anchors it only holds as
    link targets and its first page number (a blank page fills a gap before it).
    The first piece's catalogue (metadata, language, output intents) is the book's.
    `drop_last`: the first piece's last page (an empty one, TailWork's) goes."""
    import pikepdf

    first_data, first_stubs, _ = parts[0]
    out = pikepdf.open(io.BytesIO(first_data))
    if drop_last:
        _drop_last_page(out)
    tags = _Tags(out, first_stubs) if "/StructTreeRoot" in out.Root else None
    names = _dests(out, first_stubs)
    outline_items = _outline_items(out)
    for data, stubs, first in parts[1:]:
        piece = pikepdf.open(io.BytesIO(data))
        while len(out.pages) < first - 1:  # a blank verso before the piece's opening
            _blank_page(out, out.pages[len(out.pages) - 1])
            if tags is not None:
                tags.pages.append((out.pages[len(out.pages) - 1].obj, pikepdf.Array()))
        # Detached from the piece's own roots, so that copying stops at them.
        items = _outline_items(piece)
        for item in items:
            for link in ("/Parent", "/Prev", "/Next"):
                if link in item:
                    del item[link]
        piece_names = _dests(piece, stubs)
        kids = _detached_kids(piece, stubs) if tags is not None else []
        start = len(out.pages)
        with warnings.catch_warnings():
            # "does not preserve named destinations": they are joined here.
            warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
            out.pages.extend(piece.pages)
        # One copy of all the rest: the pages it points at are those just copied.
        nums: Any = piece.Root.StructTreeRoot.ParentTree.Nums if tags is not None else []
        bundle = piece.make_indirect(
            pikepdf.Dictionary(
                Kids=pikepdf.Array(kids),
                Nums=pikepdf.Array(nums),
                Items=pikepdf.Array(items),
                Dests=pikepdf.Array([dest for _, dest in piece_names]),
            )
        )
        copied = out.copy_foreign(bundle)
        if tags is not None:
            old = [page.obj.get("/StructParents") for page in piece.pages]
            new = [out.pages[start + i].obj for i in range(len(piece.pages))]
            tags.add(copied.Kids, copied.Nums, list(zip(new, old, strict=True)))
        outline_items += list(copied.Items)
        names += [(name, dest) for (name, _), dest in zip(piece_names, copied.Dests, strict=True)]
    if tags is not None:
        tags.close()
    _set_outlines(out, outline_items)
    _set_dests(out, names)
    buffer = io.BytesIO()
    # Object streams, as WeasyPrint writes from PDF 1.5 on (not for PDF/X-1a and
    # X-3, which are 1.4): the structure tree is thousands of small dictionaries,
    # 2.5 times the file's size without them.
    streams = out.pdf_version >= "1.5"
    out.save(
        buffer,
        deterministic_id=True,
        object_stream_mode=pikepdf.ObjectStreamMode.generate
        if streams
        else pikepdf.ObjectStreamMode.disable,
        fix_metadata_version=False,  # the XMP packet as WeasyPrint wrote it
    )
    return buffer.getvalue()


class _Tags:
    """The joined structure tree: the pieces' elements under the first piece's
    Document element, and one parent tree numbered again from scratch, pages first
    (in order), then every annotation."""

    def __init__(self, out: Any, stubs: frozenset[str]) -> None:
        import pikepdf

        tree = out.Root.StructTreeRoot
        self.out = out
        self.tree = tree
        self.document = tree.K[0]
        if stubs:
            _drop_stand_ins(self.document, len(stubs))
        values = _numbers(tree.ParentTree.Nums)
        self.pages: list[tuple[Any, Any]] = []  # (page, its marked content's elements)
        self.annotations: list[tuple[Any, Any]] = []  # (annotation, its element)
        for page in out.pages:
            key = page.obj.get("/StructParents")
            self.pages.append((page.obj, values[int(key)] if key is not None else pikepdf.Array()))
            self._annotations(page.obj, values)

    def add(self, kids: Any, nums: Any, pages: list[tuple[Any, Any]]) -> None:
        """A piece's copied elements, parent tree, and (copied page, its old key)."""
        import pikepdf

        for kid in kids:
            kid.P = self.document
            self.document.K.append(kid)
        values = _numbers(nums)
        for page, key in pages:
            self.pages.append((page, values[int(key)] if key is not None else pikepdf.Array()))
            self._annotations(page, values)

    def _annotations(self, page: Any, values: dict[int, Any]) -> None:
        for annot in page.get("/Annots", ()):
            if "/StructParent" in annot:
                self.annotations.append((annot, values[int(annot.StructParent)]))

    def close(self) -> None:
        import pikepdf

        flat = pikepdf.Array()
        for key, (page, value) in enumerate(self.pages):
            page.StructParents = key
            flat.append(key)
            flat.append(value)
        for key, (annot, value) in enumerate(self.annotations, start=len(self.pages)):
            annot.StructParent = key
            flat.append(key)
            flat.append(value)
        self.tree.ParentTree = self.out.make_indirect(pikepdf.Dictionary(Nums=flat))
        self.tree.ParentTreeNextKey = len(self.pages) + len(self.annotations)


def _drop_last_page(pdf: Any) -> None:
    """Removes the last page, and every structure element marked on it (an empty
    page holds none but what WeasyPrint may tag of an empty block)."""
    import pikepdf

    last = pdf.pages[len(pdf.pages) - 1].obj
    expect_empty = last.get("/Annots")
    if expect_empty is not None and len(expect_empty):
        raise Unsettled("the page where the index opens is not empty")
    if "/StructTreeRoot" in pdf.Root:

        def prune(element: Any) -> None:
            kids = element.get("/K")
            if not isinstance(kids, pikepdf.Array):
                return
            for index in range(len(kids) - 1, -1, -1):
                kid = kids[index]
                if not isinstance(kid, pikepdf.Dictionary):
                    continue
                if kid.get("/Pg") is not None and kid.Pg.objgen == last.objgen:
                    del kids[index]
                else:
                    prune(kid)

        prune(pdf.Root.StructTreeRoot.K[0])
    del pdf.pages[len(pdf.pages) - 1]


def _numbers(nums: Any) -> dict[int, Any]:
    items = list(nums)
    return {int(items[i]): items[i + 1] for i in range(0, len(items), 2)}


def _detached_kids(piece: Any, stubs: frozenset[str]) -> list[Any]:
    """The piece's top structure elements, without their parent (its Document)."""
    document = piece.Root.StructTreeRoot.K[0]
    if stubs:
        _drop_stand_ins(document, len(stubs))
    kids = list(document.K)
    for kid in kids:
        del kid.P
    return kids


def _drop_stand_ins(document: Any, count: int) -> None:
    """The stand-in anchors' element is no content: out of the structure tree. It
    is a Div of `count` empty Spans on the piece's last page (before that page's
    notes, which come last)."""
    kids = document.K
    last_page = kids[len(kids) - 1].get("/Pg") if len(kids) else None
    for index in range(len(kids) - 1, -1, -1):
        kid = kids[index]
        if kid.get("/Pg") != last_page:
            return
        inner = list(kid.get("/K", ()))
        if (
            kid.get("/S") == "/Div"
            and len(inner) == count
            and all(span.get("/S") == "/Span" and not len(span.get("/K", ())) for span in inner)
        ):
            del kids[index]
            return


def _dests(pdf: Any, stubs: frozenset[str]) -> list[tuple[bytes, Any]]:
    """The named destinations (the name's bytes as written, its place), but those of
    stand-in anchors."""
    names = pdf.Root.get("/Names")
    if names is None or "/Dests" not in names:
        return []
    flat = list(names.Dests.Names)
    return [
        (bytes(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2) if str(flat[i]) not in stubs
    ]


def _set_dests(pdf: Any, names: list[tuple[bytes, Any]]) -> None:
    """One name tree node, its keys in byte order (as a name tree wants), each the
    bytes the links' /Dest strings were written with."""
    import pikepdf

    if not names:
        return
    flat = pikepdf.Array()
    for name, dest in sorted(names, key=lambda item: item[0]):
        flat.append(pikepdf.String(name))
        flat.append(dest)
    if "/Names" not in pdf.Root:
        pdf.Root.Names = pikepdf.Dictionary()
    pdf.Root.Names.Dests = pdf.make_indirect(pikepdf.Dictionary(Names=flat))


def _outline_items(pdf: Any) -> list[Any]:
    outlines = pdf.Root.get("/Outlines")
    items = []
    item = outlines.get("/First") if outlines is not None else None
    while item is not None:
        items.append(item)
        item = item.get("/Next")
    return items


def _set_outlines(pdf: Any, items: list[Any]) -> None:
    import pikepdf

    if not items:
        return
    outlines = pdf.Root.get("/Outlines")
    if outlines is None:
        outlines = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Outlines))
        pdf.Root.Outlines = outlines
    count = 0
    for index, item in enumerate(items):
        item.Parent = outlines
        if index:
            item.Prev = items[index - 1]
        if index + 1 < len(items):
            item.Next = items[index + 1]
        elif "/Next" in item:
            del item.Next
        count += 1 + max(0, int(item.get("/Count", 0)))
    outlines.First = items[0]
    outlines.Last = items[-1]
    outlines.Count = count


def _blank_page(pdf: Any, like: Any) -> None:
    """An empty page the size of `like` (the page before it), as WeasyPrint makes a
    blank verso."""
    import pikepdf

    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=pikepdf.Array(list(like.obj.MediaBox)),
        Resources=pikepdf.Dictionary(),
        Contents=pdf.make_stream(b""),
        Tabs=pikepdf.Name.S,
    )
    for box in ("/TrimBox", "/BleedBox"):
        if box in like.obj:
            page[box] = pikepdf.Array(list(like.obj[box]))
    pdf.pages.append(pikepdf.Page(page))
