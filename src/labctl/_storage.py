"""Where dependency data lives during a run.

Every run writes ~1,300 Postgres template files and deletes them again. On a RAM disk that costs
~0.1 s; on some disks it is much slower after a burst of deletions (on ext4 without a journal,
freed inodes are not reused for a while and each new file scans past them: 0.8-1.0 s per copy,
measured on this project's CI machine). So data goes to ``$LABCTL_DATA_DIR`` when set, else to
/dev/shm when it has room, else beside the run's other files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DATA_DIR_ENV = "LABCTL_DATA_DIR"
RAM_DISK = Path("/dev/shm")
RAM_DISK_MIN_FREE = 1 << 30  # leave it alone when it is small (64 MiB in a container)


def data_parent() -> Path | None:
    """The directory to create dependency data dirs in, or None for the caller's own workdir."""
    if env := os.environ.get(DATA_DIR_ENV):
        return Path(env)
    try:
        room = shutil.disk_usage(RAM_DISK).free
    except OSError:
        return None
    return RAM_DISK if room >= RAM_DISK_MIN_FREE else None
