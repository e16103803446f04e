"""`publisher serve`: a local preview on 127.0.0.1 of the book as the EPUB shows it
(its documents with the EPUB's stylesheets) beside the PDF's pages as images,
reloading itself after each rebuild. The watch loop runs in the same process."""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree

from publisher.build import BuildResult
from publisher.errors import PublisherError
from publisher.xhtml import XHTML_NS

TYPES = {
    ".css": "text/css",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
}

LOCAL_URL = re.compile(r'(src|href)="(?!https?:|#|mailto:)([^"#]+)')
RELOAD = """<script>
let seen = null;
async function poll() {
  try {
    const state = await (await fetch('/state')).json();
    if (seen !== null && state.version !== seen) location.reload();
    seen = state.version;
    document.getElementById('error').textContent = state.error || '';
    document.getElementById('diagnostics').textContent =
      state.diagnostics.map(d => d.text).join('\\n');
  } catch (e) {}
  setTimeout(poll, 700);
}
poll();
</script>"""


class Preview:
    """What the server shows: the last good build, the last error if any, and the
    diagnostics of the last build (good or failed)."""

    def __init__(self, pages_folder: Path, resolution: int = 50) -> None:
        self.version = 0
        self.error = ""
        self.diagnostics: list[dict[str, object]] = []
        self.epub: bytes = b""
        self.pages: list[bytes] = []
        self.pages_folder = pages_folder
        self.resolution = resolution
        self.lock = threading.Lock()

    def built(self, result: BuildResult) -> None:
        from publisher.app.proof import render_pages

        outputs = {o.format: o.path for o in result.outputs}
        epub = outputs["epub"].read_bytes() if "epub" in outputs else b""
        pages: list[bytes] = []
        if "pdf" in outputs:
            try:
                images = render_pages(outputs["pdf"], self.pages_folder, self.resolution)
                pages = [p.read_bytes() for p in images]
            except PublisherError as exc:  # no poppler: the text preview still works
                # One line, one "error:" (str(exc) has its own).
                where = f"{exc.where}: " if exc.where else ""
                hint = f" ({exc.hint})" if exc.hint else ""
                self.error = f"{where}error: page images unavailable: {exc.message}{hint}"
            except Exception as exc:
                self.error = f"error: page images unavailable: {exc}"
        with self.lock:
            self.epub, self.pages = epub, pages
            self.version += 1
            self.error = "" if pages or "pdf" not in outputs else self.error
            self.diagnostics = [d.as_dict() for d in result.diagnostics]

    def failed(self, error: PublisherError) -> None:
        with self.lock:
            self.error = str(error)
            self.diagnostics = [d.as_dict() for d in error.diagnostics]
            self.version += 0  # the page keeps the last good build and shows the error

    def state(self) -> dict[str, object]:
        """`/state`: the page reloads when `version` moves."""
        with self.lock:
            return {"version": self.version, "error": self.error, "diagnostics": self.diagnostics}

    def member(self, name: str) -> bytes | None:
        try:
            with zipfile.ZipFile(io.BytesIO(self.epub)) as z:
                return z.read(name)
        except (KeyError, zipfile.BadZipFile):
            return None

    def index(self) -> str:
        if not self.epub:
            return _page("Building…", "<p>No successful build yet.</p>")
        with zipfile.ZipFile(io.BytesIO(self.epub)) as z:
            opf = etree.fromstring(z.read("EPUB/content.opf"))
            ns = {"o": "http://www.idpf.org/2007/opf"}
            manifest = {i.get("id"): i.get("href") for i in opf.iterfind(".//o:item", ns)}
            spine = [str(manifest[r.get("idref")]) for r in opf.iterfind(".//o:itemref", ns)]
            title = opf.findtext(".//{http://purl.org/dc/elements/1.1/}title") or "Preview"
            sheets: list[str] = []
            docs = []
            for href in spine:
                tree = etree.fromstring(z.read(f"EPUB/{href}"))
                # The documents' own stylesheets, in their order (the style's last).
                for link in tree.iterfind(f".//{{{XHTML_NS}}}link"):
                    sheet = f"EPUB/{link.get('href', '')}"
                    if sheet not in sheets and sheet in z.namelist():
                        sheets.append(sheet)
                body = tree.find(f"{{{XHTML_NS}}}body")
                children = list(body) if body is not None else []
                inner = "".join(etree.tostring(c, encoding="unicode") for c in children)
                inner = LOCAL_URL.sub(r'\1="/epub/EPUB/\2', inner)
                docs.append(f'<article class="doc" data-href="{escape(href)}">{inner}</article>')
        links = "".join(f'<link rel="stylesheet" href="/epub/{n}">' for n in sheets)
        pages = "".join(
            f'<figure class="page"><img src="/pages/{n}.png" alt="Page {n}"><figcaption>{n}'
            f"</figcaption></figure>"
            for n in range(1, len(self.pages) + 1)
        )
        return _page(
            title,
            '<div id="error"></div><div id="diagnostics"></div>'
            f'<main><section class="book">{"".join(docs)}</section>'
            f'<aside class="pages">{pages}</aside></main>',
            head=links,
        )


def _page(title: str, body: str, head: str = "") -> str:
    style = """<style>
#error { color: #fff; background: #b71c1c; font: 14px sans-serif; white-space: pre-wrap; }
#error:empty { display: none; }
#diagnostics { color: #000; background: #ffe082; font: 14px sans-serif; white-space: pre-wrap; }
#diagnostics:empty { display: none; }
main { display: flex; gap: 24px; }
.book { flex: 1 1 60%; max-width: 40em; margin: 0 auto; }
.doc { border-bottom: 1px dashed #aaa; padding: 1em 0; }
.doc .cover img { height: auto; max-height: 70vh; }
.pages { flex: 0 0 320px; background: #888; padding: 8px; height: 100vh; overflow-y: auto;
         position: sticky; top: 0; }
.page { margin: 0 0 8px; text-align: center; font: 11px sans-serif; color: #fff; }
.page img { width: 100%; background: #fff; box-shadow: 0 1px 4px #0006; }
</style>"""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"{head}{style}</head><body>{body}{RELOAD}</body></html>"
    )


def make_server(preview: Preview, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            body: bytes | None
            kind = "text/html; charset=utf-8"
            if path == "/":
                body = preview.index().encode("utf-8")
            elif path == "/state":
                body = json.dumps(preview.state()).encode()
                kind = "application/json"
            elif path.startswith("/pages/") and path.endswith(".png"):
                number = path[len("/pages/") : -4]
                body = (
                    preview.pages[int(number) - 1]
                    if number.isdigit() and 0 < int(number) <= len(preview.pages)
                    else None
                )
                kind = "image/png"
            elif path.startswith("/epub/"):
                name = path[len("/epub/") :]
                body = preview.member(name)
                kind = TYPES.get(Path(name).suffix, "application/octet-stream")
            else:
                body = None
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer((host, port), Handler)
