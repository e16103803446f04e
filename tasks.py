"""Invoke tasks: `invoke --list`. Each task parses its flags and calls one function
of publisher.commands; nothing heavy is imported until a task runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

if TYPE_CHECKING:
    from publisher.model import BuildOptions

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
if str(SRC) not in sys.path:  # works before `pip install -e .` too
    sys.path.insert(0, str(SRC))

MANUSCRIPT = "manuscript"
OUTPUT = "build"
STYLES = str(ROOT / "styles")

BUILD_HELP = {
    "manuscript": "a Markdown file or a folder of them (default: manuscript/)",
    "output": "folder for the outputs (default: build/)",
    "styles": "folder with base.css, epub.css, print.css and fonts/ (default: styles/)",
    "style": "book style, a folder in the styles folder: default, classic, modern, news "
    "(overrides the manuscript's style:)",
}


def _done(code: int) -> None:
    if code:
        raise Exit(code=code)


def _build(
    manuscript: str,
    output: str,
    styles: str,
    formats: tuple[str, ...],
    profile: str = "",
    pdf_standard: str = "",
    style: str = "",
) -> None:
    from publisher import commands

    _done(
        commands.build(
            Path(manuscript),
            Path(output),
            Path(styles),
            formats,
            profile=profile or None,
            pdf_standard=pdf_standard or None,
            style=style or None,
        )
    )


PDF_HELP = {
    "profile": "PDF profile: print (trade book, mirrored margins) or screen (A4, links)",
    "pdf_standard": "ua-1 (default, tagged), a-3b, a-3a, a-2b, x-4, x-3, x-1a or none",
}


@task(help={**BUILD_HELP, **PDF_HELP, "kobo": "also write <slug>.kepub.epub, the Kobo edition"})
def build(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    styles: str = STYLES,
    kobo: bool = False,
    profile: str = "",
    pdf_standard: str = "",
    style: str = "",
) -> None:
    """Build the EPUB and the PDF: build/<slug>.epub and build/<slug>.pdf."""
    formats = ("epub", "pdf", "kepub") if kobo else ("epub", "pdf")
    _build(manuscript, output, styles, formats, profile, pdf_standard, style)


@task(help=BUILD_HELP)
def epub(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    styles: str = STYLES,
    style: str = "",
) -> None:
    """Build only the EPUB."""
    _build(manuscript, output, styles, ("epub",), style=style)


@task(help={**BUILD_HELP, **PDF_HELP})
def pdf(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    styles: str = STYLES,
    profile: str = "",
    pdf_standard: str = "",
    style: str = "",
) -> None:
    """Build only the PDF."""
    _build(manuscript, output, styles, ("pdf",), profile, pdf_standard, style)


def _options(manuscript: str, output: str, styles: str, style: str = "") -> BuildOptions:
    from publisher.model import BuildOptions

    return BuildOptions(Path(manuscript), Path(output), Path(styles), style=style or None)


@task(help=BUILD_HELP)
def watch(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    styles: str = STYLES,
    style: str = "",
) -> None:
    """Rebuild the EPUB and the PDF on every save of the manuscript, styles or fonts."""
    from publisher import commands

    _done(commands.watch(_options(manuscript, output, styles, style)))


@task(help={**BUILD_HELP, "port": "port on 127.0.0.1 (default 8000; 0 picks a free one)"})
def serve(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    styles: str = STYLES,
    port: str = "8000",
    style: str = "",
) -> None:
    """A live preview on 127.0.0.1: the book as the EPUB shows it, the PDF's pages."""
    from publisher import commands

    if not port.isdigit():
        raise Exit(f"error: --port {port!r} is not a number (use 0 to 65535)", code=2)
    _done(commands.serve(_options(manuscript, output, styles, style), port=int(port)))


@task(help={"folder": "a new folder for the starter manuscript"})
def new(c: Context, folder: str) -> None:
    """Create a starter manuscript that builds at once."""
    from publisher import commands

    _done(commands.new(Path(folder)))


@task(
    help={
        "manuscript": BUILD_HELP["manuscript"],
        "output": "folder holding the PDF (default: build/)",
        "resolution": "pixels per inch of the page images (default: 60)",
        "style": "build the PDF in this style first, into build/styles/NAME/",
        "styles": BUILD_HELP["styles"],
    }
)
def proof(
    c: Context,
    manuscript: str = MANUSCRIPT,
    output: str = OUTPUT,
    resolution: str = "60",
    style: str = "",
    styles: str = STYLES,
) -> None:
    """Render the PDF's pages to PNG and one contact sheet of spreads (build/proof/).

    With --style, the PDF is built in that style first (build/styles/NAME/proof/)."""
    from publisher import commands

    _done(
        commands.proof(
            Path(manuscript),
            Path(output),
            resolution,
            style=style or None,
            styles=Path(styles),
        )
    )


GALLERY = ("manuscript/article.md", "examples/novel", "examples/feature", "examples/field-guide")


@task(
    help={
        "output": "folder for the gallery (default: build/gallery/)",
        "style": "only this style (default: every style in the styles folder)",
        "styles": BUILD_HELP["styles"],
    }
)
def gallery(
    c: Context, output: str = "build/gallery", style: str = "", styles: str = STYLES
) -> None:
    """Render every style on the article and the example books, to choose by looking.

    Page images and a contact sheet each (build/gallery/STYLE/BOOK/proof/), and one
    overview row per style (build/gallery/STYLE.png)."""
    from publisher import commands

    books = [ROOT / path for path in GALLERY]
    _done(commands.gallery(books, Path(output), Path(styles), only=style or None))


@task(
    help={"manuscript": BUILD_HELP["manuscript"], "output": "folder holding the outputs to check"}
)
def check(c: Context, manuscript: str = MANUSCRIPT, output: str = OUTPUT) -> None:
    """Validate the outputs: EPUBCheck, DAISY Ace, the PDF's tags, fonts and outline, lint.

    Exits non-zero on any error or warning (lint warnings are advice and pass)."""
    from publisher import commands

    _done(commands.check(Path(manuscript), Path(output)))


@task(help={"manuscript": BUILD_HELP["manuscript"]})
def lint_manuscript(c: Context, manuscript: str = MANUSCRIPT) -> None:
    """Lint the manuscript's Markdown; exits 1 on errors (warnings alone pass).
    Heading levels, alt text, leftover straight quotes and hyphens, notes, links,
    images, empty chapters, duplicate ids."""
    from publisher import commands

    _done(commands.lint_manuscript(Path(manuscript)))


@task(help={"output": "the folder to remove (default: build/)"})
def clean(c: Context, output: str = OUTPUT) -> None:
    """Remove the build folder."""
    from publisher import commands

    _done(commands.clean(Path(output)))


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
        "limits": "instead: time and memory of the hostile limit cases, against their budget",
    }
)
def bench(c: Context, runs: int = 3, limits: bool = False) -> None:
    """Time and memory against Pandoc on the article and a ~300-page book (needs .[bench])."""
    script = "limits.py" if limits else f"bench.py {runs}"
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
