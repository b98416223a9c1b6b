"""All-or-nothing file writes: a report file on disk is either complete or absent.

The data goes to a temporary file beside the target, is flushed to disk, and only then
replaces the target in one ``os.replace``. Whatever interrupts the write, KeyboardInterrupt
included, the temporary file is removed and the target keeps its previous content.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

# mkstemp creates files 0600; a report is meant to be read by CI runners and colleagues.
_NEW_FILE_MODE = 0o644


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; missing parent directories are created."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        _fill(fd, data)
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fill(fd: int, data: bytes) -> None:
    with open(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _mode_for(target: Path) -> int:
    """Keep an existing report's permissions; give a new one the usual 0644."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return _NEW_FILE_MODE


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; not every platform lets a directory be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
