"""The EPUB's character cascade (epub/typeset.py) matched by signatures: the fast
path finds the same text in the same computed styles as matching every element
against every selector with cssselect2 (`per_element`, the straightforward way),
on the example books in every shipped style, on the benchmark's long book, on a
sheet made of the tricky cases, and on generated documents and sheets."""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.build import render
from publisher.epub import typeset, writer
from publisher.model import RenderedBook
from publisher.source.styles import load_style

from conftest import ARTICLE, GUIDE, ROOT, STYLES

BOOKS = {
    "article": ARTICLE,
    "field-guide": GUIDE,
    "novel": ROOT / "examples" / "novel",
    "feature": ROOT / "examples" / "feature",
}
STYLE_NAMES = ("default", "classic", "news", "modern")
XHTML = '<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><title>t</title></head>'


def same_texts(documents: list[str], sheets: list[str]) -> typeset.Texts:
    """The fast cascade's findings, checked against the straightforward one's."""
    fast = typeset.collect(documents, sheets)
    slow = typeset.collect(documents, sheets, per_element=True)
    assert fast.chars == slow.chars
    assert fast.runs == slow.runs
    return fast


def uses_signatures(sheets: list[str]) -> bool:
    rules = typeset._Rules()
    rules.extend([typeset.UA_SHEET], origin=0)
    rules.extend(sheets, origin=1)
    return isinstance(typeset._engine(rules), typeset._Signatures)


def epub_texts(book: RenderedBook, style: str) -> tuple[list[str], list[str]]:
    """The documents and sheets the EPUB writer gives the cascade."""
    inputs = writer.EpubInputs(
        book, STYLES, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), style=load_style(STYLES, style)
    )
    css = writer._packaged_css(inputs)
    pages = writer._pages(inputs, tuple(href for href, _ in css.sheets), "images/cover.jpg")
    return pages.texts(), [text.decode("utf-8") for _, text in css.sheets]


@pytest.fixture(scope="module")
def rendered() -> dict[str, RenderedBook]:
    return {name: render(path) for name, path in BOOKS.items()}


@pytest.mark.parametrize("style", STYLE_NAMES)
@pytest.mark.parametrize("book", sorted(BOOKS))
def test_the_example_books_in_every_style(
    rendered: dict[str, RenderedBook], book: str, style: str
) -> None:
    documents, sheets = epub_texts(rendered[book], style)
    assert uses_signatures(sheets)  # the shipped sheets need no fallback
    found = same_texts(documents, sheets)
    assert len(found.runs) > 3  # body, headings, notes...: the styles differ


@pytest.mark.slow
def test_the_benchmark_book(tmp_path_factory: pytest.TempPathFactory) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench import generate_book
    finally:
        sys.path.remove(str(ROOT / "bench"))
    source = generate_book(tmp_path_factory.mktemp("bench") / "book.md")
    documents, sheets = epub_texts(render(source), "default")
    assert len(documents) > 160
    same_texts(documents, sheets)


TRICKY_BODY = """<body>
<section class="chapter" id="c1">
<h1 class="t">Aa</h1>
<p>Bb</p>
<p class="x">Cc</p>
<!-- a comment between siblings -->
<p>Dd <em>Ee</em> <span lang="fr-CA">Ff</span></p>
<div><p>Gg</p><p class="x">Hh<em>Ii</em></p></div>
<p></p>
<blockquote><p>Jj</p><p>Kk</p></blockquote>
<ul><li>Ll</li><li class="x y">Mm</li><li>Nn</li></ul>
<ol><li>Oo</li></ol>
<p data-k="alpha beta" title="Hello-World">Pp</p>
</section>
<aside lang="de"><p>Qq</p><p><em>Rr</em></p></aside>
<hr/><p>Ss</p>
</body>"""

TRICKY_SHEET = """
body { font-family: "Serif X", serif; }
section > p:first-child { font-weight: 900; }
h1 + p { font-style: italic; }
h1 + p + * { text-transform: uppercase; }
h1 ~ p { font-family: "Sans Y"; }
p ~ p + p { font-variant: small-caps; }
div p { text-transform: lowercase; }
div > p:last-child em { font-weight: 300; }
section p:not(.x) em { font-weight: bold; }
:is(ul, ol) > li:last-child::after { content: "\\2020"; }
li:only-child::before { content: "\\2021"; }
li:nth-child(2n+1) { font-style: oblique; }
li:first-of-type::before { content: "\\00BB"; }
p:empty::before { content: "\\2205"; }
[data-k~=beta] { font-weight: 200; }
[title|=Hello]::after { content: attr(title); }
[title^=Hel][title$=rld][title*="o-W"] { text-transform: capitalize; }
[lang|=fr] { font-style: italic; }
:lang(de) p { font-family: "Sans Y"; }
p:lang(de) { font-variant-caps: petite-caps; }
:lang(de) p:has(em) { font-weight: 800; }
:root body hr + p { font-weight: 600; }
*:not(p):not(li) > em { font-weight: 500; }
.x.y { font-variant-caps: all-small-caps; }
#c1 > h1 { font-weight: 100; }
blockquote p:first-child::first-line { font-style: italic; }
blockquote p + p::first-letter { font-weight: 900; }
:where(section) p:last-child::first-letter { font-family: "Sans Y"; }
ul li:not(:first-child):not(:last-child) { display: none; }
p:first-of-type { font-feature-settings: "onum"; }
section > :nth-last-child(2) { font-variant-numeric: tabular-nums; }
"""


def test_a_sheet_of_tricky_selectors() -> None:
    document = XHTML + TRICKY_BODY + "</html>"
    assert uses_signatures([TRICKY_SHEET])  # per element only where it must
    found = same_texts([document], [TRICKY_SHEET])
    by_text = {text: style for style, runs in found.runs.items() for text in runs}

    def style_of(text: str) -> typeset.Style:  # the run's style (or the run's so begun)
        if text in by_text:
            return by_text[text]
        return next(style for run, style in by_text.items() if run.startswith(text))

    # The cases the sheet is made of do happen: sibling chains, :not(), :lang(), :has().
    assert style_of("Bb").style == "italic"  # h1 + p
    assert style_of("Bb").families == ("sans y",)  # h1 ~ p
    assert style_of("Bb").features == {"onum"}  # p:first-of-type
    assert style_of("Cc").transform == "uppercase"  # h1 + p + *
    assert style_of("Cc").caps == "normal"  # p ~ p + p: no p before its previous p
    assert style_of("Dd ").caps == "small-caps"  # p ~ p + p
    assert style_of("Ee").weight == 700  # section p:not(.x) em
    assert style_of("Ii").weight == 300  # div > p:last-child em
    assert style_of("Ff").style == "italic"  # [lang|=fr]
    assert style_of("Rr").weight == 800  # :lang(de) p:has(em), inherited
    assert style_of("Ss").weight == 600  # :root body hr + p
    assert style_of("Qq").caps == "petite-caps"  # p:lang(de), the language inherited
    assert style_of("Bb").caps == "normal"  # the same kind of p, in English
    assert style_of("K").weight == 900  # blockquote p + p::first-letter
    assert sorted(s.style for s, runs in found.runs.items() if "Jj" in runs) == [
        "italic",  # ::first-line: the whole paragraph, to be safe
        "normal",
    ]
    assert "Mm" not in "".join(by_text)  # display: none
    assert style_of("\u2020").style == "oblique"  # li:last-child::after, li:nth-child(2n+1)


def test_an_unknown_compound_is_matched_per_element_and_an_odd_one_falls_back() -> None:
    """`*|lang` is no selector cssselect2 can match: the rule goes, the others stay."""
    sheet = '[*|lang] { font-weight: bold } p { font-family: "Serif X" }'
    found = same_texts([XHTML + "<body><p lang='en'>ab</p></body></html>"], [sheet])
    ((style, runs),) = found.runs.items()
    assert style.weight == 400 and runs == ["ab"]


# ---- generated documents and sheets ----

TAGS = ("p", "em", "div", "span", "li", "section")
CLASSES = ("a", "b")
LANGS = (None, "fr", "fr-CA", "de")


@st.composite
def element(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(TAGS))
    classes = draw(st.lists(st.sampled_from(CLASSES), max_size=2, unique=True))
    lang = draw(st.sampled_from(LANGS))
    attributes = (f' class="{" ".join(classes)}"' if classes else "") + (
        f' lang="{lang}"' if lang else ""
    )
    text = draw(st.sampled_from(("", "x", "Yz")))
    children = draw(st.lists(element(depth + 1), max_size=0 if depth > 2 else 4))
    tail = draw(st.sampled_from(("", " t")))
    return f"<{tag}{attributes}>{text}{''.join(children)}</{tag}>{tail}"


SIMPLE = (
    *("p", "em", "div", "span", "li", "*", ".a", ".b", "#i"),
    *(":first-child", ":last-child", ":only-child", ":empty", ":root", ":not(.a)"),
    *(":not(p)", ":lang(fr)", ":nth-child(2)", ":first-of-type", ":is(p, .b)", ":where(em)"),
    *("[lang]", "[class~=b]", "[lang|=fr]", ":has(em)", ":hover", ":not(div p)"),
)
DECLARATIONS = (
    "font-weight: bold",
    "font-weight: bolder",
    "font-style: italic",
    "text-transform: uppercase",
    'font-family: "Sans Y"',
    "display: none",
    'content: "Q"',
    "font-variant: small-caps",
    "list-style-type: upper-roman",
)


@st.composite
def selector(draw: st.DrawFn) -> str:
    compounds = draw(
        st.lists(
            st.lists(st.sampled_from(SIMPLE), min_size=1, max_size=3).map(
                lambda parts: "".join(
                    sorted(parts, key=lambda p: p[0].isalpha() or p == "*", reverse=True)
                )
            ),
            min_size=1,
            max_size=4,
        )
    )
    out = compounds[0]
    for compound in compounds[1:]:
        out += draw(st.sampled_from((" ", " > ", " + ", " ~ "))) + compound
    return out + draw(st.sampled_from(("", "", "::before", "::first-letter", "::first-line")))


@st.composite
def sheet(draw: st.DrawFn) -> str:
    rules = draw(
        st.lists(
            st.tuples(
                st.lists(selector(), min_size=1, max_size=2),
                st.lists(st.sampled_from(DECLARATIONS), min_size=1, max_size=2),
            ),
            max_size=6,
        )
    )
    body = 'body { font-family: "Serif X" }\n'
    return body + "\n".join(
        f"{', '.join(selectors)} {{ {'; '.join(declarations)} }}"
        for selectors, declarations in rules
    )


@given(st.lists(element(), min_size=1, max_size=4), sheet())
def test_generated_documents_and_sheets(elements: list[str], css: str) -> None:
    document = XHTML + "<body>" + "".join(elements) + "</body></html>"
    same_texts([document], [css])
