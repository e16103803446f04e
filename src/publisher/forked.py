"""A piece of work done in a forked child while this process goes on: CPU-bound
Python does not overlap in threads (the GIL). Whatever goes wrong there, or if the
work logged anything, `result` is None and the caller does the work itself, so
that its messages and errors come from this process as always."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import weakref
from collections.abc import Callable
from typing import IO, Generic, TypeVar

T = TypeVar("T")


class Forked(Generic[T]):
    def __init__(self, work: Callable[[], T]) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                os.close(read)
                logged: list[logging.LogRecord] = []
                logging.Logger.callHandlers = lambda self, record: logged.append(record)  # type: ignore[method-assign]
                logging.captureWarnings(True)
                value = work()
                if not logged:
                    with os.fdopen(write, "wb") as out:
                        pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
                    code = 0
            except BaseException:  # Ctrl-C, a failure: silent, the parent does the work
                pass
            finally:
                os._exit(code)
        os.close(write)
        self._in: IO[bytes] = os.fdopen(read, "rb")
        self._reap = weakref.finalize(self, _reap, pid, self._in)

    def result(self) -> T | None:
        """The child's value, or None: then do the work here."""
        try:
            value: T | None = pickle.load(self._in)
        except Exception:  # it failed, logged something, or died
            value = None
        self._reap()
        return value


def _reap(pid: int, stream: IO[bytes]) -> None:
    import signal

    stream.close()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)  # finished already, or no longer wanted
    os.waitpid(pid, 0)
