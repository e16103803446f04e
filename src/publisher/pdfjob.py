"""The PDF beside the EPUB: WeasyPrint's import, layout and writing in a forked child.

A cold build spends 0.3-0.8 s importing WeasyPrint and most of the rest in its
layout and PDF writer: CPU-bound Python, which a thread would not overlap (the GIL).
So when WeasyPrint is not loaded yet (a fresh `invoke build`), the build forks
before rendering: the child imports WeasyPrint while the parent renders the
Markdown; it lays the book out and sends back where each page begins (the EPUB's
page list needs them), then writes the PDF while the parent packages the EPUB.
A long book is laid out in pieces (pieces.py): the child lays out the first and
forks a process for each other one. Where WeasyPrint is already loaded (watch,
serve) or there is no fork, the same steps run here, one after the other. Either
way the bytes are the same.

The child's log records come back with its messages and are handled here, so that
warnings reach the same handlers in the same order. If the child dies or a message
cannot be carried, the work is done again in this process: slower, never wrong."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import sys
import tempfile
import weakref
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .weasy import load_weasyprint

if TYPE_CHECKING:
    from .pagination import PageStart
    from .pdf import Layout, PdfInputs
    from .pieces import PieceWork

Pages = tuple["PageStart", ...]


class PdfJob:
    """In this process: `submit`, then `pages` (the layout), then `result` (the bytes)."""

    def __init__(self, parallel: bool = False) -> None:
        self._inputs: PdfInputs | None = None
        self._layout: Layout | None = None
        self._pieces: PieceWork | None = None
        self._parallel = parallel  # a long book's pieces in forked processes (pieces.py)

    def submit(self, inputs: PdfInputs) -> None:
        self._inputs = inputs

    def pages(self) -> tuple[Pages, int]:
        from .pagination import page_starts
        from .pdf import check, layout
        from .pieces import PieceWork, Unsettled, plan

        assert self._inputs is not None
        load_weasyprint()
        cut = plan(self._inputs)
        if cut is not None:
            check(self._inputs)
            self._pieces = PieceWork(self._inputs, cut, self._parallel)
            try:
                made = self._pieces.pages()
                return made.starts, made.pages
            except Unsettled:
                self.close()
        self._layout = layout(self._inputs)
        document = self._layout.document
        return tuple(page_starts(document)), len(document.pages)

    def result(self) -> bytes:
        if self._layout is None and self._pieces is None:
            self.pages()
        if self._pieces is not None:
            try:
                return self._pieces.result()
            finally:
                self.close()
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
    """The same steps in a child process forked before rendering."""

    def __init__(self, styles: Path, lang: str) -> None:
        super().__init__()
        self._fallback: PdfJob | None = None
        # WeasyPrint's temporary font folder goes in this one, which the child
        # removes (or this process, if the child is killed): letting WeasyPrint
        # remove its own takes freeing the laid-out book, a garbage collection of
        # 0.5-0.8 s on a 300-page book.
        scratch = tempfile.mkdtemp(prefix="publisher-pdf-")
        down_read, down_write = os.pipe()
        up_read, up_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                os.close(down_write)
                os.close(up_read)
                code = _child(down_read, up_write, styles, lang, scratch)
            except BaseException:  # Ctrl-C, a closed pipe: silent, the parent decides
                pass
            finally:
                os._exit(code)
        os.close(down_read)
        os.close(up_write)
        self._down: IO[bytes] = os.fdopen(down_write, "wb")
        self._up: IO[bytes] = os.fdopen(up_read, "rb")
        # The child sent all it had and is exiting: not killed, nor waited for.
        self._state = {"finished": False}
        # Also when the build fails before `close`: the child never outlives the job.
        streams = (self._down, self._up)
        self._reap = weakref.finalize(self, _reap, pid, self._state, streams, scratch)

    @property
    def closed(self) -> bool:
        return not self._reap.alive

    def submit(self, inputs: PdfInputs) -> None:
        super().submit(inputs)
        try:
            pickle.dump(inputs, self._down, protocol=pickle.HIGHEST_PROTOCOL)
            self._down.close()
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            self._fall_back()

    def pages(self) -> tuple[Pages, int]:
        if self._fallback is None:
            found = self._receive("pages")
            if found is not None:
                starts, count = found
                return starts, count
        assert self._fallback is not None
        return self._fallback.pages()

    def result(self) -> bytes:
        if self._fallback is None:
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
        self._reap()

    def _receive(self, kind: str) -> Any:
        """The child's next message; None after switching to this process."""
        try:
            got, value, records = pickle.load(self._up)
        except Exception:  # the child died, or sent what cannot be read back
            self._fall_back()
            return None
        for record in records:
            logging.getLogger(record.name).handle(record)
        if got == "error":
            if isinstance(value, BaseException):
                self._state["finished"] = True  # the child is exiting: let it tidy up
                self._reap()
                raise value
            self._fall_back()  # an error that could not travel: meet it here
            return None
        assert got == kind
        return value

    def _fall_back(self) -> None:
        if self._fallback is None:
            assert self._inputs is not None
            self._fallback = PdfJob()
            self._fallback.submit(self._inputs)


# Children that had sent everything but not yet exited when their job closed.
_exiting: list[int] = []


def _reap(pid: int, state: dict[str, bool], streams: tuple[IO[bytes], ...], scratch: str) -> None:
    for stream in streams:
        with contextlib.suppress(OSError):
            stream.close()
    if state["finished"]:
        # Its address space takes a moment to go: reaped later, not waited for here.
        _exiting.append(pid)
        _reap_exited()
        return
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)  # no longer wanted
    os.waitpid(pid, 0)
    shutil.rmtree(scratch, ignore_errors=True)


def _reap_exited() -> None:
    for pid in list(_exiting):
        try:
            done = os.waitpid(pid, os.WNOHANG)[0] != 0
        except ChildProcessError:
            done = True
        if done:
            _exiting.remove(pid)


def start(styles: Path, lang: str) -> PdfJob:
    """A job for one PDF, started before the book is rendered."""
    _reap_exited()
    if "weasyprint" in sys.modules or not hasattr(os, "fork"):
        return PdfJob()
    return ForkedPdfJob(styles, lang)


def keep_log_records() -> list[logging.LogRecord]:
    """In a forked process: its log records, kept (with their messages made) to be
    sent to the process that forked it, which handles them as its own."""
    records: list[logging.LogRecord] = []

    def keep(self: logging.Logger, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        records.append(record)

    logging.Logger.callHandlers = keep  # type: ignore[method-assign]
    return records


def _child(inbox_fd: int, outbox_fd: int, styles: Path, lang: str, scratch: str) -> int:
    records = keep_log_records()
    # Python warnings too: the child writes nothing to stderr itself (a thread of
    # the parent's may have held its lock at the fork).
    logging.captureWarnings(True)
    tempfile.tempdir = scratch
    with os.fdopen(inbox_fd, "rb") as inbox, os.fdopen(outbox_fd, "wb") as outbox:

        def send(kind: str, value: object) -> None:
            try:
                message = pickle.dumps((kind, value, records), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                message = pickle.dumps((kind, None, records), protocol=pickle.HIGHEST_PROTOCOL)
            records.clear()
            outbox.write(message)
            outbox.flush()

        try:
            _warm(styles, lang)
            _collect_rarely()
            try:
                inputs = pickle.load(inbox)
            except EOFError:
                return 0  # nothing to make after all
            job = PdfJob(parallel=True)
            job.submit(inputs)
            send("pages", job.pages())
            send("pdf", job.result())
            job.close()
        except Exception as exc:
            send("error", exc)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


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

    from . import pagination, pdf  # noqa: F401
    from .fonts import shipped_characters

    shipped_characters(styles / "fonts")
    # The hyphenation patterns (en: 0.06 s to parse), kept in pyphen's own cache.
    dictionary = pyphen.language_fallback(lang)
    if dictionary:
        pyphen.Pyphen(lang=dictionary)
