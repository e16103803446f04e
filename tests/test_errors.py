"""User mistakes end in one clear line naming file:line and a fix, a non-zero
exit, no traceback; earlier outputs and the manuscript stay as they were."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ARTICLE, invoke, need, need_ace

GOOD = "---\ntitle: A Test\nlang: en\n---\n\nSome text.\n"


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "bad-yaml.md",
            "---\ntitle: A\nlang: [en\n---\nText\n",
            "bad-yaml.md:3: error: invalid YAML",
        ),
        (
            "no-title.md",
            "---\nlang: en\n---\nText\n",
            "no-title.md:1: error: the book has no title",
        ),
        (
            "bad-setting.md",
            "---\ntitle: A\ndashes: long\n---\nText\n",
            "bad-setting.md:3: error: 'dashes: long' is not one of en, em (write dashes: en or em)",
        ),
        (
            "bad-date.md",
            "---\ntitle: A\ndate: 2024-13-45\n---\nText\n",
            "bad-date.md:3: error: 'date: 2024-13-45'",
        ),
        (
            "missing-image.md",
            GOOD + "\n![A map](images/map.png)\n",
            "missing-image.md:8: error: image 'images/map.png' not found",
        ),
        (
            "latin1.md",
            ("---\ntitle: Caf\xe9\n---\n").encode("latin-1"),
            "latin1.md:2: error: invalid UTF-8 at byte 14 (save the file as UTF-8)",
        ),
        ("unclosed.md", "---\ntitle: A\n\nText\n", "unclosed.md:1: error: front matter opened"),
    ],
)
def test_bad_manuscript_is_one_clear_line(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    source = write(tmp_path / "book" / name, content)
    before = source.read_bytes()
    proc = invoke("build", "--manuscript", f"book/{name}", "--output", "out", cwd=tmp_path)
    line = one_line_error(proc)
    assert line.startswith(f"book/{expected}"), line
    assert proc.returncode == 2
    assert source.read_bytes() == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_manuscript(tmp_path: Path) -> None:
    proc = invoke("build", "--manuscript", "nowhere.md", cwd=tmp_path)
    assert one_line_error(proc) == (
        "nowhere.md: error: manuscript not found "
        "(pass --manuscript a Markdown file or a folder of them)"
    )


def test_unknown_option_is_refused(tmp_path: Path) -> None:
    proc = invoke("build", "--colour", "red", cwd=tmp_path)
    assert proc.returncode != 0
    assert "--colour" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


def test_failed_build_leaves_earlier_outputs_untouched(tmp_path: Path) -> None:
    book = tmp_path / "book"
    shutil.copytree(ARTICLE, book)
    assert invoke("build", "--manuscript", "book", "--output", "out", cwd=tmp_path).returncode == 0
    outputs = sorted(p for p in (tmp_path / "out").iterdir() if p.is_file())  # not the cache
    assert [p.suffix for p in outputs] == [".epub", ".pdf"]
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in outputs}

    chapter = book / "article.md"
    write(chapter, chapter.read_text(encoding="utf-8") + "\n![Gone](gone.png)\n")
    broken = chapter.read_bytes()
    proc = invoke("build", "--manuscript", "book", "--output", "out", cwd=tmp_path)
    assert "book/article.md:" in one_line_error(proc)
    after = sorted(p for p in (tmp_path / "out").iterdir() if p.is_file())
    assert [p.name for p in after] == [p.name for p in outputs], "partial or temporary files left"
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in after} == digests
    assert chapter.read_bytes() == broken


def test_fenced_images_are_dropped_with_a_warning(tmp_path: Path) -> None:
    """The fence's one rule: a warning naming file:line, the reference dropped,
    the alt text kept; the build goes on."""
    write(
        tmp_path / "book" / "f.md",
        GOOD + "\nSee ![a remote map](https://example.org/x.png).\n\n"
        "![a secret](../../etc/passwd.png)\n",
    )
    proc = invoke("epub", "--manuscript", "book/f.md", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "book/f.md:8: warning: image 'https://example.org/x.png' dropped: "
        "publisher never fetches URLs or absolute paths",
        "book/f.md:10: warning: image '../../etc/passwd.png' dropped: "
        "it is outside the manuscript folder",
    ]


def test_control_characters_are_removed_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path / "ctrl.md", "---\ntitle: Control\n---\n\nBell\x07 here.\n\nFine.\n")
    proc = invoke("epub", "--manuscript", "ctrl.md", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ctrl.md:5: warning: removed control character U+0007" in proc.stderr
    assert (tmp_path / "out" / "control.epub").is_file()


@pytest.mark.slow  # runs the external checkers in a subprocess
def test_check_task_passes_a_good_build_and_fails_a_broken_one(tmp_path: Path) -> None:
    """`invoke check` runs the validators for real: EPUBCheck, Ace, PDF, lint."""
    import zipfile

    need("java")
    need_ace()
    book = tmp_path / "book"
    shutil.copytree(ARTICLE, book)
    assert invoke("build", "--manuscript", "book", "--output", "out", cwd=tmp_path).returncode == 0
    proc = invoke("check", "--manuscript", "book", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "EPUBCheck 0 fatal, 0 errors, 0 warnings" in proc.stdout
    assert "DAISY Ace 0 violations" in proc.stdout and "check passed" in proc.stdout

    epub = next((tmp_path / "out").glob("*.epub"))
    broken = tmp_path / "broken.epub"
    with zipfile.ZipFile(epub) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "EPUB/chapter-01.xhtml":
                data = data.replace(b'lang="en" xml:lang="en"', b"", 1)
            dst.writestr(info, data)
    broken.replace(epub)
    proc = invoke("check", "--manuscript", "book", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 4
    assert "check FAILED" in proc.stdout


def test_an_unclosed_yaml_bracket_is_reported_on_its_own_line(tmp_path: Path) -> None:
    """Not on the line where the parser gave up (the next key's)."""
    from publisher.errors import MetadataError
    from publisher.source.manuscript import load

    book = tmp_path / "book"
    book.mkdir()
    (book / "book.yaml").write_text("title: B\nauthor: A\nlang: [en\nchapters: [one.md]\n")
    (book / "one.md").write_text("# One\n")
    with pytest.raises(MetadataError) as error:
        load(book)
    assert str(error.value).startswith(f"{book / 'book.yaml'}:3: error: invalid YAML")
