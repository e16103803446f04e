"""Raw HTML written inside Markdown, reduced to an allow-list and re-serialised as
well-formed XHTML.

Pure: text in, XHTML text and human-readable notes out. Nothing is fetched and no
file is read; image sources and links are only screened here (relative paths,
`#fragments`, http/https/mailto), and the caller still routes every kept `src`
through the resource fence and every relative `href` through its link resolver.

Two entry points:

`sanitize_html(fragment, inline=...)`
    A complete fragment, sanitised on its own: whatever it leaves open is closed
    at its end, closing tags without an opening one are removed. A lone opening
    tag therefore becomes an empty element (`<span class="x">` ->
    `<span class="x"></span>`), which is well-formed but wraps nothing.

`HtmlSanitizer`
    For markdown-it's token stream, where one `html_inline` token is usually a
    single tag (`<span class="x">`, then text tokens, then `</span>`) and an
    `html_block` may open a `<div>` that a later block closes. The sanitizer keeps
    the raw tags it has opened on a stack, each with the Markdown nesting level
    (`Token.level`) it was opened at, so that the caller can keep the output
    well-formed around Markdown's own elements::

        sanitizer = HtmlSanitizer(inline=True)
        for token in inline_children:
            if token.nesting == -1:              # Markdown closes </em>, </a>, ...
                out.append(sanitizer.close(token.level))
            if token.type == "html_inline":
                xhtml, notes = sanitizer.feed(token.content, token.level, in_link=...)
                out.append(xhtml)                # notes -> warnings with file:line
            elif not sanitizer.hiding:           # inside a dropped <script>: skip
                out.append(render(token))
        out.append(sanitizer.close())            # end of the paragraph

    A closing tag only matches a tag opened at the same level, so raw and
    Markdown elements never cross: `*<b>x*</b>` gives `<em><b>x</b></em>` and a
    note that `</b>` was removed. While `hiding`, every other token is skipped
    (a dropped element ends only at its own level, so what is skipped is
    balanced). `in_link=True` inside a Markdown link: a raw `<a>` there is
    unwrapped. One sanitizer per inline container (paragraph,
    heading, table cell) with `inline=True`, and one per chapter for the blocks
    with `inline=False` (call `close(token.level)` before each closing Markdown
    block token and `close()` at the end of the chapter).

What is kept: the elements in `ALLOWED` with the attributes in `GLOBAL_ATTRIBUTES`
and `ELEMENT_ATTRIBUTES`, with checked values. An element in `DROPPED` goes with
everything inside it (scripts, styles, frames, plug-ins, forms' fields, SVG and
MathML for now); any other element (`<font>`, `<center>`, a custom element) is
removed and its content kept. Comments, processing instructions, CDATA sections
and doctypes are removed. Characters XML forbids are removed from text and
attribute values. Elements in a place their content model forbids (an `<li>`
outside a list, a `<div>` inside a line of text) are removed with their content
kept; text directly inside a table, row or list is removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from urllib.parse import quote

from publisher.ids import NAME, IdPool
from publisher.langtag import well_formed
from publisher.source.text import FORBIDDEN

# (url as screened) -> url to write, or None: dropped (the resolver reports why)
Resolver = Callable[[str], str | None]

# --- the allow-list --------------------------------------------------------------

PHRASING = frozenset(
    {
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "br",
        "cite",
        "code",
        "del",
        "dfn",
        "em",
        "i",
        "img",
        "ins",
        "kbd",
        "mark",
        "q",
        "rp",
        "rt",
        "ruby",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "u",
        "var",
        "wbr",
    }
)
FLOW = frozenset(
    {
        "blockquote",
        "caption",
        "col",
        "colgroup",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED = PHRASING | FLOW
VOID = frozenset({"br", "col", "hr", "img", "wbr"})

# Removed with everything inside them.
DROPPED = frozenset(
    {
        "applet",
        "audio",
        "base",
        "basefont",
        "canvas",
        "datalist",
        "embed",
        "frame",
        "frameset",
        "head",
        "iframe",
        "input",
        "isindex",
        "keygen",
        "link",
        "map",
        "math",
        "meta",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "optgroup",
        "option",
        "param",
        "plaintext",
        "script",
        "select",
        "source",
        "style",
        "svg",
        "template",
        "textarea",
        "title",
        "track",
        "video",
        "xmp",
    }
)
# Elements of DROPPED (and others) that never have content or an end tag.
_VOID_DROPPED = frozenset(
    {
        "area",
        "base",
        "basefont",
        "embed",
        "frame",
        "input",
        "isindex",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
    }
)

GLOBAL_ATTRIBUTES = frozenset({"id", "class", "lang", "dir", "title"})
ELEMENT_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan", "headers"}),
    "th": frozenset({"colspan", "rowspan", "headers", "scope"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "del": frozenset({"datetime", "cite"}),
    "ins": frozenset({"datetime", "cite"}),
    "ol": frozenset({"start", "reversed"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
}

# Elements whose content is phrasing only: a block inside them is unwrapped.
_PHRASING_ONLY = (PHRASING - {"a", "ins", "del"}) | {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre"}
_TRANSPARENT = frozenset({"a", "ins", "del"})
# The parent an element must have.
_PARENTS: dict[str, frozenset[str]] = {
    "li": frozenset({"ul", "ol"}),
    "dt": frozenset({"dl"}),
    "dd": frozenset({"dl"}),
    "tr": frozenset({"table", "thead", "tbody", "tfoot"}),
    "td": frozenset({"tr"}),
    "th": frozenset({"tr"}),
    "thead": frozenset({"table"}),
    "tbody": frozenset({"table"}),
    "tfoot": frozenset({"table"}),
    "caption": frozenset({"table"}),
    "colgroup": frozenset({"table"}),
    "col": frozenset({"colgroup"}),
    "figcaption": frozenset({"figure"}),
    "rt": frozenset({"ruby"}),
    "rp": frozenset({"ruby"}),
}
# Containers that hold elements, not text (whitespace is kept).
_NO_TEXT = frozenset({"ul", "ol", "dl", "table", "thead", "tbody", "tfoot", "tr", "colgroup"})
# An opening tag of the key closes the innermost open element of the first set, and
# everything open inside it (HTML's implied end tags), searching down the stack no
# further than an element of the second set.
_IMPLIED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "li": (frozenset({"li"}), frozenset({"ul", "ol"})),
    "dt": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "dd": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "tr": (frozenset({"tr"}), frozenset({"table", "thead", "tbody", "tfoot"})),
    "td": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "th": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "thead": (frozenset({"thead", "tbody", "tfoot"}), frozenset({"table"})),
    "tbody": (frozenset({"thead", "tbody", "tfoot"}), frozenset({"table"})),
    "tfoot": (frozenset({"thead", "tbody", "tfoot"}), frozenset({"table"})),
    "rt": (frozenset({"rt", "rp"}), frozenset({"ruby"})),
    "rp": (frozenset({"rt", "rp"}), frozenset({"ruby"})),
    "a": (frozenset({"a"}), frozenset()),
}
_P = frozenset({"p"})
# Raw HTML nested deeper than this is flattened (its text kept).
MAX_DEPTH = 100

URL_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_NAME = NAME
_DATETIME = re.compile(
    r"^\d{4}(-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)
# What browsers ignore in a URL: ASCII tab and newlines anywhere, C0 controls and
# space at either end.
_URL_IGNORED = re.compile(r"[\t\n\r]")
_URL_EDGES = "".join(chr(c) for c in range(0x21))


# --- the public API ----------------------------------------------------------------


def sanitize_html(
    fragment: str,
    *,
    inline: bool,
    used_ids: IdPool | None = None,
    resolve_src: Resolver | None = None,
    resolve_href: Resolver | None = None,
) -> tuple[str, list[str]]:
    """A complete fragment of raw HTML as well-formed XHTML, and notes of what was removed.

    `inline=True`: the fragment stands in a line of text (a paragraph, a heading),
    so only phrasing elements are kept; blocks are unwrapped. `inline=False`: the
    fragment stands between blocks. Whatever the fragment leaves open is closed at
    its end. Ids already in `used_ids`, and publisher's own (publisher.ids), are
    removed; kept ids are added to it.

    `resolve_src` and `resolve_href`, when given, receive every `img src` and
    `a href` that passed the screening (`safe_url`) and return what to write, or
    None to drop it (publisher's resource fence and link resolver; a drop is also
    noted here): an image whose source is dropped leaves its alt text, a link
    whose target is dropped leaves its text.
    """
    sanitizer = HtmlSanitizer(
        inline=inline, used_ids=used_ids, resolve_src=resolve_src, resolve_href=resolve_href
    )
    out, notes = sanitizer.feed_piece(fragment, 0, block_end=False)
    return out + sanitizer.close(), notes


@dataclass(frozen=True)
class _Open:
    """An open raw element, with what the sanitizer asks about the elements below it
    worked out when it is pushed, so that no question walks down the stack."""

    name: str
    level: int  # the Markdown nesting level it was opened at
    run: int  # index of the lowest entry of its run: the entries above, at its level
    flow: bool  # whether a block may stand directly inside it
    cut: int | None  # index of the lowest entry of its run, up to it, holding only phrasing


class _Stack:
    """The raw elements open, innermost last. Every question the sanitizer asks of
    it takes constant time, whatever the depth (the innermost element of some names
    at a level, whether a block may stand here, where the run of phrasing begins),
    and so does every push and pop: thousands of tags cost thousands of steps."""

    def __init__(self, inline: bool) -> None:
        self.inline = inline
        self.entries: list[_Open] = []
        self._where: dict[str, list[int]] = {}  # name -> indices of its open entries
        self._blocks: list[int] = []  # indices of the entries that are not phrasing
        self._base = 0  # what the journal can restore: the length when it began,
        self._low = 0  # the lowest length since,
        self._popped: list[_Open] | None = None  # and the entries popped below the base
        self.steps = 0  # entries pushed and popped, ever: the cost, counted (tests)

    def __len__(self) -> int:
        return len(self.entries)

    def top(self, level: int) -> _Open | None:
        """The innermost entry, if it was opened at `level`."""
        if self.entries and self.entries[-1].level == level:
            return self.entries[-1]
        return None

    def has(self, name: str) -> bool:
        return bool(self._where.get(name))

    def push(self, name: str, level: int) -> None:
        i = len(self.entries)
        below = self.top(level)
        outer_flow = below.flow if below is not None else not self.inline
        flow = outer_flow if name in _TRANSPARENT else name not in _PHRASING_ONLY
        phrasing = name in _PHRASING_ONLY or name in _TRANSPARENT
        cut = below.cut if below is not None and below.cut is not None else None
        if cut is None and phrasing:
            cut = i
        self._add(_Open(name, level, below.run if below is not None else i, flow, cut))

    def pop(self) -> _Open:
        entry = self.entries.pop()
        i = len(self.entries)
        self._where[entry.name].pop()
        if self._blocks and self._blocks[-1] == i:
            self._blocks.pop()
        if self._popped is not None and i < self._low:
            self._low = i
            self._popped.append(entry)
        self.steps += 1
        return entry

    def _add(self, entry: _Open) -> None:
        i = len(self.entries)
        self.entries.append(entry)
        self._where.setdefault(entry.name, []).append(i)
        if entry.name not in PHRASING:
            self._blocks.append(i)
        self.steps += 1

    def find(self, level: int, names: frozenset[str], boundary: frozenset[str]) -> int | None:
        """Index of the innermost open element of `names` opened at `level`, not
        looking past an element of `boundary` or one of another level."""
        top = self.top(level)
        if top is None:
            return None
        found = max((self._where[n][-1] for n in names if self._where.get(n)), default=-1)
        if found < top.run:
            return None
        if any(self._where.get(b) and self._where[b][-1] > found for b in boundary):
            return None
        return found

    def only_phrasing_above(self, index: int) -> bool:
        return not self._blocks or self._blocks[-1] <= index

    def begin(self) -> None:
        """Start a journal: `rollback` restores the stack as it is now."""
        self._base = self._low = len(self.entries)
        self._popped = []

    def commit(self) -> None:
        self._popped = None

    def rollback(self) -> None:
        popped, self._popped = self._popped or [], None
        while len(self.entries) > self._low:
            self.pop()
        for entry in reversed(popped):
            self._add(entry)


@dataclass
class HtmlSanitizer:
    """Sanitises a sequence of raw HTML pieces (markdown-it `html_inline` or
    `html_block` tokens) that may open a tag in one piece and close it in a later
    one. See the module's docstring for how a caller interleaves it with Markdown."""

    inline: bool
    used_ids: IdPool | None = None  # ids taken in the book; a fresh pool when None
    resolve_src: Resolver | None = None
    resolve_href: Resolver | None = None
    _stack: _Stack = field(init=False)
    # The element dropped with its content, the opening tags of its name met inside
    # it (each needs its end tag), and the Markdown level it was opened at.
    _hidden: str = ""
    _hidden_depth: int = 0
    _hiding_level: int = 0
    _unwrapped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.used_ids is None:
            self.used_ids = IdPool()
        self._stack = _Stack(self.inline)

    @property
    def hiding(self) -> bool:
        """True inside an element removed with its content (`<script>` ... `</script>`
        split over several tokens): the caller should not render what comes between."""
        return self._hidden_depth > 0

    @property
    def open_tags(self) -> tuple[str, ...]:
        """Names of the raw elements still open, outermost first."""
        return tuple(entry.name for entry in self._stack.entries)

    def is_open(self, name: str) -> bool:
        """Whether a raw element of this name is open (in constant time). While "a"
        is, the caller renders a Markdown link as its text (links cannot nest)."""
        return self._stack.has(name)

    def feed(
        self, html: str, level: int = 0, *, in_link: bool = False, ids: bool = True
    ) -> tuple[str, list[str]]:
        """XHTML for one piece of raw HTML, opened at Markdown nesting `level`,
        and notes of what was removed. Tags it leaves open stay on the stack
        (in block mode, except elements that may hold only text: they are closed
        at the end of the piece, since Markdown blocks may follow). `ids=False`:
        the piece is rendered a second time (a note called from two chapters), and
        its ids are left out without a note."""
        return self.feed_piece(html, level, block_end=not self.inline, in_link=in_link, ids=ids)

    def feed_piece(
        self, html: str, level: int, *, block_end: bool, in_link: bool = False, ids: bool = True
    ) -> tuple[str, list[str]]:
        """`feed`, saying whether elements that hold only text are closed at the end.
        `in_link`: the piece stands inside a Markdown link, where a raw `<a>` would
        nest links (it is unwrapped)."""
        run = _Run(self, level, in_link, ids)
        run.parse(html)
        if block_end:
            run.close_phrasing_at_end()
        notes = list(dict.fromkeys(run.notes))
        return "".join(run.out), notes

    def close(self, level: int = -1) -> str:
        """Closing tags for every raw element opened deeper than `level` (all of
        them by default), innermost first."""
        out = []
        stack = self._stack.entries
        while stack and stack[-1].level > level:
            out.append(f"</{self._stack.pop().name}>")
        if self._hiding_level > level:
            self._hidden_depth = 0
        if level < 0:
            self._unwrapped.clear()
        return "".join(out)


# --- the work ------------------------------------------------------------------


class _Run(HTMLParser):
    """One `feed`: html.parser's lenient tokenizer drives the stack."""

    def __init__(self, owner: HtmlSanitizer, level: int, in_link: bool, ids: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.owner = owner
        self.level = level
        self.in_link = in_link
        self.ids = ids
        self.out: list[str] = []
        self.notes: list[str] = []

    def parse(self, html: str) -> None:
        owner = self.owner
        saved = (owner._hidden, owner._hidden_depth, owner._hiding_level)
        owner._stack.begin()  # a journal, not a copy: a piece costs its own tags only
        try:
            self.feed(html)
            self.close()
        except (AssertionError, ValueError):  # html.parser's own bugs on odd markup
            # The piece becomes text, and the state is as before it.
            owner._stack.rollback()
            owner._hidden, owner._hidden_depth, owner._hiding_level = saved
            self.out[:] = [] if owner.hiding else [escape(FORBIDDEN.sub("", html), quote=False)]
            self.notes.append("could not read this HTML: it is shown as text")
        else:
            owner._stack.commit()

    def close(self) -> None:
        """An unfinished `<...` at the end, read as HTML reads it: a start or end
        tag is dropped, a comment, `<!...`, `<?...` or CDATA section runs to the
        end. html.parser does so since CPython 3.13.4/3.12.11/3.11.13 (and in
        distributions' backports); before, it gave the rest as text. Done here,
        the same output on every Python."""
        rest = self.rawdata
        if rest.startswith("<") and not self.cdata_elem:
            self.rawdata = ""
            if re.match(r"</?[a-zA-Z]", rest):
                pass  # an unfinished tag
            elif rest == "<" or rest == "</":
                self.handle_data(rest)
            elif rest.startswith("<!--"):
                body = rest[4:]
                for suffix in ("--!", "--", "-"):
                    if body.endswith(suffix):
                        body = body[: -len(suffix)]
                        break
                self.handle_comment(body)
            elif rest.startswith("<![CDATA["):
                self.unknown_decl(rest[3:])
            elif rest[:9].lower() == "<!doctype":
                self.handle_decl(rest[2:])
            elif rest.startswith("<?"):
                self.handle_pi(rest[2:])
            else:  # `<!...` and `</` + not a letter: a bogus comment
                self.handle_comment(rest[2:])
        super().close()

    def parse_html_declaration(self, i: int) -> int:
        """`<![...` as HTML reads it outside SVG and MathML: a CDATA section up to
        `]]>`, anything else a bogus comment up to `>` (html.parser would hand it
        to _markupbase, which raises on `<![<`)."""
        rawdata = self.rawdata
        if not rawdata.startswith("<![", i):
            return int(super().parse_html_declaration(i))
        if rawdata.startswith("<![CDATA[", i):
            end = rawdata.find("]]>", i + 9)
            if end < 0:
                return -1
            self.unknown_decl(rawdata[i + 3 : end])
            return end + 3
        end = rawdata.find(">", i + 3)
        if end < 0:
            return -1
        self.unknown_decl(rawdata[i + 3 : end])
        return end + 1

    # The stack at this level (entries below belong to enclosing Markdown elements).

    def _parent(self) -> str | None:
        top = self.owner._stack.top(self.level)
        return top.name if top is not None else None

    def _flow_allowed(self) -> bool:
        top = self.owner._stack.top(self.level)
        return top.flow if top is not None else not self.owner.inline

    def _pop_to(self, index: int) -> None:
        stack = self.owner._stack
        while len(stack) > index:
            self.out.append(f"</{stack.pop().name}>")

    def _find(self, names: frozenset[str], boundary: frozenset[str]) -> int | None:
        """Index in the stack of the innermost open element of `names` at this
        level, not looking past a boundary element."""
        return self.owner._stack.find(self.level, names, boundary)

    def close_phrasing_at_end(self) -> None:
        stack = self.owner._stack
        top = stack.top(self.level)
        if top is not None and top.cut is not None:
            names = ", ".join(f"<{e.name}>" for e in stack.entries[top.cut :])
            self.notes.append(f"closed {names} at the end of the HTML block")
            self._pop_to(top.cut)

    # html.parser events

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=True)

    def handle_endtag(self, tag: str) -> None:
        owner = self.owner
        if owner.hiding:
            # Only an end tag at the level the hidden element was opened at ends
            # it, so that the Markdown tokens skipped meanwhile stay balanced.
            if tag == owner._hidden and self.level == owner._hiding_level:
                owner._hidden_depth -= 1
            return
        if tag not in ALLOWED or tag in VOID:
            return  # its opening tag was already reported
        index = self._find(frozenset({tag}), frozenset())
        if index is None:
            if owner._unwrapped.get(tag):
                owner._unwrapped[tag] -= 1
            else:
                self.notes.append(f"removed closing tag </{tag}> that closes nothing")
            return
        self._pop_to(index)

    def handle_data(self, data: str) -> None:
        if self.owner.hiding:
            return
        data = FORBIDDEN.sub("", data)
        if not data:
            return
        if self._parent() in _NO_TEXT and data.strip():
            self.notes.append(f"removed text directly inside <{self._parent()}>: {_short(data)}")
            data = re.sub(r"\S+", "", data)
        self.out.append(escape(data, quote=False))

    def handle_comment(self, data: str) -> None:
        if not self.owner.hiding:
            self.notes.append("removed an HTML comment")

    def handle_decl(self, decl: str) -> None:
        if not self.owner.hiding:
            self.notes.append(f"removed <!{_short(decl)}>")

    def unknown_decl(self, data: str) -> None:
        if not self.owner.hiding:
            kind = "a CDATA section" if data.upper().startswith("CDATA[") else f"<![{_short(data)}"
            self.notes.append(f"removed {kind}")

    def handle_pi(self, data: str) -> None:
        if not self.owner.hiding:
            self.notes.append("removed a processing instruction")

    # Opening tags

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], *, self_closing: bool) -> None:
        owner = self.owner
        if owner.hiding:
            if (
                tag == owner._hidden
                and self.level == owner._hiding_level
                and not self_closing
                and tag not in _VOID_DROPPED
            ):
                owner._hidden_depth += 1
            return
        if tag in DROPPED or tag in _VOID_DROPPED:
            self.notes.append(f"removed <{_short(tag)}> element" + _with_content(tag))
            if tag not in _VOID_DROPPED and not self_closing:
                owner._hidden, owner._hidden_depth = tag, 1
                owner._hiding_level = self.level
            return
        if tag not in ALLOWED:
            self.notes.append(f"removed <{_short(tag)}> tag (its content is kept)")
            return
        if tag in FLOW and not self._flow_allowed():
            self._implied_p_end()
        if tag in FLOW and not self._flow_allowed():
            self._unwrap(tag, "it is not allowed inside a line of text", self_closing)
            return
        implied = _IMPLIED.get(tag)
        if implied is not None:
            index = self._find(*implied)
            if index is not None:
                self._pop_to(index)
        parents = _PARENTS.get(tag)
        if parents is not None and self._parent() not in parents:
            where = " or ".join(f"<{p}>" for p in sorted(parents))
            self._unwrap(tag, f"it belongs inside {where}", self_closing)
            return
        if tag == "a" and (self.in_link or owner._stack.has("a")):
            self._unwrap(tag, "links cannot be nested", self_closing)
            return
        if self._parent() in _NO_TEXT and tag not in _PARENTS:
            self._unwrap(tag, f"it cannot stand directly inside <{self._parent()}>", self_closing)
            return
        if len(owner._stack) >= MAX_DEPTH and tag not in VOID:
            self._unwrap(tag, f"raw HTML is nested more than {MAX_DEPTH} deep", self_closing)
            return
        kept = self._attributes(tag, attrs)
        if kept is None:
            return
        text = "".join(f' {name}="{escape(value)}"' for name, value in kept)
        if tag in VOID:
            self.out.append(f"<{tag}{text} />")
        elif self_closing:
            self.out.append(f"<{tag}{text}></{tag}>")
        else:
            self.out.append(f"<{tag}{text}>")
            owner._stack.push(tag, self.level)

    def _implied_p_end(self) -> None:
        """A block closes an open paragraph (and what is open inside it)."""
        index = self._find(_P, frozenset())
        if index is not None and self.owner._stack.only_phrasing_above(index):
            self._pop_to(index)

    def _unwrap(self, tag: str, why: str, self_closing: bool) -> None:
        self.notes.append(f"removed <{tag}> tag: {why} (its content is kept)")
        if tag not in VOID and not self_closing:
            self.owner._unwrapped[tag] = self.owner._unwrapped.get(tag, 0) + 1

    def _attributes(
        self, tag: str, attrs: list[tuple[str, str | None]]
    ) -> list[tuple[str, str]] | None:
        """The attributes kept, in order; None when the element itself must go."""
        allowed = GLOBAL_ATTRIBUTES | ELEMENT_ATTRIBUTES.get(tag, frozenset())
        seen: set[str] = set()
        kept: list[tuple[str, str]] = []
        for name, raw in attrs:
            if name in seen:
                continue  # HTML keeps the first of duplicate attributes
            seen.add(name)
            if name == "id" and not self.ids:
                continue
            value = FORBIDDEN.sub("", raw if raw is not None else "")
            if name not in allowed:
                self.notes.append(f"removed attribute {_short(name)} from <{tag}>")
                continue
            checked = self._value(tag, name, value)
            if checked is None:
                self.notes.append(f"removed {name}={_short(value)!r} from <{tag}>")
                continue
            kept.append((name, checked))
            if name == "lang":
                kept.append(("xml:lang", checked))
        if tag == "img":
            if not any(name == "src" for name, _ in kept):
                self.notes.append("removed <img> without a usable src (its alt text is kept)")
                alt = next((v for n, v in kept if n == "alt"), "")
                if alt:
                    self.out.append(f'<span class="image-dropped">{escape(alt)}</span>')
                return None
            if not any(name == "alt" for name, _ in kept):
                kept.append(("alt", ""))
        if tag == "bdo" and not any(name == "dir" and v != "auto" for name, v in kept):
            self._unwrap(tag, "it needs dir=ltr or dir=rtl", self_closing=False)
            return None
        if self.owner.used_ids is not None:
            for name, value in kept:
                if name == "id":
                    self.owner.used_ids.add(value)
        return kept

    def _value(self, tag: str, name: str, value: str) -> str | None:
        """The value to write, or None when it is refused."""
        if name == "id":
            used = self.owner.used_ids
            if not _NAME.match(value) or (used is not None and value in used):
                return None
            return value
        if name == "lang":
            return value if well_formed(value) else None
        if name == "dir":
            lowered = value.strip().lower()
            return lowered if lowered in ("ltr", "rtl", "auto") else None
        if name in ("class", "title", "alt", "headers"):
            return " ".join(value.split()) if name != "title" and name != "alt" else value
        if name in ("href", "cite"):
            url = safe_url(value, allow_schemes=True)
            resolve = self.owner.resolve_href
            if url is not None and name == "href" and resolve is not None:
                return resolve(url)
            return url
        if name == "src":
            url = safe_url(value, allow_schemes=False)
            resolve = self.owner.resolve_src
            return resolve(url) if url is not None and resolve is not None else url
        if name in ("width", "height", "start", "span", "colspan", "rowspan"):
            value = value.strip()
            if not re.fullmatch(r"-?\d{1,6}", value):
                return None
            number = int(value)
            low = {"start": -999_999, "rowspan": 0}.get(name, 1 if name != "width" else 0)
            high = {"colspan": 1000, "rowspan": 65534, "span": 1000}.get(name, 100_000)
            if name == "height":
                low = 0
            return str(number) if low <= number <= high else None
        if name == "scope":
            lowered = value.strip().lower()
            return lowered if lowered in ("row", "col", "rowgroup", "colgroup") else None
        if name == "datetime":
            return value.strip() if _DATETIME.match(value.strip()) else None
        if name == "reversed":
            return "reversed"
        return None


def safe_url(value: str, *, allow_schemes: bool) -> str | None:
    """A URL that may stand in the book, or None.

    Entities are already decoded; what browsers ignore (tabs and newlines anywhere,
    controls and spaces at either end) is removed before the scheme is read, so
    `jav&#x09;ascript:` is seen as `javascript:`. Kept: `#fragments` and relative
    paths, and with `allow_schemes` http, https and mailto URLs. Refused: any other
    scheme, absolute paths, network-path references (`//host`), backslashes."""
    url = _URL_IGNORED.sub("", value).strip(_URL_EDGES)
    if not url or "\\" in url or url.startswith("/"):
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    match = _SCHEME.match(url)
    if match:
        if not allow_schemes or match.group(1).lower() not in URL_SCHEMES:
            return None
    elif ":" in url.split("#", 1)[0].split("?", 1)[0].split("/", 1)[0]:
        return None  # a colon in the first segment reads as a scheme
    return quote(url, safe="/#?&=;:@!$'()*+,%-._~[]") if " " in url or '"' in url else url


def _with_content(tag: str) -> str:
    return "" if tag in _VOID_DROPPED else " and its content"


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
