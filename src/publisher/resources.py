"""The fence around resources: images are taken only from inside the manuscript
folder, by relative path, after resolving `..` and links. Anything else (a URL, an
absolute path, a file outside the folder) is an error naming `file:line`."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import Location, ResourceError
from .model import Resource

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
        self._hrefs: set[str] = set()

    def __call__(self, source: Path, src: str, line: int | None) -> Resource:
        where = Location(source, line)
        parts = urlsplit(src)
        if parts.scheme or parts.netloc or src.startswith("/"):
            raise ResourceError(
                f"image '{src}' is not a relative path",
                where=where,
                hint="publisher never fetches URLs or absolute paths: copy the image into the "
                "manuscript folder and refer to it relatively",
            )
        path = (source.parent / unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root):
            raise ResourceError(
                f"image '{src}' is outside the manuscript folder",
                where=where,
                hint="copy it into the manuscript folder",
            )
        if path in self._by_path:
            return self._by_path[path]
        if not path.is_file():
            raise ResourceError(
                f"image '{src}' not found",
                where=where,
                hint="check the file name and that the path is relative to this file",
            )
        media_type = IMAGE_TYPES.get(path.suffix.lower())
        if media_type is None:
            raise ResourceError(
                f"image '{src}' has an unsupported type",
                where=where,
                hint="use PNG, JPEG, GIF, SVG or WebP",
            )
        _check_readable(path, media_type, where, src)
        resource = Resource(path, self._href(path), media_type)
        self._by_path[path] = resource
        return resource

    def _href(self, path: Path) -> str:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "image"
        href, n = f"images/{stem}{path.suffix.lower()}", 1
        while href in self._hrefs:
            n += 1
            href = f"images/{stem}-{n}{path.suffix.lower()}"
        self._hrefs.add(href)
        return href


def _check_readable(path: Path, media_type: str, where: Location, src: str) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise ResourceError(f"image '{src}' cannot be read: {exc.strerror}", where=where) from None
    signatures = {
        "image/png": (b"\x89PNG\r\n\x1a\n",),
        "image/jpeg": (b"\xff\xd8\xff",),
        "image/gif": (b"GIF87a", b"GIF89a"),
        "image/webp": (b"RIFF",),
    }
    if media_type == "image/svg+xml":
        ok = b"<svg" in head or b"<?xml" in head
    else:
        ok = head.startswith(signatures[media_type])
    if not ok:
        raise ResourceError(
            f"image '{src}' is not a valid {media_type.split('/')[1].upper()} file",
            where=where,
            hint="re-export the image or fix its file extension",
        )
