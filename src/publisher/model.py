"""Values passed between the stages. Frozen: no stage mutates another's output."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
    publisher: str | None = None
    cover_image: Path | None = None
    source: Path | None = None  # the file the metadata was read from

    @property
    def full_title(self) -> str:
        return f"{self.title}: {self.subtitle}" if self.subtitle else self.title


@dataclass(frozen=True)
class Chapter:
    """One chapter's Markdown, as read: front matter still in place so that
    token line numbers are the file's own line numbers."""

    source: Path
    text: str


@dataclass(frozen=True)
class Manuscript:
    meta: BookMeta
    chapters: tuple[Chapter, ...]
    root: Path  # the folder the manuscript's resources must stay inside


@dataclass(frozen=True)
class TocEntry:
    level: int  # 1 = chapter title, 2 = section, ...
    title: str  # plain text
    href: str  # "chapter-01.xhtml#id"


@dataclass(frozen=True)
class Resource:
    """A file the book packages: an image or the cover."""

    source: Path  # resolved, inside the fence
    href: str  # path inside the book, e.g. "images/map.png"
    media_type: str


@dataclass(frozen=True)
class RenderedChapter:
    file_name: str  # "chapter-01.xhtml"
    title: str
    body: str  # a well-formed XHTML <section> element, XHTML namespace implied
    toc: tuple[TocEntry, ...]
    resources: tuple[Resource, ...] = ()


@dataclass(frozen=True)
class RenderedBook:
    meta: BookMeta
    chapters: tuple[RenderedChapter, ...]
    resources: tuple[Resource, ...] = ()
    single_article: bool = False  # one chapter titled by the book: no separate PDF title page

    @property
    def toc(self) -> tuple[TocEntry, ...]:
        return tuple(entry for chapter in self.chapters for entry in chapter.toc)


@dataclass(frozen=True)
class BuildOptions:
    manuscript: Path
    output: Path
    styles: Path
    formats: tuple[str, ...] = ("epub", "pdf")
    source_date_epoch: int | None = None  # from SOURCE_DATE_EPOCH
    extra: dict[str, str] = field(default_factory=dict)
