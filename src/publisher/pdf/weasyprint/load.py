"""Importing WeasyPrint without its library hunt.

WeasyPrint's ffi tries several names for each native library (pango, harfbuzz,
fontconfig...); for every name that is not a loadable file, cffi falls back on
`ctypes.util.find_library`, which on Linux starts gcc, ld and ldconfig. About
twenty such calls cost 0.25-0.4 s of every cold build and find nothing: the
`lib*.so.N` names WeasyPrint tries next load straight from the linker's path.
So on Linux the import first runs with that fallback switched off, and only if it
fails is it run again the ordinary way.

Loading also mends one quadratic step of the PDF writer (see _cache_page_references),
draws each dot leader as one run (_one_run_per_leader), and installs the
byte-neutral speed-ups of weasy_speed."""

from __future__ import annotations

import sys
from typing import Any


def load_weasyprint() -> None:
    """Imports weasyprint (once); later `import weasyprint` statements are free."""
    if "weasyprint" in sys.modules or not sys.platform.startswith("linux"):
        import weasyprint

        _cache_page_references()
        _one_run_per_leader()
        _install_speedups()
        return
    import contextlib
    import ctypes.util
    import io

    original = ctypes.util.find_library
    ctypes.util.find_library = _not_searched
    try:
        # Its "could not import some external libraries" notice would be premature.
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint
    except OSError:
        # A library only find_library knows where to find: forget the half-done
        # import and let WeasyPrint look the slow way.
        for name in [n for n in sys.modules if n == "weasyprint" or n.startswith("weasyprint.")]:
            del sys.modules[name]
    finally:
        ctypes.util.find_library = original
    import weasyprint  # noqa: F401

    _cache_page_references()
    _one_run_per_leader()
    _install_speedups()


def _install_speedups() -> None:
    """The byte-neutral patches of weasy_speed (each skipped if it does not fit)."""
    from publisher.pdf.weasyprint import speed as weasy_speed

    weasy_speed.install()


def _cache_page_references() -> None:
    """pydyf's `PDF.page_references` builds the tuple of every page's reference
    anew on each call, and WeasyPrint's tagging (PDF/UA) calls it for every tagged
    box: quadratic, about 0.8 s of a 300-page book. Pages are only ever appended,
    so the tuple is kept until the page count changes. Same values, same bytes."""
    import pydyf  # type: ignore[import-untyped]

    original = pydyf.PDF.page_references
    if hasattr(original.fget, "pydyf_original"):
        return

    def page_references(pdf: Any) -> tuple[bytes, ...]:
        count = len(pdf.pages["Kids"])
        cached = pdf.__dict__.get("_publisher_page_references")
        if cached is None or cached[0] != count:
            cached = (count, original.fget(pdf))
            pdf.__dict__["_publisher_page_references"] = cached
        references: tuple[bytes, ...] = cached[1]
        return references

    page_references.pydyf_original = original  # type: ignore[attr-defined]
    pydyf.PDF.page_references = property(page_references)


def _one_run_per_leader() -> None:
    """WeasyPrint fills a dot leader with one copy of its text box per dot, each
    drawn on its own: the printed contents of a 300-page book (160 lines) are 8,000
    boxes, 0.5 s of drawing and 40 KB of PDF for 8 pages. The copies sit side by
    side, a box's width apart, so they become one box of the repeated text, shaped
    once: the same glyphs where they were (checked: the shaped run is exactly as
    wide as the copies, else the copies stay), drawn as one run. This changes the
    PDF's bytes, not its pages."""
    import weasyprint.layout.inline as inline
    from weasyprint.layout.leader import leader_index
    from weasyprint.text.line_break import split_first_line

    original = inline.handle_leader
    if hasattr(original, "publisher_original"):
        return

    def handle_leader(context: Any, line: Any, containing_block: Any) -> None:
        original(context, line, containing_block)
        _, leader = leader_index(line)
        if leader is None or len(leader.children) < 2:
            return
        copies = leader.children
        first = min(copies, key=lambda box: box.position_x)
        text = first.text * len(copies)
        layout, _, resume, width, _, _ = split_first_line(
            text, first.style, context, float("inf"), 0, is_line_start=False
        )
        if resume is not None or abs(width - first.width * len(copies)) > 0.01:
            return
        run = first.copy_with_text(text)
        run.pango_layout = layout
        run.width = width
        leader.children = (run,)

    handle_leader.publisher_original = original  # type: ignore[attr-defined]
    inline.handle_leader = handle_leader


def _not_searched(name: str) -> None:
    return None
