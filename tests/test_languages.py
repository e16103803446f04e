"""Scripts in the PDF are drawn with real glyphs from a font that has them; missing
ones stop the build with their names; right-to-left books; every image type."""

from __future__ import annotations

import re
import unicodedata
import zipfile
from pathlib import Path

import pikepdf
from PIL import Image

from conftest import Built, build_book, invoke, need


def _cmap(font: pikepdf.Dictionary) -> dict[int, str]:
    """A font's ToUnicode map: glyph code -> text."""
    mapping: dict[int, str] = {}
    if "/ToUnicode" not in font:
        return mapping
    data = font.ToUnicode.read_bytes().decode("latin-1")
    for block in re.findall(r"beginbfchar(.*?)endbfchar", data, re.S):
        for code, text in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(code, 16)] = bytes.fromhex(text).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", data, re.S):
        for low, high, start in re.findall(r"<(\w+)>\s*<(\w+)>\s*<(\w+)>", block):
            first = int.from_bytes(bytes.fromhex(start), "big")
            for code in range(int(low, 16), int(high, 16) + 1):
                mapping[code] = chr(first + code - int(low, 16))
    return mapping


def glyphs_drawn(pdf_path: Path) -> list[tuple[str, str, int]]:
    """(character, font name, glyph code) for every glyph shown in the PDF."""
    drawn: list[tuple[str, str, int]] = []
    with pikepdf.open(pdf_path) as pdf:
        for page in pdf.pages:
            fonts = page.Resources.get("/Font", {})
            maps = {name: (str(f.get("/BaseFont")), _cmap(f)) for name, f in fonts.items()}
            current = ("", {})
            for operands, operator in pikepdf.parse_content_stream(page):
                if str(operator) == "Tf":
                    current = maps.get(str(operands[0]), ("", {}))
                elif str(operator) in ("Tj", "TJ"):
                    items = operands[0] if str(operator) == "TJ" else [operands[0]]
                    for item in items:
                        if isinstance(item, pikepdf.String):
                            raw = bytes(item)
                            for i in range(0, len(raw) - 1, 2):
                                code = int.from_bytes(raw[i : i + 2], "big")
                                drawn.append((current[1].get(code, "?"), current[0], code))
    return drawn


def test_each_script_is_drawn_from_a_font_that_has_it(guide: Built) -> None:
    need("fc-list")
    drawn = glyphs_drawn(guide.pdf)
    assert all(code != 0 for _, _, code in drawn), ".notdef glyphs (empty boxes) drawn"
    by_script: dict[str, set[str]] = {}
    for char, font, _ in drawn:
        if char.strip() and len(char) == 1:
            script = unicodedata.name(char, "?").split()[0]
            by_script.setdefault(script, set()).add(font.split("+")[-1])
    assert by_script["CJK"] == {"Noto-Serif-CJK-SC"}
    assert by_script["CYRILLIC"] == {"Gentium-Book-Plus"}
    assert by_script["GREEK"] <= {"Gentium-Book-Plus", "Gentium-Book-Plus-Italic"}
    text = "".join(char for char, _, _ in drawn)
    assert "一带一路" in text and "Путин" in text and "λόγος" in text


def test_a_character_no_font_has_stops_the_build(tmp_path: Path) -> None:
    need("fc-list")
    source = tmp_path / "linear-b.md"
    source.write_text(
        "---\ntitle: Tablets\n---\n\nThe sign \U00010000 is Linear B.\n", encoding="utf-8"
    )
    proc = invoke(
        "build", "--manuscript", str(source), "--output", str(tmp_path / "out"), cwd=Path.cwd()
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"{source}:5: error: no font can print '\U00010000' (U+10000 LINEAR B SYLLABLE B008 A) "
        "(install a font that has them, e.g. apt-get install fonts-noto-core)"
    ]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_right_to_left_books(tmp_path: Path) -> None:
    source = tmp_path / "he.md"
    source.write_text(
        "---\ntitle: ספר\nlang: he\n---\n\n# פרק ראשון\n\nבראשית ברא.\n\n# פרק שני\n\nשלום עולם.\n",
        encoding="utf-8",
    )
    built = build_book(source, tmp_path / "out")
    chapter = built.member("EPUB/chapter-01.xhtml")
    assert 'lang="he" xml:lang="he" dir="rtl"' in chapter
    opf = built.member("EPUB/content.opf")
    assert 'page-progression-direction="rtl"' in opf and 'dir="rtl"' in opf
    with pikepdf.open(built.pdf) as pdf:
        assert str(pdf.Root.Lang) == "he"


def test_every_image_type(tmp_path: Path) -> None:
    folder = tmp_path / "img"
    folder.mkdir()
    Image.new("RGB", (40, 30), "red").save(folder / "a.png")
    Image.new("RGB", (40, 30), "green").save(folder / "b.jpg")
    Image.new("P", (40, 30), 3).save(folder / "c.gif")
    Image.new("RGB", (40, 30), "blue").save(folder / "d.webp")
    (folder / "e.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" '
        'height="30"><rect width="40" height="30"/></svg>'
    )
    body = "\n\n".join(f"![Image {n}]({n})" for n in ("a.png", "b.jpg", "c.gif", "d.webp", "e.svg"))
    (folder / "book.md").write_text(f"---\ntitle: Images\n---\n\n{body}\n\n![Again](a.png)\n")
    built = build_book(folder / "book.md", tmp_path / "out")
    with zipfile.ZipFile(built.epub) as z:
        images = sorted(
            n for n in z.namelist() if n.startswith("EPUB/images/") and "cover" not in n
        )
    assert images == [
        "EPUB/images/a.png",
        "EPUB/images/b.jpg",
        "EPUB/images/c.gif",
        "EPUB/images/d.webp",
        "EPUB/images/e.svg",
    ]
    with pikepdf.open(built.pdf) as pdf:
        count = sum(len(page.get_images()) for page in pdf.pages)
    assert count == 4  # the four raster images; the SVG is drawn as vectors
    need("java")
    from publisher.check.outputs import run_epubcheck

    assert [str(f) for f in run_epubcheck(built.epub) if f.severity != "USAGE"] == []


def test_margins_are_configurable(tmp_path: Path) -> None:
    import pdfplumber

    source = tmp_path / "m.md"
    source.write_text(
        "---\ntitle: Margins\nmargins: 30mm 10mm 30mm 40mm\n---\n\n"
        + "Words of text. " * 200
        + "\n",
        encoding="utf-8",
    )
    built = build_book(source, tmp_path / "out")
    with pdfplumber.open(built.pdf) as doc:
        first = doc.pages[0]  # a right-hand page: the inner margin is on the left
        left = min(c["x0"] for c in first.chars)
    assert 40 * 72 / 25.4 - 1 <= left <= 40 * 72 / 25.4 + 1
