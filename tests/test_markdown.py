"""The Markdown dialect, rendered to well-formed XHTML with EPUB semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location, ResourceError
from publisher.model import BookMeta, Identifier, Manuscript, RenderedBook, Resource, SourceFile
from publisher.render.book import parse_body, render_book


def book(*texts: str, lang: str = "en", **meta: object) -> RenderedBook:
    """Chapters rendered from in-memory Markdown files ch1.md, ch2.md, ..."""
    root = Path("/virtual")
    sources = tuple(SourceFile(root / f"ch{n}.md", t) for n, t in enumerate(texts, start=1))
    info = BookMeta(title="T", lang=lang, identifier=Identifier("urn:x"), **meta)  # type: ignore[arg-type]

    def locate(source: Path, src: str, line: int | None) -> Resource | Diagnostic:
        if src.startswith("http"):
            return Diagnostic("I01", WARNING, Location(source, line), f"image '{src}' dropped")
        return Resource(root / src, f"images/{src}", "image/png", 10, 10)

    return render_book(Manuscript(info, sources, root), locate)


def html(text: str, lang: str = "en") -> str:
    out = "".join(c.body for c in book(text, lang=lang).chapters)
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
    first, second = book("## Intro\n\n## Intro\n", "## Intro\n").chapters
    assert 'id="intro"' in first.body and 'id="intro-2"' in first.body
    assert 'id="intro-3"' in second.body


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


def png(path: Path, size: tuple[int, int] = (4, 3)) -> Path:
    from PIL import Image

    Image.new("RGB", size, "red").save(path, format="PNG")
    return path


def test_locator_fences_paths_outside_the_manuscript(tmp_path: Path) -> None:
    from publisher.source.resources import Locator

    (tmp_path / "book").mkdir()
    png(tmp_path / "secret.png")
    ok = png(tmp_path / "book" / "ok.png")
    locate = Locator(tmp_path / "book")
    chapter = tmp_path / "book" / "ch.md"
    assert locate(chapter, "ok.png", 1) == Resource(
        ok.resolve(), "images/ok.png", "image/png", 4, 3
    )
    assert locate(chapter, "./ok.png", 2) is locate(chapter, "ok.png", 2)  # packaged once
    for src in ("../secret.png", "/etc/passwd", "file:///etc/passwd", "http://127.0.0.1/x.png"):
        dropped = locate(chapter, src, 3)
        assert isinstance(dropped, Diagnostic), dropped
        assert str(dropped).startswith(f"{Location(chapter, 3)}: warning: image"), str(dropped)
    (tmp_path / "book" / "fake.png").write_text("not a png")
    with pytest.raises(ResourceError, match="not a valid PNG"):
        locate(chapter, "fake.png", 4)
    png(tmp_path / "book" / "really-png.jpg")
    with pytest.raises(ResourceError, match="holds PNG data"):
        locate(chapter, "really-png.jpg", 5)
    with pytest.raises(ResourceError, match=r"ch.md:6: error: image 'gone.png' not found"):
        locate(chapter, "gone.png", 6)


def test_two_hyphens_are_an_en_dash_unless_the_book_says_em(tmp_path: Path) -> None:
    """Pandoc reads `--` as an en dash; Project Gutenberg's texts mean an em dash by it,
    which `dashes: em` says. Three hyphens are an em dash either way."""
    from publisher.build import render

    for dashes, expected in (
        ("en", "1914\u20131918 \u2014 and"),
        ("em", "1914\u20141918 \u2014 and"),
    ):
        book = tmp_path / f"{dashes}.md"
        book.write_text(f"---\ntitle: D\ndashes: {dashes}\n---\n\n1914--1918 --- and\n", "utf-8")
        assert expected in render(book).chapters[0].body


@pytest.mark.parametrize("note", ["#", "# A heading in a note", "## Sub\n\n    text"])
def test_a_heading_inside_a_note_is_the_notes_text(tmp_path: Path, note: str) -> None:
    """Found by the property test: a note's heading made the chapter cutter index past
    the body's tokens (an internal error)."""
    from publisher.build import render

    book = tmp_path / "book.md"
    book.write_text(f"---\ntitle: N\n---\n\n# One\n\nCall[^1].\n\n[^1]: {note}\n", "utf-8")
    rendered = render(book)
    assert [c.title for c in rendered.chapters] == ["One"]
    assert [e.title for e in rendered.toc] == ["One"]


def test_figure_captions_and_alt_text_get_the_typography_of_the_text() -> None:
    # markdown-it's smartquotes leaves an image's words straight: they are text too.
    out = html('![Eratosthenes\' "well" -- at noon](dot.png)\n')
    assert "Eratosthenes’ “well” – at noon" in out
    assert 'alt="Eratosthenes’ “well” – at noon"' in out
