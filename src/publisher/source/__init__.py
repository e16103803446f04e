"""Reading what the author wrote. Takes a manuscript path (a Markdown file, or a folder
with its metadata and chapters) and a style folder; gives a `Manuscript` (the text of each
file, with the checked `BookMeta`) and a `Style`. Everything read from the user's disk
passes through here: strict UTF-8, every file the manuscript names fenced inside its
folder (`fence.py`), metadata measured and cleaned before it is built, errors with
`file:line`. Nothing here renders or writes."""
