"""The Kobo edition: the same EPUB with Kobo's span markup, so that Kobo devices
open it in their modern renderer (reading statistics, highlights, page turns).

Each sentence of text gets `<span class="koboSpan" id="kobo.P.S">` (P counts the
text blocks of a document, S the sentences of a block), each image a span of its
own, and the body's content goes inside `div#book-columns > div#book-inner`, as
Kobo's own conversion does. Written as `<slug>.kepub.epub`."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

from lxml import etree

from publisher.ids import kobo_id
from publisher.xhtml import TEXT_BLOCKS, insert_at_text

XHTML = "http://www.w3.org/1999/xhtml"
_SENTENCE = re.compile(r".*?(?:[.!?…。！？]+[\"'”’»)\]]*\s+|$)", re.DOTALL)
_SKIP = {"pre", "code", "script", "style", "nav"}
# Kobo's spans go into the text blocks, and into divs; code stays as it is.
_BLOCKS = (TEXT_BLOCKS - {"pre", "nav"}) | {"div"}
_DATE = (1980, 1, 1, 0, 0, 0)


def kepub(epub_bytes: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(epub_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            name = info.filename
            if name.endswith(".xhtml") and not name.endswith(("/nav.xhtml", "/cover.xhtml")):
                data = kobo_document(data)
            entry = zipfile.ZipInfo(name, date_time=_DATE)
            entry.external_attr = 0o644 << 16
            entry.create_system = 3
            stored = info.compress_type == zipfile.ZIP_STORED  # mimetype, fonts: as in the EPUB
            entry.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            target.writestr(entry, data, compresslevel=None if stored else 9)
    return out.getvalue()


def kobo_document(data: bytes) -> bytes:
    root = etree.fromstring(data)
    body = root.find(f"{{{XHTML}}}body")
    if body is None:
        return data
    counter = _Counter()
    for block in list(body.iter()):
        if isinstance(block.tag, str) and _local(block) in _BLOCKS and _direct_text(block):
            counter.block += 1
            counter.sentence = 0
            _wrap_text(block, counter)
        elif isinstance(block.tag, str) and _local(block) == "img":
            counter.block += 1
            counter.sentence = 0
            parent = block.getparent()
            if parent is not None:
                span = _span(counter)
                parent.replace(block, span)
                span.append(block)
                span.tail, block.tail = block.tail, None
    columns = etree.Element(f"{{{XHTML}}}div", id="book-columns")
    inner = etree.SubElement(columns, f"{{{XHTML}}}div", id="book-inner")
    inner.text, body.text = body.text, None
    for child in list(body):
        inner.append(child)
    body.append(columns)
    return bytes(
        etree.tostring(root, xml_declaration=True, encoding="utf-8", doctype="<!DOCTYPE html>")
    )


class _Counter:
    block = 0
    sentence = 0


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _direct_text(block: etree._Element) -> bool:
    if (block.text or "").strip():
        return True
    return any((child.tail or "").strip() for child in block)


def _span(counter: _Counter) -> etree._Element:
    counter.sentence += 1
    span = etree.Element(f"{{{XHTML}}}span")
    span.set("class", "koboSpan")
    span.set("id", kobo_id(counter.block, counter.sentence))
    return span


def _places(element: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    """The text of `element` and of its inline children, in reading order; nested
    blocks and code keep their own text (only what follows them is ours)."""
    yield element, "text"
    for child in element:
        if isinstance(child.tag, str) and _local(child) not in _BLOCKS | _SKIP:
            yield from _places(child)
        yield child, "tail"


def _wrap_text(block: etree._Element, counter: _Counter) -> None:
    for node, which in list(_places(block)):
        text = getattr(node, which)
        if not text or not text.strip():
            continue
        spans = []
        for piece in _SENTENCE.findall(text):
            if piece:
                span = _span(counter)
                span.text = piece
                spans.append(span)
        setattr(node, which, None)
        insert_at_text(node, which, spans)
