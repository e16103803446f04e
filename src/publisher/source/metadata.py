"""Book metadata from YAML: Pandoc's key names, checked, with line numbers in errors."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location, MetadataError, ResourceError
from publisher.langtag import well_formed
from publisher.model import BookMeta, Identifier
from publisher.source import fence
from publisher.source.text import clean

# Pandoc's names for the metadata publisher understands. Anything else is rejected:
# a misspelt key ("autor") would otherwise vanish without a word.
KNOWN_KEYS = (
    "title",
    "subtitle",
    "author",
    "lang",
    "date",
    "rights",
    "identifier",
    "description",
    "subject",
    "publisher",
    "cover-image",
    "toc-depth",
    # citations and cross-references (Pandoc's citeproc, Quarto's crossref)
    "bibliography",
    "references",
    "csl",
    "nocite",
    "link-citations",
    "link-bibliography",
    "reference-section-title",
    "suppress-bibliography",
    "crossref",
)
# publisher's own settings, beside Pandoc's keys.
EXTENSION_KEYS = (
    "edition",
    "dedication",
    "split-level",
    "epub-image-size",
    "accessibility-certified-by",
    "profile",
    "page-size",
    "margins",
    "bleed",
    "crop-marks",
    "pdf-standard",
    "raw-html",
    "style",
    "dateline",
    "dashes",
    "bibliography-per-chapter",
    "index-title",
    "index-ranges",
)
# Pandoc's keys with a meaning in an EPUB or a PDF that publisher maps: keywords to
# subjects (OPF) and the PDF's keywords, abstract to the description, license to
# the rights, creator and contributor (with MARC roles), the series.
MAPPED_KEYS = (
    "keywords",
    "abstract",
    "license",
    "creator",
    "contributor",
    "belongs-to-collection",
    "group-position",
)
# Every other key Pandoc documents (its templates' variables, citation settings,
# LaTeX and HTML options), and Quarto's: accepted quietly, as Pandoc does, since a
# manuscript written for them carries them. publisher has no use for them.
PANDOC_KEYS = frozenset(
    """abstract-title author-meta category citation-abbreviations
    citecolor classoption CJKmainfont CJKoptions colorlinks css dir document-css
    documentclass ebook-cover epub-cover-image filecolor fontfamily fontfamilyoptions
    fontsize format geometry header-includes highlighting-css hyperrefoptions ibooks
    include-after include-before indent institute lang-id linestretch
    linkcolor links-as-notes lof lot mainfont mainfontoptions margin-bottom
    margin-left margin-right margin-top mathfont mathspec monofont monofontoptions
    natbiboptions notes-after-punctuation number-sections numbersections
    page-progression-direction pagestyle pagetitle papersize
    relation sansfont sansfontoptions secnumdepth section-divs
    source stylesheet subparagraph thanks title-meta title-prefix toc
    toc-title toccolor type urlcolor coverage accessModes accessModeSufficient
    accessibilityFeatures accessibilityHazards accessibilitySummary
    citation editor engine execute filters format jupyter knitr params resources
    """.split()  # the last line: Quarto's own keys, for manuscripts moving from Quarto
)
# MARC relator codes Pandoc's creator/contributor roles use (EPUB 3: marc:relators).
_ROLE = re.compile(r"^[a-z]{3}$")
# `dashes:` -- what two hyphens mean: an en dash (Pandoc's reading, the default), or
# an em dash, as in Project Gutenberg's texts. Three hyphens are always an em dash.
DASHES = ("en", "em")
# `index-ranges:` -- how the index prints consecutive pages: 41–43, or 41 f. / 41 ff.
INDEX_RANGES = ("dash", "ff")

# What metadata may cost: PyYAML is pure Python (64 KB take about a quarter of a
# second), and an alias (*name) is shared while parsing but expanded by anything
# that turns the value into text: 464 bytes of nested aliases become gigabytes.
# The tree is measured as composed, before anything is built from it.
MAX_YAML_CHARS = 65_536
MAX_VALUES = 10_000  # values (scalars, lists, mappings), each alias counted expanded
MAX_TEXT = 1_000_000  # characters in all text values, each alias counted expanded
MAX_DEPTH = 20  # lists and mappings inside each other
# Characters in one text value: the long texts, and every other (titles, names).
MAX_CHARS = {"description": 20_000, "rights": 20_000, "dedication": 20_000, "": 1_000}
# The values that name files: left as written (a control character in a file name
# is the fence's to refuse, not to take out silently); every other text is cleaned.
_PATH_KEYS = ("chapters", "cover-image", "bibliography", "csl")

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_FRONT_MATTER_CLOSE = ("---", "...")


class _Loader(yaml.SafeLoader):
    """Safe YAML, with dates kept as text: PyYAML's own date parsing raises a bare
    ValueError on '2024-13-45'; we check dates ourselves, with the line."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


@dataclass(frozen=True)
class FrontMatter:
    data: dict[str, Any]
    lines: dict[str, int]  # key -> line number in the file
    body: str  # the file's text with the front matter blanked out (line numbers kept)


def split_front_matter(text: str, path: Path, found: list[Diagnostic] | None = None) -> FrontMatter:
    """Pandoc's rule: a YAML block opened by `---` on the first line, closed by
    `---` or `...`. The block is replaced by empty lines so that line numbers in
    later messages are still the file's."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return FrontMatter({}, {}, text)
    for end in range(1, len(lines)):
        if lines[end].rstrip() in _FRONT_MATTER_CLOSE:
            break
    else:
        raise MetadataError(
            "front matter opened with '---' is never closed",
            where=Location(path, 1),
            hint="end it with a line '---' or '...'",
        )
    yaml_text = "\n".join(lines[1:end])
    data, key_lines = parse_yaml(yaml_text, path, first_line=2, found=found)
    body = "\n" * (end + 1) + "\n".join(lines[end + 1 :])
    return FrontMatter(data, key_lines, body)


def parse_yaml(
    text: str, path: Path, first_line: int = 1, found: list[Diagnostic] | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """The metadata mapping and the line of each key. The YAML is composed, then
    measured (`_measure`: size, depth, aliases) and its text cleaned (`_clean`)
    before any value is built, so that nothing is expanded past the budget."""
    if len(text) > MAX_YAML_CHARS:
        raise MetadataError(
            f"the metadata is longer than {MAX_YAML_CHARS // 1024} KB",
            where=Location(path, first_line),
            hint="keep long texts in the chapters",
        )
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _measure(node, path, first_line)
            _clean(node, path, first_line, [] if found is None else found)
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        # An unclosed bracket ("while parsing a flow sequence") is reported on its
        # own line, not on the line where the parser gave up.
        opened = "flow" in str(exc.context or "") and exc.context_mark is not None
        mark = exc.context_mark if opened else exc.problem_mark or exc.context_mark
        line = mark.line + first_line if mark else None
        problem = exc.problem or exc.context or "cannot be parsed"
        raise MetadataError(
            f"invalid YAML: {problem}",
            where=Location(path, line),
            hint="check the indentation and quote values that contain ':'",
        ) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise MetadataError(f"invalid YAML: {exc}", where=Location(path, first_line)) from None
    finally:
        loader.dispose()
    if data is None:
        return {}, {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise MetadataError(
            "metadata must be a mapping of keys to values",
            where=Location(path, first_line),
            hint="write 'title: My Book' style lines",
        )
    lines: dict[str, int] = {}
    for key, entry in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        line = key.start_mark.line + first_line
        if str(key.value) in lines:
            # YAML would keep the last one silently: say which two disagree.
            raise MetadataError(
                f"'{fence.shown(key.value)}' is given twice (lines {lines[str(key.value)]} "
                f"and {line})",
                where=Location(path, line),
                hint="keep one of them",
            )
        lines[str(key.value)] = line
        if key.value == "chapters":
            _entry_lines(entry, first_line, lines)
    return {str(k): v for k, v in data.items()}, lines


def _entry_lines(node: yaml.Node, first_line: int, lines: dict[str, int]) -> None:
    """The line of each file name under `chapters:` (as `chapters:NAME`, the first
    time it is written), so that a message about an entry points at the entry."""
    stack = [node]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            lines.setdefault(f"chapters:{current.value}", current.start_mark.line + first_line)
        elif isinstance(current, yaml.SequenceNode):
            stack += reversed(current.value)
        elif isinstance(current, yaml.MappingNode):
            stack += [value for _, value in reversed(current.value)]


def _measure(root: yaml.Node, path: Path, first_line: int) -> None:
    """Refuses a tree that holds itself (`chapters: &a [*a]`), is nested deeper
    than MAX_DEPTH, or holds more than MAX_VALUES values or MAX_TEXT characters
    with every alias expanded; walked without recursion, stopped at the first
    excess, which is reported at the line of the key whose value it is in."""
    count = chars = 0
    # (node, depth, the line to report, whether the walk is leaving the node)
    stack: list[tuple[yaml.Node, int, int, bool]] = [(root, 0, first_line, False)]
    open_nodes: set[int] = set()  # the nodes on the way down to the current one
    while stack:
        node, depth, line, leaving = stack.pop()
        if leaving:
            open_nodes.discard(id(node))
            continue
        where = Location(path, line)
        if id(node) in open_nodes:
            raise MetadataError(
                "a YAML alias refers to the value it is in",
                where=where,
                hint="write the value out instead of the alias",
            )
        count += 1
        if isinstance(node, yaml.ScalarNode):
            chars += len(node.value)
        if count > MAX_VALUES or chars > MAX_TEXT:
            raise MetadataError(
                f"the metadata holds more than {MAX_VALUES} values or {MAX_TEXT} characters, "
                "YAML aliases (*name) counted each time they are used",
                where=where,
                hint="write the values out instead of repeating aliases",
            )
        if depth > MAX_DEPTH:
            raise MetadataError(
                f"the metadata is nested more than {MAX_DEPTH} levels deep",
                where=where,
                hint="lists and mappings inside each other: flatten them",
            )
        if isinstance(node, yaml.ScalarNode):
            continue
        open_nodes.add(id(node))
        stack.append((node, depth, line, True))
        if isinstance(node, yaml.SequenceNode):
            pairs = [(child, line) for child in node.value]
        else:
            pairs = []
            for key, value in node.value:
                at = key.start_mark.line + first_line if node is root else line
                pairs += [(key, at), (value, at)]
        stack += [(child, depth + 1, at, False) for child, at in reversed(pairs)]


def _clean(root: yaml.Node, path: Path, first_line: int, found: list[Diagnostic]) -> None:
    """Text hygiene on the composed tree, as on Markdown text (text.clean): a
    character XML forbids, written as a YAML escape ("\\0", "\\x07", "\\uFFFE"),
    is removed from every key and text value with a warning naming its line. File
    names (the list under `chapters:`, `cover-image:`) are left for the fence,
    which refuses them. Each node once, however often an alias repeats it."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]  # node, a file name
    while stack:
        node, file_name = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if not file_name and isinstance(node.value, str):
                line = node.start_mark.line + first_line
                node.value = clean(node.value, path, found, first_line=line)
        elif isinstance(node, yaml.SequenceNode):
            stack += [(child, file_name) for child in reversed(node.value)]
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):  # popped in the file's order
                names = node is root and isinstance(key, yaml.ScalarNode)
                names = names and key.value in _PATH_KEYS
                # under chapters:, a part's title is text, its files are names
                part_title = isinstance(key, yaml.ScalarNode) and key.value == "part"
                stack.append((value, (file_name and not part_title) or names))
                stack.append((key, False))


def shown_value(value: Any, limit: int = 60) -> str:
    """A YAML value as a message shows it: short, whatever it holds (its repr
    cut to `limit` characters, control characters escaped)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return "a number too large"  # str() of a huge int is refused by Python itself
    text = repr(value) if not isinstance(value, str) else value
    return fence.shown(text[: limit * 2], limit)


def build_meta(
    data: dict[str, Any],
    lines: dict[str, int],
    path: Path,
    found: list[Diagnostic] | None = None,
    *,
    root: Path | None = None,
) -> BookMeta:
    """Check every key and value; what is not wrong but worth a word goes to `found`.
    `path` is the file the metadata is in, `root` the manuscript's folder (the
    fence around the cover; `path`'s folder if not given)."""

    def where(key: str) -> Location:
        return Location(path, lines.get(key))

    known = (*KNOWN_KEYS, *EXTENSION_KEYS, *MAPPED_KEYS)
    for key in data:
        if key in known or key in PANDOC_KEYS:
            continue
        # No key stops a build: Pandoc keeps any, and so do its users' manuscripts.
        # A key close to one publisher reads is most likely that one, misspelt.
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        hint = f"did you mean '{close[0]}'?" if close else "publisher does not use it"
        if found is not None:
            found.append(
                Diagnostic(
                    "D05",
                    WARNING,
                    where(key),
                    f"unknown metadata key '{fence.shown(key)}' ignored",
                    hint,
                    subject=key,
                )
            )

    def text(key: str, required: bool = False) -> str | None:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise MetadataError(
                    f"the book has no {key}",
                    where=Location(path, lines.get(key, 1)),
                    hint=f"add '{key}: ...' to the metadata",
                )
            return None
        if isinstance(value, bool | list | dict):
            raise MetadataError(
                f"'{key}' must be text, not {type(value).__name__}", where=where(key)
            )
        return bounded(key, " ".join(str(value).split()), where(key))

    def text_list(key: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, dict) and ("name" in item or "text" in item):
                item = item.get("name", item.get("text"))
            if isinstance(item, bool | list | dict) or item is None or not str(item).strip():
                raise MetadataError(f"'{key}' must be a name or a list of names", where=where(key))
            out.append(bounded(key, " ".join(str(item).split()), where(key)))
        return tuple(out)

    title = text("title", required=True)
    assert title is not None
    lang = text("lang") or "en"
    if not well_formed(lang):
        raise MetadataError(
            f"'lang: {shown_value(lang)}' is not a language tag",
            where=where("lang"),
            hint="use a BCP 47 tag such as en, en-GB, ru, zh-Hans",
        )
    date = _date(data.get("date"), where("date"))
    authors = text_list("author")
    creators = _people(data, "creator", where("creator"), "aut")
    authors += tuple(name for name, role in creators if role == "aut" and name not in authors)
    contributors = tuple((n, r) for n, r in creators if r != "aut") + _people(
        data, "contributor", where("contributor"), "ctb"
    )
    cover, cover_data = _cover(data.get("cover-image"), path, root or path.parent.resolve(), where)

    def number(key: str, default: int | None, low: int, high: int) -> int | None:
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise MetadataError(
                f"'{key}: {shown_value(value)}' must be a whole number from {low} to {high}",
                where=where(key),
            )
        return value

    def choice(key: str, allowed: tuple[str, ...], default: str) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            raise MetadataError(
                f"'{key}: {shown_value(value)}' is not one of {', '.join(allowed)}",
                where=where(key),
                hint=f"write {key}: {' or '.join(allowed)}",
            )
        return value.strip().lower()

    def flag(key: str, default: bool = False) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise MetadataError(f"'{key}' must be true or false", where=where(key))
        return value

    identifier = _identifier(data.get("identifier"), where("identifier"), title, authors, lang)
    bounded("identifier", identifier.value, where("identifier"))
    return BookMeta(
        title=title,
        subtitle=text("subtitle"),
        authors=authors,
        lang=lang,
        date=date,
        rights=text("rights") or _plain(data, "license", where("license")),
        identifier=identifier,
        description=text("description") or _plain(data, "abstract", where("abstract")),
        subjects=text_list("subject"),
        keywords=_keywords(data.get("keywords"), "keywords", where("keywords")),
        contributors=contributors,
        collection=text("belongs-to-collection"),
        collection_position=number("group-position", None, 0, 1_000_000),
        publisher=text("publisher"),
        cover_image=cover,
        cover_data=cover_data,
        source=path,
        edition=text("edition"),
        dedication=text("dedication"),
        split_level=number("split-level", None, 1, 6),
        toc_depth=number("toc-depth", 3, 1, 6) or 3,
        image_max=number("epub-image-size", 1600, 64, 10000) or 1600,
        certifier=text("accessibility-certified-by"),
        profile=text("profile") or "print",
        page_size=text("page-size"),
        margins=text("margins"),
        bleed=text("bleed"),
        crop_marks=flag("crop-marks"),
        pdf_standard=text("pdf-standard") or "ua-1",
        raw_html=flag("raw-html"),
        style=text("style"),
        style_line=lines.get("style"),
        dateline=text("dateline"),
        dashes=choice("dashes", DASHES, "en"),
        **_apparatus(data, lines, path, root or path.parent.resolve(), where, text, flag),
        index_title=text("index-title"),
        index_ranges=choice("index-ranges", INDEX_RANGES, "dash"),
    )


def _apparatus(
    data: dict[str, Any],
    lines: dict[str, int],
    path: Path,
    root: Path,
    where: Callable[[str], Location],
    text: Callable[[str], str | None],
    flag: Callable[[str, bool], bool],
) -> dict[str, Any]:
    """The citation and cross-reference settings (Pandoc's and Quarto's keys), for
    BookMeta: the `bibliography:` and `csl:` files through the fence."""
    from publisher.source.bibliography import locate

    names = data.get("bibliography")
    names = [] if names is None else names if isinstance(names, list) else [names]
    files = tuple(
        locate("bibliography", name, path.parent, root, where("bibliography")) for name in names
    )
    csl = data.get("csl")
    style = None if csl is None else locate("CSL style", csl, path.parent, root, where("csl"))
    references = data.get("references")
    if references is not None and not isinstance(references, list):
        raise MetadataError(
            "'references' must be a list of CSL items",
            where=where("references"),
            hint="write '- id: key' items under it, as in CSL YAML",
        )
    nocite = data.get("nocite")
    keys: list[str] = []
    for item in nocite if isinstance(nocite, list) else [] if nocite is None else [nocite]:
        if isinstance(item, bool | list | dict):
            raise MetadataError(
                "'nocite' must be citation keys such as '@smith2020' or '@*'",
                where=where("nocite"),
            )
        keys += re.findall(r"@(\*|[\w{][^\s,;\]]*)", str(item))
    crossref = data.get("crossref")
    if crossref is not None and not isinstance(crossref, dict):
        raise MetadataError(
            "'crossref' must be a mapping of Quarto's crossref keys",
            where=where("crossref"),
            hint="write 'fig-prefix: Fig.' style lines under it",
        )
    settings = tuple(
        (str(k), str(v).lower() if isinstance(v, bool) else str(v))
        for k, v in (crossref or {}).items()
        if isinstance(v, str | int | float | bool)
    )
    return {
        "bibliography": files,
        "references": tuple(references or ()),
        "references_line": lines.get("references"),
        "csl": style,
        "nocite": tuple(k.strip("{}") for k in keys),
        "link_citations": flag("link-citations", True),
        "link_bibliography": flag("link-bibliography", True),
        "reference_section_title": text("reference-section-title"),
        "suppress_bibliography": flag("suppress-bibliography", False),
        "bibliography_per_chapter": flag("bibliography-per-chapter", False),
        "crossref": settings,
    }


def bounded(key: str, text: str, where: Location) -> str:
    """`text`, if it is not longer than its key allows (MAX_CHARS): a title of
    fifty thousand letters is a mistake, and would be one line on the cover."""
    limit = MAX_CHARS.get(key, MAX_CHARS[""])
    if len(text) > limit:
        raise MetadataError(
            f"'{key}' is longer than {limit} characters",
            where=where,
            hint="shorten it; a long text belongs in a chapter",
        )
    return text


def _cover(
    value: Any, path: Path, root: Path, where: Callable[[str], Location]
) -> tuple[Path | None, bytes]:
    """`cover-image:`, through the fence: relative to the metadata's file, inside
    the manuscript's folder, a PNG or JPEG image; its path and its bytes, read
    once and checked here."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, b""
    key = "cover-image"
    if not isinstance(value, str):
        raise MetadataError(f"'{key}' must be text, not {type(value).__name__}", where=where(key))
    name = value.strip()
    cover = fence.locate(root, path.parent, name)
    if isinstance(cover, fence.Refused):
        if cover.kind == fence.OUTSIDE:
            raise ResourceError(
                f"cover image '{fence.shown(name)}' is outside the manuscript folder",
                where=where("cover-image"),
                hint="copy it into the manuscript folder",
            )
        if cover.kind == fence.MISSING:
            raise ResourceError(
                f"cover image '{fence.shown(name)}' not found",
                where=where("cover-image"),
                hint="give a path relative to this file",
            )
        raise fence.refusal("cover image", name, cover, where("cover-image"), ResourceError)
    if cover.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ResourceError(
            f"cover image '{fence.shown(name)}' must be a PNG or JPEG file",
            where=where("cover-image"),
            hint="every reading system shows PNG and JPEG covers",
        )
    from publisher.source.resources import IMAGE_TYPES, inspect_image, read_image

    media_type = IMAGE_TYPES[cover.suffix.lower()]
    data = read_image(cover, media_type, where("cover-image"), name, "cover image")
    inspect_image(data, media_type, where("cover-image"), name)
    return cover, data


def _date(value: Any, where: Location) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    if _DATE.match(text):
        try:
            parts = [int(p) for p in text.split("-")]
            dt.date(parts[0], *(parts[1:] + [1] * (3 - len(parts))))
            return text
        except ValueError:
            pass
    raise MetadataError(
        f"'date: {shown_value(text)}' is not a date",
        where=where,
        hint="write it as YYYY-MM-DD, YYYY-MM or YYYY",
    )


def _identifier(
    value: Any, where: Location, title: str, authors: tuple[str, ...], lang: str
) -> Identifier:
    if value is None:
        # Stable across builds: the same title, authors and language give the same id.
        seed = "\n".join((title, *authors, lang))
        return Identifier(f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'publisher:' + seed)}", "UUID")
    if isinstance(value, list) and len(value) >= 1:
        value = value[0]
    if isinstance(value, dict):
        text = value.get("text")
        scheme = value.get("scheme")
        if not text:
            raise MetadataError("'identifier' needs a 'text' value", where=where)
        return Identifier(str(text).strip(), str(scheme) if scheme else None)
    if isinstance(value, bool | list) or not str(value).strip():
        raise MetadataError("'identifier' must be text", where=where)
    text = str(value).strip()
    scheme = "ISBN" if re.fullmatch(r"(97[89])?[\d-]{9,13}[\dXx]", text.replace(" ", "")) else None
    return Identifier(text, scheme)


# Bytes of a file name from a title: with ".kepub.epub" it stays under the 255
# bytes file systems allow, whatever the script (a CJK letter is 3-4 bytes).
SLUG_BYTES = 200
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019\u02bc](?=\w)")


def slugify(text: str) -> str:
    """A file name from a title: lower case, letters and digits joined by '-'; an
    apostrophe inside a word is dropped ("Alice's" gives "alices", not "alice-s")."""
    import unicodedata

    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    folded = _APOSTROPHE.sub("", folded)
    words = re.findall(r"\w+", folded.lower().replace("_", " "))
    slug = "-".join(words)[:80]
    while len(slug.encode("utf-8")) > SLUG_BYTES:
        slug = slug[:-1]
    return slug.strip("-") or "book"


def _plain(data: dict[str, Any], key: str, where: Location) -> str | None:
    """A Pandoc text value (`abstract:`, `license:`), which may be several paragraphs
    or a mapping with a `text` (or `name`): its words, on one line."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("text", value.get("name"))
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if isinstance(v, str | int | float))
    if isinstance(value, bool | dict | list) or value is None:
        raise MetadataError(f"'{key}' must be text, not {type(value).__name__}", where=where)
    return " ".join(str(value).split()) or None


def _keywords(value: Any, key: str, where: Location) -> tuple[str, ...]:
    """`keywords:` as Pandoc takes it: a list, or one line separated by commas."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    out = []
    for item in items:
        if isinstance(item, bool | list | dict) or item is None:
            raise MetadataError(f"'{key}' must be a name or a list of names", where=where)
        words = " ".join(str(item).split())
        if words and words not in out:
            out.append(words)
    return tuple(out)


def _people(
    data: dict[str, Any], key: str, where: Location, role: str
) -> tuple[tuple[str, str], ...]:
    """Pandoc's `creator:`/`contributor:`: names, or `{text: Name, role: trl}` with a
    MARC relator code (aut, edt, ill, trl...), as (name, role)."""
    value = data.get(key)
    if value is None:
        return ()
    out = []
    for item in value if isinstance(value, list) else [value]:
        name, given = item, role
        if isinstance(item, dict):
            name = item.get("text", item.get("name"))
            given = str(item.get("role", role)).strip().lower()
        if isinstance(name, bool | list | dict) or name is None or not str(name).strip():
            raise MetadataError(f"'{key}' must be a name or a list of names", where=where)
        if not _ROLE.match(given):
            raise MetadataError(
                f"'{key}' role '{given}' is not a MARC relator code",
                where=where,
                hint="use three letters such as aut, edt, ill, trl",
            )
        out.append((" ".join(str(name).split()), given))
    return tuple(out)
