"""Child-process plumbing for the local servers: who they run as, and that they die with us.

Owns the unprivileged user Postgres runs as under root, the permission check that user needs, and
the two ways of starting a child: ``spawn`` for a server (own session, log file, parent-death
signal) and ``run`` for a short build step whose output goes into the error if it fails.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import DependencyError
from labctl.processes import dies_with_parent

BUILD_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class User:
    """The unprivileged account Postgres runs as when labctl runs as root."""

    name: str
    uid: int
    gid: int


def postgres_user() -> User | None:
    """None when not root: then Postgres runs as the current user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with suppress(KeyError):
            entry = pwd.getpwnam(name)
            return User(name, entry.pw_uid, entry.pw_gid)
    raise DependencyError(
        "running as root, and neither a 'postgres' nor a 'nobody' user exists to run Postgres",
        hint="create one (useradd --system postgres) or run labctl as a normal user",
    )


def reachable(path: Path, user: User) -> bool:
    """Whether ``user`` may search every directory down to ``path`` and execute/enter ``path``.

    The servers are spawned with no supplementary groups, so only the primary group counts.
    """
    for entry in (path, *path.parents):
        info = entry.stat()
        if info.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif info.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def give(path: Path, user: User | None) -> None:
    if user is not None:
        os.chown(path, user.uid, user.gid)


def run(argv: list[str], what: str, cwd: Path, user: User | None, stdin: str = "") -> None:
    """Run a short build step (initdb, single-user postgres); DependencyError with its output."""
    try:
        done = subprocess.run(
            argv,
            input=stdin.encode(),
            capture_output=True,
            cwd=cwd,
            timeout=BUILD_TIMEOUT_S,
            preexec_fn=dies_with_parent(signal.SIGKILL),
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise DependencyError(
            f"{what} did not finish within {BUILD_TIMEOUT_S:.0f} s",
            hint=f"run it by hand to see why: {' '.join(argv)}",
        ) from exc
    output = (done.stdout + done.stderr).decode(errors="replace").splitlines()
    if done.returncode != 0:
        raise DependencyError(
            f"{what} failed (exit code {done.returncode}); its output is below",
            hint=f"run it by hand to see why: {' '.join(argv)}",
            log=output,
        )
