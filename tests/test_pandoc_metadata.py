"""Manuscripts written for Pandoc (and Quarto) build unchanged: Pandoc's keys with a
meaning in an EPUB are mapped into its package metadata and the PDF's, the keys of
Pandoc's templates are accepted without a word, and any other key is one warning
line; no key stops a build."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pikepdf
import pytest
from lxml import etree

from publisher.build import build
from publisher.model import BuildOptions

from conftest import ROOT, STYLES

FRONT_MATTERS = sorted((ROOT / "tests" / "data" / "pandoc").glob("*.md"))
# What the manuscripts name beside them: their bibliographies and CSL style.
COMPANIONS = [p for p in (ROOT / "tests" / "data" / "pandoc").iterdir() if p.suffix != ".md"]
OPF = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}


def _built(source: Path, tmp_path: Path) -> tuple[etree._Element, Path, list[str]]:
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    for companion in COMPANIONS:
        shutil.copy(companion, tmp_path / companion.name)
    before = copy.read_bytes()
    result = build(BuildOptions(copy, tmp_path / "out", STYLES))
    assert copy.read_bytes() == before  # the manuscript is never modified
    paths = {o.format: o.path for o in result.outputs}
    with zipfile.ZipFile(paths["epub"]) as z:
        opf = etree.fromstring(z.read("EPUB/content.opf"))
    return opf, paths["pdf"], [str(d) for d in result.diagnostics]


@pytest.mark.parametrize("source", FRONT_MATTERS, ids=[p.stem for p in FRONT_MATTERS])
def test_a_pandoc_manuscript_builds_unchanged(source: Path, tmp_path: Path) -> None:
    _, pdf, warnings = _built(source, tmp_path)
    assert pdf.stat().st_size > 0
    # Only keys that are neither publisher's nor Pandoc's are mentioned.
    assert all("unknown metadata key" in w for w in warnings), warnings


def test_pandoc_keys_are_mapped_into_both_outputs(tmp_path: Path) -> None:
    opf, pdf, warnings = _built(ROOT / "tests" / "data" / "pandoc" / "thesis.md", tmp_path)

    def texts(path: str) -> list[str]:
        return [e.text for e in opf.iterfind(path, OPF)]

    assert texts(".//dc:creator") == ["Jane Doe", "John Roe"]
    assert texts(".//dc:contributor") == ["Ed Editor", "Ann Translator"]
    roles = {m.get("refines"): m.text for m in opf.iterfind(".//opf:meta[@property='role']", OPF)}
    assert roles == {
        "#creator-1": "aut", "#creator-2": "aut", "#contributor-1": "edt", "#contributor-2": "trl"
    }  # fmt: skip
    assert texts(".//dc:subject") == ["birds", "migration", "ornithology"]
    assert texts(".//dc:rights") == ["CC BY 4.0"]  # license:
    assert texts(".//dc:description") == ["We follow the swallows. Over two summers."]  # abstract:
    assert texts(".//opf:meta[@property='belongs-to-collection']") == ["Field Notes"]
    assert texts(".//opf:meta[@property='group-position']") == ["3"]
    with pikepdf.open(pdf) as document:
        info = document.docinfo
        assert str(info["/Keywords"]) == "birds, migration, ornithology"
        assert str(info["/Subject"]) == "We follow the swallows. Over two summers."
    assert [w.removeprefix(f"{tmp_path}/") for w in warnings] == [
        "thesis.md:9: warning: unknown metadata key 'version' ignored (publisher does not use it)",
        "thesis.md:36: warning: unknown metadata key 'autor' ignored (did you mean 'author'?)",
        "thesis.md:37: warning: unknown metadata key 'mysetting' ignored "
        "(publisher does not use it)",
    ]
