"""The PDF beside the EPUB: WeasyPrint's import, layout and writing in a forked child.

A cold build spends 0.3-0.8 s importing WeasyPrint and most of the rest in its
layout and PDF writer: CPU-bound Python, which a thread would not overlap (the GIL).
So when WeasyPrint is not loaded yet (a fresh `invoke build`), the build forks
before rendering: the child imports WeasyPrint while the parent renders the
Markdown; it lays the book out and sends back where each page begins (the EPUB's
page list needs them), then writes the PDF while the parent packages the EPUB.
A long book is laid out in pieces (pieces.py): the child lays out the first and
forks a process for each other one; a book with an index has it laid out last,
apart, once the pages of its marks are known. Where WeasyPrint is already loaded (watch,
serve) or there is no fork, the same steps run here, one after the other. Either
way the bytes are the same.

The child's log records come back with its messages and are handled here, so that
warnings reach the same handlers in the same order. WeasyPrint's own lines, laid out
here or come back from the child, become diagnostics at one place, while the job
works or receives (`renderer_messages`). If the child cannot be forked,
dies, hangs or a message cannot be carried, the work is done again in this
process: slower, never wrong (forked.py)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import PublisherError
from publisher.forked import Channel, Forked, Lost, can_fork, reap_exited
from publisher.pdf.weasyprint.guard import note
from publisher.pdf.weasyprint.load import load_weasyprint

if TYPE_CHECKING:
    from publisher.pagination import PageStart
    from publisher.pdf.layout import Layout, PdfInputs
    from publisher.pdf.pieces import PieceWork, TailWork

Pages = tuple["PageStart", ...]
RENDERER = "weasyprint"  # the logger WeasyPrint writes its messages to


def renderer_diagnostic(record: logging.LogRecord) -> Diagnostic:
    """One of WeasyPrint's own messages. It names no file of the author's, and the
    PDF is still made (a stylesheet or image it could not load is left out)."""
    return Diagnostic("F04", WARNING, None, f"WeasyPrint: {record.getMessage()}")


@contextlib.contextmanager
def renderer_messages(found: list[Diagnostic]) -> Iterator[None]:
    """WeasyPrint's messages while the block runs, as diagnostics added to `found`:
    those of a layout in this process, and those a child sent back, which forked.py
    hands to this process's loggers as it receives them."""

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(renderer_diagnostic(record))

    logger = logging.getLogger(RENDERER)
    handler = Keep()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


class PdfJob:
    """In this process: `submit`, then `pages` (the layout), then `result` (the bytes).
    What the layout and the writing find is added to the list given to `submit`."""

    def __init__(self, parallel: bool = False) -> None:
        self._inputs: PdfInputs | None = None
        self._found: list[Diagnostic] = []
        self._layout: Layout | None = None
        self._pieces: PieceWork | TailWork | None = None
        self._parallel = parallel  # a long book's pieces in forked processes (pieces.py)
        self._marks: dict[str, str] = {}  # index mark id -> printed page, once laid out

    def in_child(self) -> bool:
        """Whether the layout runs in a child process, leaving this one free."""
        return False

    def submit(self, inputs: PdfInputs, found: list[Diagnostic]) -> None:
        self._inputs = inputs
        self._found = found

    def pages(self) -> tuple[Pages, int]:
        with renderer_messages(self._found):
            return self._pages()

    def _pages(self) -> tuple[Pages, int]:
        from publisher.pdf.layout import check, layout
        from publisher.pdf.pieces import PieceWork, TailWork, plan
        from publisher.pdf.weasyprint.boxes import page_starts
        from publisher.pdf.weasyprint.hooks import margins_deferrable

        assert self._inputs is not None
        load_weasyprint()
        cut = plan(self._inputs)
        tail = cut is None and self._inputs.book.index is not None and margins_deferrable()
        if cut is not None or tail:
            check(self._inputs)
            self._pieces = (
                PieceWork(self._inputs, cut, self._parallel)
                if cut is not None
                else TailWork(self._inputs)
            )
            try:
                made = self._pieces.pages()
                self._marks = made.marks
                return made.starts, made.pages
            except PublisherError:  # the author's to fix: laying out whole would say the same
                self.close()
                raise
            except Exception as error:  # Unsettled, or WeasyPrint not as the pieces expect
                note("pieces", f"fell back to a whole-book layout: {error!r}")
                self.close()
        self._layout = layout(self._inputs)
        self._marks = self._layout.marks
        document = self._layout.document
        return tuple(page_starts(document)), len(document.pages)

    def index_pages(self) -> dict[str, str]:
        """After `pages`: the printed page of each place marked for the index."""
        return self._marks

    def result(self) -> bytes:
        if self._layout is None and self._pieces is None:
            self.pages()
        with renderer_messages(self._found):
            return self._result()

    def _result(self) -> bytes:
        if self._pieces is not None:
            try:
                return self._pieces.result()
            except PublisherError:
                raise
            except Exception as error:  # joining failed: the same pages, laid out whole
                note("pieces", f"fell back to a whole-book layout when joining: {error!r}")
            finally:
                self.close()
            from publisher.pdf.layout import layout  # loaded by `pages` already

            assert self._inputs is not None
            self._layout = layout(self._inputs)
        assert self._layout is not None
        data = self._layout.write()
        self._layout = None  # frees the laid-out pages before the EPUB is written out
        return data

    def close(self) -> None:
        self._layout = None
        if self._pieces is not None:
            self._pieces.close()
            self._pieces = None


class ForkedPdfJob(PdfJob):
    """The same steps in a child process forked before rendering (forked.py); if
    it cannot be forked, dies, hangs or fails to send, they are done here."""

    def __init__(self, styles: Path, lang: str) -> None:
        super().__init__()
        self._fallback: PdfJob | None = None
        # WeasyPrint's temporary font folder goes in this one, which the child
        # removes (or this process, if the child is killed): letting WeasyPrint
        # remove its own takes freeing the laid-out book, a garbage collection of
        # 0.5-0.8 s on a 300-page book.
        scratch = tempfile.mkdtemp(prefix="publisher-pdf-")
        self._child: Forked | None = None
        try:
            self._child = Forked(lambda channel: _child(channel, styles, lang, scratch))
        except Lost:
            shutil.rmtree(scratch, ignore_errors=True)
            self._fall_back()
            return
        # The child sent all it had and is exiting: not killed, nor waited for.
        self._state = {"finished": False}
        # Also when the build fails before `close`: the child never outlives the job.
        self._reap = weakref.finalize(self, _reap, self._child, self._state, scratch)

    @property
    def closed(self) -> bool:
        return self._child is None or not self._reap.alive

    def in_child(self) -> bool:
        return self._fallback is None and self._child is not None

    def submit(self, inputs: PdfInputs, found: list[Diagnostic]) -> None:
        super().submit(inputs, found)
        if self._fallback is not None:
            self._fallback.submit(inputs, found)
            return
        assert self._child is not None
        try:
            self._child.send(inputs)
            self._child.finish_sending()
        except Lost:
            self._fall_back()

    def pages(self) -> tuple[Pages, int]:
        if self._fallback is None:
            with renderer_messages(self._found):
                got = self._receive("pages")
            if got is not None:
                starts, count, self._marks = got
                return starts, count
        assert self._fallback is not None
        laid_out = self._fallback.pages()
        self._marks = self._fallback.index_pages()
        return laid_out

    def result(self) -> bytes:
        if self._fallback is None:
            with renderer_messages(self._found):
                data = self._receive("pdf")
            if data is not None:
                assert isinstance(data, bytes)
                self._state["finished"] = True
                return data
        assert self._fallback is not None
        return self._fallback.result()

    def close(self) -> None:
        if self._fallback is not None:
            self._fallback.close()
        if self._child is not None:
            self._reap()

    def _receive(self, kind: str) -> Any:
        """The child's next message; None after switching to this process."""
        assert self._child is not None
        try:
            got, value = self._child.receive()
        except Lost:
            self._fall_back()
            return None
        except BaseException:
            self._state["finished"] = True  # the child is exiting: let it tidy up
            self._reap()
            raise
        assert got == kind
        return value

    def _fall_back(self) -> None:
        if self._fallback is None:
            self._fallback = PdfJob()
            if self._inputs is not None:
                self._fallback.submit(self._inputs, self._found)


def _reap(child: Forked, state: dict[str, bool], scratch: str) -> None:
    child.close(kill=not state["finished"])
    if not state["finished"]:
        shutil.rmtree(scratch, ignore_errors=True)


def start(styles: Path, lang: str) -> PdfJob:
    """A job for one PDF, started before the book is rendered."""
    reap_exited()
    if "weasyprint" in sys.modules or not can_fork():
        return PdfJob()
    return ForkedPdfJob(styles, lang)


def _child(channel: Channel, styles: Path, lang: str, scratch: str) -> None:
    tempfile.tempdir = scratch
    try:
        _warm(styles, lang)
        _collect_rarely()
        try:
            inputs = channel.receive()
        except EOFError:
            return  # nothing to make after all
        job = PdfJob(parallel=True)
        # Unused here: a child's handlers never run (forked.keep_log_records); its
        # WeasyPrint records go back with its messages and become diagnostics there.
        job.submit(inputs, [])
        channel.send("pages", (*job.pages(), job.index_pages()))
        channel.send("pdf", job.result())
        job.close()
    except Exception as exc:
        channel.send("error", exc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _collect_rarely() -> None:
    """Python's cycle collector runs after every 700 new objects, and a full pass
    walks them all: laying out and writing a 300-page book makes millions, and the
    passes took a tenth of the child's time. The child is short-lived and its layout
    garbage is mostly freed by reference counting, so it collects far less often;
    what is loaded so far is frozen out of the passes (and, after the pieces'
    fork, stays shared with them instead of being touched by the collector)."""
    import gc

    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _warm(styles: Path, lang: str) -> None:
    """What the layout needs first, loaded while the parent renders."""
    load_weasyprint()
    import pyphen  # type: ignore[import-untyped]

    from publisher import pagination  # noqa: F401
    from publisher.pdf import layout  # noqa: F401
    from publisher.pdf.fonts import shipped_characters

    shipped_characters(styles / "fonts")
    # The hyphenation patterns (en: 0.06 s to parse), kept in pyphen's own cache.
    dictionary = pyphen.language_fallback(lang)
    if dictionary:
        pyphen.Pyphen(lang=dictionary)
