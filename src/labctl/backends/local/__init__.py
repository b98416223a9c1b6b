"""The local backend: the dependencies and the learner's service as labctl's child processes.

Postgres and Redis run from real binaries on free loopback ports (``deps``), the learner's
service from its ``run`` command in a process group per replica (``service``). Fault proxies and
stubs listen on loopback, where the service reaches them. The service runs as the same user as
labctl, with no box around it: the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labctl._net import free_port
from labctl.backends import DependencyHandle, Finding
from labctl.backends.local.deps import available, create
from labctl.backends.local.service import HOST, LocalRunner, run_build
from labctl.errors import SubmissionError
from labctl.model.lab import Dependency, Lab
from labctl.model.submission import Submission

__all__ = ["LocalBackend"]


class LocalBackend:
    name = "local"
    starts_ahead = True

    def accepts(self, submission: Submission) -> None:
        if not submission.run:
            raise SubmissionError(
                f"{submission.path}/labctl.toml has a Dockerfile but no start command",
                hint='add run = "..." to [service] for the local backend, or use --backend docker',
            )

    def limits(self, lab: Lab) -> dict[str, Any]:
        return {}

    def findings(self) -> list[Finding]:
        return available()

    def open(self, lab: Lab, submission: Submission, run_id: str, seed: int) -> LocalSite:
        return LocalSite(submission)

    def leftovers(self, run_id: str) -> None:
        """Every process dies with the grading process (parent-death signal): nothing to do."""


class LocalSite:
    host = HOST

    def __init__(self, submission: Submission) -> None:
        self._submission = submission

    def dependency(self, spec: Dependency, workdir: Path) -> DependencyHandle:
        return create(spec.kind, spec.name, workdir)

    def admit(self, port: int) -> None:
        """Loopback is open to the service already."""

    def build(self, env: Mapping[str, str], log_path: Path) -> None:
        if self._submission.build:
            run_build(self._submission.build, cwd=self._submission.path, env=env, log_path=log_path)

    def runner(self, replica: int, env: Mapping[str, str], log_path: Path) -> LocalRunner:
        return LocalRunner(
            run=self._submission.run,
            cwd=self._submission.path,
            env=env,
            port=free_port(),
            log_path=log_path,
        )

    def describe(self) -> dict[str, Any]:
        return {"isolation": "none: the service runs as labctl's user, on this machine"}

    def close(self) -> None:
        """Each runner and server stops itself."""
