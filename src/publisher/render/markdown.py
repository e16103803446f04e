"""The Markdown dialect: one configured MarkdownIt and the rules that give EPUB
semantics (heading ids and attributes, figures, notes, links, code). Pure: text
in, tokens and XHTML text out; files are reached only through callbacks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.rules_core.smartquotes import process_inlines
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.attrs import attrs_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location
from publisher.ids import NAME, IdPool, note_id, noteref_id, reserved
from publisher.langtag import well_formed
from publisher.render import xref
from publisher.render.cite import Apparatus, citation_rule
from publisher.render.highlight import highlight
from publisher.render.index import KEYS as INDEX_KEYS
from publisher.render.index import (
    MAX_LEVELS,
    RANGES,
    IndexMarks,
    Mark,
    Term,
    split_levels,
    term_of,
    unescaped,
)
from publisher.render.math import MATH_TOKENS, Budget, label_and_convert, math_plugin
from publisher.render.sanitize import HtmlSanitizer
from publisher.source.text import FORBIDDEN

# Primary and secondary quote marks by language (CLDR): open double, close double,
# open single, close single.
QUOTES: dict[str, tuple[str, str, str, str]] = {
    "en": ("“", "”", "‘", "’"),
    "de": ("„", "“", "‚", "‘"),
    "fr": ("«\u202f", "\u202f»", "‹\u202f", "\u202f›"),
    "ru": ("«", "»", "„", "“"),
    "uk": ("«", "»", "„", "“"),
    "be": ("«", "»", "„", "“"),
    "pl": ("„", "”", "«", "»"),
    "cs": ("„", "“", "‚", "‘"),
    "it": ("«", "»", "“", "”"),
    "es": ("«", "»", "“", "”"),
    "pt": ("«", "»", "“", "”"),
    "nl": ("‘", "’", "“", "”"),
    "sv": ("”", "”", "’", "’"),
    "fi": ("”", "”", "’", "’"),
    "da": ("»", "«", "›", "‹"),
    "el": ("«", "»", "“", "”"),
    "zh": ("“", "”", "‘", "’"),
    "ja": ("「", "」", "『", "』"),
    "he": ("”", "”", "’", "’"),
    "ar": ("”", "“", "’", "‘"),
}

# Attributes an author may set with `{...}`; anything else (onclick=, style=) is dropped.
SPAN_ATTRIBUTES = ("id", "class", "lang", "dir")
HEADING_ATTRIBUTES = ("lang", "dir", "epub:type")
_NAME = NAME


def quotes_for(lang: str) -> list[str]:
    return list(QUOTES.get(lang.split("-")[0].lower(), QUOTES["en"]))


@dataclass
class Heading:
    index: int  # position of heading_open in the file's token stream
    level: int
    text: str
    ident: str
    epub_type: str | None = None
    unnumbered: bool = False


@dataclass
class ParseEnv:
    """State while one file is parsed."""

    used_ids: IdPool  # ids taken anywhere in the book
    headings: list[Heading] = field(default_factory=list)
    anchors: dict[str, str] = field(default_factory=dict)  # id as written -> id in the book
    # written id, line: ids taken already or reserved (publisher's own), so renamed
    duplicates: list[tuple[str, int | None]] = field(default_factory=list)
    source: Path | None = None  # the file, for the diagnostics
    found: list[Diagnostic] = field(default_factory=list)  # what parsing found (ids, langs)
    labels: list[xref.Label] = field(default_factory=list)  # cross-reference targets
    citations: list[Token] = field(default_factory=list)  # `@` references, in order
    formulas: dict[str, int | None] = field(default_factory=dict)  # MathML -> first line
    math: Budget = field(default_factory=Budget)  # the book's formulas, shared by its files
    index: IndexMarks = field(default_factory=IndexMarks)  # the book's index marks, shared

    def where(self, line: int | None) -> Location | None:
        return Location(self.source, line) if self.source is not None else None


@dataclass
class RenderEnv:
    """State while one chapter is rendered."""

    doc_id: str  # note ids are unique per chapter
    resolve_image: Callable[[str, int | None], str | None]  # (src, line) -> href, None: dropped
    resolve_link: Callable[[str, int | None], str | None]  # (href, line) -> href, None: dropped
    heading_shift: int = 0  # the chapter's title becomes <h1>
    note_numbers: dict[int, int] = field(default_factory=dict)  # note id -> number shown
    note_order: list[int] = field(default_factory=list)  # note ids by number
    ref_counts: dict[int, int] = field(default_factory=dict)
    line: int | None = None  # the block being rendered, for messages
    used_ids: IdPool = field(default_factory=IdPool)  # ids taken in the book (raw HTML's too)
    warn: Callable[[str, int | None], None] = lambda note, line: None  # (message, line)
    # heading id -> (class, number) printed before it: the style's chapter and
    # section numbers (publisher/source/styles.py)
    heading_numbers: dict[str, tuple[str, str]] = field(default_factory=dict)
    scene_break: str = "Scene break"  # the accessible name of `***`, in the book's language
    apparatus: Apparatus | None = None  # cross-references and citations (render/cite.py)


def make_parser(
    lang: str, raw_html: bool = False, dashes: str = "en", citations: bool = False
) -> MarkdownIt:
    """`raw_html`: HTML in the Markdown is kept, through sanitize.py's allow-list;
    otherwise (the default) it is shown as text. `dashes`: "en" reads `--` as an en
    dash (Pandoc), "em" as an em dash (Project Gutenberg's texts). `citations`:
    `@key` is a citation (the manuscript has a bibliography); cross-references
    (`@fig-map`) are read in any case."""
    md = MarkdownIt(
        "commonmark",
        {"typographer": True, "quotes": quotes_for(lang), "html": raw_html, "xhtmlOut": True},
        renderer_cls=SanitizingRenderer,
    )
    md.enable(["smartquotes", "table", "strikethrough"])
    # markdown-it silently leaves `file:` and `javascript:` links as text; let them
    # through to the fence and the link resolver, which drop them with a warning.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.use(footnote_plugin).use(deflist_plugin)
    md.use(attrs_plugin, spans=True, allowed=SPAN_ATTRIBUTES)
    md.inline.ruler.before("link", "citation", citation_rule(citations))
    md.inline.ruler.before("strikethrough", "long_runs", _long_runs)
    md.use(math_plugin)
    md.core.ruler.before("smartquotes", "heading_attributes", _heading_attributes)
    md.core.ruler.before("smartquotes", "block_attributes", _block_attributes)
    chosen = _EM_DASHES if dashes == "em" else _DASHES

    def punctuation(state: StateCore) -> None:
        _punctuation(state, chosen)

    md.core.ruler.after("smartquotes", "punctuation", punctuation)
    md.core.ruler.push("bounded_nesting", _bounded_nesting)
    # before the headings are indexed: a caption row taken out of a table moves them
    md.core.ruler.push("fence_attributes", xref.fence_attributes)
    md.core.ruler.push("table_captions", xref.table_captions)
    md.core.ruler.push("math", label_and_convert)  # before the ids are checked
    md.core.ruler.push("heading_ids", _heading_ids)
    md.core.ruler.push("figures", _figures)
    md.core.ruler.push("pull_quotes", _pull_quotes)
    md.core.ruler.push("checked_attributes", _checked_attributes)
    md.core.ruler.push("paired_links", _paired_links)
    md.core.ruler.push("index_marks", _index_marks)
    md.core.ruler.push("labels", _labels)  # after every rule that gives an id
    rules: dict[str, Callable[..., str]] = {
        "image": _render_image,
        "figure": _render_figure,
        "heading_open": _render_heading,
        "heading_close": _render_heading,
        "link_open": _render_link_open,
        "link_close": _render_link_close,
        "fence": _render_code,
        "code_block": _render_code,
        "footnote_ref": _render_note_ref,
        "footnote_block_open": _render_notes_open,
        "footnote_block_close": lambda *a: "</section>\n",
        "footnote_open": _render_note_open,
        "footnote_close": lambda *a: "</aside>\n",
        "footnote_anchor": lambda *a: "",
        "paragraph_open": _render_paragraph_open,
        "span_open": _render_span_open,
        "th_open": _render_th_open,
        "hr": _render_scene_break,
        "pullquote_open": lambda *a: (
            '<aside class="pullquote" epub:type="pullquote" role="doc-pullquote">\n'
        ),
        "pullquote_close": lambda *a: "</aside>\n",
        "citation": _render_citation,
        "table_caption_open": _render_table_caption,
        "table_caption_close": lambda *a: "</caption>\n",
    }
    for name, rule in rules.items():
        md.add_render_rule(name, rule)
    return md


def parse(md: MarkdownIt, text: str, env: ParseEnv) -> tuple[list[Token], dict[str, Any]]:
    """Tokens for a whole file, and markdown-it's env (it holds the notes)."""
    holder: dict[str, Any] = {"parse": env}
    # text.read_text has removed these with a warning; this keeps the parser safe
    # for text from anywhere else.
    tokens = md.parse(FORBIDDEN.sub("", text), holder)
    return tokens, holder


def render_tokens(md: MarkdownIt, tokens: Sequence[Token], env: RenderEnv) -> str:
    return str(md.renderer.render(tokens, md.options, {"render": env}))


def _parse_env(env: EnvType) -> ParseEnv:
    value = env["parse"]
    assert isinstance(value, ParseEnv)
    return value


def _render_env(env: EnvType) -> RenderEnv:
    value = env["render"]
    assert isinstance(value, RenderEnv)
    return value


# --- text helpers -------------------------------------------------------------


def plain_text(tokens: Sequence[Token], cite: Callable[[Token], str] | None = None) -> str:
    """The text of inline tokens; `cite` gives a citation's or cross-reference's
    text once they are resolved (before, they are left out: a heading's slug)."""
    parts = []
    for token in tokens:
        if token.type == "citation":
            parts.append(cite(token) if cite is not None else "")
        elif token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in MATH_TOKENS:  # a formula in a title: its TeX, as Pandoc does
            parts.append(token.content.strip())
        elif token.type == "image":
            parts.append(plain_text(token.children or [], cite))
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def slug(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    words = re.findall(r"\w+", text)
    return "-".join(words)[:60].strip("-_") or "section"


def unique_id(base: str, used: IdPool) -> str:
    """A free id made from `base`, outside publisher's own namespace (publisher.ids)."""
    # An XML id must not start with a digit, nor contain a colon.
    base = base.replace(":", "-")
    if not _NAME.match(base):
        base = "s-" + (slug(base) if not re.match(r"^[\w.-]+$", base) else base)
    return used.take(base)


def walk(tokens: Sequence[Token]) -> Any:
    """Every token, inline children included."""
    for token in tokens:
        yield token
        if token.children:
            yield from walk(token.children)


# --- core rules -----------------------------------------------------------------

_TRAILING_ATTRS = re.compile(r"\s*\{([^{}]*)\}\s*$")
_ATTR = re.compile(r'([#.][^\s#.=]+|[\w:-]+=(?:"[^"]*"|\S+)|-)')


def _heading_attributes(state: StateCore) -> None:
    """Pandoc's `# Title {#id .class key=value}` on headings."""
    tokens = state.tokens
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        inline = tokens[i + 1]
        children = inline.children or []
        if not children or children[-1].type != "text":
            continue
        match = _TRAILING_ATTRS.search(children[-1].content)
        if not match:
            continue
        children[-1].content = children[-1].content[: match.start()]
        inline.content = _TRAILING_ATTRS.sub("", inline.content)
        for item in _ATTR.findall(match.group(1)):
            if item.startswith("#"):
                token.meta["id"] = item[1:]
            elif item.startswith("."):
                if item == ".unnumbered":
                    token.meta["unnumbered"] = True
                else:
                    token.attrJoin("class", item[1:])
            elif item == "-":
                token.meta["unnumbered"] = True
            else:
                key, value = item.split("=", 1)
                value = value.strip('"')
                if key == "epub:type" and _NAME.match(value):
                    token.meta["epub_type"] = value
                elif key in ("lang", "dir"):
                    token.attrSet(key, value)  # checked with every other (_checked_attributes)
                elif key == "short-title" and value.strip():
                    # The running head's text when the title is too long for it (print).
                    token.attrSet("data-short-title", " ".join(value.split()))


# A line of only `{.class #id lang=xx}` before a block: its attributes.
_BLOCK_ATTRS = re.compile(r"^\{\s*((?:(?:[.#][^\s{}#.=]+|(?:lang|dir)=[\w-]+)\s*)+)\}$")


def _block_attributes(state: StateCore) -> None:
    """`{.pullquote}` on the line before a block gives that block the attributes.
    Only classes, an id, lang and dir; anything else stays text, so that nothing an
    author wrote disappears silently."""
    tokens = state.tokens
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        found = (
            _BLOCK_ATTRS.match(tokens[i + 1].content.strip())
            if token.type == "paragraph_open" and i + 3 < len(tokens)
            else None
        )
        target = tokens[i + 3] if found else None
        if found and target is not None and target.nesting == 1 and target.level == token.level:
            if token.map:
                target.meta["attributes_line"] = token.map[0] + 1  # for messages
            for item in found.group(1).split():
                if item.startswith("."):
                    classes = str(target.attrGet("class") or "").split()
                    target.attrSet("class", " ".join([*classes, item[1:]]))
                elif item.startswith("#") and target.type == "heading_open":
                    # A heading's id is its own rule's (_heading_ids), as `# Title {#id}`.
                    if "id" not in target.meta:
                        target.meta["id"] = item[1:]
                        target.meta["id_line"] = target.meta.get("attributes_line")
                elif item.startswith("#"):
                    target.attrSet("id", item[1:])
                else:
                    key, value = item.split("=", 1)
                    target.attrSet(key, value)
            i += 3  # the attribute line's paragraph is gone
            continue
        out.append(token)
        i += 1
    state.tokens = out


def _valid_attribute(key: str, value: str) -> bool:
    if key == "lang":
        return well_formed(value)
    if key == "dir":
        return value in ("ltr", "rtl", "auto")
    if key == "id":
        return bool(_NAME.match(value))
    return key == "class" and all(_NAME.match(c) for c in value.split())


def _checked_attributes(state: StateCore) -> None:
    """Values of `{...}` attributes must be sane (a bad lang or id is dropped, a bad
    lang with a warning), on every element, headings included; and ids unique
    across the book and outside publisher's own (publisher.ids)."""
    env = _parse_env(state.env)
    for token, line in _with_lines(state.tokens):
        if not token.attrs:
            continue
        heading = token.type == "heading_open"  # its id is _heading_ids', its classes as before
        for key in SPAN_ATTRIBUTES:
            if key in token.attrs and not (heading and key in ("id", "class")):
                value = str(token.attrs[key])
                if not _valid_attribute(key, value):
                    del token.attrs[key]
                    if key == "lang":
                        _lang_dropped(env, value, token.meta.get("attributes_line", line))
                    elif key == "id":
                        _id_dropped(env, value, token.meta.get("attributes_line", line))
        ident = token.attrs.get("id")
        if ident is not None and not heading:
            where = token.meta.get("attributes_line", line)
            token.attrSet("id", _author_id(env, str(ident), where, token))


def _id_dropped(env: ParseEnv, value: str, line: int | None) -> None:
    """An id XHTML cannot hold (`{#fig-x:y}`) goes; said, since a reference to it
    would otherwise only say its label is missing."""
    env.found.append(
        Diagnostic(
            "T20",
            WARNING,
            env.where(line),
            f"id '{value}' is not kept: an id is a letter, then letters, digits, '-', '_' or '.'",
            hint="write it as {#fig-map}",
            subject=value,
        )
    )


def _with_lines(tokens: Sequence[Token]) -> Any:
    """Every token, inline children included, with the 1-based line it is on: its
    block's first line plus the line breaks before it."""
    line: int | None = None
    for block in tokens:
        if block.map:
            line = block.map[0] + 1
        yield block, line
        inner = line
        for child in block.children or ():
            yield child, inner
            for grandchild in walk(child.children or ()):  # an image's description
                yield grandchild, inner
            if child.type in ("softbreak", "hardbreak") and inner is not None:
                inner += 1
            elif child.type in MATH_TOKENS and inner is not None:  # a formula over lines
                inner += child.content.count("\n")


def _author_id(env: ParseEnv, written: str, line: int | None, token: Token | None = None) -> str:
    """The id an author wrote, as it stands in the book: renamed, with a warning,
    when an earlier element has it or publisher makes ids of its form itself.
    Links to it as written reach it (`anchors`), or the first of its name. A
    cross-reference label keeps its written name on the token (`meta["label"]`)."""
    if token is not None and xref.is_label(written):
        token.meta["label"], token.meta["label_line"] = written, line
    taken = written in env.used_ids
    final = unique_id(written, env.used_ids)
    env.anchors.setdefault(written, final)
    if not taken:
        return final
    env.duplicates.append((written, line))
    if reserved(written):
        why = "publisher makes ids of this form itself"
        fix = f"links to #{written} in this file reach it; give it another id to keep one name"
    else:
        why = "an earlier element of the book has it"
        fix = f"links to #{written} reach the first one; give it an id of its own"
    env.found.append(
        Diagnostic(
            "T11",
            WARNING,
            env.where(line),
            f"id '{written}' renamed '{final}': {why}",
            hint=fix,
            subject=written,
            reason=why,
        )
    )
    return final


def _lang_dropped(env: ParseEnv, value: str, line: int | None) -> None:
    why = "it is not a BCP 47 language tag"
    env.found.append(
        Diagnostic(
            "T12",
            WARNING,
            env.where(line),
            f"lang '{value}' dropped: {why}",
            hint="use a tag such as en, en-GB, ru, zh-Hans",
            subject=value,
            reason=why,
        )
    )


_DASHES = (
    (re.compile(r"(?<!-)---(?!-)"), "\u2014"),
    (re.compile(r"(?<!-)--(?!-)"), "\u2013"),
    (re.compile(r"\.\.\."), "\u2026"),
)
_EM_DASHES = ((re.compile(r"(?<!-)---?(?!-)"), "\u2014"), _DASHES[2])


def _punctuation(state: StateCore, dashes: tuple[tuple[re.Pattern[str], str], ...]) -> None:
    """Pandoc's `smart` set: em and en dashes and the ellipsis, nothing more
    (markdown-it's own `replacements` also rewrites (c), +- and '?....'). Soft
    hyphens go."""
    for block in state.tokens:
        if block.type != "inline":
            continue
        texts = list(block.children or ())
        for image in [t for t in texts if t.type == "image"]:
            # An image's words (its alt text, a figure's caption) are text too:
            # markdown-it's smartquotes leaves them straight.
            words = image.children or []
            if state.md.options.typographer and words:
                process_inlines(words, state)
            texts += words
        for token in texts:
            if token.type == "text" and "\u00ad" in token.content:
                # Soft hyphens break e-readers' dictionaries (Kobo); print hyphenates itself.
                token.content = token.content.replace("\u00ad", "")
            if token.type == "text" and ("--" in token.content or "..." in token.content):
                for pattern, replacement in dashes:
                    token.content = pattern.sub(replacement, token.content)


MAX_INLINE_DEPTH = 64
_EMPHASIS = ("em_open", "strong_open", "s_open")


# A run of `*`, `_` or `~` longer than this is text: it could only open or close
# emphasis nested deeper than MAX_INLINE_DEPTH, which is kept as its marks anyway,
# and markdown-it makes a token of each of its characters (a megabyte of `*`: a
# million tokens, 500 MB, before any of them is kept as text).
MAX_RUN = 2 * MAX_INLINE_DEPTH


def _long_runs(state: StateInline, silent: bool) -> bool:
    start = state.pos
    marker = state.src[start]
    if marker not in "*_~":
        return False
    end = start + 1
    while end < state.posMax and state.src[end] == marker:
        end += 1
    if end - start <= MAX_RUN:
        return False
    if not silent:
        state.push("text", "", 0).content = state.src[start:end]
    state.pos = end
    return True


def _as_text(token: Token) -> None:
    token.type, token.tag, token.nesting, token.content = "text", "", 0, token.markup


def _bounded_nesting(state: StateCore) -> None:
    """Emphasis nested deeper than any text needs (`*****…x…*****`) is kept as its
    literal marks: XML parsers refuse documents nested thousands deep."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        depth = 0
        flattened: list[bool] = []
        for token in block.children:
            if token.nesting == 1:
                depth += 1
                flat = depth > MAX_INLINE_DEPTH and token.type in _EMPHASIS
                flattened.append(flat)
                if flat:
                    _as_text(token)
            elif token.nesting == -1 and flattened:
                depth -= 1
                if flattened.pop():
                    _as_text(token)


def _heading_ids(state: StateCore) -> None:
    env = _parse_env(state.env)
    tokens = state.tokens
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = plain_text(tokens[i + 1].children or [])
        written = token.meta.get("id")
        if written and _NAME.match(written):
            line = token.meta.get("id_line") or (token.map[0] + 1 if token.map else None)
            ident = _author_id(env, written, line, token)
        else:  # a slug in publisher's own namespace is renamed too, quietly
            if written:
                line = token.meta.get("id_line") or (token.map[0] + 1 if token.map else None)
                _id_dropped(env, written, line)
            ident = unique_id(slug(text), env.used_ids)
            env.anchors.setdefault(written or slug(text), ident)
        token.attrSet("id", ident)
        env.headings.append(
            Heading(
                i,
                int(token.tag[1]),
                text,
                ident,
                token.meta.get("epub_type"),
                bool(token.meta.get("unnumbered")),
            )
        )


def _labels(state: StateCore) -> None:
    """The file's cross-reference labels and `@` references (render/xref.py)."""
    env = _parse_env(state.env)
    tokens = state.tokens
    start = len(env.citations)
    xref.collect(
        tokens,
        env.labels,
        env.citations,
        lambda index: plain_text(tokens[index + 1].children or []),
    )
    for token in env.citations[start:]:
        token.meta["source"] = env.source


def _figures(state: StateCore) -> None:
    """An image alone in a paragraph becomes a figure (Pandoc's implicit_figures)."""
    tokens = state.tokens
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if (
            token.type == "paragraph_open"
            and i + 2 < len(tokens)
            and tokens[i + 2].type == "paragraph_close"
            and [c.type for c in tokens[i + 1].children or ()] == ["image"]
        ):
            figure = Token("figure", "figure", 0)
            figure.map = token.map
            figure.level = token.level
            figure.children = tokens[i + 1].children
            figure.block = True
            out.append(figure)
            i += 3
            continue
        out.append(token)
        i += 1
    # Heading positions moved: recompute them.
    if len(out) != len(tokens):
        positions = {id(t): n for n, t in enumerate(out)}
        for heading in _parse_env(state.env).headings:
            heading.index = positions[id(tokens[heading.index])]
    state.tokens = out


# Elements that can mark a place for the index: a span, a link, inline code, an image.
_MARKABLE = ("span_open", "link_open", "code_inline", "image")


def _index_marks(state: StateCore) -> None:
    """`[term]{.index}`, `[]{index="a!b" see="c"}` (render/index.py): each mark
    gives the element an id (its own, if it has one) and goes to the book's
    index; its attributes never reach the output."""
    env = _parse_env(state.env)
    for position, block in enumerate(state.tokens):
        if block.type not in ("inline", "figure") or not block.children:
            continue  # a figure holds its image (_figures)
        line = block.map[0] + 1 if block.map else None
        children = block.children
        for k, token in enumerate(children):
            if token.type in ("softbreak", "hardbreak") and line is not None:
                line += 1
            if token.type not in _MARKABLE:
                continue
            given = token.meta.get("insecure_attrs") or {}
            classes = str(token.attrs.get("class", "")).split()
            if "index" not in classes and not any(key in given for key in INDEX_KEYS):
                continue
            if "index" in classes:
                kept = [c for c in classes if c != "index"]
                if kept:
                    token.attrSet("class", " ".join(kept))
                else:
                    del token.attrs["class"]
            mark = _mark(state, env, token, _marked(children, k), given, line, position)
            if mark is not None:
                env.index.marks.append(mark)


def _marked(children: Sequence[Token], at: int) -> Sequence[Token]:
    """The tokens a span or a link holds, up to its closing token; inline code and
    an image are their own content."""
    token = children[at]
    if token.type == "code_inline":
        return [token]
    if token.type == "image":
        return token.children or []
    depth = 0
    for end in range(at, len(children)):
        depth += children[end].nesting
        if depth == 0:
            return children[at + 1 : end]
    return children[at + 1 :]


def _short_term(text: str) -> str:
    return text if len(text) <= 60 else text[:59] + "…"


def _mark(
    state: StateCore,
    env: ParseEnv,
    token: Token,
    content: Sequence[Token],
    given: dict[str, Any],
    line: int | None,
    position: int,
) -> Mark | None:
    where = env.where(line)
    value = given.get("index")
    if value is None:
        terms: tuple[Term, ...] = (term_of(content),)
        written = terms[0].text
    else:
        written = unescaped(str(value))
        levels = split_levels(str(value))
        if len(levels) > MAX_LEVELS:
            env.found.append(
                Diagnostic(
                    "T18",
                    WARNING,
                    where,
                    f"index term '{_short_term(written)}' has {len(levels)} levels, more than "
                    f"{MAX_LEVELS}: the mark is left out of the index",
                    hint="write an entry, a sub-entry and at most a sub-sub-entry: "
                    'index="evolution!theory of!Darwin\'s"',
                    subject=written,
                )
            )
            return None
        terms = tuple(_term(state, env, level) for level in levels)
    if not written:
        env.found.append(
            Diagnostic(
                "T15",
                WARNING,
                where,
                "index mark without a term: it is left out of the index",
                hint='write the term in the brackets, [Darwin]{.index}, or give it: index="Darwin"',
            )
        )
        return None
    if any(not term.text for term in terms):
        env.found.append(
            Diagnostic(
                "T15",
                WARNING,
                where,
                f"index term '{written}' has an empty level: the mark is left out of the index",
                hint="write a term between each two '!': index=\"evolution!theory of\"",
                subject=written,
            )
        )
        return None

    def reference(key: str) -> tuple[Term, ...] | None:
        target = given.get(key)
        if target is None or not unescaped(str(target)):
            return None
        levels = tuple(_term(state, env, level) for level in split_levels(str(target)))
        return levels if all(t.text for t in levels) else None

    see, see_also = reference("see"), reference("see-also")
    span = given.get("range")
    if span is not None and span not in RANGES:
        env.found.append(
            Diagnostic(
                "T17",
                WARNING,
                where,
                f"index range '{span}' is neither start nor end: the mark is one place",
                hint="write range=start where the range begins and range=end where it ends",
                subject=str(span),
            )
        )
        span = None
    ident: str | None = None
    if see is None and see_also is None:  # a reference has no place of its own
        ident = str(token.attrs.get("id") or "") or env.index.next_id()
        token.attrSet("id", ident)
    sort = unescaped(str(given.get("sort", ""))) or None
    return Mark(ident, terms, sort, see, see_also, span, env.source, line, position)


def _term(state: StateCore, env: ParseEnv, written: str) -> Term:
    """A term as written in an attribute, read as Markdown (emphasis, code, the
    language's quote marks), once for the whole book."""
    found = env.index.terms.get(written)
    if found is None:
        # A throwaway state: whatever the term holds (ids, marks) stays out of the book.
        scratch = ParseEnv(IdPool())
        tokens = state.md.parseInline(written, {"parse": scratch})
        found = term_of(tokens[0].children or [] if tokens else [])
        env.index.terms[written] = found
    return found


# --- the renderer: raw HTML through the allow-list ---------------------------------


class SanitizingRenderer(RendererHTML):
    """markdown-it's renderer, with raw HTML (when the `html` option is on) passed
    through sanitize.HtmlSanitizer, which keeps the output well-formed around
    Markdown's own elements: a tag opened in one token and closed in another is
    balanced at the Markdown level it was opened at."""

    def render(self, tokens: Sequence[Token], options: OptionsDict, env: EnvType) -> str:
        if "render" not in env:
            return str(super().render(tokens, options, env))
        render = _render_env(env)
        sanitizer = self._sanitizer(env, inline=False)
        out = []
        for i, token in enumerate(tokens):
            if token.map and token.nesting >= 0:
                render.line = token.map[0] + 1  # for messages about what it holds
            if token.nesting == -1:
                out.append(sanitizer.close(token.level))
            if token.type == "html_block":
                out.append(self._feed(sanitizer, token, env, in_link=False))
            elif sanitizer.hiding:
                continue
            elif token.type == "inline":
                out.append(self.renderInline(token.children or [], options, env))
            elif token.type in self.rules:
                out.append(self.rules[token.type](tokens, i, options, env))
            else:
                out.append(self.renderToken(tokens, i, options, env))
        out.append(sanitizer.close())
        return "".join(out)

    def renderInline(self, tokens: Sequence[Token], options: OptionsDict, env: EnvType) -> str:
        if not options.get("html") or "render" not in env:
            return str(super().renderInline(tokens, options, env))
        sanitizer = self._sanitizer(env, inline=True)
        out = []
        in_link = False
        for i, token in enumerate(tokens):
            if token.nesting == -1:
                out.append(sanitizer.close(token.level))
            if token.type in ("link_open", "link_close"):
                in_link = token.type == "link_open"
                if sanitizer.is_open("a"):
                    continue  # a link inside a raw <a>: its text only (links never nest)
            if token.type == "html_inline":
                out.append(self._feed(sanitizer, token, env, in_link=in_link))
            elif sanitizer.hiding:
                continue
            elif token.type in self.rules:
                out.append(self.rules[token.type](tokens, i, options, env))
            else:
                out.append(self.renderToken(tokens, i, options, env))
        out.append(sanitizer.close())
        return "".join(out)

    @staticmethod
    def _sanitizer(env: EnvType, *, inline: bool) -> HtmlSanitizer:
        render = _render_env(env)
        return HtmlSanitizer(
            inline=inline,
            used_ids=render.used_ids,
            resolve_src=lambda src: render.resolve_image(src, render.line),
            resolve_href=lambda href: render.resolve_link(href, render.line),
        )

    @staticmethod
    def _feed(sanitizer: HtmlSanitizer, token: Token, env: EnvType, *, in_link: bool) -> str:
        render = _render_env(env)
        if token.map:
            render.line = token.map[0] + 1
        ids = not token.meta.get("drop_ids")  # a note rendered again (render/book.py)
        xhtml, notes = sanitizer.feed(token.content, token.level, in_link=in_link, ids=ids)
        for note in notes:
            render.warn(note, render.line)
        return xhtml


# --- render rules ---------------------------------------------------------------

Rule = Callable[[RendererHTML, Sequence[Token], int, OptionsDict, EnvType], str]


def _line(token: Token, env: RenderEnv) -> int | None:
    return token.map[0] + 1 if token.map else env.line


def _attrs(token: Token, skip: tuple[str, ...] = ()) -> str:
    out = []
    for key, value in (token.attrs or {}).items():
        if key in skip:
            continue
        out.append(f' {key}="{escape(str(value))}"')
        if key == "lang":
            out.append(f' xml:lang="{escape(str(value))}"')
    return "".join(out)


def _image_tag(token: Token, env: EnvType, line: int | None) -> str:
    render = _render_env(env)
    src = str(token.attrGet("src") or "")
    alt = plain_text(token.children or [])
    href = render.resolve_image(src, line if line is not None else render.line)
    if href is None:  # stopped by the fence: the text stays, the reference goes
        return f'<span class="image-dropped">{escape(alt)}</span>'
    return (
        f'<img src="{escape(href)}" alt="{escape(alt)}"{_attrs(token, ("src", "alt", "title"))} />'
    )


def _render_image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _image_tag(tokens[idx], env, None)


def _render_figure(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    figure = tokens[idx]
    image = (figure.children or [])[0]
    line = figure.map[0] + 1 if figure.map else None
    caption_text = str(image.attrGet("title") or "") or plain_text(image.children or [])
    caption_html = escape(caption_text)
    if not image.attrGet("title") and any(c.type != "text" for c in image.children or ()):
        # the caption's emphasis, code, formulas and citations are rendered, as
        # Pandoc renders them (the alt text keeps the words alone)
        caption_html = self.renderInline(_without_images(image.children or []), options, env)
    ident = image.attrs.pop("id", None) if image.attrs else None  # the figure's, not the image's
    tag = _image_tag(image, env, line)
    if ident is not None:
        image.attrSet("id", ident)
    figure_id = f' id="{escape(str(ident))}"' if ident is not None else ""
    if tag.startswith("<span"):  # the image dropped: its text stays, and the label's target
        return f"<p{figure_id}>{tag}</p>\n"
    number = _caption_number(env, "fig", image)
    caption = f"<figcaption>{number}{caption_html}</figcaption>" if caption_text else ""
    if number and not caption_text:
        caption = f"<figcaption>{number.replace(':</span> ', '</span>')}</figcaption>"
    return f"<figure{figure_id}>{tag}{caption}</figure>\n"


def _without_images(children: Sequence[Token]) -> list[Token]:
    """A caption's tokens, an image inside it as its words (CommonMark's
    `![a ![b](x)](y)`: no second image is fetched for a caption)."""
    out: list[Token] = []
    for child in children:
        if child.type == "image":
            words = Token("text", "", 0)
            words.content = plain_text(child.children or [])
            child = words
        out.append(child)
    return out


def _caption_number(env: EnvType, kind: str, token: Token) -> str:
    """A labelled target's caption opening ("Figure 3.2: "), or nothing."""
    number = token.meta.get("number")
    label = str(token.meta.get("label") or token.attrGet("id") or "")
    if not number or xref.label_kind(label) != kind:
        return ""
    render = _render_env(env)
    words = render.apparatus.words if render.apparatus else xref.Words.make("en")
    return words.caption(kind, str(number))


def _render_table_caption(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    table = tokens[idx].meta.get("table")
    number = _caption_number(env, "tbl", table) if table is not None else ""
    return f"<caption>{number}"


def _render_citation(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    render = _render_env(env)
    token = tokens[idx]
    if render.apparatus is None:
        return escape(token.content)
    return render.apparatus.reference(token, render.line)


def _render_heading(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    render_env = _render_env(env)
    level = max(1, min(6, int(token.tag[1]) - render_env.heading_shift))
    if token.nesting == -1:
        return f"</h{level}>\n"
    number = render_env.heading_numbers.get(str(token.attrGet("id")))
    shown = f'<span class="{number[0]}">{escape(number[1])}</span> ' if number else ""
    return f"<h{level}{_attrs(token)}>{shown}"


def _render_scene_break(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """`***`: a scene break, named for assistive technology; the style draws it."""
    token = tokens[idx]
    label = escape(_render_env(env).scene_break)
    classes = escape(" ".join(["scene-break", *str(token.attrGet("class") or "").split()]))
    return f'<hr class="{classes}" aria-label="{label}"{_attrs(token, ("class",))} />\n'


def _pull_quotes(state: StateCore) -> None:
    """A block quote with the class `pullquote` repeats a line of the text for
    display: it becomes an aside (doc-pullquote) that readers can skip."""
    stack: list[bool] = []
    for token in state.tokens:
        if token.type == "blockquote_open":
            classes = str(token.attrGet("class") or "").split()
            pull = "pullquote" in classes
            stack.append(pull)
            if pull:
                token.type, token.tag = "pullquote_open", "aside"
        elif token.type == "blockquote_close" and stack and stack.pop():
            token.type, token.tag = "pullquote_close", "aside"


def _render_link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    render = _render_env(env)
    href = render.resolve_link(str(token.attrGet("href") or ""), render.line)
    token.meta["dropped"] = href is None
    if href is None:
        return '<span class="link-dropped">'
    title = token.attrGet("title")
    extra = f' title="{escape(str(title))}"' if title else ""
    return f'<a href="{escape(href)}"{extra}{_attrs(token, ("href", "title"))}>'


def _render_link_close(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # Its opening token (_paired_links) says whether the link was dropped.
    opening = tokens[idx].meta.get("open")
    return "</span>" if opening is not None and opening.meta.get("dropped") else "</a>"


def _paired_links(state: StateCore) -> None:
    """Each link_close knows its link_open: one pass, however many links a
    paragraph holds (a backward search at each close was quadratic)."""
    for block in state.tokens:
        _pair(block.children or ())


def _pair(children: Sequence[Token]) -> None:
    opened: list[Token] = []
    for token in children:
        if token.type == "link_open":
            opened.append(token)
        elif token.type == "link_close" and opened:
            token.meta["open"] = opened.pop()
        elif token.type == "image" and token.children:  # a caption's links, rendered too
            _pair(token.children)


def _render_code(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    language = token.info.strip().split()[0] if token.info.strip() else ""
    language = token.meta.get("language", language)
    code, lexer = highlight(token.content, language)
    css = f' class="language-{escape(lexer)}"' if lexer else ""
    pre = f'<pre class="code"><code{css}>{code}</code></pre>\n'
    ident = token.attrGet("id") if token.attrs else None
    caption = token.meta.get("caption")
    if ident is None and not caption:
        return pre
    # A listing: its caption above the code, as Quarto sets it.
    number = _caption_number(env, "lst", token)
    head = f"<figcaption>{number}{escape(str(caption or ''))}</figcaption>" if caption else ""
    if number and not caption:
        head = f"<figcaption>{number.replace(':</span> ', '</span>')}</figcaption>"
    figure_id = f' id="{escape(str(ident))}"' if ident else ""
    return f'<figure class="listing"{figure_id}>{head}{pre}</figure>\n'


def _render_th_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # Header cells name what they head: readers and the PDF's tags say "column".
    tokens[idx].attrSet("scope", "col")
    return str(self.renderToken(tokens, idx, options, env))


def _render_span_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return f"<span{_attrs(tokens[idx])}>"


def _render_paragraph_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    render = _render_env(env)
    token = tokens[idx]
    if token.map:
        render.line = token.map[0] + 1
    label = str(env.pop("pending_label", ""))
    return str(self.renderToken(tokens, idx, options, env)) + label


# Notes: numbered per chapter in the order of their first call, the same in the
# EPUB and in the PDF; the plugin's own ids stay internal.


def _note_ids(env: RenderEnv, number: int, call: int = 1) -> tuple[str, str]:
    return note_id(env.doc_id, number), noteref_id(env.doc_id, number, call)


def _render_note_ref(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    render = _render_env(env)
    note = tokens[idx].meta["id"]
    number = render.note_numbers.get(note, 0)
    if not number:
        number = render.note_numbers[note] = len(render.note_numbers) + 1
        render.note_order.append(note)
    call = render.ref_counts[note] = render.ref_counts.get(note, 0) + 1
    note_id, ref_id = _note_ids(render, number, call)
    return (
        f'<a class="noteref" epub:type="noteref" role="doc-noteref" id="{ref_id}" '
        f'href="#{note_id}">{number}</a>'
    )


def _render_notes_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return '<section class="footnotes" aria-label="Notes">\n'


def _render_note_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    render = _render_env(env)
    number = render.note_numbers[tokens[idx].meta["id"]]
    note_id, ref_id = _note_ids(render, number)
    label = f'<a class="note-label" role="doc-backlink" href="#{ref_id}">{number}</a> '
    head = f'<aside class="footnote" epub:type="footnote" role="doc-footnote" id="{note_id}">'
    if idx + 1 < len(tokens) and tokens[idx + 1].type == "paragraph_open":
        env["pending_label"] = label  # placed inside the note's first paragraph
        return head
    return head + f"<p>{label}</p>"
