"""Private grader packs: a lab's graders loaded from outside the learner's repository.

``--graders`` takes a directory, or a git URL (``https://…``, ``ssh://…``, ``git@host:…``,
``file://…``, or any path ending in ``.git``) with an optional ``#subdir``. A URL is cloned,
shallow, into a temporary directory that is deleted when the run ends, interrupted or not, so
a candidate's machine or repository never keeps the hidden checks.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
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


def pack_object(
    pack: Path, ref: str, *, where: str, hint: str = "point it at module:name inside the pack"
) -> object:
    """``module:attr`` from the grader pack ``pack``, imported under the name pytest gives it
    when it collects the pack (``idempotent_payments.bank`` for a package under ``graders/``),
    so graders that import it share its classes and state. ``where`` names the lab.toml key."""
    module_name, _, attr = ref.partition(":")
    root, prefix = _import_root(pack)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        return getattr(importlib.import_module(prefix + module_name), attr)
    except Exception as exc:
        raise LabError(
            f"the lab's {where} ({ref}) could not be loaded from {pack}: "
            f"{type(exc).__name__}: {exc}",
            hint=hint,
        ) from exc


def _import_root(pack: Path) -> tuple[Path, str]:
    """The sys.path entry and module-name prefix pytest's default import mode uses for ``pack``."""
    root, parts = pack, list[str]()
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    return root, "".join(f"{p}." for p in parts)
