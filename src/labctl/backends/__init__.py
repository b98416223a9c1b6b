"""Dependencies a lab needs (Postgres, Redis, ...): the handle API every backend provides.

Owns the ``DependencyHandle`` protocol that graders, the environment and the fault proxies code
against, the ``create()`` factory, and ``available()`` for ``labctl doctor``. The local backend
(real binaries as child processes) lives in ``labctl.backends.local.deps``; the Docker backend
implements the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

__all__ = ["DependencyHandle", "Finding", "available", "create"]


@runtime_checkable
class DependencyHandle(Protocol):
    """One running (or stoppable) dependency, reachable over TCP at ``url``."""

    name: str  # the lab's name for it, e.g. "postgres"
    kind: str  # "postgres" | "redis"
    host: str
    port: int

    @property
    def url(self) -> str:
        """``postgresql://labctl:labctl@HOST:PORT/labctl`` or ``redis://HOST:PORT/0``."""
        ...

    @property
    def running(self) -> bool: ...

    def start(self) -> None:
        """Start (or start again after ``stop()``) and block until it answers.

        Raises ``DependencyError`` carrying the last log lines if it exits or times out. Call it
        from a long-lived thread: a local server dies with the thread that started it.
        """
        ...

    def stop(self) -> None:
        """Shut down gracefully; ``start()`` brings it back on the same port."""
        ...

    def pause(self) -> None:
        """Freeze every process of the server (SIGSTOP): connections hang, nothing is refused."""
        ...

    def resume(self) -> None:
        """Undo ``pause()`` (SIGCONT)."""
        ...

    def restart(self) -> None: ...

    def close(self) -> None:
        """Stop (killing it if it will not stop) and delete its data. Idempotent."""
        ...

    def logs(self, last: int = 50) -> list[str]: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


@dataclass(frozen=True)
class Finding:
    """What ``labctl doctor`` reports about one kind of dependency."""

    kind: str
    ok: bool
    detail: str


def create(kind: str, name: str, workdir: Path) -> DependencyHandle:
    """A local (child-process) dependency of ``kind``, keeping its data and logs in ``workdir``.

    ``workdir`` is a private temporary directory that the caller created and will delete.
    Raises ``DependencyError`` for an unknown kind or when no binary for it can be found.
    """
    from labctl.backends.local import deps as local  # deferred: keep this import cheap

    return local.create(kind, name, workdir)


def available() -> list[Finding]:
    """Which dependency kinds can run locally, with the binaries that would be used."""
    from labctl.backends.local import deps as local

    return local.available()
