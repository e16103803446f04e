"""Real reading systems and accessibility checkers, run on a built EPUB for the tests.

- DAISY Ace (npm ``@daisy/ace``, its ``ace-puppeteer`` command) in Debian's Chromium;
- epub.js (npm ``epubjs``) in headless Chromium driven by puppeteer-core, through
  ``tests/js/epubjs-read.mjs``: open the book, read its TOC, turn every page;
- Calibre (Debian ``calibre``): ``ebook-meta`` and ``ebook-convert``.

``.ci/install-checkers`` installs all of them. A missing tool is a skip, or a failure
under ``CI=true`` (``conftest.need``). A tool that runs but fails raises
:class:`ToolError` with its output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, TypedDict

import pytest

from conftest import need

JS = Path(__file__).resolve().parent / "js"
EPUBJS_SCRIPT = JS / "epubjs-read.mjs"
INSTALL_HINT = "run .ci/install-checkers"

# No npm package may fetch a browser of its own: they all drive Debian's Chromium.
NO_DOWNLOADS = {
    "PUPPETEER_SKIP_DOWNLOAD": "1",
    "PUPPETEER_SKIP_CHROMIUM_DOWNLOAD": "1",
    "PUPPETEER_SKIP_CHROME_DOWNLOAD": "1",
    "PUPPETEER_SKIP_CHROME_HEADLESS_SHELL_DOWNLOAD": "1",
    "ELECTRON_SKIP_BINARY_DOWNLOAD": "1",
}


class ToolError(RuntimeError):
    """An external tool ran and failed (or timed out)."""


class CalibreMeta(TypedDict):
    title: str | None
    authors: list[str]
    languages: list[str]
    cover: bool  # ebook-meta --get-cover found one
    cover_bytes: int
    fields: dict[str, str]  # every field ebook-meta printed, as printed


def need_tool(tool: str) -> str:
    """The path of a program on PATH; a failure under CI, a skip elsewhere."""
    return need(tool)


def need_js(relative: str) -> Path:
    """A file or folder that .ci/install-checkers puts in tests/js/node_modules,
    such as ``.bin/ace-puppeteer`` or ``epubjs``; a failure under CI, a skip elsewhere."""
    path = JS / "node_modules" / relative
    if path.exists():
        return path
    message = f"{relative} is not installed in tests/js/node_modules ({INSTALL_HINT})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must install it")
    pytest.skip(message)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _run(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as error:
        raise ToolError(f"{' '.join(command)}: no answer in {timeout:.0f} s") from error
    if done.returncode != 0:
        raise ToolError(
            f"{' '.join(command)}: exit code {done.returncode}\n"
            f"--- stderr ---\n{_tail(done.stderr)}\n--- stdout ---\n{_tail(done.stdout)}"
        )
    return done


def _chromium_env() -> dict[str, str]:
    chromium = need_tool("chromium")
    return {**NO_DOWNLOADS, "PUPPETEER_EXECUTABLE_PATH": chromium, "CHROMIUM": chromium}


# ---- DAISY Ace ----


def run_ace(epub: Path, workdir: Path, *, timeout: float = 180) -> dict[str, Any]:
    """DAISY Ace's JSON report, through publisher's own runner (publisher.check.ace), which
    `invoke check` uses too; here a missing Ace is a skip, or a failure under CI."""
    from publisher.check import ace

    need_tool("node")
    need_tool("chromium")
    need_js(".bin/ace-puppeteer")
    try:
        return ace.run_ace(epub, workdir, timeout=timeout)
    except Exception as error:  # publisher.errors.ToolError
        raise ToolError(str(error)) from error


def ace_violations(report: dict[str, Any]) -> list[str]:
    """Every failed Ace assertion, one readable line each:
    ``rule-id [impact] at file selector: description``."""
    from publisher.check import ace

    return [
        f"{rule} [{impact}] at {where}: {what}"
        for rule, impact, where, what in ace.violations(report)
    ]


def ace_checked_documents(report: dict[str, Any]) -> list[str]:
    """The documents Ace reports on (content documents and the package)."""
    return [str(a.get("earl:testSubject", {}).get("url")) for a in report.get("assertions", [])]


# ---- epub.js in headless Chromium ----


def run_epubjs(
    epub: Path, screenshot: Path | None = None, *, time_limit: float = 30
) -> dict[str, Any]:
    """Opens ``epub`` in epub.js, reads its TOC and turns every page (see
    tests/js/epubjs-read.mjs); returns the script's JSON result. ``screenshot``
    receives a PNG of the first text page."""
    node = need_tool("node")
    need_js("epubjs")
    need_js("puppeteer-core")
    command = [node, str(EPUBJS_SCRIPT), str(epub.resolve()), "--time-limit", str(time_limit)]
    if screenshot is not None:
        command += ["--screenshot", str(screenshot)]
    env = _chromium_env()
    try:
        done = _run(command, env=env, timeout=time_limit + 60, cwd=JS)
    except ToolError as error:
        raise ToolError(f"epub.js could not read {epub.name}: {error}") from error
    data: dict[str, Any] = json.loads(done.stdout)
    return data


# ---- Calibre ----

CALIBRE_ENV = {"QTWEBENGINE_DISABLE_SANDBOX": "1"}  # Qt WebEngine refuses to run as root
_FIELD = re.compile(r"^(\S[^:]*?)\s+:\s?(.*)$")


def parse_ebook_meta(output: str) -> dict[str, str]:
    """``ebook-meta``'s ``Field    : value`` lines; a line that is not one continues
    the previous value (a long comment)."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in output.splitlines():
        if line.startswith("Cover saved to "):
            continue
        match = _FIELD.match(line)
        if match:
            last = match.group(1).strip()
            fields[last] = match.group(2).strip()
        elif last and line.strip():
            fields[last] += "\n" + line.strip()
    return fields


def _authors(value: str | None) -> list[str]:
    if not value:
        return []
    value = re.sub(r"\s*\[[^\]]*\]$", "", value)  # "A & B [B, A]": the sort form
    return [a.strip() for a in value.split("&") if a.strip()]


def calibre_meta(book: Path) -> CalibreMeta:
    """What Calibre reads from ``book`` (EPUB, AZW3...): title, authors, languages
    (ISO 639-2, as Calibre shows them) and whether it finds a cover."""
    tool = need_tool("ebook-meta")
    with tempfile.TemporaryDirectory(prefix="ebook-meta-") as tmp:
        cover = Path(tmp) / "cover.jpg"  # Calibre keeps the image's own format
        done = _run(
            [tool, str(book), f"--get-cover={cover}"], env=CALIBRE_ENV, timeout=120, cwd=Path(tmp)
        )
        size = cover.stat().st_size if cover.is_file() else 0
    fields = parse_ebook_meta(done.stdout)
    languages = fields.get("Languages", "")
    return CalibreMeta(
        title=fields.get("Title"),
        authors=_authors(fields.get("Author(s)")),
        languages=[lang.strip() for lang in languages.split(",") if lang.strip()],
        cover=size > 0,
        cover_bytes=size,
        fields=fields,
    )


def calibre_convert(book: Path, suffix: str, workdir: Path, *, timeout: float = 300) -> Path:
    """Converts ``book`` with ``ebook-convert`` to ``suffix`` (".azw3", ".txt"...)
    in ``workdir``; raises :class:`ToolError` with Calibre's output on failure."""
    tool = need_tool("ebook-convert")
    suffix = suffix if suffix.startswith(".") else f".{suffix}"
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"{book.stem}{suffix}"
    out.unlink(missing_ok=True)
    done = _run([tool, str(book), str(out)], env=CALIBRE_ENV, timeout=timeout, cwd=workdir)
    if not out.is_file() or out.stat().st_size == 0:
        raise ToolError(f"ebook-convert wrote no {out.name}\n{_tail(done.stdout)}\n{done.stderr}")
    return out


def versions() -> dict[str, str]:
    """The versions of the tools this module runs, for reports; absent ones omitted."""
    found: dict[str, str] = {}
    lock = JS / "package-lock.json"
    if lock.is_file():
        packages = json.loads(lock.read_text(encoding="utf-8")).get("packages", {})
        for name in ("@daisy/ace", "epubjs", "puppeteer-core"):
            entry = packages.get(f"node_modules/{name}")
            if entry:
                found[name] = str(entry.get("version"))
    for tool, flag in (("chromium", "--version"), ("ebook-meta", "--version"), ("node", "-v")):
        path = shutil.which(tool)
        if path:
            done = subprocess.run([path, flag], capture_output=True, text=True, check=False)
            found[tool] = done.stdout.strip()
    return found


class PdfLink(TypedDict):
    page: int  # the page the link is on (0-based)
    text: str  # the words under it
    target: str  # the named destination (the id it links to)
    target_page: int  # the page the destination is on (0-based)


def pdf_links(pdf: Path) -> list[PdfLink]:
    """Every internal link of a PDF: where it is, its words, where it goes."""
    import pdfplumber
    import pikepdf

    out: list[PdfLink] = []
    with pikepdf.open(pdf) as document, pdfplumber.open(pdf) as plumbed:
        pages = {page.obj.objgen: n for n, page in enumerate(document.pages)}
        dests: dict[str, int] = {}
        if "/Names" in document.Root and "/Dests" in document.Root.Names:
            for name, dest in pikepdf.NameTree(document.Root.Names.Dests).items():
                dests[str(name)] = pages[dest[0].objgen]
        for n, page in enumerate(document.pages):
            height = float(page.mediabox[3])
            words = plumbed.pages[n].extract_words() if "/Annots" in page else []
            for annot in page.get("/Annots", []):
                dest = annot.get("/Dest")
                if dest is None:
                    continue
                x0, y0, x1, y1 = (float(v) for v in annot.Rect)
                top, bottom = height - max(y0, y1), height - min(y0, y1)
                # the words whose middle is inside the link's box (a glyph's box
                # is taller than the line's)
                inside = [
                    w["text"]
                    for w in words
                    if x0 - 1 <= (w["x0"] + w["x1"]) / 2 <= x1 + 1
                    and top <= (w["top"] + w["bottom"]) / 2 <= bottom
                ]
                out.append(
                    PdfLink(
                        page=n,
                        text=" ".join(inside),
                        target=str(dest),
                        target_page=dests.get(str(dest), -1),
                    )
                )
    return out


def pdf_page_texts(pdf: Path) -> list[str]:
    """Each page's text (pdfplumber), its lines joined by spaces."""
    import pdfplumber

    with pdfplumber.open(pdf) as plumbed:
        return [" ".join((page.extract_text() or "").split()) for page in plumbed.pages]
