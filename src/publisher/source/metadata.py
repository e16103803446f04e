"""Book metadata from YAML: Pandoc's key names, checked, with line numbers in errors."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from publisher.errors import Location, MetadataError, ResourceError
from publisher.langtag import well_formed
from publisher.model import BookMeta, Identifier

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
)
# `dashes:` -- what two hyphens mean: an en dash (Pandoc's reading, the default), or
# an em dash, as in Project Gutenberg's texts. Three hyphens are always an em dash.
DASHES = ("en", "em")

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


def split_front_matter(text: str, path: Path) -> FrontMatter:
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
    data, key_lines = parse_yaml(yaml_text, path, first_line=2)
    body = "\n" * (end + 1) + "\n".join(lines[end + 1 :])
    return FrontMatter(data, key_lines, body)


def parse_yaml(text: str, path: Path, first_line: int = 1) -> tuple[dict[str, Any], dict[str, int]]:
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + first_line if mark else None
        problem = exc.problem or exc.context or "cannot be parsed"
        raise MetadataError(
            f"invalid YAML: {problem}",
            where=Location(path, line),
            hint="check the indentation and quote values that contain ':'",
        ) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise MetadataError(f"invalid YAML: {exc}", where=Location(path, first_line)) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise MetadataError(
            "metadata must be a mapping of keys to values",
            where=Location(path, first_line),
            hint="write 'title: My Book' style lines",
        )
    lines: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        line = key.start_mark.line + first_line
        if str(key.value) in lines:
            # YAML would keep the last one silently: say which two disagree.
            raise MetadataError(
                f"'{key.value}' is given twice (lines {lines[str(key.value)]} and {line})",
                where=Location(path, line),
                hint="keep one of them",
            )
        lines[str(key.value)] = line
    return {str(k): v for k, v in data.items()}, lines


def build_meta(data: dict[str, Any], lines: dict[str, int], path: Path) -> BookMeta:
    """Check every key and value."""

    def where(key: str) -> Location:
        return Location(path, lines.get(key))

    known = (*KNOWN_KEYS, *EXTENSION_KEYS)
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(known)
            raise MetadataError(f"unknown metadata key '{key}'", where=where(key), hint=hint)

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
        return " ".join(str(value).split())

    def text_list(key: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, dict) and "name" in item:
                item = item["name"]
            if isinstance(item, bool | list | dict) or item is None or not str(item).strip():
                raise MetadataError(f"'{key}' must be a name or a list of names", where=where(key))
            out.append(" ".join(str(item).split()))
        return tuple(out)

    title = text("title", required=True)
    assert title is not None
    lang = text("lang") or "en"
    if not well_formed(lang):
        raise MetadataError(
            f"'lang: {lang}' is not a language tag",
            where=where("lang"),
            hint="use a BCP 47 tag such as en, en-GB, ru, zh-Hans",
        )
    date = _date(data.get("date"), where("date"))
    authors = text_list("author")
    cover = None
    if data.get("cover-image") is not None:
        cover_text = text("cover-image")
        assert cover_text is not None
        cover = (path.parent / cover_text).resolve()
        if not cover.is_relative_to(path.parent.resolve()):
            raise ResourceError(
                f"cover image '{cover_text}' is outside the manuscript folder",
                where=where("cover-image"),
                hint="copy it into the manuscript folder",
            )
        if not cover.is_file():
            raise ResourceError(
                f"cover image '{cover_text}' not found",
                where=where("cover-image"),
                hint="give a path relative to this file",
            )
        if cover.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            raise ResourceError(
                f"cover image '{cover_text}' must be a PNG or JPEG file",
                where=where("cover-image"),
                hint="every reading system shows PNG and JPEG covers",
            )
        from publisher.source.resources import IMAGE_TYPES, inspect_image

        inspect_image(cover, IMAGE_TYPES[cover.suffix.lower()], where("cover-image"), cover_text)

    def number(key: str, default: int | None, low: int, high: int) -> int | None:
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise MetadataError(
                f"'{key}: {value}' must be a whole number from {low} to {high}", where=where(key)
            )
        return value

    def choice(key: str, allowed: tuple[str, ...], default: str) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            raise MetadataError(
                f"'{key}: {value}' is not one of {', '.join(allowed)}",
                where=where(key),
                hint=f"write {key}: {' or '.join(allowed)}",
            )
        return value.strip().lower()

    def flag(key: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise MetadataError(f"'{key}' must be true or false", where=where(key))
        return value

    identifier = _identifier(data.get("identifier"), where("identifier"), title, authors, lang)
    return BookMeta(
        title=title,
        subtitle=text("subtitle"),
        authors=authors,
        lang=lang,
        date=date,
        rights=text("rights"),
        identifier=identifier,
        description=text("description"),
        subjects=text_list("subject"),
        publisher=text("publisher"),
        cover_image=cover,
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
    )


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
        f"'date: {text}' is not a date", where=where, hint="write it as YYYY-MM-DD, YYYY-MM or YYYY"
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
