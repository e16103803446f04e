"""A cover image made from the metadata when the manuscript gives none: a real
JPEG (what every reading system shows in its library, and fast to encode)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.forked import Forked, Lost, can_fork
from publisher.model import BookMeta

if TYPE_CHECKING:
    from PIL import ImageDraw, ImageFont

WIDTH, HEIGHT = 1600, 2400
# What the cover can show of a text: a title longer than this is cut (with an
# ellipsis), and a letter keeps at most this many combining marks. Pillow draws
# a line through a bitmap as tall as its stack of marks: 3,000 accents on one
# letter asked for two billion pixels.
COVER_CHARACTERS = 300
MARKS_PER_LETTER = 3
BACKGROUND = (31, 42, 68)
INK = (246, 241, 231)
ACCENT = (201, 162, 91)
MARGIN = 150


class _Aside:
    """A cover drawn in a forked child while this process renders the book."""

    def __init__(self, meta: BookMeta, fonts: Path) -> None:
        self.child = Forked(lambda channel: channel.send("cover", _draw(meta, fonts)))

    def result(self) -> bytes | None:
        """The child's JPEG, or None if it failed (the caller draws it then)."""
        try:
            _, data = self.child.receive()
        except Lost:
            return None
        self.child.close(kill=False)
        return data if isinstance(data, bytes) else None


# A cover made ahead of the EPUB (prepare_cover), by what it was made from.
_ready: dict[tuple[BookMeta, Path], bytes | _Aside] = {}


def prepare_cover(meta: BookMeta, fonts: Path, *, aside: bool = False) -> None:
    """Draws the cover before make_epub asks for it (PIL's import and the drawing
    take 0.05-0.1 s): the build does it while the PDF's child lays the book out, or
    (`aside`, an EPUB alone) in a child of its own while the book is rendered."""
    for earlier in _ready.values():  # a cover a failed build never asked for
        if isinstance(earlier, _Aside):
            earlier.child.close()
    _ready.clear()
    made: bytes | _Aside | None = None
    if aside and can_fork():
        with contextlib.suppress(Lost):
            made = _Aside(meta, fonts)
    _ready[(meta, fonts)] = made if made is not None else _draw(meta, fonts)


def make_cover(meta: BookMeta, fonts: Path) -> bytes:
    ready = _ready.pop((meta, fonts), None)
    if isinstance(ready, _Aside):
        ready = ready.result()
    return ready if ready is not None else _draw(meta, fonts)


def _draw(meta: BookMeta, fonts: Path) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    width = WIDTH - 2 * MARGIN
    bold = fonts / "gentium" / "GentiumBookPlus-Bold.ttf"
    italic = fonts / "gentium" / "GentiumBookPlus-Italic.ttf"
    regular = fonts / "gentium" / "GentiumBookPlus-Regular.ttf"

    title_font, title_lines = _fit(draw, meta.title, bold, width, start=150, stop=60, max_lines=6)
    y = 520
    for line in title_lines:
        draw.text((WIDTH / 2, y), line, font=title_font, fill=INK, anchor="ma")
        y += int(title_font.size * 1.15)
    y += 50
    draw.line((WIDTH / 2 - 160, y, WIDTH / 2 + 160, y), fill=ACCENT, width=6)
    y += 90
    if meta.subtitle:
        sub_font, sub_lines = _fit(
            draw, meta.subtitle, italic, width, start=80, stop=44, max_lines=4
        )
        for line in sub_lines:
            draw.text((WIDTH / 2, y), line, font=sub_font, fill=INK, anchor="ma")
            y += int(sub_font.size * 1.25)
    if meta.authors:
        author_font, author_lines = _fit(
            draw, ", ".join(meta.authors), regular, width, start=80, stop=44, max_lines=3
        )
        y = HEIGHT - 260 - int(author_font.size * 1.25) * (len(author_lines) - 1)
        for line in author_lines:
            draw.text((WIDTH / 2, y), line, font=author_font, fill=ACCENT, anchor="ma")
            y += int(author_font.size * 1.25)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def _fit(
    draw: ImageDraw.ImageDraw,
    text: str,
    font_path: Path,
    width: int,
    *,
    start: int,
    stop: int,
    max_lines: int,
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest size at which `text` wraps into at most `max_lines` lines; the
    lines that do not fit at the smallest size are left out, the last shown ending
    in an ellipsis."""
    from PIL import ImageFont

    text = cover_text(text)
    size = start
    while True:
        font = ImageFont.truetype(str(font_path), size)
        lines = _wrap(draw, text, font, width)
        if len(lines) <= max_lines or size <= stop:
            if len(lines) > max_lines:
                last = _cut(draw, lines[max_lines - 1] + " …", font, width)
                lines = [*lines[: max_lines - 1], last]
            return font, lines
        size -= 8


def cover_text(text: str) -> str:
    """`text` as the cover can show it: at most MARKS_PER_LETTER combining marks on a
    letter, and at most COVER_CHARACTERS characters (cut at a word, with an ellipsis)."""
    import unicodedata

    kept: list[str] = []
    marks = 0
    for char in unicodedata.normalize("NFC", text):
        if unicodedata.combining(char):
            marks += 1
            if marks > MARKS_PER_LETTER:
                continue
        else:
            marks = 0
        kept.append(char)
    short = "".join(kept)
    if len(short) <= COVER_CHARACTERS:
        return short
    cut = short[:COVER_CHARACTERS].rsplit(" ", 1)[0] or short[:COVER_CHARACTERS]
    return cut.rstrip() + " …"


def _cut(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """`text`, shortened from its end to fit `width` with an ellipsis (a word wider
    than the cover is cut, not drawn past its edges)."""
    if draw.textlength(text, font=font) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if draw.textlength(text[:middle].rstrip() + "…", font=font) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int
) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and draw.textlength(trial, font=font) > width:
            lines.append(_cut(draw, current, font, width))
            current = word
        else:
            current = trial
    if current:
        lines.append(_cut(draw, current, font, width))
    return lines
