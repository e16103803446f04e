"""The XHTML vocabulary shared by the stages, without pulling in the renderer."""

from __future__ import annotations

from lxml import etree

XHTML_NS = "http://www.w3.org/1999/xhtml"
EPUB_NS = "http://www.idpf.org/2007/ops"
# The elements of rendered chapters that hold running text of their own.
TEXT_BLOCKS = frozenset(
    ["p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "figcaption", "figure", "pre",
     "th", "td", "caption", "header", "blockquote", "section", "aside", "nav"]
)  # fmt: skip


def parse_body(body: str) -> etree._Element:
    """The chapter's XHTML as an element tree (inside a namespaced <body>)."""
    wrapped = f'<body xmlns="{XHTML_NS}" xmlns:epub="{EPUB_NS}">{body}</body>'
    return etree.fromstring(wrapped.encode("utf-8"), etree.XMLParser(huge_tree=True))
