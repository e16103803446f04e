"""Shared fixtures: each fixture book is built once per session; external tools
are required under CI=true and skipped with a reason elsewhere.

Two tiers: `invoke test` runs everything; `invoke test --quick` (PUBLISHER_QUICK=1,
`-m "not slow"`) leaves out the slow tests and every external checker (EPUBCheck,
DAISY Ace, Calibre, Chromium): a test that reaches one is skipped there."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from publisher.build import BuildResult, build  # noqa: E402
from publisher.model import BuildOptions  # noqa: E402

STYLES = ROOT / "styles"
ARTICLE = ROOT / "manuscript"
GUIDE = ROOT / "examples" / "field-guide"
# A copy of ../shared/seed/article.txt, so that a clone alone can run the tests;
# test_fidelity checks the copy against the original where it is present.
SEED = ROOT / "tests" / "data" / "seed-article.txt"


QUICK = os.environ.get("PUBLISHER_QUICK") == "1"

# Property tests: `full` (the default) and `ci` try 200 examples each; CI's are
# derandomized, so that a red run is the same run on a developer's machine
# (`--hypothesis-profile=ci`); `quick` tries 25. No deadline: a shared machine's
# speed is not what they test.
settings.register_profile("full", max_examples=200, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("quick", max_examples=25, deadline=None)
settings.load_profile("quick" if QUICK else "ci" if os.environ.get("CI") == "true" else "full")


def pytest_configure(config: pytest.Config) -> None:
    if QUICK:
        _skip_real_checkers()


def _skip_real_checkers() -> None:
    """In a quick run, EPUBCheck and DAISY Ace called from Python skip the test
    that calls them, unless the test put a stand-in of its own on PATH (as the
    error catalogue's cases do)."""
    import publisher.check.ace
    import publisher.check.outputs

    real_java, real_node = shutil.which("java"), shutil.which("node")
    run_epubcheck, run_ace = publisher.check.outputs.run_epubcheck, publisher.check.ace.run_ace

    def quick_epubcheck(path: Path) -> list[publisher.check.outputs.Finding]:
        if real_java and shutil.which("java") == real_java:
            pytest.skip("EPUBCheck: external checkers run in the full suite (invoke test)")
        return run_epubcheck(path)

    def quick_ace(epub: Path, workdir: Path | None = None, **options: float) -> dict[str, object]:
        if real_node and shutil.which("node") == real_node:
            pytest.skip("DAISY Ace: external checkers run in the full suite (invoke test)")
        return run_ace(epub, workdir, **options)

    publisher.check.outputs.run_epubcheck = quick_epubcheck  # type: ignore[assignment]
    publisher.check.ace.run_ace = quick_ace  # type: ignore[assignment]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from the current outputs instead of comparing",
    )


CHECKERS = {"java", "chromium", "node", "ebook-meta", "ebook-convert", "ace-puppeteer"}


def need(tool: str) -> str:
    """The path of an external tool; a failure under CI, a skip elsewhere. The
    checkers are skipped in a quick run."""
    if QUICK and tool in CHECKERS:
        pytest.skip(f"{tool}: external checkers run in the full suite (invoke test)")
    found = shutil.which(tool)
    if found:
        return found
    message = f"{tool} is not installed (see README: system packages)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must install it")
    pytest.skip(message)


def need_ace() -> None:
    """DAISY Ace with node and a Chromium, as `check` runs it; a failure under CI,
    a skip elsewhere (and in a quick run)."""
    from publisher.check.ace import find_ace

    if QUICK:
        pytest.skip("DAISY Ace: external checkers run in the full suite (invoke test)")
    if find_ace() is None:
        message = "DAISY Ace (node, ace-puppeteer, chromium) is not installed (see ./setup.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must install it")
        pytest.skip(message)


@dataclass(frozen=True)
class Built:
    result: BuildResult
    epub: Path
    pdf: Path
    folder: Path

    def member(self, name: str) -> str:
        with zipfile.ZipFile(self.epub) as z:
            return z.read(name).decode("utf-8")


class Warnings(logging.Handler):
    """The messages of the warnings (and worse) logged while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def build_book(
    manuscript: Path, folder: Path, env: dict[str, str] | None = None, style: str | None = None
) -> Built:
    saved = dict(os.environ)
    os.environ.pop("SOURCE_DATE_EPOCH", None)
    os.environ.update(env or {})
    try:
        result = build(BuildOptions(manuscript, folder, STYLES, style=style))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    paths = {o.format: o.path for o in result.outputs}
    return Built(result, paths["epub"], paths["pdf"], folder)


@pytest.fixture(scope="session")
def article(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_book(ARTICLE, tmp_path_factory.mktemp("article"))


@pytest.fixture(scope="session")
def guide(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The example book: parts, front and back matter, notes, figures, code, scripts."""
    return build_book(GUIDE, tmp_path_factory.mktemp("guide"))


@pytest.fixture(scope="session")
def seed_lines() -> list[str]:
    return SEED.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def epubcheck_report(article: Built) -> list[object]:
    need("java")
    from publisher.check.outputs import run_epubcheck

    return list(run_epubcheck(article.epub))


def invoke(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """An Invoke task of this repository, run as a user would, from `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pdftotext(pdf: Path) -> str:
    tool = need("pdftotext")
    return subprocess.run(
        [tool, "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def chdir_tmp(tmp_path: Path) -> Iterator[Path]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)
