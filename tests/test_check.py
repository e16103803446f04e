"""`publisher check` on what a user actually built: one output alone (--only), a
checker missing (DAISY Ace after `./setup.sh --no-checkers`), and EPUBCheck's notes,
each shown as the line the verdict counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from publisher.app.cli import main

BOOK = "---\ntitle: Checked\nlang: en\n---\n\nText.\n"
# EPUBCheck's stand-in: a report with one note (a USAGE message), as EPUBCheck gives
# for an EPUB with @font-face.
NOTE = {
    "ID": "CSS-028",
    "severity": "USAGE",
    "message": "Use of Font-face declaration.",
    "locations": [{"path": "EPUB/styles/epub.css", "line": 3}],
}
FAKE_JAVA = f"""#!/bin/sh
while [ $# -gt 0 ]; do
  if [ "$1" = "--json" ]; then printf '%s' '{json.dumps({"messages": [NOTE]})}' > "$2"; fi
  shift
done
"""


@pytest.fixture
def book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "book.md").write_text(BOOK)
    return tmp_path


def _tools_without_ace(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with EPUBCheck's stand-in for java and no node: Ace is not installed."""
    folder.mkdir()
    java = folder / "java"
    java.write_text(FAKE_JAVA)
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv("PUPPETEER_EXECUTABLE_PATH", raising=False)


def test_after_build_only_epub_check_checks_the_epub_and_names_the_pdf_not_built(
    book: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "book.md", "-o", "out", "--only", "epub", "-q"]) == 0
    _tools_without_ace(book / "bin", monkeypatch)
    code = main(["check", "book.md", "-o", "out"])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert captured.err == ""
    assert lines[0] == (
        "out/checked.pdf: note: NOT-BUILT the PDF is not built, so it is not checked "
        "(build it: publisher build --only pdf, or publisher build for both) [check]"
    )
    assert "ok: out/checked.epub: EPUBCheck 0 fatal, 0 errors, 0 warnings" in lines
    # Every note the verdict counts is shown: EPUBCheck's usage message too.
    assert "EPUB/styles/epub.css:3: usage: CSS-028 Use of Font-face declaration. [epubcheck]" in (
        lines
    )
    # Ace is missing: the other checks ran, the check fails, the line says how to get Ace.
    ace = [line for line in lines if "ACE-MISSING" in line]
    assert len(ace) == 1 and ".ci/install-checkers" in ace[0] and "npm install" in ace[0]
    assert "ok: book.md: lint 0 errors, 0 warning(s)" in lines
    assert lines[-1] == "check FAILED: 1 problem(s), 2 note(s)"
    assert code == 4
    shown = [line for line in lines if ": note: " in line or ": usage: " in line]
    assert len(shown) == 2


def test_after_build_only_pdf_check_passes_on_the_pdf_alone(
    book: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "book.md", "-o", "out", "--only", "pdf", "-q"]) == 0
    assert main(["check", "book.md", "-o", "out"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("out/checked.epub: note: NOT-BUILT the EPUB is not built")
    assert "publisher build --only epub" in lines[0]
    assert any(line.startswith("ok: out/checked.pdf: ") for line in lines)
    assert not any("EPUBCheck" in line or "Ace" in line for line in lines)
    assert lines[-1] == "check passed: 0 problem(s), 1 note(s)"


def test_nothing_built_is_one_error_naming_the_verb(
    book: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "book.md", "-o", "out"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "out/checked.epub: error: nothing to check: output not built "
        "(run 'publisher build' with the same manuscript and --output first)"
    ]
