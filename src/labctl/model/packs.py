"""Private grader packs: a lab's graders loaded from outside the learner's repository.

``--graders`` takes a directory, or a git URL (``https://…``, ``ssh://…``, ``git@host:…``,
``file://…``, or any path ending in ``.git``) with an optional ``#subdir``. A URL is cloned,
shallow, into a temporary directory that is deleted when the run ends, interrupted or not, so
a candidate's machine or repository never keeps the hidden checks.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labctl.errors import LabError

CLONE_TIMEOUT_S = 120.0
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)")


def is_git_url(source: str) -> bool:
    location = source.partition("#")[0]
    return bool(_URL.match(location)) or location.rstrip("/").endswith(".git")


@contextmanager
def grader_pack(source: str | None) -> Iterator[Path | None]:
    """The grader pack ``source`` names, as a directory for the length of the ``with``."""
    if source is None:
        yield None
    elif is_git_url(source):
        url, _, subdir = source.partition("#")
        with tempfile.TemporaryDirectory(prefix="labctl-graders-") as tmp:
            clone = Path(tmp) / "pack"
            _clone(url, clone)
            yield _inside(clone, subdir, source)
    else:
        yield _directory(Path(source))


def _clone(url: str, into: Path) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # fail, never wait for a password
    command = ["git", "clone", "--quiet", "--depth", "1", url, str(into)]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=CLONE_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise LabError(
            f"--graders {url}: git is not installed", hint="install git, or pass a directory"
        ) from None
    except subprocess.TimeoutExpired:
        raise LabError(
            f"--graders {url}: git clone took over {CLONE_TIMEOUT_S:g} s",
            hint="check the URL and your network, or clone it yourself and pass the directory",
        ) from None
    if proc.returncode != 0:
        raise LabError(
            f"--graders {url}: git clone failed (exit {proc.returncode})",
            hint="check the URL and that this machine may read it (a deploy key or token)",
            log=proc.stderr.strip().splitlines()[-10:],
            log_source="git",
        )


def _inside(clone: Path, subdir: str, source: str) -> Path:
    pack = (clone / subdir).resolve() if subdir else clone
    if not pack.is_relative_to(clone.resolve()) or not pack.is_dir():
        raise LabError(
            f"--graders {source}: the repository has no directory {subdir!r}",
            hint="after '#', name the grader pack's directory inside the repository",
        )
    return pack


def _directory(path: Path) -> Path:
    if not path.is_dir():
        raise LabError(
            f"--graders {path}: no such directory",
            hint="pass the grader pack's directory (holding test_*.py), or a git URL",
        )
    return path.resolve()
