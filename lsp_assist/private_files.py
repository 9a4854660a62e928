"""Files only the user can read: the state directory and everything lsp-assist keeps in it.

The review cache quotes the user's code, the workspace index holds its signatures and
docstrings: on a shared machine they must not be readable by others. Directories are 0700 and
files 0600 whatever the umask (a umask only removes bits, and some remove too many), and a
directory an older version left open (0755) is tightened, with what is in it, on the next write.

Writes are atomic: a temporary file, created 0600 beside the target, renamed over it. A reader
sees the old file or the new one, never half of one, and never a moment of wider permissions.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Makes `path` a directory only its owner can enter: created 0700 (missing parents are
    created as `mkdir -p` would), or tightened to 0700 with its contents if it is open to
    others. Returns `path`."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True)
        os.chmod(path, DIR_MODE)  # exactly 0700: the umask may have taken the owner's bits
    except FileExistsError:
        if path.is_dir() and stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
            _tighten(path)
    return path


def _tighten(top: Path) -> None:
    os.chmod(top, DIR_MODE)
    for folder, dirs, files in os.walk(top):
        for name in dirs:
            os.chmod(os.path.join(folder, name), DIR_MODE)
        for name in files:
            file = os.path.join(folder, name)
            if not os.path.islink(file):  # chmod would change where the link points
                os.chmod(file, FILE_MODE)


@contextlib.contextmanager
def private_file(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file to write `path` with, in a private directory: the file replaces
    `path` (0600) when the block ends without an error, and is removed if it raises."""
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), FILE_MODE)  # mkstemp's 0600, unless the umask took more
            yield out
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` atomically, as a file only its owner can read."""
    with private_file(path) as out:
        out.write(text)
