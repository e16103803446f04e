"""`publisher` is the whole interface, run here in-process (as mdformat tests its
CLI): every verb, its defaults, one-line errors; and the Invoke tasks are aliases
of its verbs with the same option names and short flags."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
from pathlib import Path

import pytest
from invoke.collection import Collection

from publisher.app.cli import SHORT, _parser, main

from conftest import ARTICLE, ROOT, need

# Each Invoke task and the `publisher` verb it stands for.
ALIASES = {
    "build": "build",
    "epub": "build",
    "pdf": "build",
    "watch": "watch",
    "serve": "serve",
    "new": "new",
    "proof": "proof",
    "gallery": "gallery",
    "check": "check",
    "lint-manuscript": "lint",
    "clean": "clean",
    "styles": "styles",
}


def _verbs() -> dict[str, dict[str, list[str]]]:
    """Each verb's options: long name -> its flags."""
    verbs: dict[str, dict[str, list[str]]] = {}
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for verb, verb_parser in sub.choices.items():
        options: dict[str, list[str]] = {}
        for action in verb_parser._actions:
            longs = [s for s in action.option_strings if s.startswith("--")]
            if longs and longs[0] != "--help":
                options[longs[0][2:]] = sorted(action.option_strings)
        verbs[verb] = options
    return verbs


def _tasks() -> dict[str, dict[str, list[str]]]:
    spec = importlib.util.spec_from_file_location("repo_tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    collection = Collection.from_module(module)
    tasks: dict[str, dict[str, list[str]]] = {}
    for name in collection.task_names:
        arguments = collection[name].get_arguments()
        tasks[name] = {
            a.name.replace("_", "-"): sorted(
                ("--" if len(n) > 1 else "-") + n.replace("_", "-") for n in a.names
            )
            for a in arguments
        }
    return tasks


def test_every_book_task_is_a_verb_with_the_same_options_and_short_flags() -> None:
    verbs, tasks = _verbs(), _tasks()
    assert set(ALIASES) <= set(tasks)
    for task, verb in ALIASES.items():
        for option, task_flags in tasks[task].items():
            if option == "folder":  # `new FOLDER` is positional in both
                continue
            assert option in verbs[verb], f"invoke {task} --{option}: publisher {verb} lacks it"
            assert task_flags == verbs[verb][option], (task, verb, option)
    # One letter, one option, everywhere.
    for options in [*verbs.values(), *(tasks[task] for task in ALIASES)]:
        for option, flags in options.items():
            shorts = [f[1:] for f in flags if len(f) == 2]
            assert shorts in ([], [SHORT.get(option)]), (option, flags)


def test_the_developer_chores_are_tasks_only() -> None:
    assert {"test", "lint", "lock", "bench"} <= set(_tasks())
    assert {"test", "lock", "bench"}.isdisjoint(_verbs())


def test_build_defaults_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(ARTICLE, tmp_path / "article")
    monkeypatch.chdir(tmp_path / "article")
    assert main(["build", "--only", "epub"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("epub: build/putin-visits-china-to-strengthen-partnership.epub")
    assert (tmp_path / "article" / "build").is_dir()
    assert main(["build", "--only", "epub", "-q"]) == 0
    assert capsys.readouterr().out == ""  # up to date, and quiet


def test_the_manuscript_as_an_option_and_as_an_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out")
    assert main(["build", "-m", str(ARTICLE), "-o", out, "--only", "epub", "-q"]) == 0
    assert main(["build", str(ARTICLE), "-o", out, "--only", "epub"]) == 0
    assert "(up to date)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["build", str(ARTICLE), "-m", str(tmp_path)])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "publisher build: error: give the manuscript once: as MANUSCRIPT or as "
        "--manuscript (see publisher build --help)"
    ]


@pytest.mark.parametrize(
    "argv",
    [["build", "--only", "mobi"], ["build", "--frobnicate"], ["lint", "-o", "x"], []],
    ids=["bad-choice", "unknown-option", "option-of-another-verb", "no-verb"],
)
def test_a_command_line_mistake_is_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ": error: " in err[0] and err[0].endswith("--help)"), err


def test_styles_lists_every_style_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == ["classic", "default", "modern", "news"]
    assert all(len(line.split(None, 1)[1]) > 20 for line in lines)


def test_new_then_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = tmp_path / "book"
    assert main(["new", str(book)]) == 0
    assert (book / "book.yaml").is_file()
    out = tmp_path / "out"
    assert main(["build", str(book), "-o", str(out), "--only", "epub", "-s", "modern"]) == 0
    assert next(out.glob("*.epub")).is_file()
    assert main(["clean", "-o", str(out)]) == 0
    assert not out.exists()
    assert f"removed {out}" in capsys.readouterr().out


def test_proof_renders_the_built_pdf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need("pdftoppm")
    out = str(tmp_path / "out")
    assert main(["build", str(ARTICLE), "-o", out, "-q"]) == 0
    assert main(["proof", str(ARTICLE), "-o", out, "-r", "20"]) == 0
    assert "proof: 2 page images" in capsys.readouterr().out
    assert len(list((tmp_path / "out" / "proof").glob("*.png"))) >= 3  # pages + sheet


def test_gallery_of_the_current_folder_names_the_book_by_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    need("pdftoppm")
    book = tmp_path / "mybook"
    book.mkdir()
    (book / "book.md").write_text("---\ntitle: Gallery\nlang: en\n---\n\nText.\n")
    monkeypatch.chdir(book)
    assert main(["gallery", "-s", "default", "-o", str(tmp_path / "gallery")]) == 0
    out = capsys.readouterr().out
    assert "gallery: default / mybook: 1 pages, " in out, out
    assert (tmp_path / "gallery" / "default" / "mybook" / "proof").is_dir()


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("abc", "error: --port 'abc' is not a number (use 0 to 65535)"),
        ("99999", "error: --port 99999 is out of range (use 1 to 65535, or 0 for any free one)"),
    ],
)
def test_a_port_that_is_no_port_is_named_for_what_it_is(
    port: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(ARTICLE), "--port", port]) == 2
    assert capsys.readouterr().err.splitlines() == [message]


def test_the_help_and_the_readme_name_every_pdf_standard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """profiles.STANDARDS is the one list; every help text and the README give it whole."""
    from publisher.pdf.profiles import STANDARDS

    with pytest.raises(SystemExit):
        main(["build", "--help"])
    cli_help = " ".join(capsys.readouterr().out.split())
    spec = importlib.util.spec_from_file_location("repo_tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    task_help = module.HELP["pdf_standard"]
    readme = (ROOT / "README.md").read_text()
    option = re.search(r"--pdf-standard ([a-z0-9|-]+)", readme)
    assert option is not None
    assert option.group(1).split("|") == [*STANDARDS, "none"]
    for standard in STANDARDS:
        assert re.search(rf"\b{standard}\b", cli_help), f"publisher build --help lacks {standard}"
        assert re.search(rf"\b{standard}\b", task_help), f"tasks.py's help lacks {standard}"
