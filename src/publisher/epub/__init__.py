"""The EPUB 3 edition. Takes a `RenderedBook`, the style and (when a PDF was made) its page
starts; gives the bytes of an EPUB through ebooklib, with accessibility metadata, a cover,
a page list matching the PDF, and the Kobo edition made from it."""
