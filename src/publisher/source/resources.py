"""The fence around resources. Images are taken only from inside the manuscript
folder, by relative path, after resolving `..` and symbolic links.

One rule for what the fence stops (a URL, an absolute path, a file outside the
folder): the locator returns a warning (a `Diagnostic`) naming `file:line` instead
of a resource, and the reference is dropped (the image's alt text stays in its
place). A missing, unreadable or broken image inside the folder is an author's
mistake and an error."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from urllib.parse import unquote, urlsplit

from publisher.diagnostics import WARNING, Diagnostic
from publisher.errors import Location, ResourceError
from publisher.model import Resource
from publisher.names import EntryNames

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
PILLOW_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
# Decoding a 20,000 x 20,000 image takes over a gigabyte; no book needs more than this.
MAX_PIXELS = 60_000_000
MAX_SVG_BYTES = 10_000_000


class Locator:
    """Turns image references into packaged resources, each file once."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._by_path: dict[Path, Resource] = {}
        self._names = EntryNames()  # the images' names in the EPUB, unique in any case

    def __call__(self, source: Path, src: str, line: int | None) -> Resource | Diagnostic:
        where = Location(source, line)
        parts = urlsplit(src)
        if parts.scheme or parts.netloc or src.startswith(("/", "\\")):
            return _fenced("I01", src, where, "publisher never fetches URLs or absolute paths")
        if not parts.path.strip():
            # "#x", "?q": nothing to package
            return _fenced("I01", src, where, "it names no file")
        path = (source.parent / unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root):
            return _fenced("I02", src, where, "it is outside the manuscript folder")
        if path in self._by_path:
            return self._by_path[path]
        if not path.is_file():
            raise ResourceError(
                f"image '{src}' not found",
                where=where,
                hint="check the file name; paths are relative to the chapter's file",
            )
        media_type = IMAGE_TYPES.get(path.suffix.lower())
        if media_type is None:
            raise ResourceError(
                f"image '{src}' has an unsupported type",
                where=where,
                hint="use PNG, JPEG, GIF, SVG or WebP",
            )
        width, height = inspect_image(path, media_type, where, src)
        resource = Resource(path, self._href(path), media_type, width, height)
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


def inspect_image(path: Path, media_type: str, where: Location, src: str) -> tuple[int, int]:
    """Checks that the file really is an image of its type, of a sane size."""
    if media_type == "image/svg+xml":
        _check_svg(path, where, src)
        return 0, 0
    from PIL import Image

    kind = media_type.split("/")[1].upper()
    try:
        with warnings.catch_warnings():
            # Our own limit (MAX_PIXELS) applies, to the size the header states.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(path) as image:  # reads the header only
                fmt, (width, height) = image.format, image.size
    except OSError as exc:
        raise ResourceError(
            f"image '{src}' is not a valid {kind} file ({exc.__class__.__name__})",
            where=where,
            hint="re-export the image or fix its file extension",
        ) from None
    if fmt != PILLOW_FORMATS[media_type]:
        raise ResourceError(
            f"image '{src}' is not a valid {kind} file (it holds {fmt} data)",
            where=where,
            hint="re-export the image or fix its file extension",
        )
    if width * height > MAX_PIXELS:
        raise ResourceError(
            f"image '{src}' is too large ({width} x {height} pixels)",
            where=where,
            hint=f"scale it down below {MAX_PIXELS // 1_000_000} megapixels",
        )
    return width, height


def _check_svg(path: Path, where: Location, src: str) -> None:
    from lxml import etree

    if path.stat().st_size > MAX_SVG_BYTES:
        raise ResourceError(f"image '{src}' is larger than 10 MB", where=where)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.parse(str(path), parser).getroot()
    except etree.XMLSyntaxError as exc:
        raise ResourceError(
            f"image '{src}' is not a well-formed SVG file ({exc.msg})",
            where=where,
            hint="re-export it from the drawing program",
        ) from None
    if etree.QName(root).localname != "svg":
        raise ResourceError(f"image '{src}' is not an SVG file", where=where)


_SVG_DROPPED = {"script", "foreignObject", "iframe", "object", "embed", "handler", "listener"}
_LINK_ATTRIBUTES = ("href", "{http://www.w3.org/1999/xlink}href", "src")


def clean_svg(data: bytes) -> bytes:
    """An SVG image as packaged: no scripts, no event handlers, no foreign content
    and no references outside the file (reading systems may run SVG scripts)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    for element in list(root.iter()):
        if not isinstance(element.tag, str):
            parent = element.getparent()
            if parent is not None and isinstance(element, etree._ProcessingInstruction):
                parent.remove(element)
            continue
        if etree.QName(element).localname in _SVG_DROPPED:
            parent = element.getparent()
            if parent is not None:
                parent.remove(element)
            continue
        for name in list(element.attrib):
            local = etree.QName(name).localname.lower()
            value = element.attrib[name].strip().lower()
            if local.startswith("on") or (
                name in _LINK_ATTRIBUTES and not value.startswith(("#", "data:image/"))
            ):
                del element.attrib[name]
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
