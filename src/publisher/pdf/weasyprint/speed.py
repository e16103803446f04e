"""Patches that make WeasyPrint's per-page work cheaper without changing a byte.

Each is installed once per process (`install`) through guard.install: only on the
WeasyPrint it was written for, and only when the internals it replaces are shaped
as expected; if not, it is skipped and WeasyPrint runs as it is. Each patched
function keeps its original reachable (`publisher_original`; the tokenizer's cache
is undone with a plain dict) so that tests can compare both. `fewer_collections`
is no patch: the PDF step renders and writes inside it."""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator
from typing import Any

from publisher.pdf.weasyprint.guard import expect, expect_parameters, parameters
from publisher.pdf.weasyprint.guard import install as guarded


def install() -> None:
    """Applies every patch that fits the WeasyPrint in use (idempotent)."""
    for patch in (
        _share_page_styles, _cache_tokenizer_regexes, _skip_plain_backgrounds,
        _write_streams_once, _cache_page_references, _skip_pages_without_fixed_boxes,
        _index_target_counters,
    ):  # fmt: skip
        guarded(patch.__name__.lstrip("_"), patch)


# Objects allocated (net) between two youngest-generation collections while
# WeasyPrint renders or writes; Python's default is 700.
GC_THRESHOLD = 100_000


@contextlib.contextmanager
def fewer_collections(threshold: int = GC_THRESHOLD, freeze: bool = False) -> Iterator[None]:
    """Python's cyclic garbage collector runs after every 700 net allocations, and
    every tenth of its runs the older generations are scanned too; laying out a
    book allocates millions of boxes, styles and PDF objects that stay alive, so
    each full scan walks a larger heap: 1.7 s of collections for a 300-page book
    (of 9 s rendering and writing it). With the first threshold at 100,000 while
    WeasyPrint works, full scans become rare and collecting takes about 0.5 s,
    for 3-5 MB more memory (garbage in cycles waits a little longer); turning the
    collector off would save 0.3 s more but let memory grow with the book.

    `freeze` is for writing a laid-out book: its pages, which stay alive until the
    PDF is written, are set aside (gc.freeze) so that the collections made while
    writing do not walk them again: 0.35 s less of a 300-page book's write, for
    4 MB more memory (what the layout left in cycles is freed after the write,
    not during it). Only done if nothing else has frozen objects, and undone.

    Collections only free objects that nothing can reach any more, and nothing in
    WeasyPrint's output depends on when that happens: the bytes are the same. The
    old thresholds are restored afterwards, and a threshold already higher is kept."""
    old = gc.get_threshold()
    frozen = freeze and gc.isenabled() and gc.get_freeze_count() == 0
    if old[0] < threshold:
        gc.set_threshold(threshold, *old[1:])
    if frozen:
        gc.freeze()
    try:
        yield
    finally:
        if frozen:
            gc.unfreeze()
        gc.set_threshold(*old)


class _PageStyles:
    """What `_share_page_styles` keeps for one document (on its StyleFor)."""

    def __init__(self) -> None:
        # page type -> its pseudo types (margin boxes, @footnote...), in the order
        # of WeasyPrint's cascaded styles
        self.pseudo_types: dict[Any, tuple[str, ...]] = {}
        # cascaded declarations of a page and its pseudo types -> their computed styles
        self.styles: dict[Any, tuple[Any, ...]] = {}
        self.unshared = False  # the cascade held what was not expected: as WeasyPrint


def _page_key(cascaded: Any, page_type: Any, pseudo_types: tuple[Any, ...]) -> Any:
    """What a page's computed styles are made from: its declarations (by identity:
    they live in the cascade as long as the document) and their weights (which
    hold lists, so compared through their repr). None if not as expected."""
    try:
        return tuple(
            (
                pseudo,
                tuple(
                    (name, id(values), repr(weight))
                    for name, (values, weight) in cascaded.get((page_type, pseudo), {}).items()
                ),
            )
            for pseudo in pseudo_types
        )
    except (TypeError, ValueError):
        return None


def _share_page_styles() -> None:
    """WeasyPrint computes the styles of every page anew: the page's and those of its
    sixteen margin boxes and footnote area, each a fresh `ComputedStyle` whose
    values are all worked out again when the page and its running heads and folios
    are laid out. It also finds a page's margin styles by scanning the cascaded
    styles of every page made so far (quadratic). On a 300-page book, setting the
    page styles took 0.42 s and the margin boxes 0.70 s; 0.11 s and 0.34 s with this.

    Pages that match the same @page rules get the same declarations, so their
    computed styles are equal; here they share one set of style objects, as
    WeasyPrint's own `StyleFor` already shares them between elements whose
    declarations and parent are the same. The output is unchanged because a
    computed value depends only on the declarations, the root element's style, the
    base URL, the fonts and the first page's size (for viewport units): styles
    made before that size is known (the first page's) are never shared; the only
    writes WeasyPrint makes to a page's styles after computing them (overflow from
    the root, the page counters' standardisation) give the same result when
    repeated. The pseudo types are found from the keys the page just added rather
    than by a scan, in the same order."""
    from weasyprint.css import ComputedStyle, StyleFor
    from weasyprint.layout import page as page_module

    original = page_module.set_page_type_computed_styles
    if hasattr(original, "publisher_original"):
        return
    if parameters(original) != ["page_type", "html", "style_for"]:
        raise TypeError("set_page_type_computed_styles is not (page_type, html, style_for)")
    if parameters(StyleFor.set_computed_styles)[:6] != [
        "self", "element", "parent", "root", "pseudo_type", "base_url",
    ]:  # fmt: skip
        raise TypeError("StyleFor.set_computed_styles has changed")
    for name in ("add_page_declarations", "get_cascaded_styles", "get_computed_styles"):
        if not callable(getattr(StyleFor, name, None)):
            raise TypeError(f"StyleFor.{name} is missing")
    if not hasattr(ComputedStyle, "__missing__"):
        raise TypeError("ComputedStyle is not computed on demand")

    def set_page_type_computed_styles(page_type: Any, html: Any, style_for: Any) -> None:
        kept = style_for.__dict__.get("_publisher_page_styles")
        sizes = getattr(style_for, "initial_page_sizes", None)
        if kept is None:
            kept = style_for.__dict__["_publisher_page_styles"] = _PageStyles()
        cascaded = style_for.get_cascaded_styles()
        computed = style_for.get_computed_styles()
        known = len(cascaded)
        style_for.add_page_declarations(page_type)
        pseudo_types = kept.pseudo_types.get(page_type)
        if pseudo_types is None and not kept.unshared:
            added = list(cascaded)[known:]
            if all(element == page_type for element, _ in added):
                pseudo_types = tuple(pseudo for _, pseudo in added if pseudo)
                kept.pseudo_types[page_type] = pseudo_types
            else:
                kept.unshared = True  # more than this page's keys: left to WeasyPrint
        if kept.unshared or pseudo_types is None:
            _set_styles_as_weasyprint(page_type, html, style_for)
            return
        every = (None, *pseudo_types)
        key = None
        if isinstance(sizes, dict) and None not in (sizes.get("box"), sizes.get("area")):
            key = _page_key(cascaded, page_type, every)
            shared = kept.styles.get(key) if key is not None else None
            if shared is not None:
                for pseudo, style in zip(every, shared, strict=True):
                    computed[page_type, pseudo] = style
                return
        root = html.etree_element
        style_for.set_computed_styles(page_type, root=root, parent=root, base_url=html.base_url)
        for pseudo in pseudo_types:
            style_for.set_computed_styles(
                page_type, pseudo_type=pseudo, root=root, parent=page_type, base_url=html.base_url
            )
        if key is not None:
            # The declarations' values live in the cascaded styles as long as the
            # document: their ids in the key stay theirs.
            kept.styles[key] = tuple(computed[page_type, pseudo] for pseudo in every)

    def _set_styles_as_weasyprint(page_type: Any, html: Any, style_for: Any) -> None:
        # The original's second half (its declarations are already added).
        style_for.set_computed_styles(
            page_type, root=html.etree_element, parent=html.etree_element, base_url=html.base_url
        )
        for element, pseudo_type in style_for.get_cascaded_styles():
            if pseudo_type and element == page_type:
                style_for.set_computed_styles(
                    element, pseudo_type=pseudo_type, root=html.etree_element,
                    parent=element, base_url=html.base_url,
                )  # fmt: skip

    set_page_type_computed_styles.publisher_original = original  # type: ignore[attr-defined]
    page_module.set_page_type_computed_styles = set_page_type_computed_styles


class _TokenizerRegexes(dict[tuple[Any, bool], "re.Pattern[str]"]):
    """tinyhtml5's `characters_until_regex`, filled on a miss (see below)."""

    def __missing__(self, key: tuple[Any, bool]) -> re.Pattern[str]:
        characters, opposite = key
        # As tinyhtml5's chars_until builds it.
        regex = "".join([f"\\x{ord(character):02x}" for character in characters])
        if not opposite:
            regex = f"^{regex}"
        compiled = self[key] = re.compile(f"[{regex}]+")
        return compiled


def _cache_tokenizer_regexes() -> None:
    """tinyhtml5's tokenizer (2.1) caches the regex of each set of characters that
    `chars_until` reads up to, but stores it under the regex instead of the set
    (`characters = cache[(characters, opposite)] = regex` assigns `characters`
    first), so every call builds its pattern again: parsing a 300-page book took
    0.25 s, 0.10 s with this. The cache becomes a dict that builds a missing entry itself,
    with the same code, under the key it is looked up with. Same regexes, same
    tokens, same tree."""
    from tinyhtml5 import inputstream  # type: ignore[import-untyped]

    cache = getattr(inputstream, "characters_until_regex", None)
    if isinstance(cache, _TokenizerRegexes):
        return
    if type(cache) is not dict:
        raise TypeError("tinyhtml5's characters_until_regex is not a dict")
    reader = inputstream.HTMLUnicodeInputStream.chars_until
    if "characters_until_regex" not in reader.__code__.co_names:
        raise TypeError("tinyhtml5's chars_until does not use characters_until_regex")
    inputstream.characters_until_regex = _TokenizerRegexes(cache)


_CORNERS = ("top_left", "top_right", "bottom_right", "bottom_left")
_RADII = tuple(f"border_{corner}_radius" for corner in _CORNERS)
# What decides whether a box has a background to lay out (none is inherited).
_BACKGROUND = (
    *_RADII, "border_image_source", "mask_border_source", "box_shadow", "background_image",
    "background_color",
)  # fmt: skip


class _PlainBackgrounds:
    """Decides, once per style object, whether WeasyPrint's layout_box_backgrounds
    would only give a box of that style (not the page) zero radii and no
    background. A style's values do not change once computed, so the answer is
    kept on the style."""

    def __init__(self) -> None:
        from weasyprint.css import PHYSICAL_FUNCTIONS, AnonymousStyle, ComputedStyle
        from weasyprint.css.properties import INHERITED, INITIAL_NOT_COMPUTED, INITIAL_VALUES

        self.anonymous = AnonymousStyle
        self.computed = ComputedStyle
        self.initial = {key: INITIAL_VALUES[key] for key in _BACKGROUND}
        if {*_BACKGROUND} & ({*INHERITED} | {*INITIAL_NOT_COMPUTED}):
            raise TypeError("a background property is inherited or computed from its initial")
        if not self._plain(self.initial.__getitem__, lambda key: "visible"):
            raise TypeError("the initial background is not plain")
        # Declared under these names, a background property is not its initial value.
        declared = set(_BACKGROUND)
        for key in _BACKGROUND:
            if logical := PHYSICAL_FUNCTIONS.get(key):
                declared |= {logical(block="ttb", inline=inline) for inline in ("ltr", "rtl")}
        self.declared = frozenset(declared)

    def __call__(self, style: Any) -> bool:
        plain: bool | None = style.__dict__.get("_publisher_plain_background")
        if plain is not None:
            return plain
        kind = type(style)
        if kind is self.anonymous or (
            kind is self.computed and self.declared.isdisjoint(style.cascaded)
        ):
            # A value not yet in the style would be computed as its initial one
            # (the same for an anonymous style, whose cascade is empty): no need to
            # compute it.
            initial = self.initial

            def value(key: str) -> Any:
                return style[key] if key in style else initial[key]

            plain = self._plain(value, style.__getitem__)
        else:
            plain = self._plain(style.__getitem__, style.__getitem__)
        style.__dict__["_publisher_plain_background"] = plain
        return plain

    def _plain(self, value: Any, inherited: Any) -> bool:
        # As layout_box_backgrounds and resolve_radii_percentages read them.
        return (
            all((0, "px") in value(name) for name in _RADII)
            and value("border_image_source")[0] == "none"
            and value("mask_border_source")[0] == "none"
            and not value("box_shadow")
            and (
                inherited("visibility") == "hidden"
                or (
                    all(kind != "url" and not image for kind, image in value("background_image"))
                    and self._color(value, inherited).alpha == 0
                )
            )
        )

    def _color(self, value: Any, inherited: Any) -> Any:
        # As weasyprint.draw.color.get_color.
        color = value("background_color")
        return color if color != "currentcolor" else inherited("color")


def _skip_plain_backgrounds() -> None:
    """WeasyPrint's `layout_box_backgrounds` runs over every box of every page and
    reads a dozen style values of each, though most boxes have no background, no
    border image and square corners: 0.23 s of a 300-page book, 0.07 s with this.
    Whether a style is so is decided once per style object (styles are shared
    between boxes), and such a box gets exactly what WeasyPrint would give it: its four
    radii (0, 0) and no background, its children laid out in the same order. The
    page itself, a box whose background or image would be fetched, and the calls
    for the canvas background (with another box's style) go to WeasyPrint's code."""
    from weasyprint.layout import background

    original = background.layout_box_backgrounds
    if hasattr(original, "publisher_original"):
        return
    expected = ["page", "box", "get_image_from_uri", "layout_children", "style"]
    if parameters(original) != expected:
        raise TypeError("layout_box_backgrounds is not (page, box, get_image_from_uri...)")
    if parameters(background.resolve_radii_percentages) != ["box"]:
        raise TypeError("resolve_radii_percentages is not (box)")
    plain_background = _PlainBackgrounds()

    def layout_box_backgrounds(
        page: Any, box: Any, get_image_from_uri: Any, layout_children: bool = True,
        style: Any = None,
    ) -> None:  # fmt: skip
        plain = style is None and layout_children and box is not page
        if plain:
            try:
                plain = plain_background(box.style)
            except (TypeError, ValueError, KeyError, AttributeError):  # not as expected
                plain = False
        if not plain:
            original(page, box, get_image_from_uri, layout_children, style)
        else:
            for name in _RADII:
                setattr(box, name, (0, 0))
            for child in box.all_children():
                layout_box_backgrounds(page, child, get_image_from_uri)
            box.background = None

    layout_box_backgrounds.publisher_original = original  # type: ignore[attr-defined]
    background.layout_box_backgrounds = layout_box_backgrounds


def _write_streams_once() -> None:
    """pydyf's `PDF.write` serialises every object and, to hash the file for its
    identifier (WeasyPrint asks for one; so do we, for stable files), serialises
    them all again: each page's content stream and each font is joined and
    zlib-compressed twice, about 0.25 s of the 0.78 s pydyf takes to write a
    300-page book (1.1 s with fewer_collections). While a PDF is written, a
    stream's data is kept the first time it is made and given again the second
    time. Nothing changes a stream between the two (WeasyPrint has finished with
    them when it calls write, and write only adds its own two streams): same
    bytes, made once. Each kept stream is held until the write ends, so that its
    id cannot be another's."""
    import pydyf  # type: ignore[import-untyped]

    original = pydyf.PDF.write
    if hasattr(original, "publisher_original"):
        return
    if parameters(original) != ["self", "output", "version", "identifier", "compress"]:
        raise TypeError("PDF.write is not (output, version, identifier, compress)")
    stream_data = pydyf.Stream.__dict__.get("data")
    if not isinstance(stream_data, property) or stream_data.fget is None:
        raise TypeError("pydyf.Stream.data is not a property")
    make_data = stream_data.fget

    def write(pdf: Any, *args: Any, **kwargs: Any) -> Any:
        kept: dict[int, tuple[Any, bytes]] = {}

        def data(stream: Any) -> bytes:
            known = kept.get(id(stream))
            if known is not None and known[0] is stream:
                return known[1]
            made: bytes = make_data(stream)
            kept[id(stream)] = (stream, made)
            return made

        pydyf.Stream.data = property(data)
        try:
            return original(pdf, *args, **kwargs)
        finally:
            pydyf.Stream.data = stream_data

    write.publisher_original = original  # type: ignore[attr-defined]
    pydyf.PDF.write = write


def _cache_page_references() -> None:
    """pydyf's `PDF.page_references` builds the tuple of every page's reference
    anew on each call, and WeasyPrint's tagging (PDF/UA) calls it for every tagged
    box: quadratic, about 0.8 s of a 300-page book. Pages are only ever appended,
    so the tuple is kept until the page count changes. Same values, same bytes."""
    import pydyf

    original = pydyf.PDF.__dict__.get("page_references")
    expect(isinstance(original, property), "pydyf.PDF.page_references is not a property")
    if hasattr(original.fget, "pydyf_original"):
        return
    expect_parameters(original.fget, ["self"], "PDF.page_references")
    fget: Any = original.fget

    def page_references(pdf: Any) -> tuple[bytes, ...]:
        count = len(pdf.pages["Kids"])
        cached = pdf.__dict__.get("_publisher_page_references")
        if cached is None or cached[0] != count:
            cached = (count, fget(pdf))
            pdf.__dict__["_publisher_page_references"] = cached
        references: tuple[bytes, ...] = cached[1]
        return references

    page_references.pydyf_original = original  # type: ignore[attr-defined]
    pydyf.PDF.page_references = property(page_references)


def _skip_pages_without_fixed_boxes() -> None:
    """`layout_document` lays out, on every page, the fixed boxes of every other
    page, walking all the pages before it and all after it in Python to find them:
    quadratic in pages, though books have no fixed boxes (3,000 one-line chapters'
    6,000 pages: 9 million steps). The pages are now filtered in C first, and
    WeasyPrint's own function lays out those that have any, in the same order. Same
    boxes, same bytes."""
    from operator import attrgetter

    import weasyprint.layout as layout

    original = layout.layout_fixed_boxes
    if hasattr(original, "publisher_original"):
        return
    expect_parameters(original, ["context", "pages", "containing_page"], "layout_fixed_boxes")
    has_fixed = attrgetter("fixed_boxes")

    def layout_fixed_boxes(context: Any, pages: Any, containing_page: Any) -> Iterator[Any]:
        with_fixed = list(filter(has_fixed, pages))
        yield from layout_fixed_boxes.publisher_original(  # type: ignore[attr-defined]
            context, with_fixed, containing_page
        )

    layout_fixed_boxes.publisher_original = original  # type: ignore[attr-defined]
    layout.layout_fixed_boxes = layout_fixed_boxes


def _index_target_counters() -> None:
    """When a target's page changes (a chapter's opening, found on its page),
    WeasyPrint tells every box whose content counts pages (`target-counter()` in
    the printed contents) by walking all of them and keeping those that wait for
    this target: the contents' lines times the book's chapters, quadratic (1,460
    chapters: 2 million steps, 4-8 s). The boxes waiting for each target are
    indexed once pagination starts (nothing is collected after: WeasyPrint's
    `collecting` is off), in WeasyPrint's order; the rest of the method is its own,
    line for line. Same updates, same order, same bytes."""
    import copy

    from weasyprint.css.targets import TargetCollector

    original = TargetCollector.cache_target_page_counters
    if hasattr(original, "publisher_original"):
        return
    expect_parameters(
        original,
        ["self", "anchor_name", "page_counter_values", "page_maker_index", "page_maker"],
        "TargetCollector.cache_target_page_counters",
    )
    probe = TargetCollector()
    expect(
        isinstance(getattr(probe, "counter_lookup_items", None), dict)
        and isinstance(getattr(probe, "target_lookup_items", None), dict)
        and hasattr(probe, "collecting"),
        "TargetCollector's lookup items",
    )

    def waiting(collector: Any, anchor_name: str) -> list[Any]:
        """The lookup items whose content waits for `anchor_name`, in WeasyPrint's order."""
        items = collector.counter_lookup_items
        index = collector.__dict__.get("_publisher_waiting")
        if index is None or index[0] != len(items):
            by_anchor: dict[str, list[Any]] = {}
            for (_, css_token), item in items.items():
                if css_token == "content":
                    for anchor in item.missing_target_counters:
                        by_anchor.setdefault(anchor, []).append(item)
            index = (len(items), by_anchor)
            collector.__dict__["_publisher_waiting"] = index
        found: list[Any] = index[1].get(anchor_name, [])
        return found

    def cache_target_page_counters(
        self: Any,
        anchor_name: str,
        page_counter_values: Any,
        page_maker_index: int,
        page_maker: Any,
    ) -> None:
        if self.collecting:
            return
        item = self.target_lookup_items.get(anchor_name)
        if item and item.state == "up-to-date":
            item.page_maker_index = page_maker_index
            if item.cached_page_counter_values != page_counter_values:
                item.cached_page_counter_values = copy.deepcopy(page_counter_values)
                for item in waiting(self, anchor_name):
                    missing_counters = item.missing_target_counters.get(anchor_name)
                    if missing_counters is None:
                        continue
                    if item.page_maker_index is None or item.page_maker_index >= len(page_maker):
                        item.pending = True
                        continue
                    for counter_name in missing_counters:
                        counter_value = page_counter_values.get(counter_name)
                        if counter_value is not None:
                            remake_state = page_maker[item.page_maker_index][-1]
                            remake_state["content_changed"] = True
                            item.parse_again(item.cached_page_counter_values)
                            break

    cache_target_page_counters.publisher_original = original  # type: ignore[attr-defined]
    TargetCollector.cache_target_page_counters = cache_target_page_counters
