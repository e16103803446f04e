"""RenderedBook -> EPUB 3.3 through ebooklib.

ebooklib re-parses `EpubHtml` content with an HTML parser and rewrites it, and it
writes the clock into the zip and the OPF. So every document here is finished
XHTML handed over as a plain `EpubItem` (written byte for byte), and the writer is
subclassed to give the zip fixed dates and modes."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from html import escape
from pathlib import Path
from typing import Any

from ebooklib import epub
from lxml import etree

from publisher.diagnostics import Diagnostic
from publisher.epub.accessibility import accessibility_metadata
from publisher.epub.cover import make_cover
from publisher.epub.fonts import FontHelper, FontStore, lean_fonts, media_type
from publisher.errors import OptionError
from publisher.ids import page_id
from publisher.model import BODY, RenderedBook, RenderedChapter, Resource, TocEntry
from publisher.names import EntryNames, NameRefused
from publisher.pagination import PageStart, insert_markers
from publisher.render.index import with_pages
from publisher.source.styles import (
    DEFAULT,
    PackagedCss,
    Style,
    epub_sheets,
    load_style,
    package_css,
)
from publisher.xhtml import parse_body

FOLDER = "EPUB"
NAV = "nav.xhtml"
NCX = "toc.ncx"
COVER_PAGE = "cover.xhtml"
TITLE_PAGE = "titlepage.xhtml"
COVER_IMAGE_ID = "cover-image"
# A formula's element (publisher.render.math): text never holds a `<`, and raw HTML's
# MathML is removed (render/sanitize.py).
MATHML = re.compile(r"<math[\s/>]")


def has_code(book: RenderedBook) -> bool:
    return any("<code" in chapter.body for chapter in book.chapters)


@dataclass(frozen=True)
class EpubInputs:
    book: RenderedBook
    styles: Path  # the styles folder: base.css, epub.css, fonts/
    modified: dt.datetime  # dcterms:modified, never the clock
    pages: tuple[PageStart, ...] = ()  # where the PDF's pages begin, when built beside it
    print_source: str = ""  # names the PDF edition the page numbers come from
    style: Style | None = None  # None: the default style
    subset_fonts: bool = True  # False: every face of the families named, whole (tests)
    # each index mark's printed page (the PDF's layout, beside `pages`): the index's
    # locators show them
    index_pages: Mapping[str, str] = field(default_factory=dict)
    fonts: FontStore | None = None  # subsets kept between builds (None: in memory only)
    parallel: bool = False  # a core is free: a forked process makes some of the subsets
    helper: FontHelper | None = None  # a process at the fonts' work since the build began


def make_epub(inputs: EpubInputs, found: list[Diagnostic]) -> bytes:
    """The finished EPUB file as bytes: one ebooklib book filled in named steps; what
    writing it finds is added to `found`."""
    if inputs.index_pages:
        inputs = replace(inputs, book=with_pages(inputs.book, inputs.index_pages))
    book = epub.EpubBook()
    _metadata(book, inputs, found)
    css = _packaged_css(inputs)
    sheets = tuple(href for href, _ in css.sheets)
    names = _entry_names(inputs, sheets)
    cover_href = _cover_href(inputs, names)
    pages = _pages(inputs, sheets, cover_href)
    _styles_and_fonts(book, inputs, css, pages)
    _claim_all(book, names, sheets)
    _cover_image(book, inputs, cover_href)
    _images(book, inputs, cover_href)
    documents = _documents(book, pages)
    _navigation(book, inputs, pages)
    _spine_and_guide(book, inputs, documents)
    return _written(book, inputs)


def warm_fonts(inputs: EpubInputs) -> None:
    """Subsets the fonts for the book's documents as they are before the print
    edition's page breaks go in, for make_epub to find in memory (or in
    `inputs.fonts`): the build calls this while its PDF child lays the book out
    and this process would only wait. make_epub still runs the cascade on the
    documents it writes, and takes a subset from memory only where the face's
    characters, features and ligatures come out the same (the markers carry no
    text, so they do, unless a sheet styles them). Speculative: an error here is
    make_epub's to meet and report."""
    if not inputs.subset_fonts:
        return
    try:
        css = _packaged_css(inputs)
        sheets = tuple(href for href, _ in css.sheets)
        pages = _pages(inputs, sheets, _cover_href(inputs, _entry_names(inputs, sheets)))
        lean_fonts(css, pages.texts(), inputs.fonts)
    except Exception:  # make_epub meets it again, and reports it
        pass


def _add(book: epub.EpubBook, item: epub.EpubItem, properties: tuple[str, ...] = ()) -> Any:
    item.properties = list(properties)
    book.add_item(item)
    return item


def _metadata(book: epub.EpubBook, inputs: EpubInputs, found: list[Diagnostic]) -> None:
    """Identifier, titles, language, creators, Dublin Core, the print source the page
    list comes from, accessibility metadata, the EPUB 2 cover hint."""
    rendered = inputs.book
    meta = rendered.meta
    book.IDENTIFIER_ID = "pub-id"
    book.set_identifier(meta.identifier.value)
    if meta.identifier.scheme:
        book.add_metadata(
            None,
            "meta",
            meta.identifier.scheme,
            {"refines": "#pub-id", "property": "identifier-type"},
        )
    book.add_metadata("DC", "title", meta.title, {"id": "title-main"})
    book.add_metadata(None, "meta", "main", {"refines": "#title-main", "property": "title-type"})
    if meta.subtitle:
        book.add_metadata("DC", "title", meta.subtitle, {"id": "title-sub"})
        book.add_metadata(
            None, "meta", "subtitle", {"refines": "#title-sub", "property": "title-type"}
        )
    book.set_language(meta.lang)
    for n, author in enumerate(meta.authors, start=1):
        book.add_author(author, uid=f"creator-{n}", role="aut")
    for key, value in (
        ("date", meta.date),
        ("rights", meta.rights),
        ("description", meta.description),
        ("publisher", meta.publisher),
    ):
        if value:
            book.add_metadata("DC", key, value)
    for subject in dict.fromkeys((*meta.subjects, *meta.keywords)):
        book.add_metadata("DC", "subject", subject)
    for n, (name, role) in enumerate(meta.contributors, start=1):
        book.add_metadata("DC", "contributor", name, {"id": f"contributor-{n}"})
        book.add_metadata(
            None,
            "meta",
            role,
            {"refines": f"#contributor-{n}", "property": "role", "scheme": "marc:relators"},
        )
    if meta.collection:
        book.add_metadata(
            None, "meta", meta.collection, {"property": "belongs-to-collection", "id": "series"}
        )
        book.add_metadata(
            None, "meta", "series", {"refines": "#series", "property": "collection-type"}
        )
        if meta.collection_position is not None:
            book.add_metadata(
                None,
                "meta",
                str(meta.collection_position),
                {"refines": "#series", "property": "group-position"},
            )
    if inputs.pages:
        book.add_metadata("DC", "source", inputs.print_source, {"id": "print-source"})
        book.add_metadata(
            None, "meta", "pagination", {"refines": "#print-source", "property": "source-of"}
        )
    for prop, value in accessibility_metadata(rendered, found, paginated=bool(inputs.pages)):
        book.add_metadata(None, "meta", value, {"property": prop})
    book.add_metadata(None, "meta", "", {"name": "cover", "content": COVER_IMAGE_ID})


def _packaged_css(inputs: EpubInputs) -> PackagedCss:
    """The style sheets (shared, then the style's; the code sheet only in books with
    code) and the font files of the families they name."""
    style = inputs.style or load_style(inputs.styles, DEFAULT)
    return package_css(epub_sheets(inputs.styles, style, has_code(inputs.book)), inputs.styles)


def _styles_and_fonts(
    book: epub.EpubBook, inputs: EpubInputs, css: PackagedCss, pages: _Pages
) -> None:
    """The sheets and the fonts: each face the documents use, subset to the
    characters set in it and renamed, with its licence (epub/fonts.py); faces no
    text uses left out. With `subset_fonts` off, every face of the named families,
    whole."""
    if inputs.subset_fonts:
        lean = lean_fonts(css, pages.texts(), inputs.fonts, inputs.parallel, inputs.helper)
        sheets, files = lean.sheets, [(f.href, f.media_type, f.content) for f in lean.files]
    else:
        sheets = css.sheets
        files = [(href, media_type(source), source.read_bytes()) for href, source in css.fonts]
    for n, (href, content) in enumerate(sheets, start=1):
        _add(
            book,
            epub.EpubItem(uid=f"css-{n}", file_name=href, media_type="text/css", content=content),
        )
    fonts = [(href, media, content) for href, media, content in files if media != "text/plain"]
    for n, (href, media, content) in enumerate(fonts, start=1):
        item = epub.EpubItem(uid=f"font-{n}", file_name=href, media_type=media, content=content)
        _add(book, item)
    licences = [(href, content) for href, media, content in files if media == "text/plain"]
    for n, (href, content) in enumerate(licences, start=1):
        _add(
            book,
            epub.EpubItem(
                uid=f"font-licence-{n}", file_name=href, media_type="text/plain", content=content
            ),
        )


def _entry_names(inputs: EpubInputs, sheets: tuple[str, ...]) -> EntryNames:
    """Every name in the container known before the fonts are made, claimed in one
    authority (publisher.names): the documents' (fixed), the images' (the fence
    gave them out, unique in any case), the style sheets' as the styles folder names
    them. Two that differ only in case, or a name a container cannot hold, stop the
    build."""
    rendered = inputs.book
    names = EntryNames()
    for fixed in ("content.opf", COVER_PAGE, NAV, NCX):
        names.claim(fixed)
    for document in (*rendered.front, *rendered.chapters):
        names.claim(document.file_name)
    for resource in rendered.resources:
        names.claim(resource.href, resource.source)
    for sheet in sheets:
        _claim_style_file(names, sheet)
    return names


def _claim_all(book: epub.EpubBook, names: EntryNames, sheets: tuple[str, ...]) -> None:
    """The fonts and licences just packaged: claimed too (the sheets already are)."""
    for item in book.get_items():
        if item.file_name not in sheets:
            _claim_style_file(names, item.file_name)


def _claim_style_file(names: EntryNames, name: str) -> None:
    try:
        names.claim(name)
    except NameRefused as refused:
        raise OptionError(
            f"'{refused.name}' cannot be a file of the EPUB: {refused.why}",
            hint="rename the file in the styles folder and the url() that names it",
        ) from None


def _cover_href(inputs: EpubInputs, names: EntryNames) -> str:
    """Where the cover image goes: the image's own href when the text shows the same
    file (one entry, the cover), else `images/cover.<kind>` (a made one is JPEG) or
    the first free variant of it."""
    image = inputs.book.meta.cover_image
    suffix = image.suffix.lower() if image else ".jpg"
    return names.take(f"images/cover{suffix}", image)  # resolved by the fence


def _cover_image(book: epub.EpubBook, inputs: EpubInputs, cover_href: str) -> None:
    """The given cover image, or one made from the metadata, at `cover_href`."""
    meta = inputs.book.meta
    if meta.cover_image:
        cover_type = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
            meta.cover_image.suffix.lower(), "image/png"
        )
        from PIL import Image

        # The bytes the fence read and checked (source/metadata.py); the file is
        # not opened again.
        with Image.open(io.BytesIO(meta.cover_data)) as image:
            width, height = image.size
        # Upright by its EXIF orientation, as every other image; never scaled down.
        cover = Resource(meta.cover_image, cover_href, cover_type, width, height, meta.cover_data)
        cover_bytes = epub_image(cover, max(width, height))
    else:
        cover_bytes, cover_type = make_cover(meta, inputs.styles / "fonts"), "image/jpeg"
    _add(
        book,
        epub.EpubItem(
            uid=COVER_IMAGE_ID, file_name=cover_href, media_type=cover_type, content=cover_bytes
        ),
        ("cover-image",),
    )


def _images(book: epub.EpubBook, inputs: EpubInputs, cover_href: str) -> None:
    """The chapters' images, each scaled down to the style's largest side if larger;
    the cover's file, shown in the text too, is the cover's entry already."""
    for n, resource in enumerate(inputs.book.resources, start=1):
        if resource.href == cover_href:
            continue
        _add(
            book,
            epub.EpubItem(
                uid=f"img-{n}",
                file_name=resource.href,
                media_type=resource.media_type,
                content=epub_image(resource, inputs.book.meta.image_max),
            ),
        )


@dataclass(frozen=True)
class _Page:
    file_name: str
    uid: str
    content: str  # the finished XHTML


@dataclass(frozen=True)
class _Pages:
    """Every XHTML document of the book, written before any is added: the fonts
    are cut to the text they hold."""

    cover: _Page
    front: list[_Page]
    chapters: list[_Page]
    nav: _Page

    def texts(self) -> list[str]:
        return [p.content for p in (self.cover, *self.front, *self.chapters, self.nav)]


@dataclass(frozen=True)
class _Documents:
    cover: Any
    front: list[Any]
    chapters: list[Any]


def _pages(inputs: EpubInputs, sheets: tuple[str, ...], cover_href: str) -> _Pages:
    """The cover page, the front matter and the chapters in reading order (with the
    print edition's page breaks), and the navigation document."""
    rendered = inputs.book
    meta = rendered.meta
    lang, direction = meta.lang, meta.direction
    by_document: dict[str, list[PageStart]] = {}
    for start in inputs.pages:
        by_document.setdefault(start.document, []).append(start)

    def paged(chapter: RenderedChapter) -> str:
        starts = by_document.get(chapter.file_name)
        if not starts:
            return chapter.body
        section = parse_body(chapter.body)[0]
        insert_markers(section, starts)
        xhtml = etree.tostring(section, encoding="unicode", with_tail=False)
        # The page's <html> declares both namespaces; the section need not repeat them.
        return xhtml.replace(_SECTION_NS, "", 1) + "\n"

    cover = _Page(
        COVER_PAGE,
        "cover",
        _page(
            lang,
            "Cover",
            f'<section class="cover" epub:type="cover">'
            f'<img src="{cover_href}" alt="Cover: {escape(meta.title)}" role="doc-cover" />'
            "</section>",
            sheets,
            direction=direction,
        ),
    )
    front = [
        _Page(
            page.file_name,
            page.file_name.split(".")[0],
            _page(lang, page.title, paged(page), sheets, direction=direction),
        )
        for page in rendered.front
    ]
    chapters = [
        _Page(
            ch.file_name,
            ch.file_name.split(".")[0],
            _page(lang, ch.title or meta.title, paged(ch), sheets, direction=direction),
        )
        for ch in rendered.chapters
    ]
    body = _nav_body(rendered, len(rendered.chapters) > 1, inputs.pages)
    nav = _Page(NAV, "nav", _page(lang, "Contents", body, sheets, direction=direction))
    return _Pages(cover, front, chapters, nav)


def _documents(book: epub.EpubBook, pages: _Pages) -> _Documents:
    """The cover page, then the front matter and the chapters in reading order."""
    cover = _add(book, _doc(pages.cover.file_name, pages.cover.uid, pages.cover.content))
    front = [_add(book, _doc(p.file_name, p.uid, p.content), _holds(p)) for p in pages.front]
    chapters = [_add(book, _doc(p.file_name, p.uid, p.content), _holds(p)) for p in pages.chapters]
    return _Documents(cover, front, chapters)


def _holds(page: _Page) -> tuple[str, ...]:
    """The manifest properties a document needs for what it holds: `mathml` for a
    formula (ebooklib never sets it; EPUBCheck requires it, OPF-014)."""
    return ("mathml",) if MATHML.search(page.content) else ()


def _navigation(book: epub.EpubBook, inputs: EpubInputs, pages: _Pages) -> None:
    """The EPUB 3 navigation document (contents, landmarks, page list) and the EPUB 2
    NCX for older readers."""
    _add(book, _doc(pages.nav.file_name, pages.nav.uid, pages.nav.content), ("nav",))
    _add(
        book,
        epub.EpubItem(
            uid="ncx",
            file_name=NCX,
            media_type="application/x-dtbncx+xml",
            content=_ncx(inputs.book),
        ),
    )


def _spine_and_guide(book: epub.EpubBook, inputs: EpubInputs, documents: _Documents) -> None:
    """Reading order (the contents in it only when there is more than one chapter),
    the page-progression direction, and the EPUB 2 guide."""
    many = len(documents.chapters) > 1
    spine: list[object] = [documents.cover, *documents.front]
    if many:
        spine.append(book.get_item_with_id("nav"))
    book.spine = spine + documents.chapters
    if inputs.book.meta.direction == "rtl":
        book.set_direction("rtl")
    book.guide = [
        {"type": "cover", "title": "Cover", "href": COVER_PAGE},
        {"type": "title-page", "title": "Title Page", "href": TITLE_PAGE},
        {"type": "text", "title": "Beginning", "href": _start(inputs.book)},
    ]
    if many:
        book.guide.insert(2, {"type": "toc", "title": "Contents", "href": NAV})
    index = inputs.book.index
    if index is not None:
        book.guide.append({"type": "index", "title": index.title, "href": index.document})


def _written(book: epub.EpubBook, inputs: EpubInputs) -> bytes:
    """The zip, byte-reproducible: fixed times and order (see _ReproducibleWriter)."""
    out = io.BytesIO()
    writer = _ReproducibleWriter(out, book, {"mtime": inputs.modified, "epub3_pages": False})
    writer.process()
    writer.write()
    return out.getvalue()


_SECTION_NS = ' xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"'


def _doc(file_name: str, uid: str, content: str) -> epub.EpubItem:
    return epub.EpubItem(
        uid=uid,
        file_name=file_name,
        media_type="application/xhtml+xml",
        content=content.encode("utf-8"),
    )


def _page(lang: str, title: str, body: str, sheets: tuple[str, ...], direction: str = "ltr") -> str:
    links = "".join(f'<link rel="stylesheet" type="text/css" href="{href}" />\n' for href in sheets)
    dir_attr = ' dir="rtl"' if direction == "rtl" else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" '
        f'lang="{lang}" xml:lang="{lang}"{dir_attr}>\n<head>\n<meta charset="utf-8" />\n'
        f"<title>{escape(title)}</title>\n{links}</head>\n<body>\n{body}</body>\n</html>\n"
    )


def _start(book: RenderedBook) -> str:
    """Where reading starts: the first chapter of the body (Apple Books opens there)."""
    for chapter in book.chapters:
        if chapter.matter == BODY:
            return chapter.file_name
    return book.chapters[0].file_name


def epub_image(resource: Resource, max_side: int) -> bytes:
    """The image as packaged, from the bytes the fence read and checked (the file is
    never opened again): an SVG as rebuilt from the allow-list then
    (publisher.source.svg); a raster image turned upright by its EXIF orientation
    (the tag then goes, so that no reading system turns it twice) and scaled down
    to `max_side` (the PDF keeps the full resolution). Animated GIFs are kept as
    they are."""
    data = resource.data
    if not data:  # a bug of ours (the Locator reads every image): the internal error, G01
        raise ValueError(f"image {resource.href} reached the EPUB without its bytes")
    if resource.media_type == "image/svg+xml":
        return data
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as image:
        if getattr(image, "is_animated", False):
            return data
        turned = image.getexif().get(ORIENTATION, 1) not in (0, 1)
        if max(resource.width, resource.height) <= max_side and not turned:
            return data
        fmt = image.format or "PNG"
        upright = ImageOps.exif_transpose(image) if turned else image
        upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        options: dict[str, object] = {"optimize": True}
        if fmt == "JPEG":
            options["quality"] = 88
        elif fmt == "WEBP":
            options = {"quality": 88, "method": 4}
        if image.info.get("icc_profile"):
            options["icc_profile"] = image.info["icc_profile"]  # the colours stay right
        # No EXIF written: the orientation is applied, and a camera's other tags
        # (its place, its serial number) are nothing a book needs to carry.
        upright.save(out, format=fmt, **options)
    return out.getvalue()


ORIENTATION = 0x0112  # the EXIF tag


def _toc_tree(entries: tuple[TocEntry, ...]) -> str:
    """Nested <ol> from a flat list of levelled entries, never skipping a level."""
    out: list[str] = []
    stack: list[int] = []
    for entry in entries:
        while stack and stack[-1] > entry.level:
            out.append("</li>\n</ol>\n")
            stack.pop()
        if stack and stack[-1] == entry.level:
            out.append("</li>\n")
        elif stack and stack[-1] < entry.level:
            out.append("\n<ol>\n")
            stack.append(entry.level)
        else:
            stack.append(entry.level)
        out.append(f'<li><a href="{escape(entry.href)}">{escape(entry.title)}</a>')
    while stack:
        out.append("</li>\n")
        stack.pop()
        if stack:
            out.append("</ol>\n")
    return "<ol>\n" + "".join(out) + "</ol>\n"


def _nav_entries(book: RenderedBook) -> tuple[TocEntry, ...]:
    # Levels relative to the shallowest heading, so that nesting never skips.
    entries = tuple(e for e in book.toc if e.title)
    if not entries:
        return tuple(
            TocEntry(1, ch.title or f"Chapter {n}", ch.file_name)
            for n, ch in enumerate(book.chapters, start=1)
        )
    top = min(e.level for e in entries)
    fixed: list[TocEntry] = []
    for entry in entries:
        level = min(entry.level - top + 1, fixed[-1].level + 1) if fixed else 1
        fixed.append(TocEntry(level, entry.title, entry.href))
    return tuple(fixed)


def _nav_body(book: RenderedBook, many: bool, pages: tuple[PageStart, ...] = ()) -> str:
    landmarks = [
        (COVER_PAGE, "cover", "Cover"),
        (TITLE_PAGE, "titlepage", "Title Page"),
    ]
    if many:
        landmarks.append((f"{NAV}#toc", "toc", "Contents"))
    landmarks.append((_start(book), "bodymatter", "Start of Content"))
    if book.index is not None:
        landmarks.append((book.index.document, "index", escape(book.index.title)))
    items = "".join(
        f'<li><a epub:type="{kind}" href="{href}">{label}</a></li>\n'
        for href, kind, label in landmarks
    )
    # Pages of the printed contents begin at the navigation's heading.
    toc_marks = "".join(
        f'<span epub:type="pagebreak" role="doc-pagebreak" id="{page_id(p.label)}" '
        f'aria-label="{p.label}"/>'
        for p in pages
        if p.document == NAV
    )
    page_list = ""
    if pages:
        entries = "".join(
            f'<li><a href="{p.document}#{page_id(p.label)}">{p.label}</a></li>\n' for p in pages
        )
        page_list = (
            '<nav epub:type="page-list" id="page-list" aria-labelledby="page-list-title" '
            'hidden="hidden">\n<h2 id="page-list-title">Pages</h2>\n'
            f"<ol>\n{entries}</ol>\n</nav>\n"
        )
    return (
        '<nav epub:type="toc" id="toc" role="doc-toc" aria-labelledby="toc-title">\n'
        f'<h1 id="toc-title">{toc_marks}Contents</h1>\n{_toc_tree(_nav_entries(book))}</nav>\n'
        '<nav epub:type="landmarks" id="landmarks" aria-labelledby="landmarks-title" '
        'hidden="hidden">\n'
        f'<h2 id="landmarks-title">Landmarks</h2>\n<ol>\n{items}</ol>\n</nav>\n'
        f"{page_list}"
    )


def _ncx(book: RenderedBook) -> bytes:
    meta = book.meta
    points: list[str] = []
    depth = 0
    open_levels: list[int] = []
    for order, entry in enumerate(_nav_entries(book), start=1):
        while open_levels and open_levels[-1] >= entry.level:
            points.append("</navPoint>\n")
            open_levels.pop()
        open_levels.append(entry.level)
        depth = max(depth, len(open_levels))
        points.append(
            f'<navPoint id="navpoint-{order}" playOrder="{order}">'
            f"<navLabel><text>{escape(entry.title)}</text></navLabel>"
            f'<content src="{escape(entry.href)}" />\n'
        )
    points.extend("</navPoint>\n" for _ in open_levels)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1" '
        f'xml:lang="{meta.lang}">\n'
        f'<head>\n<meta name="dtb:uid" content="{escape(meta.identifier.value)}" />\n'
        f'<meta name="dtb:depth" content="{depth}" />\n'
        '<meta name="dtb:totalPageCount" content="0" />\n'
        '<meta name="dtb:maxPageNumber" content="0" />\n</head>\n'
        f"<docTitle><text>{escape(meta.title)}</text></docTitle>\n"
        f"<navMap>\n{''.join(points)}</navMap>\n</ncx>\n"
    ).encode()


# A fixed time for every zip entry: the zip format's own epoch.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# WOFF/WOFF2 fonts are compressed already (WOFF2 with Brotli): deflate gains nothing
# on them and spends most of the EPUB's packaging time trying. OCF allows stored
# entries for any file.
_STORED = (".woff2", ".woff")


class _ReproducibleZip(zipfile.ZipFile):
    """Entries with fixed dates and mode 0644, so that equal inputs give equal bytes."""

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):  # type: ignore[no-untyped-def]
        if isinstance(zinfo_or_arcname, str):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            if compress_type is None:
                stored = zinfo_or_arcname.endswith(_STORED)
                compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.compress_type = compress_type
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)


class _ReproducibleWriter(epub.EpubWriter):  # type: ignore[misc]
    def _write_opf_file(self, root: Any) -> None:
        # ebooklib sets no language on <package>; DAISY Ace requires it (epub-lang).
        root.set("{http://www.w3.org/XML/1998/namespace}lang", self.book.language)
        if self.book.direction == "rtl":
            root.set("dir", "rtl")
        super()._write_opf_file(root)

    def write(self) -> None:
        self.out = _ReproducibleZip(self.file_name, "w", zipfile.ZIP_DEFLATED, compresslevel=9)
        self.out.writestr(  # type: ignore[no-untyped-call]
            "mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED
        )
        self._write_container()
        self._write_opf()
        self._write_items()
        self.out.close()
