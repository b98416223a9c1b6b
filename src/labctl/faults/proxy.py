"""TCP fault proxies between the learner's service and each dependency, in Toxiproxy's vocabulary.

``ProxyServer`` runs the proxies in a child process of their own (``_proxy_server``), so
forwarding never waits for the grading process's GIL; ``ProxyServer.proxy(name, host, port)``
opens one listening port for one dependency and returns its ``Proxy``. The service is only ever
given the proxy's address (``Proxy.host``, ``Proxy.port``).

Toxics, as in Toxiproxy, each applied to one direction (``downstream``: dependency -> service,
the default; ``upstream``: service -> dependency) and to each connection with probability
``toxicity`` (drawn from the run's seed):

- ``latency(ms, jitter_ms)``: delay every chunk by latency +/- jitter
- ``bandwidth(rate_kb_s)``: at most that many KB per second
- ``timeout(ms)``: stop all data; close the connection after ms (0: keep it open, hung)
- ``reset_peer(ms)``: reset the connection (TCP RST) after ms
- ``slow_close(ms)``: delay closing the connection by ms
- ``limit_data(n)``: close the connection once n bytes have passed

and ``Proxy.down()`` / ``Proxy.up()``: refuse new connections and cut open ones, then listen again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

from labctl.errors import SetupError
from labctl.processes import spawn, stop

__all__ = [
    "Proxy",
    "ProxyServer",
    "Toxic",
    "bandwidth",
    "latency",
    "limit_data",
    "reset_peer",
    "slow_close",
    "timeout",
]

HOST = "127.0.0.1"
STREAMS = ("downstream", "upstream")
ATTRIBUTES = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slow_close": ("delay",),
    "limit_data": ("bytes",),
}
_REPLY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Toxic:
    """One fault on one direction of a proxy. ``name`` defaults to ``<type>_<stream>``."""

    type: str
    attributes: dict[str, float] = field(default_factory=dict)
    stream: str = "downstream"
    toxicity: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.type not in ATTRIBUTES:
            raise ValueError(f"unknown toxic {self.type!r}: use one of {', '.join(ATTRIBUTES)}")
        if self.stream not in STREAMS:
            raise ValueError(f"stream must be 'downstream' or 'upstream', not {self.stream!r}")
        if not 0.0 <= self.toxicity <= 1.0:
            raise ValueError(f"toxicity is a probability in 0..1, not {self.toxicity}")
        unknown = set(self.attributes) - set(ATTRIBUTES[self.type])
        if unknown or any(v < 0 for v in self.attributes.values()):
            raise ValueError(
                f"{self.type} takes non-negative {', '.join(ATTRIBUTES[self.type])}, "
                f"got {self.attributes}"
            )
        if not self.name:
            object.__setattr__(self, "name", f"{self.type}_{self.stream}")

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v:g}" for k, v in self.attributes.items())
        return f"{self.type}({attrs}) {self.stream}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


def latency(ms: float, jitter_ms: float = 0, *, stream: str = "downstream") -> Toxic:
    return Toxic("latency", {"latency": ms, "jitter": jitter_ms}, stream)


def bandwidth(rate_kb_s: float, *, stream: str = "downstream") -> Toxic:
    return Toxic("bandwidth", {"rate": rate_kb_s}, stream)


def timeout(ms: float = 0, *, stream: str = "downstream") -> Toxic:
    return Toxic("timeout", {"timeout": ms}, stream)


def reset_peer(ms: float = 0, *, stream: str = "downstream") -> Toxic:
    return Toxic("reset_peer", {"timeout": ms}, stream)


def slow_close(ms: float, *, stream: str = "downstream") -> Toxic:
    return Toxic("slow_close", {"delay": ms}, stream)


def limit_data(n_bytes: int, *, stream: str = "downstream") -> Toxic:
    return Toxic("limit_data", {"bytes": n_bytes}, stream)


class ProxyServer:
    """The proxy process: start it, open proxies, close it (which cuts every connection)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.proxies: dict[str, Proxy] = {}
        self._proc: subprocess.Popen[str] | None = None
        self._ready = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Spawn the proxy process; the first command waits until it is ready (so its start-up
        overlaps whatever the caller does next, such as starting the dependencies)."""
        self._proc = spawn(
            [sys.executable, "-m", "labctl.faults._proxy_server", str(self.seed)],
            stdin=subprocess.PIPE,
            out=subprocess.PIPE,
            text=True,
        )

    def proxy(self, name: str, host: str, port: int, *, bind: str = HOST) -> Proxy:
        """A new listening port on ``bind`` (default 127.0.0.1) that forwards to host:port."""
        command = {"op": "listen", "name": name, "host": host, "port": port, "bind": bind}
        reply = self.call(command)
        proxy = Proxy(self, name, (host, port), int(reply["port"]), bind)
        self.proxies[name] = proxy
        return proxy

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command and return its answer; raises SetupError if the proxy failed."""
        with self._lock:
            if self._proc is None or self._proc.stdin is None:
                raise SetupError("the fault proxy is not running", hint="start() it first")
            if not self._ready:
                self._read_reply()  # the "ready" line
                self._ready = True
            try:
                self._proc.stdin.write(json.dumps(command) + "\n")
                self._proc.stdin.flush()
            except OSError as exc:
                raise self._died(str(exc)) from None
            reply = self._read_reply()
        if not reply.get("ok"):
            raise ValueError(f"fault proxy: {reply.get('error')}")
        return reply

    def _read_reply(self) -> dict[str, Any]:
        assert self._proc is not None
        line = _readline(self._proc.stdout, _REPLY_TIMEOUT_S)
        if not line:
            raise self._died("no answer")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _died(self, why: str) -> SetupError:
        code = self._proc.poll() if self._proc else None
        return SetupError(
            f"the fault proxy stopped answering ({why}, exit code {code})",
            hint="this is a bug in labctl; run again with --verbose and report it",
        )

    def close(self) -> None:
        """Stop the proxy process (closing its stdin ends it). Idempotent, never raises."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        stop(proc, grace_s=2.0, sig=None)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ProxyServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _readline(stream: IO[str] | None, timeout_s: float) -> str:
    """One line from the proxy's stdout, or "" if none came within timeout_s."""
    if stream is None:
        return ""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return box[0] if box else ""


class Proxy:
    """One dependency's proxy: its address, its toxics, up or down."""

    def __init__(
        self,
        server: ProxyServer,
        name: str,
        upstream: tuple[str, int],
        port: int,
        host: str = HOST,
    ) -> None:
        self.name = name
        self.upstream = upstream
        self.host = host
        self.port = port
        self._server = server
        self.toxics: dict[str, Toxic] = {}
        self.enabled = True

    def add(self, toxic: Toxic) -> Toxic:
        self._server.call({"op": "add", "name": self.name, "toxic": toxic.to_dict()})
        self.toxics[toxic.name] = toxic
        return toxic

    def remove(self, toxic: Toxic | str, *, missing_ok: bool = False) -> None:
        name = toxic if isinstance(toxic, str) else toxic.name
        command = {"op": "remove", "name": self.name, "toxic": name, "missing_ok": missing_ok}
        self._server.call(command)
        self.toxics.pop(name, None)

    def down(self) -> None:
        self._server.call({"op": "enable", "name": self.name, "enabled": False})
        self.enabled = False

    def up(self) -> None:
        self._server.call({"op": "enable", "name": self.name, "enabled": True})
        self.enabled = True

    def reset(self) -> None:
        """Remove every toxic and bring the proxy up: no fault left."""
        for name in list(self.toxics):
            self.remove(name)
        if not self.enabled:
            self.up()

    def connections(self) -> int:
        return int(self._server.call({"op": "state", "name": self.name})["links"])

    def __repr__(self) -> str:
        host, port = self.upstream
        return f"<Proxy {self.name!r} {self.host}:{self.port} -> {host}:{port}>"
