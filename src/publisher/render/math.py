"""Mathematics: TeX between dollars, as Pandoc reads it (`tex_math_dollars`), made
MathML for both outputs.

Parsing. `$…$` is inline math: the opening `$` has a non-space character right
after it, the closing one a non-space character right before it and no digit right
after it (`$5 and $10` stays text); `\\$` is a dollar; a backslash in the formula
keeps the next character (`$a\\$b$`), and `\\text{…}` may hold a `$`. `$$…$$` is
display math, in a paragraph or alone, over several lines but no blank one. A
paragraph that holds one display formula alone, and nothing else but Quarto's
label after it (`$$ … $$ {#eq-name}`), is a block: a `math_block` token, its id in
`attrs["id"]` (taken through the book's ids like any `{#id}`). Inside a paragraph
the tokens are `math_inline` and `math_display` (which may carry a label too).
When cross-references number an equation they write the number into
`token.meta["number"]` ("3.2"), which is printed as `(3.2)` at its right.

Rendering. Each formula becomes MathML (latex2mathml, imported only when a
manuscript has a formula, each distinct formula converted once) with the TeX as
its `alttext`: screen readers and Apple Books read the MathML; the PDF typesets
it (publisher.pdf.math). A formula that cannot be read (an unknown command or
environment, unbalanced braces, one too long or nested too deep to be a formula)
is a warning (T13) and is shown as its source, in code type, in both outputs."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import ManuscriptError
from publisher.render.mathml import MISSING, NO_MATHML, schema_problem

if TYPE_CHECKING:
    from markdown_it.renderer import RendererHTML
    from markdown_it.utils import EnvType, OptionsDict

    from publisher.render.markdown import ParseEnv

INLINE, DISPLAY, BLOCK = "math_inline", "math_display", "math_block"
MATH_TOKENS = (INLINE, DISPLAY, BLOCK)

# Longer formulas than any book holds (a page of aligned equations is about 2,000
# characters) cost seconds each to typeset, and nesting deeper than any formula
# needs makes MathML deeper than XML parsers accept: both are shown as source.
MAX_FORMULA = 8_000
MAX_DEPTH = 40
# Converting TeX costs about 20-40 microseconds a character (latex2mathml): the
# book's distinct formulas may hold this much in all, which keeps the largest
# manuscript inside the one-minute budget (README, Limits). A long mathematics
# textbook holds about a third of it.
MAX_BOOK_TEX = 500_000


@dataclass
class Budget:
    """The book's distinct formulas so far, and the length of their TeX: shared by
    the parse of every file (each repeated formula is converted once)."""

    seen: set[tuple[str, bool]] = field(default_factory=set)
    chars: int = 0


_SPACE = " \t\n\r\f\v"
_LABEL = re.compile(r"[ \t]*\{[ \t]*#([^\s{}#.=]+)[ \t]*\}")


# --- parsing ---------------------------------------------------------------------


def math_plugin(md: MarkdownIt) -> None:
    """The dollar rules, the core rule that labels and converts the formulas, and
    their render rules."""
    md.inline.ruler.before("escape", "math", _math_inline)
    # Never interrupts a paragraph: Pandoc keeps display math inside it.
    md.block.ruler.before("paragraph", "math_block", _math_block, {"alt": []})
    md.add_render_rule(INLINE, _render_inline)
    md.add_render_rule(DISPLAY, _render_display)
    md.add_render_rule(BLOCK, _render_block)


def _inline_end(src: str, start: int) -> int | None:
    """Where the `$` closing inline math opened at `start` is, by Pandoc's rules."""
    end = len(src)
    if start + 1 >= end or src[start + 1] in _SPACE:
        return None
    i = start + 1
    while i < end:
        char = src[i]
        if char == "$":
            if i == start + 1:
                return None  # `$$`: not inline math (display, or text)
            if i + 1 < end and src[i + 1].isdigit():
                return None  # `$x$5`: Pandoc's guard for prices
            return i
        if char == "\\":
            if src.startswith("text{", i + 1):
                closing = _balanced(src, i + 5)
                if closing is not None:
                    i = closing + 1
                    continue
            i += 2
            continue
        if char in " \t":
            j = i
            while j < end and src[j] in " \t":
                j += 1
            if j < end and src[j] == "$":
                return None  # the closing `$` may not follow a space
            i = j
            continue
        i += 1
    return None


def _balanced(src: str, at: int) -> int | None:
    """The index of the `}` closing the `{` at `at`, escapes skipped."""
    depth = 0
    i = at
    while i < len(src):
        char = src[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _display_end(src: str, start: int) -> int | None:
    """Where the `$$` closing display math opened at `start` is: the first one
    after at least one character (`$$$$` is text)."""
    end = src.find("$$", start + 2)
    if end <= start + 2 or not src[start + 2 : end].strip():
        return None
    return end


def _math_inline(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if src[pos] != "$":
        return False
    if src.startswith("$$", pos):
        end = _display_end(src, pos)
        if end is None:
            return False  # a `$` of text; the next one may open inline math
        if not silent:
            token = state.push(DISPLAY, "math", 0)
            token.content = src[pos + 2 : end]
            token.markup = "$$"
            token.meta["offset"] = pos
        state.pos = end + 2
        return True
    closing = _inline_end(src, pos)
    if closing is None:
        return False
    if not silent:
        token = state.push(INLINE, "math", 0)
        token.content = src[pos + 1 : closing]
        token.markup = "$"
        token.meta["offset"] = pos
    state.pos = closing + 1
    return True


def _math_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A paragraph that is one display formula alone (and its label): the formula
    read whole, so that no line of it (`- b`, `> 0`) starts a list or a quote."""
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    first = state.bMarks[start] + state.tShift[start]
    if not state.src.startswith("$$", first):
        return False
    parts: list[str] = []
    line = start
    offset = first + 2
    label: str | None = None
    while True:
        if line >= end or (line > start and state.isEmpty(line)):
            return False
        if line > start and state.sCount[line] < state.blkIndent:
            return False
        text = state.src[offset : state.eMarks[line]]
        closing = text.find("$$")
        if closing >= 0:
            parts.append(text[:closing])
            rest = text[closing + 2 :]
            found = _LABEL.fullmatch(rest.rstrip())
            if rest.strip() and found is None:
                return False  # text after the formula: a paragraph that holds it
            label = found.group(1) if found else None
            break
        parts.append(text)
        line += 1
        if line < end:
            offset = state.bMarks[line] + state.tShift[line]
    content = "\n".join(parts)
    if not content.strip():
        return False
    following = line + 1
    if not _paragraph_ends(state, following, end):
        return False  # text goes on below it: a paragraph holding a display formula
    if silent:
        return True
    token = state.push(BLOCK, "math", 0)
    token.block = True
    token.content = content
    token.markup = "$$"
    token.map = [start, following]
    if label is not None:
        token.attrSet("id", label)
    state.line = following
    return True


def _paragraph_ends(state: StateBlock, line: int, end: int) -> bool:
    """Whether a paragraph would end before `line`: the end, a blank line, the end
    of its container, or a block that may interrupt a paragraph."""
    if line >= end or state.isEmpty(line) or state.sCount[line] < state.blkIndent:
        return True
    if state.sCount[line] - state.blkIndent > 3:
        return False  # a lazy continuation line
    old = state.parentType
    state.parentType = "paragraph"
    try:
        return any(
            rule(state, line, end, True) for rule in state.md.block.ruler.getRules("paragraph")
        )
    finally:
        state.parentType = old


def label_and_convert(state: StateCore) -> None:
    """Core rule: labels after display formulas in paragraphs, each formula's line,
    and its MathML (or why it has none, as a T13 warning)."""
    env: ParseEnv | None = state.env.get("parse")
    for block in state.tokens:
        if block.type == BLOCK:
            line = block.map[0] + 1 if block.map else None
            _convert(block, env, line)
            continue
        if block.type != "inline" or not block.children:
            continue
        first = block.map[0] + 1 if block.map else None
        _formulas(block.children, block.content, first, env)
        for image in block.children:
            if image.type == "image" and image.children:
                # A figure's caption (an image's description) holds formulas too;
                # its offsets count in the description: the paragraph's first line.
                _formulas(image.children, "", first, env)


def _formulas(children: list[Token], content: str, first: int | None, env: ParseEnv | None) -> None:
    if not any(child.type in (INLINE, DISPLAY) for child in children):
        return
    for index, child in enumerate(children):
        if child.type not in (INLINE, DISPLAY):
            continue
        line = None
        if first is not None:
            line = first + content.count("\n", 0, child.meta.get("offset", 0))
        if child.type == DISPLAY and index + 1 < len(children):
            after = children[index + 1]
            found = _LABEL.match(after.content) if after.type == "text" else None
            if found is not None:
                child.attrSet("id", found.group(1))
                child.meta["attributes_line"] = line  # for the id's messages
                after.content = after.content[found.end() :]
        _convert(child, env, line)


# --- TeX to MathML ------------------------------------------------------------------


@dataclass(frozen=True)
class Converted:
    """A formula as MathML (`mathml`), or why it could not be read (`why`)."""

    mathml: str = ""
    why: str = ""


def _convert(token: Token, env: ParseEnv | None, line: int | None) -> None:
    tex = token.content.strip()
    token.meta["tex"] = tex
    token.meta["line"] = line
    display = token.type != INLINE
    if env is not None and (tex, display) not in env.math.seen:
        env.math.seen.add((tex, display))
        env.math.chars += len(tex)
        if env.math.chars > MAX_BOOK_TEX:
            raise ManuscriptError(
                f"the book's formulas hold more than {MAX_BOOK_TEX} characters of TeX; "
                "publisher sets at most that many",
                where=env.where(line),
                hint="split the book, or set repeated expressions once and refer to them",
            )
    done = to_mathml(tex, display)
    token.meta["mathml"] = done.mathml
    if env is None:
        return
    if done.mathml:
        env.formulas.setdefault(done.mathml, line)
    elif done.why:
        shown = " ".join(tex.split())
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        env.found.append(
            Diagnostic(
                "T13",
                WARNING,
                env.where(line),
                f"formula '{shown}' cannot be read: {done.why}; it is shown as written",
                hint="correct the TeX, or escape the dollar signs (\\$) if it is not a formula",
                subject=tex,
                reason=done.why,
            )
        )


# Environments latex2mathml sets as they are, and those it does not know, written
# as the one it knows that sets them alike (align's own numbers are not wanted:
# equations are numbered by their labels).
_ENVIRONMENTS = {
    *(f"{kind}matrix{star}" for kind in ("", "p", "b", "B", "v", "V") for star in ("", "*")),
    "smallmatrix",
    "array",
    "cases",
    "split",
    "align*",
    "displaylines",
}
_SAME_AS = {
    "align": "align*",
    "aligned": "align*",
    "flalign": "align*",
    "flalign*": "align*",
    "eqnarray": "align*",
    "eqnarray*": "align*",
    "alignat": "align*",
    "alignat*": "align*",
    "alignedat": "align*",
    "gather": "displaylines",
    "gather*": "displaylines",
    "gathered": "displaylines",
    "equation": "",
    "equation*": "",
    "multline": "",
    "multline*": "",
}
_ENVIRONMENT = re.compile(r"\\(begin|end)\s*\{([^{}]*)\}(\s*\{\d+\})?")
# Numbers come from labels ({#eq-name}): LaTeX's own labels and number switches go.
_LABEL_COMMAND = re.compile(r"\\label\s*\{[^{}]*\}|\\no(?:number|tag)(?![A-Za-z])")
# latex2mathml drops the style of a one-letter \mathrm{d}; a space keeps it.
_MATHRM = re.compile(r"\\(mathrm|textrm|mathup)\{")


def _environments(tex: str) -> tuple[str, str]:
    """The TeX with environments latex2mathml lacks renamed; or why it cannot be set."""
    unknown = ""

    def rename(found: re.Match[str]) -> str:
        nonlocal unknown
        kind, name = found.group(1), found.group(2).strip()
        argument = found.group(3) or ""
        if name in _ENVIRONMENTS:
            return found.group(0)
        if name in _SAME_AS:
            same = _SAME_AS[name]
            if name.startswith("align") and name.endswith(("at", "at*")) and kind == "begin":
                argument = ""  # alignat's column count
            return f"\\{kind}{{{same}}}{argument}" if same else argument
        unknown = unknown or name
        return found.group(0)

    renamed = _ENVIRONMENT.sub(rename, tex)
    return renamed, (f"unknown environment '{unknown}'" if unknown else "")


def _depth(tex: str) -> int:
    """How deep the formula's groups nest: braces, \\left…\\right, environments."""
    depth = deepest = 0
    for found in _GROUPING.finditer(tex):
        mark = found.group(0)
        if mark in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif mark in _CLOSING:
            depth -= 1
    return deepest


_OPENING = frozenset({"{", "\\left", "\\begin"})
_CLOSING = frozenset({"}", "\\right", "\\end"})
_GROUPING = re.compile(r"\\(?:[A-Za-z]+|.)|[{}]")


def _braces(tex: str) -> str:
    """Why the braces do not balance, or ''."""
    depth = 0
    for found in _GROUPING.finditer(tex):
        mark = found.group(0)
        if mark == "{":
            depth += 1
        elif mark == "}":
            depth -= 1
            if depth < 0:
                return "a '}' closes no '{'"
    return "a '{' is never closed" if depth else ""


@functools.lru_cache(maxsize=8192)
def to_mathml(tex: str, display: bool) -> Converted:
    """The formula as a MathML element (the MathML namespace declared on it), or why
    not. Pure; each distinct formula is converted once in a process."""
    if len(tex) > MAX_FORMULA:
        return Converted(why=f"it is longer than {MAX_FORMULA} characters")
    unbalanced = _braces(tex)
    if unbalanced:
        return Converted(why=f"unbalanced braces: {unbalanced}")
    if _depth(tex) > MAX_DEPTH:
        return Converted(why=f"it nests more than {MAX_DEPTH} groups deep")
    source, why = _environments(_LABEL_COMMAND.sub("", tex))
    if why:
        return Converted(why=why)
    source = _MATHRM.sub(lambda m: f"\\{m.group(1)} {{", source)
    from latex2mathml.converter import convert  # lazy: only a book with formulas pays it

    try:
        mathml = convert(source, display="block" if display else "inline")
    except RecursionError:
        return Converted(why=f"it nests more than {MAX_DEPTH} groups deep")
    except Exception as error:  # latex2mathml's own exceptions name the TeX error
        return Converted(why=_error_text(error))
    return _checked(mathml, tex, display)


# What latex2mathml's exceptions mean, in the author's words.
_ERRORS = {
    "NumeratorNotFoundError": "a \\frac without its numerator",
    "DenominatorNotFoundError": "a \\frac without its denominator",
    "ExtraLeftOrMissingRightError": "a \\left without its \\right, or a \\right alone",
    "MissingSuperScriptOrSubscriptError": "a ^ or _ with nothing after it",
    "DoubleSubscriptsError": "two subscripts in a row (x_a_b)",
    "DoubleSuperscriptsError": "two superscripts in a row (x^a^b)",
    "NoAvailableTokensError": "a command without its argument",
    "InvalidStyleForGenfracError": "a \\genfrac style that is not 0 to 3",
    "MissingEndError": "a \\begin without its \\end",
    "InvalidAlignmentError": "a column alignment that is not l, c or r",
    "InvalidWidthError": "a width that is not a TeX length",
    "LimitsMustFollowMathOperatorError": "\\limits after something that is not an operator",
    # latex2mathml runs out of tokens where an argument should be
    "StopIteration": MISSING,
    "IndexError": MISSING,
}


def _error_text(error: Exception) -> str:
    return _ERRORS.get(type(error).__name__, f"TeX that cannot be set ({type(error).__name__})")


def _checked(mathml: str, tex: str, display: bool) -> Converted:
    """latex2mathml's output, checked (well-formed XML, no command it left as text)
    and finished: alttext, display, and nothing EPUBCheck's MathML schema refuses."""
    from lxml import etree

    try:
        root = etree.fromstring(mathml.encode("utf-8"))
    except etree.XMLSyntaxError:
        # latex2mathml writes an `&` outside a table as it stands.
        why = "'&' outside an alignment" if "&" in tex.replace("\\&", "") else NO_MATHML
        return Converted(why=why)
    for element in root.iter():
        text = (element.text or "").strip()
        if text.startswith("\\") and len(text) > 1:
            return Converted(why=f"unknown command {text}")
    why = schema_problem(root)
    if why:
        return Converted(why=why)
    root.set("display", "block" if display else "inline")
    root.set("alttext", " ".join(tex.split()))
    return Converted(mathml=etree.tostring(root, encoding="unicode"))


# --- rendering ----------------------------------------------------------------------


def _source(token: Token) -> str:
    """A formula that could not be read, as it was written, in code type."""
    markup = token.markup or "$"
    text = escape(f"{markup}{token.meta.get('tex', token.content.strip())}{markup}")
    if token.type == BLOCK:
        return f'<pre class="math-source"><code>{text}</code></pre>\n'
    return f'<code class="math-source">{text}</code>'


def _display(token: Token, mathml: str, tag: str) -> str:
    """A display formula: centred; a numbered one is the formula and its number
    side by side (base.css lays them out as a row)."""
    number = token.meta.get("number")
    if not number:
        return f'<{tag} class="equation"{_id(token)}>{mathml}</{tag}>'
    return (
        f'<{tag} class="equation numbered"{_id(token)}><span class="equation-body">{mathml}'
        f'</span><span class="equation-number">({escape(str(number))})</span></{tag}>'
    )


def _id(token: Token) -> str:
    ident = token.attrGet("id")
    return f' id="{escape(str(ident))}"' if ident else ""


def _render_inline(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    return str(token.meta.get("mathml") or _source(token))


def _render_display(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    mathml = token.meta.get("mathml")
    if not mathml:  # the source, where links to its label still arrive
        return f"<span{_id(token)}>{_source(token)}</span>" if _id(token) else _source(token)
    return _display(token, mathml, "span")


def _render_block(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    mathml = token.meta.get("mathml")
    if not mathml:
        return f"<div{_id(token)}>{_source(token)}</div>\n" if _id(token) else _source(token)
    return _display(token, mathml, "div") + "\n"
