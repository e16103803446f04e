"""Work done in a forked process, and the same work done here when that is not safe.

Every helper process of a build (the PDF's child, a long book's pieces, an EPUB's
cover) goes through `Forked`: the child runs a function with a `Channel` to this
process; messages are pickled and framed on two pipes; the child's log records
travel with its messages and are handled here, so warnings reach the same handlers
in the same order as when the work is done in-process.

A process is forked only where that is safe (`can_fork`): an `os.fork` exists, this
process has a single thread (a thread holding a lock at the fork would leave the
lock held for ever in the child), and `PUBLISHER_NO_FORK` is not `1`. On macOS, where
system frameworks are not fork-safe, forking is off unless `PUBLISHER_NO_FORK=0`.

Waiting is bounded: a child that sends nothing and uses no CPU, itself or through
the processes it forked, for `PUBLISHER_FORK_TIMEOUT` seconds (default 120) is
taken for hung and killed. Any failure of the helper, a fork that fails, a child
that dies, hangs or sends what cannot be read, raises `Lost`, and the caller does
the work in its own process: slower, with the same bytes."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HEADER = struct.Struct("<Q")
DEFAULT_TIMEOUT = 120.0


class Lost(Exception):
    """The helper process is gone, hung, or sent what cannot be read."""


def can_fork() -> bool:
    """Whether a helper process may be forked from this process now."""
    if not hasattr(os, "fork"):
        return False
    setting = os.environ.get("PUBLISHER_NO_FORK", "")
    if setting == "1" or (setting != "0" and sys.platform == "darwin"):
        return False
    return threading.active_count() == 1


def timeout() -> float:
    try:
        return max(1.0, float(os.environ.get("PUBLISHER_FORK_TIMEOUT", DEFAULT_TIMEOUT)))
    except ValueError:
        return DEFAULT_TIMEOUT


class Channel:
    """The child's side: `receive` what the parent sends, `send` what it asks for.
    The child's log records are kept and go with its next message."""

    def __init__(self, inbox: int, outbox: int) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self.records = keep_log_records()

    def receive(self) -> Any:
        """The parent's next message; EOFError when it will send no more."""
        return pickle.loads(_read_frame(self._inbox, None, None))

    def waiting(self) -> bool:
        """Whether a message from the parent (or the end of its messages) is there."""
        return bool(select.select([self._inbox], [], [], 0)[0])

    def send(self, kind: str, value: object) -> None:
        try:
            data = pickle.dumps((kind, value, self.records), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # a value that cannot travel: the parent meets it itself
            data = pickle.dumps(("lost", None, self.records), protocol=pickle.HIGHEST_PROTOCOL)
        self.records.clear()
        _write_frame(self._outbox, data)


class Forked:
    """A child process running `body(channel)`, forked at once.

    Raises `Lost` if the fork fails. `receive` gives the child's next message
    (`(kind, value)`; an exception the child sent as kind "error" is raised here),
    `send` passes one to it, `close` ends it."""

    def __init__(self, body: Callable[[Channel], object]) -> None:
        down_read, down_write = os.pipe()
        up_read, up_write = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in (down_read, down_write, up_read, up_write):
                os.close(fd)
            raise Lost(f"fork failed: {exc}") from exc
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                os.close(down_write)
                os.close(up_read)
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent decides
                body(Channel(down_read, up_write))
                code = 0
            except BaseException:
                pass  # a closed pipe or a kill: the parent does the work itself
            finally:
                os._exit(code)
        os.close(down_read)
        os.close(up_write)
        self.pid = pid
        self._down: int | None = down_write
        self._up: int | None = up_read
        self._timeout = timeout()

    @property
    def alive(self) -> bool:
        return self._up is not None

    def send(self, value: object) -> None:
        if self._down is None:
            raise Lost("the helper process is closed")
        try:
            _write_frame(self._down, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            self.close()
            raise Lost(f"could not send to the helper: {exc}") from exc

    def finish_sending(self) -> None:
        """Tell the child nothing more will come (it reads EOFError)."""
        if self._down is not None:
            with contextlib.suppress(OSError):
                os.close(self._down)
            self._down = None

    def receive(self) -> tuple[str, Any]:
        if self._up is None:
            raise Lost("the helper process is closed")
        try:
            data = _read_frame(self._up, self.pid, self._timeout)
            kind, value, records = pickle.loads(data)
        except Exception as exc:  # died, hung, or sent what cannot be read back
            self.close()
            raise Lost(str(exc) or type(exc).__name__) from exc
        for record in records:
            logging.getLogger(record.name).handle(record)
        if kind == "error" and isinstance(value, BaseException):
            raise value
        if kind in ("error", "lost"):
            self.close()
            raise Lost("the helper's result could not travel")
        return kind, value

    def close(self, *, kill: bool = True) -> None:
        """Closes the pipes; kills the child unless it is known to be exiting by
        itself (`kill=False`: it is reaped later, without waiting here)."""
        for fd in (self._down, self._up):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._down = self._up = None
        if not self.pid:
            return
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        else:
            _exiting.append(self.pid)
            reap_exited()
        self.pid = 0


# Children that had sent everything and were exiting when their job closed: their
# address space takes a moment to go, so they are reaped later, not waited for.
_exiting: list[int] = []


def reap_exited() -> None:
    for pid in list(_exiting):
        try:
            done = os.waitpid(pid, os.WNOHANG)[0] != 0
        except ChildProcessError:
            done = True
        if done:
            _exiting.remove(pid)


def keep_log_records() -> list[logging.LogRecord]:
    """In a forked process: its log records, kept (with their messages made) to be
    sent to the process that forked it, which handles them as its own. Python's
    warnings are logged too: the child writes nothing to stderr itself (a thread
    of the parent's may have held its lock at the fork)."""
    records: list[logging.LogRecord] = []

    def keep(self: logging.Logger, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        records.append(record)

    # The child's own copy of the logging module, never the parent's.
    logging.Logger.callHandlers = keep  # type: ignore[method-assign]
    logging.captureWarnings(True)
    return records


def _write_frame(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(fd: int, pid: int | None, limit: float | None) -> bytes:
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, pid, limit))
    return _read_exactly(fd, size, pid, limit)


def _read_exactly(fd: int, size: int, pid: int | None, limit: float | None) -> bytes:
    """`size` bytes from the pipe. With a `limit`, gives up (TimeoutError) once
    `limit` seconds pass in which nothing arrives and the process `pid` and its
    descendants use no CPU: a deadlocked child, not a slow one."""
    parts = bytearray()
    progress = time.monotonic()
    used = _tree_cpu(pid) if pid else None
    while len(parts) < size:
        if limit is not None:
            ready, _, _ = select.select([fd], [], [], min(1.0, limit))
            if not ready:
                now = time.monotonic()
                cpu = _tree_cpu(pid) if pid else None
                if cpu is not None and cpu != used:
                    used, progress = cpu, now
                elif now - progress >= limit:
                    raise TimeoutError(f"no word from the helper process in {limit:.0f} s")
                continue
        chunk = os.read(fd, min(size - len(parts), 1 << 20))
        if not chunk:
            raise EOFError("the helper process closed its pipe")
        parts += chunk
        progress = time.monotonic()
    return bytes(parts)


def _tree_cpu(pid: int) -> int | None:
    """The CPU ticks used so far by `pid` and every process below it (Linux's
    /proc); None where that cannot be read, and the wait then counts only time."""
    total = 0
    stack = [pid]
    seen = 0
    while stack and seen < 64:
        current = stack.pop()
        seen += 1
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
        except (OSError, ValueError, IndexError):
            if current == pid:
                return None
            continue
        stack.extend(int(child) for child in children.split())
    return total
