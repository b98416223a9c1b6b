"""The learner's service on the local backend: its build step, and ``LocalRunner``, which runs
one replica from a shell command as one process group.

The service runs as ``bash -c RUN`` in a session of its own, so every process it starts
(``npm start`` -> node) shares one process group that can be signalled as a whole; descendants
that leave the group are remembered and stopped too. Its stdout and stderr go to a log file,
never to pipes: nothing here reads concurrently, nothing blocks on a pipe. Readiness, and the
errors a learner reads when it fails, are ``services.replica``'s.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from labctl.errors import ServiceError
from labctl.processes import ProcessGroup, describe_exit, spawn
from labctl.services.logs import LogFile

__all__ = ["LocalRunner", "run_build"]

_log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_CLOSE_GRACE_S = 3.0
_LOG_TAIL = 30


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


class LocalRunner:
    """One replica run from a shell command. Launch it from a thread that outlives it (the main
    thread): Linux sends the parent-death signal when the spawning *thread* exits."""

    def __init__(
        self, *, run: str, cwd: Path, env: Mapping[str, str], port: int, log_path: Path
    ) -> None:
        self.port = port
        self._run = run
        self._cwd = cwd
        self._env = {**os.environ, **env, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
        self._log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = LogFile(log_path)  # from now on: the build's output is not the service's
        self._proc: subprocess.Popen[bytes] | None = None
        self._group: ProcessGroup | None = None

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> int | None:
        """The shell that leads the process group (bash execs a lone command: the program)."""
        return None if self._proc is None else self._proc.pid

    def launch(self) -> None:
        if self._group is not None:  # children of a run that crashed may still hold the port
            self._group.stop(grace_s=0)
        self._proc = _spawn(self._run, cwd=self._cwd, env=self._env, log=self._log_path)
        self._group = ProcessGroup(self._proc)

    def terminate(self, timeout_s: float) -> int | None:
        return None if self._group is None else self._group.stop(grace_s=timeout_s)

    def kill(self) -> int | None:
        return None if self._group is None else self._group.stop(grace_s=0)

    def pause(self) -> None:
        if self._group is not None:
            self._group.remember_descendants()
            self._group.signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._group is not None:
            self._group.signal(signal.SIGCONT)

    def pids(self) -> list[int]:
        if self._group is None:
            return []
        self._group.remember_descendants()
        return [proc.pid for proc in self._group.members()]

    def exit_story(self, code: int) -> tuple[str, str]:
        if code == 0:
            hint = "it must keep running in the foreground: no daemon mode, no trailing `&`"
        else:
            hint = f"its log is below; to reproduce: cd {self._cwd} && PORT={self.port} {self._run}"
        return describe_exit(code, verb="exited with code"), hint

    def sync_log(self) -> None:
        """The service writes its log file itself."""

    def close(self) -> None:
        """SIGTERM what is left of the service, SIGKILL it after 3 s. Idempotent, never raises."""
        if self._group is None:
            return
        try:
            self._group.stop(grace_s=_CLOSE_GRACE_S)
            survivors = self._group.members()
        except Exception:
            _log.warning("could not stop the service (port %s)", self.port, exc_info=True)
            return
        if survivors:
            _log.warning("service processes survived SIGKILL: %s", [p.pid for p in survivors])


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
