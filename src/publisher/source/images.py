"""Raster images decoded in full, under a pixel budget, before anything is packaged.

A header can be right while the data behind it is garbage, truncated, or made to
cost gigabytes: so every PNG, JPEG, GIF and WebP (the manuscript's files and the
ones embedded in an SVG as data URLs) is decoded here, every frame of it, and
refused when it does not decode as the type it claims.

Pillow's own guard (`Image.MAX_IMAGE_PIXELS`) is process-wide and left as it is:
the size in the header is read first and checked against `MAX_PIXELS`, which is
below Pillow's limit, so that Pillow's guard never has to speak for us."""

from __future__ import annotations

import io
import threading
import warnings
from typing import BinaryIO

PILLOW_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
# Decoding a 20,000 x 20,000 image takes over a gigabyte; no book needs more than this.
MAX_PIXELS = 60_000_000
# Every frame of an animation is decoded: all of them together stay under this.
MAX_FRAME_PIXELS = 2 * MAX_PIXELS


class BrokenImage(Exception):
    """The data is not an image of the type it claims; `args[0]` says why."""


class TooLarge(Exception):
    """More pixels than MAX_PIXELS (or, over all frames, MAX_FRAME_PIXELS)."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        self.width, self.height = width, height


def decode(data: BinaryIO | bytes, media_type: str) -> tuple[int, int]:
    """The image's size, once every frame of it has been decoded; BrokenImage if
    it is not a whole image of `media_type`, TooLarge past MAX_PIXELS.

    WeasyPrint sets Pillow's `ImageFile.LOAD_TRUNCATED_IMAGES` on import, for the
    whole process, and a truncated file then decodes without a word: so it is
    held off while a file is checked here, and put back as it was."""
    from PIL import ImageFile

    with _STRICT:
        lenient = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            return _decode(data, media_type)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = lenient


_STRICT = threading.Lock()


def _decode(data: BinaryIO | bytes, media_type: str) -> tuple[int, int]:
    from PIL import Image, ImageSequence

    fmt = PILLOW_FORMATS[media_type]
    fp = io.BytesIO(data) if isinstance(data, bytes) else data
    with warnings.catch_warnings():
        # Pillow warns above its own limit; ours (MAX_PIXELS) is lower and checked below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(fp) as image:
                found, (width, height) = image.format, image.size
                if found != fmt:
                    raise BrokenImage(f"it holds {found} data")
                if width * height > MAX_PIXELS:
                    raise TooLarge(width, height)
                if fmt == "PNG":
                    image.verify()  # every chunk's checksum, to the end of the file
            if fmt == "JPEG" and not _jpeg_structure_ok(fp):
                raise BrokenImage("corrupt JPEG data")
            fp.seek(0)
            with Image.open(fp, formats=[fmt]) as image:
                total = 0
                for frame in ImageSequence.Iterator(image):
                    total += width * height
                    if total > MAX_FRAME_PIXELS:
                        raise TooLarge(width, height)
                    frame.load()
        except Image.DecompressionBombError:
            fp.seek(0)
            raise TooLarge(*_header_size(fp, fmt)) from None
        except (BrokenImage, TooLarge):
            raise
        except Exception as exc:
            # Pillow's decoders fail on hostile data with many exception types
            # (OSError, SyntaxError, ValueError, struct.error, EOFError...): each
            # means the same here, a file that is not a whole image.
            raise BrokenImage(exc.__class__.__name__) from None
    return width, height


def _header_size(fp: BinaryIO, fmt: str) -> tuple[int, int]:
    """The size an image's header states, read without `Image.open`'s bomb check
    (which stops before naming the size): the format's own reader, header only."""
    from PIL import Image

    Image.init()
    factory = Image.OPEN[fmt][0]
    try:
        with factory(fp, "") as image:
            width, height = image.size
            return int(width), int(height)
    except Exception:  # as in decode: any failure is a broken file
        raise BrokenImage("DecompressionBombError") from None


# The markers that may stand between a JPEG's start and its end (ITU T.81, B.1.1.3):
# frames, tables, scans, restart intervals, application data, comments.
_JPEG_MARKERS = frozenset([*range(0xC0, 0xD0), *range(0xDA, 0xE0), *range(0xE0, 0xF0), 0xFE])


def _jpeg_structure_ok(fp: BinaryIO) -> bool:
    """libjpeg decodes garbage in a JPEG's data with warnings only, which Pillow
    does not pass on: so the markers are walked here, from the start to the end
    of image, each segment within the file and each scan's data ending at a real
    marker. Garbage in place of the compressed data breaks this at once."""
    fp.seek(0)
    data = fp.read()
    fp.seek(0)
    size, i = len(data), 2
    if not data.startswith(b"\xff\xd8"):
        return False
    while i < size:
        if data[i] != 0xFF:
            return False
        while i < size and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= size:
            return False
        marker = data[i]
        i += 1
        if marker == 0xD9:  # the end of the image; what follows is not ours to judge
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue  # restart markers and TEM carry no length
        if marker not in _JPEG_MARKERS or i + 2 > size:
            return False
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > size:
            return False
        i += length
        if marker == 0xDA:  # a scan: compressed data up to the next marker
            while True:
                at = data.find(b"\xff", i)
                if at < 0 or at + 1 >= size:
                    return False
                follows = data[at + 1]
                if follows == 0 or 0xD0 <= follows <= 0xD7:  # a stuffed 0xFF, a restart
                    i = at + 2
                elif follows == 0xFF:
                    i = at + 1
                else:
                    i = at
                    break
    return False
