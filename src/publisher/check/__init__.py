"""Checking, before and after the build. Takes a manuscript (the linter: problems an author
can fix in the Markdown) or built outputs (EPUBCheck, DAISY Ace, the PDF's structure and
fonts); gives findings as values (code, severity, location, message, hint) for the
command line, the preview page and the tests to show."""
