"""The Docker engine as labctl uses it: is one answering, labctl's labels, host paths, cleanup.

Everything labctl creates in Docker (networks, containers, built images) carries the label
``org.labctl.run=<run id>``, so a run removes exactly what it made, and ``labctl doctor --cleanup``
finds what a crashed run left. testcontainers' reaper (Ryuk) is never used: its image cannot be
assumed to be pullable, and labctl's own label-based cleanup covers every way a run can end.

Containers sit on an *internal* network (no route beyond it), where Docker refuses to publish
ports. ``HostPath`` gives the host a loopback-only way in instead: the engine's own userland proxy
(``docker-proxy``) on 127.0.0.1, or, where that binary is missing, the container's address on the
run's bridge, which only this machine can reach.
"""

from __future__ import annotations

import functools
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
from contextlib import closing, suppress
from dataclasses import dataclass
from typing import Any

import psutil

from labctl._net import free_port
from labctl.processes import spawn, stop

__all__ = [
    "LABEL",
    "Cleanup",
    "HostPath",
    "cleanup",
    "client",
    "engine_status",
    "new_run_id",
]

LABEL = "org.labctl.run"
OWNER = "org.labctl.owner"
_SOCKET = "/var/run/docker.sock"
_PING_TIMEOUT_S = 2.0


def new_run_id() -> str:
    return secrets.token_hex(6)


def labels(run_id: str, role: str) -> dict[str, str]:
    """What labctl labels its objects with: the run, what the object is, and the process that
    owns the run (so a clean-up of leftovers never removes a run that is still going)."""
    return {LABEL: run_id, "org.labctl.role": role, OWNER: _owner(os.getpid())}


def _owner(pid: int) -> str:
    """``host:pid:start-time``: a pid alone may have been reused since."""
    try:
        started = f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        started = "?"
    return f"{socket.gethostname()}:{pid}:{started}"


def _owner_alive(owner: str | None) -> bool:
    host, _, rest = (owner or "").partition(":")
    pid, _, _ = rest.partition(":")
    return host == socket.gethostname() and pid.isdigit() and _owner(int(pid)) == owner


def client(timeout_s: float = 60.0) -> Any:
    """A docker-py client for the engine in DOCKER_HOST (or the default socket)."""
    import docker  # deferred: only the Docker backend and doctor need it

    return docker.from_env(timeout=int(timeout_s))


def engine_status() -> tuple[bool, str]:
    """Whether a Docker engine answers here, and a sentence saying why or why not."""
    host = os.environ.get("DOCKER_HOST", f"unix://{_SOCKET}")
    if host.startswith("unix://") and not os.path.exists(host.removeprefix("unix://")):
        return False, f"no Docker engine: {host.removeprefix('unix://')} does not exist"
    engine = None
    try:
        engine = client(_PING_TIMEOUT_S)
        engine.ping()
        version = engine.version().get("Version", "?")
    except Exception as exc:  # any failure means: no engine answers here
        return False, f"no Docker engine answers ({type(exc).__name__}: {exc})"[:200]
    finally:
        if engine is not None:
            engine.close()
    return True, f"Docker engine {version} answers"


@dataclass(frozen=True)
class Cleanup:
    containers: int = 0
    networks: int = 0
    images: int = 0
    kept_runs: int = 0  # runs whose owner is still running: not leftovers

    def total(self) -> int:
        return self.containers + self.networks + self.images

    def __add__(self, other: Cleanup) -> Cleanup:
        return Cleanup(
            self.containers + other.containers,
            self.networks + other.networks,
            self.images + other.images,
            self.kept_runs + other.kept_runs,
        )


def cleanup(run_id: str | None = None) -> Cleanup:
    """Remove labctl's containers, then networks, then built images: one run's, or the
    leftovers of every run whose owner process has gone (never a run still in progress)."""
    with closing(client()) as engine:
        if run_id is not None:
            return _remove_labelled(engine, f"{LABEL}={run_id}")
        done = Cleanup()
        for found, owners in _runs(engine).items():
            if any(_owner_alive(owner) for owner in owners):
                done += Cleanup(kept_runs=1)
            else:
                done += _remove_labelled(engine, f"{LABEL}={found}")
        return done


def _runs(engine: Any) -> dict[str, set[str | None]]:
    """Every run id found on labctl's objects, with the owners named on them."""
    runs: dict[str, set[str | None]] = {}
    listed = (
        *engine.containers.list(all=True, filters={"label": LABEL}),
        *engine.networks.list(filters={"label": LABEL}),
        *engine.images.list(filters={"label": LABEL}),
    )
    for obj in listed:
        found = obj.attrs.get("Config", {}).get("Labels") or obj.attrs.get("Labels") or {}
        if LABEL in found:
            runs.setdefault(found[LABEL], set()).add(found.get(OWNER))
    return runs


def _remove_labelled(engine: Any, selector: str) -> Cleanup:
    found = {"label": selector}
    containers = engine.containers.list(all=True, filters=found)
    for container in containers:
        with suppress(Exception):  # already gone: someone else cleaned up first
            container.remove(force=True, v=True)
    networks = engine.networks.list(filters=found)
    for network in networks:
        with suppress(Exception):
            network.remove()
    remove_host_guards(f"labctl-{selector.partition('=')[2]}" if "=" in selector else "labctl-")
    images = engine.images.list(filters=found)
    for image in images:
        with suppress(Exception):
            # noprune: the untagged layers below it are the engine's build cache; pruning them
            # would make every run rebuild the learner's dependencies from scratch.
            engine.images.remove(image.id, force=True, noprune=True)
    return Cleanup(len(containers), len(networks), len(images))


class HostGuard:
    """Closes the one way out an internal network leaves: the host itself, at the bridge's
    gateway address (any host service listening on 0.0.0.0). Two INPUT rules on the run's bridge:
    answers to connections the host opened (labctl reaching the containers) pass, anything the
    containers start towards the host is refused. Needs root and iptables; else ``active`` is
    False and the gap is reported in the result's meta."""

    def __init__(self, bridge: str, run_id: str) -> None:
        self.bridge = bridge
        self.comment = f"labctl-{run_id}"
        self.active = False

    def close_gap(self) -> None:
        if os.geteuid() != 0 or shutil.which("iptables") is None:
            return
        match = ["-i", self.bridge, "-m", "comment", "--comment", self.comment]
        established = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]
        self.active = _iptables("-I", "INPUT", "1", *match, "-j", "REJECT") and _iptables(
            "-I", "INPUT", "1", *match, *established
        )

    def admit(self, port: int) -> None:
        """Let the containers reach one host port (a fault proxy, a stub) through the guard."""
        if not self.active:
            return
        match = ["-i", self.bridge, "-m", "comment", "--comment", self.comment]
        _iptables("-I", "INPUT", "1", *match, "-p", "tcp", "--dport", str(port), "-j", "ACCEPT")

    def open_gap(self) -> None:
        remove_host_guards(self.comment)
        self.active = False


def remove_host_guards(comment: str = "labctl-") -> int:
    """Delete the INPUT rules whose comment starts with ``comment``; how many there were."""
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        return 0
    listing = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True)
    rules = [
        r
        for r in listing.stdout.splitlines()
        if f'--comment "{comment}' in r or f"--comment {comment}" in r
    ]
    for rule in rules:
        _iptables("-D", *shlex.split(rule)[1:])
    return len(rules)


def _iptables(*args: str) -> bool:
    done = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
    return done.returncode == 0


def container_ip(container: Any, network: str) -> str:
    container.reload()
    address: str = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    return address


class HostPath:
    """A loopback-only way from the host to one container port on an internal network."""

    def __init__(self, target_ip: str, target_port: int) -> None:
        self.target = (target_ip, target_port)
        self._proxy = shutil.which("docker-proxy") or _beside_dockerd("docker-proxy")
        self.host = "127.0.0.1" if self._proxy else target_ip
        self.port = free_port() if self._proxy else target_port
        self._proc: subprocess.Popen[bytes] | None = None

    def open(self) -> None:
        if self._proxy is None or self._proc is not None:
            return
        # docker-proxy reports on fd 3: "0\n" once it listens, "1\n<error>" if it cannot.
        status_r, status_w = os.pipe()
        try:
            self._proc = spawn(
                [
                    self._proxy,
                    *("-proto", "tcp", "-host-ip", self.host, "-host-port", str(self.port)),
                    *("-container-ip", self.target[0], "-container-port", str(self.target[1])),
                ],
                out=subprocess.DEVNULL,
                death=signal.SIGKILL,
                pass_fds=(3, status_w),  # fd 3 is set in the child, before fds are closed
                setup=functools.partial(_status_on_fd3, status_w),
            )
            os.close(status_w)
            with os.fdopen(status_r, "rb") as status:
                report = status.read(256)
        except BaseException:
            self.close()
            raise
        if not report.startswith(b"0"):
            self.close()
            raise OSError(f"docker-proxy could not listen on {self.host}:{self.port}: {report!r}")

    def retarget(self, target_ip: str) -> None:
        """After a container restart its address may change: point the same host port there."""
        if target_ip == self.target[0]:
            return
        self.target = (target_ip, self.target[1])
        if self._proxy is None:
            self.host = target_ip
            return
        self.close()
        self.open()

    def close(self) -> None:
        if self._proc is None:
            return
        stop(self._proc, grace_s=2.0)
        self._proc = None


def _beside_dockerd(name: str) -> str | None:
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/libexec/docker"):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    return None


def _status_on_fd3(status_fd: int) -> None:
    """In the proxy's process, before exec: its status pipe on fd 3, where it reports."""
    os.dup2(status_fd, 3)
    if status_fd != 3:
        os.close(status_fd)  # else the pipe never reaches end-of-file
