"""Readiness as a wait strategy per protocol, the same for both backends.

Two questions are asked in turn while a replica starts:

- **up**: does something answer the lab's protocol on PORT: any HTTP status, any gRPC status,
  an accepted TCP connection? Until it does, a ``PortWatch`` over the service's own listening
  sockets can say early what is wrong (a hard-coded port, a loopback-only address), and on
  timeout why there was no answer (never listened, accepts but speaks another protocol).
- **ready**: does it say it can serve: 200 on the health path, ``grpc.health.v1`` SERVING, the
  lab's TCP probe? The health stage judges the answer; start-up only waits for it, and an answer
  that will not change (404 for the health path, no health service at all) ends the wait early.

A ``Probe`` asks one question once; ``wait_up`` and ``wait_ready`` poll it. ``probe_for(spec)``
picks the probe of a lab's ``[service] protocol``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from labctl.errors import LabError
from labctl.model.lab import ServiceSpec
from labctl.model.packs import pack_object
from labctl.services.listeners import listeners

__all__ = [
    "Answer",
    "HttpProbe",
    "Miss",
    "PortWatch",
    "Probe",
    "TcpProbe",
    "probe_for",
    "wait_ready",
    "wait_up",
]

POLL_S = 0.02  # between probes
GIVE_UP_S = 2.0  # a wrong port, or an answer that says "never", lasting this long is no fluke
_SCAN_S = 0.2  # between looks at the listening sockets
_REQUEST_TIMEOUT_S = 2.0
_CONNECT_TIMEOUT_S = 0.5
_MISSING_ROUTE = frozenset({404, 405, 501})


@dataclass(frozen=True)
class Miss:
    """Why a probe got no answer: ``refused``, ``timeout`` or ``garbled`` (another protocol)."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class Answer:
    """What the service said when asked whether it is ready."""

    ready: bool
    said: str  # "200", "404", "NOT_SERVING", "UNIMPLEMENTED", ...
    final: bool = False  # it will not change by waiting (a missing route or health service)


class Probe(Protocol):
    protocol: str  # "HTTP", "gRPC", "TCP": for messages
    question: str  # "GET /healthz": what ready() asks
    garbled_hint: str  # what to do when the port speaks another protocol

    def up(self, host: str, port: int, timeout_s: float) -> Miss | None:
        """None when something answers the protocol on host:port (whatever it says)."""
        ...

    def ready(self, host: str, port: int, timeout_s: float) -> Answer | Miss: ...


class HttpProbe:
    """GET on the health path: any status means up, 200 means ready."""

    protocol = "HTTP"
    garbled_hint = "serve plain HTTP/1.1 on $PORT: not HTTPS, not gRPC, not a raw TCP protocol"

    def __init__(self, health_path: str = "/healthz") -> None:
        self.path = health_path if health_path.startswith("/") else f"/{health_path}"
        self.question = f"GET {self.path}"

    def up(self, host: str, port: int, timeout_s: float) -> Miss | None:
        outcome = self.ready(host, port, timeout_s)
        return outcome if isinstance(outcome, Miss) else None

    def ready(self, host: str, port: int, timeout_s: float) -> Answer | Miss:
        budget = max(0.05, min(_REQUEST_TIMEOUT_S, timeout_s))
        timeout = httpx.Timeout(budget, connect=min(budget, _CONNECT_TIMEOUT_S))
        # trust_env=False: an HTTP(S)_PROXY in the environment must not route 127.0.0.1
        # elsewhere. verify=False: plain HTTP only, and loading the CA bundle costs ~50 ms.
        try:
            with (
                httpx.Client(trust_env=False, verify=False) as client,
                # Streamed and never read: the status line is the answer, whatever the body.
                client.stream("GET", f"http://{host}:{port}{self.path}", timeout=timeout) as r,
            ):
                status = r.status_code
        except httpx.ConnectError as exc:
            return Miss("refused", str(exc))
        except httpx.TimeoutException:
            return Miss("timeout")
        except httpx.TransportError as exc:
            return Miss("garbled", str(exc) or type(exc).__name__)
        return Answer(status == 200, str(status), final=status in _MISSING_ROUTE)


ProbeFunction = Callable[[str, int], bool]


class TcpProbe:
    """A TCP connection accepted means up; the lab's own probe (if any) says ready."""

    protocol = "TCP"
    garbled_hint = "answer the lab's protocol on $PORT"

    def __init__(self, check: ProbeFunction | None = None, name: str = "") -> None:
        self._check = check
        self.question = f"the lab's probe ({name})" if check else "a TCP connection"

    def up(self, host: str, port: int, timeout_s: float) -> Miss | None:
        try:
            with socket.create_connection((host, port), timeout=min(timeout_s, 1.0)):
                return None
        except TimeoutError:
            return Miss("timeout")
        except OSError as exc:
            return Miss("refused", str(exc))

    def ready(self, host: str, port: int, timeout_s: float) -> Answer | Miss:
        if (miss := self.up(host, port, timeout_s)) is not None:
            return miss
        if self._check is None:
            return Answer(True, "connected")
        try:
            ok = bool(self._check(host, port))
        except OSError as exc:
            return Answer(False, f"the probe failed: {exc}")
        return Answer(ok, "ready" if ok else "not ready")


def probe_for(spec: ServiceSpec, graders_dir: Path) -> Probe:
    """The probe of a lab's ``[service] protocol``."""
    if spec.protocol == "grpc":
        from labctl.services.grpc_probe import GrpcProbe  # grpcio loads only for gRPC labs

        return GrpcProbe()
    if spec.protocol == "tcp":
        return TcpProbe(_load_probe(spec.probe, graders_dir), spec.probe or "")
    return HttpProbe(spec.health)


def _load_probe(ref: str | None, graders_dir: Path) -> ProbeFunction | None:
    if not ref:
        return None
    check = pack_object(graders_dir, ref, where="service.probe")
    if not callable(check):
        raise LabError(
            f"the lab's service.probe ({ref}) is a {type(check).__name__}, not a function",
            hint="point it at a function (host, port) -> bool in the grader pack",
        )
    return check


Exited = Callable[[str], None]  # raises ServiceError when the service has exited ("when" given)
Raise = Callable[[str, str], BaseException]  # (message, hint) -> the error to raise


class PortWatch:
    """Explains, from the sockets the service's processes listen on, why PORT gives no answer.
    ``pids`` lists the service's processes (host pids), whichever namespace they live in."""

    def __init__(self, pids: Callable[[], Iterable[int]], port: int) -> None:
        self._pids = pids
        self._port = port
        self._next_scan = 0.0
        self._wrong_since: float | None = None

    def scan(self) -> tuple[set[str], set[int]]:
        """The addresses listened on at PORT, and the other ports listened on."""
        on_port: set[str] = set()
        others: set[int] = set()
        for found in listeners(self._pids()):
            if found.port == self._port:
                on_port.add(found.address)
            else:
                others.add(found.port)
        return on_port, others

    def early_problem(self, miss: Miss) -> tuple[str, str] | None:
        """A wrong port that lasts 2 s: no need to wait out the whole ready timeout."""
        now = time.monotonic()
        if miss.kind != "refused":
            self._wrong_since = None  # something does accept on PORT
            return None
        if now < self._next_scan:
            return None
        self._next_scan = now + _SCAN_S
        on_port, others = self.scan()
        if on_port or not others:
            self._wrong_since = None
            return None
        self._wrong_since = now if self._wrong_since is None else self._wrong_since
        return self._wrong_port(others) if now - self._wrong_since >= GIVE_UP_S else None

    def final_problem(self, miss: Miss, probe: Probe, timeout_s: float) -> tuple[str, str]:
        """What to tell the learner once the ready timeout has passed."""
        port = self._port
        if miss.kind == "timeout":
            return (
                f"your service accepts connections on port {port} but did not answer "
                f"{probe.question} within {timeout_s:g} s",
                f"answer any {probe.protocol} request once it listens; if it is only slow to "
                "start, raise --ready-timeout",
            )
        if miss.kind == "garbled":
            return (
                f"your service accepts connections on port {port} but does not answer "
                f"{probe.protocol} ({miss.detail})",
                probe.garbled_hint,
            )
        on_port, others = self.scan()
        if on_port:
            return (
                f"your service listens on port {port} only on {', '.join(sorted(on_port))}, "
                "which labctl cannot reach",
                "listen on 0.0.0.0 (every interface), not on one address",
            )
        if others:
            return self._wrong_port(others)
        return (
            f"your service did not listen on port {port} within {timeout_s:g} s",
            "it must listen on 0.0.0.0:$PORT (labctl sets PORT); if it is only slow to start, "
            "raise --ready-timeout",
        )

    def _wrong_port(self, others: set[int]) -> tuple[str, str]:
        ports = ", ".join(str(p) for p in sorted(others))
        noun = "port" if len(others) == 1 else "ports"
        return (
            f"your service listens on {noun} {ports}, but labctl gave it PORT={self._port}",
            "read the port from the PORT environment variable instead of hard-coding it",
        )


def wait_up(
    probe: Probe,
    address: Callable[[], tuple[str, int]],
    timeout_s: float,
    *,
    exited: Exited,
    watch: PortWatch,
    error: Raise,
) -> None:
    """Until something answers the protocol at ``address()``; raises ``error(...)`` when the
    service exits, listens elsewhere, or is silent for ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        exited(f"before it answered on port {address()[1]}")
        host, port = address()
        miss = probe.up(host, port, max(0.05, deadline - time.monotonic()))
        if miss is None:
            return
        problem = watch.early_problem(miss)
        if problem is None and time.monotonic() >= deadline:
            problem = watch.final_problem(miss, probe, timeout_s)
        if problem is not None:
            raise error(*problem)
        time.sleep(POLL_S)


def wait_ready(
    probe: Probe, address: Callable[[], tuple[str, int]], timeout_s: float, *, exited: Exited
) -> Answer | None:
    """Ask until the service says it is ready, for up to ``timeout_s``: its last answer (None
    if none came). An answer that will not change, lasting 2 s, ends the wait early."""
    deadline = time.monotonic() + timeout_s
    last: Answer | None = None
    final_since: float | None = None
    while True:
        exited(f"while labctl waited for {probe.question}")
        host, port = address()
        outcome = probe.ready(host, port, max(0.05, deadline - time.monotonic()))
        now = time.monotonic()
        if isinstance(outcome, Answer):
            if outcome.ready:
                return outcome
            last = outcome
        final = isinstance(outcome, Answer) and outcome.final
        final_since = (final_since or now) if final else None
        if (final_since is not None and now - final_since >= GIVE_UP_S) or now >= deadline:
            return last
        time.sleep(POLL_S)
