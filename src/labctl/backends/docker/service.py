"""The learner's service on the Docker backend: ``DockerRunner`` runs one replica as a container,
in an untrusted-code box.

The image is built from the learner's Dockerfile (``deps.build_image``); the container gets the
env contract (``PORT``, dependency URLs) and the box: CPU and memory limits from lab.toml, a pids
limit, every capability dropped, no new privileges, a read-only root filesystem with a tmpfs
``/tmp``, and only the run's internal network. The host reaches it through a loopback-only
``HostPath``. Readiness, and the errors a learner reads, are ``services.replica``'s.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from labctl.backends.docker import engine
from labctl.backends.docker.deps import DockerRun, service_container
from labctl.processes import describe_exit
from labctl.services.logs import LogFile

__all__ = ["DockerRunner", "Limits"]

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
            # The engine's init (tini) is PID 1, so the service is not: the kernel never applies
            # a signal's default action to PID 1, and a service without a SIGTERM handler would
            # outlive `docker stop` here while it dies at once as a local process.
            "init": True,
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
            "init": "the engine's (the service is not PID 1)",
        }


class DockerRunner:
    """One replica as a container of the built ``image``; ``env`` holds the dependency URLs."""

    def __init__(
        self,
        *,
        run: DockerRun,
        image: str,
        env: Mapping[str, str],
        port: int,
        limits: Limits,
        name: str,
        log_path: Path,
    ) -> None:
        self.port = port  # inside the container; the host side is chosen by HostPath
        self.limits = limits
        self._run = run
        self._image = image
        self._name = name
        self._env = {**env, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
        self._log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = LogFile(log_path)
        self._log_bytes = 0
        self._container: Any = None
        self._path: engine.HostPath | None = None

    @property
    def address(self) -> tuple[str, int]:
        if self._path is None:
            return "127.0.0.1", 0
        return self._path.host, self._path.port

    @property
    def running(self) -> bool:
        return self._state().get("Status") == "running"

    @property
    def returncode(self) -> int | None:
        state = self._state()
        if not state or state.get("Status") in ("running", "created", "paused", "restarting"):
            return None
        return _as_local(int(state.get("ExitCode", 0)))

    def launch(self) -> None:
        """Create (first time) or start the container, and open the host's way in."""
        if self._container is None:
            self._container = service_container(
                self._run, self._image, self._env, self._name, **self.limits.container_kwargs()
            )
        self._container.start()
        address = engine.container_ip(self._container, self._run.name)
        if self._path is None:
            self._path = engine.HostPath(address, self.port)
            self._path.open()
        else:
            self._path.retarget(address)

    def terminate(self, timeout_s: float) -> int | None:
        """docker stop (SIGTERM, SIGKILL after timeout_s); the exit code, None if it was killed."""
        if self._container is None:
            return None
        started = time.monotonic()
        self._container.stop(timeout=max(1, round(timeout_s)))
        code = int(self._container.wait(timeout=30).get("StatusCode", 0))
        killed = code == 137 and time.monotonic() - started >= timeout_s
        return None if killed else _as_local(code)

    def kill(self) -> int | None:
        """SIGKILL the container; -9 unless it had already exited (as the local runner)."""
        if self._container is None:
            return None
        if not self.running:
            return self.returncode
        with suppress(Exception):  # it may exit between the look and the kill
            self._container.kill()
        self._container.wait()
        return -9

    def pause(self) -> None:
        if self._container is not None:
            self._container.pause()

    def resume(self) -> None:
        if self._container is not None and self._state().get("Status") == "paused":
            self._container.unpause()

    def pids(self) -> list[int]:
        """The container's processes as the host sees them: its init and every descendant."""
        init = int(self._state().get("Pid") or 0)
        if init <= 0:
            return []
        try:
            leader = psutil.Process(init)
            return [init, *(child.pid for child in leader.children(recursive=True))]
        except psutil.Error:
            return []

    def exit_story(self, code: int) -> tuple[str, str]:
        if self._state().get("OOMKilled"):
            return (
                f"was killed for using more than its {self.limits.memory_mb} MB of memory",
                "use less memory, or ask for a higher limit in the lab",
            )
        if code == 0:
            hint = "it must keep running in the foreground: no daemon mode, no trailing `&`"
        else:
            hint = "its log is below; the container has a read-only filesystem except /tmp"
        return describe_exit(code, verb="exited with code"), hint

    def sync_log(self) -> None:
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

    def close(self) -> None:
        """Keep its log, then remove the container and the host path. Idempotent, never raises."""
        if self._container is None:
            return
        with suppress(Exception):
            self.sync_log()
            self._container.stop(timeout=_CLOSE_GRACE_S)
            self.sync_log()
        with suppress(Exception):
            self._container.remove(force=True, v=True)
        with suppress(Exception):
            self._container.client.close()
        if self._path is not None:
            self._path.close()
        self._container = None

    def _state(self) -> dict[str, Any]:
        if self._container is None:
            return {}
        try:
            self._container.reload()
        except Exception:
            return {}
        state: dict[str, Any] = self._container.attrs.get("State", {})
        return state


def _as_local(code: int) -> int:
    """Docker reports a process killed by signal N as 128+N; the local runner says -N."""
    return -(code - 128) if 128 < code < 160 else code
