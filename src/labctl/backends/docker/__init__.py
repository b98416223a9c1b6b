"""The Docker backend: the dependencies and the learner's service as containers, boxed.

For each check (a ``DockerSite``): a private internal network, with the host's way in closed
(``engine.HostGuard``); the dependency containers on it (``deps``); the learner's image, built
from their Dockerfile while the dependencies start; one boxed container per replica
(``service``). Fault proxies and stubs run on the host, listening on the network's gateway
address, and the guard admits exactly their ports. ``close()`` removes everything the check
made, and the run's label catches anything left over, also after a crash (``leftovers``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from labctl._net import free_port
from labctl.backends import DependencyHandle, Finding
from labctl.backends.docker import engine
from labctl.backends.docker.deps import DockerDependency, DockerRun, build_image
from labctl.backends.docker.service import DockerRunner, Limits
from labctl.errors import LabctlError, SetupError, SubmissionError
from labctl.model.lab import Dependency, Lab
from labctl.model.submission import Submission

__all__ = ["DockerBackend"]


class DockerBackend:
    name = "docker"
    starts_ahead = False  # the image is built from the files as they are when the site opens

    def accepts(self, submission: Submission) -> None:
        ok, why = engine.engine_status()
        if not ok:
            raise SetupError(
                f"--backend docker: {why}",
                hint="start the Docker engine (dockerd), or use --backend local",
            )
        if not submission.dockerfile:
            raise SubmissionError(
                f"--backend docker needs a Dockerfile: {submission.path}/labctl.toml names none",
                hint='add to [service]: dockerfile = "Dockerfile" (or use --backend local)',
            )

    def limits(self, lab: Lab) -> dict[str, Any]:
        return {"cpus": lab.service.cpus, "memory_mb": lab.service.memory_mb}

    def findings(self) -> list[Finding]:
        ok, why = engine.engine_status()
        return [Finding("docker", ok, why)]

    def open(self, lab: Lab, submission: Submission, run_id: str, seed: int) -> DockerSite:
        return DockerSite(lab, submission, run_id)

    def leftovers(self, run_id: str) -> None:
        with suppress(Exception):  # the engine went away: doctor --cleanup can do it later
            engine.cleanup(run_id)


class DockerSite:
    """One check's network, containers and image. The image builds from the moment the site
    opens, while the dependencies start."""

    def __init__(self, lab: Lab, submission: Submission, run_id: str) -> None:
        self._lab = lab
        self._run = DockerRun(run_id).open()
        assert self._run.guard is not None
        self.host = self._run.gateway  # the host's only address on the run's network
        self._build = _Build(self._run, submission)
        self._build.start()
        self._image = ""

    def dependency(self, spec: Dependency, workdir: Path) -> DependencyHandle:
        return DockerDependency(self._run, spec.kind, spec.name, spec.image)

    def admit(self, port: int) -> None:
        assert self._run.guard is not None
        self._run.guard.admit(port)

    def build(self, env: Mapping[str, str], log_path: Path) -> None:
        self._image = self._build.result()

    def runner(self, replica: int, env: Mapping[str, str], log_path: Path) -> DockerRunner:
        spec = self._lab.service
        return DockerRunner(
            run=self._run,
            image=self._image,
            env=env,
            port=free_port(),  # inside the container: a service must read PORT there too
            limits=self._box(),
            name="service" if spec.replicas == 1 else f"service-{replica}",
            log_path=log_path,
        )

    def describe(self) -> dict[str, Any]:
        return {"limits": self._box().to_dict()}

    def close(self) -> None:
        self._run.close()  # an image that finishes building later goes with leftovers()

    def _box(self) -> Limits:
        spec = self._lab.service
        guard = self._run.guard
        return Limits(
            cpus=spec.cpus,
            memory_mb=spec.memory_mb,
            pids=spec.pids,
            host_blocked=guard is not None and guard.active,
        )


class _Build(threading.Thread):
    """docker build on a side thread; result() re-raises its error in the caller."""

    def __init__(self, run: DockerRun, submission: Submission) -> None:
        super().__init__(daemon=True, name="labctl-docker-build")
        self._run = run
        self._submission = submission
        self._image: str | None = None
        self._error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        submission = self._submission
        started = time.monotonic()
        try:
            self._image = build_image(
                self._run,
                submission.context_dir,
                submission.dockerfile or "Dockerfile",
                dict(submission.build_args),
            )
        except BaseException as exc:  # handed to the main thread by result()
            self._error = exc
        self.seconds = time.monotonic() - started

    def result(self) -> str:
        self.join()
        if isinstance(self._error, LabctlError):
            raise self._error
        if self._error is not None:
            raise RuntimeError("docker build failed") from self._error
        assert self._image is not None
        return self._image
