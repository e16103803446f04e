"""Mathematics (issue 16, point 4): `$…$` and `$$…$$` read as Pandoc reads them,
MathML with its TeX as alttext in the EPUB (and the `mathml` manifest property,
EPUBCheck clean), the same formulas drawn in the PDF and tagged `Formula` with
the TeX as alternate text, equation numbers at the right in both outputs, and a
formula that cannot be read shown as its source with a warning, never a crash."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pikepdf
import pytest
from lxml import etree
from markdown_it.token import Token

from publisher.build import BuildResult, build
from publisher.ids import IdPool
from publisher.model import BuildOptions
from publisher.pdf.math import MAX_WORK, work
from publisher.render.markdown import ParseEnv, make_parser, parse, walk
from publisher.render.math import BLOCK, DISPLAY, INLINE, MAX_DEPTH, to_mathml

from conftest import ROOT, STYLES, need, pdftotext

HEAD = "---\ntitle: Maths\nlang: en\n---\n\n"  # the body starts on line 6
MATHML = "{http://www.w3.org/1998/Math/MathML}"


def write_book(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "book.md").write_text(HEAD + text, encoding="utf-8")
    return folder / "book.md"


def run_build(source: Path, out: Path, formats: tuple[str, ...] = ("epub", "pdf")) -> BuildResult:
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        return build(BuildOptions(source, out, STYLES, formats), force=True)
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def output(result: BuildResult, fmt: str) -> Path:
    return next(o.path for o in result.outputs if o.format == fmt)


def chapter(epub: Path) -> str:
    with zipfile.ZipFile(epub) as z:
        return z.read(_first_chapter(z)).decode("utf-8")


def _first_chapter(z: zipfile.ZipFile) -> str:
    return next(n for n in sorted(z.namelist()) if re.search(r"chapter-\d+\.xhtml$", n))


def formulas(text: str) -> list[tuple[str, str]]:
    """(kind, TeX) of each formula the parser finds, in order."""
    env = ParseEnv(IdPool(), source=Path("book.md"))
    tokens, _ = parse(make_parser("en"), text, env)
    kinds = {INLINE: "inline", DISPLAY: "display", BLOCK: "display"}
    return [(kinds[t.type], t.content.strip()) for t in walk(tokens) if t.type in kinds]


# --- reading the dollars as Pandoc does -----------------------------------------------

TRICKY = [
    "$5 and $10",
    "a$b$c",
    "`$x$` code and $y$",
    "[link $x$](http://example.org) and $[a](b)$",
    "$ x$ and $x $ and $x$5 and $x$.",
    "\\$ not math \\$ and $a\\$b$",
    "$$x\n= y$$",
    "Para $$\\sum_i x_i$$ inline display.",
    "$a\nb$ across lines",
    "$$$$ empty",
    "$$x$$y and x$$a$$b",
    "*$x*$ and $x*$*",
    "1$x$ and $x $y$",
    "$x$5$ and $$x$ y",
    "$a\\text{b$c}d$",
    "$x$$y$ and $\\$$",
    "$ab$c$ and $a$b$c$",
]


# Pandoc 3.9's reading of each case (`pandoc -t json`), kept for review beside the
# tests; test_the_golden_answers_are_pandoc_s checks them where Pandoc is installed.
DOLLARS = ROOT / "tests" / "golden" / "pandoc" / "dollars.json"


def pandoc_formulas(text: str) -> list[tuple[str, str]]:
    pypandoc = pytest.importorskip("pypandoc")
    found = json.loads(pypandoc.convert_text(text, "json", format="markdown"))
    out: list[tuple[str, str]] = []

    def visit(node: object) -> None:
        if isinstance(node, dict):
            if node.get("t") == "Math":
                kind, tex = node["c"]
                out.append(("display" if kind["t"] == "DisplayMath" else "inline", tex.strip()))
                return
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(found["blocks"])
    return out


def golden_dollars() -> dict[str, list[tuple[str, str]]]:
    cases = json.loads(DOLLARS.read_text(encoding="utf-8"))
    return {c["markdown"]: [(kind, tex) for kind, tex in c["pandoc"]] for c in cases}


@pytest.mark.parametrize("text", TRICKY)
def test_dollars_are_read_as_pandoc_reads_them(text: str) -> None:
    assert formulas(text) == golden_dollars()[text]


@pytest.mark.peer
def test_the_golden_answers_are_pandoc_s() -> None:
    """The golden file is what Pandoc answers today (run with Pandoc installed:
    pip install pypandoc-binary, the `bench` extra)."""
    try:
        answers = [{"markdown": t, "pandoc": pandoc_formulas(t)} for t in TRICKY]
    except OSError as error:  # pypandoc without its binary
        pytest.skip(f"Pandoc is not available: {error}")
    lines = ",\n".join(json.dumps(a, ensure_ascii=False) for a in answers)
    assert DOLLARS.read_text(encoding="utf-8") == f"[\n{lines}\n]\n"


def test_display_formula_over_lines_that_look_like_blocks() -> None:
    """A display formula alone is read whole: its lines never start a list or a quote
    (Pandoc's paragraphs are not interrupted by them either)."""
    assert formulas("$$\na\n- b\n> 0\n$$\n") == [("display", "a\n- b\n> 0")]


def test_dollars_in_code_stay_code() -> None:
    assert formulas("    $$ code $$\n\n```\n$x$\n```\n\nand `$y$`.\n") == []


# --- the contract: labelled display equations ----------------------------------------


def block_tokens(text: str) -> list[Token]:
    env = ParseEnv(IdPool(), source=Path("book.md"))
    tokens, _ = parse(make_parser("en"), text, env)
    return [t for t in walk(tokens) if t.attrs and str(t.attrGet("id") or "").startswith("eq-")]


def test_labelled_display_equation_is_a_math_block_with_its_id() -> None:
    found = block_tokens("Text.\n\n$$\nE = mc^2\n$$ {#eq-energy}\n\nMore.\n\n$$x$$ {#eq-x}\n")
    assert [(t.type, t.attrGet("id"), t.block) for t in found] == [
        (BLOCK, "eq-energy", True),
        (BLOCK, "eq-x", True),
    ]
    assert found[0].map == [2, 5]


def test_label_in_a_paragraph_and_duplicate_ids_go_through_the_book_ids() -> None:
    found = block_tokens("See $$a^2$$ {#eq-a} here.\n\n$$b$$ {#eq-a}\n")
    assert [(t.type, t.attrGet("id")) for t in found] == [(DISPLAY, "eq-a"), (BLOCK, "eq-a-2")]


# --- the EPUB ---------------------------------------------------------------------------

BOOK = (
    "# Formulas\n\n"
    "Einstein's $E = mc^2$ and the sum\n\n"
    "$$\n\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}\n$$ {#eq-sum}\n\n"
    "A matrix $\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}$ and a root $\\sqrt{x}$.\n\n"
    "$$ f(x) = \\begin{cases} 1 & x > 0 \\\\ 0 & \\text{otherwise} \\end{cases} $$\n\n"
    "A macro of the author's: $\\foo{x}$.\n"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The book built; cross-references (render/xref.py) number `eq-sum`: the
    article's first labelled equation, (1)."""
    folder = tmp_path_factory.mktemp("maths")
    return run_build(write_book(folder, BOOK), folder / "out")


def test_epub_holds_mathml_with_the_tex_as_alttext(built: BuildResult) -> None:
    root = etree.fromstring(chapter(output(built, "epub")).encode("utf-8"))
    maths = list(root.iter(f"{MATHML}math"))
    assert [(m.get("display"), m.get("alttext")) for m in maths] == [
        ("inline", "E = mc^2"),
        ("block", "\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}"),
        ("inline", "\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}"),
        ("inline", "\\sqrt{x}"),
        ("block", "f(x) = \\begin{cases} 1 & x > 0 \\\\ 0 & \\text{otherwise} \\end{cases}"),
    ]
    assert maths[1].find(f".//{MATHML}munderover") is not None  # limits above and below
    assert maths[2].find(f".//{MATHML}mtable") is not None


def test_epub_number_is_printed_at_the_labelled_equation(built: BuildResult) -> None:
    root = etree.fromstring(chapter(output(built, "epub")).encode("utf-8"))
    equation = next(e for e in root.iter() if e.get("id") == "eq-sum")
    assert "numbered" in equation.get("class", "").split()
    assert [s.text for s in equation.iter() if s.get("class") == "equation-number"] == ["(1)"]


def test_epub_declares_mathml_where_it_is(built: BuildResult) -> None:
    with zipfile.ZipFile(output(built, "epub")) as z:
        opf = z.read("EPUB/content.opf").decode("utf-8")
        name = _first_chapter(z).removeprefix("EPUB/")
    items = dict(re.findall(r'<item href="([^"]+)"[^>]*?(?:properties="([^"]*)")?/>', opf))
    assert items[name] == "mathml"
    assert items["titlepage.xhtml"] == ""
    # and the accessibility metadata says the formulas are MathML
    assert '<meta property="schema:accessibilityFeature">MathML</meta>' in opf


def test_epub_passes_epubcheck(built: BuildResult) -> None:
    need("java")
    from publisher.check.outputs import run_epubcheck

    findings = [f for f in run_epubcheck(output(built, "epub")) if f.severity not in ("USAGE",)]
    assert [str(f) for f in findings if f.severity != "INFO"] == []


def test_unreadable_formula_is_a_warning_and_its_source_in_both_outputs(
    built: BuildResult,
) -> None:
    warnings = [
        f"{d.where.path.name}:{d.where.line}: {d.severity}: {d.message} ({d.hint})"
        for d in built.diagnostics
        if d.code == "T13" and d.where is not None
    ]
    line = 6 + BOOK.split("\n").index("A macro of the author's: $\\foo{x}$.")
    assert warnings == [
        f"book.md:{line}: warning: formula '\\foo{{x}}' cannot be read: unknown command "
        "\\foo; it is shown as written (correct the TeX, or escape the dollar signs (\\$) "
        "if it is not a formula)"
    ]
    xhtml = chapter(output(built, "epub"))
    assert '<code class="math-source">$\\foo{x}$</code>' in xhtml
    assert "$\\foo{x}$" in pdftotext(output(built, "pdf"))


def test_formulas_in_a_figure_caption_are_formulas(tmp_path: Path) -> None:
    """A caption is an image's description, parsed apart from its paragraph: its
    formulas are read too, and rendered with its emphasis (they were left as
    their source, without a warning)."""
    from PIL import Image

    source = write_book(tmp_path / "m", "![*Arc* $\\theta = s/r$ and $\\bad{x}$](a.png)\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "m" / "a.png")
    result = run_build(source, tmp_path / "out", ("epub",))
    xhtml = chapter(output(result, "epub"))
    caption = xhtml[xhtml.index("<figcaption>") : xhtml.index("</figcaption>")]
    assert 'alttext="\\theta = s/r"' in caption and "<em>Arc</em>" in caption
    assert '<code class="math-source">$\\bad{x}$</code>' in caption
    assert [(d.code, d.where.line if d.where else None) for d in result.diagnostics] == [("T13", 6)]


# --- the PDF ----------------------------------------------------------------------------


def structure(pdf: pikepdf.Pdf) -> list[pikepdf.Dictionary]:
    found: list[pikepdf.Dictionary] = []

    def visit(node: object) -> None:
        if isinstance(node, pikepdf.Dictionary):
            if "/S" in node:
                found.append(node)
            if "/K" in node:
                visit(node.K)
        elif isinstance(node, pikepdf.Array):
            for item in node:
                visit(item)

    visit(pdf.Root.StructTreeRoot)
    return found


def test_pdf_formulas_are_tagged_formula_with_their_tex(built: BuildResult) -> None:
    with pikepdf.open(output(built, "pdf")) as pdf:
        tagged = [(str(e.S), str(e.get("/Alt", ""))) for e in structure(pdf)]
    assert [alt for kind, alt in tagged if kind == "/Formula"] == [
        "E = mc^2",
        "\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}",
        "\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}",
        "\\sqrt{x}",
        "f(x) = \\begin{cases} 1 & x > 0 \\\\ 0 & \\text{otherwise} \\end{cases}",
    ]
    assert not [alt for kind, alt in tagged if kind == "/Figure"]


def test_pdf_formulas_are_drawn_where_they_stand(built: BuildResult, tmp_path: Path) -> None:
    """Each formula's bounding box (from its structure element, in CSS pixels from
    the page's top left) holds ink on the page rendered at 96 dpi."""
    tool = need("pdftoppm")
    from PIL import Image

    pdf_path = output(built, "pdf")
    with pikepdf.open(pdf_path) as pdf:
        pages = {page.objgen: n for n, page in enumerate(pdf.pages, start=1)}
        boxes = [
            (pages[e.Pg.objgen], [float(v) for v in e.A.BBox])
            for e in structure(pdf)
            if str(e.S) == "/Formula"
        ]
    assert len(boxes) == 5
    for page, (x1, y1, x2, y2) in boxes:
        prefix = tmp_path / f"p{page}"
        subprocess.run(
            [tool, "-r", "96", "-gray", "-png", "-f", str(page), "-l", str(page), pdf_path, prefix],
            check=True,
        )
        image = Image.open(next(tmp_path.glob(f"p{page}-*.png"))).convert("L")
        assert 2 < x2 - x1 < image.width and 2 < y2 - y1 < image.height / 4
        crop = image.crop((int(x1), int(y1), int(x2) + 1, int(y2) + 1))
        assert crop.getextrema()[0] < 100, (page, x1, y1)  # dark ink inside the box
        left = image.crop((0, int(y1), int(min(x1, 40)), int(y2) + 1))  # the page's margin
        assert left.getextrema()[0] > 200


def test_pdf_prints_the_equation_number(built: BuildResult) -> None:
    text = pdftotext(output(built, "pdf"))
    assert "(1)" in text


def test_pdf_passes_pdfua(built: BuildResult) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pdfua", "check", "--format", "json", str(output(built, "pdf"))],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    assert report["summary"]["errors"] == 0, report["findings"]


def test_formulas_without_patches_are_still_drawn_and_described(tmp_path: Path) -> None:
    """With WeasyPrint's own code (PUBLISHER_NO_PATCHES=1), each formula is a Figure
    drawn from its full SVG, with the same alternate text."""
    source = write_book(tmp_path / "plain", "A formula $\\frac{a}{b}$ here.\n")
    os.environ["PUBLISHER_NO_PATCHES"] = "1"
    try:
        result = run_build(source, tmp_path / "out", ("pdf",))
    finally:
        del os.environ["PUBLISHER_NO_PATCHES"]
    with pikepdf.open(output(result, "pdf")) as pdf:
        tagged = [(str(e.S), str(e.get("/Alt", ""))) for e in structure(pdf)]
        drawn = b"".join(page.Contents.read_bytes() for page in pdf.pages)
    assert ("/Figure", "\\frac{a}{b}") in tagged
    assert b" c\n" in drawn or b" c " in drawn  # the glyphs' curves, in the page itself


def test_repeated_formula_is_drawn_once(tmp_path: Path) -> None:
    source = write_book(tmp_path / "same", "$x^2$ and " * 30 + "$x^2$.\n")
    result = run_build(source, tmp_path / "out", ("pdf",))
    with pikepdf.open(output(result, "pdf")) as pdf:
        page = pdf.pages[-1]
        forms = [x for x in page.Resources.XObject.values() if x.get("/Subtype") == "/Form"]
        uses = page.Contents.read_bytes().count(b" Do")
    assert len(forms) == 1 and uses == 31


# --- bounds ---------------------------------------------------------------------------


def test_nesting_past_the_limit_is_shown_as_source() -> None:
    deep = "\\frac{1}{" * (MAX_DEPTH + 1) + "x" + "}" * (MAX_DEPTH + 1)
    assert to_mathml(deep, True).why == f"it nests more than {MAX_DEPTH} groups deep"
    assert to_mathml("{" * 3000 + "x" + "}" * 3000, False).why.startswith("it nests")
    assert to_mathml("x+" * 5000, False).why == "it is longer than 8000 characters"


def test_typesetting_work_doubles_with_nested_rows() -> None:
    """ziamath's time doubles with each row nested in a row: the estimate does too,
    and sets a formula that would take seconds apart (printed as its TeX)."""

    def cost(tex: str) -> int:
        return work(etree.fromstring(to_mathml(tex, True).mathml))

    nested = ["\\frac{1}{" * n + "x" + "}" * n for n in (4, 5, 6)]
    costs = [cost(tex) for tex in nested]
    assert costs[1] > 1.8 * costs[0] and costs[2] > 1.8 * costs[1]
    assert cost("x = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}") < 1_000
    assert cost("\\frac{1}{" * 14 + "x" + "}" * 14) > MAX_WORK


@pytest.mark.parametrize(
    ("tex", "why"),
    [
        ("\\frac{a}{b", "unbalanced braces: a '{' is never closed"),
        ("a}", "unbalanced braces: a '}' closes no '{'"),
        ("x^", "a ^ or _ with nothing after it"),
        ("a & b", "'&' outside an alignment"),
        ("\\begin{foo} x \\end{foo}", "unknown environment 'foo'"),
        ("\\left( x", "a \\left without its \\right, or a \\right alone"),
        ("x \\binom y", "a command lacks an argument"),
        ("\\color{red!50}{x}", "'red!50' is not a colour MathML can show"),
    ],
)
def test_what_cannot_be_read_says_why(tex: str, why: str) -> None:
    assert to_mathml(tex, False).why == why


def test_css_colour_names_become_colours_mathml_has() -> None:
    assert 'mathcolor="#ffa500"' in to_mathml("\\color{orange}{x}", False).mathml


def test_environments_latex2mathml_lacks_are_set_as_their_likes() -> None:
    aligned = to_mathml("\\begin{aligned} a &= b \\\\ &= c \\end{aligned}", True).mathml
    assert aligned.count("<mtr>") == 2 and "(1)" not in aligned
    assert "(1)" not in to_mathml("\\begin{align} a &= b \\end{align}", True).mathml
    assert to_mathml("\\begin{equation} x \\label{eq:x} \\end{equation}", True).mathml


def test_every_latex2mathml_command_passes_epubcheck_or_is_a_warning(tmp_path: Path) -> None:
    """Each command latex2mathml knows, with and without arguments, in every way an
    author may get it wrong: the MathML passes EPUBCheck's schema, or the formula
    is a T13 warning and its source."""
    need("java")
    import latex2mathml.commands as commands

    from publisher.check.outputs import run_epubcheck

    names = sorted(
        {v for v in vars(commands).values() if isinstance(v, str) and v[:1] == "\\" and v[1:]}
    )
    lines = []
    for name in names:
        if name in commands.MATRICES:
            env = name[1:]
            lines.append(f"$\\begin{{{env}}} a & b \\\\ c & d \\end{{{env}}}$")
            continue
        for form in ("x {} y", "{}{{x}}", "{}{{x}}{{y}}", "{}{{orange}}{{x}}", "{}{{1em}}"):
            lines.append("$" + form.format(name) + "$")
    source = write_book(tmp_path / "all", "# All\n\n" + "\n\n".join(lines) + "\n")
    result = run_build(source, tmp_path / "out", ("epub",))
    findings = [f for f in run_epubcheck(output(result, "epub")) if f.severity not in ("USAGE",)]
    assert [str(f) for f in findings if f.severity != "INFO"] == []
    assert len(lines) > 1000


def test_a_book_without_formulas_never_imports_the_maths_libraries(tmp_path: Path) -> None:
    source = write_book(tmp_path / "plain", "# Plain\n\nA price of $5 and $10.\n")
    code = (
        "import sys; from pathlib import Path; from publisher.build import build; "
        "from publisher.model import BuildOptions; "
        f"build(BuildOptions(Path({str(source)!r}), Path({str(tmp_path / 'out')!r}), "
        f"Path({str(STYLES)!r}), ('epub',))); "
        "print(sorted(m for m in ('latex2mathml', 'ziamath') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_formula_in_a_heading_is_its_tex_in_the_outline_as_in_the_nav(tmp_path: Path) -> None:
    source = write_book(tmp_path / "head", "# One\n\n## The $\\pi$ section\n\nText.\n")
    result = run_build(source, tmp_path / "out")
    with zipfile.ZipFile(output(result, "epub")) as z:
        nav = z.read("EPUB/nav.xhtml").decode("utf-8")
    assert ">The \\pi section</a>" in nav
    with pikepdf.open(output(result, "pdf")) as pdf, pdf.open_outline() as outline:
        titles = [child.title for item in outline.root for child in [item, *item.children]]
    assert "The \\pi section" in titles


# --- a megabyte of formulas: built or refused, in bounded time ----------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", ["distinct", "repeated", "nested"])
def test_a_megabyte_of_formulas_is_built_or_refused(tmp_path: Path, case: str) -> None:
    """Each distinct formula costs its conversion and its typesetting, each formula
    its place in the PDF, and ziamath's time doubles with nested rows: each is
    bounded, with one clear line where a limit is met (measured by bench/limits.py
    like every hostile case)."""
    from test_hostile import assert_bounded, limit_case, measure

    if case == "distinct":  # 84,000 formulas: more TeX than a book may hold (T14)
        text = "".join(
            " ".join(f"$x_{{{n + k}}}$" for k in range(100)) + "\n\n" for n in range(0, 84_000, 100)
        )
    elif case == "repeated":  # 77,000 times one formula: the PDF refuses them (F09)
        text = ("$E=mc^2$ and " * 80 + "\n\n") * 960
    else:  # nested fractions and braces: shown as their TeX (T13) or typeset
        text = (
            ("$$" + "\\frac{1}{" * 9 + "x" + "}" * 9 + "$$\n\n") * 10
            + ("$" + "{" * 2000 + "x" + "}" * 2000 + "$\n\n") * 20
            + ("$" + "\\frac{1}{" * 30 + "x" + "}" * 30 + "$\n\n") * 300
        )
    book, out = limit_case(tmp_path, case, text)
    result = measure("build", book, out)
    assert_bounded(result, out, ("epub", "pdf"))
    expected = {"distinct": "characters of TeX", "repeated": "formulas; the PDF sets at most"}
    if case in expected:
        assert result.returncode == 2 and expected[case] in result.stderr
    else:
        assert result.returncode == 0
        assert "cannot be read: it nests more than 40 groups deep" in result.stderr
        assert "cannot be typeset in the PDF: it nests too deep" in result.stderr
