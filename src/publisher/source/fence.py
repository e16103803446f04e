"""The fence: every file the manuscript makes publisher open (book.yaml, the
chapters, listed or found, the cover, the images) is taken through `locate` first.

The rules, in order:

1. The name must be one a file can have: no NUL or other control character, no
   lone surrogate (a name that is not valid UTF-8), no part over 255 bytes and no
   path over 4096 bytes.
2. After `..` and every symbolic link are resolved (a chain of them, a linked
   folder), the file must be inside the manuscript's root folder. A loop of links
   is refused.
3. It must be a regular file: not a folder, a pipe, a socket or a device (one would
   block or never end, another reads the machine's state).

Hard links are accepted. A hard link is the file itself under a second name, and
nothing on the file says where its other names are (`st_nlink > 1` is as true of
two names inside the folder as of one outside); it cannot cross a file system (so
never reaches /proc or /dev), zip archives and git cannot carry one, and Linux's
`fs.protected_hardlinks` stops anyone linking to a file they do not own. Whoever
can make one can read the file anyway.

`locate` returns the resolved path or a `Refused` (what kind, and the words for
the message); each caller words its own message and decides between an error and a
warning. `read_bytes` then opens the located file without following a link at its
last step and checks again, on the open file, that it is a regular file."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from publisher.errors import Location, ManuscriptError

NAME_MAX = 255  # bytes in one part of a path (Linux, macOS, Windows)
PATH_MAX = 4096  # bytes in a whole path (Linux)

# Kinds of refusal.
NAME = "name"  # no file can have that name
OUTSIDE = "outside"  # it leads out of the manuscript folder
MISSING = "missing"  # nothing there (or a link to nothing)
FOLDER = "folder"
SPECIAL = "special"  # a pipe, socket, device or a loop of links
UNREADABLE = "unreadable"  # the system refused to look at it


@dataclass(frozen=True)
class Refused:
    """Why the fence stops a name: `why` follows the name in a message
    ("chapter 'x.md' is outside the manuscript folder")."""

    kind: str
    why: str
    hint: str = ""


def name_problem(name: str) -> Refused | None:
    """What makes `name` one no file can have, if anything."""
    if "\x00" in name:
        return Refused(NAME, "has a NUL character in its name", "correct the name")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        return Refused(NAME, "has a control character in its name", "correct the name")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        return Refused(
            NAME, "has a name that is not valid UTF-8", "rename the file with letters only"
        )
    encoded = name.encode("utf-8")
    if any(len(part) > NAME_MAX for part in encoded.replace(b"\\", b"/").split(b"/")):
        return Refused(
            NAME,
            f"has a name longer than {NAME_MAX} bytes",
            "shorten it: file systems allow no longer name",
        )
    if len(encoded) > PATH_MAX:
        return Refused(
            NAME, f"has a path longer than {PATH_MAX} bytes", "give a shorter relative path"
        )
    return None


def resolve(base: Path, name: str) -> Path | Refused:
    """Where `name`, relative to the folder `base`, leads: `..` and symbolic links
    resolved, without looking at what is there. For links between chapters, which
    are compared, never opened."""
    problem = name_problem(name)
    if problem is not None:
        return problem
    try:
        return (base / name).resolve()
    except RuntimeError:  # Python 3.11's word for a loop of links
        return _LOOP
    except OSError as exc:
        return _os_refusal(exc)
    except ValueError:  # a character the system cannot take in a name
        return Refused(NAME, "has a name no file can have", "correct the name")


def locate(root: Path, base: Path, name: str) -> Path | Refused:
    """The file `name` (as the manuscript writes it, relative to the folder `base`)
    leads to, if the fence lets it through: resolved, inside `root` (itself
    resolved), a regular file."""
    path = resolve(base, name)
    if isinstance(path, Refused):
        return path
    if not path.is_relative_to(root):
        return Refused(OUTSIDE, "is outside the manuscript folder", "copy it into the folder")
    return check(path)


def check(path: Path) -> Path | Refused:
    """`path` (resolved) if it is a regular file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return Refused(MISSING, "not found")
    except OSError as exc:
        return _os_refusal(exc)
    if stat.S_ISDIR(mode):
        return Refused(FOLDER, "is a folder, not a file", "name a file inside it")
    if not stat.S_ISREG(mode):
        return _NOT_REGULAR
    return path


_LOOP = Refused(SPECIAL, "is a loop of symbolic links", "point the link at a file")
_SWAPPED = Refused(
    SPECIAL, "was replaced by a symbolic link while it was read", "run the task again"
)
_NOT_REGULAR = Refused(
    SPECIAL, "is not a regular file", "give a regular file, not a pipe, socket or device"
)


def _os_refusal(exc: OSError) -> Refused:
    if exc.errno == errno.ELOOP:
        return _LOOP
    if exc.errno == errno.ENAMETOOLONG:
        return Refused(NAME, "has a name too long for the file system", "shorten it")
    reason = exc.strerror or exc.__class__.__name__
    return Refused(UNREADABLE, f"cannot be opened: {reason}", "check its permissions")


_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def read_bytes(path: Path, limit: int | None = None) -> bytes | Refused:
    """The bytes of a located file. Opened without following a link at the last
    step and without blocking (a pipe put there since `locate` looked is refused,
    not waited on); the open file is checked to be a regular file, and to be where
    `path` (resolved by `locate`) says: a folder on the way swapped for a link since
    is refused. With `limit`, at most `limit + 1` bytes are read: the caller
    refuses a longer file without holding it."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        return Refused(MISSING, "not found")
    except OSError as exc:
        if exc.errno == errno.ELOOP and path.is_symlink():  # O_NOFOLLOW met a link
            return _SWAPPED
        return _os_refusal(exc)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return _NOT_REGULAR
        opened = _opened_path(file.fileno())
        if opened is not None and opened != str(path):
            return _SWAPPED  # a folder on the way became a link since `locate` looked
        return file.read() if limit is None else file.read(limit + 1)


def _opened_path(fd: int) -> str | None:
    """Where the kernel says an open file is, every link resolved (Linux: its
    /proc/self/fd entry); None where it cannot say."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def shown(name: str, limit: int = 80) -> str:
    """A name as a message shows it: control characters and surrogates as
    escapes (nothing reaches the terminal raw), a very long one shortened."""
    text = "".join(
        c
        if 0x20 <= ord(c) < 0x7F or (ord(c) > 0x9F and not 0xD800 <= ord(c) <= 0xDFFF)
        else f"\\x{ord(c):02x}"
        if ord(c) < 0x100
        else f"\\u{ord(c):04x}"
        for c in name
    )
    if len(text) > limit:
        text = text[: limit - 20] + "…" + text[-19:]
    return text


def refusal(
    what: str,
    name: str,
    refused: Refused,
    where: Location,
    error: type[ManuscriptError] = ManuscriptError,
) -> ManuscriptError:
    """The error for a file the fence will not open, where the caller has no
    message of its own that says it better: "image 'x' is not a regular file"."""
    return error(f"{what} '{shown(name)}' {refused.why}", where=where, hint=refused.hint)
