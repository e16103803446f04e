"""Incremental builds: what each output was made from, kept beside the outputs in
`.publisher-cache/<slug>.json`. A build whose inputs and outputs are unchanged does
nothing; a change to the EPUB's stylesheets rebuilds only the EPUB (with the page
numbers the PDF's layout gave last time); anything the PDF depends on redoes both
(the EPUB's page list depends on the PDF). The EPUB's font subsets and the facts
of the fonts they are cut from are kept beside the record, in
`.publisher-cache/fonts/` (epub/fonts.FontStore), so that a rebuild does not make
them again."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import stat
import sys
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from publisher.atomic import atomic_write
from publisher.pagination import PageStart

CACHE_DIR = ".publisher-cache"
PACKAGE = Path(__file__).resolve().parent
EPUB_STYLES = ("base.css", "epub.css", "epub-code.css")
PRINT_STYLES = ("base.css", "print.css")


def digest(*parts: bytes | str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        # surrogateescape: a path with a name that is not UTF-8 (a folder from an
        # old archive) is hashed as its bytes
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()


def file_digest(paths: list[Path]) -> str:
    parts: list[bytes | str] = []
    for path in paths:
        parts.append(str(path))
        parts.append(_contents(path))
    return digest(*parts)


def _contents(path: Path) -> bytes | str:
    """A file's bytes, for a digest only. The paths are the last build's images:
    one may have become a pipe since, which must not be waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return "missing"
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return "not a file"
        return file.read()


def code_digest() -> str:
    """publisher's own code: a new version (or an edited checkout) rebuilds."""
    return file_digest(sorted(PACKAGE.rglob("*.py")))


# The packages whose versions shape the outputs' bytes: the Markdown parser, the
# EPUB writer, WeasyPrint and everything it lays out and writes with.
STACK = (
    "markdown-it-py",
    "mdit-py-plugins",
    "ebooklib",
    "lxml",
    "pygments",
    "pyyaml",
    "pillow",
    "weasyprint",
    "pydyf",
    "tinyhtml5",
    "tinycss2",
    "cssselect2",
    "pyphen",
    "fonttools",
    "brotli",
    "zopfli",
    "pikepdf",
)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def stack_versions() -> dict[str, str]:
    """The installed version of each STACK package (and Python's, and zlib's),
    read from the names of the `.dist-info` folders on sys.path: a millisecond,
    where importlib.metadata takes 40 on every no-op build."""
    wanted = {_normal(name): name for name in STACK}
    found = {
        "python": platform.python_version(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            if not folder.endswith(".dist-info"):
                continue
            name, _, version = folder[: -len(".dist-info")].partition("-")
            key = wanted.get(_normal(name))
            if key and key not in found:  # the first on sys.path is the one imported
                found[key] = version
    return dict(sorted(found.items()))


EPUB_ONLY = {"epub.css", ".woff2", ".woff"}  # what only the EPUB reads
PRINT_ONLY = {"print.css", ".ttf", ".otf"}  # what only the PDF reads


def style_digests(styles: Path, style_files: list[Path]) -> tuple[str, str]:
    """(EPUB styles, print styles), fonts included; `style_files`: the book's style
    folder (publisher/source/styles.py). A change to its epub.css rebuilds only the EPUB."""
    fonts = styles / "fonts"
    woff2 = sorted(fonts.rglob("*.woff2")) if fonts.is_dir() else []
    ttf = sorted(p for p in fonts.rglob("*") if p.suffix in (".ttf", ".otf"))

    def kind(path: Path) -> set[str]:
        return {path.name, path.suffix.lower()}

    epub_style = [p for p in style_files if not kind(p) & PRINT_ONLY]
    print_style = [p for p in style_files if not kind(p) & EPUB_ONLY]
    epub = file_digest([styles / name for name in EPUB_STYLES] + woff2 + epub_style)
    pdf = file_digest([styles / name for name in PRINT_STYLES] + ttf + print_style)
    return epub, pdf


@dataclass
class Record:
    """What the last build of one book in one output folder was made from."""

    content: str = ""  # manuscript files, images, code, dates
    epub_style: str = ""
    pdf_style: str = ""  # print styles and PDF options
    resources: list[str] = field(default_factory=list)  # image files the book used
    pages: list[dict[str, Any]] = field(default_factory=list)  # PageStart, as dicts
    index_pages: dict[str, str] = field(default_factory=dict)  # index mark id -> printed page
    outputs: dict[str, list[int]] = field(default_factory=dict)  # format -> [size, mtime_ns]
    # The versions the outputs were made with (part of `content`: an upgrade rebuilds).
    stack: dict[str, str] = field(default_factory=dict)

    @property
    def page_starts(self) -> tuple[PageStart, ...]:
        return tuple(PageStart(**p) for p in self.pages)


def up_to_date(
    last: Record | None, now: Record, want: tuple[str, ...], stamps: dict[str, list[int] | None]
) -> tuple[bool, bool]:
    """(EPUB up to date, PDF up to date), for the formats `want`ed: `last` is the
    record of the last build (None: none, or --force), `now` the digests of this
    one's inputs, `stamps` each output's (size, mtime) on disk now (None: missing).
    An output is up to date when the inputs it depends on and the file itself are
    as the record says. The EPUB depends on the content and the EPUB styles, the
    PDF on the content and the print styles and options; and a PDF to be made
    makes the EPUB too, whose page list comes from the PDF's layout."""
    if last is None:
        return False, "pdf" not in want

    def fresh(fmt: str) -> bool:  # a missing output never is
        stamp = stamps.get(fmt)
        return stamp is not None and last.content == now.content and last.outputs.get(fmt) == stamp

    pdf_ok = "pdf" not in want or (fresh("pdf") and last.pdf_style == now.pdf_style)
    epub_ok = last.epub_style == now.epub_style and all(fresh(f) for f in want if f != "pdf")
    return epub_ok and pdf_ok, pdf_ok


def cache_path(output: Path, slug: str) -> Path:
    return output / CACHE_DIR / f"{slug}.json"


def load_record(output: Path, slug: str) -> Record | None:
    try:
        data = json.loads(cache_path(output, slug).read_text(encoding="utf-8"))
        return Record(**data)
    except (OSError, ValueError, TypeError):
        return None


def save_record(output: Path, slug: str, record: Record) -> None:
    """Kept for the next build; if it cannot be written, the outputs (already in
    place) are still right and the next build simply makes them again."""
    path = cache_path(output, slug)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, (json.dumps(asdict(record), indent=1, sort_keys=True) + "\n").encode())
    except OSError:
        path.unlink(missing_ok=True)  # a stale record must not claim the new outputs


def output_stamp(path: Path) -> list[int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def content_digest(sources: str, resources: list[str], extra: str, stack: dict[str, str]) -> str:
    """`sources` (the file_digest of the manuscript's files, taken once as the
    build reads them), the images it used, publisher's code, the versions of the
    stack, and `extra` (options and dates)."""
    return digest(
        sources,
        file_digest([Path(r) for r in resources]),
        code_digest(),
        json.dumps(stack, sort_keys=True),
        extra,
        os.environ.get("SOURCE_DATE_EPOCH", ""),
    )
