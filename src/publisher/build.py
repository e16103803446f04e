"""Orchestration: read, render once, make the outputs, write them atomically."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from publisher import cache
from publisher.atomic import atomic_write
from publisher.diagnostics import Diagnostic
from publisher.errors import Location, OptionError
from publisher.model import BookMeta, BuildOptions, RenderedBook
from publisher.pdf.profiles import make_profile, pdf_variant
from publisher.source.manuscript import load
from publisher.source.metadata import slugify
from publisher.source.resources import Locator
from publisher.source.styles import DEFAULT, Style, load_style

if TYPE_CHECKING:
    from publisher.pagination import PageStart

STYLES = ("Regular", "Italic", "Bold", "BoldItalic")
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
    pages: int | None = None  # PDF pages, or EPUB page-break markers
    rebuilt: bool = True  # False: up to date, left untouched


@dataclass(frozen=True)
class BuildResult:
    book: RenderedBook | None  # None when nothing needed doing
    outputs: tuple[Output, ...]
    stages: tuple[tuple[str, float], ...] = ()  # what was done, and how long it took
    diagnostics: tuple[Diagnostic, ...] = ()  # everything every stage found, in order


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
    """The book, with what reading and rendering it found."""
    from publisher.render.book import render_book

    manuscript = load(manuscript_path)
    book = render_book(manuscript, Locator(manuscript.root))
    return replace(book, diagnostics=manuscript.diagnostics + book.diagnostics)


def choose_style(options: BuildOptions, meta: BookMeta) -> Style:
    """--style, else the metadata's `style:`, else the default."""
    if options.style:
        return load_style(options.styles, options.style)
    if meta.style:
        where = Location(meta.source, meta.style_line) if meta.source else None
        return load_style(options.styles, meta.style, where)
    return load_style(options.styles, DEFAULT)


def output_paths(book: RenderedBook | BookMeta, output: Path) -> dict[str, Path]:
    meta = book.meta if isinstance(book, RenderedBook) else book
    slug = slugify(meta.title)
    return {
        "epub": output / f"{slug}.epub",
        "pdf": output / f"{slug}.pdf",
        "kepub": output / f"{slug}.kepub.epub",
    }


Stage = Callable[[str], None]


def build(
    options: BuildOptions,
    *,
    force: bool = False,
    on_stage: Stage | None = None,
    diagnostics: list[Diagnostic] | None = None,
) -> BuildResult:
    """Builds what is out of date (everything with `force`); see cache.py.
    `diagnostics`: where what the stages find is added as they find it, so that the
    caller keeps what came before an error (the result carries them too)."""
    found = [] if diagnostics is None else diagnostics
    for fmt in options.formats:
        if fmt not in FORMATS:
            raise OptionError(f"unknown output format '{fmt}'", hint="choose epub, pdf or kepub")
    _check_styles(options.styles)
    if options.output.exists() and not options.output.is_dir():
        raise OptionError("the output path is a file, not a folder", where=Location(options.output))
    stages: list[tuple[str, float]] = []
    clock = time.perf_counter()

    def stage(label: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages.append((label, now - clock))
        clock = now
        if on_stage is not None:
            on_stage(label)

    manuscript = load(options.manuscript)
    found += manuscript.diagnostics
    meta = manuscript.meta
    # Options are checked before any work: a bad one costs no rendering.
    profile = make_profile(
        options.profile or meta.profile,
        size=meta.page_size,
        margins=meta.margins,
        bleed=meta.bleed,
        crop_marks=meta.crop_marks,
    )
    variant = pdf_variant(options.pdf_standard or meta.pdf_standard)
    style = choose_style(options, meta)
    modified, from_env = source_date(meta)
    paths = output_paths(meta, options.output)
    slug = slugify(meta.title)
    stage(f"read {len(manuscript.sources)} file(s)")

    files = sorted(
        {s.path.resolve() for s in manuscript.sources}
        | {p.resolve() for p in (meta.source, meta.cover_image) if p is not None}
    )
    want = tuple(fmt for fmt in FORMATS if fmt in options.formats)
    extra = repr((want, profile, variant, style.name, style.numbering))
    record = None if force else cache.load_record(options.output, slug)
    job = None
    if "pdf" in want and record is None:  # nothing to compare with: the PDF will be made
        from publisher.pdf import job as pdfjob

        job = pdfjob.start(options.styles, meta.lang)  # a child loads WeasyPrint meanwhile
    epub_style, pdf_style = cache.style_digests(options.styles, style.files())
    pdf_style = cache.digest(pdf_style, extra)
    stack = cache.stack_versions()
    # Taken once, as the files were read: a file saved during the build must make
    # the next build redo it, so the record may not read the files again at the end.
    sources = cache.file_digest(files)
    content = cache.content_digest(sources, record.resources if record else [], extra, stack)

    now = cache.Record(content, epub_style, pdf_style)
    stamps = {fmt: cache.output_stamp(paths[fmt]) for fmt in want}
    epub_ok, pdf_ok = cache.up_to_date(record, now, want, stamps)
    if pdf_ok and epub_ok:
        unchanged = tuple(
            Output(fmt, paths[fmt], paths[fmt].stat().st_size, 0.0, rebuilt=False) for fmt in want
        )
        stage("up to date")
        return BuildResult(None, unchanged, tuple(stages), tuple(found))

    if job is None and "pdf" in want and not pdf_ok:
        from publisher.pdf import job as pdfjob

        job = pdfjob.start(options.styles, meta.lang)
    if job is None and not epub_ok and meta.cover_image is None:
        from publisher.epub.cover import prepare_cover

        prepare_cover(meta, options.styles / "fonts", aside=True)  # while rendering here
    from publisher.render.book import render_book

    book = render_book(manuscript, Locator(manuscript.root), style.numbering)
    found += book.diagnostics
    stage(f"rendered {len(book.chapters)} chapter(s)")
    made: dict[str, tuple[bytes, float, int | None]] = {}
    pages: tuple[PageStart, ...] = ()
    source = ""
    if job is not None:
        from publisher.pdf.layout import PdfInputs

        pdf_start = time.perf_counter()
        # PDF/X needs dates, and WeasyPrint would take the clock's: give it ours.
        stamp = modified if from_env or str(variant).startswith("pdf/x") else None
        job.submit(PdfInputs(book, options.styles, stamp, profile, variant, style), found)
        if not epub_ok and meta.cover_image is None:
            from publisher.epub.cover import prepare_cover

            prepare_cover(meta, options.styles / "fonts")  # while the child lays out
        pages, count = job.pages()
        stage(f"PDF laid out: {count} pages")
    elif "pdf" in want and record is not None:
        pages = record.page_starts  # the PDF is up to date: so are its page breaks
    if pages:
        source = f"{paths['pdf'].name} ({len(pages)} pages)"
    if not epub_ok:
        from publisher.epub.writer import EpubInputs, make_epub

        start = time.perf_counter()
        data = make_epub(EpubInputs(book, options.styles, modified, pages, source, style), found)
        made["epub"] = (data, time.perf_counter() - start, len(pages) or None)
        if "kepub" in want:
            from publisher.epub.kobo import kepub

            start = time.perf_counter()
            made["kepub"] = (kepub(data), time.perf_counter() - start, len(pages) or None)
        stage("EPUB written")
    if job is not None:  # written by the child while the EPUB was made here
        made["pdf"] = (job.result(), time.perf_counter() - pdf_start, count)
        job.close()
        stage("PDF written")
    # Every output is finished in memory before any is written: a failure above
    # leaves all earlier outputs as they were.
    _ensure_folder(options.output)
    outputs: list[Output] = []
    for fmt in want:
        if fmt in made:
            data, seconds, pages_or_marks = made[fmt]
            atomic_write(paths[fmt], data)
            outputs.append(Output(fmt, paths[fmt], len(data), seconds, pages_or_marks))
        else:
            outputs.append(Output(fmt, paths[fmt], paths[fmt].stat().st_size, 0.0, rebuilt=False))
    resources = sorted(str(r.source) for r in book.resources)
    cache.save_record(
        options.output,
        slug,
        cache.Record(
            content=cache.content_digest(sources, resources, extra, stack),
            epub_style=epub_style,
            pdf_style=pdf_style,
            resources=resources,
            pages=[asdict(p) for p in pages],
            outputs={fmt: cache.output_stamp(paths[fmt]) or [] for fmt in want},
            stack=stack,
        ),
    )
    return BuildResult(book, tuple(outputs), tuple(stages), tuple(found))


STYLE_FILES = (
    "base.css",
    "epub.css",
    "epub-code.css",
    "print.css",
    "default/style.toml",
    *(f"fonts/gentium/GentiumBookPlus-{s}.{x}" for s in STYLES for x in ("ttf", "woff2")),
    *(f"fonts/liberation-mono/LiberationMono-{s}.{x}" for s in STYLES for x in ("ttf", "woff2")),
)


def _check_styles(styles: Path) -> None:
    for name in STYLE_FILES:
        if not (styles / name).is_file():
            raise OptionError(
                f"{name} not found in the styles folder",
                where=Location(styles),
                hint="point --styles at a copy of publisher's styles/ folder, fonts included",
            )


def _ensure_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise OptionError("the output path is a file, not a folder", where=Location(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionError(
            f"cannot create the output folder: {exc.strerror}",
            where=Location(folder),
            hint="choose an output folder you can write to",
        ) from None
