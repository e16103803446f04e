"""Book styles: a designed look, chosen with `style:` in the metadata or `--style`.

A style is a folder `styles/NAME/` holding `style.toml` (what it is, and the two
settings that change the text: chapter and section numbers) and any of `base.css`
(both outputs), `epub.css` and `print.css`, with the fonts only it uses under its
own `fonts/`. Its sheets are layered over the shared `styles/base.css`,
`epub.css` and `print.css`. Adding a style is adding a folder."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.errors import Location, OptionError
from publisher.source import fence

DEFAULT = "default"


def shipped_styles() -> Path:
    """The styles folder publisher ships: inside the installed package (a wheel or
    sdist puts the repository's styles/ there), else the checkout's styles/."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "styles"
    return installed if installed.is_dir() else package.parents[1] / "styles"


LAYERS = ("base.css", "epub.css", "print.css")
CHAPTER_NUMBERS = ("none", "arabic", "roman")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_KEYS = ("description", "chapter-numbers", "number-sections", "page-references")


@dataclass(frozen=True)
class Numbering:
    """Numbers the style prints before headings: `chapters` on body chapters,
    `sections` (1.1, 1.2.1) below them."""

    chapters: str = "none"  # one of CHAPTER_NUMBERS
    sections: bool = False


@dataclass(frozen=True)
class Style:
    name: str
    folder: Path
    description: str
    numbering: Numbering
    # The PDF's cross-references say where their target is ("Figure 3.2 on page
    # 41"): off by default, since a book laid out in pieces (pdf/pieces.py) must
    # then be laid out whole.
    page_references: bool = False

    def sheet(self, layer: str) -> Path | None:
        """The style's sheet for `layer`, if it has one inside its folder."""
        path = fence.locate(self.folder.resolve(), self.folder, layer)
        return None if isinstance(path, fence.Refused) else self.folder / layer

    def files(self) -> list[Path]:
        """Everything the style is made of (sheets, settings, fonts), for the cache."""
        return sorted(p for p in self.folder.rglob("*") if p.is_file())


def available(styles: Path) -> list[str]:
    """The styles in a styles folder, by name."""
    if not styles.is_dir():
        return []
    return sorted(p.name for p in styles.iterdir() if _settings(styles, p.name) is not None)


def _settings(styles: Path, name: str) -> Path | None:
    """The style's `style.toml`, if `name` is a style's name and its folder is
    inside the styles folder (the fence: a `style:` in the metadata names a
    folder there, never one a link leads to elsewhere)."""
    if not _NAME.fullmatch(name):
        return None
    found = fence.locate(styles.resolve(), styles, f"{name}/style.toml")
    return None if isinstance(found, fence.Refused) else found


def load_style(styles: Path, name: str, where: Location | None = None) -> Style:
    folder = styles / name
    settings = folder / "style.toml"
    if _settings(styles, name) is None:
        names = available(styles)
        raise OptionError(
            f"unknown style '{fence.shown(name)}'",
            where=where,
            hint="choose one of " + ", ".join(names) if names else "add a folder styles/NAME/",
        )
    try:
        data = tomllib.loads(settings.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        line = _toml_line(str(exc))
        raise OptionError(
            f"style settings are not valid TOML: {str(exc).split(' (at ')[0]}",
            where=Location(settings, line),
            hint="see styles/default/style.toml for the form",
        ) from None
    for key in data:
        if key not in _KEYS:
            raise OptionError(
                f"unknown style setting '{key}'",
                where=Location(settings, _key_line(settings, key)),
                hint="the settings are " + ", ".join(_KEYS),
            )
    chapters = data.get("chapter-numbers", "none")
    sections = data.get("number-sections", False)
    description = data.get("description", "")
    if chapters not in CHAPTER_NUMBERS:
        raise OptionError(
            f"chapter-numbers is '{chapters}'",
            where=Location(settings, _key_line(settings, "chapter-numbers")),
            hint="write none, arabic or roman",
        )
    if not isinstance(sections, bool):
        raise OptionError(
            f"number-sections is '{sections}'",
            where=Location(settings, _key_line(settings, "number-sections")),
            hint="write true or false",
        )
    page_references = data.get("page-references", False)
    if not isinstance(page_references, bool):
        raise OptionError(
            f"page-references is '{page_references}'",
            where=Location(settings, _key_line(settings, "page-references")),
            hint="write true or false",
        )
    if not isinstance(description, str):
        raise OptionError(
            "description is not text",
            where=Location(settings, _key_line(settings, "description")),
            hint='write it in quotes: description = "…"',
        )
    return Style(name, folder, description, Numbering(chapters, sections), page_references)


def _toml_line(message: str) -> int | None:
    found = re.search(r"at line (\d+)", message)
    return int(found.group(1)) if found else None


def _key_line(path: Path, key: str) -> int | None:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.split("=", 1)[0].strip() == key:
            return n
    return None


ROMAN = (
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
)


def roman(number: int) -> str:
    out = []
    for value, letters in ROMAN:
        while number >= value:
            out.append(letters)
            number -= value
    return "".join(out)


# A title that already says which chapter it is gets no second number.
_NUMBERED_TITLE = re.compile(
    r"^\s*(\d+\b|[IVXLCDM]+([.:)]|\s*$|\s+[-–—])|(chapter|chap\.|kapitel|chapitre|capítulo"
    r"|capitolo|hoofdstuk|rozdział|глава|часть|book|part)\b)",
    re.IGNORECASE,
)


def already_numbered(title: str) -> bool:
    return bool(_NUMBERED_TITLE.match(title))


# --- the EPUB's stylesheets and the fonts they use ------------------------------


@dataclass(frozen=True)
class Sheet:
    source: Path
    href: str  # where it goes in the EPUB, relative to its package folder


def epub_sheets(styles: Path, style: Style, code: bool) -> list[Sheet]:
    """The shared sheets, then the style's, in cascade order. The style's sheets
    keep their place under styles/NAME/ so that their font URLs stay valid."""
    sheets = [Sheet(styles / name, f"styles/{name}") for name in ("base.css", "epub.css")]
    if code:
        sheets.append(Sheet(styles / "epub-code.css", "styles/epub-code.css"))
    for layer in ("base.css", "epub.css"):
        path = style.sheet(layer)
        if path is not None:
            sheets.append(Sheet(path, f"styles/{style.name}/{layer}"))
    return sheets


@dataclass(frozen=True)
class PackagedCss:
    sheets: tuple[tuple[str, bytes], ...]  # (href, content)
    fonts: tuple[tuple[str, Path], ...]  # (href, source file)


def package_css(sheets: list[Sheet], styles: Path) -> PackagedCss:
    """Each sheet with the @font-face rules of families no sheet names in a
    font-family dropped, and the font files the rest point at: an EPUB carries
    only the faces its design uses."""
    import posixpath

    import tinycss2

    texts = [sheet.source.read_text("utf-8") for sheet in sheets]
    parsed = [
        (sheet, text, tinycss2.parse_stylesheet(text, skip_comments=False))
        for sheet, text in zip(sheets, texts, strict=True)
    ]
    used: set[str] = set()
    for _, _, rules in parsed:
        used |= _families_named(rules)
    root = styles.resolve()
    out: list[tuple[str, bytes]] = []
    fonts: dict[str, Path] = {}
    for sheet, source_text, rules in parsed:
        kept: list[Any] = []
        dropped = False
        for rule in rules:
            if dropped and rule.type == "whitespace" and kept and kept[-1] is None:
                continue  # the line break after a dropped rule goes with it
            face = _font_face(rule)
            if face is None:
                kept.append(rule)
                continue
            family, urls = face
            if family.lower() not in used:
                dropped = True
                kept.append(None)
                continue
            kept.append(rule)
            for url in urls:
                source = (sheet.source.parent / url).resolve()
                if not source.is_relative_to(root) or not source.is_file():
                    raise OptionError(
                        f"font '{url}' not found in the styles folder",
                        where=Location(sheet.source, rule.source_line),
                        hint="put the font file beside the sheet, under fonts/",
                    )
                href = posixpath.normpath(posixpath.join(posixpath.dirname(sheet.href), url))
                fonts[href] = source
        text = tinycss2.serialize([r for r in kept if r is not None]) if dropped else source_text
        out.append((sheet.href, text.encode("utf-8")))
    return PackagedCss(tuple(out), tuple(sorted(fonts.items())))


def _declarations(content: list[Any]) -> list[Any]:
    import tinycss2

    items = tinycss2.parse_blocks_contents(content, skip_comments=True, skip_whitespace=True)
    return [item for item in items if item.type == "declaration"]


def _is_font_face(rule: Any) -> bool:
    return bool(rule.type == "at-rule" and rule.lower_at_keyword == "font-face")


def _font_face(rule: Any) -> tuple[str, list[str]] | None:
    import tinycss2

    if not _is_font_face(rule):
        return None
    family, urls = "", []
    for item in _declarations(rule.content or []):
        if item.lower_name == "font-family":
            family = tinycss2.serialize(item.value).strip().strip("\"'")
        elif item.lower_name == "src":
            for token in item.value:
                if token.type == "url":
                    urls.append(token.value)
                elif token.type == "function" and token.lower_name == "url":
                    urls += [t.value for t in token.arguments if t.type == "string"]
    return family, urls


def _families_named(rules: list[Any]) -> set[str]:
    """Every family named in a font-family (or font) declaration, lower-cased."""
    import tinycss2

    names: set[str] = set()
    for rule in rules:
        if rule.type not in ("at-rule", "qualified-rule") or _is_font_face(rule):
            continue
        if not rule.content:
            continue
        if rule.type == "at-rule":  # @media, @supports: the rules inside
            names |= _families_named(tinycss2.parse_rule_list(rule.content, skip_comments=True))
            continue
        for item in _declarations(rule.content):
            if item.lower_name in ("font-family", "font"):
                for part in tinycss2.serialize(item.value).split(","):
                    names.add(part.strip().strip("\"'").lower())
    return names
