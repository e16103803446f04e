"""The Markdown dialect, rendered to well-formed XHTML with EPUB semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.errors import ResourceError
from publisher.markdown import ChapterEnv, make_parser, render
from publisher.model import Resource
from publisher.render import parse_body


def html(text: str, lang: str = "en", used: set[str] | None = None) -> str:
    def resolve(src: str, line: int | None) -> str:
        return f"images/{src}"

    env = ChapterEnv(doc_id="c1", used_ids=set() if used is None else used, resolve_image=resolve)
    out = render(make_parser(lang), text, env)
    parse_body(out)  # well-formed, or this raises
    return out


def test_smart_quotes_follow_the_language() -> None:
    assert "“quoted” and ‘single’ — isn’t it…" in html("\"quoted\" and 'single' --- isn't it...")
    assert "„Zitat“" in html('"Zitat"', "de")
    assert "«цитата»" in html('"цитата"', "ru")
    assert "«\u202fcitation\u202f»" in html('"citation"', "fr")


def test_only_pandoc_smart_punctuation() -> None:
    out = html("(c) +- ?.... 1--2")
    assert "(c) +- ?" in out and "1–2" in out


def test_raw_html_is_text() -> None:
    out = html('<script>alert(1)</script> <b onclick="x">b</b>')
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_heading_ids_are_unique_across_chapters() -> None:
    used: set[str] = set()
    first = html("## Intro\n\n## Intro\n", used=used)
    second = html("## Intro\n", used=used)
    assert 'id="intro"' in first and 'id="intro-2"' in first
    assert 'id="intro-3"' in second


def test_heading_id_never_starts_with_a_digit() -> None:
    assert 'id="s-1984"' in html("## 1984\n")


def test_footnotes_have_epub_semantics() -> None:
    out = html("Text[^a] and again[^a].\n\n[^a]: The note.\n")
    assert (
        '<a class="noteref" epub:type="noteref" role="doc-noteref" id="fnref-c1-1" href="#fn-c1-1">1</a>'
        in out
    )
    assert 'id="fnref-c1-1-2"' in out  # the second call to the same note
    assert '<aside class="footnote" epub:type="footnote" role="doc-footnote" id="fn-c1-1">' in out
    assert 'role="doc-backlink" href="#fnref-c1-1"' in out


def test_image_alone_becomes_a_figure() -> None:
    out = html('![A map of Asia](map.png "The route")\n\nInline ![icon](i.png) image.\n')
    assert (
        '<figure><img src="images/map.png" alt="A map of Asia" /><figcaption>The route</figcaption></figure>'
        in out
    )
    assert '<p>Inline <img src="images/i.png" alt="icon" /> image.</p>' in out


def test_tables_and_definition_lists() -> None:
    out = html("| a | b |\n|:--|--:|\n| 1 | 2 |\n\nTerm\n: Definition\n")
    assert "<table>" in out and 'style="text-align:right"' in out
    assert "<dl>" in out and "<dt>Term</dt>" in out


@pytest.mark.parametrize("text", ["\x01\x02", "<a/>", "&bogus;", "]]>", "<![CDATA[x]]>", "\ufffd"])
def test_odd_input_stays_well_formed(text: str) -> None:
    html(text)


def test_locator_rejects_paths_outside_the_fence(tmp_path: Path) -> None:
    from publisher.resources import Locator

    (tmp_path / "book").mkdir()
    (tmp_path / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "book" / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    locate = Locator(tmp_path / "book")
    chapter = tmp_path / "book" / "ch.md"
    assert locate(chapter, "ok.png", 1) == Resource(
        (tmp_path / "book" / "ok.png").resolve(), "images/ok.png", "image/png"
    )
    assert locate(chapter, "./ok.png", 2).href == "images/ok.png"  # packaged once
    for src in ("../secret.png", "/etc/passwd", "file:///etc/passwd", "http://127.0.0.1/x.png"):
        with pytest.raises(ResourceError):
            locate(chapter, src, 3)
    (tmp_path / "book" / "fake.png").write_text("not a png")
    with pytest.raises(ResourceError, match="not a valid PNG"):
        locate(chapter, "fake.png", 4)
