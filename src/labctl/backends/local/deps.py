"""Local dependency servers: real Postgres and Redis binaries run as child processes (Linux).

Owns the life of each server: its own session on a free loopback port, readiness, stop, pause and
resume of its whole process tree, and leaving no process or data behind on ``close()``. Binaries
are found by ``_find``; Postgres data dirs are copies of a cached template (``_pgtemplate``);
spawning, the parent-death signal and the root-to-postgres-user switch are in ``_process``.

A server dies with the thread that started it (PR_SET_PDEATHSIG is per thread): call
``start()`` from a thread that lives as long as the server should, not from a short-lived worker.

Internal: code against ``labctl.backends.DependencyHandle`` and ``labctl.backends.create()``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections import deque
from contextlib import suppress
from pathlib import Path
from typing import ClassVar, Self

import psutil

from labctl._net import free_port, poll
from labctl._storage import data_parent
from labctl.backends import DependencyHandle, Finding
from labctl.backends.kinds import KINDS
from labctl.backends.local._find import (
    describe_postgres,
    describe_redis,
    find_postgres,
    find_redis,
    finding,
)
from labctl.backends.local._pgtemplate import copy_tree, reachable_install, template
from labctl.backends.local._process import User, postgres_user, reachable
from labctl.errors import DependencyError
from labctl.processes import spawn

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 3.0
BIND_ATTEMPTS = 3
# A throwaway server: durability buys nothing, so skip every fsync.
POSTGRES, REDIS = KINDS["postgres"], KINDS["redis"]
PG_SETTINGS = {
    **POSTGRES.settings,
    "listen_addresses": HOST,
    "unix_socket_directories": "",  # TCP only: no socket file for the postgres user to place
    "max_connections": "100",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class LocalServer:
    """What Postgres and Redis share: spawn, wait until ready, signal the tree, clean up."""

    kind: str  # an instance variable for the protocol; each subclass sets a default
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    death_signal: ClassVar[signal.Signals] = signal.SIGTERM  # sent by the kernel if we die

    def __init__(self, name: str, workdir: Path) -> None:
        if not _NAME.fullmatch(name):
            raise DependencyError(
                f"bad dependency name {name!r}", hint="use letters, digits, _ . -"
            )
        self.name = name
        self.host = HOST
        self.port = free_port()  # final once start() has returned: a bind race picks another
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.timings: dict[str, float] = {}  # of the last start(), for benchmarks and reports
        self._proc: subprocess.Popen[bytes] | None = None
        self._port_fixed = False
        self._paused = False
        self._closed = False

    # What each kind provides.
    @property
    def url(self) -> str:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Make the data dir exist; called before every start."""

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _ready(self, pid: int) -> bool:
        raise NotImplementedError

    def _user(self) -> User | None:
        return None

    def _cwd(self) -> Path:
        return self.workdir

    def _remove_data(self) -> None:
        raise NotImplementedError

    # The handle API.
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's main process (also its session and process group), while running."""
        return self._proc.pid if self.running and self._proc else None

    def start(self) -> None:
        if self._closed:
            raise DependencyError(f"{self.kind} {self.name!r} was closed", hint="create a new one")
        if self.running:
            return
        begun = time.perf_counter()
        self.timings = {}
        self._prepare()
        launched = time.perf_counter()
        self._launch()
        self.timings |= {"ready_s": time.perf_counter() - launched}
        self.timings |= {"start_s": time.perf_counter() - begun}

    def stop(self) -> None:
        self._shutdown(STOP_TIMEOUT_S)

    def pause(self) -> None:
        if not self.running:
            raise DependencyError(f"cannot pause {self.kind} {self.name!r}: it is not running")
        self._signal_tree(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        if self.running:
            self._signal_tree(signal.SIGCONT)
        self._paused = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        tree = self._tree()  # before stopping: a backend orphaned by a crash leaves the tree
        try:
            self._shutdown(CLOSE_TIMEOUT_S)
        finally:
            send(tree, signal.SIGKILL)  # only what outlived the stop (normally nothing)
            self._remove_data()

    def logs(self, last: int = 50) -> list[str]:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return list(deque((line.rstrip("\n") for line in fh), maxlen=max(last, 0)))
        except FileNotFoundError:
            return []

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()  # __exit__ will not run, and a half-made data dir must not stay
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.name!r} {self.url} {state}>"

    # Starting.
    def _launch(self) -> None:
        """Spawn until ready; on the first start only, a port taken in the meantime is re-picked."""
        for attempt in range(1, BIND_ATTEMPTS + 1):
            log_offset = self._log_size()
            self._proc = spawn(
                self._argv(),
                out=self.log_path,
                cwd=self._cwd(),
                death=self.death_signal,
                user=self._user(),
            )
            if self._await_ready(self._proc, log_offset):
                self._port_fixed = True  # from now on the URL must not change
                return
            if self._port_fixed or attempt == BIND_ATTEMPTS:
                raise self._failure(f"could not listen on {self.host}:{self.port}")
            self.port = free_port()

    def _await_ready(self, proc: subprocess.Popen[bytes], log_offset: int) -> bool:
        """True when ready; False when it exited because its port was taken; raises otherwise."""
        ready = poll(
            lambda: proc.poll() is not None or self._ready(proc.pid), timeout_s=START_TIMEOUT_S
        )
        if ready and proc.poll() is None:
            return True
        if not ready:
            self._kill()
            self._proc = None
            raise self._failure(f"was not ready within {START_TIMEOUT_S:.0f} s")
        self._proc = None
        if "Address already in use" in self._log_since(log_offset):
            return False
        raise self._failure(f"exited during start-up (exit code {proc.returncode})")

    def _failure(self, what: str) -> DependencyError:
        tail = self.logs(50)
        return DependencyError(
            f"{self.kind} {self.name!r} {what}",
            hint="its last log lines are below",
            log=tail,
            log_source=self.kind,
        )

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    # Stopping.
    def _shutdown(self, timeout_s: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(self.stop_signal)
            if self._paused:  # a stopped process acts on the signal only once continued
                self._signal_tree(signal.SIGCONT)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._kill()
        self._proc = None
        self._paused = False

    def _kill(self) -> None:
        """SIGKILL the server and every process under it, then reap it."""
        if self._proc is not None:
            self._signal_tree(signal.SIGKILL)
            self._proc.wait()

    def _tree(self) -> list[psutil.Process]:
        """The server's process and all its descendants, leader first.

        Not the process group: each Postgres child calls setsid(), so killpg() misses backends.
        """
        if self._proc is None or self._proc.poll() is not None:
            return []
        try:
            leader = psutil.Process(self._proc.pid)
            return [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _signal_tree(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the server and every process under it.

        The leader is stopped (and seen stopped: signals arrive asynchronously) before its
        children are listed, so none can be forked unseen; psutil checks each process's create
        time, so a reused pid is never signalled. SIGSTOP returns once every process has stopped,
        so a paused server is really silent when pause() returns.
        """
        tree = self._tree()
        if tree and sig != signal.SIGCONT:
            send(tree[:1], signal.SIGSTOP)
            wait_stopped(tree[:1])
            tree = self._tree()
        send(tree, sig)
        if sig == signal.SIGSTOP:
            wait_stopped(tree)


class PostgresServer(LocalServer):
    """Postgres from a copy of the cached template data dir, as the postgres user under root."""

    kind = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: end sessions, checkpoint, exit
    death_signal = signal.SIGQUIT  # immediate shutdown: the postmaster takes its backends along

    def __init__(self, name: str, workdir: Path) -> None:
        super().__init__(name, workdir)
        self.found = find_postgres()
        self.user = postgres_user()
        self._root: Path | None = None  # holds data/; workdir/<name> unless that is out of reach
        self._bin_dir = self.found.path

    @property
    def url(self) -> str:
        return POSTGRES.url(self.host, self.port)

    @property
    def bin_dir(self) -> Path:
        """Where postgres runs from: the found bin dir, or its copy in the cache under root."""
        return self._bin_dir

    @property
    def data_dir(self) -> Path:
        return (self._root or self.workdir / self.name) / "data"

    def _prepare(self) -> None:
        if self._root is not None:
            return  # started before: same data, same port
        begun = time.perf_counter()
        self._bin_dir = reachable_install(self.found, self.user).path
        source = template(self._bin_dir, self.user)
        found = time.perf_counter()
        root = self._place_root()
        if (root / "data").exists():
            raise DependencyError(f"{root / 'data'} already exists", hint="use a fresh workdir")
        copy_tree(source, root / "data", self.user)
        self._root = root
        self.timings |= {"template_s": found - begun, "copy_s": time.perf_counter() - found}

    def _place_root(self) -> Path:
        """Where the data dir goes: the data parent (see labctl._storage), else workdir/<name>,
        else a private temp dir when the postgres user cannot reach workdir."""
        fast = data_parent()
        if fast is not None and (self.user is None or reachable(fast, self.user)):
            root = Path(tempfile.mkdtemp(prefix=f"labctl-{self.name}-", dir=fast))
            os.chmod(root, 0o711)
            return root
        mode = os.stat(self.workdir).st_mode
        if self.user is not None and not mode & 0o001:
            os.chmod(self.workdir, stat.S_IMODE(mode) | 0o011)  # ours: traversal only, no listing
        if self.user is None or reachable(self.workdir, self.user):
            root = self.workdir / self.name
            root.mkdir(exist_ok=True)
            os.chmod(root, 0o711)
            return root
        # A parent we do not own is closed to it (e.g. /root is 0700, or a TMPDIR under it):
        # we must not open that up, so the data goes to the first shared temp dir it can reach.
        for parent in dict.fromkeys([tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"]):
            if os.path.isdir(parent) and reachable(Path(parent), self.user):
                root = Path(tempfile.mkdtemp(prefix=f"labctl-{self.name}-", dir=parent))
                os.chmod(root, 0o711)
                return root
        raise DependencyError(
            f"{self.workdir} is not reachable by the {self.user.name} user that runs Postgres, "
            "and neither is any shared temp directory",
            hint="set TMPDIR to a directory every user can traverse, such as /tmp",
        )

    def _argv(self) -> list[str]:
        argv = [str(self._bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        return argv + POSTGRES.args(PG_SETTINGS)

    def _ready(self, pid: int) -> bool:
        """What pg_ctl waits for: postmaster.pid names our process and says "ready"."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            return False
        return len(lines) >= 8 and lines[0] == str(pid) and lines[7].strip() == "ready"

    def _user(self) -> User | None:
        return self.user

    def _cwd(self) -> Path:
        return self.data_dir.parent  # reachable by the postgres user, unlike perhaps our own cwd

    def _remove_data(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)


class RedisServer(LocalServer):
    """Redis with no persistence: a stop() loses its data, like a cache that restarted."""

    kind = "redis"

    def __init__(self, name: str, workdir: Path) -> None:
        super().__init__(name, workdir)
        self.found = find_redis()
        self.dir = workdir / name

    @property
    def url(self) -> str:
        return REDIS.url(self.host, self.port)

    def _prepare(self) -> None:
        self.dir.mkdir(exist_ok=True)

    def _argv(self) -> list[str]:
        return [
            str(self.found.path),
            *("--port", str(self.port), "--bind", self.host, "--protected-mode", "no"),
            *REDIS.args(REDIS.settings),
            *("--dir", str(self.dir)),
        ]

    def _ready(self, pid: int) -> bool:
        return REDIS.ready(self.host, self.port)

    def _cwd(self) -> Path:
        return self.dir

    def _remove_data(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_stopped(procs: list[psutil.Process], timeout_s: float = 2.0) -> None:
    """Until each of ``procs`` is stopped, a zombie or gone (or ``timeout_s`` has passed)."""

    def settled(proc: psutil.Process) -> bool:
        try:
            return proc.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return True

    poll(lambda: all(settled(p) for p in procs), timeout_s=timeout_s, interval_s=0.001)


def send(procs: list[psutil.Process], sig: signal.Signals) -> None:
    for proc in procs:
        with suppress(psutil.NoSuchProcess):  # gone meanwhile: nothing left to signal
            proc.send_signal(sig)


SERVERS: dict[str, type[PostgresServer] | type[RedisServer]] = {
    "postgres": PostgresServer,
    "redis": RedisServer,
}


def create(kind: str, name: str, workdir: Path) -> DependencyHandle:
    server = SERVERS.get(kind)
    if server is None:
        raise DependencyError(
            f"unknown dependency kind {kind!r}", hint=f"use one of: {', '.join(sorted(SERVERS))}"
        )
    return server(name, workdir)


def available() -> list[Finding]:
    return [finding("postgres", describe_postgres), finding("redis", describe_redis)]
