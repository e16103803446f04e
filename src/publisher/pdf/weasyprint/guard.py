"""The discipline every patch of WeasyPrint's (or pydyf's, or tinyhtml5's) internals
follows, in one place.

A patch is applied only when three things hold: patches are not switched off
(`PUBLISHER_NO_PATCHES=1`), the installed WeasyPrint is the release the patches
were written against, and the code it replaces is shaped as expected (its
parameters, the attributes it reads). Otherwise it is skipped, the reason is
recorded, and WeasyPrint runs as it is: every patch either makes a book faster
with the same pages, or mends a detail (a reproducible PDF/X identifier, small
caps after a page break), so the fallback is always a correct book.

`report()` says what happened to each patch; the tests check that, on the pinned
WeasyPrint, every one applies, and that with all of them off the book has the same
text, pages and structure."""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any

WRITTEN_FOR = "70."  # the WeasyPrint release line the patches were written against
APPLIED, OFF = "applied", "off"

_outcomes: dict[str, str] = {}  # patch name -> APPLIED, OFF or "skipped: why"


class Mismatch(Exception):
    """The installed code is not what a patch was written for."""


def enabled() -> bool:
    """False when the user (or a test) switched every patch off."""
    return os.environ.get("PUBLISHER_NO_PATCHES", "").strip().lower() not in {"1", "true", "yes"}


def version_fits() -> bool:
    import weasyprint

    return str(getattr(weasyprint, "__version__", "")).startswith(WRITTEN_FOR)


def expect(condition: object, what: str) -> None:
    """Raises Mismatch (the patch is skipped) unless `condition` holds."""
    if not condition:
        raise Mismatch(what)


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def expect_parameters(function: Any, names: list[str], what: str) -> None:
    try:
        found = parameters(function)
    except (TypeError, ValueError):
        found = []
    expect(found == names, f"{what} is not ({', '.join(names)})")


def _refusal() -> str | None:
    """Why no patch may apply now, or None."""
    if not enabled():
        return OFF
    if not version_fits():
        import weasyprint

        found = getattr(weasyprint, "__version__", "?")
        return f"skipped: written for WeasyPrint {WRITTEN_FOR}x, not {found}"
    return None


def install(name: str, apply: Callable[[], None]) -> bool:
    """A lasting patch: `apply` is run once per process, if it may; it raises
    (Mismatch, or anything else) to say the code is not as expected, before it
    replaces anything. True if the patch is in place."""
    if name in _outcomes:
        return _outcomes[name] == APPLIED
    refusal = _refusal()
    if refusal is not None:
        _outcomes[name] = refusal
        return False
    try:
        apply()
    except Exception as error:  # not the code it was written for: WeasyPrint's own runs
        _outcomes[name] = f"skipped: {error}"
        return False
    _outcomes[name] = APPLIED
    return True


@contextlib.contextmanager
def swapped(
    name: str,
    owner: Any,
    attribute: str,
    make: Callable[[Any], Any],
    check: Callable[[Any], None] | None = None,
) -> Iterator[bool]:
    """A patch for the length of a `with` block: `owner.attribute` is replaced by
    `make(original)` if `check(original)` passes, and put back afterwards. Yields
    whether it was replaced, for callers whose own work depends on it."""
    refusal = _refusal()
    original: Any = None
    replaced = False
    if refusal is not None:
        _outcomes[name] = refusal
    else:
        try:
            original = getattr(owner, attribute)
            if check is not None:
                check(original)
            replacement = make(original)
        except Exception as error:  # not the code it was written for
            _outcomes[name] = f"skipped: {error}"
        else:
            setattr(owner, attribute, replacement)
            replaced = True
            _outcomes[name] = APPLIED
    try:
        yield replaced
    finally:
        if replaced:
            setattr(owner, attribute, original)


def note(name: str, outcome: str) -> None:
    """Records what became of a step that depends on the patches (the pieces)."""
    _outcomes[name] = outcome


def report() -> dict[str, str]:
    """Each patch tried in this process, and what became of it."""
    return dict(sorted(_outcomes.items()))


def forget() -> None:
    """For the tests: the next `install` of each patch decides afresh."""
    _outcomes.clear()
