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
from publisher.atomic import commit_all
from publisher.diagnostics import Diagnostic
from publisher.errors import Location, OptionError
from publisher.model import BookMeta, BuildOptions, RenderedBook
from publisher.pdf.profiles import make_profile, pdf_variant
from publisher.source.manuscript import load
from publisher.source.metadata import slugify
from publisher.source.resources import Locator
from publisher.source.styles import DEFAULT, Style, load_style

if TYPE_CHECKING:
    from publisher.epub.fonts import FontHelper, FontStore
    from publisher.model import Manuscript
    from publisher.pagination import PageStart
    from publisher.pdf.job import PdfJob
    from publisher.pdf.profiles import Profile

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
Made = dict[str, tuple[bytes, float, int | None]]  # format -> (bytes, seconds, pages or marks)


class _Clock:
    """What was done, and how long it took; each stage is also told to `on_stage`."""

    def __init__(self, on_stage: Stage | None) -> None:
        self.stages: list[tuple[str, float]] = []
        self._last = time.perf_counter()
        self._on_stage = on_stage

    def stage(self, label: str) -> None:
        now = time.perf_counter()
        self.stages.append((label, now - self._last))
        self._last = now
        if self._on_stage is not None:
            self._on_stage(label)


@dataclass(frozen=True)
class _Plan:
    """What the build is asked for, read and checked before any work."""

    manuscript: Manuscript
    profile: Profile
    variant: str | None
    style: Style
    modified: dt.datetime
    from_env: bool  # `modified` came from SOURCE_DATE_EPOCH
    paths: dict[str, Path]
    want: tuple[str, ...]
    extra: str  # the options that change the outputs, for the digests
    record: cache.Record | None  # the last build's, unless forced

    @property
    def meta(self) -> BookMeta:
        return self.manuscript.meta


@dataclass(frozen=True)
class _Fresh:
    """What is up to date, and the digests the record will keep."""

    epub_ok: bool
    pdf_ok: bool
    sources: str
    epub_style: str
    pdf_style: str
    stack: dict[str, str]


def build(
    options: BuildOptions,
    *,
    force: bool = False,
    on_stage: Stage | None = None,
    diagnostics: list[Diagnostic] | None = None,
) -> BuildResult:
    """Builds what is out of date (everything with `force`): read and check, decide
    what is up to date (cache.up_to_date), render once, make the outputs in memory,
    then write them all and the record. `diagnostics`: where what the stages find
    is added as they find it, so that the caller keeps what came before an error
    (the result carries them too)."""
    found = [] if diagnostics is None else diagnostics
    _check_options(options)
    clock = _Clock(on_stage)
    plan = _read(options, force)
    found += plan.manuscript.diagnostics
    clock.stage(f"read {len(plan.manuscript.sources)} file(s)")
    job = None
    if "pdf" in plan.want and plan.record is None:  # nothing to compare with: a PDF is due
        job = _start_pdf(options, plan.meta)  # a child loads WeasyPrint meanwhile
    fresh = _decide(options, plan)
    if fresh.pdf_ok and fresh.epub_ok:
        clock.stage("up to date")
        return BuildResult(None, _untouched(plan), tuple(clock.stages), tuple(found))
    if job is None and "pdf" in plan.want and not fresh.pdf_ok:
        job = _start_pdf(options, plan.meta)
    # Lazy imports, here and below: an up-to-date build needs none of these libraries
    # (markdown-it, Pygments, ebooklib, Pillow), and skips their import time.
    from publisher.epub.cover import prepare_cover
    from publisher.render.book import render_book

    if job is None and not fresh.epub_ok and plan.meta.cover_image is None:
        prepare_cover(plan.meta, options.styles / "fonts", aside=True)  # while rendering here
    store = _font_store(options, fresh)
    helper = _font_helper(options, plan, fresh, job, store)
    try:
        book = render_book(plan.manuscript, Locator(plan.manuscript.root), plan.style.numbering)
        found += book.diagnostics
        clock.stage(f"rendered {len(book.chapters)} chapter(s)")
        made, pages, marks = _make(options, plan, fresh, book, job, clock, found, store, helper)
    finally:
        if helper is not None:
            helper.close()
    outputs = _write(options, plan, made)
    _save_record(options, plan, fresh, book, pages, marks)
    if store is not None:
        store.save()  # after the outputs: an interrupted build leaves the cache as it was
    return BuildResult(book, outputs, tuple(clock.stages), tuple(found))


def _check_options(options: BuildOptions) -> None:
    for fmt in options.formats:
        if fmt not in FORMATS:
            raise OptionError(f"unknown output format '{fmt}'", hint="choose epub, pdf or kepub")
    _check_styles(options.styles)
    if options.output.exists() and not options.output.is_dir():
        raise OptionError("the output path is a file, not a folder", where=Location(options.output))


def _read(options: BuildOptions, force: bool) -> _Plan:
    """The manuscript, and every option checked: a bad one costs no rendering."""
    manuscript = load(options.manuscript)
    meta = manuscript.meta
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
    want = tuple(fmt for fmt in FORMATS if fmt in options.formats)
    extra = repr((want, profile, variant, style.name, style.numbering))
    record = None if force else cache.load_record(options.output, slugify(meta.title))
    paths = output_paths(meta, options.output)
    return _Plan(
        manuscript, profile, variant, style, modified, from_env, paths, want, extra, record
    )


def _start_pdf(options: BuildOptions, meta: BookMeta) -> PdfJob:
    from publisher.pdf import job as pdfjob  # lazy: an EPUB-only build never loads it

    return pdfjob.start(options.styles, meta.lang)


def _decide(options: BuildOptions, plan: _Plan) -> _Fresh:
    """What is up to date, from the digests of everything each output is made from."""
    meta = plan.meta
    files = sorted(
        {s.path.resolve() for s in plan.manuscript.sources}
        | {p.resolve() for p in (meta.source, meta.cover_image, meta.csl) if p is not None}
        | {p.resolve() for p in meta.bibliography}  # a changed entry changes the book
    )
    epub_style, pdf_style = cache.style_digests(options.styles, plan.style.files())
    pdf_style = cache.digest(pdf_style, plan.extra)
    stack = cache.stack_versions()
    # Taken once, as the files were read: a file saved during the build must make
    # the next build redo it, so the record may not read the files again at the end.
    sources = cache.file_digest(files)
    record = plan.record
    content = cache.content_digest(sources, record.resources if record else [], plan.extra, stack)
    now = cache.Record(content, epub_style, pdf_style)
    stamps = {fmt: cache.output_stamp(plan.paths[fmt]) for fmt in plan.want}
    epub_ok, pdf_ok = cache.up_to_date(record, now, plan.want, stamps)
    return _Fresh(epub_ok, pdf_ok, sources, epub_style, pdf_style, stack)


def _untouched(plan: _Plan) -> tuple[Output, ...]:
    return tuple(
        Output(fmt, plan.paths[fmt], plan.paths[fmt].stat().st_size, 0.0, rebuilt=False)
        for fmt in plan.want
    )


def _font_store(options: BuildOptions, fresh: _Fresh) -> FontStore | None:
    """Where the EPUB's font subsets are kept between builds: the build cache."""
    if fresh.epub_ok:
        return None
    from publisher.epub.fonts import FontStore

    return FontStore(options.output / cache.CACHE_DIR / "fonts")


def _font_forks() -> bool:
    """PUBLISHER_FONT_FORKS=0 makes the EPUB's subsets in this process, one after
    another (to compare; the bytes are the same)."""
    return os.environ.get("PUBLISHER_FONT_FORKS", "") != "0"


def _font_helper(
    options: BuildOptions, plan: _Plan, fresh: _Fresh, job: PdfJob | None, store: FontStore | None
) -> FontHelper | None:
    """For an EPUB made without a PDF child beside it: a process that loads fontTools
    and reads the fonts while this one renders (epub/fonts.FontHelper). Not when
    the build cache holds fonts already: a rebuild finds what it needs there, in
    less time than a helper takes to start."""
    from publisher.forked import can_fork

    if job is not None or fresh.epub_ok or not can_fork() or not _font_forks():
        return None
    if store is not None and store.filled():
        return None
    from publisher.epub.fonts import FontHelper

    return FontHelper(options.styles, plan.style, store)


def _make(
    options: BuildOptions,
    plan: _Plan,
    fresh: _Fresh,
    book: RenderedBook,
    job: PdfJob | None,
    clock: _Clock,
    found: list[Diagnostic],
    store: FontStore | None = None,
    helper: FontHelper | None = None,
) -> tuple[Made, tuple[PageStart, ...], dict[str, str]]:
    """Every output due, in memory: the PDF laid out first (the EPUB's page list
    needs its page starts, its index the pages of the marked places), the EPUB
    written while the PDF's child writes the PDF."""
    from publisher.epub.cover import prepare_cover
    from publisher.epub.kobo import kepub
    from publisher.epub.writer import EpubInputs, make_epub, warm_fonts

    made: Made = {}
    pages: tuple[PageStart, ...] = ()
    marks: dict[str, str] = {}
    if job is not None:
        from publisher.pdf.layout import PdfInputs  # lazy: with the PDF's job only

        pdf_start = time.perf_counter()
        # PDF/X needs dates, and WeasyPrint would take the clock's: give it ours.
        stamp = plan.modified if plan.from_env or str(plan.variant).startswith("pdf/x") else None
        formulas = {}
        if book.formulas:
            from publisher.pdf.math import typeset_book  # lazy: a book with formulas only

            formulas = typeset_book(book, found)
            clock.stage(f"typeset {len(formulas)} formula(s)")
        inputs = PdfInputs(
            book, options.styles, stamp, plan.profile, plan.variant, plan.style, formulas
        )
        job.submit(inputs, found)
        if not fresh.epub_ok and plan.meta.cover_image is None:
            prepare_cover(plan.meta, options.styles / "fonts")  # while the child lays out
        if not fresh.epub_ok and job.in_child() and _laid_out_whole(book, plan.profile):
            # One core lays the book out; on the other, this process would only
            # wait: the EPUB's font subsets, made now, are ready when it needs them.
            warm_fonts(
                EpubInputs(book, options.styles, plan.modified, style=plan.style, fonts=store)
            )
        pages, count = job.pages()
        marks = job.index_pages()
        clock.stage(f"PDF laid out: {count} pages")
    elif "pdf" in plan.want and plan.record is not None:
        pages = plan.record.page_starts  # the PDF is up to date: so are its page breaks
        marks = plan.record.index_pages
    if not fresh.epub_ok:
        source = f"{plan.paths['pdf'].name} ({len(pages)} pages)" if pages else ""
        start = time.perf_counter()
        epub = EpubInputs(
            book,
            options.styles,
            plan.modified,
            pages,
            source,
            plan.style,
            fonts=store,
            parallel=job is None and _font_forks(),  # no PDF child: the second core is free
            helper=helper,
            index_pages=marks,
        )
        data = make_epub(epub, found)
        made["epub"] = (data, time.perf_counter() - start, len(pages) or None)
        if "kepub" in plan.want:
            start = time.perf_counter()
            made["kepub"] = (kepub(data), time.perf_counter() - start, len(pages) or None)
        clock.stage("EPUB written")
    if job is not None:  # written by the child while the EPUB was made here
        made["pdf"] = (job.result(), time.perf_counter() - pdf_start, count)
        job.close()
        clock.stage("PDF written")
    return made, pages, marks


def _laid_out_whole(book: RenderedBook, profile: Profile) -> bool:
    """Whether the PDF's child surely lays the book out whole, in one process
    (pdf/pieces.plan cuts only a book with more text than SPLIT_TEXT, and no
    article; the chapters' XHTML is longer than their text)."""
    from publisher.pdf.pieces import SPLIT_TEXT

    return (
        book.single_article
        or profile.chapter_break != "right"
        or sum(len(chapter.body) for chapter in book.chapters) < SPLIT_TEXT
    )


def _write(options: BuildOptions, plan: _Plan, made: Made) -> tuple[Output, ...]:
    """Every output is finished in memory before any is written, and all are written
    together (atomic.commit_all): a failure at any step leaves every earlier output
    as it was."""
    _ensure_folder(options.output)
    try:
        commit_all({plan.paths[fmt]: made[fmt][0] for fmt in plan.want if fmt in made})
    except OSError as exc:
        raise OptionError(
            f"cannot write the outputs: {exc.strerror or exc}",
            where=Location(options.output),
            hint="the earlier outputs are unchanged; choose an output folder you can write to,"
            " with room for the book",
        ) from None
    outputs: list[Output] = []
    for fmt in plan.want:
        path = plan.paths[fmt]
        if fmt in made:
            data, seconds, pages_or_marks = made[fmt]
            outputs.append(Output(fmt, path, len(data), seconds, pages_or_marks))
        else:
            outputs.append(Output(fmt, path, path.stat().st_size, 0.0, rebuilt=False))
    return tuple(outputs)


def _save_record(
    options: BuildOptions,
    plan: _Plan,
    fresh: _Fresh,
    book: RenderedBook,
    pages: tuple[PageStart, ...],
    marks: dict[str, str],
) -> None:
    resources = sorted(str(r.source) for r in book.resources)
    cache.save_record(
        options.output,
        slugify(plan.meta.title),
        cache.Record(
            content=cache.content_digest(fresh.sources, resources, plan.extra, fresh.stack),
            epub_style=fresh.epub_style,
            pdf_style=fresh.pdf_style,
            resources=resources,
            pages=[asdict(p) for p in pages],
            index_pages=marks,
            outputs={fmt: cache.output_stamp(plan.paths[fmt]) or [] for fmt in plan.want},
            stack=fresh.stack,
        ),
    )


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
