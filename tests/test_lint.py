"""The manuscript linter (`invoke lint-manuscript`): one small manuscript per
check, each finding as its exact `file:line: CODE severity: message` line; exit
status 1 on errors only; the article and the example book lint clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from publisher.check.lint import CODES, lint_manuscript, summary
from publisher.check.outputs import Finding, Report
from publisher.errors import ManuscriptError

from conftest import ARTICLE, GUIDE
from conftest import invoke as run_task

HEAD = "---\ntitle: Lint\nlang: en\n---\n\n"  # the body starts on line 6


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def book(folder: Path, files: dict[str, str]) -> Path:
    """A folder manuscript: book.yaml and the given chapter files."""
    write(folder / "book.yaml", "title: Lint\nlang: en\n")
    for name, text in files.items():
        write(folder / name, text)
    return folder


def lint(name: str, body: str, head: str = HEAD) -> list[str]:
    """Lines for a one-file manuscript written into the current (temporary) folder."""
    write(Path(name), head + body)
    return [str(f) for f in lint_manuscript(Path(name))]


def invoke(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_task(*args, cwd=cwd, timeout=120)


@pytest.mark.usefixtures("chdir_tmp")
def test_heading_skip() -> None:
    assert lint("h.md", "# One\n\nText.\n\n### Three\n\nText.\n\n## Two\n\n#### Four\n") == [
        "h.md:10: MS001 warning: heading 'Three' is level 3 after level 1, skipping level 2 "
        "(make it ##, or add the missing level above it)",
        "h.md:16: MS001 warning: heading 'Four' is level 4 after level 2, skipping level 3 "
        "(make it ###, or add the missing level above it)",
    ]


@pytest.mark.usefixtures("chdir_tmp")
def test_heading_levels_start_below_the_title() -> None:
    # An article's sections start at ##: the title above them is level 1.
    assert lint("a.md", "Lead.\n\n## Section\n\n### Sub\n\nText.\n") == []
    assert lint("b.md", "Lead.\n\n### Too deep\n") == [
        "b.md:8: MS001 warning: heading 'Too deep' is level 3 after level 1, skipping level 2 "
        "(make it ##, or add the missing level above it)",
    ]


@pytest.mark.usefixtures("chdir_tmp")
def test_empty_chapter() -> None:
    assert lint("e.md", "# Full\n\nText.\n\n# Hollow\n\n## Only a heading\n\n# Last\n\nEnd.\n") == [
        "e.md:10: MS002 warning: chapter 'Hollow' is empty: nothing follows its heading "
        "(write its text, or remove the heading)",
    ]


def test_duplicate_ids(chdir_tmp: Path) -> None:
    book(
        chdir_tmp / "book",
        {
            "1-a.md": "# A {#same}\n\nText [x]{#mark}.\n",
            "2-b.md": "# B {#same}\n\nText [y]{#mark} and\n[z]{#toc}.\n\n"
            "Early [w]{#late} text.\n\n## Late {#late}\n\n[v]{#fn-c2-1}\n",
        },
    )
    assert [str(f) for f in lint_manuscript(Path("book"))] == [
        "book/2-b.md:1: MS003 error: id 'same' is already used in the book, so this one is "
        "renamed and links to #same do not reach it (give it an id of its own)",
        "book/2-b.md:3: MS003 error: id 'mark' is already used in the book, so this one is "
        "renamed and links to #mark do not reach it (give it an id of its own)",
        # Links to an id of publisher's own form, as written, reach the renamed one.
        "book/2-b.md:4: MS003 error: id 'toc' is one publisher makes itself, so this one is "
        "renamed (give it an id of its own)",
        # The heading takes its id first: the span before it is the one renamed.
        "book/2-b.md:6: MS003 error: id 'late' is already used in the book, so this one is "
        "renamed and links to #late do not reach it (give it an id of its own)",
        "book/2-b.md:10: MS003 error: id 'fn-c2-1' is one publisher makes itself, so this one "
        "is renamed (give it an id of its own)",
    ]


def test_image_without_alt_text(chdir_tmp: Path) -> None:
    Image.new("RGB", (4, 4)).save(chdir_tmp / "dot.png")
    assert lint("i.md", "![](dot.png)\n\nInline ![A dot](dot.png) and\n![](dot.png).\n") == [
        "i.md:6: MS004 error: image 'dot.png' has no alt text, so readers who cannot see it "
        "get nothing (describe it between the brackets: ![what it shows](dot.png))",
        "i.md:9: MS004 error: image 'dot.png' has no alt text, so readers who cannot see it "
        "get nothing (describe it between the brackets: ![what it shows](dot.png))",
    ]


@pytest.mark.usefixtures("chdir_tmp")
def test_straight_quotes_left_by_smart_typography() -> None:
    body = (
        'Paired "quotes" and it\'s fine; `code "stays"` and \\"escaped\\" too.\n'
        "\n"
        "```\nprint('code block')\n```\n"
        "\n"
        "Back in the '90s, and\n"
        'a "dangling one.\n'
    )
    assert lint("q.md", body) == [
        "q.md:12: MS005 warning: straight ' left in “Back in the '90s, and” (smart quotes "
        "found no partner for it: type ’ for an apostrophe or ‘ ’ as quotes yourself, "
        "or write \\' to keep it straight)",
        'q.md:13: MS005 warning: straight " left in “a "dangling one.” (smart quotes found '
        'no partner for it: type “ or ” yourself, or write \\" to keep it straight)',
    ]


@pytest.mark.usefixtures("chdir_tmp")
def test_quotes_follow_the_language() -> None:
    head = "---\ntitle: Lint\nlang: de\n---\n\n"
    assert lint("de.md", 'Ein "Zitat und "noch eins".\n', head) == [
        'de.md:6: MS005 warning: straight " left in “Ein "Zitat und „noch…” (smart quotes '
        'found no partner for it: type „ or “ yourself, or write \\" to keep it straight)',
    ]


@pytest.mark.usefixtures("chdir_tmp")
def test_hyphens_left_by_smart_typography() -> None:
    body = "An -- en and --- em dash.\n\nBut wait----what, and `a----b` in code.\n"
    assert lint("d.md", body) == [
        "d.md:8: MS006 warning: hyphens '----' left in the text (only -- and --- become – and "
        "—: type the dash you mean, or escape the hyphens as \\-)",
    ]


@pytest.mark.usefixtures("chdir_tmp")
def test_note_without_definition() -> None:
    body = "A note.[^1] Another.[^2]\nAnd [^two] here.\n\n[^1]: The first.\n"
    assert lint("n.md", body) == [
        "n.md:6: MS007 error: note [^2] has no definition in this file, so it is printed as "
        "it stands (add a line '[^2]: the note's text' to this file)",
        "n.md:7: MS007 error: note [^two] has no definition in this file, so it is printed as "
        "it stands (add a line '[^two]: the note's text' to this file)",
    ]


@pytest.mark.usefixtures("chdir_tmp")
def test_note_never_called() -> None:
    body = "A note.[^used]\n\n[^used]: Called.\n\n[^spare]: Never called.\n    More of it.\n"
    assert lint("u.md", body) == [
        "u.md:10: MS008 warning: note [^spare] is defined but never called, so it is left out "
        "(call it with [^spare] in the text of this file, or delete it)",
    ]


def test_links_that_go_nowhere(chdir_tmp: Path) -> None:
    book(
        chdir_tmp / "book",
        {
            "1-a.md": "# A {#a}\n\nTo [b](2-b.md#b), [web](https://x.org).\n",
            "2-b.md": "# B {#b}\n\n"
            "To [a](1-a.md#a) and [nothing](1-a.md#nothing),\n"
            "then [here](#nowhere) and [again](#nowhere).\n\n"
            "## See [a missing chapter](3-c.md)\n\n"
            "| cell |\n|---|\n| [chat](irc://example.org/room) |\n",
        },
    )
    assert [str(f) for f in lint_manuscript(Path("book"))] == [
        "book/2-b.md:3: MS009 error: link '1-a.md#nothing' goes nowhere: no heading or element "
        "has the id 'nothing'; the book keeps its text only (point it at a heading's id, "
        "a chapter file, or a web address)",
        "book/2-b.md:4: MS009 error: link '#nowhere' goes nowhere: no heading or element has "
        "the id 'nowhere'; the book keeps its text only (point it at a heading's id, "
        "a chapter file, or a web address)",
        "book/2-b.md:6: MS009 error: link '3-c.md' goes nowhere: it is not a chapter of this "
        "book; the book keeps its text only (point it at a heading's id, a chapter file, "
        "or a web address)",
        "book/2-b.md:10: MS009 error: link 'irc://example.org/room' goes nowhere: links of this "
        "kind are not kept; the book keeps its text only (point it at a heading's id, "
        "a chapter file, or a web address)",
    ]


@pytest.mark.usefixtures("chdir_tmp")
def test_images_the_fence_drops() -> None:
    body = "Text ![a remote map](https://example.org/x.png) and\n![a secret](../secret.png).\n"
    assert lint("book/f.md", body) == [
        "book/f.md:6: MS010 error: image 'https://example.org/x.png' is dropped: publisher "
        "never fetches URLs or absolute paths; the book keeps its alt text only (copy the "
        "file into the manuscript folder and give its relative path)",
        "book/f.md:7: MS010 error: image '../secret.png' is dropped: it is outside the "
        "manuscript folder; the book keeps its alt text only (copy the file into the "
        "manuscript folder and give its relative path)",
    ]


def test_missing_and_broken_images_are_all_found(chdir_tmp: Path) -> None:
    (chdir_tmp / "broken.png").write_bytes(b"not a PNG")
    body = "![A map](images/map.png)\n\n# Later\n\nText ![A broken one](broken.png).\n"
    assert lint("m.md", body) == [
        "m.md:6: MS011 error: image 'images/map.png' not found (check the file name; paths "
        "are relative to the chapter's file)",
        "m.md:10: MS011 error: image 'broken.png' is not a valid PNG file "
        "(UnidentifiedImageError) (re-export the image or fix its file extension)",
    ]


@pytest.mark.usefixtures("chdir_tmp")
def test_control_characters() -> None:
    assert lint("c.md", "Fine.\n\nBell\x07 here.\n") == [
        "c.md:8: MS012 warning: removed control character U+0007 "
        "(not allowed in EPUB or PDF text; delete it)",
    ]


def test_findings_in_book_order_then_by_line(chdir_tmp: Path) -> None:
    book(
        chdir_tmp / "book",
        {"2-z.md": "# Z\n\nTo [x](#x).\n\n### Deep\n", "10-a.md": "# A\n\n![](none.png)\n"},
    )
    findings = lint_manuscript(Path("book"))
    assert [(f.where, f.code, f.severity, f.name) for f in findings] == [
        ("book/2-z.md:3", "MS009", "error", "link-unresolved"),
        ("book/2-z.md:5", "MS001", "warning", "heading-skip"),
        ("book/10-a.md:3", "MS004", "error", "image-no-alt"),
        ("book/10-a.md:3", "MS011", "error", "image-invalid"),
    ]
    assert summary(findings) == "lint FAILED: 3 error(s), 1 warning(s)"


def test_invoke_exit_status(tmp_path: Path) -> None:
    write(tmp_path / "warn.md", HEAD + "# A\n\n### C\n\nText.\n")
    proc = invoke("lint-manuscript", "--manuscript", "warn.md", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "warn.md:8: MS001 warning: heading 'C' is level 3 after level 1, skipping level 2 "
        "(make it ##, or add the missing level above it)",
        "lint passed: 0 error(s), 1 warning(s)",
    ]
    assert proc.stderr == ""

    write(tmp_path / "err.md", HEAD + "See [there](#there).\n")
    proc = invoke("lint-manuscript", "--manuscript", "err.md", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "err.md:6: MS009 error: link '#there' goes nowhere: no heading or element has the id "
        "'there'; the book keeps its text only (point it at a heading's id, a chapter file, "
        "or a web address)",
        "lint FAILED: 1 error(s), 0 warning(s)",
    ]
    assert proc.stderr == "", "render's own warning must not be printed twice"


def test_invoke_bad_manuscript_is_one_line(tmp_path: Path) -> None:
    write(tmp_path / "bad.md", "---\ntitle: A\ndashes: long\n---\nText\n")
    proc = invoke("lint-manuscript", "--manuscript", "bad.md", cwd=tmp_path)
    assert proc.returncode == ManuscriptError.exit_code
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "bad.md:3: error: 'dashes: long' is not one of en, em (write dashes: en or em)"
    ]


@pytest.mark.parametrize("manuscript", [ARTICLE, GUIDE], ids=["article", "field-guide"])
def test_shipped_manuscripts_lint_clean(manuscript: Path) -> None:
    assert [str(f) for f in lint_manuscript(manuscript)] == []


def test_codes_are_stable() -> None:
    assert {code: severity for code, (_, severity) in CODES.items()} == {
        "MS001": "warning",
        "MS002": "warning",
        "MS003": "error",
        "MS004": "error",
        "MS005": "warning",
        "MS006": "warning",
        "MS007": "error",
        "MS008": "warning",
        "MS009": "error",
        "MS010": "error",
        "MS011": "error",
        "MS012": "warning",
    }


def test_check_fails_on_lint_errors_not_on_lint_warnings() -> None:
    warning = Finding("lint", "WARNING", "MS001", "heading skips", "a.md:3")
    error = Finding("lint", "ERROR", "MS009", "link goes nowhere", "a.md:5")
    epub_warning = Finding("epubcheck", "WARNING", "OPF-085", "odd", "EPUB/content.opf")

    advised = Report([warning], ["a.md: lint 0 errors, 1 warning(s)"])
    assert advised.ok
    assert advised.lines() == [
        "a.md:3: warning: MS001 heading skips [lint]",
        "ok: a.md: lint 0 errors, 1 warning(s)",
        "check passed: 0 problem(s), 1 advisory warning(s), 0 note(s)",
    ]
    assert not Report([warning, error]).ok
    assert Report([warning, error]).lines()[-1] == (
        "check FAILED: 1 problem(s), 1 advisory warning(s), 0 note(s)"
    )
    assert not Report([epub_warning]).ok  # EPUBCheck's warnings still fail
    assert Report([epub_warning]).lines()[-1] == "check FAILED: 1 problem(s), 0 note(s)"
