"""Properties over generated Markdown: whatever an author types (control characters,
astral and right-to-left text, combining marks, deep nesting, big tables) renders
to well-formed XHTML with unique ids; a few generated books go all the way to an
EPUB that EPUBCheck accepts (one EPUBCheck run for all of them) and a PDF that opens."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree

from publisher.build import build
from publisher.model import BookMeta, BuildOptions, Identifier, Manuscript, Resource, SourceFile
from publisher.render.book import parse_body, render_book

from conftest import STYLES, need

XML_ID = "{http://www.w3.org/XML/1998/namespace}id"

# Characters that trouble XML, bidi, shaping or counting.
ODD = [
    *"\x00\x01\x07\x08\x0b\x0c\x0e\x1f\x7f\x80\x85\x9f",  # C0, DEL, C1
    *"\ufffe\uffff\U0001fffe\U0010ffff\ufdd0",  # non-characters
    *"\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c",  # bidi
    *"\u0301\u0336\u20dd\u0489\u200d\u200c\u00ad\ufeff\u2028\u2029\u00a0\u3000",
    "\U0001d538",  # 𝔸
    "\U0001f600",  # 😀
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # a ZWJ family
    "\U00020000",  # CJK extension B
    "\U000e0001",  # language tag
    "\U0010fffd",  # private use, plane 16
    "\u0639\u0631\u0628\u064a",  # Arabic
    "\u05e2\u05d1\u05e8\u05d9\u05ea",  # Hebrew
    "e\u0301\u0301\u0301\u0301\u0301",  # stacked combining marks
    "\u0301starts with a mark",
]
# Characters the shipped fonts draw (a book that uses others stops with a clear
# error, by design), plus controls and invisible marks that are removed or ignored.
PRINTABLE = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x17F, blacklist_categories=("Cn", "Cc")),
    st.characters(min_codepoint=0x391, max_codepoint=0x3C9, blacklist_categories=("Cn",)),
    st.characters(min_codepoint=0x410, max_codepoint=0x44F),
    st.sampled_from(list("\x01\x08\x0b\x1f\x7f\u200e\u200f\u202e\u2067\u2069\u0301\u0308\u00ad")),
)
ANY = st.characters(blacklist_categories=("Cs",))  # anything but lone surrogates
SYNTAX = [
    *("*", "_", "**", "__", "`", "``", "[", "]", "(", ")", "![", "<", ">", "&", "&amp;"),
    *("&#0;", "&#x1;", "&#xD800;", "&bogus;", "#", "\\", "|", "-", "---", "^", "[^1]"),
    *("[^n]", "{", "}", "{#id}", "{.c}", "{lang=fr}", ":", "~~", "\n", "  \n", "<b>", "</i>"),
    *("<script>", "<!--", "-->", "<![CDATA[", "]]>", "http://example.com/", "<http://x.y>"),
    *("[a](#b)", "[c](other.md)", "[d](javascript:x)", "...", "--", '"', "'", "$$", "\t"),
]


def inline(alphabet: st.SearchStrategy[str], odd: list[str]) -> st.SearchStrategy[str]:
    pieces = st.one_of(st.text(alphabet, max_size=12), st.sampled_from(odd + SYNTAX))
    return st.lists(pieces, max_size=12).map("".join)


def one_line(text: str) -> str:
    return " ".join(text.replace("|", "\\|").splitlines())


@st.composite
def block(draw: st.DrawFn, alphabet: st.SearchStrategy[str], odd: list[str]) -> str:
    text = draw(inline(alphabet, odd))
    kind = draw(
        st.sampled_from(
            [
                "para",
                "heading",
                "list",
                "ordered",
                "quote",
                "emphasis",
                "links",
                "table",
                "code",
                "note",
                "deflist",
                "image",
                "html",
                "attrs",
            ]
        )
    )
    depth = draw(st.integers(1, 40))
    if kind == "para":
        return text
    if kind == "heading":
        return "#" * draw(st.integers(1, 7)) + " " + one_line(text)
    if kind == "list":
        return "\n".join("  " * i + f"- {one_line(text)[:20]} {i}" for i in range(depth))
    if kind == "ordered":
        return "\n".join("   " * i + f"{i + 1}. item {i}" for i in range(depth))
    if kind == "quote":
        return ">" * depth + " " + text
    if kind == "emphasis":
        mark = draw(st.sampled_from(["*", "_", "**", "~~", "`"]))
        return mark * depth + one_line(text) + mark * depth
    if kind == "links":
        return "[" * depth + one_line(text) + "](#x)" * depth
    if kind == "table":
        columns = draw(st.integers(1, 20))
        rows = draw(st.integers(0, 40))
        align = draw(st.sampled_from(["---", ":--", "--:", ":-:"]))
        cell = one_line(text)[:15] or " "
        head = "| " + " | ".join(f"h{c}" for c in range(columns)) + " |"
        rule = "|" + "|".join(align for _ in range(columns)) + "|"
        body = ["| " + " | ".join(f"{cell}{r}" for _ in range(columns)) + " |" for r in range(rows)]
        return "\n".join([head, rule, *body])
    if kind == "code":
        return f"```{draw(st.sampled_from(['', 'python', 'html', 'no such']))}\n{text}\n```"
    if kind == "note":
        label = draw(st.sampled_from(["1", "n", "x y", "^"]))
        return f"Call[^{label}].\n\n[^{label}]: {text}"
    if kind == "deflist":
        return f"{one_line(text) or 'Term'}\n:   {text}"
    if kind == "image":
        return f"![{one_line(text)}](ok.png)"
    if kind == "html":
        return f"<div class='x'>\n{text}\n</div>"
    return f"[{one_line(text)}]{{#{draw(st.sampled_from(['a', '1', 'a:b', 'x']))} .c}}"


def book_text(alphabet: st.SearchStrategy[str], odd: list[str]) -> st.SearchStrategy[str]:
    return st.lists(block(alphabet, odd), min_size=1, max_size=8).map("\n\n".join)


def render(*texts: str, lang: str = "en") -> list[str]:
    """Each chapter's XHTML body for in-memory files ch1.md, ch2.md, ..."""
    root = Path("/virtual")
    sources = tuple(SourceFile(root / f"ch{n}.md", t) for n, t in enumerate(texts, start=1))
    meta = BookMeta(title="T", lang=lang, identifier=Identifier("urn:x"))

    def locate(source: Path, src: str, line: int | None) -> Resource | None:
        return Resource(root / "ok.png", "images/ok.png", "image/png", 10, 10)

    book = render_book(Manuscript(meta, sources, root), locate)
    return [c.body for c in (*book.front, *book.chapters)]


def assert_well_formed_with_unique_ids(bodies: list[str]) -> None:
    ids: Counter[str] = Counter()
    for body in bodies:
        tree = parse_body(body)  # raises if not well-formed
        for element in tree.iter():
            if isinstance(element.tag, str) and element.get("id") is not None:
                ids[element.get("id", "")] += 1
    duplicates = [i for i, n in ids.items() if n > 1]
    assert not duplicates, duplicates


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.lists(book_text(ANY, ODD), min_size=1, max_size=3),
    st.sampled_from(["en", "de", "fr", "ru", "ar", "he", "ja", "el"]),
)
def test_any_markdown_renders_to_well_formed_xhtml(texts: list[str], lang: str) -> None:
    assert_well_formed_with_unique_ids(render(*texts, lang=lang))


@given(st.text(ANY, max_size=400))
def test_any_text_renders_to_well_formed_xhtml(text: str) -> None:
    assert_well_formed_with_unique_ids(render(text))


@pytest.mark.parametrize(
    "text",
    [
        "\n".join("  " * i + "- x" for i in range(1000)),
        ">" * 1000 + " deep",
        "*" * 3000 + "x" + "*" * 3000,
        "[" * 3000 + "x" + "](y)" * 3000,
        "| a " * 300 + "|\n" + "|---" * 300 + "|\n" + ("| b " * 300 + "|\n") * 30,
        "\u202e" * 1000 + "\u0301" * 1000 + "\U0001f600" * 1000,
        "# " + "\u200f" * 100 + "\n\n# " + "\u200f" * 100,
        "## {#x}\n\n## {#x}\n\n[a]{#x}\n\n[^x]: n\n\n[^x]",
    ],
    ids=["list", "quote", "emphasis", "links", "table", "marks", "rtl-headings", "ids"],
)
def test_extreme_nesting_renders_to_well_formed_xhtml(text: str) -> None:
    assert_well_formed_with_unique_ids(render(text))


def test_emphasis_nested_past_lxml_depth_limit_renders() -> None:
    assert_well_formed_with_unique_ids(render("*" * 4094 + "x" + "*" * 4094))


@pytest.mark.slow  # builds five books, then runs EPUBCheck
def test_generated_books_build_and_pass_epubcheck(tmp_path: Path) -> None:
    """A few generated books, each built to an EPUB and a PDF that opens; then all
    of them as the chapters of one book, so that EPUBCheck runs once."""
    import pikepdf

    from publisher.check.outputs import run_epubcheck

    png = Path(__file__).parent / "data" / "hostile" / "ok.png"
    texts: list[str] = []

    @settings(
        max_examples=5,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: each try is a build
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(book_text(PRINTABLE, ["\x01", "\u200f", "\u0301", "\ufeff"]))
    def one_book(text: str) -> None:
        folder = tmp_path / f"book-{len(texts)}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        shutil.copy(png, folder / "ok.png")
        (folder / "book.md").write_text(
            f"---\ntitle: Generated {len(texts)}\nlang: en\n---\n\n# Chapter\n\n{text}\n",
            encoding="utf-8",
        )
        result = build(BuildOptions(folder, folder / "out", STYLES))
        pdf = next(o.path for o in result.outputs if o.format == "pdf")
        with pikepdf.open(pdf) as document:
            assert len(document.pages) >= 1
        texts.append(text)

    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        one_book()
        folder = tmp_path / "all"
        folder.mkdir()
        shutil.copy(png, folder / "ok.png")
        (folder / "book.yaml").write_text("title: Generated books\nlang: en\n", encoding="utf-8")
        for n, text in enumerate(texts, start=1):
            (folder / f"{n:02d}.md").write_text(f"# Book {n}\n\n{text}\n", encoding="utf-8")
        result = build(BuildOptions(folder, tmp_path / "all-out", STYLES, ("epub",)))
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved
    need("java")
    findings = [
        f for f in run_epubcheck(result.outputs[0].path) if f.severity not in ("USAGE", "INFO")
    ]
    assert not findings, "\n".join(map(str, findings)) + "\n\n" + "\n----\n".join(texts)


def test_parse_body_rejects_what_it_should() -> None:
    """The oracle itself: parse_body is strict XML."""
    with pytest.raises(etree.XMLSyntaxError):
        parse_body("<p>\x01</p>")
    with pytest.raises(etree.XMLSyntaxError):
        parse_body("<br>")
