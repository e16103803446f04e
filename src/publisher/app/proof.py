"""Proofs: the PDF's pages as PNG images, and one contact sheet with every page,
laid out in spreads as a printer would (page 1 alone on the right)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from publisher.errors import Location, OptionError, PublisherError, ToolError

GAP = 24  # pixels between spreads
BACKGROUND = (128, 128, 128)
SPREADS_PER_ROW = 4


def render_pages(pdf: Path, folder: Path, resolution: int) -> list[Path]:
    """Each page as `page-N.png` (pdftoppm from poppler)."""
    if not pdf.is_file():
        raise PublisherError(
            "no PDF to proof", where=Location(pdf), hint="run 'publisher build' first"
        )
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise ToolError("pdftoppm is not installed", hint="apt-get install poppler-utils")
    if not 10 <= resolution <= 600:
        raise OptionError(f"resolution {resolution} is out of range", hint="use 10 to 600")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("page-*.png"):
        old.unlink()
    done = subprocess.run(
        [tool, "-r", str(resolution), "-png", str(pdf), str(folder / "page")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ToolError(f"pdftoppm failed: {done.stderr.strip()[:200]}")
    pages = sorted(folder.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    # pdftoppm pads numbers by the page count; plain names are easier to use.
    named = []
    for n, page in enumerate(pages, start=1):
        target = folder / f"page-{n}.png"
        if page != target:
            page.rename(target)
        named.append(target)
    return named


def contact_sheet(pages: list[Path], target: Path) -> Path:
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in pages]
    width = max(i.width for i in images)
    height = max(i.height for i in images)
    # Spreads: [None, 1], [2, 3], [4, 5], ...
    slots: list[Image.Image | None] = [None, *images]
    if len(slots) % 2:
        slots.append(None)
    spreads = [slots[i : i + 2] for i in range(0, len(slots), 2)]
    rows = (len(spreads) + SPREADS_PER_ROW - 1) // SPREADS_PER_ROW
    columns = min(len(spreads), SPREADS_PER_ROW)
    sheet = Image.new(
        "RGB",
        (columns * (2 * width + GAP) + GAP, rows * (height + GAP) + GAP),
        BACKGROUND,
    )
    for n, spread in enumerate(spreads):
        x = GAP + (n % SPREADS_PER_ROW) * (2 * width + GAP)
        y = GAP + (n // SPREADS_PER_ROW) * (height + GAP)
        for side, image in enumerate(spread):
            if image is not None:
                sheet.paste(image, (x + side * width, y))
    sheet.save(target, optimize=True)
    return target


def make_proof(pdf: Path, folder: Path, resolution: int = 60) -> tuple[Path, list[Path]]:
    pages = render_pages(pdf, folder, resolution)
    sheet = contact_sheet(pages, folder / f"{pdf.stem}-contact-sheet.png")
    return sheet, pages


def page_with(pdf: Path, text: str) -> int | None:
    """The first page whose text holds `text` (spaces ignored), by pdftotext (from
    poppler, like pdftoppm; None without it)."""
    tool = shutil.which("pdftotext")
    if tool is None:
        return None
    done = subprocess.run([tool, str(pdf), "-"], capture_output=True, text=True, check=False)
    wanted = "".join(text.split()).casefold()  # small caps extract as either case
    for n, page in enumerate(done.stdout.split("\f"), start=1):
        if wanted in "".join(page.split()).casefold():
            return n
    return None


def strip(pages: list[Path], target: Path) -> Path:
    """Pages side by side in one row: a style's overview in the gallery."""
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in pages]
    height = max(i.height for i in images)
    width = sum(i.width for i in images) + GAP * (len(images) + 1)
    row = Image.new("RGB", (width, height + 2 * GAP), BACKGROUND)
    x = GAP
    for image in images:
        row.paste(image, (x, GAP))
        x += image.width + GAP
    row.save(target, optimize=True)
    return target
