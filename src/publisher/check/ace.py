"""DAISY Ace, the EPUB accessibility checker, run for real on a built EPUB.

Ace's `ace-puppeteer` command drives Debian's Chromium (its default `ace` command
needs an Electron download). `.ci/install-checkers` installs it into tests/js/;
a copy on PATH works too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from publisher.errors import ToolError

REPO_ACE = Path(__file__).resolve().parents[3] / "tests" / "js" / "node_modules" / ".bin"
INSTALL_HINT = (
    "npm install -g @daisy/ace, with a Chromium: apt-get install chromium, or set "
    "PUPPETEER_EXECUTABLE_PATH; in a checkout: .ci/install-checkers, which ./setup.sh "
    "skips with --no-checkers"
)
NO_DOWNLOADS = {
    "PUPPETEER_SKIP_DOWNLOAD": "1",
    "PUPPETEER_SKIP_CHROMIUM_DOWNLOAD": "1",
    "ELECTRON_SKIP_BINARY_DOWNLOAD": "1",
}


def find_ace() -> tuple[str, str, str] | None:
    """(node, ace-puppeteer, chromium), or None when any is missing."""
    node = shutil.which("node")
    ace = shutil.which("ace-puppeteer") or (
        str(REPO_ACE / "ace-puppeteer") if (REPO_ACE / "ace-puppeteer").exists() else None
    )
    chromium = os.environ.get("PUPPETEER_EXECUTABLE_PATH") or shutil.which("chromium")
    if not (node and ace and chromium):
        return None
    return node, ace, chromium


def run_ace(epub: Path, workdir: Path | None = None, *, timeout: float = 300) -> dict[str, Any]:
    """Ace's JSON report for `epub`. Its start-up timeout is raised from 5 s, which
    is too short on a busy two-core machine."""
    tools = find_ace()
    if tools is None:
        raise ToolError("DAISY Ace is not installed", hint=INSTALL_HINT)
    node, ace, chromium = tools
    with tempfile.TemporaryDirectory() as scratch:
        base = workdir or Path(scratch)
        out, temp = base / "ace-report", base / "ace-temp"
        temp.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **NO_DOWNLOADS,
            "PUPPETEER_EXECUTABLE_PATH": chromium,
            "ACE_TIMEOUT_INITIAL": "30000",
        }
        command = [
            node,
            ace,
            "--force",
            "--outdir",
            str(out),
            "--tempdir",
            str(temp),
            str(epub.resolve()),
        ]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
                cwd=base,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"DAISY Ace gave no answer in {timeout:.0f} s") from None
        report = out / "report.json"
        if not report.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ToolError(f"DAISY Ace wrote no report: {' / '.join(tail)}")
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return data


def violations(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Every failed assertion: (rule, impact, where, description)."""
    found: list[tuple[str, str, str, str]] = []

    def walk(assertion: dict[str, Any], subject: dict[str, Any]) -> None:
        subject = assertion.get("earl:testSubject") or subject
        for child in assertion.get("assertions") or []:
            walk(child, subject)
        result = assertion.get("earl:result") or {}
        test = assertion.get("earl:test")
        if test is None or result.get("earl:outcome") != "fail":
            return
        where = str(subject.get("url", "?"))
        css = (result.get("earl:pointer") or {}).get("css") or []
        if css:
            where += " " + ", ".join(str(c) for c in css)
        what = result.get("dct:description") or test.get("dct:description", "")
        found.append(
            (str(test.get("dct:title", "?")), str(test.get("earl:impact", "?")), where, str(what))
        )

    for assertion in report.get("assertions", []):
        walk(assertion, {})
    return found
