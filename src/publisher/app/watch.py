"""The author's loop: rebuild on every save, in one process that keeps WeasyPrint
loaded; a mistake is reported and the watch goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from publisher.build import BuildResult
from publisher.errors import PublisherError
from publisher.model import BuildOptions

Snapshot = dict[str, tuple[int, int]]


def watched_paths(options: BuildOptions, result: BuildResult | None) -> list[Path]:
    """The manuscript (a folder recursively, or a file and the images, the
    bibliography and the CSL style it used), the styles and the fonts."""
    paths = [options.manuscript, options.styles]
    if result is not None and result.book is not None:
        paths += [r.source for r in result.book.resources]
        meta = result.book.meta
        paths += [*meta.bibliography, *([meta.csl] if meta.csl else [])]
    return paths


def snapshot(paths: list[Path], ignore: Path) -> Snapshot:
    """(mtime, size) of every file under `paths`, except the output folder."""
    seen: Snapshot = {}
    ignore = ignore.resolve()
    for root in paths:
        files = [root] if root.is_file() else (root.rglob("*") if root.is_dir() else [])
        for path in files:
            try:
                resolved = path.resolve()
                stat = path.stat()
            except (OSError, RuntimeError):  # gone, or a loop of links (3.11's RuntimeError)
                continue
            if resolved.is_relative_to(ignore) or any(
                part.startswith(".") for part in path.parts[-3:]
            ):
                continue
            if path.is_file():
                seen[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return seen


def watch(
    options: BuildOptions,
    build: Callable[[], BuildResult],
    report: Callable[[str], None],
    *,
    stop: threading.Event | None = None,
    interval: float = 0.2,
    on_built: Callable[[BuildResult], None] | None = None,
    on_failed: Callable[[PublisherError], None] | None = None,
) -> None:
    """Builds now, then after every change until `stop` is set (or Ctrl-C). A
    failed build's diagnostics (`error.diagnostics`) are reported before its error;
    a good build's are the `build` callable's to print (they are in its result)."""
    from publisher.pdf.weasyprint.load import load_weasyprint

    load_weasyprint()  # once: rebuilds do not pay for it again

    stop = stop or threading.Event()
    result: BuildResult | None = None

    def attempt() -> bool:
        nonlocal result
        try:
            result = build()
        except PublisherError as error:
            for diagnostic in error.diagnostics:
                report(str(diagnostic))
            report(f"{error}")
            report("watch: waiting for a fix")
            if on_failed is not None:
                on_failed(error)
            return False
        if on_built is not None:
            on_built(result)
        return True

    # Each snapshot is taken before its build: a save during a build builds again.
    state = snapshot(watched_paths(options, result), options.output)
    attempt()
    # The images the first build used join the watch as they are now.
    for key, value in snapshot(watched_paths(options, result), options.output).items():
        state.setdefault(key, value)
    while not stop.wait(interval):
        current = snapshot(watched_paths(options, result), options.output)
        if current == state:
            continue
        # Let an editor finish writing (several saves in a row count as one).
        while not stop.wait(0.05):
            settled = snapshot(watched_paths(options, result), options.output)
            if settled == current:
                break
            current = settled
        state = current
        started = time.perf_counter()
        if attempt():
            report(f"watch: rebuilt in {time.perf_counter() - started:.2f} s")
