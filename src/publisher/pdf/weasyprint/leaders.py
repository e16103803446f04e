"""The printed contents' dot leaders drawn as one run of text each (changes the PDF's
bytes, not its pages); installed through guard.install like every patch."""

from __future__ import annotations

from typing import Any

from publisher.pdf.weasyprint.guard import expect, expect_parameters
from publisher.pdf.weasyprint.guard import install as guarded


def install() -> None:
    guarded("one_run_per_leader", _one_run_per_leader)


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
    expect_parameters(original, ["context", "line", "containing_block"], "handle_leader")
    wanted = "text style context max_width justification_spacing is_line_start minimum"
    expect_parameters(split_first_line, wanted.split(), "split_first_line")
    expect(callable(leader_index), "leader_index is missing")

    def handle_leader(context: Any, line: Any, containing_block: Any) -> None:
        original(context, line, containing_block)
        try:
            _one_run(context, line)
        except Exception:  # a box not shaped as expected: WeasyPrint's copies stay
            return

    def _one_run(context: Any, line: Any) -> None:
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
