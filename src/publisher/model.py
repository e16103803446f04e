"""Values passed between the stages. Frozen: no stage mutates another's output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.diagnostics import Diagnostic
from publisher.errors import Location


@dataclass(frozen=True)
class Identifier:
    value: str
    scheme: str | None = None  # "ISBN", "DOI", "UUID"... as Pandoc writes it


@dataclass(frozen=True)
class BookMeta:
    title: str
    lang: str
    identifier: Identifier
    subtitle: str | None = None
    authors: tuple[str, ...] = ()
    date: str | None = None  # ISO 8601: YYYY, YYYY-MM or YYYY-MM-DD
    rights: str | None = None
    description: str | None = None
    subjects: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()  # Pandoc's `keywords:`, beside the subjects
    contributors: tuple[tuple[str, str], ...] = ()  # (name, MARC relator code)
    collection: str | None = None  # the series (Pandoc's `belongs-to-collection`)
    collection_position: int | None = None  # its place in the series (`group-position`)
    publisher: str | None = None
    cover_image: Path | None = None
    # The cover's bytes as the fence read and checked them: what the EPUB packages
    # (the file is never opened again, so a swap after the check reaches nothing).
    cover_data: bytes = field(default=b"", repr=False, compare=False)
    source: Path | None = None  # the file the metadata was read from
    # publisher's own settings, beside Pandoc's keys
    edition: str | None = None
    dedication: str | None = None
    split_level: int | None = None  # heading level that starts a chapter; None: worked out
    toc_depth: int = 3  # heading levels listed in the navigation
    image_max: int = 1600  # longest side, in pixels, of raster images in the EPUB
    certifier: str | None = None  # who answers for the accessibility conformance claim
    profile: str = "print"  # the PDF's page: print or screen (publisher/profiles.py)
    page_size: str | None = None
    margins: str | None = None  # "top outer bottom inner"
    bleed: str | None = None
    crop_marks: bool = False
    pdf_standard: str = "ua-1"
    raw_html: bool = False  # keep raw HTML (through the allow-list) instead of showing it
    style: str | None = None  # a folder under styles/ (publisher/source/styles.py); None: default
    style_line: int | None = None  # where `style:` is written, for messages
    dateline: str | None = None  # an article's place (and date) line: "BEIJING, Oct. 17"
    dashes: str = "en"  # what `--` becomes: an en dash, or an em dash (metadata.DASHES)
    # Citations and cross-references: Pandoc's and Quarto's keys (source/metadata.py)
    bibliography: tuple[Path, ...] = ()  # the files, resolved inside the fence
    # `references:` written in the metadata (CSL YAML): its items are dicts, so the
    # metadata's hash (the cover's cache key) leaves them out; equality keeps them
    references: tuple[Any, ...] = field(default=(), hash=False)
    references_line: int | None = None
    csl: Path | None = None  # None: Chicago author-date, shipped in render/csl/
    nocite: tuple[str, ...] = ()  # keys listed without a citation; "*": every entry
    link_citations: bool = True  # each citation links to its entry
    link_bibliography: bool = True  # DOIs and URLs in entries are links
    reference_section_title: str | None = None  # None: the locale's "References"
    suppress_bibliography: bool = False
    bibliography_per_chapter: bool = False  # each chapter ends with the works it cites
    crossref: tuple[tuple[str, str], ...] = ()  # Quarto's `crossref:` keys and values
    # the back-of-book index (render/index.py)
    index_title: str | None = None  # None: the word for it in the book's language
    index_ranges: str = "dash"  # consecutive pages: "dash" 41–43, "ff" 41 f. / 41 ff.

    @property
    def full_title(self) -> str:
        return f"{self.title}: {self.subtitle}" if self.subtitle else self.title

    @property
    def direction(self) -> str:
        return "rtl" if self.lang.split("-")[0].lower() in RTL_LANGUAGES else "ltr"


RTL_LANGUAGES = frozenset({"ar", "he", "fa", "ur", "yi", "ps", "sd", "ug", "dv", "ku"})


@dataclass(frozen=True)
class SourceFile:
    """One Markdown file as read: front matter blanked out, so that token line
    numbers are the file's own line numbers. A file may hold several chapters."""

    path: Path
    text: str
    part: str | None = None  # a part title from book.yaml that this file opens


@dataclass(frozen=True)
class Reference:
    """One work a manuscript may cite: its key and its CSL JSON item."""

    key: str
    data: Mapping[str, Any]
    where: Location  # the file and line it was read from


@dataclass(frozen=True)
class Bibliography:
    """The works of the manuscript's `bibliography:` files (and `references:`), and
    its `csl:` style (well-formed CSL XML), or None for publisher's default."""

    references: tuple[Reference, ...]
    style: bytes | None = None
    style_path: Path | None = None


@dataclass(frozen=True)
class Manuscript:
    meta: BookMeta
    sources: tuple[SourceFile, ...]
    root: Path  # the folder the manuscript's resources must stay inside
    diagnostics: tuple[Diagnostic, ...] = ()  # what reading the files found
    bibliography: Bibliography | None = None  # None: the manuscript cites no bibliography


@dataclass(frozen=True)
class TocEntry:
    level: int  # 1 = top of the book's hierarchy (a part, or a chapter when no parts)
    title: str  # plain text
    href: str  # "chapter-01.xhtml#id"


@dataclass(frozen=True)
class Resource:
    """A file the book packages: an image."""

    source: Path  # resolved, inside the fence
    href: str  # path inside the book, e.g. "images/map.png"
    media_type: str
    width: int = 0  # pixels; 0 for SVG
    height: int = 0
    # The bytes as the fence read and checked them (an SVG as rebuilt from the
    # allow-list): both outputs package these, and never open the file again, so a
    # file swapped for a link after the check cannot bring in one from elsewhere.
    data: bytes = field(default=b"", repr=False, compare=False)


# Where a document sits in the book: EPUB landmarks and PDF page styles follow it.
FRONT, BODY, BACK = "frontmatter", "bodymatter", "backmatter"


@dataclass(frozen=True)
class RenderedChapter:
    file_name: str  # "chapter-01.xhtml"
    title: str
    body: str  # a well-formed XHTML <section> element, XHTML namespace implied
    toc: tuple[TocEntry, ...]
    kind: str = "chapter"  # an epub:type: chapter, part, appendix, dedication, ...
    matter: str = BODY
    in_part: bool = False  # a chapter inside a part (one level deeper in outlines)
    source: Path | None = None


@dataclass(frozen=True)
class Formula:
    """One distinct formula of the book, as the chapters hold it (a MathML element),
    and where it is first written: the PDF typesets each once (pdf/math.py)."""

    mathml: str
    where: Location | None = None


@dataclass(frozen=True)
class IndexPlace:
    """A place an index term is marked: the marked element's id, the document it is
    in, and what locates it where there are no page numbers (the heading of its
    section, as the contents show it). A range also has its closing place."""

    ident: str
    document: str
    section: str
    end: IndexPlace | None = None


@dataclass(frozen=True)
class IndexEntry:
    ident: str  # its id in the index document
    term: str  # XHTML, as shown
    places: tuple[IndexPlace, ...]  # in the book's order
    see: tuple[tuple[str, str | None], ...] = ()  # (XHTML shown, target entry's id or None)
    see_also: tuple[tuple[str, str | None], ...] = ()
    entries: tuple[IndexEntry, ...] = ()  # sub-entries, in order


@dataclass(frozen=True)
class IndexGroup:
    ident: str  # its heading's id
    heading: str  # a letter, or the words for symbols and numbers
    entries: tuple[IndexEntry, ...]


@dataclass(frozen=True)
class BookIndex:
    """The back-of-book index, sorted: its document is the book's last chapter,
    written again with the printed page numbers where a PDF gives them."""

    document: str  # the index's file name
    title: str
    groups: tuple[IndexGroup, ...]
    see: str  # the words for "see" and "see also" in the book's language
    see_also: str
    ranges: str  # BookMeta.index_ranges
    marks: tuple[str, ...]  # the ids of every marked place, in the book's order
    section: str  # the id of the index's own section


@dataclass(frozen=True)
class RenderedBook:
    meta: BookMeta
    chapters: tuple[RenderedChapter, ...]
    front: tuple[RenderedChapter, ...] = ()  # title, copyright and dedication pages
    resources: tuple[Resource, ...] = ()
    single_article: bool = False  # one chapter titled by the book: no separate PDF title page
    diagnostics: tuple[Diagnostic, ...] = ()  # what rendering found (links, images, raw HTML)
    formulas: tuple[Formula, ...] = ()  # each distinct formula once (publisher.render.math)
    index: BookIndex | None = None  # the back-of-book index, when a term is marked
    source_size: int = 0  # bytes of the manuscript's Markdown: the PDF's budget grows with it

    @property
    def toc(self) -> tuple[TocEntry, ...]:
        return tuple(entry for chapter in self.chapters for entry in chapter.toc)


@dataclass(frozen=True)
class BuildOptions:
    manuscript: Path
    output: Path
    styles: Path
    formats: tuple[str, ...] = ("epub", "pdf")
    profile: str | None = None  # overrides the metadata's
    pdf_standard: str | None = None
    style: str | None = None  # overrides the metadata's
