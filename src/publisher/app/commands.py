"""What each task does, as plain functions returning an exit code. tasks.py only
parses flags and calls these; errors become one line on stderr, never a traceback."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.errors import OptionError, PublisherError
from publisher.model import BuildOptions

if TYPE_CHECKING:
    from publisher.build import BuildResult, Output
    from publisher.diagnostics import Diagnostic

log = logging.getLogger("publisher")


def setup_logging() -> None:
    """Any log record that reaches the `publisher` logger goes to stderr as a plain
    line; publisher's own warnings are diagnostics, printed by `print_diagnostics`
    (WeasyPrint's too, from its records at ERROR and above: pdf/job.py)."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    # WeasyPrint's own messages are ours to report; its INFO chatter is not.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)


def print_diagnostics(found: Iterable[Diagnostic]) -> None:
    """Each on stderr as its one line (`file:line: warning: ...`), in order; a line
    the same as one printed before is not printed again."""
    printed: set[str] = set()
    for diagnostic in found:
        line = str(diagnostic)
        if line not in printed:
            printed.add(line)
            print(line, file=sys.stderr)


def guarded(action: Callable[[], int]) -> int:
    setup_logging()
    try:
        return action()
    except PublisherError as error:
        print_diagnostics(error.diagnostics)  # found before the error, by the stage that failed
        print(str(error), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted: earlier outputs are unchanged", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        if os.environ.get("PUBLISHER_DEBUG"):
            raise
        print(
            f"internal error: {exc.__class__.__name__}: {exc} (earlier outputs are unchanged; "
            "set PUBLISHER_DEBUG=1 for the traceback and please report it)",
            file=sys.stderr,
        )
        return 70


def build(
    manuscript: Path,
    output: Path,
    styles: Path,
    formats: tuple[str, ...],
    *,
    profile: str | None = None,
    pdf_standard: str | None = None,
    style: str | None = None,
    force: bool = False,
    verbosity: int = 1,
) -> int:
    """verbosity: 0 quiet (errors only), 1 one line per output, 2 every stage timed."""

    def action() -> int:
        options = BuildOptions(manuscript, output, styles, formats, profile, pdf_standard, style)
        run_build_and_report(options, force=force, verbosity=verbosity)
        return 0

    return guarded(action)


def run_build_and_report(options: BuildOptions, *, force: bool, verbosity: int) -> BuildResult:
    from publisher.build import build as run_build

    found: list[Diagnostic] = []
    with _kept(found), Status(enabled=verbosity > 0 and sys.stderr.isatty()) as status:
        result = run_build(options, force=force, on_stage=status.update, diagnostics=found)
    print_diagnostics(found)  # once the status line is gone
    if verbosity >= 2:
        for label, seconds in result.stages:
            print(f"  {label} ({seconds:.2f} s)")
    if verbosity >= 1:
        for out in result.outputs:
            print(describe(out))
    return result


def describe(out: Output) -> str:
    if not out.rebuilt:
        return f"{out.format}: {out.path} (up to date)"
    size = (
        f"{out.size / 1024:.0f} KiB" if out.size < 1024 * 1024 else f"{out.size / 1048576:.1f} MiB"
    )
    extra = ""
    if out.pages:
        extra = f", {out.pages} pages" if out.format == "pdf" else f", {out.pages} page markers"
    return f"{out.format}: {out.path} ({size}{extra}, {out.seconds:.2f} s)"


class Status:
    """On a terminal, one line that says what the build is doing and for how long;
    nothing when the output is a log. It is redrawn from a timer signal, not a
    thread: the build forks its helpers only from a single-threaded process."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = (
            enabled
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        self.label = "reading"
        self.start = time.perf_counter()
        self._frame = 0
        self._previous: Any = None

    def __enter__(self) -> Status:
        if self.enabled:
            self._previous = signal.signal(signal.SIGALRM, self._draw)
            # Restart interrupted system calls: C libraries (fontconfig, Pango) do not
            # retry a read that a signal cut short.
            signal.siginterrupt(signal.SIGALRM, False)
            signal.setitimer(signal.ITIMER_REAL, 0.2, 0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, self._previous)
            os.write(2, b"\r\033[K")

    def update(self, label: str) -> None:
        self.label = label

    def _draw(self, signum: int, frame: object) -> None:
        elapsed = time.perf_counter() - self.start
        spinner = "|/-\\"[self._frame % 4]
        self._frame += 1
        # os.write, not sys.stderr: the handler may run while stderr's buffer is busy.
        with contextlib.suppress(OSError):
            os.write(2, f"\r\033[K{spinner} {elapsed:5.1f} s  {self.label}".encode())


def check(manuscript: Path, output: Path) -> int:
    from publisher.check.outputs import check_outputs

    def action() -> int:
        report = check_outputs(manuscript, output)
        print_diagnostics(report.diagnostics)
        for line in report.lines():
            print(line)
        return 0 if report.ok else 4

    return guarded(action)


def lint_manuscript(manuscript: Path) -> int:
    """One line per finding, then a summary; 1 when any finding is an error
    (warnings alone pass)."""
    from publisher.check.lint import ERROR, summary
    from publisher.check.lint import lint_manuscript as run_lint

    def action() -> int:
        others: list[Diagnostic] = []
        findings = run_lint(manuscript, others)
        print_diagnostics(others)  # not the linter's to judge: shown as a build shows them
        for finding in findings:
            print(finding)
        print(summary(findings))
        return 1 if any(f.severity == ERROR for f in findings) else 0

    return guarded(action)


def proof(
    manuscript: Path,
    output: Path,
    resolution: str,
    *,
    style: str | None = None,
    styles: Path | None = None,
) -> int:
    """Proofs of the PDF in `output`; with `style`, the PDF is first built in that
    style into output/styles/NAME/ and proofed there."""
    from publisher.app.proof import make_proof
    from publisher.build import output_paths
    from publisher.source.manuscript import load

    def action() -> int:
        if not resolution.isdigit():
            raise OptionError(
                f"--resolution {resolution!r} is not a whole number", hint="use 10 to 600"
            )
        if style:
            assert styles is not None
            folder = output / "styles" / style
            options = BuildOptions(manuscript, folder, styles, ("pdf",), style=style)
            pdf = _build_printing(options).outputs[0].path
        else:
            # The PDF's name comes from the title: the metadata is enough, no rendering.
            pdf = output_paths(load(manuscript).meta, output)["pdf"]
        sheet, pages = make_proof(pdf, pdf.parent / "proof", int(resolution))
        print(f"proof: {len(pages)} page images in {sheet.parent}, contact sheet {sheet}")
        return 0

    return guarded(action)


def gallery(manuscripts: list[Path], output: Path, styles: Path, *, only: str | None = None) -> int:
    """Every manuscript in every style (or `only` one): PDF pages as PNG and a contact
    sheet each, in output/NAME/<manuscript>/, and output/NAME.png, one row with each
    manuscript's opening pages, so that a style can be chosen by looking."""
    from publisher.app.proof import make_proof, page_with, strip
    from publisher.model import BODY
    from publisher.source.styles import available, load_style

    def action() -> int:
        names = [only] if only else available(styles)
        for name in names:
            style = load_style(styles, name)
            chosen: list[Path] = []
            for manuscript in manuscripts:
                book_name = _book_name(manuscript)
                folder = output / name / book_name
                options = BuildOptions(manuscript, folder, styles, ("pdf",), style=name)
                result = _build_printing(options, force=True)
                pdf = result.outputs[0].path
                sheet, pages = make_proof(pdf, folder / "proof", 40)
                print(f"gallery: {name} / {book_name}: {len(pages)} pages, {sheet}")
                book = result.book
                assert book is not None  # force=True: always built
                first = 1
                if not book.single_article:
                    # The first body chapter's opening: the page with its first words.
                    openings = (
                        _opening_words(c.body)
                        for c in book.chapters
                        if c.matter == BODY and c.kind == "chapter"
                    )
                    words = next((w for w in openings if w), "")
                    first = (page_with(pdf, words) if words else None) or 1
                chosen += pages[first - 1 : first + (0 if book.single_article else 1)]
            overview = strip(chosen, output / f"{name}.png")
            print(f"gallery: {name}: {style.description} {overview}")
        return 0

    return guarded(action)


def _book_name(manuscript: Path) -> str:
    """A manuscript's name in the gallery: its file's stem, or its folder's name (the
    current folder's too, when the manuscript is given as `.`)."""
    resolved = manuscript.resolve()
    return resolved.stem if resolved.is_file() else resolved.name


def _build_printing(options: BuildOptions, *, force: bool = False) -> BuildResult:
    """A build whose diagnostics are printed, also when it fails."""
    from publisher.build import build as run_build

    found: list[Diagnostic] = []
    with _kept(found):
        result = run_build(options, force=force, diagnostics=found)
    print_diagnostics(found)
    return result


@contextlib.contextmanager
def _kept(found: list[Diagnostic]) -> Iterator[None]:
    """When the build fails, what it found before goes with its error (to be printed
    before it, by `guarded` or the watch), or is printed at once if it is no
    PublisherError."""
    from publisher.diagnostics import carry

    try:
        yield
    except PublisherError as error:
        carry(error, found)
        raise
    except BaseException:
        print_diagnostics(found)
        raise


def _opening_words(body: str, count: int = 3) -> str:
    from publisher.xhtml import XHTML_NS, parse_body

    paragraph = parse_body(body).find(f".//{{{XHTML_NS}}}p")
    text = "".join(str(t) for t in paragraph.itertext()) if paragraph is not None else ""
    return " ".join(text.split()[:count])


def watch(options: BuildOptions, *, verbosity: int = 1) -> int:
    """Rebuild on every save until Ctrl-C; a mistake is reported and the watch goes on."""
    from publisher.app.watch import watch as run_watch

    def action() -> int:
        print(f"watch: {options.manuscript} and {options.styles} (Ctrl-C to stop)", flush=True)
        try:
            run_watch(
                options,
                lambda: run_build_and_report(options, force=False, verbosity=verbosity),
                lambda line: print(line, file=sys.stderr, flush=True),
            )
        except KeyboardInterrupt:
            print("watch: stopped")
        return 0

    return guarded(action)


def serve(options: BuildOptions, *, port: int = 8000, verbosity: int = 1) -> int:
    """The preview server on 127.0.0.1, rebuilding on every save."""
    from publisher.app.serve import Preview, make_server
    from publisher.app.watch import watch as run_watch

    def action() -> int:
        preview = Preview(options.output / ".publisher-preview")
        try:
            server = make_server(preview, port)
        except OSError as exc:
            raise OptionError(
                f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", hint="choose another --port"
            ) from None
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"serve: {url} (Ctrl-C to stop)", flush=True)

        try:
            run_watch(
                options,
                lambda: run_build_and_report(options, force=False, verbosity=verbosity),
                lambda line: print(line, file=sys.stderr, flush=True),
                on_built=preview.built,
                on_failed=preview.failed,
            )
        except KeyboardInterrupt:
            print("serve: stopped")
        finally:
            server.shutdown()
        return 0

    return guarded(action)


def new(folder: Path) -> int:
    from publisher.app.starter import new_manuscript

    def action() -> int:
        files = new_manuscript(folder)
        print(
            f"new: a starter manuscript in {folder} ({len(files)} files); "
            f"build it with: publisher build {folder}"
        )
        return 0

    return guarded(action)


def list_styles(styles: Path) -> int:
    """The styles in the styles folder, one line each: its name and what it is for."""
    from publisher.source.styles import available, load_style

    def action() -> int:
        names = available(styles)
        width = max((len(name) for name in names), default=0)
        for name in names:
            print(f"{name:{width}}  {load_style(styles, name).description}")
        return 0

    return guarded(action)


def clean(output: Path) -> int:
    if output.is_dir():
        shutil.rmtree(output)
        print(f"removed {output}")
    return 0
