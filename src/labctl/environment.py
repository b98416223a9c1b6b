"""The world a check runs in: the lab's dependencies, its upstream stubs, the fault proxies and
the learner's service (all its replicas), on one backend.

``Environment`` is a context manager with one start sequence, whichever backend it is given:
open the backend's site, start each dependency, put a fault proxy in front of each (the service
only ever sees proxies), start the stubs, build the service, then start each replica with the
env contract and wait until it answers and says it is ready. Leaving it stops everything it
started, in reverse order, whatever happened (including Ctrl-C), and deletes its working
directory. It knows nothing of pytest, nor which backend it runs on.
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

from labctl.backends import Backend, DependencyHandle, Site
from labctl.backends.kinds import KINDS
from labctl.faults.proxy import Proxy, ProxyServer
from labctl.model.lab import Lab
from labctl.model.submission import Submission
from labctl.services.readiness import probe_for
from labctl.services.replica import Replica
from labctl.upstreams import Upstream, start_all


@dataclass(frozen=True)
class Options:
    seed: int
    run_id: str
    ready_timeout_s: float | None = None


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
        backend: Backend,
        options: Options,
        *,
        parent_dir: Path | None = None,
        on_phase: Callable[[str], None] = lambda text: None,
        wait_for_go: Callable[[], Submission] | None = None,
    ) -> None:
        """``wait_for_go``: called once, when everything but the service is up (before anything,
        on a backend that cannot start ahead); returns the submission to start. A watch loop's
        next run waits there for the learner's change; it is the submission the environment was
        made with (a changed labctl.toml gets a new run), its files as they are now."""
        self.lab = lab
        self.wait_for_go = wait_for_go
        self.submission = submission
        self.backend = backend
        self.options = options
        self.on_phase = on_phase
        self.workdir = Path(tempfile.mkdtemp(prefix="labctl-env-", dir=parent_dir))
        self.site: Site | None = None
        self.deps: dict[str, DependencyHandle] = {}
        self.proxies: dict[str, Proxy] = {}  # dependency name -> the fault proxy before it
        self.upstreams: dict[str, Upstream] = {}
        self.replicas: list[Replica] = []
        self.proxy_server: ProxyServer | None = None
        self.timings = Timings()

    @property
    def seed(self) -> int:
        return self.options.seed

    @property
    def service(self) -> Replica | None:
        """Replica 0: what graders get as ``service``."""
        return self.replicas[0] if self.replicas else None

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

    # -- the start sequence ---------------------------------------------------------------------

    def start(self) -> None:
        if not self.backend.starts_ahead:
            self._go()  # its site takes the service as it is when it opens (an image build)
        started = time.monotonic()
        self.site = site = self.backend.open(
            self.lab, self.submission, self.options.run_id, self.seed
        )
        self.proxy_server = ProxyServer(self.seed)
        self.proxy_server.start()  # it gets ready while the dependencies start
        for spec in self.lab.dependencies:
            workdir = self.workdir / spec.name
            workdir.mkdir()
            handle = site.dependency(spec, workdir)
            self.deps[spec.name] = handle
            self.on_phase(f"starting {spec.kind}")
            handle.start()
        self._start_proxies(site)
        self.timings.dependencies_s = time.monotonic() - started
        self._start_upstreams(site)
        self._go()
        self._start_service(site)

    def _go(self) -> None:
        if self.wait_for_go is not None:
            self.submission, self.wait_for_go = self.wait_for_go(), None

    def _start_proxies(self, site: Site) -> None:
        """One fault proxy per dependency: the service only ever sees the proxies' addresses."""
        assert self.proxy_server is not None
        for name, handle in self.deps.items():
            proxy = self.proxy_server.proxy(name, handle.host, handle.port, bind=site.host)
            self.proxies[name] = proxy
            site.admit(proxy.port)

    def _start_upstreams(self, site: Site) -> None:
        if self.lab.upstreams:
            self.on_phase("starting upstream stubs")
        self.upstreams.update(start_all(self.lab.upstreams, self.lab.graders_dir, bind=site.host))
        for upstream in self.upstreams.values():
            site.admit(upstream.port)

    def service_env(self) -> dict[str, str]:
        """The dependency and stub URLs, in the env vars the lab names, through the proxies."""
        env = {
            spec.env: KINDS[spec.kind].url(
                self.proxies[spec.name].host, self.proxies[spec.name].port
            )
            for spec in self.lab.dependencies
        }
        env.update({u.env: u.url for u in self.upstreams.values()})
        return env

    def _start_service(self, site: Site) -> None:
        env = self.service_env()
        log_dir = self.workdir / "service"
        log_dir.mkdir()
        started = time.monotonic()
        self.on_phase("building your service")
        site.build(env, log_dir / "build.log")
        self.timings.build_s = time.monotonic() - started
        spec = self.lab.service
        ready_timeout = self.options.ready_timeout_s or spec.ready_timeout_s
        probe = probe_for(spec, self.lab.graders_dir)
        for i in range(spec.replicas):
            runner = site.runner(i, {**env, "REPLICA": str(i)}, log_dir / f"replica-{i}.log")
            self.replicas.append(Replica(runner, probe, replica=i, ready_timeout_s=ready_timeout))
        for replica in self.replicas:
            replica.replicas = self.replicas
        started = time.monotonic()
        self.on_phase("starting your service")
        for replica in self.replicas:
            replica.start()
        # A service may open its port before it can serve (still connecting to its database):
        # give it the rest of the ready timeout to say so. The health stage judges the answer.
        for replica in self.replicas:
            replica.wait_ready(max(1.0, ready_timeout - (time.monotonic() - started)))
        self.timings.service_s = time.monotonic() - started

    # -- the end --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the service, the stubs, the proxies, the dependencies, then the site; delete the
        working directory."""
        with _no_interrupts():
            for replica in reversed(self.replicas):
                replica.close()
            for upstream in self.upstreams.values():
                upstream.close()
            if self.proxy_server is not None:
                self.proxy_server.close()
            for handle in reversed(list(self.deps.values())):
                handle.close()
            if self.site is not None:
                self.site.close()  # anything left of this run
            shutil.rmtree(self.workdir, ignore_errors=True)

    def describe(self) -> Mapping[str, object]:
        site = self.site.describe() if self.site is not None else {}
        return {
            "backend": self.backend.name,
            **site,
            "dependencies": {name: h.url for name, h in self.deps.items()},
            "service": self.service.url if self.service else None,
            "replicas": [replica.url for replica in self.replicas],
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
