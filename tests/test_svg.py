"""Images as hostile input (issue 18): every SVG rebuilt from an allow-list with a
bounded cost (publisher.source.svg), every raster image decoded in full
(publisher.source.images), EXIF orientation applied, Inkscape's embedded images
kept in both outputs. Generated SVGs (Hypothesis) clean to documents holding only
what the allow-list names, and build to an EPUB or to one error line."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree
from PIL import Image

from publisher.build import BuildResult, build
from publisher.errors import PublisherError, ResourceError
from publisher.model import BuildOptions
from publisher.source import svg as svg_module
from publisher.source.svg import ATTRIBUTES, ELEMENTS, MAX_DRAWN, SVG, XLINK, clean_svg

from conftest import STYLES, need

HEAD = "---\ntitle: Images\nlang: en\n---\n\n"  # the body starts on line 6
OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
SHAPE = '<rect width="5" height="5" fill="teal"/>'
# What no packaged SVG may hold: scripts, handlers, addresses, imports.
BAD = re.compile(
    r"javascript|vbscript|http:|https:|file:|@import|@font-face|expression|<script|"
    r"foreignObject|\bon[a-z]+\s*=|xml:base|xml-stylesheet|image/svg|EVIL",
    re.I,
)


def raster(kind: str, size: tuple[int, int] = (40, 20), colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=kind)
    return out.getvalue()


def data_url(kind: str, data: bytes) -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def run_build(folder: Path, out: Path, formats: tuple[str, ...] = ("epub", "pdf")) -> BuildResult:
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        return build(BuildOptions(folder, out, STYLES, formats))
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def book_with(tmp_path: Path, files: dict[str, str | bytes], body: str) -> Path:
    folder = tmp_path / "book"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    (folder / "book.md").write_text(HEAD + body, encoding="utf-8")
    return folder


def members(epub: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(epub) as z:
        return {name: z.read(name) for name in z.namelist()}


def output(result: BuildResult, fmt: str) -> Path:
    return next(o.path for o in result.outputs if o.format == fmt)


def epubcheck_errors(epub: Path) -> list[str]:
    need("java")
    from publisher.check.outputs import run_epubcheck

    return [str(f) for f in run_epubcheck(epub) if f.severity not in ("USAGE", "INFO")]


def assert_allowed(document: bytes) -> None:
    """The cleaned document parses and holds only what the allow-list names."""
    root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))
    for element in root.iter():
        assert isinstance(element.tag, str), element  # no comment, PI or entity
        name = etree.QName(element)
        assert name.namespace == SVG and name.localname in ELEMENTS, element.tag
        for key, value in element.attrib.items():
            attribute = etree.QName(key)
            local = attribute.localname
            assert not local.lower().startswith("on"), key
            if local == "href":
                assert value.startswith("#") or re.fullmatch(
                    r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]*", value
                ), value
            elif attribute.namespace == "http://www.w3.org/XML/1998/namespace":
                assert local in ("lang", "space"), key
            else:
                assert attribute.namespace is None and local in ATTRIBUTES, key
    for url in re.findall(rb"url\(\s*['\"]?([^)'\"]*)", document):
        assert url.startswith(b"#"), url
    text = re.sub(r'xmlns(:\w+)?="[^"]*"', "", document.decode())  # the namespaces' names
    assert not BAD.search(text), BAD.search(text)


# --- each vector of the classes: removed, or refused ---------------------------------------

SVG_PAYLOAD = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>')
REMOVED = {
    "script": "<script>alert('EVIL')</script>",
    "cdata-script": "<script><![CDATA[alert('EVIL')]]></script>",
    "svg-prefixed-script": '<svg:script xmlns:svg="http://www.w3.org/2000/svg">EVIL()</svg:script>',
    "xhtml-script": '<script xmlns="http://www.w3.org/1999/xhtml">EVIL()</script>',
    "onload": f'<g onload="EVIL()">{SHAPE}</g>',
    "onclick-mixed-case": f'<rect OnClick="EVIL()" width="1" height="1"/>{SHAPE}',
    "set-javascript": '<a href="#x"><set attributeName="href" to="javascript:EVIL()"/></a>',
    "animate-values": '<a><animate attributeName="href" values="javascript:EVIL()"/></a>',
    "animate-transform": '<animateTransform attributeName="transform" type="rotate"/>',
    "animate-motion": '<animateMotion path="M0 0L9 9"><mpath href="#p"/></animateMotion>',
    "foreign-object": '<foreignObject><p xmlns="http://www.w3.org/1999/xhtml">EVIL<iframe '
    'src="http://example.org/"/></p></foreignObject>',
    "a-javascript": '<a xlink:href="javascript:EVIL()"><text>click</text></a>',
    "a-http": '<a href="https://example.org/EVIL"><text>go</text></a>',
    "image-http": '<image href="http://example.org/EVIL.png" width="9" height="9"/>',
    "image-relative-file": '<image xlink:href="photo.png" width="9" height="9"/>',
    "image-file-url": '<image href="file:///etc/passwd" width="9" height="9"/>',
    "image-svg-data-url": f'<image href="data:image/svg+xml;base64,{SVG_PAYLOAD.decode()}"/>',
    "image-svg-data-url-plain": "<image href=\"data:image/svg+xml,&lt;svg onload='EVIL()'/>\"/>",
    "use-external": '<use href="http://example.org/sprite.svg#EVIL"/>',
    "use-data-url": f'<use href="data:image/svg+xml;base64,{SVG_PAYLOAD.decode()}#x"/>',
    "feimage-http": '<filter id="f"><feImage href="https://example.org/EVIL.png"/></filter>',
    "style-import": "<style>@import url(http://example.org/EVIL.css); rect{fill:red}</style>",
    "style-import-string": "<style>@import 'https://example.org/EVIL.css';</style>",
    "style-font-face": "<style>@font-face{font-family:x;src:url(http://example.org/EVIL)}</style>",
    "style-url-in-rule": "<style>rect{fill:url(http://example.org/p#EVIL)}</style>",
    "style-escaped-url": "<style>rect{fill:u\\72l(http://example.org/EVIL)}</style>",
    "style-expression": "<style>rect{width:expression(EVIL())}</style>",
    "style-behavior": "<style>rect{behavior:url(EVIL.htc);-moz-binding:url(x.xml#EVIL)}</style>",
    "style-cdata": "<style><![CDATA[@import url(https://example.org/EVIL.css);]]></style>",
    "style-attribute-url": '<rect style="fill:url(https://example.org/EVIL#p)" width="1"/>',
    "style-attribute-image": '<rect style="background-image:url(EVIL.png)" width="1"/>',
    "fill-url": '<rect fill="url(http://example.org/EVIL#g)" width="1" height="1"/>',
    "filter-url": '<rect filter="url(http://example.org/EVIL#f)" width="1" height="1"/>',
    "mask-url-quoted": '<rect mask="url(\'https://example.org/EVIL#m\')" width="1"/>',
    "cursor-element": '<cursor href="http://example.org/EVIL.png"/>',
    "font-face-uri": '<font-face><font-face-src><font-face-uri href="http://example.org/EVIL"/>'
    "</font-face-src></font-face>",
    "xml-base": '<g xml:base="http://example.org/EVIL/"><use href="#r"/></g>',
    "iframe-handler-listener": '<iframe src="http://example.org/EVIL"/><handler>EVIL()</handler>'
    '<listener event="click" handler="#EVIL"/>',
    "xinclude": '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/EVIL"/>',
    "unknown-namespace": '<x:thing xmlns:x="urn:x" x:href="javascript:EVIL()"/>',
}


@pytest.mark.parametrize("vector", list(REMOVED), ids=list(REMOVED))
def test_vector_is_removed(vector: str) -> None:
    document = f"{OPEN}{SHAPE}{REMOVED[vector]}</svg>".encode()
    cleaned = clean_svg(document, "x.svg")
    assert_allowed(cleaned.data)
    assert b'fill="teal"' in cleaned.data  # the drawing itself stays
    assert cleaned.removed or vector in ("style-cdata",), cleaned.removed


def test_processing_instruction_comment_and_external_dtd_go_quietly() -> None:
    """An external DTD is named, never loaded (no_network, load_dtd=False); the
    DOCTYPE, a style sheet PI and comments are simply not rebuilt."""
    document = (
        b'<?xml version="1.0"?>\n<?xml-stylesheet href="http://example.org/EVIL.css"?>\n'
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        + OPEN.encode()
        + b"<!-- EVIL -->"
        + SHAPE.encode()
        + b"</svg>"
    )
    cleaned = clean_svg(document, "x.svg")
    assert_allowed(cleaned.data)
    assert b"DOCTYPE" not in cleaned.data


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE svg [\n<!ENTITY a "EVIL">\n]>',
        '<!DOCTYPE svg [\n<!ENTITY a "aaaaaaaaaa">\n<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">\n'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">\n]>',
        '<!DOCTYPE svg [\n<!ENTITY ext SYSTEM "file:///etc/passwd">\n]>',
        '<!DOCTYPE svg [\n<!ENTITY % remote SYSTEM "http://example.org/EVIL.dtd">\n%remote;\n]>',
    ],
    ids=["internal", "laughs", "external-file", "parameter"],
)
def test_entities_are_refused_with_their_line(doctype: str) -> None:
    use = "&c;" if "&b;" in doctype else "&ext;" if "ext" in doctype else "x"
    document = f'<?xml version="1.0"?>\n{doctype}\n{OPEN}<text>{use}</text></svg>'
    with pytest.raises(ResourceError) as caught:
        clean_svg(document.encode(), "e.svg")
    assert "image 'e.svg' declares XML entities in its DOCTYPE (line 3 of the SVG file)" in str(
        caught.value
    )


def use_bomb(levels: int = 9, copies: int = 10) -> bytes:
    """About 2 KB drawing a billion rectangles (copies ** levels): each group holds
    ten <use> copies of the one before, a "billion laughs" of <use>."""
    groups = "".join(
        f'<g id="g{n}">' + f'<use xlink:href="#g{n - 1}"/>' * copies + "</g>\n"
        for n in range(1, levels + 1)
    )
    return (
        f'{OPEN}\n<defs><rect id="g0" width="1" height="1"/>\n{groups}</defs>\n'
        f'<use xlink:href="#g{levels}"/></svg>'
    ).encode()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (use_bomb(), f"would draw more than {MAX_DRAWN} elements and characters (line "),
        (
            # a pattern painted on many shapes
            f'{OPEN}<defs><pattern id="p" width="1" height="1">{SHAPE * 50}</pattern></defs>'
            + '<rect fill="url(#p)" width="9" height="9"/>' * 300
            + "</svg>",
            "would draw more than",
        ),
        (
            # a marker at each of a path's vertices
            f'{OPEN}<marker id="m">{SHAPE * 20}</marker><path marker-mid="url(#m)" d="M0 0'
            + " L1 1" * 1000
            + '"/></svg>',
            "would draw more than",
        ),
        (
            # a mask applied from a <style> rule: counted as if it applied everywhere
            f'{OPEN}<style>.x{{mask:url(#k)}}</style><mask id="k">{SHAPE * 100}</mask>'
            + '<rect class="x" width="1" height="1"/>' * 200
            + "</svg>",
            "would draw more than",
        ),
        (
            # a gradient fill costs about five rectangles (3,000 of them took 8 s)
            f'{OPEN}<linearGradient id="g"><stop offset="0"/><stop offset="1"/></linearGradient>'
            + '<rect fill="url(#g)" width="9" height="9"/>' * 3000
            + "</svg>",
            "would draw more than",
        ),
        (
            # and each of its stops, wherever it is applied (5,000 stops on 10: 12 s)
            f'{OPEN}<linearGradient id="g">{"<stop/>" * 5000}</linearGradient>'
            + '<rect style="fill:url(#g)" width="9" height="9"/>' * 10
            + "</svg>",
            "would draw more than",
        ),
        (
            # text is laid out a character at a time: 100,000 of them took 35 s
            f'{OPEN}<text x="1" y="9">{"lorem ipsum " * 1000}</text></svg>',
            "would draw more than",
        ),
        (
            f'{OPEN}<defs><text id="t">{"lorem " * 100}</text></defs>'
            + '<use href="#t"/>' * 20
            + "</svg>",
            "would draw more than",
        ),
        (f"{OPEN}{'<g>' * 70}{SHAPE}{'</g>' * 70}</svg>", "nests its elements more than 64 deep"),
        (
            # a long chain of references, refused before it is followed to its end
            f"{OPEN}<defs>"
            + "".join(f'<g id="c{n}"><use href="#c{n + 1}"/></g>' for n in range(3000))
            + '<rect id="c3000" width="1"/></defs><use href="#c0"/></svg>',
            "nests its elements more than 64 deep",
        ),
        (f"{OPEN}{'<g/>' * 50_001}</svg>", "has more than 50000 elements"),
        (
            f'{OPEN}<g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g></svg>',
            "refers to itself",
        ),
        (
            # a loop nothing draws is refused too: renderers resolve references eagerly
            f'{OPEN}<defs><linearGradient id="a" href="#b"/><linearGradient id="b" '
            'href="#a"/></defs></svg>',
            "refers to itself",
        ),
    ],
    ids=[
        "use-bomb",
        "pattern",
        "marker",
        "style-mask",
        "gradient-fills",
        "gradient-stops",
        "long-text",
        "text-copies",
        "deep",
        "chain",
        "many",
        "use-loop",
        "gradient-loop",
    ],
)
def test_costly_svg_is_refused(document: str | bytes, message: str) -> None:
    data = document.encode() if isinstance(document, str) else document
    with pytest.raises(ResourceError) as caught:
        clean_svg(data, "cost.svg")
    assert message in str(caught.value), str(caught.value)


def test_use_bomb_is_small() -> None:
    assert len(use_bomb()) < 2500


def test_within_the_budget_is_kept() -> None:
    document = f'{OPEN}<defs><g id="a">{SHAPE * 4}</g></defs>' + '<use href="#a"/>' * 1000
    cleaned = clean_svg((document + "</svg>").encode(), "ok.svg")
    assert cleaned.removed == ()
    assert cleaned.data.count(b"<use") == 1000


@pytest.mark.parametrize("kind", ["png", "jpeg", "gif", "webp"])
def test_embedded_raster_is_kept_when_whole(kind: str) -> None:
    payload = raster(kind.upper())
    document = f'{OPEN}<image href="{data_url(kind, payload)}" width="9" height="9"/></svg>'
    cleaned = clean_svg(document.encode(), "x.svg")
    assert cleaned.removed == ()
    assert data_url(kind, payload).encode() in cleaned.data


@pytest.mark.parametrize(
    "href",
    [
        data_url("png", raster("PNG")[:60]),  # truncated
        data_url("png", raster("JPEG")),  # another type than it says
        data_url("png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 20),
        "data:image/png;base64,!!!not base64!!!",
        data_url("bmp", raster("BMP")),
    ],
    ids=["truncated", "mislabelled", "garbage", "not-base64", "bmp"],
)
def test_embedded_raster_is_removed_when_broken(href: str) -> None:
    document = f'{OPEN}{SHAPE}<image href="{href}" width="9" height="9"/></svg>'
    cleaned = clean_svg(document.encode(), "x.svg")
    assert b"<image" not in cleaned.data
    assert cleaned.removed


# --- whole builds -------------------------------------------------------------------------------


def test_hostile_svg_builds_to_clean_outputs(tmp_path: Path) -> None:
    """Every vector in one drawing: the build warns once, at the Markdown line, and
    neither output holds any of them."""
    hostile = f"{OPEN}{SHAPE}{''.join(REMOVED.values())}</svg>"
    folder = book_with(tmp_path, {"hostile.svg": hostile}, "Text.\n\n![A drawing](hostile.svg)\n")
    result = run_build(folder, tmp_path / "out")
    packaged = members(output(result, "epub"))["EPUB/images/hostile.svg"]
    assert_allowed(packaged)
    for name, data in members(output(result, "epub")).items():
        assert b"EVIL" not in data, name
    assert b"EVIL" not in output(result, "pdf").read_bytes()


@pytest.mark.slow  # EPUBCheck
def test_hostile_svg_epub_passes_epubcheck(tmp_path: Path) -> None:
    hostile = f"{OPEN}{SHAPE}{''.join(REMOVED.values())}</svg>"
    inkscape = inkscape_svg()
    folder = book_with(
        tmp_path,
        {"hostile.svg": hostile, "inkscape.svg": inkscape},
        "![A drawing](hostile.svg)\n\n![A map](inkscape.svg)\n",
    )
    result = run_build(folder, tmp_path / "out", ("epub",))
    assert epubcheck_errors(output(result, "epub")) == []


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bomb.svg", use_bomb()),
        ("entity.svg", b'<!DOCTYPE svg [<!ENTITY a "x">]>\n' + OPEN.encode() + b"&a;</svg>"),
    ],
    ids=["use-bomb", "entity"],
)
def test_refused_svg_stops_the_build_in_one_line(tmp_path: Path, name: str, content: bytes) -> None:
    folder = book_with(tmp_path, {name: content}, f"Text.\n\n![A drawing]({name})\n")
    with pytest.raises(PublisherError) as caught:
        run_build(folder, tmp_path / "out")
    message = str(caught.value)
    assert message.startswith(f"{folder / 'book.md'}:8: error: image '{name}' "), message
    assert "\n" not in message
    assert not (tmp_path / "out").exists()


def garbage_after_header(kind: str, size: tuple[int, int]) -> bytes:
    """A file whose header is right and whose image data is garbage (random
    bytes, the same each run)."""
    import random

    data = bytearray(raster(kind, size, "teal"))
    start = {"PNG": 60, "JPEG": 700, "GIF": 40, "WEBP": 40}[kind]
    noise = random.Random(18)
    for i in range(start, len(data) - 16):
        data[i] = noise.randrange(256)
    return bytes(data)


@pytest.mark.parametrize(
    ("kind", "file", "content"),
    [
        ("PNG", "garbage.png", garbage_after_header("PNG", (64, 64))),
        ("PNG", "big-garbage.png", garbage_after_header("PNG", (2500, 2500))),
        ("PNG", "truncated.png", raster("PNG", (300, 300))[:-200]),
        ("JPEG", "truncated.jpg", raster("JPEG", (300, 300))[:400]),
        ("JPEG", "garbage.jpg", garbage_after_header("JPEG", (300, 300))),
        ("GIF", "truncated.gif", raster("GIF", (300, 300))[:-300]),
        ("WEBP", "truncated.webp", raster("WEBP", (300, 300))[:-100]),
    ],
    ids=["png", "big-png", "png-cut", "jpeg-cut", "jpeg", "gif-cut", "webp-cut"],
)
def test_broken_raster_is_one_error_naming_file_and_line(
    tmp_path: Path, kind: str, file: str, content: bytes
) -> None:
    folder = book_with(tmp_path, {file: content}, f"Text.\n\n![A photo]({file})\n")
    with pytest.raises(PublisherError) as caught:
        run_build(folder, tmp_path / "out")
    message = str(caught.value)
    assert message.startswith(
        f"{folder / 'book.md'}:8: error: image '{file}' is not a valid {kind} file ("
    ), message
    assert message.endswith("(re-export the image or fix its file extension)")
    assert caught.value.exit_code == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # the CLI in a process: exit code and stderr as a user sees them
def test_big_broken_png_is_exit_2_not_an_internal_error(tmp_path: Path) -> None:
    import sys

    folder = book_with(
        tmp_path,
        {"big.png": garbage_after_header("PNG", (3000, 3000))},
        "![A photo](big.png)\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    proc = subprocess.run(
        [sys.executable, "-m", "publisher", "build", str(folder), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "image 'big.png' is not a valid PNG file" in lines[0], proc.stderr


def test_pillow_bomb_guard_is_left_alone(tmp_path: Path) -> None:
    """Pillow's guard is process-wide: reading an image must not switch it off."""
    limit = Image.MAX_IMAGE_PIXELS
    folder = book_with(tmp_path, {"ok.png": raster("PNG")}, "![A photo](ok.png)\n")
    run_build(folder, tmp_path / "out", ("epub",))
    assert limit is not None and limit == Image.MAX_IMAGE_PIXELS


def test_truncated_image_is_refused_after_weasyprint_is_loaded(tmp_path: Path) -> None:
    """WeasyPrint switches Pillow's LOAD_TRUNCATED_IMAGES on for the whole process
    when it is imported (as in `watch` and `serve`, after the first build): the
    check holds all the same, and leaves the switch as it found it."""
    import weasyprint  # noqa: F401
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    cut = raster("PNG", (300, 300))[:-200]
    folder = book_with(tmp_path, {"cut.png": cut}, "![A photo](cut.png)\n")
    with pytest.raises(PublisherError, match=re.escape("image 'cut.png' is not a valid PNG file")):
        run_build(folder, tmp_path / "out", ("epub",))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def exif_rotated_jpeg() -> bytes:
    """Stored 200 x 100, left half red and right half blue, EXIF orientation 6
    (turn 90 degrees clockwise): upright it is 100 x 200, red above and blue below."""
    image = Image.new("RGB", (200, 100), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=95)
    return out.getvalue()


def colour(pixel: tuple[int, ...]) -> str:
    r, b = pixel[0], pixel[2]
    return "red" if r > 180 and b < 90 else "blue" if b > 180 and r < 90 else "other"


def test_exif_rotated_jpeg_is_upright_in_both_outputs(tmp_path: Path) -> None:
    folder = book_with(tmp_path, {"photo.jpg": exif_rotated_jpeg()}, "![A photo](photo.jpg)\n")
    result = run_build(folder, tmp_path / "out")
    packaged = members(output(result, "epub"))["EPUB/images/photo.jpg"]
    with Image.open(io.BytesIO(packaged)) as image:
        assert image.size == (100, 200)
        assert image.getexif().get(0x0112, 1) == 1  # no reader turns it again
        assert colour(image.getpixel((50, 20))) == "red"
        assert colour(image.getpixel((50, 180))) == "blue"
    # The PDF: WeasyPrint honours the orientation (image-orientation: from-image).
    tool = need("pdftoppm")
    pdf = output(result, "pdf")
    subprocess.run([tool, "-r", "50", "-png", str(pdf), str(tmp_path / "page")], check=True)
    page = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")
    coloured = [
        (x, y, c)
        for y in range(0, page.height, 2)
        for x in range(0, page.width, 2)
        if (c := colour(page.getpixel((x, y)))) != "other"
    ]
    xs = [x for x, _, _ in coloured]
    ys = [y for _, y, _ in coloured]
    assert max(ys) - min(ys) > 1.5 * (max(xs) - min(xs)), "the picture lies on its side"
    middle = (max(ys) + min(ys)) / 2
    assert all(c == "red" for _, y, c in coloured if y < middle - 3)
    assert all(c == "blue" for _, y, c in coloured if y > middle + 3)


def inkscape_svg() -> str:
    """An SVG as Inkscape saves one with an embedded image: its own namespaces,
    namedview and metadata, and the PNG as a base64 data URL wrapped in lines."""
    picture = Image.new("RGB", (40, 20), (255, 0, 0))
    picture.paste((0, 0, 255), (0, 0, 20, 20))
    out = io.BytesIO()
    picture.save(out, "PNG")
    wrapped = base64.encodebytes(out.getvalue()).decode()
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!-- Created with Inkscape (http://www.inkscape.org/) -->
<svg width="80mm" height="40mm" viewBox="0 0 80 40" version="1.1" id="svg1"
   inkscape:version="1.2.2 (b0a8486541, 2022-12-01)" sodipodi:docname="map.svg"
   xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
   xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
   xmlns:xlink="http://www.w3.org/1999/xlink" xmlns="http://www.w3.org/2000/svg"
   xmlns:svg="http://www.w3.org/2000/svg"
   xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
   xmlns:cc="http://creativecommons.org/ns#" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <sodipodi:namedview id="namedview1" pagecolor="#ffffff" inkscape:zoom="1"/>
  <defs id="defs1">
    <linearGradient id="fade" inkscape:collect="always">
      <stop offset="0" style="stop-color:#00ff00;stop-opacity:1"/>
      <stop offset="1" style="stop-color:#00ff00;stop-opacity:0"/>
    </linearGradient>
  </defs>
  <metadata id="metadata1"><rdf:RDF><cc:Work rdf:about=""><dc:title>Map</dc:title>
  </cc:Work></rdf:RDF></metadata>
  <g inkscape:label="Layer 1" inkscape:groupmode="layer" id="layer1">
    <image width="40" height="20" preserveAspectRatio="none" style="image-rendering:optimizeSpeed"
       xlink:href="data:image/png;base64,{wrapped}" id="image1" x="0" y="0"/>
    <rect style="fill:url(#fade);stroke:#000000;stroke-width:0.5" id="rect1"
       width="30" height="15" x="45" y="2"/>
    <text xml:space="preserve" style="font-size:4px;font-family:sans-serif" x="45" y="30"
       id="text1"><tspan sodipodi:role="line" id="tspan1" x="45" y="30">Map</tspan></text>
  </g>
</svg>
"""


def test_inkscape_svg_with_embedded_png_is_kept_in_both_outputs(tmp_path: Path) -> None:
    import pikepdf

    folder = book_with(tmp_path, {"map.svg": inkscape_svg()}, "![A map](map.svg)\n")
    result = run_build(folder, tmp_path / "out")
    assert [str(d) for d in result.diagnostics] == []
    packaged = members(output(result, "epub"))["EPUB/images/map.svg"]
    assert_allowed(packaged)
    href = etree.fromstring(packaged).find(f".//{{{SVG}}}image").get(f"{{{XLINK}}}href")
    assert href.startswith("data:image/png;base64,iVBOR")
    with Image.open(io.BytesIO(base64.b64decode(href.split(",", 1)[1]))) as embedded:
        assert embedded.size == (40, 20)
    with pikepdf.open(output(result, "pdf")) as pdf:
        sizes = [
            (int(obj.get("/Width")), int(obj.get("/Height")))
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == "/Image"
        ]
    assert (40, 20) in sizes, sizes


# --- generated SVG ----------------------------------------------------------------------------

ELEMENT_NAMES = [
    *sorted(ELEMENTS),
    "script", "foreignObject", "set", "animate", "animateTransform", "iframe", "handler",
    "font-face-uri", "cursor", "metadata", "svg:script", "h:script", "xi:include",
]  # fmt: skip
ATTRIBUTE_NAMES = [
    "fill", "stroke", "style", "transform", "d", "x", "width", "id", "class",
    "onload", "onclick", "xml:base", "xlink:href", "href", "to", "values", "begin", "src",
    "filter", "mask", "clip-path", "marker-mid", "requiredExtensions", "xlink:title",
]  # fmt: skip
VALUES = [
    "red", "#fff", "1", "0 0 10 10", "M0 0L5 5z", "url(#a)", "url(#b)", "#a", "#b",
    "url(http://example.org/EVIL)", "u\\72l(http://example.org/EVIL)", "javascript:EVIL()",
    "expression(EVIL())", "data:image/svg+xml;base64,PHN2Zy8+", "rotate(45)",
    "rgb(1,2,3)", "url('https://example.org/EVIL#x')", "a", "b",
    data_url("png", raster("PNG", (4, 4))), data_url("gif", b"GIF89a garbage"),
]  # fmt: skip
CSS = [
    "fill:red", "stroke:url(#a)", "fill:url(http://example.org/EVIL)", "@import 'x.css';",
    "behavior:url(EVIL.htc)", "font-family:'Serif'", "width:expression(EVIL())",
    "mask:url(#b)", "background:url(EVIL.png)", "fill:u\\72l(https://example.org/EVIL)",
    "@font-face{src:url(http://example.org/EVIL)}", "opacity:.5!important", "}{", "/*",
]  # fmt: skip
NAMESPACES = (
    'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:svg="http://www.w3.org/2000/svg" xmlns:h="http://www.w3.org/1999/xhtml" '
    'xmlns:xi="http://www.w3.org/2001/XInclude"'
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


@st.composite
def svg_documents(draw: st.DrawFn, depth: int = 0) -> str:
    def attributes() -> str:
        out = []
        for name in draw(st.lists(st.sampled_from(ATTRIBUTE_NAMES), max_size=4, unique=True)):
            if name == "style":
                value = ";".join(draw(st.lists(st.sampled_from(CSS), max_size=3)))
            else:
                value = draw(st.sampled_from(VALUES))
            out.append(f' {name}="{_escape(value)}"')
        return "".join(out)

    def element(level: int) -> str:
        name = draw(st.sampled_from(ELEMENT_NAMES))
        if name == "style":
            return "<style>" + _escape(" ".join(draw(st.lists(st.sampled_from(CSS))))) + "</style>"
        children = ""
        if level < 4:
            children = "".join(element(level + 1) for _ in range(draw(st.integers(0, 3))))
        text = draw(
            st.sampled_from(["", "words", "alert(1)", "<![CDATA[alert(1)]]>", "<!-- c -->"])
        )
        return f"<{name}{attributes()}>{text}{children}</{name}>"

    body = "".join(element(0) for _ in range(draw(st.integers(1, 5))))
    return f"<svg {NAMESPACES}{attributes()}>{body}</svg>"


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(svg_documents())
def test_generated_svg_cleans_to_the_allow_list(document: str) -> None:
    try:
        cleaned = clean_svg(document.encode(), "generated.svg")
    except ResourceError as error:  # a loop through the generated ids: refused in one line
        assert "\n" not in str(error) and "refers to itself" in str(error)
        return
    assert_allowed(cleaned.data)
    again = clean_svg(cleaned.data, "again.svg")  # nothing left to remove
    assert again.removed == () and again.data == cleaned.data


@pytest.mark.slow  # builds books, then one EPUBCheck run for all of them
def test_generated_svgs_build_to_an_epub_epubcheck_accepts(tmp_path: Path) -> None:
    documents: list[str] = []

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # each try is a build
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(svg_documents())
    def one(document: str) -> None:
        folder = tmp_path / f"book-{len(documents)}"
        shutil.rmtree(folder, ignore_errors=True)
        book_with(folder, {"x.svg": document}, "![A drawing](x.svg)\n")
        try:
            run_build(folder / "book", folder / "out", ("epub",))
        except PublisherError as error:
            assert "\n" not in str(error) and ": error: image 'x.svg' " in str(error)
            return
        documents.append(document)

    one()
    folder = book_with(
        tmp_path / "all",
        {f"{n}.svg": document for n, document in enumerate(documents)},
        "".join(f"![Drawing {n}]({n}.svg)\n\n" for n in range(len(documents))),
    )
    result = run_build(folder, tmp_path / "all-out", ("epub",))
    assert epubcheck_errors(output(result, "epub")) == [], "\n----\n".join(documents)


def test_the_budget_is_documented() -> None:
    catalogue = (Path(__file__).parent.parent / "docs" / "errors.md").read_text()
    assert f"more than {svg_module.MAX_DRAWN} elements" in catalogue
    assert f"more than {svg_module.MAX_ELEMENTS} elements" in catalogue
    assert f"more than {svg_module.MAX_DEPTH} deep" in catalogue


def test_an_exif_rotated_cover_is_upright_in_the_epub(tmp_path: Path) -> None:
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "cover.jpg").write_bytes(exif_rotated_jpeg())
    (folder / "book.md").write_text(
        "---\ntitle: Turned\ncover-image: cover.jpg\n---\n\nText.\n", encoding="utf-8"
    )
    result = run_build(folder, tmp_path / "out", ("epub",))
    packaged = members(output(result, "epub"))["EPUB/images/cover.jpg"]
    with Image.open(io.BytesIO(packaged)) as image:
        assert image.size == (100, 200)
        assert image.getexif().get(0x0112, 1) == 1
        assert colour(image.getpixel((50, 20))) == "red"
