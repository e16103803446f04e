"""setup.sh, the repository's one-step set-up: its help is its header comment, and
its plan names only what it will install (here with stand-ins for dpkg-query, Java
and Python, so that nothing is installed for real)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

SETUP = ROOT / "setup.sh"
STAND_IN = "#!/bin/sh\nexit 0\n"
INSTALLED = "#!/bin/sh\nprintf 'install ok installed'\n"


def _script(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def _setup(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SETUP), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_help_is_the_header_comment_and_nothing_more() -> None:
    lines = SETUP.read_text().splitlines()[1:]
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line[2:] if line.startswith("# ") else line[1:])
    done = _setup("--help")
    assert done.returncode == 0
    assert done.stdout.splitlines() == header
    assert "PUBLISHER_VENV" in header[-1]


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, str]:
    """Every system package installed, Java there, a virtual environment that imports
    (its python a stand-in): what setup.sh finds on a second run."""
    bin_ = tmp_path / "bin"
    _script(bin_, "dpkg-query", INSTALLED)
    _script(bin_, "java", STAND_IN)
    python = _script(bin_, "python3", STAND_IN)
    _script(tmp_path / "venv" / "bin", "python", STAND_IN)
    return {
        "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}",
        "PYTHON": str(python),
        "PUBLISHER_VENV": str(tmp_path / "venv"),
    }


def _stamp(venv: Path) -> None:
    files = ROOT / "pyproject.toml", ROOT / "constraints.txt"
    done = subprocess.run(
        ["cksum"], input=b"".join(f.read_bytes() for f in files), capture_output=True, check=True
    )
    (venv / ".publisher-setup").write_bytes(done.stdout)


def test_a_second_run_plans_nothing(machine: dict[str, str]) -> None:
    _stamp(Path(machine["PUBLISHER_VENV"]))
    done = _setup("--no-checkers", env=machine)
    assert done.returncode == 0, done.stderr
    assert "setup: nothing to install: everything is in place" in done.stdout
    assert " MB" not in done.stdout
    assert "installing" not in done.stdout


def test_the_plan_names_only_what_is_missing(machine: dict[str, str]) -> None:
    done = _setup("--no-checkers", env=machine)  # no stamp: the environment is not set up
    assert done.returncode == 0, done.stderr
    plan = [line for line in done.stdout.splitlines() if " MB" in line]
    assert len(plan) == 1 and "Python packages into" in plan[0] and "~350 MB" in plan[0]
    assert "setup: installing publisher and its locked dependencies" in done.stdout
    # Set up now: the next run plans nothing.
    again = _setup("--no-checkers", env=machine)
    assert "setup: nothing to install: everything is in place" in again.stdout
