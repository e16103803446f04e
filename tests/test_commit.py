"""All outputs are committed together (publisher/atomic.py): every file is written
beside its target first, then all are renamed; a failure at any step leaves every
earlier output byte-identical, and the user gets one line, not a traceback."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from publisher import atomic
from publisher.build import build
from publisher.errors import OptionError
from publisher.model import BuildOptions

from conftest import ARTICLE, STYLES


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _failing_on(call: int, real: Any) -> Any:
    calls = []

    def fail(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == call:
            raise OSError(28, "No space left on device")
        return real(*args)

    return fail


@pytest.mark.parametrize("step", ["_written_beside", "replace"])
@pytest.mark.parametrize("call", [1, 2, 3])
def test_a_failure_at_any_step_leaves_every_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, call: int
) -> None:
    old = {"a.epub": b"old epub", "b.pdf": b"old pdf"}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)
    new = {tmp_path / "a.epub": b"new epub", tmp_path / "b.pdf": b"new pdf", tmp_path / "c": b"c"}
    if step == "replace":
        monkeypatch.setattr(atomic.os, "replace", _failing_on(call, os.replace))
    else:
        monkeypatch.setattr(atomic, step, _failing_on(call, atomic._written_beside))
    with pytest.raises(OSError, match="No space"):
        atomic.commit_all(new)
    assert _files(tmp_path) == old  # nor any temporary file or backup left behind


def test_all_files_replaced_together(tmp_path: Path) -> None:
    (tmp_path / "a.epub").write_bytes(b"old")
    atomic.commit_all({tmp_path / "a.epub": b"new a", tmp_path / "b.pdf": b"new b"})
    assert _files(tmp_path) == {"a.epub": b"new a", "b.pdf": b"new b"}


def test_a_failed_write_of_the_pdf_keeps_the_earlier_epub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case that once left a new EPUB beside an old PDF: the EPUB was renamed into
    place before the PDF was written."""
    source = tmp_path / "article"
    shutil.copytree(ARTICLE, source)
    out = tmp_path / "out"
    options = BuildOptions(source, out, STYLES, formats=("epub", "pdf"))
    build(options)
    before = _files(out)
    article = next(source.glob("*.md"))
    article.write_text(article.read_text(encoding="utf-8") + "\nOne more line.\n", "utf-8")
    monkeypatch.setattr(atomic.os, "replace", _failing_on(2, os.replace))
    with pytest.raises(OptionError) as failed:
        build(options)
    assert str(failed.value).endswith(
        "error: cannot write the outputs: No space left on device (the earlier outputs are"
        " unchanged; choose an output folder you can write to, with room for the book)"
    )
    assert _files(out) == before
