"""Hostile manuscripts, end to end through the current pipeline (raw HTML is off):
no network request, no file from outside the manuscript folder in the outputs, no
script in the EPUB, atomic outputs under SIGKILL and concurrent builds, nothing
written outside the output folder, and bounded time and memory on pathological
inputs (a clear one-line error at worst, never a traceback or a hang)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image, PngImagePlugin

from publisher.build import BuildResult, build
from publisher.diagnostics import Diagnostic
from publisher.errors import PublisherError
from publisher.model import BuildOptions, RenderedBook

from conftest import ROOT, STYLES, need, pdftotext

MARKER = "HOSTILE-SECRET-7f3a9c2e51"
# Raw HTML is shown as text by default; `raw-html: true` keeps it through
# publisher.render.sanitize. The fences must hold either way.
RAW_HTML = pytest.mark.parametrize("raw", ["", "raw-html: true\n"], ids=["html-off", "html-on"])
SECRET_SIZE = (37, 23)  # an image size nothing else in a test book has


# --- helpers -----------------------------------------------------------------------


def front(title: str = "Hostile", extra: str = "") -> str:
    return f"---\ntitle: {title}\nlang: en\n{extra}---\n\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def png(size: tuple[int, int] = (8, 8), colour: str = "teal", text: str = "") -> bytes:
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line holding needle."""
    for number, line in enumerate(text.split("\n"), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the manuscript")


def run_build(
    manuscript: Path, out: Path, formats: tuple[str, ...] = ("epub", "pdf")
) -> BuildResult:
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        return build(BuildOptions(manuscript, out, STYLES, formats))
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def warnings_of(result: BuildResult) -> list[str]:
    """The build's diagnostics as the lines a user sees."""
    return [str(d) for d in result.diagnostics]


def epub_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        return {name: z.read(name) for name in z.namelist()}


def pdf_streams(path: Path) -> list[bytes]:
    """Every stream of the PDF, decoded where pikepdf can decode it."""
    import pikepdf

    out = []
    with pikepdf.open(path) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream):
                try:
                    out.append(obj.read_bytes())
                except pikepdf.PdfError:
                    out.append(obj.read_raw_bytes())
    return out


@dataclass
class PdfFacts:
    embedded_files: bool
    file_attachments: int
    image_sizes: list[tuple[int, int]]
    actions: list[str]  # /URI and /Launch targets


def pdf_facts(path: Path) -> PdfFacts:
    import pikepdf

    with pikepdf.open(path) as pdf:
        names = pdf.Root.get("/Names")
        embedded = names is not None and "/EmbeddedFiles" in names
        attachments = 0
        actions: list[str] = []
        for page in pdf.pages:
            for annot in page.get("/Annots") or []:
                if annot.get("/Subtype") == "/FileAttachment":
                    attachments += 1
                action = annot.get("/A")
                if action is not None:
                    for key in ("/URI", "/F", "/Launch"):
                        if key in action:
                            actions.append(str(action[key]))
        sizes = []
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == "/Image":
                sizes.append((int(obj.Width), int(obj.Height)))
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Filespec":
                embedded = True
    return PdfFacts(embedded, attachments, sizes, actions)


def assert_no_marker(result: BuildResult, marker: str = MARKER) -> None:
    needle = marker.encode()
    for output in result.outputs:
        data = output.path.read_bytes()
        assert needle not in data, f"{marker} in {output.path.name}"
        if output.format in ("epub", "kepub"):
            for name, member in epub_members(output.path).items():
                assert needle not in member, f"{marker} in {output.path.name}:{name}"
        if output.format == "pdf":
            # Text is drawn as glyph ids: read it back as text too.
            assert marker not in pdftotext(output.path), f"{marker} in the text of the PDF"
            for stream in pdf_streams(output.path):
                assert needle not in stream, f"{marker} in a stream of {output.path.name}"
            facts = pdf_facts(output.path)
            assert not facts.embedded_files
            assert facts.file_attachments == 0
            assert SECRET_SIZE not in facts.image_sizes
            assert not any(a.startswith(("file:", "/")) for a in facts.actions), facts.actions


# --- (a) no network request ----------------------------------------------------------


@dataclass
class Listener:
    """A TCP server on 127.0.0.1 that records every connection it is offered."""

    sock: socket.socket
    port: int
    connections: list[bytes] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    self.connections.append(conn.recv(4096) or b"(connected)")
                except OSError:
                    self.connections.append(b"(connected)")


@pytest.fixture
def listener() -> Iterator[Listener]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = Listener(sock, sock.getsockname()[1])
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        thread.join(5)
        sock.close()


def network_manuscript(url: str, raw: str = "") -> str:
    return front(
        "Network",
        f"description: 'See {url}/description and url({url}/desc.css)'\n"
        f"rights: '<img src=\"{url}/rights.png\">'\n" + raw,
    ) + (
        f"# Chapter\n\n"
        f"![image]({url}/image.png)\n\n"
        f'![titled]({url}/titled.png "caption")\n\n'
        f"Inline ![icon]({url}/icon.png) and ![protocol-relative](//{url.split('//')[1]}/p.png).\n\n"
        f"[a link]({url}/link) and <{url}/autolink> and {url}/bare and <{url.replace('http', 'https')}/s>\n\n"
        f"![reference image][ref] and [reference link][ref]\n\n"
        f"[ref]: {url}/ref.png\n\n"
        f'<img src="{url}/raw.png"> <link rel="stylesheet" href="{url}/raw.css">\n'
        f'<iframe src="{url}/frame"></iframe> <script src="{url}/script.js"></script>\n\n'
        f"<style>@import url({url}/import.css); p {{ background: url({url}/bg.png) }}</style>\n\n"
        f'<object data="{url}/object"></object> <video poster="{url}/poster.png"></video>\n\n'
        f'<a rel="attachment" href="{url}/attachment">attachment</a>\n\n'
        f"@import url({url}/text.css); body {{ background: url('{url}/text.png') }}\n\n"
        f'[span]{{style="background: url({url}/span.png)"}}\n\n'
        f'![styled](ok.png){{style="background: url({url}/attr.png)" data-src="{url}/d.png"}}\n\n'
        f'## Heading {{style="background: url({url}/heading.png)"}}\n\n'
        f"A note.[^1]\n\n"
        f"[^1]: ![in a note]({url}/note.png) [note link]({url}/note-link)\n\n"
        f"| a | b |\n|---|---|\n| ![cell]({url}/cell.png) | <img src='{url}/cellraw.png'> |\n\n"
        f'```html\n<img src="{url}/code.png">\n```\n'
    )


@RAW_HTML
def test_no_network_request_from_any_reference(
    tmp_path: Path, listener: Listener, raw: str
) -> None:
    url = f"http://127.0.0.1:{listener.port}"
    book = tmp_path / "book"
    write(book / "ok.png", png())
    text = network_manuscript(url, raw)
    write(book / "book.md", text)
    result = run_build(book, tmp_path / "out")
    assert {o.format for o in result.outputs} == {"epub", "pdf"}
    time.sleep(0.3)  # a connection in flight would have arrived by now
    assert listener.connections == []
    # Every image URL the fence stopped was reported with file:line (which line:
    # test_warnings_name_the_line_of_the_reference).
    messages = warnings_of(result)
    for needle in ("/image.png", "/titled.png", "/icon.png", "/ref.png", "/note.png", "/cell.png"):
        assert any(re.search(r"book\.md:\d+: warning", m) and needle in m for m in messages), (
            needle,
            messages,
        )


@pytest.mark.parametrize(
    "context",
    [
        "paragraph",
        "blockquote",
        "list",
        "heading",
        "table",
        "term",
        "footnote",
        "link-in-paragraph",
        "link-in-table",
    ],
)
def test_warnings_name_the_line_of_the_reference(tmp_path: Path, context: str) -> None:
    image = "![x](http://127.0.0.1:9/x.png)"
    link = "[x](../nowhere.md)"
    body = {
        "paragraph": f"Text {image}.\n",
        "blockquote": f"> Text {image}.\n",
        "list": f"- a\n- Text {image}.\n",
        "heading": f"## Heading {image}\n",
        "table": f"| a | b |\n|---|---|\n| c | {image} |\n",
        "term": f"Term {image}\n:   Definition.\n",
        "footnote": f"Call.[^1]\n\nMore.\n\n[^1]: Note {image}.\n",
        "link-in-paragraph": f"Text {link}.\n",
        "link-in-table": f"| a | b |\n|---|---|\n| c | {link} |\n",
    }[context]
    text = front() + "# Chapter\n\nA first paragraph.\n\n" + body
    book = write(tmp_path / "book" / "book.md", text)
    result = run_build(book, tmp_path / "out", ("epub",))
    needle = "x.png" if "x.png" in body else "nowhere.md"
    line = line_of(text, needle)
    messages = [m for m in warnings_of(result) if needle in m]
    assert len(messages) == 1, messages
    assert f"book.md:{line}: warning" in messages[0], (line, messages)


@pytest.mark.parametrize(
    "cover",
    ["{url}/cover.png", "//127.0.0.1:{port}/cover.png", "{url}/cover.jpg"],
)
def test_no_network_request_for_a_cover_image_url(
    tmp_path: Path, listener: Listener, cover: str
) -> None:
    url = f"http://127.0.0.1:{listener.port}"
    cover = cover.format(url=url, port=listener.port)
    book = write(tmp_path / "book.md", front(extra=f"cover-image: '{cover}'\n") + "Text.\n")
    with pytest.raises(PublisherError) as caught:
        run_build(book, tmp_path / "out")
    assert "book.md:" in str(caught.value)
    time.sleep(0.3)
    assert listener.connections == []
    assert not (tmp_path / "out").exists()


def test_no_network_request_from_inside_an_svg_image(tmp_path: Path, listener: Listener) -> None:
    url = f"http://127.0.0.1:{listener.port}"
    book = tmp_path / "book"
    write(
        book / "figure.svg",
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'width="100" height="100">'
        f'<image href="{url}/svg-image.png" width="10" height="10"/>'
        f'<image xlink:href="{url}/svg-xlink.png" width="10" height="10"/>'
        f'<use href="{url}/sprite.svg#x"/>'
        f'<filter id="f"><feImage href="{url}/fe.png"/></filter>'
        f'<text x="1" y="20" style="fill: url({url}/paint.svg#p)">svg</text></svg>',
    )
    write(book / "book.md", front() + "![A drawing](figure.svg)\n")
    try:
        run_build(book, tmp_path / "out")
    except PublisherError as error:  # the PDF renderer's fence refused: fine, and clear
        assert "refused" in str(error)
    time.sleep(0.3)
    assert listener.connections == []


# --- (b) nothing from outside the manuscript folder ------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """tmp/secret.txt, tmp/secret.png, tmp/secret.md beside the manuscript folder tmp/book."""
    write(tmp_path / "secret.txt", f"{MARKER}\n")
    write(tmp_path / "secret.png", png(SECRET_SIZE, "crimson", text=MARKER))
    write(tmp_path / "secret.md", f"# Secret\n\n{MARKER}\n")
    write(
        tmp_path / "secret.svg",
        f'<svg xmlns="http://www.w3.org/2000/svg"><text>{MARKER}</text></svg>',
    )
    write(tmp_path / "book" / "ok.png", png())
    return tmp_path


@RAW_HTML
def test_no_outside_file_in_either_output(outside: Path, raw: str) -> None:
    book = outside / "book"
    secret_png = (outside / "secret.png").resolve()
    (book / "link.png").symlink_to(secret_png)
    (book / "relative-link.png").symlink_to(Path("..") / "secret.png")
    (book / "up").symlink_to(outside.resolve(), target_is_directory=True)
    text = front(extra=raw) + (
        "# Chapter\n\n"
        "![parent](../secret.png)\n\n"
        "![through a folder](images/../../secret.png)\n\n"
        "![encoded](%2e%2e/secret.png)\n\n"
        f"![absolute]({secret_png})\n\n"
        "![symlink](link.png)\n\n"
        "![relative symlink](relative-link.png)\n\n"
        "![folder symlink](up/secret.png)\n\n"
        "![outside svg](../secret.svg)\n\n"
        "![fine](ok.png)\n\n"
        f"[parent text](../secret.txt) and [absolute text]({outside / 'secret.txt'})\n\n"
        f"[file url](file://{secret_png}) <file://{outside / 'secret.txt'}>\n\n"
        f'<a rel="attachment" href="file://{outside / "secret.txt"}">attached</a>\n\n'
        f'<img src="../secret.png"> <img src="file://{secret_png}">\n\n'
        f'<link rel="attachment" href="file://{outside / "secret.txt"}">\n\n'
        "[^1]\n\n[^1]: ![in a note](../secret.png)\n"
    )
    write(book / "book.md", text)
    result = run_build(book, outside / "out")
    assert_no_marker(result)
    messages = warnings_of(result)
    for needle in (
        "![parent]",
        "![through a folder]",
        "![encoded]",
        "![absolute]",
        "![symlink]",
        "![relative symlink]",
        "![folder symlink]",
        "![outside svg]",
        "[parent text]",
        "![in a note]",
    ):
        line = line_of(text, needle)
        assert any(f"book.md:{line}:" in m and "warning" in m for m in messages), (
            needle,
            messages,
        )


def test_file_url_references_are_reported(outside: Path) -> None:
    book = outside / "book"
    text = front() + (
        f"![file url](file://{outside / 'secret.png'})\n\n"
        f"[file link](file://{outside / 'secret.txt'}) <file://{outside / 'secret.txt'}>\n"
    )
    write(book / "book.md", text)
    result = run_build(book, outside / "out", ("epub",))
    assert_no_marker(result)
    messages = warnings_of(result)
    for needle in ("![file url]", "[file link]"):
        line = line_of(text, needle)
        assert any(f"book.md:{line}: warning" in m for m in messages), (needle, messages)


def test_symlinked_chapter_pointing_outside_is_not_read(outside: Path) -> None:
    book = outside / "book"
    write(book / "01-first.md", front() + "# First\n\nText.\n")
    (book / "02-second.md").symlink_to((outside / "secret.md").resolve())
    try:
        result = run_build(book, outside / "out", ("epub",))
    except PublisherError as error:
        assert "02-second.md" in str(error)
        return
    assert_no_marker(result)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"book.md": front(extra="cover-image: ../secret.png\n") + "Text.\n"}, "book.md:4"),
        ({"book.md": front(extra="cover-image: link.png\n") + "Text.\n"}, "book.md:4"),
        (
            {"book.md": front(extra="cover-image: /ABS/secret.png\n") + "Text.\n"},
            "book.md:4",
        ),
        ({"book.yaml": "title: T\nchapters: [../secret.md]\n", "a.md": "A\n"}, "book.yaml:2"),
        ({"book.yaml": "title: T\nchapters: [/ABS/secret.md]\n", "a.md": "A\n"}, "book.yaml:2"),
    ],
    ids=[
        "cover-parent",
        "cover-symlink",
        "cover-absolute",
        "chapter-parent",
        "chapter-absolute",
    ],
)
def test_outside_references_that_stop_the_build(
    outside: Path, files: dict[str, str], expected: str
) -> None:
    book = outside / "book"
    (book / "link.png").symlink_to((outside / "secret.png").resolve())
    for name, content in files.items():
        write(book / name, content.replace("/ABS", str(outside.resolve())))
    with pytest.raises(PublisherError) as caught:
        run_build(book, outside / "out")
    assert str(caught.value).startswith(expected) or f"{expected}:" in str(caught.value), str(
        caught.value
    )
    assert not (outside / "out").exists()


@pytest.mark.parametrize("href", ["../secret.png", "file:///ABS/secret.png"], ids=["parent", "url"])
def test_svg_reference_outside_is_removed_with_a_warning(outside: Path, href: str) -> None:
    """An SVG may link only to its own #ids (publisher.source.svg): a link out of
    it is removed, with one warning at the Markdown line, and neither output holds
    the file it named."""
    book = outside / "book"
    href = href.replace("/ABS", str(outside.resolve()))
    write(
        book / "inner.svg",
        '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9">'
        f'<image href="{href}" width="9" height="9"/><rect width="3" height="3"/></svg>',
    )
    write(book / "book.md", front() + "![svg](inner.svg)\n")
    result = run_build(book, outside / "out")
    warned = [str(d) for d in result.diagnostics if d.code == "I18"]
    assert len(warned) == 1 and "book.md:6: warning: image 'inner.svg' cleaned" in warned[0]
    assert_no_marker(result)
    for data in epub_members(next(o.path for o in result.outputs if o.format == "epub")).values():
        assert b"secret" not in data


def test_cover_image_that_is_not_an_image_stops_the_build(tmp_path: Path) -> None:
    book = write(tmp_path / "book" / "book.md", front(extra="cover-image: cover.png\n") + "Text.\n")
    write(book.parent / "cover.png", "this is text, not a PNG\n")
    with pytest.raises(PublisherError) as caught:
        run_build(book.parent, tmp_path / "out", ("epub",))
    assert "book.md:4" in str(caught.value) and "cover.png" in str(caught.value)


# --- (c) no script in the EPUB ----------------------------------------------------------

SCRIPTED = (
    "# Chapter {onclick=alert(1)}\n\n"
    "<script>alert(1)</script>\n\n"
    'Inline <script>alert(2)</script> and <b onclick="alert(3)">bold</b>.\n\n'
    "<img src=ok.png onerror=alert(4)> <svg onload=alert(5)><circle r=1 /></svg>\n\n"
    "<body onload=alert(6)> <a href='javascript:alert(7)'>a</a> <iframe src=javascript:alert(8)>\n\n"
    "[md link](javascript:alert(9)) [md link 2](JAVASCRIPT:alert(10)) <javascript:alert(11)>\n\n"
    '[span]{onclick="alert(12)" onmouseover=alert(13)} ![img](ok.png){onerror=alert(14)}\n\n'
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxNSk8L3NjcmlwdD4=)\n"
)


def epub_documents(path: Path) -> dict[str, etree._Element]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return {
        name: etree.fromstring(data, parser)
        for name, data in epub_members(path).items()
        if name.endswith((".xhtml", ".html", ".htm", ".svg", ".opf", ".ncx"))
    }


@RAW_HTML
def test_no_script_in_the_epub(tmp_path: Path, raw: str) -> None:
    book = tmp_path / "book"
    write(book / "ok.png", png())
    write(book / "book.md", front(extra=raw) + SCRIPTED)
    result = run_build(book, tmp_path / "out", ("epub",))
    epub = result.outputs[0].path
    chapter = ""
    for name, root in epub_documents(epub).items():
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            assert etree.QName(element).localname not in ("script", "iframe", "embed", "object")
            for attribute, value in element.attrib.items():
                local = etree.QName(attribute).localname.lower()
                assert not local.startswith("on"), (name, attribute, value)
                if local in ("href", "src"):
                    assert not re.match(r"(?i)\s*(javascript|vbscript|data):", value), value
        if "chapter" in name:
            chapter += epub_members(epub)[name].decode("utf-8")
    if raw:
        assert "alert(1)" not in chapter  # the script went with its content
    else:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in chapter  # raw HTML shown as text
    assert "onclick" not in re.sub(r">[^<]*<", "><", chapter)
    opf = next(v for k, v in epub_members(epub).items() if k.endswith(".opf")).decode()
    assert "scripted" not in opf


def test_no_script_inside_an_svg_image_in_the_epub(tmp_path: Path) -> None:
    book = tmp_path / "book"
    write(
        book / "figure.svg",
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)">'
        '<script>alert(2)</script><rect width="5" height="5" onclick="alert(3)"/></svg>',
    )
    write(book / "book.md", front() + "![A drawing](figure.svg)\n")
    result = run_build(book, tmp_path / "out", ("epub",))
    for name, data in epub_members(result.outputs[0].path).items():
        assert b"<script" not in data, name
        assert not re.search(rb"\son\w+\s*=", data), name


RAW_TRICKS = """
*<b>x*</b> and <span class="x" lang="fr">open, <font color=red>font</font>

<div class="box">

*Markdown inside a raw div*

</div>

<table>
<tr><td>a<td>b
<tr><th scope=col>c</table>

<ul><li>one<li>two</ul> <dl><dt>term<dd>definition</dl>

<p>para <div>block in a para</div> <span id="chapter">a taken id</span>

> <div>
> quoted and never closed

<figure><img src="ok.png"><figcaption>A caption</figcaption></figure>

<iframe>

**hidden**

</iframe>

Text <!-- a comment --> <![CDATA[x]]> <![<! and <ruby>K<rt>kay</ruby> <bdo dir=rtl>abc</bdo>.
"""


def epubcheck_errors(epub: Path) -> list[str]:
    need("java")
    from publisher.check.outputs import run_epubcheck

    return [str(f) for f in run_epubcheck(epub) if f.severity not in ("USAGE", "INFO")]


@pytest.mark.slow
def test_raw_html_book_passes_epubcheck(tmp_path: Path) -> None:
    book = tmp_path / "book"
    write(book / "ok.png", png())
    write(book / "book.md", front(extra="raw-html: true\n") + "# Chapter\n" + RAW_TRICKS)
    result = run_build(book, tmp_path / "out")
    epub = next(o.path for o in result.outputs if o.format == "epub")
    assert epubcheck_errors(epub) == []
    chapter = epub_members(epub)["EPUB/chapter-01.xhtml"].decode()
    assert "hidden" not in chapter and "<font" not in chapter


@pytest.mark.slow
def test_markdown_link_inside_a_raw_link_passes_epubcheck(tmp_path: Path) -> None:
    book = write(
        tmp_path / "book" / "book.md",
        front(extra="raw-html: true\n")
        + '# Chapter\n\n<a href="#chapter">[md link](http://example.com) inside</a>\n',
    )
    result = run_build(book.parent, tmp_path / "out", ("epub",))
    assert epubcheck_errors(result.outputs[0].path) == []


# --- (d) an interrupted build leaves the previous outputs --------------------------------


def big_manuscript(paragraphs: int, seed: str = "") -> str:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "in", "Spain"]
    body = []
    for n in range(paragraphs):
        if n % 40 == 0:
            body.append(f"## Section {n // 40 + 1} {seed}\n")
        text = " ".join(words[(n + i) % len(words)] for i in range(90))
        body.append(f"{text.capitalize()}.[^{n}]\n\n[^{n}]: Note {n} {seed}.\n")
    return front("Big Book") + "# Big\n\n" + "\n".join(body)


def cli(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "-r", str(ROOT), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )


def outputs_in(folder: Path) -> list[str]:
    """The books in an output folder: what is not publisher's own hidden
    bookkeeping (such as .publisher-cache)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".publisher"))


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file() and not p.is_symlink()
        else ("link:" + os.readlink(p) if p.is_symlink() else "dir")
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moment", "sig"),
    [(0.15, signal.SIGKILL), (0.5, signal.SIGKILL), (0.85, signal.SIGKILL), (0.5, signal.SIGINT)],
    ids=["kill-early", "kill-mid", "kill-late", "interrupt"],
)
def test_interrupted_build_keeps_previous_outputs(tmp_path: Path, moment: float, sig: int) -> None:
    """`moment`: when to interrupt, as a share of how long a build takes here (the
    first, uninterrupted build measures it), so that faster builds are still caught."""
    book = write(tmp_path / "book.md", big_manuscript(300))
    out = tmp_path / "out"
    started = time.perf_counter()
    result = run_build(book, out)
    delay = moment * (time.perf_counter() - started + 0.3)  # + a cold process's start
    before = snapshot(out)
    write(book, big_manuscript(300, seed="changed"))  # a new build would differ
    proc = cli("build", "--manuscript", str(book), "--output", str(out), cwd=tmp_path)
    time.sleep(delay)
    finished_first = proc.poll() is not None
    if not finished_first:
        os.killpg(proc.pid, sig)
    _, stderr = proc.communicate(timeout=60)
    if finished_first:
        pytest.skip(f"the build finished in under {delay:.1f} s: nothing was interrupted")
    assert snapshot(out) == before, "outputs changed by an interrupted build"
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    assert outputs_in(out) == sorted(o.path.name for o in result.outputs)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert b"Traceback" not in stderr
        assert b"interrupted" in stderr


# --- (e) two builds into one folder at once ----------------------------------------------


@pytest.mark.slow
def test_two_concurrent_builds_into_one_folder(tmp_path: Path) -> None:
    import pikepdf

    book = write(tmp_path / "book.md", big_manuscript(120))
    reference = run_build(book, tmp_path / "reference")
    expected = {o.path.name: o.path.read_bytes() for o in reference.outputs}
    out = tmp_path / "out"
    procs = [
        cli("build", "--manuscript", str(book), "--output", str(out), cwd=tmp_path)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert b"Traceback" not in stderr
        assert proc.returncode == 0, stderr.decode()
    assert outputs_in(out) == sorted(expected)
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    for name, data in expected.items():
        path = out / name
        if name.endswith(".epub"):
            with zipfile.ZipFile(path) as z:
                assert z.testzip() is None
        else:
            with pikepdf.open(path) as pdf:
                assert len(pdf.pages) > 1
        assert path.read_bytes() == data, f"{name} differs from a single build's"


# --- (f) nothing written outside the output folder ---------------------------------------


def test_nothing_written_outside_the_output_folder(tmp_path: Path, outside: Path) -> None:
    book = outside / "book"
    write(book / "book.md", front() + "# One\n\n![fine](ok.png)\n\n![up](../secret.png)\n")
    write(book / "two.md", "# Two\n\nMore [link](book.md).\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = tmp_path / "out"
    before = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("out")}
    styles = snapshot(STYLES)
    proc = cli("build", "--manuscript", str(book), "--output", str(out), cwd=cwd)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("out")}
    assert after == before
    assert snapshot(STYLES) == styles
    assert list(cwd.iterdir()) == []
    assert sorted(Path(p).suffix for p in outputs_in(out)) == [".epub", ".pdf"]


# --- (g) pathological inputs ------------------------------------------------------------

INVOKE = (sys.executable, "-m", "invoke", "-r", str(ROOT))
# Past this the build is killed and the test fails: a guard against a hang (or a
# cost gone quadratic), far above any case's time here, so that the test says
# nothing about the machine's speed. The time and memory each case takes, against
# its budget, are measured by `invoke bench --limits` (bench/limits.py).
TIMEOUT = 300.0


@dataclass(frozen=True)
class Measured:
    returncode: int | None  # None: killed at the timeout
    seconds: float
    peak_mib: float  # the build's own peak resident memory (VmHWM, sampled every 50 ms)
    maxrss_mib: float  # wait4's ru_maxrss: on Linux it includes the spawning test's RSS
    stdout: str
    stderr: str


def vm_hwm(pid: int) -> float:
    """Peak resident memory of a running process in MiB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def measure(task: str, manuscript: Path, out: Path, timeout: float = TIMEOUT) -> Measured:
    """Runs one CLI build, with its own wall time and peak resident memory (wait4)."""
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    logs = out.parent / f"{out.name}.log"
    with open(f"{logs}.out", "wb") as so, open(f"{logs}.err", "wb") as se:
        start = time.monotonic()
        proc = subprocess.Popen(
            [*INVOKE, task, "--manuscript", str(manuscript), "--output", str(out)],
            cwd=manuscript.parent,
            stdout=so,
            stderr=se,
            env=env,
            start_new_session=True,
        )
        code: int | None = None
        peak = 0.0
        while True:
            peak = max(peak, vm_hwm(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = code if code is not None else -9
        seconds = time.monotonic() - start
    stdout = Path(f"{logs}.out").read_text(errors="replace")
    stderr = Path(f"{logs}.err").read_text(errors="replace")
    result = Measured(code, seconds, peak, usage.ru_maxrss / 1024, stdout, stderr)
    report = {
        "task": task,
        "case": manuscript.name if manuscript.is_dir() else manuscript.parent.name,
        "exit": code,
        "seconds": round(seconds, 1),
        "peak_MiB": round(result.peak_mib),
        "ru_maxrss_MiB": round(result.maxrss_mib),
        "last_line": (stderr.strip().splitlines() or [""])[-1][:200],
    }
    print("LIMIT", json.dumps(report))
    return result


def assert_bounded(result: Measured, out: Path, formats: tuple[str, ...]) -> None:
    """Outputs, or one clear error line; never a traceback, an internal error or a hang."""
    assert result.returncode is not None, f"no end after {TIMEOUT:.0f} s (killed)"
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
    assert "internal error" not in result.stderr, result.stderr[-500:]
    if result.returncode == 0:
        assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
        assert sorted(Path(p).suffix for p in outputs_in(out)) == sorted(f".{f}" for f in formats)
    else:
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1, result.stderr[-2000:]
        assert result.stderr.strip().splitlines()[-1] == errors[0]
        assert result.returncode in (1, 2, 3), result.returncode


def limit_case(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    book = write(tmp_path / name / "book.md", front("Limits") + text)
    return book.parent, tmp_path / f"{name}-out"


@pytest.mark.slow
def test_lists_nested_1000_deep(tmp_path: Path) -> None:
    text = "".join("  " * depth + f"- item {depth}\n" for depth in range(1000))
    book, out = limit_case(tmp_path, "lists", text)
    assert_bounded(measure("build", book, out), out, ("epub", "pdf"))


@pytest.mark.slow
def test_blockquotes_nested_1000_deep(tmp_path: Path) -> None:
    book, out = limit_case(tmp_path, "quotes", ">" * 1000 + " deep\n\n" + "> " * 500 + "half\n")
    assert_bounded(measure("build", book, out), out, ("epub", "pdf"))


@pytest.mark.slow
def test_links_nested_deep(tmp_path: Path) -> None:
    text = "[" * 5000 + "x" + "](#y)" * 5000 + "\n\n" + "[" * 3000 + "x" + "]{.c}" * 3000 + "\n"
    book, out = limit_case(tmp_path, "links", text)
    assert_bounded(measure("build", book, out), out, ("epub", "pdf"))


@pytest.mark.slow
def test_emphasis_nested_deep(tmp_path: Path) -> None:
    book, out = limit_case(tmp_path, "emphasis", "*" * 5000 + "x" + "*" * 5000 + "\n")
    assert_bounded(measure("build", book, out), out, ("epub", "pdf"))


LOREM = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed"]


@pytest.mark.slow
def test_five_megabyte_paragraph_epub(tmp_path: Path) -> None:
    text = " ".join(LOREM[i % len(LOREM)] for i in range(900_000))[:5_000_000] + "\n"
    book, out = limit_case(tmp_path, "paragraph", text)
    assert_bounded(measure("epub", book, out), out, ("epub",))


@pytest.mark.slow
def test_one_hundred_thousand_footnotes_epub(tmp_path: Path) -> None:
    n = 100_000
    text = " ".join(f"w[^{i}]" for i in range(n)) + "\n\n"
    text += "".join(f"[^{i}]: Note {i}.\n" for i in range(n))
    book, out = limit_case(tmp_path, "notes", text)
    assert_bounded(measure("epub", book, out), out, ("epub",))


@pytest.fixture(scope="session")
def huge_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20,000 x 20,000 pixel PNG (1 bit a pixel: about 50 kB on disk), made in a
    child process so that this one's memory stays small for the measurements."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from PIL import Image; "
            "Image.new('1', (20_000, 20_000)).save(sys.argv[1], 'PNG')",
            str(path),
        ],
        check=True,
        timeout=120,
    )
    assert path.stat().st_size < 5_000_000
    return path


@pytest.mark.slow
def test_huge_image_ends_in_a_clear_error(tmp_path: Path, huge_png: Path) -> None:
    book, out = limit_case(tmp_path, "image", "![A huge picture](huge.png)\n")
    os.link(huge_png, book / "huge.png")
    result = measure("build", book, out)
    assert_bounded(result, out, ("epub", "pdf"))
    assert result.returncode == 2 and "too large" in result.stderr


def test_huge_image_error_names_its_real_size(tmp_path: Path, huge_png: Path) -> None:
    book = write(tmp_path / "book" / "book.md", front() + "![A huge picture](huge.png)\n")
    os.link(huge_png, book.parent / "huge.png")
    with pytest.raises(PublisherError) as caught:
        run_build(book.parent, tmp_path / "out", ("epub",))
    assert "20000 x 20000" in str(caught.value), str(caught.value)


@pytest.mark.slow
def test_huge_cover_image_ends_in_a_clear_error(tmp_path: Path, huge_png: Path) -> None:
    book, out = limit_case(tmp_path, "cover", "Text.\n")
    write(book / "book.md", front("Limits", "cover-image: huge.png\n") + "Text.\n")
    os.link(huge_png, book / "huge.png")
    result = measure("epub", book, out)
    assert_bounded(result, out, ("epub",))
    assert result.returncode == 2 and "huge.png" in result.stderr


@pytest.mark.slow
def test_one_million_lines_epub(tmp_path: Path) -> None:
    lines = []
    for n in range(1_000_000):
        if n % 10_000 == 0:
            lines.append(f"## Part {n // 10_000}")
        elif n % 5 == 0:
            lines.append("")
        else:
            lines.append(f"Line {n} of the manuscript.")
    book, out = limit_case(tmp_path, "lines", "\n".join(lines[:1_000_000]) + "\n")
    assert_bounded(measure("epub", book, out), out, ("epub",))


def repeats(kind: str, n: int) -> str:
    """n of one thing: chapters of one title, spans of one class and id, notes,
    links (each was a scan per repeat, quadratic in n)."""
    if kind == "headings":
        return "".join("# Same\n\nText.\n\n## Same\n\n" for _ in range(n // 2))
    if kind == "attributes":
        return "# Top\n\n" + "".join("[w]{.c #x} " for _ in range(n)) + "\n"
    if kind == "footnotes":  # each note calls the next: notes rendered round after round
        calls = "".join(f"[^{i}]: Note {i} calls the next.[^{i + 1}]\n" for i in range(n))
        return f"# Top\n\nThe first call.[^0]\n\n{calls}[^{n}]: The last.\n"
    assert kind == "links"
    return "# Top {#t}\n\n" + "".join("[a](#t) [b](http://x.org) " for _ in range(n // 2)) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["headings", "attributes", "footnotes", "links"])
def test_twenty_thousand_repeats_epub(tmp_path: Path, kind: str) -> None:
    book, out = limit_case(tmp_path, kind, repeats(kind, 20_000))
    result = measure("epub", book, out)
    assert_bounded(result, out, ("epub",))
    assert result.returncode == 0, result.stderr[-500:]


# --- (g2) the budget: each costly class refused before any layout ----------------------
# A manuscript under 1 MB builds, or is refused, within 60 s and 1 GiB on one core
# (README, Limits). What WeasyPrint would spend is counted before it lays out
# anything (publisher/pdf/cost.py): each class past the budget is refused in one
# line, and WeasyPrint is never asked. `invoke bench --limits` measures each class
# at its worst inside the limits.

OVER_BUDGET = {
    "paragraphs": ("", "# Top\n\n" + "x\n\n" * 40_000, "40010 paragraphs, list items"),
    "emphasis": ("", "# Top\n\n" + ("*a* " * 50 + "\n\n") * 800, "paragraphs, list items, emph"),
    "links": ("", "# Top {#t}\n\n" + ("[a](#t) " * 50 + "\n\n") * 800, "links and other elements"),
    "notes": (
        "",
        "# Top\n\n"
        + " ".join(f"w[^{i}]" for i in range(2_000))
        + "\n\n"
        + "".join(f"[^{i}]: N {i}.\n" for i in range(2_000)),
        "its 2000 notes",
    ),
    "small pages": (
        "page-size: 20mm 20mm\nmargins: 2mm 2mm 2mm 2mm\n",
        "# Top\n\n" + "lorem ipsum dolor sit amet " * 4_000 + "\n",
        "pages",
    ),
    "chapters": ("", "".join(f"# C{i}\n\nOne line.\n\n" for i in range(1_600)), "about 32"),
    "table": ("", "| a | b |\n|---|---|\n" + "| 1 | 2 |\n" * 13_000, "have 26002 cells"),
    "drawings": ("", "# Top\n\n" + "![A drawing](d.svg)\n\n" * 600, "its SVG images, "),
}
DRAWING = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
    + '<rect x="1" y="1" width="1" height="1"/>' * 3_000
    + "</svg>"
)


@pytest.mark.parametrize("kind", list(OVER_BUDGET))
def test_a_class_past_the_budget_is_refused_before_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from publisher.pdf import layout

    extra, body, words = OVER_BUDGET[kind]
    book = write(tmp_path / "book.md", front("Budget", extra) + body)
    write(tmp_path / "d.svg", DRAWING)

    def never(*args: object) -> object:
        raise AssertionError("WeasyPrint was asked to lay out a book past the budget")

    monkeypatch.setattr(layout, "render_html", never)
    with pytest.raises(PublisherError) as refused:
        run_build(book, tmp_path / "out", ("pdf",))
    line = str(refused.value)
    assert refused.value.exit_code == 2 and "\n" not in line, line
    assert line.startswith(f"{book}: error: ") and words in line, line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.pdf"))


def test_the_cost_follows_the_page_and_the_budget_grows_with_the_manuscript() -> None:
    """Pages are counted from the text's lines on the book's own page (a small
    page holds a few words), chapters open on the right in print; a manuscript
    longer than 1 MB may cost more, in proportion, a shorter one no less."""
    from dataclasses import replace

    from publisher.model import BookMeta, Identifier, Manuscript, SourceFile
    from publisher.pdf.cost import allowance, estimate
    from publisher.pdf.profiles import make_profile
    from publisher.render.book import render_book

    root = Path("/virtual")
    meta = BookMeta(title="T", lang="en", identifier=Identifier("urn:x"))

    def rendered(text: str) -> RenderedBook:
        manuscript = Manuscript(meta, (SourceFile(root / "a.md", text),), root)
        return render_book(manuscript, lambda *a: Diagnostic("I01", "warning", None, ""))

    words = "lorem ipsum dolor sit amet " * 200
    book = rendered("".join(f"# C{n}\n\n{words}\n\n" for n in range(10)))
    a5 = estimate(book, make_profile("print"), True)
    a4 = estimate(book, make_profile("screen"), False)
    small = estimate(book, make_profile("print", size="50mm 50mm"), True)
    assert a4.pages < a5.pages < small.pages
    assert a5.elements == a4.elements and a5.characters == a4.characters
    assert small.seconds > a5.seconds  # the same text, more pages
    short = rendered("".join(f"# C{n}\n\nOne line.\n\n" for n in range(50)))
    recto = estimate(short, make_profile("print"), True)
    any_page = estimate(short, make_profile("screen"), False)
    assert recto.pages - any_page.pages >= 49  # a blank verso after each chapter but the last
    assert allowance(replace(book, source_size=300_000)) == 1.0
    # A formula is one drawing in the PDF, however deep its MathML: 300 fractions
    # 30 deep count as 300 elements (and 300 runt spans: each is as wide as a
    # line) and their width, not their 30,000 MathML ones.
    plain = estimate(rendered("# F\n\n" + "x\n\n" * 300), make_profile("print"), True)
    deep = "$" + "\\frac{1}{" * 30 + "x" + "}" * 30 + "$"
    formulas = estimate(rendered("# F\n\n" + f"{deep}\n\n" * 300), make_profile("print"), True)
    assert formulas.elements - plain.elements == 600, (formulas.elements, plain.elements)
    assert formulas.characters > plain.characters + 300 * 100
    # A hard line break ends a line: 3,000 of them in one paragraph are 3,000 lines.
    broken = estimate(rendered("# B\n\n" + "x\\\n" * 3000 + "x\n"), make_profile("print"), True)
    assert broken.lines >= 3000 and broken.pages >= 3000 / 33
    assert allowance(replace(book, source_size=2_500_000)) == 2.5


# --- (h) exit 0 means a valid EPUB: names, ids and languages --------------------------


def collision_case(folder: Path, case: str) -> None:
    """A manuscript of one collision class."""
    images = ""
    extra = ""
    if case == "cover":
        Image.new("RGB", (30, 40), "red").save(folder / "cover.jpg")
        write(folder / "art" / "cover.jpg", b"")
        Image.new("RGB", (30, 40), "blue").save(folder / "art" / "cover.jpg")
        extra = "cover-image: cover.jpg\n"
        images = "![The cover](cover.jpg) ![Again](cover.jpg) ![Another](art/cover.jpg)\n"
    elif case == "case":
        for name, colour in (("Foo.png", "red"), ("foo.png", "blue"), ("FOO.PNG", "green")):
            write(folder / name, png(colour=colour))
        write(folder / "sub" / "Foo.png", png(colour="navy"))
        images = "![a](Foo.png) ![b](foo.png) ![c](FOO.PNG) ![d](sub/Foo.png) ![e](Foo.png)\n"
    body = {
        "cover": images,
        "case": images,
        "ids": "# Chapter {#toc}\n\nA note.[^1] Again.[^1] [To mine](#fn-c1-1), "
        "[to the page](#page-1), [to cover](#cover).\n\n"
        "[x]{#fn-c1-1} [y]{#fnref-c1-1-2} [z]{#section-1} [w]{#cover}\n\n"
        "{#page-1}\n## Page\n\n{#titlepage}\n\n> Quoted.\n\n"
        "[^1]: The note.\n\n# Section 2 {#section-2}\n\n[Back](#section-1).\n",
        "lang": "{lang=en-US-a}\n# Heading\n\n# Other {lang=zz-a}\n\n{lang=i-klingon}\n\n"
        "> Quoted.\n\nA [span]{lang=en-} and [one]{lang=fr-CA}.\n\n"
        '<span lang="sl-rozaj-rozaj">raw</span>\n',
    }[case]
    write(folder / "book.md", front("Collisions", extra + "raw-html: true\n") + body)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["cover", "case", "ids", "lang"])
def test_collisions_give_an_epub_epubcheck_accepts(tmp_path: Path, case: str) -> None:
    """EPUB and PDF (the EPUB then carries the print page ids): exit 0, EPUBCheck
    clean, and each renamed id or dropped lang a warning naming its line."""
    book = tmp_path / "book"
    book.mkdir()
    collision_case(book, case)
    result = run_build(book, tmp_path / "out")
    epub = next(o.path for o in result.outputs if o.format == "epub")
    assert epubcheck_errors(epub) == []
    messages = warnings_of(result)
    if case == "ids":
        assert sum("warning: id '" in m for m in messages) == 8, messages
        assert all(re.match(r".*book\.md:\d+: warning", m) for m in messages), messages
    if case == "lang":
        assert sum("lang '" in m or "lang='" in m for m in messages) == 5, messages
    if case in ("cover", "case"):
        names = list(epub_members(epub))
        assert len({n.casefold() for n in names}) == len(names), names
