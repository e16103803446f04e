"""Values passed between the stages. Frozen: no stage mutates another's output."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from publisher.diagnostics import Diagnostic


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
class Manuscript:
    meta: BookMeta
    sources: tuple[SourceFile, ...]
    root: Path  # the folder the manuscript's resources must stay inside
    diagnostics: tuple[Diagnostic, ...] = ()  # what reading the files found


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
class RenderedBook:
    meta: BookMeta
    chapters: tuple[RenderedChapter, ...]
    front: tuple[RenderedChapter, ...] = ()  # title, copyright and dedication pages
    resources: tuple[Resource, ...] = ()
    single_article: bool = False  # one chapter titled by the book: no separate PDF title page
    diagnostics: tuple[Diagnostic, ...] = ()  # what rendering found (links, images, raw HTML)
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
