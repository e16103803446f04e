"""Files written whole or not at all: the outputs and the build records."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: readers see the old file or the new
    one, never a partial one, even if the process is killed."""
    temp = _written_beside(path, data)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def commit_all(files: dict[Path, bytes]) -> None:
    """Writes every file or none: each is written beside its target first; only when
    all are on disk are they renamed into place, and if a rename fails, the targets
    already replaced get their earlier contents back. A failure at any step leaves
    every earlier file as it was (readers never see a mix of old and new outputs)."""
    temps: dict[Path, Path] = {}
    backups: dict[Path, Path | None] = {}
    try:
        for path, data in files.items():
            temps[path] = _written_beside(path, data)
        for path in files:
            backups[path] = _kept(path)
        done: list[Path] = []
        try:
            for path, temp in temps.items():
                os.replace(temp, path)
                done.append(path)
        except BaseException:
            for path in done:  # put back what was there
                backup = backups[path]
                if backup is None:
                    path.unlink(missing_ok=True)
                else:
                    os.replace(backup, path)
                    backups[path] = None
            raise
    finally:
        for leftover in [*temps.values(), *(b for b in backups.values() if b is not None)]:
            leftover.unlink(missing_ok=True)


def _written_beside(path: Path, data: bytes) -> Path:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return Path(temp)


def _kept(path: Path) -> Path | None:
    """A second name for the current file (a hard link: no copy), or None if there
    is none; a copy where the file system has no hard links."""
    if not path.exists():
        return None
    backup = path.with_name(f".{path.name}.{os.getpid()}.old")
    backup.unlink(missing_ok=True)
    try:
        os.link(path, backup)
    except OSError:
        backup.write_bytes(path.read_bytes())
    return backup
