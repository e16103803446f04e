"""publisher: one Markdown manuscript in, a valid EPUB 3 and a typeset PDF out.

The pipeline, in the order it runs: `source` reads the manuscript and its style,
`render` turns it into XHTML once, `epub` and `pdf` make the two editions from that,
`build` runs them and decides what is up to date (`cache`), `check` validates, and
`app` is the command line. Shared by all: `model` (the data passed between stages),
`errors` (diagnostics and the errors a user can cause), `xhtml`, `pagination` (page
starts shared by the PDF and the EPUB's page list), `forked` (child processes),
`atomic` (whole-file writes)."""

__version__ = "0.1.0"
