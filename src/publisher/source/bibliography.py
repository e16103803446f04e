"""The works a manuscript cites: the files named by `bibliography:` (BibTeX and
BibLaTeX `.bib`, CSL JSON `.json`, CSL YAML `.yaml`), Pandoc's `references:` in
the metadata, and the CSL style named by `csl:`, each file read through the
fence (source/fence.py) as chapters and images are.

Every source becomes CSL JSON items (the data model citeproc-py formats), the
BibTeX fields mapped as Pandoc's BibLaTeX reader maps them. Reading is pure
Python (no library is imported for it); formatting is render/cite.py's, with
citeproc-py. A file that cannot be read is one error naming `file:line`."""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.diagnostics import Diagnostic
from publisher.errors import Location, ResourceError
from publisher.model import Bibliography, BookMeta, Reference
from publisher.source import fence
from publisher.source.text import decode

# What a `bibliography:` file may be, by its name (Pandoc's reading of the names).
FORMATS = {
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".json": "csljson",
    ".yaml": "cslyaml",
    ".yml": "cslyaml",
}
MAX_BYTES = 20_000_000  # a whole Zotero library is a few megabytes
MAX_STYLE_BYTES = 2_000_000  # the largest CSL styles are about 200 KB


def locate(what: str, name: Any, base: Path, root: Path, where: Location) -> Path:
    """A file named in the metadata (`what`: "bibliography" or "CSL style"), through
    the fence: relative to `base` (the metadata's folder), inside `root`, a
    regular file of a kind publisher reads."""
    if not isinstance(name, str) or not name.strip():
        raise ResourceError(f"{what} must be a file name", where=where)
    name = name.strip()
    if what == "CSL style" and not name.lower().endswith(".csl"):
        found = fence.locate(root, base, name + ".csl")  # Pandoc adds the extension
        if not isinstance(found, fence.Refused):
            return found
    found = fence.locate(root, base, name)
    if isinstance(found, fence.Refused):
        if found.kind == fence.OUTSIDE:
            raise ResourceError(
                f"{what} '{fence.shown(name)}' is outside the manuscript folder",
                where=where,
                hint="copy it into the manuscript folder",
            )
        if found.kind == fence.MISSING:
            raise ResourceError(
                f"{what} '{fence.shown(name)}' not found",
                where=where,
                hint="give a path relative to the metadata's file",
            )
        raise fence.refusal(what, name, found, where, ResourceError)
    if what == "bibliography" and found.suffix.lower() not in FORMATS:
        raise ResourceError(
            f"bibliography '{fence.shown(name)}' is not a format publisher reads",
            where=where,
            hint="give BibTeX or BibLaTeX (.bib), CSL JSON (.json) or CSL YAML (.yaml)",
        )
    return found


def read_bibliography(meta: BookMeta, found: list[Diagnostic]) -> Bibliography | None:
    """The references of every `bibliography:` file and of `references:`, and the
    `csl:` style's text; None when the manuscript names none of them."""
    if not meta.bibliography and not meta.references and meta.csl is None:
        return None
    references: list[Reference] = []
    seen: dict[str, Location] = {}
    for path in meta.bibliography:
        text = _read(path, MAX_BYTES, "bibliography", found)
        kind = FORMATS[path.suffix.lower()]
        if kind == "bibtex":
            items = read_bibtex(text, path)
        elif kind == "csljson":
            items = read_csl_json(text, path)
        else:
            items = read_csl_yaml(text, path)
        for item, where in items:
            _add(references, seen, item, where)
    if meta.references:
        place = Location(meta.source or Path("metadata"), meta.references_line)
        for value in meta.references:
            _add(references, seen, csl_item(value, place), place)
    style = None
    if meta.csl is not None:
        style = csl_root(_read(meta.csl, MAX_STYLE_BYTES, "CSL style", found), meta.csl)
    return Bibliography(tuple(references), style, meta.csl)


def _add(
    references: list[Reference], seen: dict[str, Location], item: dict[str, Any], where: Location
) -> None:
    key = str(item["id"])
    if key in seen:
        raise ResourceError(
            f"bibliography entry '{fence.shown(key)}' is given twice (first at {seen[key]})",
            where=where,
            hint="keep one of them, or give the other a key of its own",
        )
    seen[key] = where
    references.append(Reference(key, item, where))


def _read(path: Path, limit: int, what: str, found: list[Diagnostic]) -> str:
    data = fence.read_bytes(path)
    if isinstance(data, fence.Refused):
        raise fence.refusal(what, path.name, data, Location(path), ResourceError)
    if len(data) > limit:
        raise ResourceError(
            f"{what} '{fence.shown(path.name)}' is larger than {limit // 1_000_000} MB",
            where=Location(path),
            hint="split it, or keep only the works the book cites"
            if what == "bibliography"
            else "a CSL style is a few hundred kilobytes at most",
        )
    return decode(data, path, found)


_TOO_DEEP = "lists and mappings nested too deep"
MAX_BRACES = 32  # braces inside braces in one BibTeX value


def _malformed(path: Path, line: int | None, what: str, fix: str) -> ResourceError:
    return ResourceError(
        f"bibliography cannot be read: {what}", where=Location(path, line), hint=fix
    )


# --- CSL JSON and CSL YAML ------------------------------------------------------------


def read_csl_json(text: str, path: Path) -> list[tuple[dict[str, Any], Location]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _malformed(path, exc.lineno, f"invalid JSON: {exc.msg}", "check the JSON") from None
    except RecursionError:
        raise _malformed(path, None, _TOO_DEEP, "an item holds names, dates and text") from None
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise _malformed(path, 1, "CSL JSON must be a list of items", "write [ {...}, {...} ]")
    lines = _json_item_lines(text, len(data))
    out = []
    for n, value in enumerate(data):
        where = Location(path, lines[n] if n < len(lines) else None)
        out.append((csl_item(value, where), where))
    return out


def _json_item_lines(text: str, count: int) -> list[int]:
    """The line of each item of a top-level JSON list: where each `{` at depth 1 is."""
    lines: list[int] = []
    depth, line, in_string, escaped = 0, 1, False, False
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            if char == "{" and depth == 1:
                lines.append(line)
                if len(lines) == count:
                    break
            depth += 1
        elif char in "]}":
            depth -= 1
    return lines


def read_csl_yaml(text: str, path: Path) -> list[tuple[dict[str, Any], Location]]:
    """Pandoc's CSL YAML: a list of items, or a mapping with `references:` (a
    metadata block between `---` lines)."""
    import yaml

    class Loader(yaml.SafeLoader):
        """Safe YAML with dates kept as text, and no aliases: an alias repeated
        inside itself would expand into gigabytes (source/metadata.py)."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _malformed(
                    path,
                    event.start_mark.line + 1,
                    "YAML aliases (*name) are not read in a bibliography",
                    "write the value out instead of the alias",
                )
            return super().compose_node(parent, index)

    Loader.add_constructor(
        "tag:yaml.org,2002:timestamp",
        lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
    )
    body = text
    if body.startswith("---"):
        body = re.sub(r"(?m)^(\.\.\.|---)\s*\Z", "", body.split("\n", 1)[1] if "\n" in body else "")
        body = "\n" + body  # the first line stays line 1
        body = re.sub(r"(?m)^(---|\.\.\.)\s*$", "", body)
    loader = Loader(body)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise _malformed(
            path,
            mark.line + 1 if mark else None,
            f"invalid YAML: {exc.problem or exc.context}",
            "check the indentation and quote values that contain ':'",
        ) from None
    except yaml.YAMLError as exc:
        raise _malformed(path, None, f"invalid YAML: {exc}", "check the YAML") from None
    except RecursionError:
        raise _malformed(path, None, _TOO_DEEP, "an item holds names, dates and text") from None
    finally:
        loader.dispose()
    items_node = node
    if isinstance(data, dict) and isinstance(data.get("references"), list):
        assert isinstance(node, yaml.MappingNode)
        items_node = next(v for k, v in node.value if getattr(k, "value", None) == "references")
        data = data["references"]
    if not isinstance(data, list) or not isinstance(items_node, yaml.SequenceNode):
        raise _malformed(
            path, 1, "CSL YAML must be a list of items", "write 'references:' and a list under it"
        )
    out = []
    for value, item_node in zip(data, items_node.value, strict=True):
        where = Location(path, item_node.start_mark.line + 1)
        out.append((csl_item(value, where), where))
    return out


# CSL variables by kind (CSL 1.0.2 specification, appendix IV).
NAME_VARIABLES = frozenset(
    """author chair collection-editor compiler composer container-author contributor
    curator director editor editorial-director editor-translator executive-producer
    guest host illustrator interviewer narrator organizer original-author performer
    producer recipient reviewed-author script-writer series-creator translator""".split()
)
DATE_VARIABLES = frozenset(
    "accessed available-date event-date issued original-date submitted".split()
)
_TAG = re.compile(r"<(/?)([a-zA-Z]+)([^<>]*)>")


def csl_item(value: Any, where: Location) -> dict[str, Any]:
    """One CSL item as citeproc-py reads it: an id, a type, names as lists of
    {family, given, ...} or {literal}, dates as {date-parts} (or a literal), the
    rest as text."""
    if not isinstance(value, dict):
        raise _malformed(where.path, where.line, "an item is not a mapping", "give each an id")
    if value.get("id") in (None, ""):
        raise _malformed(where.path, where.line, "an item has no 'id'", "give each item an id")
    out: dict[str, Any] = {"id": str(value["id"]), "type": str(value.get("type") or "document")}
    for key, raw in value.items():
        key = str(key)
        if key in ("id", "type") or raw is None:
            continue
        if key in NAME_VARIABLES:
            names = [_csl_name(n) for n in (raw if isinstance(raw, list) else [raw])]
            out[key] = [n for n in names if n]
        elif key in DATE_VARIABLES:
            date = _csl_date(raw)
            if date is not None:
                out[key] = date
        elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
            out[key] = _csl_text(str(raw))
    return out


def _csl_name(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict):
        name = {str(k): _csl_text(str(v)) for k, v in value.items() if isinstance(v, str | int)}
        keep = (
            "family",
            "given",
            "literal",
            "suffix",
            "dropping-particle",
            "non-dropping-particle",
        )
        name = {k: v for k, v in name.items() if k in keep and v}
        return name or None
    if isinstance(value, str) and value.strip():
        return {"literal": value.strip()}
    return None


def _csl_date(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        parts = value.get("date-parts")
        if isinstance(parts, list) and parts and all(isinstance(p, list) for p in parts):
            clean = [[_int(x) for x in p[:3] if _int(x) is not None] for p in parts[:2]]
            clean = [p for p in clean if p]
            if clean:
                date: dict[str, Any] = {"date-parts": clean}
                if value.get("circa"):
                    date["circa"] = 1
                if value.get("season") is not None:
                    date["season"] = value["season"]
                return date
        for key in ("raw", "literal"):
            if isinstance(value.get(key), str | int):
                return _edtf(str(value[key]))
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return _edtf(str(value))
    return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _csl_text(text: str) -> str:
    """Text as citeproc-py reads it: Pandoc's CSL markup (<i>, <b>, <sup>...) taken
    out, its words kept; `<span class="nocase">` (case kept as written) stays."""
    if "<" not in text:
        return text
    return _TAG.sub(lambda m: m.group(0) if _nocase_tag(m) else "", text)


def _nocase_tag(match: re.Match[str]) -> bool:
    tag = match.group(2).lower()
    return tag == "span" and (match.group(1) == "/" or "nocase" in match.group(3))


_EDTF = re.compile(r"^(-?\d{1,4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?([~?%]?)$")


def _edtf(text: str) -> dict[str, Any]:
    """`2020`, `2020-03-14`, `2020-03/2020-04`, `2020~` (circa); other text is a
    literal date ("forthcoming")."""
    text = text.strip()
    pieces = text.split("/") if "/" in text else [text]
    parts: list[list[int]] = []
    circa = False
    for piece in pieces[:2]:
        match = _EDTF.match(piece.strip())
        if match is None:
            return {"literal": text}
        parts.append([int(g) for g in match.groups()[:3] if g is not None])
        circa = circa or bool(match.group(4))
    date: dict[str, Any] = {"date-parts": parts}
    if circa:
        date["circa"] = 1
    return date


# --- BibTeX and BibLaTeX --------------------------------------------------------------------

# BibLaTeX entry types -> CSL types, after Pandoc's BibLaTeX reader.
BIBTEX_TYPES = {
    "article": "article-journal",
    "book": "book",
    "mvbook": "book",
    "booklet": "pamphlet",
    "bookinbook": "chapter",
    "inbook": "chapter",
    "incollection": "chapter",
    "inreference": "entry-encyclopedia",
    "collection": "book",
    "mvcollection": "book",
    "reference": "book",
    "mvreference": "book",
    "proceedings": "book",
    "mvproceedings": "book",
    "inproceedings": "paper-conference",
    "conference": "paper-conference",
    "manual": "book",
    "misc": "document",
    "online": "webpage",
    "electronic": "webpage",
    "www": "webpage",
    "patent": "patent",
    "periodical": "periodical",
    "report": "report",
    "techreport": "report",
    "thesis": "thesis",
    "phdthesis": "thesis",
    "mastersthesis": "thesis",
    "unpublished": "manuscript",
    "dataset": "dataset",
    "software": "software",
    "letter": "personal_communication",
    "movie": "motion_picture",
    "video": "motion_picture",
    "music": "song",
    "audio": "song",
    "image": "graphic",
    "artwork": "graphic",
    "review": "review",
    "standard": "standard",
    "legislation": "legislation",
    "jurisdiction": "legal_case",
}
# BibTeX fields -> CSL variables, where the mapping is one to one.
BIBTEX_FIELDS = {
    "shorttitle": "title-short",
    "series": "collection-title",
    "volume": "volume",
    "volumes": "number-of-volumes",
    "pages": "page",
    "pagetotal": "number-of-pages",
    "edition": "edition",
    "publisher": "publisher",
    "address": "publisher-place",
    "location": "publisher-place",
    "chapter": "chapter-number",
    "url": "URL",
    "doi": "DOI",
    "isbn": "ISBN",
    "issn": "ISSN",
    "pmid": "PMID",
    "pmcid": "PMCID",
    "note": "note",
    "annotation": "annote",
    "annote": "annote",
    "abstract": "abstract",
    "keywords": "keyword",
    "version": "version",
    "eventtitle": "event-title",
    "venue": "event-place",
    "howpublished": "publisher",
    "issue": "issue",
}
BIBTEX_NAMES = {
    "author": "author",
    "editor": "editor",
    "translator": "translator",
    "bookauthor": "container-author",
    "director": "director",
}
BIBTEX_DATES = {"urldate": "accessed", "origdate": "original-date", "eventdate": "event-date"}
# Thesis kinds, as Pandoc words them.
THESIS_GENRE = {
    "phdthesis": "PhD thesis",
    "mastersthesis": "Master’s thesis",
    "mathesis": "Master’s thesis",
}
MONTHS = {
    name: n
    for n, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
LANGIDS = {
    "english": "en-US",
    "american": "en-US",
    "british": "en-GB",
    "german": "de-DE",
    "ngerman": "de-DE",
    "french": "fr-FR",
    "spanish": "es-ES",
    "italian": "it-IT",
    "portuguese": "pt-PT",
    "brazil": "pt-BR",
    "dutch": "nl-NL",
    "swedish": "sv-SE",
    "danish": "da-DK",
    "norwegian": "nb-NO",
    "finnish": "fi-FI",
    "polish": "pl-PL",
    "czech": "cs-CZ",
    "russian": "ru-RU",
}


@dataclass
class _Entry:
    type: str
    key: str
    fields: dict[str, str]  # field -> raw value (LaTeX, braces kept)
    line: int


class _BibTeX:
    """A BibTeX database read character by character: `@string` macros, `#`
    concatenation, braced and quoted values, `@comment` and `@preamble` skipped,
    text outside entries ignored (BibTeX's own rule)."""

    def __init__(self, text: str, path: Path) -> None:
        self.text, self.path, self.pos = text, path, 0
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.macros = {name: str(n) for name, n in MONTHS.items() if len(name) == 3}

    def line(self, at: int) -> int:
        return bisect_right(self.starts, at)

    def fail(self, at: int, what: str, fix: str) -> ResourceError:
        return _malformed(self.path, self.line(at), what, fix)

    def entries(self) -> list[_Entry]:
        out: list[_Entry] = []
        text = self.text
        while True:
            at = text.find("@", self.pos)
            if at < 0:
                return out
            self.pos = at + 1
            kind = self._word().lower()
            if not kind:
                continue  # an @ in the text between entries: BibTeX ignores it
            self._space()
            if self.pos >= len(text) or text[self.pos] not in "{(":
                raise self.fail(at, f"'@{kind}' is not followed by '{{'", "write @type{key, ...}")
            close = "}" if text[self.pos] == "{" else ")"
            self.pos += 1
            if kind == "comment":
                self._skip_group(at, close)
                continue
            if kind == "preamble":
                self._value(at)
                self._expect(close, at, kind)
                continue
            if kind == "string":
                self._space()
                name = self._word()
                self._space()
                self._expect("=", at, kind)
                self.macros[name.lower()] = self._value(at)
                self._space()
                self._expect(close, at, kind)
                continue
            entry = self._entry(kind, close, at)
            out.append(entry)

    def _entry(self, kind: str, close: str, at: int) -> _Entry:
        self._space()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",}) \t\n":
            self.pos += 1
        key = self.text[start : self.pos]
        if not key:
            raise self.fail(at, f"an '@{kind}' entry has no key", "write @type{key, ...}")
        fields: dict[str, str] = {}
        while True:
            self._space()
            if self.pos >= len(self.text):
                raise self._unclosed(at, key, close)
            char = self.text[self.pos]
            if char == close:
                self.pos += 1
                return _Entry(kind, key, fields, self.line(at))
            if char == "@":  # the next entry begins: this one lacks its end
                raise self._unclosed(at, key, close)
            if char != ",":
                raise self.fail(
                    self.pos,
                    f"expected ',' or '{close}' in entry '{fence.shown(key)}', found "
                    f"'{fence.shown(char)}'",
                    "separate the fields with commas",
                )
            self.pos += 1
            self._space()
            if self.pos < len(self.text) and self.text[self.pos] == close:
                continue  # a comma after the last field
            name_at = self.pos
            name = self._word().lower()
            if not name:
                if self.pos >= len(self.text):
                    raise self._unclosed(at, key, close)
                raise self.fail(
                    name_at,
                    f"expected a field name in entry '{fence.shown(key)}'",
                    "write name = {value}",
                )
            self._space()
            if self.pos >= len(self.text) or self.text[self.pos] != "=":
                raise self.fail(
                    name_at,
                    f"expected '=' after the field name '{fence.shown(name)}' in entry "
                    f"'{fence.shown(key)}'",
                    "write name = {value}",
                )
            self.pos += 1
            value = self._value(at)
            if name in fields:
                raise self.fail(
                    name_at,
                    f"field '{fence.shown(name)}' is given twice in entry '{fence.shown(key)}'",
                    "keep one of them",
                )
            fields[name] = value

    def _unclosed(self, at: int, key: str, close: str) -> ResourceError:
        return self.fail(at, f"entry '{fence.shown(key)}' is not closed", f"end it with '{close}'")

    def _value(self, at: int) -> str:
        parts: list[str] = []
        while True:
            self._space()
            if self.pos >= len(self.text):
                raise self.fail(at, "a value is missing at the end of the file", "close the entry")
            char = self.text[self.pos]
            if char == "{":
                parts.append(self._braced(at))
            elif char == '"':
                parts.append(self._quoted(at))
            elif char.isdigit():
                start = self.pos
                while self.pos < len(self.text) and self.text[self.pos].isdigit():
                    self.pos += 1
                parts.append(self.text[start : self.pos])
            else:
                name_at = self.pos
                name = self._word()
                if not name:
                    raise self.fail(
                        name_at,
                        f"a value cannot begin with '{fence.shown(char)}'",
                        "put the value in braces: {...}",
                    )
                if name.lower() not in self.macros:
                    raise self.fail(
                        name_at,
                        f"'{fence.shown(name)}' is not defined by an @string",
                        "put the value in braces, or define it with @string",
                    )
                parts.append(self.macros[name.lower()])
            self._space()
            if self.pos < len(self.text) and self.text[self.pos] == "#":
                self.pos += 1
                continue
            return "".join(parts)

    def _braced(self, at: int) -> str:
        depth, start = 0, self.pos
        for index in range(self.pos, len(self.text)):
            char = self.text[index]
            if char == "\\":
                continue
            if char == "{" and self.text[index - 1] != "\\":
                depth += 1
                if depth > MAX_BRACES:  # the LaTeX reader follows braces by recursion
                    raise self.fail(
                        index,
                        f"braces nested more than {MAX_BRACES} deep",
                        "remove the extra braces",
                    )
            elif char == "}" and self.text[index - 1] != "\\":
                depth -= 1
                if depth == 0:
                    self.pos = index + 1
                    return self.text[start + 1 : index]
        raise self.fail(start, "a '{' is never closed", "add the missing '}'")

    def _quoted(self, at: int) -> str:
        depth, start = 0, self.pos
        for index in range(self.pos + 1, len(self.text)):
            char = self.text[index]
            previous = self.text[index - 1]
            if char == "{" and previous != "\\":
                depth += 1
                if depth > MAX_BRACES:
                    raise self.fail(
                        index,
                        f"braces nested more than {MAX_BRACES} deep",
                        "remove the extra braces",
                    )
            elif char == "}" and previous != "\\":
                depth -= 1
            elif char == '"' and depth == 0 and previous != "\\":
                self.pos = index + 1
                return self.text[start + 1 : index]
        raise self.fail(start, "a '\"' is never closed", "add the missing '\"'")

    def _skip_group(self, at: int, close: str) -> None:
        depth = 1
        for index in range(self.pos, len(self.text)):
            char = self.text[index]
            if char in "{(":
                depth += 1
            elif char in "})":
                depth -= 1
                if depth == 0:
                    self.pos = index + 1
                    return
        raise self.fail(at, "an '@comment' is never closed", f"end it with '{close}'")

    def _word(self) -> str:
        start = self.pos
        text = self.text
        while self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] in "_-:.+/'"):
            self.pos += 1
        return text[start : self.pos]

    def _space(self) -> None:
        text = self.text
        while self.pos < len(text) and text[self.pos] in " \t\n":
            self.pos += 1

    def _expect(self, char: str, at: int, kind: str) -> None:
        self._space()
        if self.pos >= len(self.text) or self.text[self.pos] != char:
            raise self.fail(at, f"'@{kind}' is not closed", f"end it with '{char}'")
        self.pos += 1


def read_bibtex(text: str, path: Path) -> list[tuple[dict[str, Any], Location]]:
    database = _BibTeX(text, path)
    entries = database.entries()
    by_key = {entry.key: entry for entry in entries}
    out = []
    for entry in entries:
        parent = by_key.get(entry.fields.get("crossref", ""))
        fields = _inherited(entry, parent) if parent is not None else entry.fields
        out.append((_csl_from_bibtex(entry.type, entry.key, fields), Location(path, entry.line)))
    return out


def _inherited(entry: _Entry, parent: _Entry) -> dict[str, str]:
    """BibLaTeX's `crossref`: a part takes what it lacks from the whole (the
    parent's title becomes its booktitle, its author the bookauthor)."""
    fields = dict(entry.fields)
    renamed = {"title": "booktitle", "subtitle": "booksubtitle", "author": "bookauthor"}
    for name, value in parent.fields.items():
        target = renamed.get(name, name)
        if name in ("crossref", "ids", "shorttitle", "pages", "chapter"):
            continue
        fields.setdefault(target, value)
    return fields


def _csl_from_bibtex(kind: str, key: str, fields: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": key, "type": BIBTEX_TYPES.get(kind, "document")}
    subtype = latex_text(fields.get("entrysubtype", "")).lower()
    if kind == "article" and subtype in ("magazine", "newspaper"):
        item["type"] = f"article-{subtype}"
    title = _joined(fields, "title", "subtitle", "titleaddon")
    if title:
        item["title"] = title
    container = _joined(fields, "booktitle", "booksubtitle", "booktitleaddon") or _joined(
        fields, "journaltitle", "journalsubtitle"
    )
    container = container or latex_text(fields.get("journal", ""), protect=True)
    main = _joined(fields, "maintitle", "mainsubtitle", "maintitleaddon")
    if main:
        if container:
            item["volume-title"] = container
        container = main
    if container:
        item["container-title"] = container
    for field, variable in BIBTEX_FIELDS.items():
        raw = fields.get(field)
        if raw is not None and variable not in item:
            if variable in ("URL", "DOI"):  # verbatim, as BibLaTeX reads them: no TeX
                item[variable] = "".join(raw.replace("{", "").replace("}", "").split())
            else:
                item[variable] = latex_text(raw, protect=variable == "title-short")
    if "number" in fields:
        number = latex_text(fields["number"])
        if item["type"].startswith("article"):
            item.setdefault("issue", number)
        elif "series" in fields:
            item["collection-number"] = number
        else:
            item["number"] = number
    publisher = (
        fields.get("publisher")
        or fields.get("school")
        or fields.get("institution")
        or fields.get("organization")
    )
    if publisher is not None:
        item["publisher"] = latex_text(publisher)
    for field, variable in BIBTEX_NAMES.items():
        if field in fields:
            names = parse_names(fields[field])
            if names:
                item[variable] = names
    kind_of = latex_text(fields.get("type", "")).strip()
    if item["type"] == "thesis":
        item["genre"] = THESIS_GENRE.get(kind_of.lower(), kind_of) or THESIS_GENRE.get(kind, "")
        if not item["genre"]:
            del item["genre"]
    elif kind_of:
        item["genre"] = kind_of
    issued = _bibtex_date(fields)
    if issued is not None:
        item["issued"] = issued
    for field, variable in BIBTEX_DATES.items():
        if field in fields:
            item[variable] = _edtf(latex_text(fields[field]))
    language = latex_text(fields.get("langid", "") or fields.get("language", "")).lower()
    if language:
        item["language"] = LANGIDS.get(language, language)
    if "page" in item:
        item["page"] = item["page"].replace("–", "-").replace("--", "-")
    if fields.get("eprinttype", "").lower() == "arxiv" and "eprint" in fields and "URL" not in item:
        item["URL"] = f"https://arxiv.org/abs/{latex_text(fields['eprint'])}"
    return item


def _joined(fields: dict[str, str], *names: str) -> str:
    """A title and its subtitle ("Title: Subtitle"), and an addon after a full stop."""
    title = latex_text(fields.get(names[0], ""), protect=True)
    if not title:
        return ""
    if len(names) > 1 and fields.get(names[1]):
        title += ": " + latex_text(fields[names[1]], protect=True)
    if len(names) > 2 and fields.get(names[2]):
        title += ". " + latex_text(fields[names[2]], protect=True)
    return title


def _bibtex_date(fields: dict[str, str]) -> dict[str, Any] | None:
    if fields.get("date"):
        return _edtf(latex_text(fields["date"]))
    year = latex_text(fields.get("year", "")).strip()
    if not year:
        return None
    if not re.fullmatch(r"-?\d{1,4}", year):
        return {"literal": year}
    parts = [int(year)]
    month = latex_text(fields.get("month", "")).strip().lower().rstrip(".")
    number = MONTHS.get(month) or (int(month) if month.isdigit() and 1 <= int(month) <= 12 else 0)
    if number:
        parts.append(number)
    return {"date-parts": [parts]}


# --- names -------------------------------------------------------------------------------


def _split_top(text: str, pattern: re.Pattern[str]) -> list[str]:
    """`text` split where `pattern` matches outside braces."""
    out, depth, start = [], 0, 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif depth == 0:
            match = pattern.match(text, index)
            if match and match.end() > index:
                out.append(text[start:index])
                start = index = match.end()
                continue
        index += 1
    out.append(text[start:])
    return out


_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_COMMA = re.compile(r"\s*,\s*")
_SPACE = re.compile(r"[\s~]+")


def parse_names(raw: str) -> list[dict[str, str]]:
    """BibTeX's name lists: `Last, First and First von Last and {Corporate Body}
    and von Last, Jr, First`; `others` is kept as Pandoc keeps it."""
    names = []
    for part in _split_top(" ".join(raw.split()), _AND):
        part = part.strip()
        if not part:
            continue
        if part.lower() == "others":
            names.append({"literal": "others"})
            continue
        if (
            part.startswith("{")
            and part.endswith("}")
            and _split_top(part[1:-1], _SPACE)
            and (_balanced(part[1:-1]))
        ):
            names.append({"literal": latex_text(part[1:-1])})
            continue
        names.append(_one_name(part))
    return names


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _lower_word(word: str) -> bool:
    """BibTeX's test for a von part: the word's first letter is lower case (a
    braced word counts as upper case unless it opens with a command)."""
    if word.startswith("{") and not word.startswith("{\\"):
        return False
    text = latex_text(word)
    letter = next((c for c in text if c.isalpha()), "")
    return bool(letter) and letter.islower()


def _one_name(text: str) -> dict[str, str]:
    parts = [p.strip() for p in _split_top(text, _COMMA)]
    suffix = ""
    if len(parts) == 1:
        words = [w for w in _split_top(parts[0], _SPACE) if w]
        if len(words) == 1:
            return {"family": latex_text(words[0])}
        von_start = next((i for i, w in enumerate(words[:-1]) if _lower_word(w)), None)
        if von_start is None:
            given, von, family = words[:-1], [], words[-1:]
        else:
            von_end = max(i for i, w in enumerate(words[:-1]) if _lower_word(w)) + 1
            given, von, family = words[:von_start], words[von_start:von_end], words[von_end:]
    else:
        first = [w for w in _split_top(parts[0], _SPACE) if w]
        lower = [i for i, w in enumerate(first[:-1]) if _lower_word(w)]
        cut = lower[-1] + 1 if lower else 0
        von, family = first[:cut], first[cut:]
        if len(parts) >= 3:
            suffix, given = parts[1], [parts[2]]
        else:
            given = [parts[1]]
    name = {
        "family": latex_text(" ".join(family)),
        "given": latex_text(" ".join(given)),
        "dropping-particle": latex_text(" ".join(von)),
        "suffix": latex_text(suffix),
    }
    return {k: v for k, v in name.items() if v}


# --- LaTeX in field values --------------------------------------------------------------------

_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
    "d": "\u0323",
    "b": "\u0331",
}
_SYMBOLS = {
    "ss": "ß",
    "o": "ø",
    "O": "Ø",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "aa": "å",
    "AA": "Å",
    "l": "ł",
    "L": "Ł",
    "i": "ı",
    "j": "ȷ",
    "dh": "ð",
    "DH": "Ð",
    "th": "þ",
    "TH": "Þ",
    "ng": "ŋ",
    "NG": "Ŋ",
    "textendash": "–",
    "textemdash": "—",
    "textquoteleft": "‘",
    "textquoteright": "’",
    "textquotedblleft": "“",
    "textquotedblright": "”",
    "S": "§",
    "P": "¶",
    "dag": "†",
    "ddag": "‡",
    "copyright": "©",
    "pounds": "£",
    "euro": "€",
    "dots": "…",
    "ldots": "…",
    "LaTeX": "LaTeX",
    "TeX": "TeX",
    "slash": "/",
    "space": " ",
    "textbackslash": "\\",
    "textasciitilde": "~",
    "textunderscore": "_",
}
_NOCASE_OPEN, _NOCASE_CLOSE = '<span class="nocase">', "</span>"


def latex_text(raw: str, protect: bool = False) -> str:
    """A BibTeX value as text: accents and special characters as Unicode, `~` a
    no-break space, `--` and `---` dashes, quotes (TeX's: ` and ' are ‘ and ’),
    braces gone. With `protect` (titles), a braced group keeps its case through
    any style (CSL's nocase)."""
    out: list[str] = []
    _latex(raw, 0, out, protect, depth=0)
    text = unicodedata.normalize("NFC", "".join(out))
    text = text.replace("---", "—").replace("--", "–").replace("``", "“").replace("''", "”")
    text = text.replace("`", "‘").replace("'", "’")  # TeX sets ' as a right quote
    return " ".join(text.split()) if "\u00a0" not in text else re.sub(r"[ \t\n]+", " ", text)


def _latex(raw: str, index: int, out: list[str], protect: bool, depth: int) -> int:
    """Decodes `raw` from `index` until an unmatched `}`; returns where it stopped."""
    while index < len(raw):
        char = raw[index]
        if char == "}":
            return index + 1
        if char == "{":
            inner: list[str] = []
            is_command = raw.startswith("{\\", index)
            index = _latex(raw, index + 1, inner, protect, depth + 1)
            text = "".join(inner)
            if protect and depth == 0 and not is_command and text:
                out.append(_NOCASE_OPEN + text + _NOCASE_CLOSE)
            else:
                out.append(text)
            continue
        if char == "\\":
            index = _command(raw, index + 1, out, protect, depth)
            continue
        if char == "~":
            out.append("\u00a0")
        elif char == "$":
            pass  # math shift: its text stays, without the dollars
        else:
            out.append(char)
        index += 1
    return index


def _command(raw: str, index: int, out: list[str], protect: bool, depth: int) -> int:
    if index >= len(raw):
        return index
    char = raw[index]
    if not char.isalpha():
        if char in _ACCENTS:
            return _accent(raw, index + 1, _ACCENTS[char], out)
        out.append({"\\": " ", ",": "\u202f", " ": " "}.get(char, char))  # \& \% \$ \# \_ \{ \}
        return index + 1
    end = index
    while end < len(raw) and raw[end].isalpha():
        end += 1
    name = raw[index:end]
    if name in _ACCENTS and len(name) == 1:
        return _accent(raw, end, _ACCENTS[name], out)
    if name in _SYMBOLS:
        out.append(_SYMBOLS[name])
        if end < len(raw) and raw[end] == " ":
            end += 1  # the space that ends a command word
        if raw.startswith("{}", end):
            end += 2
        return end
    while end < len(raw) and raw[end] == " ":
        end += 1
    if end < len(raw) and raw[end] == "{":
        # \emph{...}, \textsc{...}, \url{...} and any other command with an
        # argument: the argument's text (its emphasis is the style's to give).
        inner: list[str] = []
        end = _latex(raw, end + 1, inner, protect, depth + 1)
        out.append("".join(inner))
    return end


def _accent(raw: str, index: int, mark: str, out: list[str]) -> int:
    while index < len(raw) and raw[index] == " ":
        index += 1
    if index >= len(raw):
        return index
    if raw[index] == "{":
        inner: list[str] = []
        index = _latex(raw, index + 1, inner, False, 1)
        letter = "".join(inner)
    elif raw[index] == "\\":
        inner = []
        index = _command(raw, index + 1, inner, False, 1)
        letter = "".join(inner)
    else:
        letter, index = raw[index], index + 1
    if letter == "ı":
        letter = "i"
    out.append(unicodedata.normalize("NFC", letter[:1] + mark + letter[1:]) if letter else mark)
    return index


# --- the CSL style --------------------------------------------------------------------------


def csl_root(text: str, path: Path) -> bytes:
    """The CSL style's XML, refused when it is not well-formed or declares a DTD
    (an entity could read files outside the fence): the bytes citeproc-py parses."""
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True
    )
    try:
        tree = etree.fromstring(text.encode("utf-8"), parser).getroottree()
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise ResourceError(
            f"CSL style '{fence.shown(path.name)}' is not well-formed XML ({exc.msg})",
            where=Location(path, line),
            hint="download the style again from the Zotero Style Repository",
        ) from None
    root = tree.getroot()
    if getattr(tree.docinfo, "doctype", "") or tree.docinfo.internalDTD is not None:
        raise ResourceError(
            f"CSL style '{fence.shown(path.name)}' declares a DOCTYPE",
            where=Location(path, 1),
            hint="a CSL style has none: remove it",
        )
    if etree.QName(root).localname != "style" or not str(etree.QName(root).namespace).startswith(
        "http://purl.org/net/xbiblio/csl"
    ):
        raise ResourceError(
            f"CSL style '{fence.shown(path.name)}' is not a CSL style",
            where=Location(path, root.sourceline if isinstance(root.sourceline, int) else None),
            hint="give a .csl file, such as one from the Zotero Style Repository",
        )
    return bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True))
