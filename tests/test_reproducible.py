"""Two builds of the same sources give byte-identical files; dates never come
from the clock."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pikepdf

from conftest import ARTICLE, Built, build_book


def test_second_build_is_byte_identical(article: Built, tmp_path: Path) -> None:
    again = build_book(ARTICLE, tmp_path)
    assert again.epub.read_bytes() == article.epub.read_bytes()
    assert again.pdf.read_bytes() == article.pdf.read_bytes()


def test_source_date_epoch_sets_the_dates(tmp_path: Path) -> None:
    first = build_book(ARTICLE, tmp_path / "a", {"SOURCE_DATE_EPOCH": "1700000000"})
    second = build_book(ARTICLE, tmp_path / "b", {"SOURCE_DATE_EPOCH": "1700000000"})
    assert first.epub.read_bytes() == second.epub.read_bytes()
    assert first.pdf.read_bytes() == second.pdf.read_bytes()
    assert '<meta property="dcterms:modified">2023-11-14T22:13:20Z</meta>' in first.member(
        "EPUB/content.opf"
    )
    with pikepdf.open(first.pdf) as pdf:
        assert str(pdf.docinfo["/ModDate"]).startswith("D:20231114221320")


def test_zip_entries_have_fixed_metadata(article: Built) -> None:
    with zipfile.ZipFile(article.epub) as z:
        for info in z.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o644
