"""Which characters the PDF can draw: the shipped fonts first, then every font
fontconfig knows. A character no font has would print as an empty box, so the
build stops and names it, with the Debian package that brings a font for it."""

from __future__ import annotations

import bisect
import shutil
import subprocess
import unicodedata
from functools import lru_cache
from pathlib import Path

# Characters that draw nothing and need no glyph.
_INVISIBLE = ("Cc", "Cf", "Zs", "Zl", "Zp")


@lru_cache(maxsize=1)
def _system_ranges() -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Merged code point ranges of every font fontconfig knows (one fc-list call)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    out = subprocess.run(
        [fc_list, "--format", "%{charset}\n"], capture_output=True, text=True, check=False
    ).stdout
    ranges = sorted(_charset_ranges(out))
    merged: list[list[int]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple(r[0] for r in merged), tuple(r[1] for r in merged)


@lru_cache(maxsize=4)
def shipped_characters(fonts: Path) -> frozenset[int]:
    """Code points the shipped fonts cover: from fontconfig's fc-query (one call,
    a few ms), else from the fonts' cmaps (fontTools, about 0.13 s for eight fonts)."""
    paths = sorted(fonts.rglob("*.ttf"))
    fc_query = shutil.which("fc-query")
    if fc_query is not None and paths:
        done = subprocess.run(
            [fc_query, "--format", "%{charset}\n", *map(str, paths)],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = done.stdout.splitlines()
        if done.returncode == 0 and len(lines) >= len(paths):  # a font may have instances
            points: set[int] = set()
            for first, last in _charset_ranges(done.stdout):
                points.update(range(first, last + 1))
            return frozenset(points)
    from fontTools.ttLib import TTFont

    points = set()
    for path in paths:
        with TTFont(path, lazy=True) as font:
            points.update(font.getBestCmap())
    return frozenset(points)


def _charset_ranges(text: str) -> list[tuple[int, int]]:
    """fontconfig's charset format: hexadecimal code points and ranges (`20-7e`)."""
    ranges = []
    for item in text.split():
        first, _, last = item.partition("-")
        try:
            ranges.append((int(first, 16), int(last or first, 16)))
        except ValueError:
            continue
    return ranges


def missing_characters(text: str, fonts: Path) -> list[str] | None:
    """Characters of `text` that no font can draw, in order of first appearance;
    None when fontconfig is not there to ask."""
    shipped = shipped_characters(fonts)
    wanted = [c for c in dict.fromkeys(text) if ord(c) not in shipped]
    wanted = [
        c
        for c in wanted
        if unicodedata.category(c) not in _INVISIBLE and not 0xFE00 <= ord(c) <= 0xFE0F
    ]
    if not wanted:
        return []
    system = _system_ranges()
    if system is None:
        return None
    lows, highs = system
    missing = []
    for char in wanted:
        point = ord(char)
        i = bisect.bisect_right(lows, point) - 1
        if i < 0 or highs[i] < point:
            missing.append(char)
    return missing


def package_for(char: str) -> str:
    """The Debian package that brings a font for the character's script."""
    name = unicodedata.name(char, "")
    point = ord(char)
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC")):
        return "fonts-noto-cjk"
    if 0x1F000 <= point <= 0x1FAFF or 0x2600 <= point <= 0x27BF:
        return "fonts-noto-color-emoji"
    return "fonts-noto-core"


def describe(char: str) -> str:
    return f"'{char}' (U+{ord(char):04X} {unicodedata.name(char, 'unnamed')})"
