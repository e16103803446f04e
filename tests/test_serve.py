"""The preview server (`publisher serve`) against hostile requests: a real server on
127.0.0.1 (port 0, in this process), real HTTP through http.client and raw sockets.

It answers only its route table, only requests addressed to its own host name
(DNS rebinding), never with a traceback, and stays up whatever it is sent."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import io
import json
import re
import socket
import struct
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.app.serve import RELOAD_SCRIPT, Preview, make_server

from conftest import need

PNG = b"\x89PNG\r\n\x1a\n"  # enough for the server: it only passes the bytes on
OPF = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="id">x</dc:identifier><dc:title>A Hostile Evening</dc:title>
  </metadata>
  <manifest>
    <item id="c1" href="chapter.xhtml" media-type="application/xhtml+xml"/>
    <item id="css" href="styles/epub.css" media-type="text/css"/>
    <item id="img" href="images/dot.png" media-type="image/png"/>
  </manifest>
  <spine><itemref idref="c1"/></spine>
</package>"""
CHAPTER = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>One</title>
<link rel="stylesheet" href="styles/epub.css"/></head>
<body><h1>Chapter One</h1><p><img src="images/dot.png" alt="A dot"/></p></body></html>"""
PAGES = 3


def small_epub() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("EPUB/content.opf", OPF)
        z.writestr("EPUB/chapter.xhtml", CHAPTER)
        z.writestr("EPUB/styles/epub.css", "body { margin: 0 }\n")
        z.writestr("EPUB/images/dot.png", PNG + b"dot")
    return buffer.getvalue()


def built_preview(folder: Path) -> Preview:
    preview = Preview(folder / "pages")
    preview.epub = small_epub()
    preview.pages = [PNG + f"page {n}".encode() for n in range(1, PAGES + 1)]
    preview.version = 1
    return preview


@dataclass
class Server:
    preview: Preview
    host: str
    port: int

    @property
    def own(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@contextlib.contextmanager
def serving(preview: Preview, host: str = "127.0.0.1") -> Iterator[Server]:
    server = make_server(preview, 0, host)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Server(preview, host, int(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(built_preview(tmp_path)) as running:
        yield running


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for every example of the fuzz tests."""
    with serving(built_preview(tmp_path_factory.mktemp("serve"))) as running:
        yield running


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def exchange(server: Server, data: bytes) -> Answer:
    """Sends `data` as it is and reads the answer to the end."""
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect((server.host, server.port))
        with contextlib.suppress(OSError):  # it may answer (and close) before all is sent
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.0 (\d{3}) .*", lines[0])
    assert match, f"no status line in {received[:200]!r}"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(match.group(1)), headers, body)


def raw(
    server: Server, target: str | bytes, *, host: str | None = None, method: str = "GET"
) -> Answer:
    """One request with the target exactly as given (no client tidies it up)."""
    line = target.encode("latin-1") if isinstance(target, str) else target
    host_line = f"Host: {server.own if host is None else host}\r\n".encode("latin-1")
    return exchange(server, method.encode() + b" " + line + b" HTTP/1.1\r\n" + host_line + b"\r\n")


def get(server: Server, path: str, method: str = "GET") -> Answer:
    """Through http.client, as a browser would ask (Host: 127.0.0.1:PORT)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=20)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, headers, response.read())
    finally:
        connection.close()


def still_serving(server: Server) -> None:
    answer = get(server, "/state")
    assert answer.status == 200 and json.loads(answer.body)["version"] == server.preview.version


# --- the routes ---------------------------------------------------------------------


def test_each_route_answers(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    page = get(server, "/")
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.body.decode()
    assert "Chapter One" in html and "A Hostile Evening" in html
    assert '<link rel="stylesheet" href="/epub/EPUB/styles/epub.css">' in html
    assert '<img src="/epub/EPUB/images/dot.png"' in html
    assert [f"/pages/{n}.png" for n in range(1, PAGES + 1)] == re.findall(
        r'src="(/pages/[^"]+)"', html
    )

    state = get(server, "/state")
    assert state.status == 200 and state.headers["content-type"] == "application/json"
    assert state.headers["cache-control"] == "no-store"
    assert json.loads(state.body) == {"version": 1, "error": "", "diagnostics": []}

    for n in range(1, PAGES + 1):
        image = get(server, f"/pages/{n}.png")
        assert image.status == 200 and image.headers["content-type"] == "image/png"
        assert image.body == PNG + f"page {n}".encode()
    assert get(server, "/pages/000002.png").body == PNG + b"page 2"  # six digits at most

    sheet = get(server, "/epub/EPUB/styles/epub.css")
    assert (sheet.status, sheet.headers["content-type"]) == (200, "text/css")
    assert sheet.body == b"body { margin: 0 }\n"
    assert get(server, "/epub/EPUB/images/dot.png").body == PNG + b"dot"
    assert get(server, "/epub/EPUB/content.opf").body.decode() == OPF
    assert get(server, "/state?cache=1").status == 200  # a query is ignored
    assert capsys.readouterr().err == ""


def test_every_answer_carries_the_security_headers(server: Server) -> None:
    for path in ("/", "/state", "/pages/1.png", "/epub/EPUB/chapter.xhtml", "/nothing"):
        answer = get(server, path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["cache-control"] == "no-store", path
        assert answer.headers["cross-origin-resource-policy"] == "same-origin", path
        assert "default-src 'none'" in answer.headers["content-security-policy"], path
    refused = raw(server, "/state", host="evil.example")
    assert refused.headers["x-content-type-options"] == "nosniff"


def test_the_policy_lets_the_page_run_its_own_script_and_nothing_else(server: Server) -> None:
    page = get(server, "/")
    policy = dict(
        [*directive.split(" ", 1), ""][:2]
        for directive in page.headers["content-security-policy"].split("; ")
    )
    scripts = re.findall(r"<script>(.*?)</script>", page.body.decode(), re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"  # no 'unsafe-inline'
    assert policy["connect-src"] == "'self'"  # the fetch of /state
    assert policy["img-src"] == "'self'" and policy["font-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'none'"


def test_the_page_script_is_valid_javascript(tmp_path: Path) -> None:
    """It once held a raw line break inside a string: a SyntaxError, and a page that
    never reloaded."""
    node = need("node")
    script = tmp_path / "reload.js"
    script.write_text(RELOAD_SCRIPT, encoding="utf-8")
    done = subprocess.run([node, "--check", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_head_is_get_without_the_body(server: Server) -> None:
    for path in ("/", "/state", "/pages/1.png", "/epub/EPUB/styles/epub.css"):
        whole, head = get(server, path), raw(server, path, method="HEAD")
        assert head.status == 200 and head.body == b""
        assert head.headers["content-length"] == str(len(whole.body))
        assert head.headers["content-type"] == whole.headers["content-type"]
    assert raw(server, "/pages/9.png", method="HEAD").status == 404


def test_before_the_first_build(tmp_path: Path) -> None:
    with serving(Preview(tmp_path / "pages")) as server:
        assert b"No successful build yet." in get(server, "/").body
        assert get(server, "/pages/1.png").status == 404
        assert get(server, "/epub/EPUB/content.opf").status == 404
        assert json.loads(get(server, "/state").body)["version"] == 0


# --- page numbers -------------------------------------------------------------------

NOT_PAGES = [
    "²",  # str.isdigit() says yes; int() says no
    "¹",
    "١",  # Arabic-Indic one: int() takes it
    "۱",  # extended Arabic-Indic one
    "१",  # Devanagari one
    "１",  # full-width one
    "𝟏",  # mathematical bold one
    "0",
    str(PAGES + 1),
    "999999",
    "1000000",  # seven digits
    "9" * 5000,  # int() refuses more than 4,300 digits
    "1" + "0" * 4999,
    "-1",
    "+1",
    "1.0",
    "1e0",
    "0x1",
    "1_0",
    "",
    " 1",
    "1 ",
    "\t1",
    "1\n",
    "1\x00",
    "one",
]


@pytest.mark.parametrize("number", NOT_PAGES, ids=ascii)
def test_only_a_page_of_the_book_is_a_page(
    server: Server, number: str, capsys: pytest.CaptureFixture[str]
) -> None:
    encoded = "".join(
        c if c.isascii() and c.isalnum() else f"%{b:02X}" for c in number for b in c.encode()
    )
    answer = raw(server, f"/pages/{encoded}.png")
    assert answer.status == 404, answer
    assert answer.body == b"serve: 404 not found\n"
    # A browser sends such a character escaped; a raw one is not a valid request.
    if not number.isascii():
        assert raw(server, f"/pages/{number}.png".encode()).status == 400
    still_serving(server)
    assert capsys.readouterr().err == ""


# --- paths out of the preview's files -------------------------------------------------

TRAVERSALS = [
    "/epub/../../../../etc/passwd",
    "/epub/EPUB/../../../etc/passwd",
    "/epub/%2e%2e/%2e%2e/etc/passwd",
    "/epub/%2E%2E/%2E%2E/etc/passwd",
    "/epub/EPUB/.%2e/.%2e/etc/passwd",
    "/epub/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/epub/..%2f..%2fetc%2fpasswd",
    "/epub/EPUB%2fcontent.opf",  # the member is there: an encoded / is still no /
    "/epub/EPUB%2Fcontent.opf",
    "/epub/EPUB/..%5c..%5cetc%5cpasswd",
    "/epub/EPUB\\content.opf",
    "/epub/EPUB%5ccontent.opf",
    "/epub/EPUB/content.opf%00.css",
    "/epub/EPUB/content.opf%00",
    "/epub//etc/passwd",
    "/epub/%2fetc%2fpasswd",
    "/epub/%2Fetc/passwd",
    "/epub/C:%5cWindows%5cwin.ini",
    "/epub/file:///etc/passwd",
    "/epub/EPUB/./content.opf",
    "/epub/EPUB/%2e/content.opf",
    "/epub/EPUB/",
    "/epub/",
    "/epub",
    "/epub/%252e%252e/%252e%252e/etc/passwd",  # escaped twice: decoded once only
    "/epub/%c0%ae%c0%ae/etc/passwd",  # overlong UTF-8 for '.': not UTF-8
    "/pages/..%2f..%2f..%2fetc%2fpasswd.png",
    "/pages/../state",
    "/pages/1.png/",
    "/pages/1.png/..",
    "/pages/1.PNG",
    "/state/",
    "/state/..",
    "/STATE",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..",
    "/.",
    "/%2fstate",
    "/index.html",
    "/pages",
    "/pages/",
    "/pages/page-1.png",  # the file on disk is not what /pages serves
    "/publisher/app/serve.py",
    "/etc/passwd",
    "/proc/self/environ",
    "http://127.0.0.1/etc/passwd",
    "*",
    "state",
    "",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=ascii)
def test_nothing_outside_the_preview_files(
    server: Server, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = raw(server, target)
    assert answer.status in (400, 404), answer
    assert answer.body in (b"serve: 400 bad request\n", b"serve: 404 not found\n")
    assert b"root:" not in answer.body and b"<package" not in answer.body
    still_serving(server)
    assert capsys.readouterr().err == ""


def test_malformed_targets_are_bad_requests(server: Server) -> None:
    for target in (
        "/epub/%zz",
        "/epub/%",
        "/epub/%2",
        "/epub/%c3",  # half a UTF-8 character
        "/epub/%ff%fe",
        b"/epub/caf\xc3\xa9.css",  # raw non-ASCII bytes
        b"/state\x7f",
        "http://127.0.0.1/state",  # absolute-form: not for a server that is no proxy
        "*",
    ):
        assert raw(server, target).status == 400, target


# --- Host: only the preview's own names ----------------------------------------------


def test_only_its_own_host_names(server: Server) -> None:
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        assert raw(server, "/state", host=host).status == 200, host
    for host in (
        "evil.example",
        f"evil.example:{port}",  # DNS rebinding: a name of its own, resolving to 127.0.0.1
        f"127.0.0.1.evil.example:{port}",
        f"localhost.:{port}",
        f"127.0.0.1:{port}@evil.example",
        f"127.0.0.1:{port + 1}",  # another port
        f"localhost:{port + 1}",
        "127.0.0.1",  # no port: port 80
        "localhost",
        f"[::1]:{port}",  # it does not listen there
        f"0.0.0.0:{port}",
        f"127.0.0.2:{port}",
        f"2130706433:{port}",  # 127.0.0.1 as one number
        f"127.1:{port}",
        "",
    ):
        answer = raw(server, "/state", host=host)
        assert answer.status == 421, host
        assert (
            answer.body
            == (
                f"serve: 421 misdirected request: this preview answers only "
                f"http://127.0.0.1:{port}/ and http://localhost:{port}/ "
                "(open one of those; a forwarded port must keep its number)\n"
            ).encode()
        )
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"
        for path in ("/", "/pages/1.png", "/epub/EPUB/content.opf", "/nothing"):
            assert raw(server, path, host=host).status == 421, (host, path)
    still_serving(server)


def test_host_missing_or_twice(server: Server) -> None:
    # HTTP/1.0 may leave Host out: then the request is not known to be for us.
    missing = exchange(server, b"GET /state HTTP/1.0\r\n\r\n")
    assert missing.status == 421 and b"version" not in missing.body
    # HTTP/1.1 must send it, once (RFC 9112, 3.2).
    assert exchange(server, b"GET /state HTTP/1.1\r\n\r\n").status == 400
    twice = f"GET /state HTTP/1.1\r\nHost: {server.own}\r\nHost: evil.example\r\n\r\n"
    assert exchange(server, twice.encode()).status == 400
    twice = f"GET /state HTTP/1.1\r\nHost: {server.own}\r\nHost: {server.own}\r\n\r\n"
    assert exchange(server, twice.encode()).status == 400
    one_zero = f"GET /state HTTP/1.0\r\nHost: {server.own}\r\n\r\n"
    assert exchange(server, one_zero.encode()).status == 200


def test_on_ipv6_it_answers_its_own_address(tmp_path: Path) -> None:
    try:
        running = serving(built_preview(tmp_path), "::1")
        server = running.__enter__()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        assert raw(server, "/state", host=f"[::1]:{server.port}").status == 200
        assert raw(server, "/state", host=f"localhost:{server.port}").status == 200
        assert raw(server, "/state", host=f"127.0.0.1:{server.port}").status == 421
    finally:
        running.__exit__(None, None, None)


# --- methods and malformed requests ----------------------------------------------------


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "BREW", "get"]
)
def test_other_methods(server: Server, method: str) -> None:
    for path in ("/", "/state", "/pages/1.png", "/epub/EPUB/content.opf"):
        answer = raw(server, path, method=method)
        assert answer.status == 405, (method, path)
        assert answer.headers["allow"] == "GET, HEAD"
        assert answer.body == b"serve: 405 method not allowed (GET and HEAD only)\n"
    assert raw(server, "/nothing", method=method).status == 404
    # A body the server never reads does not cost the client its answer.
    post = f"{method} /state HTTP/1.1\r\nHost: {server.own}\r\nContent-Length: 200000\r\n\r\n"
    assert exchange(server, post.encode() + b"x" * 200000).status == 405
    still_serving(server)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /\r\n\r\n",  # HTTP/0.9: no headers, no Host
        b"GET / HTTP/0.9\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET / FTP/1.1\r\n\r\n",
        b"GET / HTTP/1\r\n\r\n",
        b"GET / HTTP/x.y\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)),  # TLS hello
        b"\x00\xff\xfe\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
    ],
    ids=ascii,
)
def test_malformed_requests(
    server: Server, request_bytes: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exchange(server, request_bytes).status in (400, 421)
    still_serving(server)
    assert capsys.readouterr().err == ""


def test_limits_of_the_request_line_and_headers(server: Server) -> None:
    long_line = b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"
    assert exchange(server, long_line).status == 414
    many = b"".join(b"X-%d: y\r\n" % n for n in range(200))
    assert exchange(server, b"GET / HTTP/1.1\r\n" + many + b"\r\n").status == 431
    assert exchange(server, b"GET / HTTP/2.0\r\n\r\n").status == 505
    still_serving(server)


def test_an_idle_connection_does_not_stop_the_others(server: Server) -> None:
    with socket.create_connection((server.host, server.port), timeout=10):
        still_serving(server)  # the idle one is still open, saying nothing


# --- no traceback, ever --------------------------------------------------------------


def test_an_unexpected_failure_is_a_500_and_one_line(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PUBLISHER_DEBUG", raising=False)

    def broken() -> dict[str, object]:
        raise RuntimeError("a simulated bug\nwith a second line \x1b[31m")

    monkeypatch.setattr(server.preview, "state", broken)
    answer = raw(server, "/state?q=%1b[2J")
    assert answer.status == 500
    assert answer.body == (
        b"serve: 500 internal server error (the preview goes on; the terminal running "
        b"publisher serve has the error)\n"
    )
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "serve: error: GET /state?q=%1b[2J: RuntimeError: a simulated bug\\x0awith a second "
        "line \\x1b[31m (the preview goes on; set PUBLISHER_DEBUG=1 for the traceback and "
        "please report it)"
    ]
    assert "\x1b" not in err and "Traceback" not in err
    monkeypatch.undo()
    still_serving(server)


def test_a_client_that_goes_away_leaves_no_trace(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    server.preview.pages[0] = PNG + b"x" * 5_000_000
    for _ in range(3):
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.sendall(f"GET /pages/1.png HTTP/1.1\r\nHost: {server.own}\r\n\r\n".encode())
            sock.recv(10)
    still_serving(server)
    assert capsys.readouterr().err == ""


# --- fuzz ----------------------------------------------------------------------------

ANSWERS = {200, 304, 400, 403, 404, 405, 421}
PIECES = [
    "/",
    ".",
    "..",
    "%",
    "%2e",
    "%2f",
    "%5c",
    "%00",
    "%c0%af",
    "\\",
    "?",
    "#",
    ";",
    "pages",
    "epub",
    "EPUB",
    "state",
    "content.opf",
    ".png",
    "0",
    "1",
    "2",
    "3",
    "9" * 7,
    "²",
    "١",
    "１",
    "-",
    "+",
    "\x00",
    " ",
    "\t",
    "\r",
    "\n",
    "\x7f",
    "é",
]
PATHS = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=12).map(lambda p: "/" + "".join(p)).map(str.encode),
    st.text(max_size=40).map(lambda t: ("/" + t).encode()),
    st.binary(max_size=60),
)
HEADER_NAMES = st.sampled_from(
    [
        b"Host",
        b"host",
        b"HOST",
        b"Connection",
        b"Expect",
        b"Content-Length",
        b"Transfer-Encoding",
        b"Accept",
        b"Range",
        b"If-None-Match",
        b"If-Modified-Since",
        b"Origin",
        b"X-Forwarded-Host",
        b"Forwarded",
        b"",
        b" Host",
        b"Host ",
    ]
)
METHODS_TRIED = st.sampled_from([b"GET", b"HEAD", b"POST", b"OPTIONS", b"get", b"G\x00T", b""])


@given(
    method=METHODS_TRIED,
    path=PATHS,
    own_host=st.booleans(),
    headers=st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=40)), max_size=6),
)
def test_fuzz_requests(
    shared: Server,
    method: bytes,
    path: bytes,
    own_host: bool,
    headers: list[tuple[bytes, bytes]],
) -> None:
    lines = [method + b" " + path + b" HTTP/1.1"]
    if own_host:
        lines.append(b"Host: " + shared.own.encode())
    lines += [name + b": " + value for name, value in headers]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        answer = exchange(shared, b"\r\n".join(lines) + b"\r\n\r\n")
    assert answer.status in ANSWERS, answer
    assert answer.headers.get("x-content-type-options") == "nosniff"
    if answer.status == 421 and method != b"HEAD":
        assert answer.body.startswith(b"serve: 421 misdirected request")
    still_serving(shared)
    assert stderr.getvalue() == ""
