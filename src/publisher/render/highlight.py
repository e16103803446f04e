"""Code blocks highlighted with Pygments, as XHTML spans with short class names;
the colours are in base.css, chosen to stay legible in greyscale print."""

from __future__ import annotations

from functools import lru_cache
from html import escape
from typing import Any

# Pygments is imported on the first fenced block that names a language: a book
# without code does not pay for it (0.03-0.05 s of a cold build).

# Beyond this size a block is set as plain text: lexing megabytes of code is slow
# and no reader benefits from colour there.
MAX_HIGHLIGHT = 200_000


@lru_cache(maxsize=64)
def _lexer(language: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except (ClassNotFound, ValueError):
        return None


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters.html import HtmlFormatter

    return HtmlFormatter(nowrap=True, classprefix="hl-")


def highlight(code: str, language: str) -> tuple[str, str]:
    """(XHTML for the inside of <code>, the lexer's name or '')."""
    lexer = _lexer(language.lower()) if language and len(code) <= MAX_HIGHLIGHT else None
    if lexer is None:
        return escape(code, quote=False), ""
    from pygments import highlight as pygments_highlight

    html = pygments_highlight(code, lexer, _formatter())
    if code.endswith("\n") is False and html.endswith("\n"):
        html = html[:-1]
    return html, str(lexer.aliases[0] if lexer.aliases else language)
