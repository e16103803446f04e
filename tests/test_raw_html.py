"""Raw HTML: shown as text by default; with `raw-html: true`, only the allow-list
passes, re-serialised as well-formed XHTML, and what is removed is reported."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pikepdf
import pytest

from conftest import build_book, need

HOSTILE = """---
title: Raw
raw-html: true
---

Some <span class="smallcaps" lang="fr">texte</span>, <b onclick="evil()">bold</b>,
<a href="javascript:alert(1)">bad</a>, <a href="https://example.org">good</a>.

<div class="box">
<p>Inside a <em>div</em>.</p>
</div>

<script>alert(1)</script>

<iframe src="https://evil.example"></iframe><style>body { color: red }</style>

<form action="/x"><input name="q"></form><object data="x.swf"></object><embed src="y">

<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><base href="http://evil/">

<img src="pic.png" alt="A kept picture" onerror="alert(1)">

*emph <i>raw italic* across</i>
"""


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    from PIL import Image

    folder = tmp_path_factory.mktemp("raw")
    Image.new("RGB", (30, 20), "green").save(folder / "pic.png")
    (folder / "raw.md").write_text(HOSTILE, encoding="utf-8")
    built = build_book(folder / "raw.md", folder / "out")
    with zipfile.ZipFile(built.epub) as z:
        chapter = z.read("EPUB/chapter-01.xhtml").decode()
    return chapter, built.epub, built.pdf


def test_allowed_markup_is_kept(raw: tuple[str, Path, Path]) -> None:
    chapter, _, _ = raw
    assert '<span class="smallcaps" lang="fr" xml:lang="fr">texte</span>' in chapter
    assert '<a href="https://example.org">good</a>' in chapter
    assert '<div class="box">\n<p>Inside a <em>div</em>.</p>\n</div>' in chapter
    assert '<img src="images/pic.png" alt="A kept picture"' in chapter
    assert "<em>emph <i>raw italic</i></em> across" in chapter


def test_nothing_dangerous_passes(raw: tuple[str, Path, Path]) -> None:
    chapter, epub, _ = raw
    lowered = chapter.split("<body>", 1)[1].lower()  # the head has our own <link>s
    for needle in (
        "<script",
        "<iframe",
        "<style",
        "<form",
        "<input",
        "<object",
        "<embed",
        "<link",
        "<base",
        "onclick",
        "onerror",
        "javascript:",
        "evil",
    ):
        assert needle not in lowered, needle
    with zipfile.ZipFile(epub) as z:
        for name in z.namelist():
            if name.endswith(".xhtml"):
                assert "<script" not in z.read(name).decode().lower()


def test_raw_html_book_is_valid(raw: tuple[str, Path, Path]) -> None:
    _, epub, pdf = raw
    with pikepdf.open(pdf) as document:
        assert len(document.pages) >= 1
    need("java")
    from publisher.check.outputs import run_epubcheck

    assert [str(f) for f in run_epubcheck(epub) if f.severity != "USAGE"] == []


def test_what_is_removed_is_reported(tmp_path: Path) -> None:
    (tmp_path / "r.md").write_text(
        '---\ntitle: R\nraw-html: true\n---\n\nA <b onclick="x()">b</b>.\n\n<script>x</script>\n',
        encoding="utf-8",
    )
    from publisher.build import render

    lines = [str(d) for d in render(tmp_path / "r.md").diagnostics]
    assert any(
        line.endswith("r.md:6: warning: raw HTML: removed attribute onclick from <b>")
        for line in lines
    ), lines
    assert any(
        "r.md:8: warning: raw HTML: removed <script> element and its content" in line
        for line in lines
    ), lines


def test_one_warning_for_the_same_thing_on_the_same_line(tmp_path: Path) -> None:
    """1 MB of one unclosed tag was 166,000 times the same warning (its memory, and
    a terminal's worth of lines): the same note on the same line is one warning."""
    (tmp_path / "s.md").write_text(
        "---\ntitle: S\nraw-html: true\n---\n\n" + "<span>" * 5_000 + "\n\n<i>x</i> <i>y</i>\n",
        encoding="utf-8",
    )
    from publisher.build import render

    lines = [str(d) for d in render(tmp_path / "s.md").diagnostics]
    assert lines == [
        f"{tmp_path / 's.md'}:6: warning: raw HTML: removed <span> tag: raw HTML is nested "
        "more than 100 deep (its content is kept)"
    ], lines[:3]


def test_off_by_default(tmp_path: Path) -> None:
    (tmp_path / "d.md").write_text("---\ntitle: D\n---\n\n<b>x</b> <script>y</script>\n")
    from publisher.build import render

    body = render(tmp_path / "d.md").chapters[0].body
    assert "&lt;b&gt;x&lt;/b&gt;" in body and "<script" not in body


def test_raw_html_wraps_markdown(tmp_path: Path) -> None:
    (tmp_path / "w.md").write_text(
        '---\ntitle: W\nraw-html: true\n---\n\n<div class="note">\n\nA *Markdown* '
        "paragraph.\n\n- a list\n\n</div>\n\nAfter.\n\n<div>never closed\n",
        encoding="utf-8",
    )
    from publisher.build import render

    body = render(tmp_path / "w.md").chapters[0].body
    assert (
        '<div class="note">\n<p>A <em>Markdown</em> paragraph.</p>\n<ul>\n<li>a list</li>'
        "\n</ul>\n</div>\n<p>After.</p>"
    ) in body
    assert "<div>never closed\n</div></section>" in body  # closed where the chapter ends
