"""Runs the learner's service as a container (the Docker backend), in an untrusted-code box.

Same surface as ``labctl.backends.local.service.Service`` (``url``, ``start()``, ``wait_healthy()``,
``terminate()``, ``kill()``, ``restart()``, ``close()``, log lines), so graders and the plugin
never know which backend runs the service. The image is built from the learner's Dockerfile by
``labctl.backends.docker.deps.build_image``; the container gets the env contract (``PORT``,
dependency URLs) and the box: CPU and memory limits from lab.toml, a pids limit, every
capability dropped, no new privileges, a read-only root filesystem with a tmpfs ``/tmp``, and only
the run's internal network. The host reaches it through a loopback-only ``HostPath``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl._net import free_port
from labctl.backends.docker import engine as _docker
from labctl.backends.local.service import _client, _probe, poll_health
from labctl.errors import ServiceError
from labctl.services.logs import LogFile

__all__ = ["DockerService", "Limits"]

_POLL_S = 0.02
_LOG_TAIL = 30
_CLOSE_GRACE_S = 3


@dataclass(frozen=True)
class Limits:
    """The box the service runs in; ``to_dict()`` goes into the result's meta."""

    cpus: float = 1.0
    memory_mb: int = 512
    pids: int = 256
    tmp_mb: int = 64
    host_blocked: bool = False  # whether the run's HostGuard closed the way to the host

    def container_kwargs(self) -> dict[str, Any]:
        return {
            "nano_cpus": int(self.cpus * 1e9),
            "mem_limit": f"{self.memory_mb}m",
            "memswap_limit": f"{self.memory_mb}m",  # no swap: the limit is the limit
            "pids_limit": self.pids,
            "privileged": False,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={self.tmp_mb}m"},
        }

    def to_dict(self) -> dict[str, object]:
        return {
            "cpus": self.cpus,
            "memory_mb": self.memory_mb,
            "pids": self.pids,
            "tmp_mb": self.tmp_mb,
            "capabilities": "none",
            "no_new_privileges": True,
            "read_only_root": True,
            "network": "internal",
            "host_blocked": self.host_blocked,
        }


class DockerService:
    """The learner's container. ``image`` is built already; ``env`` holds the dependency URLs."""

    def __init__(
        self,
        *,
        run: Any,  # a labctl.backends.docker.deps.DockerRun (that module imports testcontainers)
        image: str,
        env: Mapping[str, str],
        limits: Limits,
        health_path: str = "/healthz",
        ready_timeout_s: float = 30.0,
        log_path: Path,
    ) -> None:
        self.port = free_port()  # inside the container; the host side is chosen by HostPath
        self.limits = limits
        self._run = run
        self._image = image
        self._env = {**env, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self._health_path = health_path if health_path.startswith("/") else f"/{health_path}"
        self._ready_timeout_s = ready_timeout_s
        self._log_path = log_path
        self._log = LogFile(log_path)
        self._log_bytes = 0
        self._run_mark = 0
        self._container: Any = None
        self._path: _docker.HostPath | None = None
        self.url = ""

    @property
    def running(self) -> bool:
        return self._state().get("Status") == "running"

    @property
    def returncode(self) -> int | None:
        state = self._state()
        if not state or state.get("Status") in ("running", "created", "paused"):
            return None
        return int(state.get("ExitCode", 0))

    @property
    def pid(self) -> int | None:
        return None

    def start(self) -> None:
        """Create (first time) or start the container; return once it answers HTTP on PORT."""
        if self.running:
            raise RuntimeError("the service is already running; terminate() it first")
        self._run_mark = self.log_mark()
        if self._container is None:
            from labctl.backends.docker.deps import service_container

            self._container = service_container(
                self._run, self._image, self._env, **self.limits.container_kwargs()
            )
        self._container.start()
        self._open_path()
        try:
            self._wait_up()
        except BaseException:
            self.kill()
            raise

    def _open_path(self) -> None:
        address = _docker.container_ip(self._container, self._run.name)
        if self._path is None:
            self._path = _docker.HostPath(address, self.port)
            self._path.open()
        else:
            self._path.retarget(address)
        self.url = f"http://{self._path.host}:{self._path.port}"

    def wait_healthy(self, timeout_s: float) -> int | None:
        """Poll the health path until it answers 200; else the last status seen, None if none."""
        return poll_health(self.url + self._health_path, timeout_s, self._raise_if_exited)

    def terminate(self, timeout_s: float = 10.0) -> int | None:
        """docker stop (SIGTERM, SIGKILL after timeout_s); the exit code, None if it was killed."""
        if self._container is None:
            return None
        started = time.monotonic()
        self._container.stop(timeout=max(1, round(timeout_s)))
        code = self._exit_code()
        killed = code == 137 and time.monotonic() - started >= timeout_s
        return None if killed else _as_local(code)

    def kill(self) -> int | None:
        """SIGKILL the container; -9 unless it had already exited (as the local Service)."""
        if self._container is None:
            return None
        if not self.running:
            return self.returncode
        with suppress(Exception):  # it may exit between the look and the kill
            self._container.kill()
        self._container.wait()
        return -9

    def restart(self) -> None:
        self.terminate()
        self.start()

    def close(self) -> None:
        """Keep its log, then remove the container and the host path. Idempotent, never raises."""
        if self._container is None:
            return
        with suppress(Exception):
            self._sync_log()
            self._container.stop(timeout=_CLOSE_GRACE_S)
            self._sync_log()
        with suppress(Exception):
            self._container.remove(force=True, v=True)
        self._container.client.close()
        if self._path is not None:
            self._path.close()
        self._container = None

    def log_mark(self) -> int:
        self._sync_log()
        return self._log.mark()

    def log_lines(self, since: int = 0) -> list[str]:
        self._sync_log()
        return self._log.lines(since)

    def tail(self, n: int = 20) -> list[str]:
        self._sync_log()
        return self._log.tail(n)

    def _sync_log(self) -> None:
        """Append what the container printed since the last look to the log file."""
        if self._container is None:
            return
        try:
            data: bytes = self._container.logs(stdout=True, stderr=True)
        except Exception:
            return
        if len(data) > self._log_bytes:
            with self._log_path.open("ab") as out:
                out.write(data[self._log_bytes :])
            self._log_bytes = len(data)

    def _state(self) -> dict[str, Any]:
        if self._container is None:
            return {}
        try:
            self._container.reload()
        except Exception:
            return {}
        state: dict[str, Any] = self._container.attrs.get("State", {})
        return state

    def _exit_code(self) -> int:
        return int(self._container.wait(timeout=30).get("StatusCode", 0))

    def _wait_up(self) -> None:
        deadline = time.monotonic() + self._ready_timeout_s
        with _client() as client:
            while True:
                self._raise_if_exited(f"before it answered on port {self.port}")
                outcome = _probe(client, self.url + self._health_path, deadline)
                if isinstance(outcome, int):
                    return
                if time.monotonic() >= deadline:
                    raise self._error(
                        f"your service did not answer HTTP on port {self.port} within "
                        f"{self._ready_timeout_s:g} s ({outcome.kind})",
                        "it must listen on 0.0.0.0:$PORT (labctl sets PORT); if it is only "
                        "slow to start, raise --ready-timeout",
                    )
                time.sleep(_POLL_S)

    def _raise_if_exited(self, when: str) -> None:
        state = self._state()
        if state.get("Status") not in ("exited", "dead"):
            return
        code = int(state.get("ExitCode", 0))
        if state.get("OOMKilled"):
            how = f"was killed for using more than its {self.limits.memory_mb} MB of memory"
            hint = "use less memory, or ask for a higher limit in the lab"
        elif code == 0:
            how = "exited with code 0"
            hint = "it must keep running in the foreground: no daemon mode, no trailing `&`"
        else:
            how = f"exited with code {code}"
            hint = "its log is below; the container has a read-only filesystem except /tmp"
        raise self._error(f"your service {how} {when}", hint)

    def _error(self, message: str, hint: str) -> ServiceError:
        return ServiceError(message, hint=hint, log=self.log_lines(self._run_mark)[-_LOG_TAIL:])


def _as_local(code: int) -> int:
    """Docker reports a process killed by signal N as 128+N; the local Service says -N."""
    return -(code - 128) if 128 < code < 160 else code
