"""The Markdown dialect: one configured MarkdownIt and the render rules that give
EPUB semantics (heading ids, figures, notes). Pure: text in, XHTML text out."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin

from .text import FORBIDDEN

# Primary and secondary quote marks by language (CLDR), as markdown-it wants them:
# open double, close double, open single, close single.
QUOTES: dict[str, str] = {
    "en": "“”‘’",
    "de": "„“‚‘",
    "fr": "«\u202f\u202f»‹\u202f\u202f›",
    "ru": "«»„“",
    "uk": "«»„“",
    "pl": "„”«»",
    "cs": "„“‚‘",
    "it": "«»“”",
    "es": "«»“”",
    "pt": "«»“”",
    "nl": "‘’“”",
    "sv": "””’’",
    "fi": "””’’",
    "da": "»«›‹",
    "zh": "“”‘’",
    "ja": "「」『』",
    "el": "«»“”",
}


def quotes_for(lang: str) -> str | list[str]:
    quotes = QUOTES.get(lang.split("-")[0].lower(), QUOTES["en"])
    if len(quotes) == 4:
        return quotes
    # French: guillemets with their narrow no-break spaces count as one "character".
    return ["«\u202f", "\u202f»", "‹\u202f", "\u202f›"]


@dataclass
class ChapterEnv:
    """Per-render state, passed to markdown-it as `env`."""

    doc_id: str  # prefix for note ids, unique per chapter
    used_ids: set[str]  # ids taken anywhere in the book
    resolve_image: Callable[[str, int | None], str]  # (src, line) -> href in the book
    headings: list[tuple[int, str, str]] = field(default_factory=list)  # level, text, id
    notes: int = 0


def make_parser(lang: str) -> MarkdownIt:
    md = MarkdownIt(
        "commonmark",
        {"typographer": True, "quotes": quotes_for(lang), "html": False, "xhtmlOut": True},
    )
    md.enable(["smartquotes", "table", "strikethrough"])
    md.use(footnote_plugin).use(deflist_plugin)
    md.core.ruler.after("smartquotes", "punctuation", _punctuation)
    md.core.ruler.push("heading_ids", _heading_ids)
    md.core.ruler.push("figures", _figures)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("figure", _render_figure)
    md.add_render_rule("footnote_ref", _render_note_ref)
    md.add_render_rule("footnote_block_open", _render_notes_open)
    md.add_render_rule("footnote_block_close", lambda *a: "</section>\n")
    md.add_render_rule("footnote_open", _render_note_open)
    md.add_render_rule("footnote_close", lambda *a: "</aside>\n")
    md.add_render_rule("footnote_anchor", lambda *a: "")
    md.add_render_rule("paragraph_open", _render_paragraph_open)
    return md


def render(md: MarkdownIt, text: str, env: ChapterEnv) -> str:
    holder: dict[str, Any] = {"chapter": env, "docId": env.doc_id}
    # text.read_text has already removed these with a warning; this keeps the
    # renderer safe for text from anywhere else.
    return str(md.render(FORBIDDEN.sub("", text), holder))


def _chapter(env: EnvType) -> ChapterEnv:
    chapter = env["chapter"]
    assert isinstance(chapter, ChapterEnv)
    return chapter


# --- core rules ---------------------------------------------------------------

_DASHES = (
    (re.compile(r"(?<!-)---(?!-)"), "\u2014"),
    (re.compile(r"(?<!-)--(?!-)"), "\u2013"),
    (re.compile(r"\.\.\."), "\u2026"),
)


def _punctuation(state: StateCore) -> None:
    """Pandoc's `smart` set: em and en dashes and the ellipsis, nothing more
    (markdown-it's own `replacements` also rewrites (c), +- and '?....')."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        for token in block.children or ():
            if token.type == "text" and ("--" in token.content or "..." in token.content):
                for pattern, replacement in _DASHES:
                    token.content = pattern.sub(replacement, token.content)


def plain_text(tokens: Sequence[Token]) -> str:
    parts = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type == "image":
            parts.append(plain_text(token.children or []))
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def slug(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    words = re.findall(r"\w+", text)
    return "-".join(words)[:60].strip("-_") or "section"


def unique_id(base: str, used: set[str]) -> str:
    # An XML id must not start with a digit.
    if not re.match(r"[^\W\d]", base):
        base = "s-" + base
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}"
    used.add(candidate)
    return candidate


def _heading_ids(state: StateCore) -> None:
    chapter = _chapter(state.env)
    tokens = state.tokens
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            text = plain_text(tokens[i + 1].children or [])
            ident = unique_id(slug(text), chapter.used_ids)
            token.attrSet("id", ident)
            chapter.headings.append((int(token.tag[1]), text, ident))


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
            figure.children = tokens[i + 1].children
            figure.block = True
            out.append(figure)
            i += 3
            continue
        out.append(token)
        i += 1
    state.tokens = out


# --- render rules ---------------------------------------------------------------


def _image_tag(token: Token, env: EnvType, line: int | None) -> str:
    src = token.attrGet("src") or ""
    href = _chapter(env).resolve_image(str(src), line)
    alt = plain_text(token.children or [])
    return f'<img src="{escape(href)}" alt="{escape(alt)}" />'


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
    caption = f"<figcaption>{escape(caption_text)}</figcaption>" if caption_text else ""
    return f"<figure>{_image_tag(image, env, line)}{caption}</figure>\n"


def _note_ids(env: EnvType, note: int, sub: int = 0) -> tuple[str, str]:
    doc = _chapter(env).doc_id
    ref = f"fnref-{doc}-{note}" + (f"-{sub + 1}" if sub else "")
    return f"fn-{doc}-{note}", ref


def _render_note_ref(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    meta = tokens[idx].meta
    n = meta["id"] + 1
    note_id, ref_id = _note_ids(env, n, meta.get("subId", 0))
    return (
        f'<a class="noteref" epub:type="noteref" role="doc-noteref" id="{ref_id}" '
        f'href="#{note_id}">{n}</a>'
    )


def _render_notes_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return '<section class="footnotes" aria-label="Notes">\n'


def _render_note_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    n = tokens[idx].meta["id"] + 1
    note_id, ref_id = _note_ids(env, n)
    label = f'<a class="note-label" role="doc-backlink" href="#{ref_id}">{n}</a> '
    head = f'<aside class="footnote" epub:type="footnote" role="doc-footnote" id="{note_id}">'
    if idx + 1 < len(tokens) and tokens[idx + 1].type == "paragraph_open":
        env["pending_label"] = label  # placed inside the note's first paragraph
        return head
    return head + f"<p>{label}</p>"


def _render_paragraph_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    label = str(env.pop("pending_label", ""))
    return str(self.renderToken(tokens, idx, options, env)) + label
