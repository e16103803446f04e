"""File names inside the EPUB container: the one authority that gives them out.

OCF requires every name in the container to be unique after Unicode canonical
normalisation (NFC) and full case folding, and EPUBCheck refuses two that differ
only in case (`OPF-060`): `Foo.png` and `foo.png` are one file on the
case-insensitive file systems most readers unpack to. `EntryNames` compares names
that way, gives a free variant (`images/foo-2.png`) when a wanted name is taken,
and gives the same name again for the same file (`source`), so that an image
referenced twice, or shown in the text and as the cover, is one entry. Every
resource's name is either taken from it or claimed in it: the images (the
fence's `Locator`), the cover, the documents, the style sheets and fonts."""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Hashable

# What OCF forbids in a name, and what a URL would need escaped (EPUBCheck RSC-020):
# controls, spaces, and "#%*:<>?\\^`{|} and the quote.
_UNSAFE = re.compile(r'[\x00-\x20\x7f-\x9f"#%*:<>?\\^`{|}\u2028\u2029]')


def folded(name: str) -> str:
    """The form two names are compared in: NFC, full case folding, NFC again."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


class NameRefused(ValueError):
    """A name claimed as it stands is another file's already (after folding), or
    is not one a container may hold."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name}: {why}")
        self.name = name
        self.why = why


def refusal(name: str) -> str | None:
    """Why `name` cannot stand in the container as it is, or None."""
    if not name or name.startswith("/") or name.endswith((".", "/")):
        return "it is not a file name a container may hold"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "it is not a file name a container may hold"
    if _UNSAFE.search(name):
        return "it holds a space or a character a link would have to escape"
    return None


class EntryNames:
    def __init__(self) -> None:
        self._taken: dict[str, Hashable | None] = {}  # folded name -> its file (or None)
        self._by_source: dict[Hashable, str] = {}
        self._next: dict[str, int] = {}  # folded wanted name -> last number tried

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and folded(name) in self._taken

    def of(self, source: Hashable) -> str | None:
        """The name already given to `source`, if any."""
        return self._by_source.get(source)

    def claim(self, name: str, source: Hashable | None = None) -> str:
        """Takes `name` as it stands (documents, style sheets and fonts, whose names
        are written into other files already); NameRefused if another file has it
        or it cannot stand in a container."""
        why = refusal(name)
        if why is not None:
            raise NameRefused(name, why)
        key = folded(name)
        if key in self._taken:
            if source is not None and self._taken[key] == source:
                return name
            raise NameRefused(name, "another file of the book has that name, in some case")
        if unicodedata.normalize("NFC", name) != name:
            raise NameRefused(name, "it is not in Unicode normal form C")
        self._record(key, name, source)
        return name

    def take(self, wanted: str, source: Hashable | None = None) -> str:
        """`wanted`, or the first free of `stem-2.ext`, `stem-3.ext`, ... in the same
        folder; `source`'s earlier name if it has one. Each wanted name keeps its
        own counter, so n files of one name cost O(n)."""
        if source is not None and source in self._by_source:
            return self._by_source[source]
        wanted = unicodedata.normalize("NFC", wanted)
        key = folded(wanted)
        if key not in self._taken:
            self._record(key, wanted, source)
            return wanted
        folder, base = posixpath.split(wanted)
        stem, dot, suffix = base.rpartition(".")
        if not dot or not stem:
            stem, dot, suffix = base, "", ""
        n = self._next.get(key, 1)
        while True:
            n += 1
            candidate = posixpath.join(folder, f"{stem}-{n}{dot}{suffix}")
            if folded(candidate) not in self._taken:
                break
        self._next[key] = n
        self._record(folded(candidate), candidate, source)
        return candidate

    def _record(self, key: str, name: str, source: Hashable | None) -> None:
        self._taken[key] = source
        if source is not None:
            self._by_source.setdefault(source, name)
