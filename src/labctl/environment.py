"""The world a check runs in: the lab's dependencies, its upstream stubs and the learner's service.

``Environment`` is a context manager. Entering it starts every dependency and stub the lab
declares, passes their URLs to the service in the env vars the lab names, runs the service's
build step, starts the service and waits until it answers. Leaving it stops everything it
started, in reverse order, whatever happened (including Ctrl-C), and deletes its working
directory. It knows nothing of pytest.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from labctl import backends as deps
from labctl._net import free_port
from labctl.backends import DependencyHandle
from labctl.backends.local.service import Service, ServiceHandle, run_build
from labctl.faults.proxy import Proxy, ProxyServer
from labctl.model.lab import Lab
from labctl.model.submission import Submission
from labctl.upstreams import LOOPBACK, Upstream, start_all


@dataclass(frozen=True)
class Options:
    seed: int
    ready_timeout_s: float | None = None
    upstream_bind: str = LOOPBACK  # where stubs listen: a Docker backend binds its bridge
    upstream_host: str | None = None  # the host the service is told (default: upstream_bind)
    backend: str = "local"  # "local" | "docker" (resolved: never "auto" here)
    run_id: str | None = None  # the Docker backend labels what it creates with it


@dataclass
class Timings:
    dependencies_s: float = 0.0
    build_s: float = 0.0
    service_s: float = 0.0


class Environment:
    """Dependencies plus the learner's service, for one run of a lab's graders."""

    def __init__(
        self,
        lab: Lab,
        submission: Submission,
        options: Options,
        *,
        parent_dir: Path | None = None,
        on_phase: Callable[[str], None] = lambda text: None,
        wait_for_go: Callable[[], Submission] | None = None,
    ) -> None:
        """``wait_for_go``: called once everything but the service is up; returns the
        submission to start (a watch loop's next run waits there for the learner's change)."""
        self.lab = lab
        self.on_phase = on_phase
        self.wait_for_go = wait_for_go
        self.submission = submission
        self.options = options
        self.workdir = Path(tempfile.mkdtemp(prefix="labctl-env-", dir=parent_dir))
        self.deps: dict[str, DependencyHandle] = {}
        self.service: ServiceHandle | None = None
        self.upstreams: dict[str, Upstream] = {}
        self.timings = Timings()
        self.docker_run: Any = None  # labctl.backends.docker.deps.DockerRun with the Docker backend
        self.proxy_server: ProxyServer | None = None
        self.proxies: dict[str, Proxy] = {}  # dependency name -> the fault proxy before it

    @property
    def seed(self) -> int:
        return self.options.seed

    def __enter__(self) -> Environment:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        if self.options.backend == "docker":
            from labctl.backends.docker import start_in_docker

            self._go()  # the Docker backend starts everything at once
            start_in_docker(self)
            return
        started = time.monotonic()
        self.proxy_server = ProxyServer(self.seed)
        self.proxy_server.start()  # it gets ready while the dependencies start
        for dep in self.lab.dependencies:
            workdir = self.workdir / dep.name
            workdir.mkdir()
            handle = deps.create(dep.kind, dep.name, workdir)
            self.deps[dep.name] = handle
            self.on_phase(f"starting {dep.kind}")
            handle.start()
        self._start_proxies()
        self.timings.dependencies_s = time.monotonic() - started
        self.start_upstreams(self.options.upstream_bind, self.options.upstream_host)
        self._go()
        self._start_service()

    def _go(self) -> None:
        if self.wait_for_go is not None:
            self.submission = self.wait_for_go()

    def start_upstreams(self, bind: str = LOOPBACK, url_host: str | None = None) -> None:
        """The lab's stubs, on ``bind``; the service is told ``url_host`` (default: ``bind``)."""
        if self.lab.upstreams:
            self.on_phase("starting upstream stubs")
        self.upstreams.update(
            start_all(self.lab.upstreams, self.lab.graders_dir, bind=bind, url_host=url_host)
        )

    def _start_proxies(self) -> None:
        """One fault proxy per dependency: the service only ever sees the proxies' addresses."""
        assert self.proxy_server is not None
        for name, handle in self.deps.items():
            self.proxies[name] = self.proxy_server.proxy(name, handle.host, handle.port)

    def service_env(self) -> dict[str, str]:
        env = {dep.env: self.dependency_url(dep.name) for dep in self.lab.dependencies}
        env.update({u.env: u.url for u in self.upstreams.values()})
        return env

    def dependency_url(self, name: str) -> str:
        """The URL the service gets for dependency ``name``: through its fault proxy when it has
        one, else as the service reaches it (a network alias with the Docker backend)."""
        handle = self.deps[name]
        url = str(getattr(handle, "service_url", handle.url))
        return self.proxies[name].url_for(url) if name in self.proxies else url

    def _start_service(self) -> None:
        env = self.service_env()
        log_path = self.workdir / "service.log"
        started = time.monotonic()
        if self.submission.build:
            self.on_phase(f"building your service: {self.submission.build}")
            run_build(self.submission.build, cwd=self.submission.path, env=env, log_path=log_path)
        self.timings.build_s = time.monotonic() - started
        ready_timeout = self.options.ready_timeout_s or self.lab.service.ready_timeout_s
        self.service = Service(
            run=self.submission.run,
            cwd=self.submission.path,
            env=env,
            port=free_port(),
            health_path=self.lab.service.health,
            ready_timeout_s=ready_timeout,
            log_path=log_path,
        )
        self.run_service(self.service)

    def run_service(self, service: ServiceHandle) -> None:
        """Start the service and give it the rest of the ready timeout to answer its health path."""
        self.service = service
        ready_timeout = self.options.ready_timeout_s or self.lab.service.ready_timeout_s
        started = time.monotonic()
        self.on_phase("starting your service")
        self.service.start()
        # A service may open its port before it can serve (still connecting to its database):
        # give it the rest of the ready timeout to answer 200. The health stage judges the answer.
        self.service.wait_healthy(max(1.0, ready_timeout - (time.monotonic() - started)))
        self.timings.service_s = time.monotonic() - started

    def close(self) -> None:
        """Stop the service, then the dependencies, then delete the working directory."""
        with _no_interrupts():
            if self.service is not None:
                self.service.close()
            for upstream in self.upstreams.values():
                upstream.close()
            if self.proxy_server is not None:
                self.proxy_server.close()
            for handle in reversed(list(self.deps.values())):
                handle.close()
            if self.docker_run is not None:
                self.docker_run.close()  # anything left of this run, by its label
            shutil.rmtree(self.workdir, ignore_errors=True)

    def describe(self) -> Mapping[str, object]:
        limits = getattr(self.service, "limits", None)
        return {
            "backend": self.options.backend,
            **({"limits": limits.to_dict()} if limits is not None else {}),
            "dependencies": {name: h.url for name, h in self.deps.items()},
            "service": self.service.url if self.service else None,
            "upstreams": {name: u.url for name, u in self.upstreams.items()},
            "timings_s": {
                "dependencies": round(self.timings.dependencies_s, 3),
                "build": round(self.timings.build_s, 3),
                "service": round(self.timings.service_s, 3),
            },
        }


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """Cleanup must finish: a second Ctrl-C while tearing down would leak processes."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals cannot arrive here anyway
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
