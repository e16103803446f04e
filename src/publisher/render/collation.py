"""Alphabetical order in the book's language, for the index: the Unicode Collation
Algorithm with its default table (pyuca, DUCET), and small tailorings where a
language's alphabet differs from that order (after CLDR): Swedish and Finnish
put å ä ö after z, Danish and Norwegian æ ø å, Spanish ñ after n, Polish and
Czech their letters with diacritics after the plain ones. German, French,
English and most others sort as DUCET does.

Each text also gets the heading of its letter group: the letter its first
character sorts as (É under E, æ under A in English, Å under Å in Swedish), or
None for a digit or a symbol. pyuca is imported only when a book has an index."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

# language -> (the letter they follow, its new letters in order); a letter is a
# tuple: the first is the letter, the others sort as it, a level below (ä as æ).
TAILORINGS: dict[str, tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]] = {
    "sv": (("z", (("å",), ("ä", "æ"), ("ö", "ø"))),),
    "fi": (("z", (("å",), ("ä", "æ"), ("ö", "ø"))),),
    "da": (("z", (("æ", "ä"), ("ø", "ö"), ("å", "aa"))),),
    "nb": (("z", (("æ", "ä"), ("ø", "ö"), ("å", "aa"))),),
    "nn": (("z", (("æ", "ä"), ("ø", "ö"), ("å", "aa"))),),
    "no": (("z", (("æ", "ä"), ("ø", "ö"), ("å", "aa"))),),
    "es": (("n", (("ñ",),)),),
    "pl": (
        ("a", (("ą",),)),
        ("c", (("ć",),)),
        ("e", (("ę",),)),
        ("l", (("ł",),)),
        ("n", (("ń",),)),
        ("o", (("ó",),)),
        ("s", (("ś",),)),
        ("z", (("ź",), ("ż",))),
    ),
    "cs": (
        ("c", (("č",),)),
        ("h", (("ch",),)),
        ("r", (("ř",),)),
        ("s", (("š",),)),
        ("z", (("ž",),)),
    ),
}
# Room between two of DUCET's primary weights for the letters a tailoring puts there.
_ROOM = 16
_LOWER, _UPPER = 0x02, 0x08  # DUCET's tertiary weights for small and capital letters
# Opening quotes and brackets before a term do not count for its place.
_LEADING = re.compile(r"^[\s\"'\u00a1\u00bf\u2018\u201a\u201b\u201c\u201e\u201f\u2039\u00ab(\[{]+")


class Collation:
    """Sort keys and letter headings for one language."""

    def __init__(self, lang: str) -> None:
        import pyuca  # type: ignore[import-untyped]  # lazy: only books with an index

        self._uca: Any = pyuca.Collator()
        base = lang.split("-")[0].lower()
        self._tailored: dict[str, list[int]] = {}  # text -> its collation element
        self._letters: dict[int, str] = {}  # primary weight -> heading
        for anchor, letters in TAILORINGS.get(base, ()):
            primary = self._primary(anchor)
            for place, variants in enumerate(letters, start=1):
                weight = primary + place
                self._letters[weight] = variants[0].upper()
                for level, variant in enumerate(variants):
                    for cased, tertiary in (
                        (variant, _LOWER),
                        (variant[0].upper() + variant[1:], _UPPER),
                        (variant.upper(), _UPPER),
                    ):
                        self._tailored.setdefault(cased, [weight, 0x20 + level, tertiary])
        longest_first = sorted(self._tailored, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(t) for t in longest_first)) if longest_first else None
        )
        for letter in "abcdefghijklmnopqrstuvwxyz":
            self._letters.setdefault(self._primary(letter), letter.upper())

    def _primary(self, letter: str) -> int:
        return int(self._uca.collation_elements(letter)[0][0]) * _ROOM

    def _elements(self, text: str) -> list[list[int]]:
        """The collation elements of NFC text, the tailored letters' own."""
        out: list[list[int]] = []
        position = 0
        matches = self._pattern.finditer(text) if self._pattern is not None else ()
        for match in matches:
            out += self._scaled(text[position : match.start()])
            out.append(self._tailored[match.group()])
            position = match.end()
        out += self._scaled(text[position:])
        return out

    def _scaled(self, text: str) -> list[list[int]]:
        if not text:
            return []
        elements = self._uca.collation_elements(unicodedata.normalize("NFD", text))
        # Copies: pyuca hands out its table's own lists.
        return [[e[0] * _ROOM, *e[1:]] for e in elements]

    def key(self, text: str) -> tuple[int, ...]:
        """The sort key of a term's text: quotes and brackets before it left out."""
        text = unicodedata.normalize("NFC", _LEADING.sub("", text))
        return tuple(self._uca.sort_key_from_collation_elements(self._elements(text)))

    def heading(self, text: str) -> str | None:
        """The letter group a term goes in; None: digits and symbols."""
        text = unicodedata.normalize("NFC", _LEADING.sub("", text))
        if not text or not unicodedata.category(text[0]).startswith("L"):
            return None
        elements = [e for e in self._elements(text[:2]) if e[0]]
        if not elements:
            return None
        primary = elements[0][0]
        letter = self._letters.get(primary)
        if letter is None:
            # A letter of another alphabet: its base letter (ё under Е), kept for
            # every later letter of the same weight.
            base = unicodedata.normalize("NFD", text[0])[0]
            letter = self._letters[primary] = base.upper()
        return letter


@lru_cache(maxsize=8)
def collation(lang: str) -> Collation:
    return Collation(lang)
