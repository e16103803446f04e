"""publisher: one Markdown manuscript in, a valid EPUB 3 and a typeset PDF out."""

__version__ = "0.1.0"
