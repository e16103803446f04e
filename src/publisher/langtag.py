"""The one language-tag check: every `lang` in the book (the metadata's, and any on
a heading, a block, a span or raw HTML) must be a well-formed BCP 47 tag (RFC 5646,
section 2.1), whose primary language subtag is two or three letters. Readers pick
fonts, hyphenation and voices by it; a malformed tag is dropped with a warning
rather than passed on."""

from __future__ import annotations

import re

_ALNUM = "[A-Za-z0-9]"
_TAG = re.compile(
    r"(?P<language>[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3})"  # language, up to three extlangs
    r"(?:-[A-Za-z]{4})?"  # script
    r"(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"  # region
    rf"(?P<variants>(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*)"  # variants
    rf"(?P<extensions>(?:-[0-9A-WY-Za-wy-z](?:-{_ALNUM}{{2,8}})+)*)"  # extensions
    rf"(?:-[Xx](?:-{_ALNUM}{{1,8}})+)?"  # private use
)


def well_formed(tag: str) -> bool:
    """Whether `tag` is a well-formed language tag: the grammar, with no variant and
    no extension singleton repeated (RFC 5646, 2.2.5 and 2.2.6)."""
    match = _TAG.fullmatch(tag)
    if match is None:
        return False
    variants = [v.lower() for v in match["variants"].split("-") if v]
    if len(variants) != len(set(variants)):
        return False
    singletons = [s.lower() for s in match["extensions"].split("-") if len(s) == 1]
    return len(singletons) == len(set(singletons))
