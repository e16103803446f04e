"""What makes builds fast must not change what they make: the PDF made in a forked
child is the PDF made here, its warnings and errors arrive as if made here, and a
build with nothing to do, or `invoke --list`, never loads WeasyPrint."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

import publisher.pdf.layout
from publisher import forked
from publisher.errors import ResourceError
from publisher.pdf import job as pdfjob

from conftest import ARTICLE, GUIDE, ROOT, STYLES, Built, Warnings, build_book

NOVEL = ROOT / "examples" / "novel"

pytestmark = pytest.mark.slow


def _forked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdfjob, "start", pdfjob.ForkedPdfJob)


def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdfjob, "start", lambda styles, lang: pdfjob.PdfJob())


def test_forked_and_in_process_builds_are_byte_identical(
    article: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forked(monkeypatch)
    forked = build_book(ARTICLE, tmp_path / "forked")
    _in_process(monkeypatch)
    here = build_book(ARTICLE, tmp_path / "here")
    for built in (forked, article):
        assert built.pdf.read_bytes() == here.pdf.read_bytes()
        assert built.epub.read_bytes() == here.epub.read_bytes()


def test_the_childs_warnings_reach_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = publisher.pdf.layout.layout
    parent = os.getpid()

    def warning_layout(inputs: publisher.pdf.layout.PdfInputs) -> publisher.pdf.layout.Layout:
        logging.getLogger("publisher").warning("laid out in process %d", os.getpid())
        return layout(inputs)

    monkeypatch.setattr(publisher.pdf.layout, "layout", warning_layout)
    _forked(monkeypatch)
    kept = Warnings()
    logger = logging.getLogger("publisher")
    logger.addHandler(kept)
    try:
        build_book(ARTICLE, tmp_path)
    finally:
        logger.removeHandler(kept)
    messages = [m for m in kept.messages if m.startswith("laid")]
    assert len(messages) == 1
    assert messages[0] != f"laid out in process {parent}"  # made in the child, told here


def test_the_childs_errors_are_raised_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_layout(inputs: publisher.pdf.layout.PdfInputs) -> publisher.pdf.layout.Layout:
        raise ResourceError("no font can print '?'", hint="install one")

    jobs: list[pdfjob.ForkedPdfJob] = []

    def start(styles: Path, lang: str) -> pdfjob.PdfJob:
        jobs.append(pdfjob.ForkedPdfJob(styles, lang))
        return jobs[-1]

    monkeypatch.setattr(publisher.pdf.layout, "layout", failing_layout)
    monkeypatch.setattr(pdfjob, "start", start)
    with pytest.raises(ResourceError, match="no font can print") as caught:
        build_book(ARTICLE, tmp_path)
    assert caught.value.hint == "install one"
    assert not (tmp_path / "putin-visits-china-to-strengthen-partnership.epub").exists()
    assert [job.closed for job in jobs] == [True]
    for _ in range(100):  # it exits on its own, and is reaped by the next job
        forked.reap_exited()
        if not forked._exiting:
            break
        time.sleep(0.05)
    assert not forked._exiting


def test_a_dead_child_is_replaced_by_this_process(
    article: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = publisher.pdf.layout.layout
    parent = os.getpid()

    def dying_layout(inputs: publisher.pdf.layout.PdfInputs) -> publisher.pdf.layout.Layout:
        if os.getpid() != parent:
            os._exit(9)
        return layout(inputs)

    monkeypatch.setattr(publisher.pdf.layout, "layout", dying_layout)
    _forked(monkeypatch)
    again = build_book(ARTICLE, tmp_path)
    assert again.pdf.read_bytes() == article.pdf.read_bytes()
    assert again.epub.read_bytes() == article.epub.read_bytes()


def _imports_weasyprint(script: str, *args: str) -> bool:
    """Whether WeasyPrint ends up loaded in the process that runs `script`."""
    probe = f"{script}\nimport sys\nprint('weasyprint' in sys.modules)\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip().splitlines()[-1] == "True"


def test_neither_invoke_list_nor_a_build_loads_weasyprint_in_the_main_process(
    tmp_path: Path,
) -> None:
    listing = (
        "import sys\nfrom invoke.program import Program\n"
        f"try:\n    Program(binary='invoke').run(['invoke', '-r', {str(ROOT)!r}, '--list'])\n"
        "except SystemExit:\n    pass"
    )
    assert not _imports_weasyprint(listing)
    build = (
        "from pathlib import Path\nfrom publisher.build import build\n"
        "from publisher.model import BuildOptions\n"
        f"result = build(BuildOptions(Path({str(ARTICLE)!r}), Path({str(tmp_path)!r}), "
        f"Path({str(STYLES)!r})))"
    )
    assert not _imports_weasyprint(build)  # made in the child
    assert (tmp_path / "putin-visits-china-to-strengthen-partnership.pdf").is_file()
    noop = build + "\nassert all(not out.rebuilt for out in result.outputs)"
    assert not _imports_weasyprint(noop)


def test_a_cover_made_ahead_is_the_cover_made_on_demand() -> None:
    from publisher.epub import cover
    from publisher.source.manuscript import load

    meta = load(ARTICLE).meta
    fonts = STYLES / "fonts"
    expected = cover.make_cover(meta, fonts)
    cover.prepare_cover(meta, fonts)
    assert cover.make_cover(meta, fonts) == expected
    assert not cover._ready
    # Drawn in a forked child (an EPUB alone), the same bytes; a cover prepared but
    # never asked for (a failed build) leaves no child behind.
    cover.prepare_cover(meta, fonts, aside=True)
    assert isinstance(cover._ready[(meta, fonts)], cover._Aside)
    assert cover.make_cover(meta, fonts) == expected
    cover.prepare_cover(meta, fonts, aside=True)
    pid = cover._ready[(meta, fonts)].child.pid  # type: ignore[union-attr]
    cover.prepare_cover(meta, fonts)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    cover._ready.clear()


def test_kept_page_references_write_the_same_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    import pydyf

    from publisher.build import render
    from publisher.pdf.weasyprint.load import load_weasyprint

    load_weasyprint()
    kept = pydyf.PDF.page_references
    laid_out = publisher.pdf.layout.layout(
        publisher.pdf.layout.PdfInputs(render(ARTICLE), STYLES, None)
    )
    fast = laid_out.write()
    monkeypatch.setattr(pydyf.PDF, "page_references", kept.fget.pydyf_original)
    assert laid_out.write() == fast


def _laid_out_twice(
    manuscript: Path, style: str | None, unpatched: Callable[[pytest.MonkeyPatch], None]
) -> tuple[bytes, bytes]:
    """The PDF of a book with weasy_speed's patches, then with one of them undone."""
    from publisher.build import render
    from publisher.source.styles import load_style

    inputs = publisher.pdf.layout.PdfInputs(
        render(manuscript), STYLES, None, style=load_style(STYLES, style) if style else None
    )
    fast = publisher.pdf.layout.layout(inputs).write()
    with pytest.MonkeyPatch.context() as monkeypatch:
        unpatched(monkeypatch)
        slow = publisher.pdf.layout.layout(inputs).write()
    return fast, slow


@pytest.mark.parametrize(
    ("manuscript", "style"), [(GUIDE, None), (NOVEL, "classic")], ids=["guide", "novel-classic"]
)
def test_shared_page_styles_write_the_same_pdf(manuscript: Path, style: str | None) -> None:
    from publisher.pdf.weasyprint.load import load_weasyprint

    load_weasyprint()
    from weasyprint.layout import page

    shared = page.set_page_type_computed_styles
    assert hasattr(shared, "publisher_original")  # installed on WeasyPrint 70
    made: list[Any] = []

    def counting(page_type: Any, html: Any, style_for: Any) -> None:
        made.append(style_for)
        shared(page_type, html, style_for)

    def unshared(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(page, "set_page_type_computed_styles", shared.publisher_original)

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(page, "set_page_type_computed_styles", counting)
        fast, slow = _laid_out_twice(manuscript, style, unshared)
    assert fast == slow
    # The patch did share: pages of the same kind, one set of styles.
    computed = made[0].get_computed_styles()
    styles = [v for (key, pseudo), v in computed.items() if isinstance(key, page.PageType)]
    assert len({id(v) for v in styles}) < len(styles)


def test_cached_tokenizer_regexes_write_the_same_pdf() -> None:
    import tinyhtml5
    from tinyhtml5 import inputstream

    from publisher.build import render
    from publisher.pdf.weasyprint.load import load_weasyprint

    load_weasyprint()
    cached = inputstream.characters_until_regex
    assert type(cached).__name__ == "_TokenizerRegexes"  # installed on tinyhtml5 2.1

    def uncached(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(inputstream, "characters_until_regex", {})

    fast, slow = _laid_out_twice(GUIDE, None, uncached)
    assert fast == slow
    html = publisher.pdf.layout.print_html(render(GUIDE))
    tree = ElementTree.tostring(tinyhtml5.parse(html))
    with pytest.MonkeyPatch.context() as monkeypatch:
        uncached(monkeypatch)
        assert ElementTree.tostring(tinyhtml5.parse(html)) == tree
    assert len(cached) < 100  # each set of characters compiled once


# Backgrounds of every kind WeasyPrint lays out, next to plain boxes; none of the
# project's styles has one, so the test brings its own page.
BACKGROUNDS = """<!DOCTYPE html><html lang="en"><head><style>
@page { size: A6; margin: 1cm; background: #eef; @top-center { content: "Head";
  background: #fee; border-radius: 3px } }
body { font-family: serif; color: #333 }
.color { background-color: #ffc } .round { border: 1px solid; border-radius: 4px 0 }
.half { border: 1px solid; border-top-left-radius: 10% }
.logical { border: 1px solid; border-start-end-radius: 6px }
.shadow { box-shadow: 2px 2px 3px #888 } .current { color: teal; background: currentcolor }
.hidden { visibility: hidden; background: red } .alpha { background: rgba(0, 0, 0, 0) }
.gradient { background-image: linear-gradient(red, blue) }
.image { background: url("data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'
  width='4' height='4'><rect width='4' height='4' fill='green'/></svg>") repeat }
.border-image { border: 4px solid; border-image: linear-gradient(red, blue) 1 }
p::first-line { background: #dfd } tr:nth-child(2) { background: #ddf }
span.mark { background: yellow; border-radius: 2px }
</style></head><body>
<p>Plain text, <span class="mark">marked</span> and <em>plain</em> again, long enough
to wrap over a second line of this small page.</p>
<div class="color">color</div><div class="round">round</div><div class="half">half</div>
<div class="logical">logical</div><div class="shadow">shadow</div>
<div class="current">current</div><div class="hidden">hidden</div>
<div class="alpha">alpha</div><div class="gradient">gradient</div>
<div class="image">image</div><div class="border-image">border image</div>
<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>
<ul><li>one</li><li>two</li></ul>
</body></html>"""


def test_plain_backgrounds_skipped_write_the_same_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher.pdf.weasyprint.load import load_weasyprint

    load_weasyprint()
    import weasyprint
    from weasyprint.layout import background

    skipping = background.layout_box_backgrounds
    assert hasattr(skipping, "publisher_original")  # installed on WeasyPrint 70
    fast = weasyprint.HTML(string=BACKGROUNDS).write_pdf()
    monkeypatch.setattr(background, "layout_box_backgrounds", skipping.publisher_original)
    assert weasyprint.HTML(string=BACKGROUNDS).write_pdf() == fast

    def unskipped(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(background, "layout_box_backgrounds", skipping.publisher_original)

    monkeypatch.setattr(background, "layout_box_backgrounds", skipping)
    fast, slow = _laid_out_twice(GUIDE, None, unskipped)
    assert fast == slow


def test_pages_without_fixed_boxes_are_not_walked_and_the_pdf_is_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WeasyPrint laid out, on each page, the fixed boxes of every other page,
    walking all of them in Python: quadratic in pages. Only pages with fixed boxes
    reach its function now; the bytes are the same, with a fixed box or without."""
    from publisher.pdf.weasyprint.load import load_weasyprint

    load_weasyprint()
    import weasyprint
    from weasyprint import layout

    skipping = layout.layout_fixed_boxes
    assert hasattr(skipping, "publisher_original")  # installed on WeasyPrint 70
    original = skipping.publisher_original
    walked = 0

    def counted(context: object, pages: list[object], containing_page: object) -> object:
        nonlocal walked
        walked += len(pages)
        return original(context, pages, containing_page)

    pages = "".join(f'<p style="break-after: page">{n}</p>' for n in range(40))
    fixed = '<div style="position: fixed; top: 0">Fixed</div>' + pages
    monkeypatch.setattr(skipping, "publisher_original", counted)  # the patch calls through it
    plain_fast = weasyprint.HTML(string=pages).write_pdf()
    assert walked == 0
    fixed_fast = weasyprint.HTML(string=fixed).write_pdf()
    assert 0 < walked <= 2 * 40  # the one page with a fixed box, seen from each page
    monkeypatch.setattr(layout, "layout_fixed_boxes", original)
    walked = 0
    assert weasyprint.HTML(string=pages).write_pdf() == plain_fast
    assert weasyprint.HTML(string=fixed).write_pdf() == fixed_fast


def test_boxes_waiting_for_a_page_number_are_found_by_their_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A contents line shows its chapter's page (target-counter): WeasyPrint told
    each such box of every target's page by looking at all of them, for each
    target: quadratic. The patch looks only at the boxes waiting for that target
    (counted here: each box's list of awaited targets, read); the PDF is the same."""
    from publisher.pdf.weasyprint.load import load_weasyprint

    load_weasyprint()
    import weasyprint
    from weasyprint.css import targets

    indexed = targets.TargetCollector.cache_target_page_counters
    assert hasattr(indexed, "publisher_original")  # installed on WeasyPrint 70
    reads = 0

    def read(item: object) -> object:
        nonlocal reads
        reads += 1
        return item.__dict__["_awaited"]

    def write(item: object, value: object) -> None:
        item.__dict__["_awaited"] = value

    awaited = property(read, write)
    monkeypatch.setattr(
        targets.CounterLookupItem, "missing_target_counters", awaited, raising=False
    )
    n = 40
    contents = "".join(f'<li><a href="#c{i}">{i}</a></li>' for i in range(n))
    chapters = "".join(f'<h1 id="c{i}" style="break-before: page">{i}</h1>' for i in range(n))
    css = "<style>a::after { content: target-counter(attr(href url), page) }</style>"
    html = f"{css}<ol>{contents}</ol>{chapters}"
    fast = weasyprint.HTML(string=html).write_pdf()
    fast_reads, reads = reads, 0
    monkeypatch.setattr(
        targets.TargetCollector, "cache_target_page_counters", indexed.publisher_original
    )
    assert weasyprint.HTML(string=html).write_pdf() == fast
    assert fast_reads <= 4 * n < n * n <= reads, (fast_reads, reads)


def test_fewer_collections_write_the_same_pdf() -> None:
    import contextlib
    import gc

    from publisher.pdf.weasyprint.load import load_weasyprint
    from publisher.pdf.weasyprint.speed import fewer_collections

    load_weasyprint()
    before = gc.get_threshold()

    def every_collection(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(
            publisher.pdf.layout, "fewer_collections", lambda **_: contextlib.nullcontext()
        )

    fast, slow = _laid_out_twice(GUIDE, None, every_collection)
    assert fast == slow
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    with fewer_collections():
        assert gc.get_threshold()[0] == max(before[0], 100_000)
        with fewer_collections(1000):  # a higher threshold is kept
            assert gc.get_threshold()[0] == max(before[0], 100_000)
        assert gc.get_freeze_count() == 0
        with fewer_collections(freeze=True):
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_streams_made_once_write_the_same_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    import zlib

    import pydyf

    from publisher.build import render
    from publisher.pdf.weasyprint.load import load_weasyprint

    load_weasyprint()
    once = pydyf.PDF.write
    assert hasattr(once, "publisher_original")  # installed on pydyf 0.13
    laid_out = publisher.pdf.layout.layout(
        publisher.pdf.layout.PdfInputs(render(GUIDE), STYLES, None)
    )
    compressions = []
    compressobj = zlib.compressobj

    def counted(*args: Any, **kwargs: Any) -> Any:
        compressions.append(1)
        return compressobj(*args, **kwargs)

    monkeypatch.setattr(zlib, "compressobj", counted)
    fast = laid_out.write()
    made_once = len(compressions)
    monkeypatch.setattr(pydyf.PDF, "write", once.publisher_original)
    assert laid_out.write() == fast
    assert 0 < made_once < len(compressions) - made_once  # each stream compressed once
    assert pydyf.Stream.data.fget.__name__ == "data"  # the original is back
    assert pydyf.Stream.data.fget.__module__ == "pydyf"


def test_a_dot_leader_is_drawn_as_one_run_that_looks_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contents' leaders, one text run each instead of a box per dot: a
    smaller, faster PDF with the same text and the same page."""
    from PIL import Image, ImageChops
    from weasyprint.layout import inline

    from publisher.build import render
    from publisher.pdf.weasyprint.load import load_weasyprint

    from conftest import need, pdftotext

    load_weasyprint()
    inputs = publisher.pdf.layout.PdfInputs(render(GUIDE), STYLES, None)
    runs = tmp_path / "runs.pdf"
    runs.write_bytes(publisher.pdf.layout.layout(inputs).write())
    monkeypatch.setattr(inline, "handle_leader", inline.handle_leader.publisher_original)
    boxes = tmp_path / "boxes.pdf"
    boxes.write_bytes(publisher.pdf.layout.layout(inputs).write())
    assert runs.stat().st_size < boxes.stat().st_size
    text = pdftotext(runs)
    # The same characters (pdftotext puts spaces between runs its own way).
    assert "".join(text.split()) == "".join(pdftotext(boxes).split())
    contents = next(n for n, page in enumerate(text.split("\f"), 1) if "Contents" in page)
    tool = need("pdftoppm")
    images = []
    for pdf in (runs, boxes):
        prefix = tmp_path / pdf.stem
        subprocess.run(
            [tool, "-r", "100", "-f", str(contents), "-l", str(contents), "-png", "-singlefile",
             str(pdf), str(prefix)],
            check=True,
        )  # fmt: skip
        images.append(Image.open(f"{prefix}.png").convert("L"))
    # Anti-aliasing only: glyphs placed a fraction of a pixel apart (measured: 0.14 %
    # of the pixels, by at most a quarter of the grey scale); no dot moved or gone.
    counts = ImageChops.difference(*images).histogram()  # pixels by grey difference
    assert sum(counts[1:]) < 0.005 * sum(counts)
    assert not any(counts[128:])


def test_every_lasting_weasyprint_patch_applies() -> None:
    """Each patch skips itself if WeasyPrint's internals are not as it expects; on
    the WeasyPrint pinned in constraints.txt, none may be skipped (test_patches.py
    checks those made during a layout too)."""
    from publisher.pdf.weasyprint import guard
    from publisher.pdf.weasyprint.load import load_weasyprint

    load_weasyprint()
    lasting = {name: outcome for name, outcome in guard.report().items() if name != "pieces"}
    assert len(lasting) >= 6
    assert set(lasting.values()) == {guard.APPLIED}
