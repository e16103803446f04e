"""The fence around resources. Images are taken only from inside the manuscript
folder, by relative path, after resolving `..` and symbolic links (through
`fence.locate`, as every file the manuscript names). Each image is read once,
there (`fence.read_bytes`), checked, and its bytes travel in the `Resource`: the
EPUB and the PDF package those, and never open the file again.

One rule for what the fence stops (a URL, an absolute path, a file outside the
folder): the locator returns a warning (a `Diagnostic`) naming `file:line` instead
of a resource, and the reference is dropped (the image's alt text stays in its
place). A missing, unreadable or broken image inside the folder is an author's
mistake and an error."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location, ResourceError
from publisher.model import Resource
from publisher.source import fence
from publisher.source.images import MAX_PIXELS
from publisher.source.svg import MAX_SVG_BYTES, clean_svg

__all__ = ["IMAGE_TYPES", "MAX_PIXELS", "Locator", "clean_svg", "inspect_image"]
from publisher.names import EntryNames

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}


class Locator:
    """Turns image references into packaged resources, each file once."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._by_path: dict[Path, Resource] = {}
        self._notes: list[Diagnostic] = []  # warnings about images it did package
        self._names = EntryNames()  # the images' names in the EPUB, unique in any case

    def drain(self) -> list[Diagnostic]:
        """The warnings of the images packaged since the last call (an SVG cleaned)."""
        notes, self._notes = self._notes, []
        return notes

    def __call__(self, source: Path, src: str, line: int | None) -> Resource | Diagnostic:
        where = Location(source, line)
        parts = urlsplit(src)
        if parts.scheme or parts.netloc or src.startswith(("/", "\\")):
            return _fenced("I01", src, where, "publisher never fetches URLs or absolute paths")
        if not parts.path.strip():
            # "#x", "?q": nothing to package
            return _fenced("I01", src, where, "it names no file")
        path = fence.locate(self.root, source.parent, unquote(parts.path))
        if isinstance(path, fence.Refused):
            if path.kind == fence.OUTSIDE:
                return _fenced("I02", src, where, "it is outside the manuscript folder")
            if path.kind == fence.MISSING:
                raise ResourceError(
                    f"image '{src}' not found",
                    where=where,
                    hint="check the file name; paths are relative to the chapter's file",
                )
            raise fence.refusal("image", src, path, where, ResourceError)
        if path in self._by_path:
            return self._by_path[path]
        media_type = IMAGE_TYPES.get(path.suffix.lower())
        if media_type is None:
            raise ResourceError(
                f"image '{src}' has an unsupported type",
                where=where,
                hint="use PNG, JPEG, GIF, SVG or WebP",
            )
        data = read_image(path, media_type, where, src)
        width, height, data = inspect_image(data, media_type, where, src, self._notes)
        resource = Resource(path, self._href(path), media_type, width, height, data)
        self._by_path[path] = resource
        return resource

    def _href(self, path: Path) -> str:
        """`images/` and the file's name in safe characters; `Foo.png` and `foo.png`
        get two names that differ in more than case (publisher.names)."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "image"
        return self._names.take(f"images/{stem}{path.suffix.lower()}", path)


def _fenced(code: str, src: str, where: Location, why: str) -> Diagnostic:
    return Diagnostic(
        code, WARNING, where, f"image '{src}' dropped: {why}", subject=src, reason=why
    )


def read_image(
    path: Path, media_type: str, where: Location, src: str, what: str = "image"
) -> bytes:
    """The bytes of a located image, read through the fence (a file swapped for a
    link since it was located is refused); an SVG over MAX_SVG_BYTES is refused
    without being held. `what` names it in a message ("image", "cover image")."""
    svg = media_type == "image/svg+xml"
    data = fence.read_bytes(path, MAX_SVG_BYTES if svg else None)
    if isinstance(data, fence.Refused):
        raise fence.refusal(what, src, data, where, ResourceError)
    if svg and len(data) > MAX_SVG_BYTES:
        raise ResourceError(f"image '{src}' is larger than 10 MB", where=where)
    return data


def inspect_image(
    data: bytes,
    media_type: str,
    where: Location,
    src: str,
    found: list[Diagnostic] | None = None,
) -> tuple[int, int, bytes]:
    """Checks that the bytes really are a whole image of their type, of a sane
    size: a raster image is decoded in full (publisher.source.images), an SVG
    rebuilt from the allow-list (publisher.source.svg), with one warning for what
    goes. Returns the size and the bytes to package (an SVG's as rebuilt)."""
    if media_type == "image/svg+xml":
        return 0, 0, _check_svg(data, where, src, found)
    from publisher.source.images import BrokenImage, TooLarge, decode

    kind = media_type.split("/")[1].upper()
    try:
        width, height = decode(data, media_type)
        return width, height, data
    except BrokenImage as broken:
        why = str(broken)
        raise ResourceError(
            f"image '{src}' is not a valid {kind} file ({why})",
            where=where,
            hint="re-export the image or fix its file extension",
        ) from None
    except TooLarge as large:
        raise ResourceError(
            f"image '{src}' is too large ({large.width} x {large.height} pixels)",
            where=where,
            hint=f"scale it down below {MAX_PIXELS // 1_000_000} megapixels",
        ) from None


# What the warning lists of the things an SVG lost; the rest is counted.
SHOWN = 6


def _check_svg(data: bytes, where: Location, src: str, found: list[Diagnostic] | None) -> bytes:
    cleaned = clean_svg(data, src, where)
    if cleaned.removed:
        shown = ", ".join(cleaned.removed[:SHOWN])
        more = len(cleaned.removed) - SHOWN
        if more > 0:
            shown += f" and {more} more"
        if found is not None:
            found.append(
                Diagnostic(
                    "I18",
                    WARNING,
                    where,
                    f"image '{src}' cleaned: removed {shown}",
                    "an image in a book holds drawing only",
                    subject=src,
                )
            )
    return cleaned.data
