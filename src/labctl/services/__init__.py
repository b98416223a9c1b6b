"""The learner's service as graders and the runtime see it, whichever backend runs it.

- ``Service``: what graders get (the ``service`` fixture is replica 0; ``service.replicas``
  lists them all): where it answers, start/terminate/kill/restart/pause, its identity and its
  log. Typed as a protocol; ``Replica`` is its one implementation.
- ``Runner``: what a backend provides for one replica (``backends.local``: a process group;
  ``backends.docker``: a container): start it, signal it, list its processes, keep its log.
- ``Replica``: a runner plus the lab's readiness (``services.readiness``, one probe per
  protocol), so both backends wait, explain and restart the same way.
- ``Identity``: the process that listens on PORT and when it started, as both backends see
  it: it changes when the server restarts, whoever restarted it (labctl, a shell loop, nodemon).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from labctl.services.logs import LogFile

__all__ = ["Identity", "Runner", "Service"]


@dataclass(frozen=True)
class Identity:
    """The process listening on the service's PORT (a host pid) and its start time (epoch s)."""

    pid: int
    started: float

    def __str__(self) -> str:
        return f"pid {self.pid}"


class Runner(Protocol):
    """One replica's life on a backend. ``port`` is the PORT it is told; ``address`` is where
    labctl reaches it once launched (another host port on Docker)."""

    port: int
    log: LogFile

    @property
    def address(self) -> tuple[str, int]: ...

    @property
    def running(self) -> bool: ...

    @property
    def returncode(self) -> int | None: ...

    def launch(self) -> None:
        """Start it (again, after it stopped) and return at once."""
        ...

    def terminate(self, timeout_s: float) -> int | None:
        """SIGTERM, SIGKILL after ``timeout_s``: its exit code, or None if it had to be killed."""
        ...

    def kill(self) -> int | None:
        """SIGKILL: -9 unless it had exited already."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def pids(self) -> list[int]:
        """Its living processes, as host pids."""
        ...

    def exit_story(self, code: int) -> tuple[str, str]:
        """How to tell the learner it exited with ``code``: (what happened, what to do)."""
        ...

    def sync_log(self) -> None:
        """Bring its log file up to date (a container's output is fetched)."""
        ...

    def close(self) -> None:
        """Stop it for good, and whatever it started. Idempotent, never raises."""
        ...


class Service(Protocol):
    """One replica of the learner's service, as graders use it."""

    replica: int  # 0..N-1, also its REPLICA env var
    port: int  # the PORT it was told

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` where labctl reaches it."""
        ...

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) where labctl reaches it: a gRPC target is ``f"{host}:{port}"``."""
        ...

    @property
    def replicas(self) -> Sequence[Service]:
        """Every replica of the service, this one included, by replica number."""
        ...

    @property
    def running(self) -> bool: ...

    @property
    def returncode(self) -> int | None: ...

    def identity(self) -> Identity | None:
        """The process serving PORT now (None while nothing listens)."""
        ...

    def start(self) -> None:
        """Start it and return once it answers its protocol (a ``ServiceError`` if it cannot)."""
        ...

    def wait_ready(self, timeout_s: float) -> bool:
        """Until it says it is ready (the lab's readiness probe), for up to ``timeout_s``."""
        ...

    def terminate(self, timeout_s: float = 10.0) -> int | None: ...

    def kill(self) -> int | None: ...

    def restart(self) -> None: ...

    def pause(self) -> None:
        """Freeze every process of it (SIGSTOP; docker pause): it accepts and never answers."""
        ...

    def resume(self) -> None: ...

    def log_mark(self) -> int: ...

    def log_lines(self, since: int = 0) -> list[str]: ...

    def tail(self, n: int = 20) -> list[str]: ...
