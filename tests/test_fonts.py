"""The EPUB's fonts, lean (epub/fonts.py, epub/typeset.py): each face the book uses,
subset to the characters set in it, renamed as the OFL requires of a Modified
Version, its licence beside it; faces no text uses left out; the same bytes every
time. The PDF keeps the whole fonts (WeasyPrint subsets its own)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import signal
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from lxml import etree

from publisher.build import build
from publisher.epub import fonts
from publisher.epub.typeset import Face, Use, face_uses, match_face
from publisher.epub.writer import EpubInputs, make_epub
from publisher.forked import can_fork
from publisher.model import BuildOptions
from publisher.pagination import PageStart
from publisher.source.styles import load_style

from conftest import ARTICLE, ROOT, STYLES, Built

NOVEL = ROOT / "examples" / "novel"
FEATURE = ROOT / "examples" / "feature"
XHTML = "{http://www.w3.org/1999/xhtml}"

# The EPUBs' sizes in bytes before fonts were subset (main at aa524ec): each book
# must now be under a quarter of it, the article under 150 KB.
BEFORE = {"field-guide": 1_924_649, "novel": 361_762, "feature": 951_459}

# Each shipped family: its regular face, and the Reserved Font Names its licence
# (OFL.txt, or the font's own licence record) declares. A subset must carry none
# of them, nor the family's own name.
SOURCES = {
    "Gentium Book Plus": ("fonts/gentium/GentiumBookPlus-Regular.ttf", {"Gentium", "SIL"}),
    "Cabin": ("fonts/cabin/Cabin-Regular.otf", {"Cabin"}),
    "Liberation Mono": (
        "fonts/liberation-mono/LiberationMono-Regular.ttf",
        {"Liberation", "Arimo", "Tinos", "Cousine"},
    ),
    "EB Garamond": ("classic/fonts/eb-garamond/EBGaramond-Regular.ttf", set()),
    "Vollkorn": ("news/fonts/vollkorn/Vollkorn-Regular.ttf", set()),
}
ATTRIBUTION = {0, 7, 8, 9, 10, 11, 12, 13, 14}  # copyright, trademark, makers, licence


@pytest.fixture(scope="session")
def books(
    article: Built, guide: Built, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The article and the three example books' EPUBs (the novel and the feature
    built EPUB-only)."""
    out = {"article": article.epub, "field-guide": guide.epub}
    for book in (NOVEL, FEATURE):
        folder = tmp_path_factory.mktemp(book.name)
        result = build(BuildOptions(book, folder, STYLES, ("epub",)))
        out[book.name] = result.outputs[0].path
    return out


def members(epub: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(epub) as z:
        return {name: z.read(name) for name in z.namelist()}


def embedded(epub: Path) -> dict[str, TTFont]:
    """The EPUB's fonts by file name (PubSerif-Bold...)."""
    return {
        Path(name).stem: TTFont(io.BytesIO(data))
        for name, data in members(epub).items()
        if name.endswith((".woff2", ".ttf", ".otf", ".woff"))
    }


def source_family(epub: Path, family: str) -> str:
    """The shipped family a subset family was cut from, as its licence file says."""
    note = members(epub)[f"EPUB/fonts/OFL-{family}.txt"].decode()
    return note.split('named "', 1)[1].split('"', 1)[0]


# ---- (a) sizes ----


def test_the_article_is_under_150_kb(books: dict[str, Path]) -> None:
    assert books["article"].stat().st_size < 150_000


@pytest.mark.parametrize("book", sorted(BEFORE))
def test_each_example_book_is_under_a_quarter_of_its_old_size(
    books: dict[str, Path], book: str
) -> None:
    assert books[book].stat().st_size < BEFORE[book] / 4


# ---- (b) every character the text uses is in the face that shows it ----


# Set in another family in some style (code in the mono; captions, tables, crossheads,
# bylines in the sans): left out of the body family's check.
ELSEWHERE = ("code", "pre", "figcaption", "table", "h2")
ELSEWHERE_CLASSES = ("byline", "dateline")


def elsewhere(element: etree._Element) -> bool:
    """Set in another family, or never drawn (the hidden navigation)."""
    classes = set((element.get("class") or "").split())
    return (
        element.tag.removeprefix(XHTML) in ELSEWHERE
        or element.get("hidden") is not None
        or bool(classes & set(ELSEWHERE_CLASSES))
    )


def body_text(epub: Path) -> str:
    """The characters of the EPUB's documents (text and alt text) set in the body
    family, and the generated content of its sheets."""
    import tinycss2

    out = []
    scene_break, ornament = False, ""
    for name, data in members(epub).items():
        if name.endswith(".xhtml"):
            body = etree.fromstring(data).find(f"{XHTML}body")
            for node in body.iter():
                if not any(elsewhere(e) for e in [node, *node.iterancestors()]):
                    out += [node.text or "", node.get("alt", "")]
                parent = node.getparent()
                if parent is not None and not any(
                    elsewhere(e) for e in [parent, *parent.iterancestors()]
                ):
                    out.append(node.tail or "")
            if body.find(f".//{XHTML}hr") is not None:
                scene_break = True
        elif name.endswith(".css"):
            # The scene break's ornament: the last sheet's (the sheets are in
            # cascade order in the zip).
            for rule in tinycss2.parse_stylesheet(data.decode(), True, True):
                if rule.type != "qualified-rule" or "hr::after" not in tinycss2.serialize(
                    rule.prelude
                ):
                    continue
                for item in tinycss2.parse_blocks_contents(rule.content, True, True):
                    if item.type == "declaration" and item.lower_name == "content":
                        ornament = "".join(t.value for t in item.value if t.type == "string")
    return "".join(out) + (ornament if scene_break else "")


@pytest.mark.parametrize("book", ["article", "field-guide", "novel", "feature"])
def test_the_body_family_holds_every_character_of_the_text_it_can_show(
    books: dict[str, Path], book: str
) -> None:
    """What the body's shipped family can draw of the book's text, its subset faces
    draw too (the faces together: which face shows what is the next test's)."""
    epub = books[book]
    text = {c for c in body_text(epub) if not c.isspace() and c != "\u00ad"}
    cmap: set[int] = set()
    for name, font in embedded(epub).items():
        if name.startswith("PubSerif-"):
            cmap.update(font.getBestCmap())
    source = TTFont(STYLES / SOURCES[source_family(epub, "PubSerif")][0], lazy=True)
    drawable = {c for c in text if ord(c) in source.getBestCmap()}
    assert len(drawable) > 40
    assert sorted(c for c in drawable if ord(c) not in cmap) == []


NSMAP = {"x": XHTML.strip("{}")}


def texts_in(root: etree._Element, path: str, avoid: tuple[str, ...]) -> str:
    """The text of the elements at `path` (XPath, x: XHTML), leaving out what is
    inside the elements named in `avoid`."""
    out = []
    for element in root.xpath(path, namespaces=NSMAP):
        for node in element.iter():
            chain = [node, *node.iterancestors()]
            chain = chain[: chain.index(element) + 1]
            if not any(e.tag.removeprefix(XHTML) in avoid for e in chain):
                out.append(node.text or "")
            if node is not element and not any(
                e.tag.removeprefix(XHTML) in avoid for e in chain[1:]
            ):
                out.append(node.tail or "")
    return "".join(out)


@pytest.mark.parametrize("book", ["article", "field-guide"])
def test_each_face_holds_the_text_set_in_it(books: dict[str, Path], book: str) -> None:
    """In the default style (Gentium): paragraphs in the regular face, emphasis in
    the italic, strong text and chapter headings in the bold, code in the mono;
    read from the documents with XPath, apart from the cascade that chose them."""
    epub = books[book]
    faces = {name: set(font.getBestCmap()) for name, font in embedded(epub).items()}
    marks = ("em", "i", "strong", "b", "code", "sup", "h1", "h2", "h3", "cite", "figcaption")
    wanted: dict[str, str] = {}
    for name, data in members(epub).items():
        if not name.endswith(".xhtml") or "nav" in name:
            continue
        root = etree.fromstring(data)
        regular = "//x:section/x:p[not(@class)]"
        wanted["PubSerif-Regular"] = wanted.get("PubSerif-Regular", "") + texts_in(
            root, regular, marks
        )
        emphasis = "//x:p[not(@class)]/x:em"
        wanted["PubSerif-Italic"] = wanted.get("PubSerif-Italic", "") + texts_in(
            root, emphasis, ("strong", "b", "code")
        )
        bold = "//x:h1"
        wanted["PubSerif-Bold"] = wanted.get("PubSerif-Bold", "") + texts_in(
            root, bold, ("em", "i", "code")
        )
        code = "//x:p//x:code"  # in the text: not highlighted
        wanted["PubMono-Regular"] = wanted.get("PubMono-Regular", "") + texts_in(
            root, code, ("strong", "b", "em", "i")
        )
    checked = 0
    for face, text in wanted.items():
        chars = {c for c in text if not c.isspace() and c != "\u00ad"}
        if not chars:
            continue
        assert face in faces, face
        missing = sorted(c for c in chars if ord(c) not in faces[face])
        # A character the shipped face lacks falls to the reader's own fonts.
        family = source_family(epub, face.split("-")[0])
        source = TTFont(STYLES / SOURCES[family][0], lazy=True).getBestCmap()
        assert [c for c in missing if ord(c) in source] == [], face
        checked += 1
    assert checked == (4 if book == "field-guide" else 2), wanted  # the article: no em, no code


def test_a_subset_holds_little_beyond_the_text(books: dict[str, Path]) -> None:
    regular = embedded(books["article"])["PubSerif-Regular"]
    cmap = regular.getBestCmap()
    assert len(cmap) < 120 and "Ж" not in {chr(c) for c in cmap}
    assert regular.getGlyphOrder()[0] == ".notdef"
    assert regular["glyf"][".notdef"].numberOfContours > 0  # drawn, not empty
    gpos = {r.FeatureTag for r in regular["GPOS"].table.FeatureList.FeatureRecord}
    gsub = {r.FeatureTag for r in regular["GSUB"].table.FeatureList.FeatureRecord}
    assert "kern" in gpos and "liga" in gsub
    # No text of the article is in small caps; the field guide's authors on its
    # title page are (epub.css): Gentium's own, kept with their glyphs.
    assert "smcp" not in gsub
    guide = embedded(books["field-guide"])["PubSerif-Regular"]
    assert "smcp" in {r.FeatureTag for r in guide["GSUB"].table.FeatureList.FeatureRecord}


# ---- (c) names and licence ----


@pytest.mark.parametrize("book", ["article", "field-guide", "novel", "feature"])
def test_no_subset_carries_a_reserved_font_name(books: dict[str, Path], book: str) -> None:
    epub = books[book]
    files = members(epub)
    for name, font in embedded(epub).items():
        family = name.split("-")[0]
        original = source_family(epub, family)
        path, reserved = SOURCES[original]
        forbidden = reserved | {original, original.replace(" ", "")}
        face = name.split("-", 1)[1]
        source = TTFont(STYLES / path.replace("Regular", face), lazy=True)["name"]
        for record in font["name"].names:
            text = record.toUnicode()
            if record.nameID in ATTRIBUTION:
                continue
            assert not [w for w in forbidden if w.lower() in text.lower()], (name, record.nameID)
        if "CFF " in font:
            cff = font["CFF "].cff
            top = cff.topDictIndex[0]
            for text in (*cff.fontNames, top.FullName, top.FamilyName):
                assert not [w for w in forbidden if w.lower() in text.lower()], (name, text)
        assert font["name"].getDebugName(16) in (family, None)
        assert font["name"].getDebugName(1).startswith(family)
        # The copyright notice and the licence records are kept.
        assert font["name"].getDebugName(0) == source.getDebugName(0)
        assert font["name"].getDebugName(14) == source.getDebugName(14)
        licence = font["name"].getDebugName(13)
        assert "SIL Open Font License" in licence
        assert licence.split("\n")[0] in source.getDebugName(13)
        # The OFL itself beside the fonts, the family's own notice included.
        shipped = (STYLES / path).parent / "OFL.txt"
        assert shipped.read_text("utf-8") in files[f"EPUB/fonts/OFL-{family}.txt"].decode()
        assert f"fonts/OFL-{family}.txt" in licence or len(source.getDebugName(13)) < 1000


def test_the_css_names_only_the_new_families(books: dict[str, Path]) -> None:
    css = "".join(
        data.decode()
        for name, data in members(books["field-guide"]).items()
        if name.endswith(".css")
    )
    assert '"PubSerif"' in css and '"PubMono"' in css
    assert '"Gentium Book Plus"' not in css and '"Liberation Mono"' not in css


def test_reserved_names_are_read_from_the_notices() -> None:
    gentium = (STYLES / "fonts" / "gentium" / "OFL.txt").read_text("utf-8")
    assert fonts.reserved_font_names(gentium.split("-----")[0]) == {"Gentium", "SIL"}
    liberation = (STYLES / "fonts" / "liberation-mono" / "OFL.txt").read_text("utf-8")
    names = fonts.reserved_font_names(liberation.split("-----")[0])
    assert {"Arimo", "Tinos", "Cousine", "Liberation"} <= names
    cabin = TTFont(STYLES / SOURCES["Cabin"][0], lazy=True)["name"].getDebugName(13)
    assert fonts.reserved_font_names(cabin) == {"Cabin"}


# ---- faces left out; fonts not under the OFL ----


def test_the_pdf_keeps_the_whole_fonts(article: Built) -> None:
    import pikepdf

    with pikepdf.open(article.pdf) as pdf:
        names = {
            str(font.get("/BaseFont"))
            for page in pdf.pages
            for font in page.Resources.get("/Font", {}).values()
        }
    assert any(name.endswith("+Gentium-Book-Plus") for name in names), names


def test_a_font_not_under_the_ofl_goes_in_whole(tmp_path: Path) -> None:
    styles = tmp_path / "styles"
    shutil.copytree(STYLES, styles, symlinks=True)
    folder = styles / "plain"
    (folder / "fonts" / "own").mkdir(parents=True)
    own = folder / "fonts" / "own" / "Own-Regular.woff2"
    shutil.copy(STYLES / "fonts" / "cabin" / "Cabin-Regular.woff2", own)  # no OFL.txt beside
    (folder / "style.toml").write_text('description = "Plain."\n', "utf-8")
    (folder / "epub.css").write_text(
        '@font-face { font-family: "Own"; src: url("fonts/own/Own-Regular.woff2"); }\n'
        '@font-face { font-family: "Own"; font-weight: bold; src: url("fonts/own/Own-Bold.woff2"); }\n'
        'body { font-family: "Own", sans-serif; }\n',
        "utf-8",
    )
    shutil.copy(STYLES / "fonts" / "cabin" / "Cabin-Bold.woff2", own.with_name("Own-Bold.woff2"))
    result = build(BuildOptions(ARTICLE, tmp_path / "out", styles, ("epub",), style="plain"))
    files = members(result.outputs[0].path)
    assert files["EPUB/styles/plain/fonts/own/Own-Regular.woff2"] == own.read_bytes()
    assert "EPUB/styles/plain/fonts/own/Own-Bold.woff2" in files  # the headings are bold
    css = files["EPUB/styles/plain/epub.css"].decode()
    assert css.startswith(
        '@font-face { font-family: "Own"; src: url("fonts/own/Own-Regular.woff2"); }\n'
        '@font-face { font-family: "Own"; font-weight: bold; src: url("fonts/own/Own-Bold.woff2"); }\n'
    )
    assert not [n for n in files if "OFL-" in n]


# ---- (4) reproducible ----


def test_subsets_are_the_same_bytes_without_the_cache(article: Built) -> None:
    inputs = EpubInputs(article.result.book, STYLES, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    first = make_epub(inputs, [])
    fonts.clear_cache()
    assert make_epub(inputs, []) == first
    regular = embedded_bytes(first)["PubSerif-Regular"]
    source = TTFont(STYLES / SOURCES["Gentium Book Plus"][0], lazy=True)["head"]
    head = TTFont(io.BytesIO(regular))["head"]
    assert (head.created, head.modified) == (source.created, source.modified)


def embedded_bytes(epub: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(epub)) as z:
        return {Path(n).stem: z.read(n) for n in z.namelist() if n.endswith(".woff2")}


def test_whole_fonts_on_request(article: Built) -> None:
    """subset_fonts=False packages every face of the named families whole, as
    before (the reader test compares the two)."""
    inputs = EpubInputs(article.result.book, STYLES, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    whole = embedded_bytes(make_epub(replace(inputs, subset_fonts=False), []))
    assert len(whole) == 4
    assert (
        whole["GentiumBookPlus-Bold"]
        == (STYLES / "fonts" / "gentium" / "GentiumBookPlus-Bold.woff2").read_bytes()
    )


# ---- the cascade (epub/typeset.py) ----

SERIF = [Face("serif x", w, s) for w in (400, 700) for s in ("normal", "italic")]
SANS = [Face("sans y", 400, "normal"), Face("sans y", 900, "normal")]


def uses(body: str, css: str, lacking: str = "", features: tuple[str, ...] = ()) -> dict:
    document = (
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head>'
        f"<body>{body}</body></html>"
    )
    found = face_uses(
        [document],
        ['body { font-family: "Serif X", serif; }\n' + css],
        SERIF + SANS,
        lambda face, char: char not in lacking or face.family == "sans y",
        lambda face, tag: tag in features,
    )
    return {
        (f.family, f.weight, f.style): "".join(sorted(set(u.chars) - set(" -\u2010")))
        for f, u in found.items()
    }


def test_each_face_gets_the_text_set_in_it() -> None:
    found = uses("<p>ab<em>cd</em><strong>ef<em>gh</em></strong></p>", "")
    assert found == {
        ("serif x", 400, "normal"): "ab",
        ("serif x", 400, "italic"): "cd",
        ("serif x", 700, "normal"): "ef",
        ("serif x", 700, "italic"): "gh",
    }


def test_each_element_is_matched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Matching selectors is most of the cascade's time: it was done for the
    element and again for each of its four pseudo-elements (1 MB of one-word
    paragraphs: 57 s of CPU for the EPUB alone, now 27 s)."""
    import cssselect2

    calls = 0
    match = cssselect2.Matcher.match

    def counted(self: cssselect2.Matcher, element: object) -> list[object]:
        nonlocal calls
        calls += 1
        return match(self, element)  # type: ignore[no-any-return]

    monkeypatch.setattr(cssselect2.Matcher, "match", counted)
    css = 'p::before { content: "\u00a7"; } p::first-line { font-weight: bold; }'
    found = uses("<p>ab</p>" * 50, css)
    assert found[("serif x", 400, "normal")] == "ab\u00a7"
    assert found[("serif x", 700, "normal")] == "ab\u00a7"  # the first line, in bold
    # At most once an element (the paragraphs, the body, the html element); the
    # cascade by signature (epub/typeset.py) matches each kind of element once.
    assert calls <= 50 + 2


def test_weights_match_the_nearest_face() -> None:
    found = uses('<p class="h">ab</p><h1 class="x">cd</h1>', ".h { font-weight: 900 }")
    assert found[("serif x", 700, "normal")] == "abcd"  # no 900 face: the bold
    assert match_face(SANS, 600, "italic") == Face("sans y", 900, "normal")
    assert match_face(SANS, 450, "normal") == Face("sans y", 400, "normal")


def test_generated_text_markers_and_transforms() -> None:
    css = (
        'hr::after { content: "*\\2003*"; }\n'
        ".u { text-transform: uppercase; }\n"
        "ol.r { list-style-type: upper-roman; }\n"
        "nav ol { list-style: none; }\n"
    )
    found = uses(
        '<hr/><p class="u">ab</p><ol class="r"><li>x</li></ol><nav><ol><li>y</li></ol></nav>', css
    )
    assert found == {("serif x", 400, "normal"): "*.ABCDILMVXabxy\u2003"}


def test_small_caps_need_capitals_only_where_the_face_has_none() -> None:
    css = "p { font-variant: small-caps; }"
    assert uses("<p>ab</p>", css) == {("serif x", 400, "normal"): "ABab"}
    with_smcp = face_uses(
        ['<html xmlns="http://www.w3.org/1999/xhtml"><body><p>ab</p></body></html>'],
        ['body { font-family: "Serif X"; }' + css],
        SERIF,
        lambda face, char: True,
        lambda face, tag: tag == "smcp",
    )
    (use,) = with_smcp.values()
    assert set(use.chars) - set(" -\u2010") == {"a", "b"} and "smcp" in use.features


def test_first_letter_and_first_line_and_fallback() -> None:
    css = (
        "p.d::first-letter { font-family: 'Sans Y'; font-weight: 900; }\n"
        "p.f::first-line { font-style: italic; }\n"
        'p.g { font-family: "Serif X", "Sans Y", serif; }\n'
    )
    found = uses('<p class="d">“Hello</p><p class="f">ab</p><p class="g">Ωc</p>', css, "Ω")
    assert found[("sans y", 900, "normal")] == "H“"
    assert found[("serif x", 400, "italic")] == "ab"  # the first line: all of it, to be safe
    assert found[("serif x", 400, "normal")] == "Habcelo“"
    # A character the first family lacks falls to the next one that has it.
    assert found[("sans y", 400, "normal")] == "Ω"


def test_a_woff2_alone_is_subset_from_itself(tmp_path: Path) -> None:
    """Without the .ttf beside it, the WOFF2 file itself is read (slower); its
    metadata block is not copied (Chromium rejected the subset that kept it)."""
    from fontTools.ttLib.woff2 import WOFF2Reader

    from publisher.epub.typeset import Use

    folder = STYLES / "fonts" / "gentium"
    for name in ("GentiumBookPlus-Regular.woff2", "OFL.txt"):
        shutil.copy(folder / name, tmp_path / name)
    assert WOFF2Reader(
        io.BytesIO((folder / "GentiumBookPlus-Regular.woff2").read_bytes())
    ).flavorData.metaData
    use = Use(frozenset("Quill -"), frozenset({"kern", "liga"}), "Quill")
    alone = fonts.subset_font(
        tmp_path / "GentiumBookPlus-Regular.woff2", use, "PubSerif", "Regular"
    )
    beside = fonts.subset_font(folder / "GentiumBookPlus-Regular.woff2", use, "PubSerif", "Regular")
    for data in (alone, beside):
        assert WOFF2Reader(io.BytesIO(data)).flavorData.metaData is None
        font = TTFont(io.BytesIO(data))
        assert set("Quil-") <= {chr(c) for c in font.getBestCmap()}
        assert font["name"].getDebugName(1) == "PubSerif"


def test_a_letter_the_face_lacks_whole_is_kept_in_parts() -> None:
    """'ǹ' in a face without it but with 'n' and the combining grave: the parts,
    which a shaper puts together (and the mark features then go in the subset)."""
    found = uses("<p>ǹa</p>", "", lacking="ǹ")
    assert found[("serif x", 400, "normal")] == "an\u0300"


def test_text_never_drawn_counts_for_nothing() -> None:
    """The navigation's landmarks and page list are hidden: their headings would
    otherwise bring in the heading face."""
    found = uses(
        '<p>ab</p><nav hidden="hidden"><h2>Zz</h2></nav><p class="n">q</p>', ".n { display: none }"
    )
    assert found == {("serif x", 400, "normal"): "ab"}


def test_an_edit_that_brings_no_new_character_reuses_the_subset(article: Built) -> None:
    """In a watch session: the same characters, features and ligatures formed give
    the subset made before, from memory."""
    from publisher.epub.typeset import Use

    source = STYLES / "fonts" / "gentium" / "GentiumBookPlus-Regular.woff2"
    first = Use(frozenset("office -"), frozenset({"kern", "liga"}), "office")
    edited = Use(frozenset("office -"), frozenset({"kern", "liga"}), "office of coffice")
    fonts.clear_cache()
    made = fonts.subset_font(source, first, "PubSerif", "Regular")
    assert fonts.subset_font(source, edited, "PubSerif", "Regular") is made
    new_ligature = Use(frozenset("office -"), frozenset({"kern", "liga"}), "office of")
    assert fonts.subset_font(source, new_ligature, "PubSerif", "Regular") is made  # the same
    new_ligature = Use(frozenset("office -"), frozenset({"kern", "liga"}), "office fl")
    assert fonts.subset_font(source, new_ligature, "PubSerif", "Regular") is not made


# ---- the build cache, the second core, the wait for the PDF ----


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_a_rebuild_takes_the_subsets_from_the_build_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process building into the same folder (memory empty) finds the font
    facts and subsets in .publisher-cache/fonts: fontTools is not needed, and the
    EPUB is the same, byte for byte."""
    options = BuildOptions(ARTICLE, tmp_path / "out", STYLES, ("epub",))
    first = build(options, force=True).outputs[0].path.read_bytes()
    store = tmp_path / "out" / ".publisher-cache" / "fonts"
    assert len(list(store.glob("*.woff2"))) == 3 and len(list(store.glob("*.json"))) == 3
    fonts.clear_cache()

    def refused(*args: object) -> None:
        raise AssertionError("fontTools used on a rebuild")

    monkeypatch.setattr(fonts, "_read_info", refused)
    monkeypatch.setattr(fonts, "_subset", refused)
    assert build(options, force=True).outputs[0].path.read_bytes() == first


def test_a_damaged_cache_entry_is_made_again(tmp_path: Path) -> None:
    options = BuildOptions(ARTICLE, tmp_path / "out", STYLES, ("epub",))
    first = build(options, force=True).outputs[0].path.read_bytes()
    store = tmp_path / "out" / ".publisher-cache" / "fonts"
    entries = sorted(store.glob("*.woff2")) + sorted(store.glob("*.json"))
    for entry in entries:
        data = bytearray(entry.read_bytes())
        data[-1] ^= 0xFF
        entry.write_bytes(bytes(data))
    fonts.clear_cache()
    assert build(options, force=True).outputs[0].path.read_bytes() == first
    for entry in entries:  # written again, whole
        data = entry.read_bytes()
        assert hashlib.sha256(data[32:]).digest() == data[:32]


def test_the_cache_is_written_after_the_outputs_and_kept_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing goes into the folder before save() (the build calls it once the
    outputs are in place: an interrupted build leaves it as it was); the oldest
    entries beyond KEEP go."""
    folder = tmp_path / "fonts"
    store = fonts.FontStore(folder)
    source = STYLES / "fonts" / "gentium" / "GentiumBookPlus-Regular.woff2"
    fonts.clear_cache()
    for text in ("ab", "abc", "abcd"):
        fonts.subset_font(source, Use(frozenset(text), frozenset(), text), "PubSerif", "R", store)
    assert not folder.exists()
    monkeypatch.setattr(fonts.FontStore, "KEEP", 2)
    store.save()
    assert len(list(folder.iterdir())) == 2
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_subsets_made_in_two_processes_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a core free (an EPUB built alone), every other subset is made in a
    forked process; the same bytes, and the same again if that process is lost."""
    from publisher import forked

    folder = STYLES / "fonts" / "gentium"
    jobs = [
        (
            folder / f"GentiumBookPlus-{style}.woff2",
            Use(frozenset(text), frozenset(), text),
            "P",
            style,
        )
        for style, text in (("Regular", "Quill"), ("Bold", "ink"), ("Italic", "pens"))
    ]
    fonts.clear_cache()
    alone = fonts._subsets(jobs, None)
    fonts.clear_cache()
    forks = []
    real = forked.Forked.__init__

    def counted(self: forked.Forked, body: object) -> None:
        forks.append(body)
        real(self, body)  # type: ignore[arg-type]

    monkeypatch.setattr(forked.Forked, "__init__", counted)
    assert fonts._subsets(jobs, None, parallel=True) == alone
    assert len(forks) == (1 if forked.can_fork() else 0)

    def lost(self: forked.Forked, body: object) -> None:
        raise forked.Lost("no fork here")

    monkeypatch.setattr(forked.Forked, "__init__", lost)
    fonts.clear_cache()
    assert fonts._subsets(jobs, None, parallel=True) == alone


def test_subsets_made_while_the_pdf_is_laid_out_serve_the_epub(
    article: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """warm_fonts (the build calls it while its PDF child lays the book out) makes
    the subsets of the documents without their page breaks; the EPUB with them
    takes every one from memory, and is the EPUB made without the warming."""
    from publisher.epub.writer import warm_fonts

    book = article.result.book
    assert book is not None
    record = json.loads(
        next((article.folder / ".publisher-cache").glob("*.json")).read_text("utf-8")
    )
    starts = tuple(PageStart(**p) for p in record["pages"])  # the PDF's, as the build had them
    assert starts
    inputs = EpubInputs(book, STYLES, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), starts, "x.pdf")
    fonts.clear_cache()
    cold = make_epub(inputs, [])
    fonts.clear_cache()
    warm_fonts(replace(inputs, pages=()))
    made = []
    real = fonts._subset

    def counted(*args: object) -> bytes:
        made.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(fonts, "_subset", counted)
    assert make_epub(inputs, []) == cold
    assert made == []


@pytest.mark.skipif(not can_fork(), reason="no fork here: the build does the helper's work itself")
def test_the_font_helper_does_the_font_work_and_makes_the_same_epub(
    article: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An EPUB built alone starts a process for the fonts before it renders
    (FontHelper): it reads the fonts and makes the subsets, this process none;
    the EPUB is the same, and the same again when the helper is lost."""
    book = article.result.book
    assert book is not None
    inputs = EpubInputs(book, STYLES, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    fonts.clear_cache()
    alone = make_epub(inputs, [])
    fonts.clear_cache()
    helper = fonts.FontHelper(STYLES, load_style(STYLES, "default"), None)

    def refused(*args: object) -> None:
        raise AssertionError("font work done here, not in the helper")

    with monkeypatch.context() as patched:  # here only: the helper is forked already
        patched.setattr(fonts, "_read_info", refused)
        patched.setattr(fonts, "_subset", refused)
        assert make_epub(replace(inputs, helper=helper), []) == alone
    fonts.clear_cache()
    lost = fonts.FontHelper(STYLES, load_style(STYLES, "default"), None)
    assert lost._child is not None
    os.kill(lost._child.pid, signal.SIGKILL)
    assert make_epub(replace(inputs, helper=lost), []) == alone
