"""`publisher serve`: a local preview on 127.0.0.1 of the book as the EPUB shows it
(its documents with the EPUB's stylesheets) beside the PDF's pages as images,
reloading itself after each rebuild. The watch loop runs in the same process.

The server answers only what its route table lists (`ROUTES`), only requests
addressed to its own host name (a web page that has a host name of its own pointed
at 127.0.0.1 gets nothing: DNS rebinding), and never with a traceback."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import socket
import sys
import threading
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

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
RELOAD_SCRIPT = """
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
"""
RELOAD = f"<script>{RELOAD_SCRIPT}</script>"
# The page runs its own script and nothing else (not a script in the book's text),
# talks only to this server, and loads images, style sheets and fonts only from it.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'sha256-"
        + base64.b64encode(hashlib.sha256(RELOAD_SCRIPT.encode()).digest()).decode()
        + "'",
        "connect-src 'self'",
        "img-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)


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

    def page(self, number: int) -> bytes | None:
        """Page `number` (from 1) of the last good build's PDF, as a PNG image."""
        with self.lock:
            pages = self.pages
        return pages[number - 1] if 1 <= number <= len(pages) else None

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


# --- the server ----------------------------------------------------------------------

TEXT = "text/plain; charset=utf-8"
METHODS = ("GET", "HEAD")  # HEAD: GET's answer without its body
# Every answer: no sniffing a type other than the one sent, no reading by another
# origin's page, nothing kept by the browser (pages and files change with each build).
HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Referrer-Policy", "no-referrer"),
)
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a method's name (RFC 9110)
TARGET = re.compile(r"/[\x21-\x7e]*")  # origin-form, visible ASCII only
ESCAPED = re.compile(r"(?:[^%]|%[0-9A-Fa-f]{2})*")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    kind: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()


def refusal(status: HTTPStatus, detail: str = "") -> Response:
    """One line of text and nothing of the book's."""
    line = f"serve: {status.value} {status.phrase.lower()}{detail}\n"
    allow = (("Allow", ", ".join(METHODS)),) if status == HTTPStatus.METHOD_NOT_ALLOWED else ()
    return Response(status, line.encode(), TEXT, allow)


def page(preview: Preview) -> Response:
    return Response(200, preview.index().encode("utf-8"), "text/html; charset=utf-8")


def state(preview: Preview) -> Response:
    return Response(200, json.dumps(preview.state()).encode(), "application/json")


def page_image(preview: Preview, n: int) -> Response | None:
    image = preview.page(n)
    return None if image is None else Response(200, image, "image/png")


def epub_file(preview: Preview, name: str) -> Response | None:
    data = preview.member(name)
    kind = TYPES.get(Path(name).suffix, "application/octet-stream")
    return None if data is None else Response(200, data, kind)


# What the preview serves, listed once. A parameter is `{name:type}`: `int` is 1 to
# 6 ASCII digits (never `²` or `١`, which str.isdigit() takes), `path` one or more
# whole segments, each already decoded and never empty, `.`, `..` or holding `/`,
# `\` or a control character; a member of the EPUB is looked up by its exact name.
ROUTES: tuple[tuple[str, str, Callable[..., Response | None]], ...] = (
    ("GET", "/", page),
    ("GET", "/state", state),
    ("GET", "/pages/{n:int}.png", page_image),
    ("GET", "/epub/{name:path}", epub_file),
)
PARAMETER_TYPES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "int": ("[0-9]{1,6}", int),
    "path": ("[^/]+(?:/[^/]+)*", str),
}
PARAMETER = re.compile(r"\{([a-z]+):([a-z]+)\}")


def _compile(pattern: str) -> tuple[re.Pattern[str], dict[str, Callable[[str], Any]]]:
    parts = PARAMETER.split(pattern)  # literal, name, type, literal, ...
    regex, converters = re.escape(parts[0]), {}
    for name, kind, literal in zip(parts[1::3], parts[2::3], parts[3::3], strict=True):
        expression, converters[name] = PARAMETER_TYPES[kind]
        regex += f"(?P<{name}>{expression}){re.escape(literal)}"
    return re.compile(regex), converters


COMPILED = [(method, *_compile(pattern), handler) for method, pattern, handler in ROUTES]


class BadRequest(Exception):
    """A request target that is not well-formed: 400."""


def decoded_path(target: str) -> str | None:
    """The path of an origin-form request target, its segments percent-decoded one
    by one (an encoded `/` never separates two): None if a segment is one that no
    route serves (empty, `.`, `..`, with `/`, a backslash or a control character).
    BadRequest for a target that is not visible ASCII or not well escaped, or whose
    escapes are not UTF-8."""
    if not TARGET.fullmatch(target):
        raise BadRequest
    path = target.partition("?")[0]
    if path == "/":
        return path
    segments = []
    for raw in path[1:].split("/"):
        if not ESCAPED.fullmatch(raw):
            raise BadRequest
        try:
            segment = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest from None
        if segment in ("", ".", "..") or "/" in segment or "\\" in segment:
            return None
        if CONTROL.search(segment):
            return None
        segments.append(segment)
    return "/" + "/".join(segments)


def own_hosts(address: str, port: int) -> tuple[str, ...]:
    """The `Host` values of requests meant for this server: its address and
    `localhost`, with the port (without it too on port 80)."""
    names = (f"[{address}]" if ":" in address else address, "localhost")
    return tuple(f"{name}:{port}" for name in names) + (names if port == 80 else ())


def respond(
    preview: Preview,
    method: str,
    target: str,
    hosts: list[str],
    version: tuple[int, int],
    own: tuple[str, ...],
) -> Response:
    """The answer to a request, by the route table; `hosts` holds its `Host` values."""
    if not TOKEN.fullmatch(method):
        return refusal(HTTPStatus.BAD_REQUEST)
    if len(hosts) > 1 or (not hosts and version >= (1, 1)):
        return refusal(HTTPStatus.BAD_REQUEST)  # RFC 9112: one Host, required in 1.1
    if not hosts or hosts[0].strip(" \t").lower() not in own:
        addresses = " and ".join(f"http://{host}/" for host in own[:2])
        return refusal(
            HTTPStatus.MISDIRECTED_REQUEST,
            f": this preview answers only {addresses} "
            "(open one of those; a forwarded port must keep its number)",
        )
    try:
        path = decoded_path(target)
    except BadRequest:
        return refusal(HTTPStatus.BAD_REQUEST)
    if path is None:
        return refusal(HTTPStatus.NOT_FOUND)
    wanted = "GET" if method == "HEAD" else method
    found = False
    for route_method, regex, converters, handler in COMPILED:
        match = regex.fullmatch(path)
        if match is None:
            continue
        found = True
        if route_method == wanted:
            values = {name: converters[name](value) for name, value in match.groupdict().items()}
            return handler(preview, **values) or refusal(HTTPStatus.NOT_FOUND)
    if found:
        return refusal(HTTPStatus.METHOD_NOT_ALLOWED, " (GET and HEAD only)")
    return refusal(HTTPStatus.NOT_FOUND)


def _printable(text: str, limit: int = 200) -> str:
    """Safe for a terminal: control and non-ASCII characters escaped, and short."""
    shown = text.encode("ascii", "backslashreplace").decode("ascii")
    shown = CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", shown)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def report(where: str, exc: BaseException) -> None:
    """An unexpected failure: one line on stderr (the traceback only with
    PUBLISHER_DEBUG=1); the preview goes on."""
    print(
        f"serve: error: {_printable(where)}: {exc.__class__.__name__}: {_printable(str(exc))} "
        "(the preview goes on; set PUBLISHER_DEBUG=1 for the traceback and please report it)",
        file=sys.stderr,
        flush=True,
    )
    if os.environ.get("PUBLISHER_DEBUG"):
        traceback.print_exception(exc)


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, preview: Preview, host: str, port: int) -> None:
        self.preview = preview
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), PreviewHandler)

    def own(self) -> tuple[str, ...]:
        return own_hosts(str(self.server_address[0]), int(self.server_address[1]))

    def handle_error(self, request: object, client_address: object) -> None:
        """What escaped a handler: a client gone is nothing; anything else one line."""
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, (ConnectionError, TimeoutError)):
            report(f"connection from {client_address}", exc)


class PreviewHandler(BaseHTTPRequestHandler):
    server: PreviewServer
    server_version = "publisher-preview"
    timeout = 30  # seconds a client may take to send its request or read the answer

    def handle_one_request(self) -> None:
        """BaseHTTPRequestHandler's, with every request answered by `respond` (any
        method; HTTP/1.0 or 1.1 only) and an unexpected exception a 500."""
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.0"
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > 65536:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not str(self.raw_requestline, "iso-8859-1").split():
                self.send_error(HTTPStatus.BAD_REQUEST)
                return
            if not self.parse_request():
                return  # parse_request sent a 400, 431 or 505
            self.close_connection = True
            major, minor = self.request_version.removeprefix("HTTP/").split(".")
            version = (int(major), int(minor))
            if version < (1, 0):  # HTTP/0.9: no headers, no Host
                self.send_error(HTTPStatus.BAD_REQUEST)
                return
            try:
                response = respond(
                    self.server.preview,
                    self.command,
                    self.path,
                    [str(h) for h in self.headers.get_all("Host") or []],
                    version,
                    self.server.own(),
                )
            except Exception as exc:
                report(f"{self.command} {self.path}", exc)
                response = refusal(
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    " (the preview goes on; the terminal running publisher serve has the error)",
                )
            self.send(response)
            self.wfile.flush()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def finish(self) -> None:
        """After the answer, what the client still sends is read (for a second, up to
        1 MiB) before the connection closes: closed with it unread, the connection
        would be reset, and the client could lose the answer."""
        try:
            super().finish()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1)
            left = 1 << 20
            while left > 0 and (data := self.connection.recv(65536)):
                left -= len(data)
        except OSError:
            pass

    def send(self, response: Response) -> None:
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # a status line and headers, always
        self.send_response(response.status)
        self.send_header("Content-Type", response.kind)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in HEADERS + response.headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a malformed request line or headers)."""
        self.close_connection = True
        self.send(refusal(HTTPStatus(code)))

    def version_string(self) -> str:
        return self.server_version  # no Python version for the asking

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request (and no client's text on the terminal)."""


def make_server(preview: Preview, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The preview's server on `host` (127.0.0.1, or ::1), not yet serving."""
    return PreviewServer(preview, host, port)
