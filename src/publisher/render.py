"""Manuscript -> RenderedBook: every chapter rendered once to well-formed XHTML.
No file I/O here; resources are located through the function the caller passes."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

from lxml import etree

from .errors import Location, PublisherError
from .markdown import ChapterEnv, make_parser, render, unique_id
from .model import Manuscript, RenderedBook, RenderedChapter, Resource, TocEntry

XHTML_NS = "http://www.w3.org/1999/xhtml"
EPUB_NS = "http://www.idpf.org/2007/ops"

# (chapter source, src as written, line) -> the resource, or an error
Locate = Callable[[Path, str, int | None], Resource]


def render_book(manuscript: Manuscript, locate: Locate) -> RenderedBook:
    meta = manuscript.meta
    md = make_parser(meta.lang)
    used_ids: set[str] = {"title", "toc", "landmarks", "page-list"}
    width = max(2, len(str(len(manuscript.chapters))))
    chapters = []
    resources: dict[str, Resource] = {}
    single = len(manuscript.chapters) == 1
    article = False
    for number, chapter in enumerate(manuscript.chapters, start=1):
        file_name = f"chapter-{number:0{width}d}.xhtml"
        found: list[Resource] = []

        def resolve(
            src: str,
            line: int | None,
            _source: Path = chapter.source,
            _found: list[Resource] = found,
        ) -> str:
            resource = locate(_source, src, line)
            _found.append(resource)
            return resource.href

        env = ChapterEnv(doc_id=f"c{number}", used_ids=used_ids, resolve_image=resolve)
        html = render(md, chapter.text, env)
        top = [h for h in env.headings if h[0] == 1]
        toc: list[TocEntry] = []
        if top:
            title = top[0][1]
        elif single:
            # An article: the book's title and deck head the text.
            article = True
            title = meta.title
            ident = unique_id("title-" + str(number), used_ids)
            html = _article_header(meta.title, meta.subtitle, meta.authors, ident) + html
            toc.append(TocEntry(1, title, f"{file_name}#{ident}"))
        else:
            title = chapter.source.stem
        toc += [
            TocEntry(level, text, f"{file_name}#{ident}") for level, text, ident in env.headings
        ]
        section_id = unique_id(f"chapter-{number}", used_ids)
        body = (
            f'<section id="{section_id}" class="chapter" epub:type="chapter" role="doc-chapter">\n'
            f"{html}</section>\n"
        )
        _check_well_formed(body, chapter.source)
        for resource in found:
            resources.setdefault(resource.href, resource)
        chapters.append(
            RenderedChapter(file_name, title, body, tuple(toc), tuple(dict.fromkeys(found)))
        )
    return RenderedBook(meta, tuple(chapters), tuple(resources.values()), single_article=article)


def _article_header(title: str, subtitle: str | None, authors: tuple[str, ...], ident: str) -> str:
    parts = [f'<header class="article-head">\n<h1 id="{ident}">{escape(title)}</h1>\n']
    if subtitle:
        parts.append(f'<p class="subtitle" role="doc-subtitle">{escape(subtitle)}</p>\n')
    if authors:
        parts.append(f'<p class="byline">{escape(", ".join(authors))}</p>\n')
    parts.append("</header>\n")
    return "".join(parts)


def parse_body(body: str) -> etree._Element:
    """The chapter's XHTML as an element tree (inside a namespaced <body>)."""
    wrapped = f'<body xmlns="{XHTML_NS}" xmlns:epub="{EPUB_NS}">{body}</body>'
    return etree.fromstring(wrapped.encode("utf-8"), etree.XMLParser(huge_tree=True))


def _check_well_formed(body: str, source: Path) -> None:
    try:
        parse_body(body)
    except etree.XMLSyntaxError as exc:
        # Never expected: raw HTML is escaped. A bug in a render rule, reported as such.
        raise PublisherError(
            f"internal error: rendered XHTML is not well-formed ({exc})",
            where=Location(source),
            hint="please report this with the manuscript",
        ) from None
