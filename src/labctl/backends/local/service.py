"""Runs the learner's service from a shell command: build step, process group, env contract,
readiness probe, log capture, terminate/kill/restart and the final clean-up.

The service runs as ``bash -c RUN`` in a session of its own, so every process it starts
(``npm start`` → node) shares one process group that can be signalled as a whole. Its stdout and
stderr go to a log file, never to pipes: nothing here reads concurrently, nothing blocks on a pipe.

When start() fails, the ``ServiceError`` says why in the learner's terms (exited early, wrong port,
unreachable address, no HTTP, never listened) and carries the last lines of the service's log.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from labctl.errors import ServiceError
from labctl.processes import ProcessGroup, describe_exit, spawn
from labctl.services.logs import LogFile

__all__ = ["Service", "ServiceHandle", "run_build"]

_log = logging.getLogger(__name__)

_POLL_S = 0.02  # between readiness probes
_SCAN_S = 0.2  # between looks at the service's listening sockets (psutil costs more than a GET)
_GIVE_UP_S = 2.0  # a wrong port, or a 404/405/501 on the health path, lasting this long is no fluke
_REQUEST_TIMEOUT_S = 2.0
_CONNECT_TIMEOUT_S = 0.5
_CLOSE_GRACE_S = 3.0
_LOG_TAIL = 30
_MISSING_ROUTE = frozenset({404, 405, 501})


def run_build(
    command: str, *, cwd: Path, env: Mapping[str, str], log_path: Path, timeout_s: float = 900
) -> None:
    """Run the learner's build step once (``npm ci``), its output appended to log_path."""
    log = LogFile(log_path)
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    proc = _spawn(command, cwd=cwd, env=full_env, log=log_path)
    group = ProcessGroup(proc)
    try:
        code: int | None = proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        # A build may leave helpers behind (a Gradle daemon, a watcher); none may outlive it.
        group.stop(grace_s=0)
    if code == 0:
        return
    tail = log.tail(_LOG_TAIL)
    if code is None:
        raise ServiceError(
            f"the build command `{command}` did not finish within {timeout_s:g} s",
            hint="it may be waiting for input or for the network; its output so far is below",
            log=tail,
        )
    raise ServiceError(
        f"the build command `{command}` {describe_exit(code, verb='exited with')}",
        hint=f"its output is below; run `{command}` in {cwd} to reproduce",
        log=tail,
    )


class ServiceHandle(Protocol):
    """What graders and the plugin use of the learner's service, whichever backend runs it:
    ``Service`` (a process group) or ``DockerService`` (a container)."""

    url: str
    port: int

    @property
    def running(self) -> bool: ...

    @property
    def returncode(self) -> int | None: ...

    def start(self) -> None: ...

    def wait_healthy(self, timeout_s: float) -> int | None: ...

    def terminate(self, timeout_s: float = 10.0) -> int | None: ...

    def kill(self) -> int | None: ...

    def restart(self) -> None: ...

    def close(self) -> None: ...

    def log_mark(self) -> int: ...

    def log_lines(self, since: int = 0) -> list[str]: ...

    def tail(self, n: int = 20) -> list[str]: ...


class Service:
    """The learner's service, run from a shell command as one process group.

    Call start() from a thread that outlives the service (the main thread): Linux delivers the
    parent-death signal when the spawning *thread* exits, not the process.
    """

    def __init__(
        self,
        *,
        run: str,
        cwd: Path,
        env: Mapping[str, str],
        port: int,
        health_path: str = "/healthz",
        ready_timeout_s: float = 30.0,
        log_path: Path,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._run = run
        self._cwd = cwd
        self._env = {**os.environ, **env, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
        self._health_path = health_path if health_path.startswith("/") else f"/{health_path}"
        self._ready_timeout_s = ready_timeout_s
        self._log_path = log_path
        self._log: LogFile | None = (
            None  # created at the first start, so earlier output is not ours
        )
        self._run_mark = 0  # first log line of the current run: error tails show only this run
        self._proc: subprocess.Popen[bytes] | None = None
        self._group: ProcessGroup | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        """Spawn the service and return once it answers HTTP on PORT; if it fails, stop it all."""
        if self.running:
            raise RuntimeError("the service is already running; terminate() it first")
        if self._group is not None:  # children of a run that crashed may still hold the port
            self._group.stop(grace_s=0)
        if self._log is None:
            self._log = LogFile(self._log_path)
        self._run_mark = self._log.mark()
        self._proc = _spawn(self._run, cwd=self._cwd, env=self._env, log=self._log_path)
        self._group = ProcessGroup(self._proc)
        try:
            self._wait_up()
        except BaseException:
            self._group.stop(grace_s=0)
            raise
        self._group.remember_descendants()

    def wait_healthy(self, timeout_s: float) -> int | None:
        """Poll the health path until it answers 200; else the last status seen, None if none."""
        if self._proc is None:
            raise RuntimeError("start() the service first")
        return poll_health(self.url + self._health_path, timeout_s, self._raise_if_exited)

    def terminate(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM the group; the leader's exit code, or None if it was killed after timeout_s."""
        if self._proc is None or self._group is None:
            return None
        return self._group.stop(grace_s=timeout_s)

    def kill(self) -> int | None:
        """SIGKILL the group; the leader's exit code (-9 unless it had already exited)."""
        if self._proc is None or self._group is None:
            return None
        return self._group.stop(grace_s=0)

    def restart(self) -> None:
        """terminate() then start(): same port, same environment, same log."""
        self.terminate()
        self.start()

    def close(self) -> None:
        """SIGTERM what is left of the service, SIGKILL it after 3 s. Idempotent, never raises."""
        if self._group is None:
            return
        try:
            self._group.stop(grace_s=_CLOSE_GRACE_S)
            survivors = self._group.members()
        except Exception:
            _log.warning("could not stop the service (pid %s)", self.pid, exc_info=True)
            return
        if survivors:
            _log.warning("service processes survived SIGKILL: %s", [p.pid for p in survivors])

    def log_mark(self) -> int:
        """Number of complete log lines so far; pass it to log_lines() to see only what follows."""
        return 0 if self._log is None else self._log.mark()

    def log_lines(self, since: int = 0) -> list[str]:
        """stdout+stderr lines from line ``since`` on, an unfinished last line included."""
        return [] if self._log is None else self._log.lines(since)

    def tail(self, n: int = 20) -> list[str]:
        return [] if self._log is None else self._log.tail(n)

    def _wait_up(self) -> None:
        assert self._group is not None
        deadline = time.monotonic() + self._ready_timeout_s
        watch = _PortWatch(self._group, self.port)
        with _client() as client:
            while True:
                self._raise_if_exited(f"before it answered on port {self.port}")
                outcome = _probe(client, self.url + self._health_path, deadline)
                if isinstance(outcome, int):
                    return
                problem = watch.early_problem(outcome)
                if problem is None and time.monotonic() >= deadline:
                    problem = watch.final_problem(outcome, self._health_path, self._ready_timeout_s)
                if problem is not None:
                    raise self._error(*problem)
                time.sleep(_POLL_S)

    def _raise_if_exited(self, when: str) -> None:
        code = None if self._proc is None else self._proc.poll()
        if code is None:
            return
        if code == 0:
            hint = "it must keep running in the foreground: no daemon mode, no trailing `&`"
        else:
            hint = f"its log is below; to reproduce: cd {self._cwd} && PORT={self.port} {self._run}"
        how = describe_exit(code, verb="exited with code")
        raise self._error(f"your service {how} {when}", hint)

    def _error(self, message: str, hint: str) -> ServiceError:
        tail = [] if self._log is None else self._log.lines(self._run_mark)[-_LOG_TAIL:]
        return ServiceError(message, hint=hint, log=tail)


@dataclass(frozen=True)
class _Miss:
    """Why a probe got no HTTP response: ``refused``, ``timeout`` or ``garbled`` (not HTTP)."""

    kind: str
    detail: str = ""


def _client() -> httpx.Client:
    # trust_env=False: an HTTP(S)_PROXY in the environment must not route 127.0.0.1 elsewhere.
    # verify=False: plain HTTP only, and loading the CA bundle would cost ~50 ms per client.
    return httpx.Client(trust_env=False, verify=False)


def poll_health(url: str, timeout_s: float, raise_if_exited: Callable[[str], None]) -> int | None:
    """GET ``url`` until it answers 200, for up to ``timeout_s``; else the last status seen (None
    if none). A 404/405/501 lasting 2 s ends it early: a missing route will not appear later.
    ``raise_if_exited(when)`` runs before each probe, so a service that died is told at once."""
    deadline = time.monotonic() + timeout_s
    when = f"while labctl waited for GET {urlsplit(url).path}"
    last: int | None = None
    missing_since: float | None = None
    with _client() as client:
        while True:
            raise_if_exited(when)
            outcome = _probe(client, url, deadline)
            if outcome == 200:
                return 200
            now = time.monotonic()
            if isinstance(outcome, int):
                last = outcome
            if isinstance(outcome, int) and outcome in _MISSING_ROUTE:
                missing_since = now if missing_since is None else missing_since
            else:
                missing_since = None
            route_missing = missing_since is not None and now - missing_since >= _GIVE_UP_S
            if route_missing or now >= deadline:
                return last
            time.sleep(_POLL_S)


def _probe(client: httpx.Client, url: str, deadline: float) -> int | _Miss:
    """One GET: the status code, or why there was none. Never waits much past ``deadline``."""
    budget = max(0.05, min(_REQUEST_TIMEOUT_S, deadline - time.monotonic()))
    timeout = httpx.Timeout(budget, connect=min(budget, _CONNECT_TIMEOUT_S))
    try:
        # Streamed and never read: the status line is the answer, whatever the body.
        with client.stream("GET", url, timeout=timeout) as response:
            return response.status_code
    except httpx.ConnectError as exc:
        return _Miss("refused", str(exc))
    except httpx.TimeoutException:
        return _Miss("timeout")
    except httpx.TransportError as exc:
        return _Miss("garbled", str(exc) or type(exc).__name__)


class _PortWatch:
    """Explains, from the sockets the service's processes listen on, why PORT gives no answer."""

    def __init__(self, group: ProcessGroup, port: int) -> None:
        self._group = group
        self._port = port
        self._next_scan = 0.0
        self._wrong_since: float | None = None

    def early_problem(self, outcome: _Miss) -> tuple[str, str] | None:
        """A wrong port that lasts 2 s: no need to wait out the whole ready timeout."""
        now = time.monotonic()
        if outcome.kind != "refused":
            self._wrong_since = None  # something does accept on PORT
            return None
        if now < self._next_scan:
            return None
        self._next_scan = now + _SCAN_S
        on_port, others = self._group.listening(self._port)
        if on_port or not others:
            self._wrong_since = None
            return None
        self._wrong_since = now if self._wrong_since is None else self._wrong_since
        return self._wrong_port(others) if now - self._wrong_since >= _GIVE_UP_S else None

    def final_problem(self, outcome: _Miss, path: str, timeout_s: float) -> tuple[str, str]:
        """What to tell the learner once the ready timeout has passed."""
        port = self._port
        if outcome.kind == "timeout":
            return (
                f"your service accepts connections on port {port} but did not answer GET {path} "
                f"within {timeout_s:g} s",
                "answer any HTTP request once it listens; if it is only slow to start, "
                "raise --ready-timeout",
            )
        if outcome.kind == "garbled":
            return (
                f"your service accepts connections on port {port} but does not answer HTTP "
                f"({outcome.detail})",
                "serve plain HTTP/1.1 on $PORT: not HTTPS, not gRPC, not a raw TCP protocol",
            )
        on_port, others = self._group.listening(port)
        if on_port:
            return (
                f"your service listens on port {port} only on {', '.join(sorted(on_port))}, "
                "which 127.0.0.1 cannot reach",
                "listen on 0.0.0.0 (every interface), not on one address",
            )
        if others:
            return self._wrong_port(others)
        return (
            f"your service did not listen on port {port} within {timeout_s:g} s",
            "it must listen on 0.0.0.0:$PORT (labctl sets PORT); if it is only slow to start, "
            "raise --ready-timeout",
        )

    def _wrong_port(self, others: set[int]) -> tuple[str, str]:
        ports = ", ".join(str(p) for p in sorted(others))
        noun = "port" if len(others) == 1 else "ports"
        return (
            f"your service listens on {noun} {ports}, but labctl gave it PORT={self._port}",
            "read the port from the PORT environment variable instead of hard-coding it",
        )


def _spawn(
    command: str, *, cwd: Path, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        return spawn([_shell(), "-c", command], out=log, cwd=cwd, env=env, death=signal.SIGKILL)
    except OSError as exc:
        raise ServiceError(
            f"could not run `{command}` in {cwd}: {exc.strerror or exc}",
            hint="check that the directory exists and the command is right",
        ) from exc


def _shell() -> str:
    # bash execs a lone simple command, so the learner's program itself leads the group.
    return shutil.which("bash") or "/bin/sh"
