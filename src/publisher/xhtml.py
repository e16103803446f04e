"""The XHTML vocabulary shared by the stages, without pulling in the renderer."""

from __future__ import annotations

from lxml import etree

XHTML_NS = "http://www.w3.org/1999/xhtml"
EPUB_NS = "http://www.idpf.org/2007/ops"
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
SVG_NS = "http://www.w3.org/2000/svg"
# The elements of rendered chapters that hold running text of their own.
TEXT_BLOCKS = frozenset(
    ["p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "figcaption", "figure", "pre",
     "th", "td", "caption", "header", "blockquote", "section", "aside", "nav"]
)  # fmt: skip


def parse_body(body: str) -> etree._Element:
    """The chapter's XHTML as an element tree (inside a namespaced <body>)."""
    wrapped = f'<body xmlns="{XHTML_NS}" xmlns:epub="{EPUB_NS}">{body}</body>'
    return etree.fromstring(wrapped.encode("utf-8"), etree.XMLParser(huge_tree=True))


def insert_at_text(node: etree._Element, which: str, elements: list[etree._Element]) -> None:
    """Puts `elements` where a text slot stands: the node's own text ("text": as its
    first children) or its tail ("tail": right after it)."""
    if which == "text":
        for i, element in enumerate(elements):
            node.insert(i, element)
        return
    parent = node.getparent()
    assert parent is not None
    at = parent.index(node) + 1
    for i, element in enumerate(elements):
        parent.insert(at + i, element)
