"""The print edition. Takes a `RenderedBook`, the style and a page profile; gives the bytes
of a PDF through WeasyPrint (in a forked child beside the EPUB, long books in pieces) and
the page each block starts on, which the EPUB's page list uses. Everything that reaches
into WeasyPrint's internals is in `pdf.weasyprint`, and nowhere else."""
