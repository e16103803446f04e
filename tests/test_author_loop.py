"""The author's loop: `publisher new`, `watch`, `serve`, progress lines, and the
`publisher` command beside the Invoke tasks."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT, invoke, need

PUBLISHER = [sys.executable, "-m", "publisher"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PUBLISHER, *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_new_starter_builds_at_once_both_ways(tmp_path: Path) -> None:
    made = run("new", "book", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in (tmp_path / "book").iterdir()) == [
        "01-beginning.md",
        "02-middle.md",
        "book.yaml",
        "images",
    ]
    built = run("build", "book", "-o", "out", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert {p.suffix for p in (tmp_path / "out").iterdir() if p.is_file()} == {".epub", ".pdf"}
    assert "(up to date)" in run("build", "book", "-o", "out", cwd=tmp_path).stdout
    via_invoke = invoke("build", "--manuscript", "book", "--output", "out2", cwd=tmp_path)
    assert via_invoke.returncode == 0, via_invoke.stderr
    lint = run("lint", "book", cwd=tmp_path)
    assert lint.returncode == 0 and "0 error(s), 0 warning(s)" in lint.stdout
    again = run("new", "book", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip() == "book: error: the folder is not empty (choose a new folder name)"


def test_progress_lines(tmp_path: Path) -> None:
    run("new", "book", cwd=tmp_path)
    verbose = run("build", "book", "-o", "out", "-v", "--only", "epub", cwd=tmp_path)
    assert re.search(r"^  read 2 file\(s\) \(\d+\.\d\d s\)$", verbose.stdout, re.M)
    assert re.search(r"^epub: out/my-book\.epub \(\d", verbose.stdout, re.M)
    assert "\r" not in verbose.stderr + verbose.stdout  # no status line in a log
    quiet = run("build", "book", "-o", "out", "-q", "--force", "--only", "epub", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*PUBLISHER, *args],
        cwd=cwd,
        env=ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


def test_watch_rebuilds_on_save_and_survives_mistakes(tmp_path: Path) -> None:
    run("new", "book", cwd=tmp_path)
    proc = _start(["watch", "book", "-o", "out"], tmp_path)
    try:
        epub = tmp_path / "out" / "my-book.epub"
        wait_for(lambda: epub.exists())
        first = epub.stat().st_mtime_ns
        chapter = tmp_path / "book" / "02-middle.md"
        chapter.write_text(chapter.read_text() + "\nA new sentence, saved.\n")
        wait_for(lambda: epub.stat().st_mtime_ns != first)
        # A mistake: reported, and the watch goes on.
        yaml = tmp_path / "book" / "book.yaml"
        good = yaml.read_text()
        yaml.write_text(good.replace("title: My Book", "title: [broken"))
        time.sleep(2)
        assert proc.poll() is None
        second = epub.stat().st_mtime_ns
        yaml.write_text(good)
        chapter.write_text(chapter.read_text() + "\nFixed.\n")
        wait_for(lambda: epub.stat().st_mtime_ns != second)
        time.sleep(1.0)  # the EPUB is written before the watch reports the rebuild
    finally:
        out, err = _stop(proc)
    assert "book/book.yaml:1: error: invalid YAML" in err
    assert "watch: waiting for a fix" in err
    assert err.count("watch: rebuilt in") >= 2
    assert "watch: stopped" in out


def test_serve_previews_and_reloads(tmp_path: Path) -> None:
    need("pdftoppm")
    run("new", "book", cwd=tmp_path)
    proc = _start(["serve", "book", "-o", "out", "--port", "0"], tmp_path)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)  # type: ignore[union-attr]

        def state() -> dict[str, object]:
            with urllib.request.urlopen(url + "state", timeout=5) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]

        wait_for(lambda: state()["version"] == 1)
        with urllib.request.urlopen(url, timeout=5) as response:
            page = response.read().decode()
        assert "The Beginning" in page and "/pages/1.png" in page
        assert '<link rel="stylesheet" href="/epub/EPUB/styles/epub.css">' in page
        with urllib.request.urlopen(url + "pages/1.png", timeout=5) as response:
            assert response.read().startswith(b"\x89PNG")
        chapter = tmp_path / "book" / "01-beginning.md"
        chapter.write_text(chapter.read_text().replace("The Beginning", "The Very Beginning"))
        wait_for(lambda: state()["version"] == 2)
        with urllib.request.urlopen(url, timeout=5) as response:
            assert "The Very Beginning" in response.read().decode()
        assert state()["diagnostics"] == []
        # A warning: shown as data, with its fields, beside the rebuilt book.
        text = chapter.read_text()
        chapter.write_text(text + "\nSee [there](#nowhere).\n")
        wait_for(lambda: state()["version"] == 3)
        line = len(text.splitlines()) + 2
        assert state()["diagnostics"] == [
            {
                "code": "T05",
                "severity": "warning",
                "file": "book/01-beginning.md",
                "line": line,
                "message": "link '#nowhere' removed: no heading or element has the id 'nowhere'",
                "hint": "",
                "text": f"book/01-beginning.md:{line}: warning: link '#nowhere' removed: "
                "no heading or element has the id 'nowhere'",
            }
        ]
        shot = screenshot(url, tmp_path)
        if shot is not None:
            keep = ROOT / "build" / "serve-preview.png"
            keep.parent.mkdir(exist_ok=True)
            shutil.copy(shot, keep)  # for a person to look at
            with Image.open(shot) as image:
                colours = image.convert("L").getcolors(256 * 256) or []
                assert len(colours) > 20  # text and page images, not a blank window
    finally:
        _stop(proc)


def screenshot(url: str, folder: Path) -> Path | None:
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI must install it")
        return None
    target = folder / "preview.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={folder / 'chromium'}",
            "--hide-scrollbars",
            "--window-size=1280,900",
            "--virtual-time-budget=4000",
            f"--screenshot={target}",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert target.is_file(), "chromium took no screenshot"
    return target


def test_the_preview_says_why_page_images_are_missing_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without poppler, /state's error names it once: no 'error: ... error:'."""
    from types import SimpleNamespace

    from publisher.app.serve import Preview

    pdf = tmp_path / "book.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    monkeypatch.setattr("publisher.app.proof.shutil.which", lambda name: None)
    preview = Preview(tmp_path / "pages")
    output = SimpleNamespace(format="pdf", path=pdf)
    preview.built(SimpleNamespace(outputs=[output], diagnostics=()))  # type: ignore[arg-type]
    assert preview.error == (
        "error: page images unavailable: pdftoppm is not installed (apt-get install poppler-utils)"
    )
    assert preview.version == 1
