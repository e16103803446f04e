"""Properties over generated Markdown: whatever an author types (control characters,
astral and right-to-left text, combining marks, deep nesting, big tables) renders
to well-formed XHTML with unique ids; a few generated books go all the way to an
EPUB that EPUBCheck accepts (one EPUBCheck run for all of them) and a PDF that opens."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from publisher.build import build
from publisher.model import BookMeta, BuildOptions, Identifier, Manuscript, Resource, SourceFile
from publisher.render.book import parse_body, render_book
from publisher.source.metadata import EXTENSION_KEYS, KNOWN_KEYS

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


# --- collisions: names, ids and languages ---------------------------------------------
# Inputs of the kinds that gave an EPUB EPUBCheck refuses with exit 0: images whose
# names differ only in case or normal form, a cover also shown in the text, author
# ids equal to the ids publisher generates, and lang values of every form in every
# place. Whatever is built from them must be valid; a refusal is one error line.

IMAGE_NAMES = [
    "cover.jpg",
    "Cover.jpg",
    "COVER.JPG",
    "cover.png",
    "Foo.png",
    "foo.png",
    "FOO.png",
    "sub/foo.png",
    "Sub/Foo.png",
    "caf\u00e9.png",
    "cafe\u0301.png",
    "a b.png",
    "a-b.png",
]
AUTHOR_IDS = [
    *("fn-c1-1", "fn-c2-1", "fnref-c1-1", "fnref-c1-1-2", "section-1", "section-2"),
    *("section", "part-1", "title-1", "page-1", "page-2", "toc", "toc-title", "cover"),
    *("titlepage", "copyright", "landmarks", "page-list", "same", "same-2", "same_2"),
]
LANGS = ["en", "fr-CA", "de-CH-1901", "zh-Hans", "en-US-a", "zz-a", "en-", "x", "i-klingon"]
LANGS += ["sl-rozaj-rozaj", "en_GB", "EN", "ja-Latn-hepburn-heploc", ""]


def _attrs(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append("#" + draw(st.sampled_from(AUTHOR_IDS)))
    if draw(st.booleans()):
        parts.append("lang=" + (draw(st.sampled_from(LANGS)) or '""'))
    if draw(st.booleans()):
        parts.append(".c")
    return " ".join(parts) or ".c"


@st.composite
def collision_block(draw: st.DrawFn, images: list[str]) -> str:
    kind = draw(
        st.sampled_from(
            ["heading", "heading-line", "span", "block", "note", "link", "image", "raw", "repeat"]
        )
    )
    level = "#" * draw(st.integers(1, 3))
    if kind == "heading":
        return f"{level} {draw(st.sampled_from(['Same', 'Section 1', 'Toc', 'Cover']))} {{{_attrs(draw)}}}"
    if kind == "heading-line":
        return f"{{{_attrs(draw)}}}\n{level} Heading"
    if kind == "span":
        return f"A [span]{{{_attrs(draw)}}} in text."
    if kind == "block":
        return f"{{{_attrs(draw)}}}\n\n> A quote."
    if kind == "note":
        label = draw(st.sampled_from(["1", "n", "2"]))
        return f"A call.[^{label}] Again.[^{label}]\n\n[^{label}]: A note [x]{{{_attrs(draw)}}}."
    if kind == "link":
        return f"[A link](#{draw(st.sampled_from(AUTHOR_IDS))})"
    if kind == "image" and images:
        return f"![An image](<{draw(st.sampled_from(images))}>)"
    if kind == "raw":
        ident = draw(st.sampled_from(AUTHOR_IDS))
        return f'<span id="{ident}" lang="{draw(st.sampled_from(LANGS))}">raw</span>'
    return "\n\n".join(["## Same {.c}\n\n[w]{.c}"] * draw(st.integers(1, 5)))


@st.composite
def collision_book(draw: st.DrawFn) -> tuple[list[str], str | None, bool, str]:
    images = draw(st.lists(st.sampled_from(IMAGE_NAMES), max_size=6, unique=True))
    covers = [name for name in images if name.lower().endswith((".jpg", ".png"))]
    cover = draw(st.sampled_from([None, *covers]))
    raw = draw(st.booleans())
    blocks = draw(st.lists(collision_block(images), min_size=1, max_size=10))
    return images, cover, raw, "\n\n".join(blocks)


def write_collision_book(folder: Path, book: tuple[list[str], str | None, bool, str]) -> None:
    from PIL import Image

    images, cover, raw, text = book
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for n, name in enumerate(images):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        kind = "JPEG" if name.lower().endswith(".jpg") else "PNG"
        Image.new("RGB", (8 + n, 8), (40 * n % 256, 90, 160)).save(path, kind)
    extra = (f"cover-image: '{cover}'\n" if cover else "") + ("raw-html: true\n" if raw else "")
    (folder / "book.md").write_text(
        f"---\ntitle: Collisions\nlang: en\n{extra}---\n\n# Chapter\n\n{text}\n\n"
        "# Second\n\nA [link](#same) and a note.[^z]\n\n[^z]: The last note.\n",
        encoding="utf-8",
    )


OPF_NS = "{http://www.idpf.org/2007/opf}"


def assert_structurally_valid(epub: Path) -> None:
    """What EPUBCheck would refuse in these classes, checked without Java: names
    unique after NFC and case folding, the manifest matching the container, one
    cover image, ids unique in each document, every internal link and image
    reaching its target, every lang well-formed (and equal to its xml:lang)."""
    import posixpath
    import zipfile

    from publisher.langtag import well_formed
    from publisher.names import folded

    with zipfile.ZipFile(epub) as z:
        names = z.namelist()
        assert len({folded(n) for n in names}) == len(names), names
        opf = etree.fromstring(z.read("EPUB/content.opf"))
        manifest = [item for item in opf.iter(f"{OPF_NS}item")]
        hrefs = [str(item.get("href")) for item in manifest]
        assert len({folded(h) for h in hrefs}) == len(hrefs), hrefs
        assert {f"EPUB/{h}" for h in hrefs} == set(names) - {
            "mimetype",
            "META-INF/container.xml",
            "EPUB/content.opf",
        }
        assert sum("cover-image" in (i.get("properties") or "") for i in manifest) == 1
        documents = {
            name: etree.fromstring(z.read(name)) for name in names if name.endswith(".xhtml")
        }
    ids: dict[str, set[str]] = {}
    for name, root in documents.items():
        found = [e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")]
        assert len(found) == len(set(found)), (name, Counter(found).most_common(3))
        ids[name] = {str(i) for i in found}
    for name, root in documents.items():
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            lang, xml_lang = element.get("lang"), element.get(f"{{{XML_NS}}}lang")
            for value in (lang, xml_lang):
                assert value is None or well_formed(value), (name, value)
            assert lang == xml_lang or lang is None or xml_lang is None, (name, lang, xml_lang)
            for attribute in ("href", "src"):
                target = element.get(attribute)
                if not target or ":" in target.split("#")[0].split("/")[0]:
                    continue
                file, _, fragment = target.partition("#")
                path = (
                    posixpath.normpath(posixpath.join(posixpath.dirname(name), file))
                    if file
                    else name
                )
                assert path in names, (name, target)
                if fragment and path in ids:
                    assert fragment in ids[path], (name, target)


XML_NS = "http://www.w3.org/XML/1998/namespace"


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(collision_book())
def test_colliding_names_ids_and_langs_build_a_valid_epub(
    tmp_path: Path, book: tuple[list[str], str | None, bool, str]
) -> None:
    """Exit 0 implies a valid EPUB (checked structurally here, in both tiers; the
    slow test below runs EPUBCheck itself on a few); a refusal is one error line."""
    from publisher.errors import PublisherError

    folder = tmp_path / "book"
    write_collision_book(folder, book)
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        result = build(BuildOptions(folder, folder / "out", STYLES, ("epub",)))
    except PublisherError as error:
        line = str(error)
        assert "\n" not in line and ": error: " in f": {line}", line
        return
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved
    assert_structurally_valid(result.outputs[0].path)


@pytest.mark.slow  # builds four books (EPUB and PDF: print page ids too), EPUBCheck on each
def test_generated_collisions_pass_epubcheck(tmp_path: Path) -> None:
    from publisher.check.outputs import run_epubcheck
    from publisher.errors import PublisherError

    built: list[tuple[Path, str]] = []

    @settings(
        max_examples=4,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(collision_book())
    def one_book(book: tuple[list[str], str | None, bool, str]) -> None:
        folder = tmp_path / f"book-{len(built)}"
        write_collision_book(folder, book)
        try:
            result = build(BuildOptions(folder, folder / "out", STYLES))
        except PublisherError as error:
            assert "\n" not in str(error), str(error)
            return
        epub = next(o.path for o in result.outputs if o.format == "epub")
        assert_structurally_valid(epub)
        built.append((epub, repr(book)))

    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        one_book()
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved
    need("java")
    assert built, "every generated book was refused"
    for epub, book in built:
        findings = [f for f in run_epubcheck(epub) if f.severity not in ("USAGE", "INFO")]
        assert not findings, "\n".join(map(str, findings)) + "\n\n" + book


# --- the outcome, through the command line -------------------------------------------
# Whatever is generated, `publisher build` ends one of two ways: exit 0 with valid
# outputs (an EPUB whose names, ids, links and langs hold; a PDF that opens, whose
# cost was inside the budget), or exit 2 with one `file[:line]: error:` line, last.
# Never exit 70 (an internal error), never a traceback. Time is not measured here
# (`invoke bench --limits` does): the budget is held by the limits, and these check
# that the limits hold and that the estimate they use does not count too low.

ERROR_LINE = re.compile(r"^\S[^\n]*?(?::\d+)?: error: \S")


def publish(folder: Path, *only: str) -> tuple[int, list[str]]:
    """`publisher build FOLDER [--only FORMAT]`, in this process: exit code, stderr lines."""
    from publisher.app.cli import main

    argv = ["build", str(folder), "-o", str(folder / "out"), "-q", "-f"]
    if only:
        argv += ["--only", only[0]]
    err = io.StringIO()
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved
    return code, [line for line in err.getvalue().splitlines() if line.strip()]


def assert_valid_outcome(folder: Path, code: int, lines: list[str], *only: str) -> bool:
    """True when built (and the outputs are valid), False when refused in one line."""
    text = "\n".join(lines)
    assert code in (0, 2), text
    assert "Traceback" not in text and "internal error" not in text, text
    if code == 2:
        errors = [line for line in lines if ": error: " in f": {line}"]
        assert errors == [lines[-1]], text
        assert ERROR_LINE.match(lines[-1]), text  # names the file (and line) to fix
        return False
    out = folder / "out"
    if not only or only[0] == "epub":
        assert_structurally_valid(next(out.glob("*.epub")))
    if not only or only[0] == "pdf":
        import pikepdf

        with pikepdf.open(next(out.glob("*.pdf"))) as pdf:
            assert len(pdf.pages) >= 1
    return True


# YAML: every key publisher reads and some it does not, with values of every kind:
# escapes that make control characters, nesting, anchors and aliases (a bomb of
# them too), tags, broken flow collections, long and odd text.
YAML_KEYS = [
    *KNOWN_KEYS,
    *EXTENSION_KEYS,
    *("keywords", "creator", "contributor", "abstract", "license", "belongs-to-collection"),
    *("group-position", "chapters", "nonsense", "Title", "x-y"),
]
YAML_SCALARS = [
    *('""', "~", "null", "true", "no", "0", "-1", "3", "1e400", ".nan", "2024-13-45"),
    *("2024-02-29", '"\\0"', '"\\x07"', '"\\e"', '"\\uFFFE"', '"\\uD800"', "'a''b'"),
    *("!!binary aGVsbG8=", "!!python/object:os.system x", "!!str 1", "[1, 2", "{a: b"),
    *("@x", "`x`", '"a\\tb"', "c.png", "../outside.png", "/etc/passwd", '"a\\0b.png"'),
    *("print", "screen", "A4", "20mm 20mm", "1mm 1mm 1mm 1mm", "ua-1", "x-4", "en", "ar"),
    *("zz-a", "en_GB", "default", "../styles", "em", "&a x", "*a", "*nothing"),
    '"' + "x" * 3000 + '"',
    '"' + "\u0301" * 400 + '"',
]


def _yaml_scalar() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(YAML_SCALARS),
        st.text(PRINTABLE, max_size=30).map(lambda t: json.dumps(t, ensure_ascii=False)),
    )


def _yaml_value() -> st.SearchStrategy[str]:
    return st.recursive(
        _yaml_scalar(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
            st.dictionaries(st.sampled_from(YAML_KEYS), inner, max_size=3).map(
                lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs.items()) + "}"
            ),
        ),
        max_leaves=12,
    )


# A value each key takes (most of the time), so that most books get built.
VALID = {
    "title": "A title",
    "subtitle": "Its subtitle",
    "author": "[A. Author, B. Author]",
    "lang": "fr-CA",
    "date": "2024-02-29",
    "toc-depth": "2",
    "profile": "screen",
    "page-size": "20mm 20mm",
    "margins": "2mm 2mm 2mm 2mm",
    "pdf-standard": "ua-2",
    "cover-image": "c.png",
    "dashes": "em",
    "split-level": "2",
    "raw-html": "true",
    "crop-marks": "true",
    "style": "classic",
    "epub-image-size": "800",
    "keywords": "[a, b]",
    "group-position": "3",
    "bleed": "3mm",
}


@st.composite
def _yaml_pair(draw: st.DrawFn, key: str, odds: int) -> tuple[str, str]:
    if draw(st.integers(0, odds - 1)):  # odds - 1 times in odds, a value the key takes
        return key, VALID.get(key, '"A value"')
    return key, draw(_yaml_value())


@st.composite
def front_matter(draw: st.DrawFn, odds: int = 8) -> str:
    """Front matter; one value in `odds` is any generated value (else one its key
    takes), and one book in `odds` // 2 holds a tree of aliases."""
    lines = []
    if not draw(st.integers(0, odds // 2 - 1)):  # a tree of aliases: each level doubles
        levels = draw(st.sampled_from([2, 5, 10, 13, 14, 20, 30]))
        lines.append("a0: &a0 [x, x]")
        lines += [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}]" for n in range(1, levels)]
    keys = draw(st.lists(st.sampled_from(YAML_KEYS), max_size=8, unique=True))
    if "title" not in keys and draw(st.integers(0, 9)):  # a book without one, now and then
        keys.insert(0, "title")
    elif "title" in keys:  # and rarely one the build cannot use
        keys.remove("title")
        keys.insert(0, "title")
    lines += [": ".join(draw(_yaml_pair(key, odds))) for key in keys]
    return "---\n" + "\n".join(lines) + "\n---\n\n"


@settings(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    max_examples=40,
)
@given(front_matter())
def test_any_front_matter_builds_a_valid_epub_or_is_refused_in_one_line(
    tmp_path: Path, front: str
) -> None:
    from PIL import Image

    folder = tmp_path / "book"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8), "teal").save(folder / "c.png")
    (folder / "book.md").write_text(front + "# Chapter\n\nText.\n", encoding="utf-8")
    event("built" if assert_valid_outcome(folder, *publish(folder, "epub"), "epub") else "refused")


@st.composite
def blown_up(draw: st.DrawFn) -> str:
    """A generated block, repeated up to thousands of times: the costs that grow."""
    text = draw(book_text(PRINTABLE, ["\x01", "\u200f", "\u0301", "\ufeff"]))
    times = draw(st.sampled_from([1, 10, 100, 1000, 10_000]))
    times = max(1, min(times, BLOWN_UP // (len(text) + 2)))  # at most about 200 KB
    return "# Chapter\n\n" + "\n\n".join([text] * times) + "\n"


BLOWN_UP = 200_000
BUDGET_SHARE = 10


@contextlib.contextmanager
def _budget_divided_by(share: int) -> Iterator[None]:
    from publisher.pdf import layout

    saved = layout.SECONDS, layout.MEBIBYTES
    layout.SECONDS, layout.MEBIBYTES = saved[0] / share, saved[1] / share
    try:
        yield
    finally:
        layout.SECONDS, layout.MEBIBYTES = saved


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], max_examples=30)
@given(blown_up())
def test_the_pdf_cost_is_counted_before_layout_and_never_too_low(text: str) -> None:
    """Every generated book, blown up, is either inside the budget or refused before
    any layout in one line (F03, F05, F06, F11); and what WeasyPrint would be given
    (the print's elements) is not more than the estimate counted."""
    from lxml import html as lxml_html

    from publisher.errors import ResourceError
    from publisher.pdf.cost import MEBIBYTES, SECONDS, allowance, estimate
    from publisher.pdf.layout import PdfInputs, check, print_html
    from publisher.pdf.profiles import make_profile

    root = Path("/virtual")
    meta = BookMeta(title="T", lang="en", identifier=Identifier("urn:x"))

    def locate(source: Path, src: str, line: int | None) -> Resource:
        return Resource(root / "ok.png", "images/ok.png", "image/png", 10, 10, b"png")

    book = render_book(Manuscript(meta, (SourceFile(root / "a.md", text),), root), locate)
    profile = make_profile("print")
    cost = estimate(book, profile, True)
    inputs = PdfInputs(book, STYLES, None, profile, None, None)
    try:
        with _budget_divided_by(BUDGET_SHARE):  # the same rule, met at a tenth of the size
            check(inputs)
    except ResourceError as error:
        event("refused")
        assert "\n" not in str(error)
        seconds, mebibytes = SECONDS / BUDGET_SHARE, MEBIBYTES / BUDGET_SHARE
        assert (
            cost.seconds > seconds
            or cost.mebibytes > mebibytes
            or cost.pages > 3000
            or (cost.notes > 10_000 or cost.cells > 20_000)
        ), str(error)
        return
    event("inside the budget")
    assert cost.seconds <= SECONDS / BUDGET_SHARE * allowance(book)
    assert cost.mebibytes <= MEBIBYTES / BUDGET_SHARE * allowance(book)
    printed = lxml_html.document_fromstring(print_html(book)).find("body")
    assert printed is not None
    # A formula is one drawing in the PDF (pdf/math.py), whatever its MathML.
    inside = {id(e) for m in printed.iter("{*}math") for e in m.iterdescendants()}
    elements = sum(1 for e in printed.iter() if isinstance(e.tag, str) and id(e) not in inside)
    assert elements <= 1.25 * cost.elements + 60, (elements, cost.elements)


@pytest.mark.slow  # builds EPUBs and PDFs, then EPUBCheck on each EPUB built
def test_generated_front_matter_and_svgs_give_valid_epubs_and_pdfs(tmp_path: Path) -> None:
    """Generated front matter, and generated SVG drawings (tests/test_svg.py's
    strategy), through `publisher build` to both outputs: exit 0 means an EPUB
    EPUBCheck accepts and a PDF that opens; else one error line, never exit 70."""
    from PIL import Image

    from publisher.check.outputs import run_epubcheck
    from test_svg import svg_documents

    built: list[tuple[Path, str]] = []

    @settings(
        max_examples=6,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(front_matter(odds=40), svg_documents())
    def one(front: str, svg: str) -> None:
        folder = tmp_path / f"book-{len(built)}-{id(front)}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8), "teal").save(folder / "c.png")
        (folder / "x.svg").write_text(svg, encoding="utf-8")
        (folder / "book.md").write_text(
            front + "# Chapter\n\nText.\n\n![A drawing](x.svg)\n", encoding="utf-8"
        )
        code, lines = publish(folder)
        if assert_valid_outcome(folder, code, lines):
            built.append((next((folder / "out").glob("*.epub")), front + svg))

    one()
    need("java")
    assert built, "every generated book was refused"
    for epub, source in built:
        findings = [f for f in run_epubcheck(epub) if f.severity not in ("USAGE", "INFO")]
        assert not findings, "\n".join(map(str, findings)) + "\n\n" + source
