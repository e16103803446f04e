"""The one door to WeasyPrint's (and pydyf's) internals. Every patch and every read of
private state is here, each with the same discipline: applied only where the installed
code matches what it was written for, otherwise skipped and recorded (`report()`), with
WeasyPrint's own behaviour as the fallback. `PUBLISHER_NO_PATCHES=1` switches them all
off; the build then makes the same book, only slower."""
