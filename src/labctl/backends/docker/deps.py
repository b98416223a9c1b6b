"""Dependencies as containers (the Docker backend), and the run's network and built images.

The only module that imports testcontainers. One ``DockerRun`` per check owns a private,
internal Docker network; each dependency is a testcontainers ``DockerContainer`` on it, reachable
by the service under its network alias (``postgres:5432``) and by the host through a loopback-only
``HostPath``. Readiness is a structured wait strategy that speaks the dependency's own protocol
(a Postgres startup packet, a Redis PING), so it holds for the official images and for local
stand-ins alike. Handles offer the same API as the local backend: ``pause()`` is ``docker pause``.

Images, per dependency kind: ``LABCTL_<KIND>_IMAGE`` (e.g. ``LABCTL_POSTGRES_IMAGE``), else the
lab's ``image = ...`` for that dependency, else the kind's official default (``backends.kinds``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextlib import closing, suppress
from pathlib import Path
from typing import Any, Self

from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient
from testcontainers.core.network import Network
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

from labctl.backends.docker import engine as _docker
from labctl.backends.kinds import KINDS, Kind
from labctl.errors import DependencyError, ServiceError

# labctl removes what it made by label; the reaper's image may not be pullable here.
testcontainers_config.ryuk_disabled = True

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10
_LOG_TAIL = 30


def image_for(kind: Kind, configured: str | None = None) -> str:
    """The image a dependency of ``kind`` runs: env var, then lab.toml, then the default."""
    return os.environ.get(kind.image_env) or configured or kind.image


class ProtocolWait(WaitStrategy):
    """Waits until the dependency answers its own protocol through the handle's host path."""

    def __init__(self, handle: DockerDependency) -> None:
        super().__init__()
        self._handle = handle
        self.with_poll_interval(0.02).with_startup_timeout(int(START_TIMEOUT_S))

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        deadline = time.monotonic() + self._startup_timeout
        handle = self._handle
        while not handle.facts.ready(handle.host, handle.port):
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status not in ("created", "running", "restarting"):
                raise RuntimeError(f"the container exited ({wrapped.status}) before it was ready")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"not ready within {self._startup_timeout} s")
            time.sleep(self._poll_interval)


class DockerRun:
    """One check's private internal network, and everything else it creates in Docker."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or _docker.new_run_id()
        self.labels = _docker.labels(self.run_id, "network")
        self._network = Network(docker_network_kw={"internal": True, "labels": self.labels})
        self.name = ""
        self.gateway = ""  # the host's address on the network: the only host address it reaches
        self.guard: _docker.HostGuard | None = None

    def open(self) -> Self:
        self._network.name = f"labctl-{self.run_id}"
        self._network.create()
        self.name = self._network.name
        with closing(_docker.client()) as engine:
            attrs = engine.networks.get(self.name).attrs
        bridge = attrs.get("Options", {}).get("com.docker.network.bridge.name")
        self.gateway = attrs["IPAM"]["Config"][0]["Gateway"]
        self.guard = _docker.HostGuard(bridge or f"br-{attrs['Id'][:12]}", self.run_id)
        self.guard.close_gap()
        return self

    @property
    def network(self) -> Network:
        return self._network

    def close(self) -> None:
        """Remove this run's containers, network and images, whatever state they are in."""
        with suppress(Exception):
            _docker.cleanup(self.run_id)


class DockerDependency:
    """A dependency container on the run's network (the handle API of the local servers)."""

    def __init__(self, run: DockerRun, kind: str, name: str, image: str | None = None) -> None:
        if kind not in KINDS:
            raise DependencyError(
                f"no Docker support for {kind!r}", hint=f"kinds: {', '.join(KINDS)}"
            )
        self.run, self.kind, self.name = run, kind, name
        self.facts = KINDS[kind]
        self.image = image_for(self.facts, image)
        self.host, self.port = "", 0
        self._path: _docker.HostPath | None = None
        self._container = (
            DockerContainer(self.image, labels=_docker.labels(run.run_id, "dependency"))
            .with_envs(**self.facts.container_env)
            .with_network(run.network)
            .with_network_aliases(name)
            .with_name(f"labctl-{run.run_id}-{name}")
        )
        self._created = False
        self._container.with_command(self.facts.container_command())
        self.timings: dict[str, float] = {}

    @property
    def url(self) -> str:
        return self.facts.url(self.host, self.port)

    @property
    def running(self) -> bool:
        return self._status() == "running"

    def start(self) -> None:
        """Create and start the container (or start it again after stop()), wait until ready."""
        started = time.monotonic()
        try:
            if not self._created:
                self._create()
            else:
                self._wrapped().start()
                self._retarget()
                ProtocolWait(self).wait_until_ready(self._container)
        except Exception as exc:
            raise self._failure(exc) from exc
        self.timings["start"] = time.monotonic() - started

    def _create(self) -> None:
        try:
            self._container.get_docker_client().client.images.get(self.image)
        except Exception as exc:
            raise DependencyError(
                f"the image {self.image} for {self.name} is not on this machine ({exc})",
                hint=f"docker pull {self.image}, or set {self.facts.image_env} "
                "to an image that is (see README: Docker backend)",
            ) from exc
        # No wait strategy on the container itself: the host path needs the container's address
        # first, so the protocol wait runs once the container is up and the path is open.
        self._container.start()
        self._created = True
        self._path = _docker.HostPath(self._ip(), self.facts.port)
        self._path.open()
        self.host, self.port = self._path.host, self._path.port
        ProtocolWait(self).wait_until_ready(self._container)

    def stop(self) -> None:
        self._wrapped().stop(timeout=STOP_TIMEOUT_S)
        # A stopped local server refuses connections at once; so does this one. Left open, the
        # host path would accept and then wait on an address that no longer answers.
        if self._path is not None:
            self._path.close()

    def pause(self) -> None:
        self._wrapped().pause()

    def resume(self) -> None:
        self._wrapped().unpause()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self._path is not None:
            self._path.close()
        if self._created:
            with suppress(Exception):
                self._container.get_wrapped_container().remove(force=True, v=True)
        self._container.get_docker_client().client.close()

    def logs(self, last: int = 50) -> list[str]:
        try:
            data: bytes = self._wrapped().logs(tail=last)
            text = data.decode("utf-8", errors="replace")
        except Exception:
            return []
        return text.splitlines()[-last:]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _wrapped(self) -> Any:
        return self._container.get_wrapped_container()

    def _status(self) -> str:
        try:
            wrapped = self._wrapped()
            wrapped.reload()
            return str(wrapped.status)
        except Exception:
            return "missing"

    def _ip(self) -> str:
        return _docker.container_ip(self._wrapped(), self.run.name)

    def _retarget(self) -> None:
        assert self._path is not None
        self._path.retarget(self._ip())
        self._path.open()  # closed by stop()
        self.host, self.port = self._path.host, self._path.port

    def _failure(self, exc: Exception) -> DependencyError:
        if isinstance(exc, DependencyError):
            return exc
        return DependencyError(
            f"{self.name} ({self.image}) did not become ready: {exc}",
            hint="its container log is below; check the image and LABCTL_",
            log=self.logs(_LOG_TAIL),
            log_source=self.name,
        )


def build_image(
    run: DockerRun, context: Path, dockerfile: str, build_args: Mapping[str, str]
) -> str:
    """Build the learner's image from ``context``; returns its tag. Raises ServiceError."""
    tag = f"labctl-service:{run.run_id}"
    lines: list[str] = []
    with closing(_docker.client(timeout_s=900)) as engine:
        _stream_build(engine, tag, run, context, dockerfile, build_args, lines)
    return tag


def _stream_build(
    engine: Any,
    tag: str,
    run: DockerRun,
    context: Path,
    dockerfile: str,
    build_args: Mapping[str, str],
    lines: list[str],
) -> None:
    try:
        for chunk in engine.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=dict(build_args),
            labels=_docker.labels(run.run_id, "image"),
            rm=True,
            forcerm=True,
            decode=True,
        ):
            lines.extend(str(chunk.get("stream", "")).splitlines())
            if "error" in chunk:
                raise ServiceError(
                    f"docker build of {context / dockerfile} failed: {chunk['error'].strip()}",
                    hint=f"reproduce with: docker build -f {dockerfile} {context}",
                    log=[line for line in lines if line.strip()][-_LOG_TAIL:],
                )
    except ServiceError:
        raise
    except Exception as exc:
        raise ServiceError(
            f"could not build {context / dockerfile}: {exc}",
            hint="check the Dockerfile path and that the Docker engine answers (labctl doctor)",
        ) from exc


def service_container(
    run: DockerRun, image: str, env: Mapping[str, str], name: str, **kwargs: Any
) -> Any:
    """Create (not start) a container of the learner's image on the run's network, called
    ``labctl-<run>-<name>``; a docker-py Container."""
    return DockerClient().create(
        image,
        environment=dict(env),
        labels=_docker.labels(run.run_id, "service"),
        name=f"labctl-{run.run_id}-{name}",
        network=run.name,
        **kwargs,
    )
