"""Importing WeasyPrint without its library hunt.

WeasyPrint's ffi tries several names for each native library (pango, harfbuzz,
fontconfig...); for every name that is not a loadable file, cffi falls back on
`ctypes.util.find_library`, which on Linux starts gcc, ld and ldconfig. About
twenty such calls cost 0.25-0.4 s of every cold build and find nothing: the
`lib*.so.N` names WeasyPrint tries next load straight from the linker's path.
So on Linux the import first runs with that fallback switched off, and only if it
fails is it run again the ordinary way.

Loading also installs the lasting patches: the byte-neutral speed-ups (speed.py)
and the dot leaders drawn as one run (leaders.py). With PUBLISHER_NO_PATCHES=1
none of this is done, the library hunt included."""

from __future__ import annotations

import sys

from publisher.pdf.weasyprint import leaders, speed
from publisher.pdf.weasyprint.guard import enabled


def load_weasyprint() -> None:
    """Imports weasyprint (once); later `import weasyprint` statements are free."""
    if "weasyprint" in sys.modules or not sys.platform.startswith("linux") or not enabled():
        import weasyprint

        _install_patches()
        return
    import contextlib
    import ctypes.util
    import io

    original = ctypes.util.find_library
    ctypes.util.find_library = _not_searched
    try:
        # Its "could not import some external libraries" notice would be premature.
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint
    except OSError:
        # A library only find_library knows where to find: forget the half-done
        # import and let WeasyPrint look the slow way.
        for name in [n for n in sys.modules if n == "weasyprint" or n.startswith("weasyprint.")]:
            del sys.modules[name]
    finally:
        ctypes.util.find_library = original
    import weasyprint  # noqa: F401

    _install_patches()


def _install_patches() -> None:
    """The lasting patches, each applied only where it fits (guard.py)."""
    leaders.install()
    speed.install()


def _not_searched(name: str) -> None:
    return None
