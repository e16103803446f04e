"""Orchestration: read, render once, make the outputs, write them atomically."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import Location, OptionError, PublisherError
from .manuscript import load
from .metadata import slugify
from .model import BookMeta, BuildOptions, RenderedBook
from .pagination import PageStart
from .profiles import Profile, make_profile, pdf_variant
from .render import render_book
from .resources import Locator

FORMATS = ("epub", "pdf", "kepub")  # kepub: the Kobo edition, made from the EPUB
# dcterms:modified is required in an EPUB; with no SOURCE_DATE_EPOCH and no date in
# the manuscript this fixed value stands in, so that builds stay reproducible.
FALLBACK_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Output:
    format: str
    path: Path
    size: int
    seconds: float


@dataclass(frozen=True)
class BuildResult:
    book: RenderedBook
    outputs: tuple[Output, ...]


def source_date(meta: BookMeta, environ: dict[str, str] | None = None) -> tuple[dt.datetime, bool]:
    """The build's timestamp and whether it came from SOURCE_DATE_EPOCH."""
    env = os.environ if environ is None else environ
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if raw:
        try:
            return dt.datetime.fromtimestamp(int(raw), tz=dt.UTC), True
        except (ValueError, OverflowError, OSError):
            raise OptionError(
                f"SOURCE_DATE_EPOCH={raw!r} is not a number of seconds",
                hint="set it to an integer such as $(git log -1 --format=%ct), or unset it",
            ) from None
    if meta.date:
        parts = [int(p) for p in meta.date.split("-")] + [1, 1]
        return dt.datetime(parts[0], parts[1], parts[2], tzinfo=dt.UTC), False
    return FALLBACK_DATE, False


def render(manuscript_path: Path) -> RenderedBook:
    manuscript = load(manuscript_path)
    return render_book(manuscript, Locator(manuscript.root))


def output_paths(book: RenderedBook, output: Path) -> dict[str, Path]:
    slug = slugify(book.meta.title)
    return {
        "epub": output / f"{slug}.epub",
        "pdf": output / f"{slug}.pdf",
        "kepub": output / f"{slug}.kepub.epub",
    }


def build(options: BuildOptions) -> BuildResult:
    for fmt in options.formats:
        if fmt not in FORMATS:
            raise OptionError(f"unknown output format '{fmt}'", hint="choose epub, pdf or kepub")
    _check_styles(options.styles)
    book = render(options.manuscript)
    modified, from_env = source_date(book.meta)
    paths = output_paths(book, options.output)
    # Options are checked before any work: a bad one costs no rendering.
    meta = book.meta
    print_setup = (
        make_profile(
            options.profile or meta.profile,
            size=meta.page_size,
            margins=meta.margins,
            bleed=meta.bleed,
            crop_marks=meta.crop_marks,
        ),
        pdf_variant(options.pdf_standard or meta.pdf_standard),
    )
    made = _make(book, options, modified, from_env, paths, print_setup)
    # Every output is finished in memory before any is written: a failure above
    # leaves all earlier outputs as they were.
    _ensure_folder(options.output)
    outputs = []
    for fmt, data, seconds in made:
        atomic_write(paths[fmt], data)
        outputs.append(Output(fmt, paths[fmt], len(data), seconds))
    return BuildResult(book, tuple(outputs))


def _make(
    book: RenderedBook,
    options: BuildOptions,
    modified: dt.datetime,
    from_env: bool,
    paths: dict[str, Path],
    print_setup: tuple[Profile, str | None],
) -> list[tuple[str, bytes, float]]:
    """The outputs' bytes. With both formats the PDF is laid out first, so that
    the EPUB can carry its page numbers."""
    made: dict[str, tuple[bytes, float]] = {}
    pages: tuple[PageStart, ...] = ()
    source = ""
    if "pdf" in options.formats:
        from .pagination import page_starts
        from .pdf import PdfInputs, layout

        start = time.perf_counter()
        laid_out = layout(
            # PDF/X needs dates, and WeasyPrint would take the clock's: give it ours.
            PdfInputs(
                book,
                options.styles,
                modified if from_env or str(print_setup[1]).startswith("pdf/x") else None,
                *print_setup,
            )
        )
        if "epub" in options.formats:
            pages = tuple(page_starts(laid_out.document))
            source = f"{paths['pdf'].name} ({len(laid_out.document.pages)} pages)"
        made["pdf"] = (laid_out.write(), time.perf_counter() - start)
    if "epub" in options.formats or "kepub" in options.formats:
        from .epub import EpubInputs, make_epub

        start = time.perf_counter()
        data = make_epub(EpubInputs(book, options.styles, modified, pages, source))
        made["epub"] = (data, time.perf_counter() - start)
        if "kepub" in options.formats:
            from .kobo import kepub

            start = time.perf_counter()
            made["kepub"] = (kepub(data), time.perf_counter() - start)
    return [(fmt, *made[fmt]) for fmt in options.formats]


def _check_styles(styles: Path) -> None:
    for name in ("base.css", "epub.css", "print.css"):
        if not (styles / name).is_file():
            raise OptionError(
                f"stylesheet {name} not found in the styles folder",
                where=Location(styles),
                hint="point --styles at a folder with base.css, epub.css, print.css and fonts/",
            )


def _ensure_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise OptionError("the output path is a file, not a folder", where=Location(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublisherError(
            f"cannot create the output folder: {exc.strerror}", where=Location(folder)
        ) from None


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: readers see the old file or the new
    one, never a partial one, even if the process is killed."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
