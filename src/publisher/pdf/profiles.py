"""PDF profiles: the page a book is printed on, chosen by `profile:` in the
metadata or `--profile`. `print` is a trade book for a print shop (mirrored
margins, chapters opening on right-hand pages, optional bleed and crop marks);
`screen` is for reading on a screen (symmetric margins, visible links, RGB).
Both are one small stylesheet layered over styles/print.css."""

from __future__ import annotations

import re
from dataclasses import dataclass

from publisher.errors import OptionError

# Named sizes as CSS understands them, plus the common trade sizes.
PAGE_SIZES = {
    "a4": "A4",
    "a5": "A5",
    "b5": "B5",
    "letter": "letter",
    "6x9": "6in 9in",
    "5.5x8.5": "5.5in 8.5in",
    "5x8": "5in 8in",
    "5.25x8": "5.25in 8in",
}
_LENGTH = re.compile(r"^\d+(\.\d+)?(mm|cm|in|pt)$")
# PDF standards WeasyPrint writes; PDF/UA-1 (tagged, accessible) is the default.
STANDARDS = ("ua-1", "ua-2", "a-3b", "a-3u", "a-3a", "a-2b", "a-2u", "a-2a", "x-4", "x-3", "x-1a")


@dataclass(frozen=True)
class Profile:
    name: str
    size: str  # CSS page size
    top: str
    bottom: str
    inner: str  # binding side
    outer: str
    mirrored: bool
    chapter_break: str  # "right" or "page"
    bleed: str = "0mm"
    crop_marks: bool = False
    links: bool = False  # visibly coloured links

    def css(self) -> str:
        left = f"margin-left: {self.outer}; margin-right: {self.inner};" if self.mirrored else ""
        marks = "marks: crop cross;" if self.crop_marks else ""
        bleed = f"bleed: {self.bleed};" if self.bleed not in ("0", "0mm") else ""
        link = (
            "a[href] { color: #1a4f8b; text-decoration: underline; }\n"
            "nav.print-toc a, a.noteref, a.note-label { color: inherit; text-decoration: none; }\n"
            if self.links
            else ""
        )
        return (
            f"@page {{ size: {self.size}; margin: {self.top} {self.outer} {self.bottom} "
            f"{self.inner}; {bleed} {marks} }}\n"
            f"@page :left {{ {left} }}\n"
            "section.chapter, section.bodymatter, section.backmatter, section.part "
            f"{{ break-before: {self.chapter_break}; }}\n"
            f"{link}"
        )


def make_profile(
    name: str,
    *,
    size: str | None = None,
    margins: str | None = None,
    bleed: str | None = None,
    crop_marks: bool = False,
) -> Profile:
    if name == "screen":
        profile = Profile("screen", "A4", "20mm", "22mm", "22mm", "22mm", False, "page", links=True)
    elif name == "print":
        profile = Profile("print", "A5", "18mm", "20mm", "20mm", "15mm", True, "right")
    else:
        raise OptionError(f"unknown profile '{name}'", hint="choose screen or print")
    if size:
        key = size.lower().replace(" ", "").replace("×", "x").removesuffix("in")
        css = PAGE_SIZES.get(key)
        if css is None:
            parts = size.split()
            if len(parts) != 2 or not all(_LENGTH.match(p) for p in parts):
                raise OptionError(
                    f"unknown page size '{size}'",
                    hint="use A4, A5, B5, letter, 6x9, 5.5x8.5, 5x8 "
                    "or two lengths like '150mm 220mm'",
                )
            css = size
        profile = _replace(profile, size=css)
    if margins:
        parts = margins.split()
        if len(parts) != 4 or not all(_LENGTH.match(p) for p in parts):
            raise OptionError(
                f"margins '{margins}' must be four lengths",
                hint="top outer bottom inner, like '18mm 15mm 20mm 20mm'",
            )
        top, outer, bottom, inner = parts
        profile = _replace(profile, top=top, outer=outer, bottom=bottom, inner=inner)
    if bleed:
        if not _LENGTH.match(bleed):
            raise OptionError(
                f"bleed '{bleed}' is not a length", hint="write it like 3mm or 0.125in"
            )
        profile = _replace(profile, bleed=bleed)
    if crop_marks:
        profile = _replace(profile, crop_marks=True, bleed=profile.bleed if bleed else "3mm")
    return profile


def _replace(profile: Profile, **changes: object) -> Profile:
    from dataclasses import replace

    return replace(profile, **changes)  # type: ignore[arg-type]


def pdf_variant(standard: str) -> str | None:
    if standard == "none":
        return None
    if standard not in STANDARDS:
        raise OptionError(
            f"unknown PDF standard '{standard}'",
            hint="choose one of " + ", ".join(STANDARDS) + " or none",
        )
    return f"pdf/{standard}"
