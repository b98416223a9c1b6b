"""Where the learner's service runs, with its dependencies: one ``Backend`` per place.

``local`` runs everything as labctl's child processes; ``docker`` runs the dependencies and the
service as containers on a private network, boxed. A backend is chosen once, in the CLI
(``choose``), and travels to the grading process as its name (``named``); from then on only its
methods are called, and nothing compares the name. Each backend owns, for one check (a
``Site``): its dependencies, the learner's service and its replicas, the address where fault
proxies and stubs listen for the service, what it reports about its isolation, and clean-up.

``DependencyHandle`` is what graders, the environment and the faults code against for a
dependency (Postgres, Redis, ...), whichever backend runs it; the facts of each kind are in
``backends.kinds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from labctl.errors import ConfigError
from labctl.services import Runner

if TYPE_CHECKING:  # the lab model imports backends.kinds: at run time, neither needs the other
    from labctl.model.lab import Dependency, Lab
    from labctl.model.submission import Submission

__all__ = [
    "BACKEND_CHOICES",
    "Backend",
    "DependencyHandle",
    "Finding",
    "Site",
    "choose",
    "named",
]


@runtime_checkable
class DependencyHandle(Protocol):
    """One running (or stoppable) dependency, reachable over TCP at ``url``."""

    name: str  # the lab's name for it, e.g. "postgres"
    kind: str  # a name in backends.kinds.KINDS
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
    """What ``labctl doctor`` reports: one thing this machine offers, or lacks."""

    kind: str
    ok: bool
    detail: str


class Site(Protocol):
    """One check's share of a backend, from ``Backend.open()`` to ``close()``."""

    host: str  # where the fault proxies and stubs listen, and the service reaches them

    def dependency(self, spec: Dependency, workdir: Path) -> DependencyHandle:
        """A handle (not started) for one of the lab's dependencies."""
        ...

    def admit(self, port: int) -> None:
        """Let the service reach one port of ``host`` (a fault proxy, a stub)."""
        ...

    def build(self, env: Mapping[str, str], log_path: Path) -> None:
        """Make the learner's service runnable: its build step, or its image."""
        ...

    def runner(self, replica: int, env: Mapping[str, str], log_path: Path) -> Runner:
        """A runner (not launched) for one replica; ``env`` holds its dependency URLs."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the report says of the place: its limits and isolation."""
        ...

    def close(self) -> None:
        """Remove everything this check made here, whatever state it is in."""
        ...


class Backend(Protocol):
    name: str  # "local" | "docker": the name the grading process looks it up by
    # Whether a check's dependencies may start before the learner's next change is saved: its
    # site reads the service's files only when it builds and runs it (``labctl check --watch``).
    starts_ahead: bool

    def accepts(self, submission: Submission) -> None:
        """Raise ``SubmissionError`` (or ``SetupError``) when it cannot run ``submission``."""
        ...

    def limits(self, lab: Lab) -> dict[str, Any]:
        """The limits a check of ``lab`` runs under here, for the report's provenance."""
        ...

    def findings(self) -> list[Finding]:
        """What ``labctl doctor`` says about this backend on this machine."""
        ...

    def open(self, lab: Lab, submission: Submission, run_id: str, seed: int) -> Site:
        """Start this check's share (the Docker network; the build of the learner's image)."""
        ...

    def leftovers(self, run_id: str) -> None:
        """After the grading process ended, however it ended: remove what it left of the run."""
        ...


BACKEND_CHOICES = ("local", "docker", "auto")


def named(name: str) -> Backend:
    """The backend called ``name`` (as the CLI chose it)."""
    if name == "docker":
        from labctl.backends.docker import DockerBackend  # imports docker and testcontainers

        return DockerBackend()
    if name == "local":
        from labctl.backends.local import LocalBackend

        return LocalBackend()
    raise ConfigError(f"--backend {name!r}", hint="use one of: local, docker, auto")


def choose(choice: str, submission: Submission) -> Backend:
    """``--backend`` as given: ``auto`` is Docker when an engine answers and the submission has
    a Dockerfile, else local. Raises when the chosen backend cannot run the submission."""
    if choice not in BACKEND_CHOICES:
        raise ConfigError(f"--backend {choice!r}", hint=f"use one of: {', '.join(BACKEND_CHOICES)}")
    if choice == "auto":
        docker = named("docker")
        usable = submission.dockerfile and docker.findings()[0].ok
        choice = "docker" if usable else "local"
    backend = named(choice)
    backend.accepts(submission)
    return backend
