"""How an ``Environment`` starts with the Docker backend: network, dependency containers, the
learner's image (built while the dependencies start) and the boxed service container.

``Environment.close()`` undoes all of it, and the run's label catches anything left over.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from labctl.backends.docker.service import DockerService, Limits
from labctl.errors import LabctlError, SubmissionError
from labctl.faults.proxy import ProxyServer

if TYPE_CHECKING:
    from labctl.backends.docker.deps import DockerRun
    from labctl.environment import Environment


def start_in_docker(env: Environment) -> None:
    from labctl.backends.docker.deps import DockerDependency, DockerRun

    submission = env.submission
    if not submission.dockerfile:
        raise SubmissionError(
            f"--backend docker needs a Dockerfile, and {submission.path}/labctl.toml names none",
            hint='add to [service]: dockerfile = "Dockerfile" (or use --backend local)',
        )
    env.on_phase("creating the run's Docker network")
    env.docker_run = run = DockerRun(env.options.run_id).open()
    build = _Build(env)
    build.start()  # the image builds while the dependencies start
    started = time.monotonic()
    env.proxy_server = ProxyServer(env.seed)
    env.proxy_server.start()
    for dep in env.lab.dependencies:
        handle = DockerDependency(run, dep.kind, dep.name, dep.image)
        env.deps[dep.name] = handle
        env.on_phase(f"starting {dep.kind} ({handle.image})")
        handle.start()
    _host_side(env, run)
    env.timings.dependencies_s = time.monotonic() - started
    env.on_phase(f"building your image from {submission.dockerfile}")
    image = build.result()
    env.timings.build_s = build.seconds
    spec = env.lab.service
    service = DockerService(
        run=run,
        image=image,
        env=env.service_env(),
        limits=Limits(
            cpus=spec.cpus,
            memory_mb=spec.memory_mb,
            pids=spec.pids,
            host_blocked=run.guard is not None and run.guard.active,
        ),
        health_path=spec.health,
        ready_timeout_s=env.options.ready_timeout_s or spec.ready_timeout_s,
        log_path=env.workdir / "service.log",
    )
    env.run_service(service)


def _host_side(env: Environment, run: DockerRun) -> None:
    """The fault proxies and upstream stubs run on the host, listening on the run network's
    gateway address; the guard admits their ports and nothing else of the host."""
    assert env.proxy_server is not None
    assert run.guard is not None
    for name, handle in env.deps.items():
        proxy = env.proxy_server.proxy(name, handle.host, handle.port, bind=run.gateway)
        env.proxies[name] = proxy
        run.guard.admit(proxy.port)
    env.start_upstreams(run.gateway)
    for upstream in env.upstreams.values():
        run.guard.admit(urlsplit(upstream.url).port or 80)


class _Build(threading.Thread):
    """docker build on a side thread; result() re-raises its error in the caller."""

    def __init__(self, env: Environment) -> None:
        super().__init__(daemon=True, name="labctl-docker-build")
        self._env = env
        self._image: str | None = None
        self._error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        from labctl.backends.docker.deps import build_image

        submission = self._env.submission
        started = time.monotonic()
        try:
            self._image = build_image(
                self._env.docker_run,
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
