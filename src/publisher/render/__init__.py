"""Markdown to XHTML, once for both outputs. Takes a `Manuscript` (from `source`); gives a
`RenderedBook`: one well-formed XHTML body per chapter, the table of contents, the
resources the chapters use, and the warnings found on the way. The Markdown dialect,
the raw-HTML sanitiser and code highlighting live here. Nothing here knows EPUB or PDF."""
