"""The EPUB's fonts, lean: each face the book uses, subset to the characters set in
it; faces it never uses left out.

package_css (source/styles.py) gives the sheets and the font files their
@font-face rules name; typeset.py tells which characters each face shows, and
with which OpenType features. Each used face is then cut down with fontTools'
subsetter (the library WeasyPrint already brings in for the PDF, so no new
dependency; it also writes WOFF2, through Brotli, which fontTools[woff] brings),
keeping the layout features reading systems apply by default (kerning,
ligatures, marks, contextual forms) and those the sheets ask for (small caps,
old-style figures...), with the glyphs they reach, and `.notdef`.

A subset is a Modified Version under the SIL Open Font License, which forbids
it a Reserved Font Name. So every subset family is renamed, in the font (the
naming records, and the CFF table's names) and in the sheets, to a neutral name
publisher chooses (PubSerif, PubSans, PubMono, by the font's class), and the
family's OFL.txt goes into the EPUB beside it (fonts/OFL-PubSerif.txt),
with a note saying what the font was made from. The copyright, trademark,
designer and licence records are kept. A font that is not under the OFL (no
OFL.txt beside it) or whose embedding bits forbid subsetting is packaged whole,
under its own name, as before.

The same book gives the same bytes: the subsetter is deterministic, the `head`
table keeps the source font's dates (never the clock), and WOFF2 is Brotli at a
fixed quality. Subsets are kept in memory (for watch and serve sessions) and in
the build cache (FontStore: for the next build into the same folder), keyed by
the source files' digest, the characters, the features, the ligatures and the
name. What a cold build pays is kept off its critical path where a core is
free: each font is parsed once, for its facts and its subset; an EPUB built
alone makes every other subset in a forked process; a build with a PDF makes
the subsets while its child lays a short book out (writer.warm_fonts)."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import logging
import os
import posixpath
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from publisher.epub.typeset import Face, Use, collect, face_uses, primary_faces
from publisher.source.styles import PackagedCss, Style

FONT_TYPES = {".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".otf": "font/otf"}
FOLDER = "fonts"  # where the subsets and their licences go in the package
LICENCE = "OFL.txt"

# Naming records that name the font, rewritten; those that credit its makers and
# state its licence (copyright 0, trademark 7, manufacturer 8, designer 9,
# description 10, URLs 11 and 12, licence 13 and 14) are kept as they are.
NAMING = (1, 3, 4, 6, 16, 17, 18, 20, 21, 22, 25)
ATTRIBUTION = (0, 7, 8, 9, 10, 11, 12, 13, 14)
STYLE_NAMES = {
    100: "Thin",
    200: "ExtraLight",
    300: "Light",
    400: "Regular",
    500: "Medium",
    600: "SemiBold",
    700: "Bold",
    800: "ExtraBold",
    900: "Black",
}
FRACTIONS = {"frac", "numr", "dnom"}
SIMPLE_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")
SIMPLE = (
    *("ccmp", "locl", "mark", "mkmk", "rlig", "calt", "clig", "curs", "dist", "kern"),
    *("liga", "rclt", "rvrn", "abvm", "blwm", "frac", "numr", "dnom"),
)
MARK_FEATURES = {"mark", "mkmk", "abvm", "blwm", "dist"}
LONG_LICENCE = 1000  # characters: a licence record longer holds the whole licence
FRACTION_SLASH = "\u2044"
# fsType bits: 0x0100 no subsetting, 0x0200 bitmap embedding only.
_NO_SUBSETTING = 0x0300


@dataclass(frozen=True)
class FontFile:
    href: str  # in the package
    media_type: str
    content: bytes


@dataclass(frozen=True)
class LeanCss:
    sheets: tuple[tuple[str, bytes], ...]  # (href, content)
    files: tuple[FontFile, ...]  # the fonts and their licences


@dataclass(frozen=True)
class _FaceRule:
    sheet: int  # index in the sheets
    node: int  # index among the sheet's top-level nodes
    face: Face
    hrefs: tuple[str, ...]  # the font files its src names, in the package
    shown: str  # the family name as written


def lean_fonts(
    css: PackagedCss,
    documents: Sequence[str],
    store: FontStore | None = None,
    parallel: bool = False,
    helper: FontHelper | None = None,
) -> LeanCss:
    """The sheets and font files of `css`, with every face the `documents` use
    subset to what they show, renamed, its licence beside it; unused faces left
    out. `store`: the build cache's subsets (None: memory only); `parallel`: a
    core is free for a forked process to make some of the subsets; `helper`: a
    process started for the fonts' work (FontHelper), closed here."""
    try:
        return _lean_fonts(css, documents, store, parallel, helper)
    finally:
        _PARSED.clear()  # fonts read for faces that needed no subset
        if helper is not None:
            helper.close()


def _lean_fonts(
    css: PackagedCss,
    documents: Sequence[str],
    store: FontStore | None,
    parallel: bool,
    helper: FontHelper | None,
) -> LeanCss:
    import tinycss2

    sources = dict(css.fonts)
    parsed = [
        (href, text.decode("utf-8"), tinycss2.parse_stylesheet(text.decode("utf-8")))
        for href, text in css.sheets
    ]
    rules: list[_FaceRule] = []
    for n, (href, _, nodes) in enumerate(parsed):
        for m, node in enumerate(nodes):
            face = _face_rule(node, href)
            if face is not None:
                rules.append(_FaceRule(n, m, *face))
    if not rules:
        return LeanCss(css.sheets, ())
    faces = sorted({rule.face for rule in rules}, key=_face_order)
    shown = {rule.face.family: rule.shown for rule in rules}  # as the sheets write it
    first_source = {}
    for rule in rules:  # the last rule for a face wins, as in a browser
        first_source[rule.face] = sources[rule.hrefs[0]] if rule.hrefs else None

    infos: dict[Face, _FontInfo | None] = {}

    def info(face: Face) -> _FontInfo | None:
        if face not in infos:
            source = first_source.get(face)
            if source is not None and helper is not None:
                helper.facts(source)
            infos[face] = _font_info(source, store) if source is not None else None
        return infos[face]

    def has_char(face: Face, char: str) -> bool:
        found = info(face)
        return found is not None and ord(char) in found.cmap

    def has_feature(face: Face, tag: str) -> bool:
        found = info(face)
        return found is not None and tag in found.features

    texts = [text for _, text, _ in parsed]
    collected = collect(documents, texts)
    if helper is not None:  # the faces it will surely be asked about: no time on the others
        helper.want(
            [s for face in primary_faces(collected, faces) if (s := first_source.get(face))]
        )
    uses = face_uses(documents, texts, faces, has_char, has_feature, collected=collected)
    if helper is not None:
        for rule in rules:
            for href in rule.hrefs if rule.face in uses else ():
                helper.facts(sources[href])
    families = sorted({face.family for face in uses})
    lean = {
        family: all(
            _may_subset(sources[href], store)
            for rule in rules
            if rule.face.family == family and rule.face in uses
            for href in rule.hrefs
        )
        for family in families
    }
    names = _neutral_names(
        [(f, sources[_first_href(rules, f)]) for f in families if lean[f]], store
    )
    jobs = [
        (sources[href], use, names[rule.face.family], _style_name(rule.face))
        for rule in rules
        if (use := uses.get(rule.face)) is not None and lean[rule.face.family]
        for href in rule.hrefs
    ]
    made = dict(zip(jobs, _subsets(jobs, store, parallel, helper), strict=True))
    files: dict[str, FontFile] = {}
    new_hrefs: dict[tuple[int, str], str] = {}  # (rule index, old href) -> new href
    for n, rule in enumerate(rules):
        use = uses.get(rule.face)
        if use is None:
            continue
        for href in rule.hrefs:
            source = sources[href]
            if not lean[rule.face.family]:
                files[href] = FontFile(href, media_type(source), source.read_bytes())
                new_hrefs[n, href] = href
                continue
            family = names[rule.face.family]
            content = made[source, use, family, _style_name(rule.face)]
            suffix = source.suffix.lower()
            target = f"{FOLDER}/{family}-{_style_name(rule.face)}{suffix}"
            taken = files.get(target)
            serial = 2
            while taken is not None and taken.content != content:
                target = f"{FOLDER}/{family}-{_style_name(rule.face)}-{serial}{suffix}"
                taken, serial = files.get(target), serial + 1
            files[target] = FontFile(target, media_type(source), content)
            new_hrefs[n, href] = target
    for family, name in sorted(names.items()):
        folder = sources[_first_href(rules, family)].parent
        licence = folder / LICENCE
        href = f"{FOLDER}/OFL-{name}.txt"
        files[href] = FontFile(href, "text/plain", _licence(name, shown[family], licence))
    sheets = []
    for n, (href, text, nodes) in enumerate(parsed):
        edits: dict[int, str | None] = {}
        for r, rule in enumerate(rules):
            if rule.sheet != n or not rule.hrefs:
                continue  # a face with no file of ours (local() only) stays as it is
            if rule.face not in uses:
                edits[rule.node] = None
                continue
            moved = {
                old: posixpath.relpath(new_hrefs[r, old], posixpath.dirname(href))
                for old in rule.hrefs
            }
            urls = {
                url: moved[_resolve(href, url)]
                for url in _urls(nodes[rule.node])
                if moved.get(_resolve(href, url), url) != url
            }
            rewritten = _rewritten(nodes[rule.node], names, urls)
            if rewritten is not None:  # else a font that goes in whole, where it was
                edits[rule.node] = rewritten
        for m, node in enumerate(nodes):
            if m not in edits:
                renamed = _rewritten(node, names, {})
                if renamed is not None:
                    edits[m] = renamed
        sheets.append((href, _spliced(text, nodes, edits).encode("utf-8") if edits else None))
    return LeanCss(
        tuple(
            (href, content if content is not None else original)
            for (href, content), (_, original) in zip(sheets, css.sheets, strict=True)
        ),
        tuple(files[href] for href in sorted(files)),
    )


def _face_order(face: Face) -> tuple[str, int, str]:
    return (face.family, face.weight, face.style)


def _first_href(rules: list[_FaceRule], family: str) -> str:
    return next(h for rule in rules if rule.face.family == family for h in rule.hrefs)


def media_type(path: Path) -> str:
    return FONT_TYPES.get(path.suffix.lower(), "font/woff2")


def _style_name(face: Face) -> str:
    weight = STYLE_NAMES.get(face.weight, f"W{face.weight}")
    if face.style == "normal":
        return weight
    return (weight if weight != "Regular" else "") + face.style.capitalize()


def _resolve(sheet_href: str, url: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(sheet_href), url))


# --- the sheets -------------------------------------------------------------------


def _face_rule(node: Any, sheet_href: str) -> tuple[Face, tuple[str, ...], str] | None:
    import tinycss2

    if node.type != "at-rule" or node.lower_at_keyword != "font-face" or not node.content:
        return None
    shown, weight, style = "", 400, "normal"
    for item in tinycss2.parse_blocks_contents(node.content, True, True):
        if item.type != "declaration":
            continue
        words = [t for t in item.value if t.type not in ("whitespace", "comment")]
        if item.lower_name == "font-family":
            shown = tinycss2.serialize(item.value).strip().strip("\"'")
        elif item.lower_name == "font-weight" and words:
            if words[0].type == "number":
                weight = int(words[0].value)
            elif words[0].type == "ident":
                weight = {"bold": 700}.get(words[0].lower_value, 400)
        elif item.lower_name == "font-style" and words and words[0].type == "ident":
            style = words[0].lower_value
    hrefs = tuple(_resolve(sheet_href, url) for url in _urls(node))
    return Face(shown.lower(), weight, style), hrefs, shown


def _urls(node: Any) -> list[str]:
    import tinycss2

    urls: list[str] = []
    for item in tinycss2.parse_blocks_contents(node.content or [], True, True):
        if item.type == "declaration" and item.lower_name == "src":
            for token in item.value:
                if token.type == "url":
                    urls.append(token.value)
                elif token.type == "function" and token.lower_name == "url":
                    urls += [t.value for t in token.arguments if t.type == "string"]
    return urls


def _rewritten(node: Any, names: dict[str, str], urls: dict[str, str]) -> str | None:
    """The node serialised with the families in `names` renamed (in font-family and
    font declarations) and the URLs in `urls` replaced; None when nothing changes."""
    import tinycss2

    if node.type not in ("qualified-rule", "at-rule") or not node.content:
        return None
    changed = [False]
    node.content = _rewrite_tokens(node.content, names, urls, changed)
    return tinycss2.serialize([node]) if changed[0] else None


def _rewrite_tokens(
    tokens: list[Any], names: dict[str, str], urls: dict[str, str], changed: list[bool]
) -> list[Any]:
    from tinycss2.ast import StringToken, URLToken

    out: list[Any] = []
    prop: str | None = None  # the property whose value the scan is in
    expect_colon: str | None = None
    run: list[Any] = []  # idents (and the spaces between them) of one family name

    def flush() -> None:
        words = [t.value for t in run if t.type == "ident"]
        new = names.get(" ".join(words).lower()) if words else None
        if new is not None and prop in ("font-family", "font"):
            first = run[0]
            out.append(StringToken(first.source_line, first.source_column, new, f'"{new}"'))
            trailing = [t for t in reversed(run) if t.type == "whitespace"][:1]
            if run[-1].type == "whitespace":
                out.extend(trailing)
            changed[0] = True
        else:
            out.extend(run)
        run.clear()

    for token in tokens:
        if prop in ("font-family", "font") and (
            token.type == "ident" or (token.type == "whitespace" and run)
        ):
            run.append(token)
            continue
        flush()
        if token.type == "ident" and prop is None and expect_colon is None:
            expect_colon = token.lower_value
        elif token.type == "literal" and token.value == ":" and expect_colon is not None:
            prop, expect_colon = expect_colon, None
        elif token.type == "literal" and token.value == ";":
            prop = expect_colon = None
        elif token.type != "whitespace":
            expect_colon = None if prop is None else expect_colon
        if prop in ("font-family", "font") and token.type == "string":
            new = names.get(token.value.lower())
            if new is not None:
                token = StringToken(token.source_line, token.source_column, new, f'"{new}"')
                changed[0] = True
        elif prop == "src" and token.type == "url" and token.value in urls:
            new = urls[token.value]
            token = URLToken(token.source_line, token.source_column, new, f'url("{new}")')
            changed[0] = True
        elif prop == "src" and token.type == "function" and token.lower_name == "url":
            token.arguments = [
                StringToken(t.source_line, t.source_column, urls[t.value], f'"{urls[t.value]}"')
                if t.type == "string" and t.value in urls
                else t
                for t in token.arguments
            ]
            changed[0] = changed[0] or any(
                t.type == "string" and t.value in urls.values() for t in token.arguments
            )
        elif token.type == "{} block":
            token.content = _rewrite_tokens(token.content, names, urls, changed)
            prop = expect_colon = None
        out.append(token)
    flush()
    return out


def _spliced(text: str, nodes: list[Any], edits: dict[int, str | None]) -> str:
    """The sheet's text with the edited top-level nodes replaced (None: removed,
    with the line break after it), everything else byte for byte."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(node: Any) -> int:
        return int(starts[node.source_line - 1] + node.source_column - 1)

    bounds = [offset(node) for node in nodes] + [len(text)]
    out = [text[: bounds[0]]]
    skip_space = False
    for n, node in enumerate(nodes):
        piece = text[bounds[n] : bounds[n + 1]]
        if n in edits:
            replacement = edits[n]
            skip_space = replacement is None
            piece = replacement if replacement is not None else ""
        elif skip_space and node.type == "whitespace":
            piece = piece.split("\n", 1)[1] if "\n" in piece else ""
            skip_space = False
        else:
            skip_space = False
        out.append(piece)
    return "".join(out)


# --- the fonts --------------------------------------------------------------------


@dataclass(frozen=True)
class _FontInfo:
    digest: str  # of the file and the files beside it the subset may be read from
    cmap: frozenset[int]
    fs_type: int
    kind: str  # Serif, Sans or Mono
    features: frozenset[str]  # its GSUB features
    ligatures: frozenset[str]  # the letters of each ligature (of glyphs characters map to)
    sfnt: str  # the suffix of the same face beside a web font, read instead; "": itself


# Per process: the facts of each font file (by path, while its files stay as they
# were), and the fonts parsed to learn them, for the subset of the same face.
_INFO: dict[Path, tuple[tuple[tuple[int, int], ...], _FontInfo]] = {}
_PARSED: dict[str, Any] = {}


def _font_info(path: Path, store: FontStore | None = None) -> _FontInfo:
    """What the cascade and the subsetter need to know of a font file: from
    memory, from the build cache's `store`, or read with fontTools (whose parsed
    font is kept for the subset)."""
    siblings = _siblings(path)
    stamp = tuple((s.st_mtime_ns, s.st_size) for s in (p.stat() for p in (path, *siblings)))
    known = _INFO.get(path)
    if known is not None and known[0] == stamp:
        if store is not None:
            store.keep_info(known[1])  # read in this process: for the next one too
        return known[1]
    data = path.read_bytes()
    beside = [sibling.read_bytes() for sibling in siblings]
    digest = _digest(data, beside)
    info = store.info(digest) if store is not None else None
    if info is None:
        info = _read_info(digest, path, data, siblings, beside)
        if store is not None:
            store.put_info(info)
    _INFO[path] = (stamp, info)
    return info


def _digest(data: bytes, beside: list[bytes]) -> str:
    return hashlib.sha256(b"".join(_framed(part) for part in (data, *beside))).hexdigest()


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + hashlib.sha256(data).digest()


def _siblings(path: Path) -> list[Path]:
    """The TrueType/OpenType files beside a web font that may hold the same face."""
    if path.suffix.lower() not in (".woff2", ".woff"):
        return []
    return [p for p in (path.with_suffix(".ttf"), path.with_suffix(".otf")) if p.is_file()]


def _read_info(
    digest: str, path: Path, data: bytes, siblings: list[Path], beside: list[bytes]
) -> _FontInfo:
    """The font's facts, read with fontTools. A WOFF2 file's TrueType outlines
    take fontTools seconds to rebuild in Python; when the same face sits beside it
    as .ttf or .otf (publisher's fonts do: their WOFF2 files are converted from
    them unmodified), that file is read instead, after checking that the tables
    that decide the subset are the same."""
    from fontTools.ttLib import TTFont

    sfnt, suffix = data, ""
    for sibling, other in zip(siblings, beside, strict=True):
        if _same_face(data, other):
            sfnt, suffix = other, sibling.suffix
            break
    font = TTFont(io.BytesIO(sfnt), recalcTimestamp=False, lazy=True)
    os2 = font.get("OS/2")
    panose = os2.panose if os2 is not None else None
    if font["post"].isFixedPitch:
        kind = "Mono"
    elif os2 is not None and (
        os2.sFamilyClass >> 8 == 8
        or (panose is not None and panose.bFamilyType == 2 and 11 <= panose.bSerifStyle <= 13)
    ):
        kind = "Sans"
    else:
        kind = "Serif"
    cmap = font.getBestCmap() or {}
    letters = {glyph: chr(code) for code, glyph in cmap.items()}
    ligatures = set()
    for subtable in _ligature_subtables(font):
        for first, found in subtable.ligatures.items():
            for ligature in found:
                chars = [letters.get(glyph) for glyph in [first, *ligature.Component]]
                if None not in chars:
                    ligatures.add("".join(c for c in chars if c is not None))
    _PARSED[digest] = font  # for this face's subset: the same bytes, read once
    return _FontInfo(
        digest,
        frozenset(cmap),
        os2.fsType if os2 is not None else 0,
        kind,
        frozenset(record.FeatureTag for record in font["GSUB"].table.FeatureList.FeatureRecord)
        if "GSUB" in font and font["GSUB"].table.FeatureList
        else frozenset(),
        frozenset(ligatures),
        suffix,
    )


def _may_subset(path: Path, store: FontStore | None = None) -> bool:
    """Under the OFL (its OFL.txt beside it) and not marked 'no subsetting'."""
    return (path.parent / LICENCE).is_file() and not (
        _font_info(path, store).fs_type & _NO_SUBSETTING
    )


_SAME: dict[tuple[str, str], bool] = {}


def _same_face(web: bytes, sfnt: bytes) -> bool:
    from fontTools.ttLib import TTFont

    key = (hashlib.sha256(web).hexdigest(), hashlib.sha256(sfnt).hexdigest())
    if key not in _SAME:
        a, b = TTFont(io.BytesIO(web), lazy=True), TTFont(io.BytesIO(sfnt), lazy=True)
        tags = ("cmap", "GSUB", "GPOS", "GDEF", "name", "OS/2", "hhea", "post", "CFF ")
        _SAME[key] = a["maxp"].numGlyphs == b["maxp"].numGlyphs and all(
            (tag in a.reader) == (tag in b.reader)
            and (tag not in a.reader or a.reader[tag] == b.reader[tag])
            for tag in tags
        )
    return _SAME[key]


def _neutral_names(
    families: list[tuple[str, Path]], store: FontStore | None = None
) -> dict[str, str]:
    """PubSerif, PubSans, PubMono by the font's class (fixed pitch; the OS/2
    family class or PANOSE for sans serif), numbered when two share a class."""
    names: dict[str, str] = {}
    count: dict[str, int] = {}
    for family, source in families:
        kind = _font_info(source, store).kind
        count[kind] = count.get(kind, 0) + 1
        names[family] = f"Pub{kind}" + (str(count[kind]) if count[kind] > 1 else "")
    return names


# --- the helper process -------------------------------------------------------------


class FontHelper:
    """A forked process for the fonts' work of an EPUB built alone, whose second
    core would otherwise be idle. While this process renders the book it loads
    fontTools and reads the facts of the faces most books use (the body's regular
    and bold); told which faces the cascade found used (`want`), it reads the
    others, sending each as it has it; then it makes the subsets asked of it
    (`made`), every other one in a process of its own. If it cannot be forked,
    or is lost, this process does the work itself: the same bytes."""

    def __init__(self, styles: Path, style: Style, store: FontStore | None) -> None:
        from publisher.forked import Forked, Lost

        folder = store.folder if store is not None else None
        self._child: Forked | None
        try:
            self._child = Forked(lambda channel: _help(channel, styles, style, folder))
        except Lost:
            self._child = None
        self._asked = 0  # the number of the last list asked for
        self._done = True  # every fact of that list received

    def want(self, paths: list[Path]) -> None:
        """Asks for the facts of these font files (instead of those asked before)."""
        from publisher.forked import Lost

        if self._child is None:
            return
        self._asked += 1
        try:
            self._child.send(("want", (self._asked, paths)))
            self._done = False
        except Lost:
            self.close()

    def facts(self, path: Path) -> None:
        """The facts it read, into this process's memory, up to `path`'s."""
        while not self._done and path not in _INFO:
            got = self._receive()
            if got is None or got[0] not in ("facts", "read"):
                self._done = True
            elif got[0] == "read":  # the end of the list it was asked for, by number
                self._done = got[1] == self._asked
            else:
                for known, stamp, info in got[1]:
                    _INFO[known] = (stamp, info)

    def made(self, tasks: list[_Task]) -> list[bytes] | None:
        """The subsets for `tasks`; None if the helper is gone."""
        from publisher.forked import Lost

        if self._child is None:
            return None
        # The text went into `formed`: not sent again.
        sent = [(s, i, replace(u, text=""), f, m) for s, i, u, f, m in tasks]
        try:
            self._child.send(("make", sent))
            self._child.finish_sending()
        except Lost:
            self.close()
            return None
        while (got := self._receive()) is not None:
            if got[0] == "subsets":  # facts still on their way are passed over
                value = got[1]
                if isinstance(value, list) and len(value) == len(tasks):
                    self._child.close(kill=False)
                    self._child = None
                    return value
                break
        self.close()
        return None

    def _receive(self) -> tuple[str, Any] | None:
        from publisher.forked import Lost

        if self._child is None:
            return None
        try:
            return self._child.receive()
        except Lost:
            self.close()
            return None

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None
        self._done = True


def _help(channel: Any, styles: Path, style: Style, folder: Path | None) -> None:
    """The helper's side: fontTools loaded, the facts wanted, then the subsets."""
    from publisher.source.styles import epub_sheets, package_css

    gc.disable()  # a short life: no collection touching the pages it shares
    store = FontStore(folder) if folder is not None else None
    css = package_css(epub_sheets(styles, style, True), styles)
    paths = sorted(dict.fromkeys(path for _, path in css.fonts), key=_likely)
    pending: list[Path] = []
    asked = 0
    if store is None or not all(store.has_info(path) for path in paths):
        from fontTools import subset  # noqa: F401 - while the parent renders the book
        from fontTools.ttLib import woff2  # noqa: F401

        # Read before they are asked for: the first family's regular and bold faces
        # (the body's, as publisher's sheets name it first; bold for the headings).
        pending = [p for p in paths if p.parent == paths[0].parent][:2] if paths else []
    while True:
        if not pending or channel.waiting():
            try:
                kind, value = channel.receive()
            except EOFError:
                return  # nothing to make: every subset was known
            if kind != "want":
                break
            asked, wanted = value
            pending = [p for p in sorted(wanted, key=_likely) if p not in _INFO]
            if not pending:
                channel.send("read", asked)
            continue
        path = pending.pop(0)
        with contextlib.suppress(Exception):  # the parent meets it again, and reports it
            info = _font_info(path, store)
            channel.send("facts", [(path, _INFO[path][0], info)])
        if not pending:
            channel.send("read", asked)
    channel.send("subsets", _made(value, parallel=True))


def _likely(path: Path) -> tuple[bool, bool]:
    """Regular faces first, then bold, then italic (by the file's name); else in
    the sheets' order (the sort is stable)."""
    name = path.stem.lower()
    return ("italic" in name or "oblique" in name, "bold" in name)


# --- the build cache ----------------------------------------------------------------


class FontStore:
    """Subsets and font facts kept between builds in the build cache (the build
    gives `<output>/.publisher-cache/fonts/`), so that a rebuild whose faces show
    the characters they showed before neither loads fontTools nor subsets again.
    An entry is named by the digest of all it was made from (the font files; the
    characters, features, ligatures and name of the subset; this module's code and
    the versions of fontTools and Brotli) and begins with the digest of its
    content, checked when it is read: a damaged entry is made again. Nothing is
    written before `save`, which the build calls once its outputs are in place;
    the oldest entries beyond KEEP go then."""

    KEEP = 256

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.new: dict[str, bytes] = {}
        self.used: set[str] = set()

    def info(self, digest: str) -> _FontInfo | None:
        data = self._get(f"{digest}-{_version()}.json")
        if data is None:
            return None
        try:
            fields = json.loads(data)
            return _FontInfo(
                digest,
                frozenset(c for start, end in fields["cmap"] for c in range(start, end + 1)),
                int(fields["fs_type"]),
                str(fields["kind"]),
                frozenset(fields["features"]),
                frozenset(fields["ligatures"]),
                str(fields["sfnt"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def put_info(self, info: _FontInfo) -> None:
        ranges: list[list[int]] = []
        for code in sorted(info.cmap):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
        fields = {
            "cmap": ranges,
            "fs_type": info.fs_type,
            "kind": info.kind,
            "features": sorted(info.features),
            "ligatures": sorted(info.ligatures),
            "sfnt": info.sfnt,
        }
        self.new[f"{info.digest}-{_version()}.json"] = json.dumps(fields).encode()

    def filled(self) -> bool:
        """Whether the folder holds any entry (the book was built into it before)."""
        try:
            with os.scandir(self.folder) as entries:
                return any(True for _ in entries)
        except OSError:
            return False

    def has_info(self, path: Path) -> bool:
        """Whether the facts of the font file (as it is now) are kept here."""
        data = path.read_bytes()
        beside = [sibling.read_bytes() for sibling in _siblings(path)]
        return self._keep(f"{_digest(data, beside)}-{_version()}.json")

    def keep_info(self, info: _FontInfo) -> None:
        """Known in memory: in the folder too, for the next process."""
        if not self._keep(f"{info.digest}-{_version()}.json"):
            self.put_info(info)

    def keep_subset(self, key: tuple[str, ...], content: bytes) -> None:
        if not self._keep(self._subset_name(key)):
            self.put_subset(key, content)

    def _keep(self, name: str) -> bool:
        """Whether the entry is there, whole (then marked as used)."""
        return self._get(name) is not None

    def subset(self, key: tuple[str, ...]) -> bytes | None:
        return self._get(self._subset_name(key))

    def put_subset(self, key: tuple[str, ...], content: bytes) -> None:
        self.new[self._subset_name(key)] = content

    @staticmethod
    def _subset_name(key: tuple[str, ...]) -> str:
        named = hashlib.sha256("\0".join((_version(), *key)).encode("utf-8")).hexdigest()
        return named + key[-1]  # the suffix

    def _get(self, name: str) -> bytes | None:
        if name in self.new:
            return self.new[name]
        try:
            data = (self.folder / name).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data[32:]).digest() != data[:32]:
            return None
        self.used.add(name)
        return data[32:]

    def save(self) -> None:
        """Writes the new entries, marks those used as recent, drops the oldest."""
        if not self.new and not self.used:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for name, content in self.new.items():
                part = self.folder / f".{name}.{os.getpid()}.part"
                part.write_bytes(hashlib.sha256(content).digest() + content)
                os.replace(part, self.folder / name)
            for name in self.used:
                with contextlib.suppress(OSError):
                    os.utime(self.folder / name)
            entries = []
            for entry in os.scandir(self.folder):
                with contextlib.suppress(OSError):
                    entries.append((entry.stat().st_mtime_ns, entry.name))
            for _, name in sorted(entries, reverse=True)[self.KEEP :]:
                with contextlib.suppress(OSError):
                    (self.folder / name).unlink()
        except OSError:
            pass  # a cache: the next build makes them again
        self.new.clear()
        self.used.clear()


_VERSION: list[str] = []


def _version() -> str:
    """This module's code and the versions of the libraries that make the bytes."""
    if not _VERSION:
        from publisher.cache import stack_versions

        stack = stack_versions()
        code = Path(__file__).read_bytes()
        parts = (code, *(stack.get(name, "").encode() for name in ("fonttools", "brotli")))
        _VERSION.append(hashlib.sha256(b"".join(_framed(p) for p in parts)).hexdigest()[:16])
    return _VERSION[0]


_SUBSETS: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
_KEEP = 64  # subsets kept in memory (a few books' worth of faces)


def subset_font(
    source: Path, use: Use, family: str, style_name: str, store: FontStore | None = None
) -> bytes:
    """The face subset to `use`'s characters and features, renamed `family`, in the
    source file's format; from memory or the build cache's `store` when the same
    subset was made before. The text enters the key only through the ligatures it
    forms, so that an edit that brings no new character reuses the subset."""
    return _subsets([(source, use, family, style_name)], store)[0]


_Job = tuple[Path, Use, str, str]  # source, use, family, style name
_Task = tuple[Path, _FontInfo, Use, str, frozenset[str] | None]  # what _subset takes


def _subsets(
    jobs: list[_Job],
    store: FontStore | None,
    parallel: bool = False,
    helper: FontHelper | None = None,
) -> list[bytes]:
    """Each job's subset (see subset_font), those to be made by the `helper`, or
    shared with a forked process when `parallel`."""
    keys: list[tuple[str, ...]] = []
    tasks: dict[tuple[str, ...], _Task] = {}
    found: dict[tuple[str, ...], bytes] = {}
    for source, use, family, style_name in jobs:
        info = _font_info(source, store)
        formed = frozenset(s for s in info.ligatures if s in use.text) if use.text else None
        key: tuple[str, ...] = (
            info.digest,
            "".join(sorted(use.chars)),
            " ".join(sorted(use.features)),
            "\n".join(sorted(formed)) if formed is not None else "*",
            family,
            style_name,
            source.suffix.lower(),
        )
        keys.append(key)
        if key in found or key in tasks:
            continue
        known = _SUBSETS.get(key)
        if known is not None:
            _SUBSETS.move_to_end(key)
            if store is not None:
                store.keep_subset(key, known)  # made in this process: for the next one too
            found[key] = known
            continue
        known = store.subset(key) if store is not None else None
        if known is not None:
            found[key] = known
        else:
            tasks[key] = (source, info, use, family, formed)
    made = helper.made(list(tasks.values())) if helper is not None and tasks else None
    if made is None:
        made = _made(list(tasks.values()), parallel)
    for task, content in zip(tasks, made, strict=True):
        found[task] = content
        if store is not None:
            store.put_subset(task, content)
    for key in keys:
        _SUBSETS[key] = found[key]
        _SUBSETS.move_to_end(key)
    while len(_SUBSETS) > _KEEP:
        _SUBSETS.popitem(last=False)
    return [found[key] for key in keys]


FACE_COST = 60  # a subset's fixed cost, in characters' worth (Gentium: 70 ms, 55 characters)


def _made(tasks: list[_Task], parallel: bool) -> list[bytes]:
    """The subsets, made here; when `parallel` and there are two or more, some in a
    forked process, at once, the work shared evenly. The same bytes either way."""
    from publisher.forked import Forked, Lost, can_fork

    if not parallel or len(tasks) < 2 or not can_fork():
        return [_subset(*task) for task in tasks]
    from fontTools import subset  # noqa: F401 - loaded once, for both processes
    from fontTools.ttLib import woff2  # noqa: F401

    # Longest first, each to the less loaded process: a face costs about as much
    # as FACE_COST characters, and each character a little more.
    here: list[int] = []
    there: list[int] = []
    load = [0, 0]
    for n in sorted(range(len(tasks)), key=lambda n: -len(tasks[n][2].chars)):
        side = 0 if load[0] <= load[1] else 1
        (here, there)[side].append(n)
        load[side] += FACE_COST + len(tasks[n][2].chars)

    def body(channel: Any) -> None:
        gc.disable()  # a short life: no collection touching the parent's pages
        channel.send("subsets", [_subset(*tasks[n]) for n in there])

    try:
        child: Forked | None = Forked(body)
    except Lost:
        child = None
    out = {n: _subset(*tasks[n]) for n in here}
    received = None
    if child is not None:
        try:
            kind, value = child.receive()
            if kind == "subsets" and isinstance(value, list) and len(value) == len(there):
                received = value
        except Lost:
            pass
        child.close(kill=received is None)
    out.update(zip(there, received or [_subset(*tasks[n]) for n in there], strict=True))
    return [out[n] for n in range(len(tasks))]


def clear_cache() -> None:
    _SUBSETS.clear()
    _INFO.clear()
    _PARSED.clear()


def _subset(
    source: Path, info: _FontInfo, use: Use, family: str, formed: frozenset[str] | None
) -> bytes:
    """The subset, made with fontTools from the font as _font_info parsed it (when
    it did, in this build; each parse serves one subset: it is cut down) or from
    the file."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = _PARSED.pop(info.digest, None)
    if font is None:
        data = (source.with_suffix(info.sfnt) if info.sfnt else source).read_bytes()
        font = TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)
    options = subset.Options()
    options.layout_features = sorted(_layout_features(use, set(options.layout_features)))
    options.name_IDs = ["*"]  # the licence records among them; naming ones rewritten below
    options.notdef_glyph = True
    options.notdef_outline = True
    options.recommended_glyphs = True
    options.hinting = False  # see the README: screens of reading systems do not use them
    options.desubroutinize = True
    if formed is not None:
        _prune_ligatures(font, formed)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(use.chars)))
    quiet = logging.getLogger("fontTools.subset")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "table X dropped": tables it does not know go
    try:
        subsetter.subset(font)
    finally:
        quiet.setLevel(level)
    rename(font, family, _reserved_names(source))
    _point_to_licence(font, f"{FOLDER}/OFL-{family}.txt")
    flavor = {".woff2": "woff2", ".woff": "woff"}.get(source.suffix.lower())
    font.flavor = flavor
    # Read from a WOFF2 file, the font keeps that file's flavor data: its metadata
    # block written back as it was makes Chromium reject the subset. Fresh data.
    font.flavorData = None
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _layout_features(use: Use, every: set[str]) -> set[str]:
    """The features to keep: those the sheets ask for, and those reading systems
    apply unasked. For Latin, Greek and Cyrillic text these are SIMPLE (HarfBuzz's
    default features for them); other scripts keep all of fontTools' list, which
    covers their shaping (Arabic joining forms, Indic conjuncts...). Fractions
    only around a fraction slash, as HarfBuzz does: numerators and denominators
    of every digit weigh more than the digits. Mark positioning only with
    combining marks (typeset.py adds those of a letter the face lacks whole)."""
    simple = all(
        unicodedata.category(char)[0] != "L"
        or unicodedata.name(char, "").split(" ")[0] in SIMPLE_SCRIPTS
        for char in use.chars
    )
    default = set(SIMPLE) if simple else set(every)
    if FRACTION_SLASH not in use.chars:
        default -= FRACTIONS
    if simple and not any(unicodedata.category(char)[0] == "M" for char in use.chars):
        # Without combining marks there is nothing to attach; and a font's mark
        # tables (Gentium's cover thousands of bases) are most of its subsetting time.
        default -= MARK_FEATURES
    return default | use.features


def _ligature_subtables(font: Any) -> Iterator[Any]:
    if "GSUB" not in font:
        return
    for lookup in font["GSUB"].table.LookupList.Lookup:
        for subtable in lookup.SubTable:
            if lookup.LookupType == 7 and subtable.ExtensionLookupType == 4:
                yield subtable.ExtSubTable
            elif lookup.LookupType == 4:
                yield subtable


def _prune_ligatures(font: Any, formed: frozenset[str]) -> None:
    """Drops the ligatures whose letters never meet in the face's text (`formed`
    holds those that do), before the subsetter's closure keeps every ligature of
    the letters kept ("ffk", "gg"...). A ligature of glyphs that no character
    maps to (alternates) is kept."""
    letters = {glyph: chr(code) for code, glyph in (font.getBestCmap() or {}).items()}
    for subtable in _ligature_subtables(font):
        kept = {}
        for first, ligatures in subtable.ligatures.items():
            found = [
                ligature
                for ligature in ligatures
                if _may_form([first, *ligature.Component], letters, formed)
            ]
            if found:
                kept[first] = found
        subtable.ligatures = kept


def _may_form(glyphs: list[str], letters: dict[str, str], formed: frozenset[str]) -> bool:
    chars = [letters.get(glyph) for glyph in glyphs]
    return None in chars or "".join(c for c in chars if c is not None) in formed


def _point_to_licence(font: Any, href: str) -> None:
    """A licence record holding the whole OFL (some fonts carry it in every face,
    2 KB each once compressed) keeps its copyright notice and points to the full
    text, which the EPUB carries beside the font; a short one stays as it is."""
    name = font["name"]
    for record in name.names:
        if record.nameID != 13:
            continue
        text = record.toUnicode()
        if len(text) < LONG_LICENCE:
            continue
        notice = text.split("This Font Software is licensed", 1)[0].strip()
        statement = (
            "This Font Software is licensed under the SIL Open Font License, Version 1.1. "
            f"The licence is in the file {href} of this EPUB, and at "
            "https://openfontlicense.org"
        )
        record.string = f"{notice}\n\n{statement}" if notice else statement


_RESERVED = re.compile(r"Reserved\s+Font\s+(?:Names?\s+)?(.+?)(?:\.\s|\.$|\n\s*\n|$)", re.S)


def reserved_font_names(text: str) -> set[str]:
    """The Reserved Font Names an OFL notice declares ('with Reserved Font Names
    "Gentium" and "SIL"', 'with Reserved Font Name Cabin.')."""
    names: set[str] = set()
    for found in _RESERVED.finditer(text):
        clause = " ".join(found.group(1).split())
        quoted = re.findall(r'"([^"]+)"', clause)
        parts = quoted or re.split(r",\s*|\s+and\s+", clause)
        names |= {p.strip(" .,\"'") for p in parts if p.strip(" .,\"'")}
    return names


def _reserved_names(source: Path) -> set[str]:
    licence = source.parent / LICENCE
    text = licence.read_text("utf-8", errors="replace") if licence.is_file() else ""
    return reserved_font_names(text.split("-----", 1)[0])


def rename(font: Any, family: str, reserved: set[str]) -> None:
    """Gives the font the family name `family` in every record that names it (and
    in the CFF table); keeps the attribution and licence records."""
    name = font["name"]
    old_family = name.getDebugName(16) or name.getDebugName(1) or ""
    legacy = name.getDebugName(1) or old_family
    subfamily = name.getDebugName(17) or name.getDebugName(2) or "Regular"
    legacy_sub = name.getDebugName(2) or "Regular"
    reserved = set(reserved) | {
        reserved_word
        for record in name.names
        if record.nameID == 13
        for reserved_word in reserved_font_names(record.toUnicode())
    }
    suffix = legacy[len(old_family) :] if legacy.startswith(old_family) else ""
    full = family if subfamily == "Regular" else f"{family} {subfamily}"
    postscript = re.sub(r"[^A-Za-z0-9-]", "", f"{family}-{subfamily}")[:63]
    version = (name.getDebugName(5) or "").removeprefix("Version ").split(";")[0].strip()
    had = {record.nameID for record in name.names}
    values = {1: family + suffix, 3: f"{version};{postscript}", 4: full, 6: postscript}
    if 16 in had or suffix:
        values |= {16: family, 17: subfamily}
    if 21 in had:
        values[21] = family
    old_names = sorted(
        {old_family, legacy, old_family.replace(" ", ""), *reserved} - {""}, key=len, reverse=True
    )
    kept = []
    for record in name.names:
        if record.nameID in NAMING and record.nameID != 22:
            continue
        if record.nameID not in ATTRIBUTION:
            text = record.toUnicode()
            for old in old_names:
                text = _named(old).sub(family, text)
            record.string = text
        kept.append(record)
    name.names = kept
    for name_id, value in sorted(values.items()):
        name.setName(value, name_id, 3, 1, 0x409)
    if name.getDebugName(2) is None:
        name.setName(legacy_sub, 2, 3, 1, 0x409)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [postscript]
        top = cff.topDictIndex[0]
        top.FullName = full
        top.FamilyName = family
    for record in name.names:
        if record.nameID in ATTRIBUTION:
            continue
        left = [old for old in old_names if _named(old).search(record.toUnicode())]
        if left:
            raise RuntimeError(f"the subset of {old_family} is still named {left}")


def _named(name: str) -> re.Pattern[str]:
    """A name where it stands as a name: not inside a longer word ("Gentium" in
    "GentiumBookPlus-Bold" but "SIL" not in "fossil"), in any case."""
    return re.compile(rf"(?<![A-Za-z]){re.escape(name)}(?-i:(?![a-z]))", re.I)


def _licence(name: str, family: str, licence: Path) -> bytes:
    note = (
        f"The font files {name}-*.* beside this file are subsets of the font family\n"
        f'named "{family}" in this book\'s style sheets, made by publisher with fontTools:\n'
        "cut down to the characters this book uses and renamed, as the SIL Open Font\n"
        "License below requires of a Modified Version that may not use a Reserved Font\n"
        "Name. The copyright notice and licence of the original follow, unchanged.\n\n"
    )
    return (note + licence.read_text("utf-8")).encode("utf-8")
