"""Invoke tasks: `invoke --list`. The book tasks are thin aliases of the `publisher`
command (publisher/cli.py) with the repository's defaults (manuscript/, build/,
styles/), the same option names and the same short flags; the rest are the
developers' chores (test, lint, lock, bench). Nothing heavy is imported until a
task runs."""

from __future__ import annotations

import inspect
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task, task

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
if str(SRC) not in sys.path:  # works before `pip install -e .` too
    sys.path.insert(0, str(SRC))

from publisher.pdf.profiles import STANDARDS  # noqa: E402 (small: the list, no WeasyPrint)

MANUSCRIPT = "manuscript"
OUTPUT = "build"
STYLES = str(ROOT / "styles")
GALLERY = ("manuscript/article.md", "examples/novel", "examples/feature", "examples/field-guide")

HELP = {
    "manuscript": "a Markdown file or a folder of them (default: manuscript/)",
    "output": "folder for the outputs (default: build/)",
    "style": "book style: default, classic, modern, news, or a folder of the styles folder",
    "styles": "the styles folder (default: styles/)",
    "profile": "PDF profile: print (trade book, mirrored margins; default) or screen (A4)",
    "pdf_standard": f"PDF standard: {', '.join(STANDARDS)} or none (default: ua-1)",
    "kobo": "also write <slug>.kepub.epub, the Kobo edition",
    "force": "rebuild even if up to date",
    "quiet": "errors only",
    "verbose": "every stage, timed",
}


class BookTask(Task[Any]):
    """Short flags from publisher's own table (publisher.app.cli.SHORT), not Invoke's
    first-free-letter guess, so that `-s` is the style here as in `publisher`."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        from publisher.app.cli import SHORT

        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        long = opts["names"][0]
        opts["names"] = [long, SHORT[long]] if long in SHORT else [long]
        return opts


def book_task(help: dict[str, str] | None = None, name: str = "") -> Callable[[Any], Task[Any]]:
    """@task with publisher's short flags and HELP for the options the task has."""

    def make(body: Any) -> Task[Any]:
        params = inspect.signature(body).parameters
        known = {k: v for k, v in {**HELP, **(help or {})}.items() if k in params}
        named = {"name": name} if name else {}
        made: Task[Any] = task(klass=BookTask, auto_shortflags=False, help=known, **named)(body)
        return made

    return make


def _done(code: int) -> None:
    if code:
        raise Exit(code=code)


def publisher(verb: str, *args: str, **options: str | bool) -> None:
    """`publisher VERB ARGS --OPTION VALUE...`, in this process; its exit code."""
    from publisher.app.cli import main

    argv = [verb, *args]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value:
            argv += [flag, str(value)]
    _done(main(argv))


def _book(verb: str, manuscript: str, output: str, **options: str | bool) -> None:
    publisher(verb, "--manuscript", manuscript, "--output", output, **options)


@book_task()
def build(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    style: str = "",
    styles: str = STYLES,
    profile: str = "",
    pdf_standard: str = "",
    kobo: bool = False,
    force: bool = False,
    quiet: bool = False,
    verbose: bool = False,
) -> None:
    """Build the EPUB and the PDF: build/<slug>.epub and build/<slug>.pdf."""
    _book("build", manuscript, output, **_given(locals()))


@book_task()
def epub(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    style: str = "",
    styles: str = STYLES,
    kobo: bool = False,
    force: bool = False,
    quiet: bool = False,
    verbose: bool = False,
) -> None:
    """Build only the EPUB (publisher build --only epub)."""
    _book("build", manuscript, output, only="epub", **_given(locals()))


@book_task()
def pdf(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    style: str = "",
    styles: str = STYLES,
    profile: str = "",
    pdf_standard: str = "",
    force: bool = False,
    quiet: bool = False,
    verbose: bool = False,
) -> None:
    """Build only the PDF (publisher build --only pdf)."""
    _book("build", manuscript, output, only="pdf", **_given(locals()))


@book_task()
def watch(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    style: str = "",
    styles: str = STYLES,
    profile: str = "",
    pdf_standard: str = "",
    kobo: bool = False,
    quiet: bool = False,
    verbose: bool = False,
) -> None:
    """Rebuild the EPUB and the PDF on every save of the manuscript, styles or fonts."""
    _book("watch", manuscript, output, **_given(locals()))


@book_task(help={**HELP, "port": "port on 127.0.0.1 (default 8000; 0 picks a free one)"})
def serve(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    style: str = "",
    styles: str = STYLES,
    profile: str = "",
    pdf_standard: str = "",
    kobo: bool = False,
    quiet: bool = False,
    verbose: bool = False,
    port: str = "8000",
) -> None:
    """A live preview on 127.0.0.1: the book as the EPUB shows it, the PDF's pages."""
    _book("serve", manuscript, output, **_given(locals()))


@book_task(help={"folder": "a new folder for the starter manuscript"})
def new(c: Context, folder: str) -> None:
    """Create a starter manuscript that builds at once."""
    publisher("new", folder)


@book_task(
    help={
        **HELP,
        "output": "folder holding the PDF (default: build/)",
        "resolution": "pixels per inch of the page images (default: 60)",
        "style": "build the PDF in this style first, into build/styles/NAME/",
    }
)
def proof(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    style: str = "",
    styles: str = STYLES,
    resolution: str = "60",
) -> None:
    """Render the PDF's pages to PNG and one contact sheet of spreads (build/proof/).

    With --style, the PDF is built in that style first (build/styles/NAME/proof/)."""
    _book("proof", manuscript, output, **_given(locals()))


@book_task(
    help={
        "output": "folder for the gallery (default: build/gallery/)",
        "style": "only this style (default: every style in the styles folder)",
        "styles": HELP["styles"],
    }
)
def gallery(
    c: Context, output: str = "build/gallery", style: str = "", styles: str = STYLES
) -> None:
    """Render every style on the article and the example books, to choose by looking.

    Page images and a contact sheet each (build/gallery/STYLE/BOOK/proof/), and one
    overview row per style (build/gallery/STYLE.png)."""
    options = _given(locals())
    publisher("gallery", *(str(ROOT / path) for path in GALLERY), **options)


@book_task(help={"manuscript": HELP["manuscript"], "output": "folder holding the outputs to check"})
def check(c: Context, manuscript: str = MANUSCRIPT, output: str = OUTPUT) -> None:
    """Validate the outputs: EPUBCheck, DAISY Ace, the PDF's tags, fonts and outline, lint.

    Exits non-zero on any error or warning (lint warnings are advice and pass)."""
    _book("check", manuscript, output)


@book_task(help={"manuscript": HELP["manuscript"]})
def lint_manuscript(c: Context, manuscript: str = MANUSCRIPT) -> None:
    """Lint the manuscript's Markdown (publisher lint); exits 1 on errors.

    Heading levels, alt text, leftover straight quotes and hyphens, notes, links,
    images, empty chapters, duplicate ids."""
    publisher("lint", "--manuscript", manuscript)


@book_task(help={"output": "the folder to remove (default: build/)"})
def clean(c: Context, output: str = OUTPUT) -> None:
    """Remove the build folder."""
    publisher("clean", output=output)


@book_task(name="styles", help={"styles": HELP["styles"]})
def list_styles(c: Context, styles: str = STYLES) -> None:
    """The book styles, with what each is for."""
    publisher("styles", styles=styles)


def _given(values: dict[str, Any]) -> dict[str, str | bool]:
    """A task's options other than the context and the manuscript and output (passed
    on their own), for `publisher`."""
    skip = {"c", "manuscript", "output"} if "manuscript" in values else {"c"}
    return {k: v for k, v in values.items() if k not in skip}


@task(
    help={
        "k": "only tests matching this expression (pytest -k)",
        "quick": "the everyday loop: no slow test, no external checker (under 3 minutes)",
    }
)
def test(c: Context, k: str = "", quick: bool = False) -> None:
    """Run the test suite: everything (what CI runs), or --quick between edits."""
    select = f" -k {k!r}" if k else ""
    if quick:
        select += ' -m "not slow"'
    else:
        select += " --durations=15"  # where the full suite's time goes
    env = {"PUBLISHER_QUICK": "1"} if quick else {}
    result = c.run(f"{sys.executable} -m pytest{select}", pty=False, warn=True, env=env)
    if result is None or result.exited == 5:
        # pytest's "no tests ran" must not pass (or fail) by accident.
        raise Exit("test: no tests ran: check the -k expression or the tests folder", code=1)
    _done(result.exited)


@task(
    help={
        "runs": "runs per side, alternating (default: 3); medians are reported",
        "limits": "instead: each costly class at its worst under 1 MB, against the budget "
        "(60 s, 1 GiB, one core)",
        "case": "with --limits: only the cases whose name holds this word",
    }
)
def bench(c: Context, runs: int = 3, limits: bool = False, case: str = "") -> None:
    """Time and memory against Pandoc on the article and a ~300-page book (needs .[bench])."""
    script = f"limits.py {shlex.quote(case)}" if limits else f"bench.py {runs}"
    c.run(f"{sys.executable} {ROOT / 'bench' / script}", pty=False)


@task
def lock(c: Context) -> None:
    """Rewrite constraints.txt, the locked stack, from pyproject.toml's ranges (uv)."""
    lock = ROOT / "constraints.txt"
    header = "".join(line for line in lock.read_text().splitlines(True) if line.startswith("#"))
    result = c.run(
        f"{sys.executable} -m uv pip compile {ROOT / 'pyproject.toml'} --all-extras --universal "
        "--python-version 3.11 --no-header --no-annotate --quiet",
        hide="out",
        pty=False,
    )
    assert result is not None
    pins = [line for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    lock.write_text(header + "\n".join(pins) + "\n")
    print(f"lock: {len(pins)} packages pinned in {lock.name}; now run the full test suite")


@task
def lint(c: Context) -> None:
    """ruff (lint and format check) and mypy (strict)."""
    c.run(f"{sys.executable} -m ruff check src tests bench tasks.py")
    c.run(f"{sys.executable} -m ruff format --check src tests bench tasks.py")
    c.run(f"{sys.executable} -m mypy")
