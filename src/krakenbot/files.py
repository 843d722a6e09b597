"""Files and directories the bot creates are private: 0600 files and 0700 directories, whatever the umask.

The store, its lock, the log and the candle cache can hold account details (and, through exchange
messages, credentials), so nobody but the owner may read them.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0700; directories that exist are left alone."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created meanwhile by someone else
            continue
        os.chmod(directory, DIR_MODE)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 when it does not exist (its directory as by ``private_dir``).

    An existing file keeps its contents and mode.
    """
    path = Path(path)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
