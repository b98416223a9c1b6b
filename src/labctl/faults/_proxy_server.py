"""The fault proxy's process: asyncio TCP forwarding with Toxiproxy's toxics (see ``proxy``).

Run as ``python -m labctl.faults._proxy_server SEED``. It reads one JSON command per line on
stdin and answers one JSON line on stdout (``{"ok": true, ...}`` or ``{"ok": false, "error":
...}``); when stdin closes (labctl exited or died) it exits. It runs outside the grading
process so that the graders' threads never hold the GIL while a dependency's bytes wait.

Each accepted connection is a ``_Link``: a client side and an upstream side, with one pipe per
direction (``upstream`` = client to dependency, ``downstream`` = dependency to client). With no
toxic on a direction, bytes are written straight through from ``data_received``; with toxics,
they go through a per-direction queue so that a latency toxic delays each chunk from the moment
it arrived (back-to-back chunks do not add up their delays), as Toxiproxy does.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

STREAMS = ("upstream", "downstream")
_QUEUE_LIMIT = 1 << 20  # bytes queued in a pipe before the source is paused


@dataclass
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, float]

    def attr(self, key: str) -> float:
        return float(self.attributes.get(key, 0))


@dataclass
class _Pipe:
    """One direction of a link: what is queued, whether a pump task drains it."""

    queue: deque[tuple[float, bytes]] = field(default_factory=deque)
    queued: int = 0
    pumping: bool = False
    sent: dict[str, int] = field(default_factory=dict)  # limit_data: bytes per toxic


class _Side(asyncio.Protocol):
    """One socket of a link; ``stream`` names the direction of the bytes it receives."""

    def __init__(self, link: _Link, stream: str) -> None:
        self.link = link
        self.stream = stream
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP transport (uvloop's too)
        self.link.side_made(self)

    def data_received(self, data: bytes) -> None:
        self.link.feed(self.stream, data)

    def eof_received(self) -> bool:
        self.link.feed(self.stream, b"")
        return True  # the link decides when to close

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.side_lost(self)

    def pause_writing(self) -> None:
        self.link.throttle(self, pause=True)

    def resume_writing(self) -> None:
        self.link.throttle(self, pause=False)


class _Link:
    """One proxied connection: client <-> proxy <-> dependency."""

    def __init__(self, listener: _Listener) -> None:
        self.listener = listener
        self.client = _Side(self, "upstream")
        self.server = _Side(self, "downstream")
        self.pipes = {s: _Pipe() for s in STREAMS}
        self.active: dict[str, Toxic] = {}  # the toxics that drew this link (toxicity)
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.closed = False

    # -- sockets ------------------------------------------------------------------------------

    def side_made(self, side: _Side) -> None:
        if side is self.client:
            assert side.transport is not None
            side.transport.pause_reading()  # until the dependency side is connected
            self.listener.links.add(self)
            for toxic in self.listener.toxics.values():
                self.toxic_added(toxic)
            asyncio.get_running_loop().create_task(self._connect())
        elif self.client.transport is not None:
            self.client.transport.resume_reading()
            self.kick("upstream")  # what the client sent while the dependency was connecting

    async def _connect(self) -> None:
        host, port = self.listener.upstream
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self.server, host, port)
        except OSError:
            self.close()  # the dependency refuses: the client sees its connection closed

    def side_lost(self, side: _Side) -> None:
        self.feed(side.stream, b"")  # after what it sent is forwarded, the link closes

    def throttle(self, writer: _Side, *, pause: bool) -> None:
        reader = self.server if writer is self.client else self.client
        if reader.transport is not None and not reader.transport.is_closing():
            (reader.transport.pause_reading if pause else reader.transport.resume_reading)()

    def out(self, stream: str) -> _Side:
        return self.server if stream == "upstream" else self.client

    def source(self, stream: str) -> _Side:
        return self.client if stream == "upstream" else self.server

    # -- data ---------------------------------------------------------------------------------

    def feed(self, stream: str, data: bytes) -> None:
        """Bytes (or b"" for the end) that arrived for ``stream``."""
        if self.closed:
            return
        pipe = self.pipes[stream]
        if data and not pipe.pumping and not pipe.queue and self.ready(stream):
            self._write(stream, data)
            return
        pipe.queue.append((time.monotonic(), data))
        pipe.queued += len(data)
        if pipe.queued > _QUEUE_LIMIT:
            self.throttle(self.out(stream), pause=True)
        self.kick(stream)

    def ready(self, stream: str) -> bool:
        """Whether bytes of ``stream`` can go straight out: connected and no toxic on it."""
        return self.out(stream).transport is not None and not self.toxics(stream)

    def kick(self, stream: str) -> None:
        """Start draining ``stream``'s queue, once its way out is connected."""
        pipe = self.pipes[stream]
        if pipe.queue and not pipe.pumping and self.out(stream).transport is not None:
            pipe.pumping = True
            asyncio.get_running_loop().create_task(self._pump(stream))

    def toxics(self, stream: str) -> list[Toxic]:
        return [t for t in self.active.values() if t.stream == stream]

    async def _pump(self, stream: str) -> None:
        pipe = self.pipes[stream]
        while pipe.queue and not self.closed:
            arrived, data = pipe.queue.popleft()
            pipe.queued -= len(data)
            if not data:
                await self._end(stream)
                break
            chunk = await self._through(stream, arrived, data)
            if chunk:
                self._write(stream, chunk)
            if pipe.queued <= _QUEUE_LIMIT // 2:
                self.throttle(self.out(stream), pause=False)
        pipe.pumping = False

    async def _through(self, stream: str, arrived: float, data: bytes) -> bytes | None:
        """``data`` after this direction's toxics, in the order they were added."""
        for toxic in self.toxics(stream):
            if toxic.type == "timeout":
                return None  # dropped, as Toxiproxy drops it, until the toxic is removed
            if toxic.type == "latency":
                await _sleep_until(arrived + self.listener.delay(toxic))
            elif toxic.type == "bandwidth":
                await asyncio.sleep(len(data) / max(toxic.attr("rate") * 1000, 1.0))
            elif toxic.type == "limit_data":
                data = self._limit(stream, toxic, data)
        return data

    def _limit(self, stream: str, toxic: Toxic, data: bytes) -> bytes:
        sent = self.pipes[stream].sent
        room = int(toxic.attr("bytes")) - sent.get(toxic.name, 0)
        if len(data) < room:
            sent[toxic.name] = sent.get(toxic.name, 0) + len(data)
            return data
        self._write(stream, data[: max(room, 0)])
        self.close()
        return b""

    def _write(self, stream: str, data: bytes) -> None:
        transport = self.out(stream).transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def _end(self, stream: str) -> None:
        """One side closed: after any slow_close delay, close the whole link (as Toxiproxy)."""
        delays = [t.attr("delay") for t in self.toxics(stream) if t.type == "slow_close"]
        if delays:
            await asyncio.sleep(max(delays) / 1000)
        self.close()

    # -- toxics -------------------------------------------------------------------------------

    def toxic_added(self, toxic: Toxic) -> None:
        if self.listener.rng.random() >= toxic.toxicity:
            return
        self.active[toxic.name] = toxic
        loop = asyncio.get_running_loop()
        delay = toxic.attr("timeout") / 1000
        if toxic.type == "timeout" and delay > 0:
            self.timers[toxic.name] = loop.call_later(delay, self.close)
        elif toxic.type == "reset_peer":
            self.timers[toxic.name] = loop.call_later(delay, self.reset)

    def toxic_removed(self, name: str) -> None:
        self.active.pop(name, None)
        timer = self.timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        for stream in STREAMS:  # data held back by the toxic flows again
            self.kick(stream)

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.listener.links.discard(self)
        for timer in self.timers.values():
            timer.cancel()
        for side in (self.client, self.server):
            if side.transport is not None:
                side.transport.close()

    def reset(self) -> None:
        """Close both sockets with an RST (SO_LINGER 0): the peer reads ECONNRESET."""
        for side in (self.client, self.server):
            sock = side.transport.get_extra_info("socket") if side.transport else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.closed = True
        self.listener.links.discard(self)
        for side in (self.client, self.server):
            if side.transport is not None:
                side.transport.abort()


async def _sleep_until(when: float) -> None:
    wait = when - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)


class _Listener:
    """One proxy: a listening port forwarding to one dependency, with its toxics."""

    def __init__(self, name: str, upstream: tuple[str, int], rng: random.Random) -> None:
        self.name = name
        self.upstream = upstream
        self.rng = rng
        self.toxics: dict[str, Toxic] = {}
        self.links: set[_Link] = set()
        self.server: asyncio.Server | None = None
        self.host = "127.0.0.1"
        self.port = 0

    async def listen(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Link(self).client, self.host, self.port, reuse_address=True, backlog=512
        )
        self.port = self.server.sockets[0].getsockname()[1]

    def delay(self, toxic: Toxic) -> float:
        jitter = toxic.attr("jitter")
        return (toxic.attr("latency") + self.rng.uniform(-jitter, jitter)) / 1000

    def add(self, toxic: Toxic) -> None:
        if toxic.name in self.toxics:
            raise ValueError(f"proxy {self.name!r} already has a toxic named {toxic.name!r}")
        self.toxics[toxic.name] = toxic
        for link in list(self.links):
            link.toxic_added(toxic)

    def remove(self, name: str, missing_ok: bool = False) -> None:
        if self.toxics.pop(name, None) is None and not missing_ok:
            raise ValueError(f"proxy {self.name!r} has no toxic named {name!r}")
        for link in list(self.links):
            link.toxic_removed(name)

    async def enable(self, enabled: bool) -> None:
        """Disabled: refuse new connections (the port is closed) and cut every open one."""
        if not enabled and self.server is not None:
            self.server.close()
            self.server = None
            for link in list(self.links):
                link.close()
        elif enabled and self.server is None:
            await self.listen()


class _Control:
    """The commands labctl.faults.proxy sends, applied on the event loop."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.listeners: dict[str, _Listener] = {}

    async def handle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd.get("op")
        if op == "listen":
            listener = _Listener(cmd["name"], (cmd["host"], int(cmd["port"])), self.rng)
            listener.host = cmd.get("bind", listener.host)
            await listener.listen()
            self.listeners[listener.name] = listener
            return {"port": listener.port}
        listener = self.listeners[cmd["name"]]
        if op == "add":
            listener.add(Toxic(**cmd["toxic"]))
        elif op == "remove":
            listener.remove(cmd["toxic"], bool(cmd.get("missing_ok")))
        elif op == "enable":
            await listener.enable(bool(cmd["enabled"]))
        elif op == "state":
            return {"toxics": sorted(listener.toxics), "links": len(listener.links)}
        else:
            raise ValueError(f"unknown command {op!r}")
        return {}


def _serve_commands(loop: asyncio.AbstractEventLoop, control: _Control) -> None:
    """Read commands from stdin until it closes, answering each on stdout; then stop the loop."""
    for line in sys.stdin:
        try:
            cmd = json.loads(line)
            reply = asyncio.run_coroutine_threadsafe(control.handle(cmd), loop).result()
            answer: dict[str, Any] = {"ok": True, **reply}
        except Exception as exc:  # reported to the caller, who raises it
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    loop.call_soon_threadsafe(loop.stop)


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: it halves the time a chunk spends in the proxy."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: list[str]) -> None:
    loop = _new_loop()
    control = _Control(int(argv[0]) if argv else 0)
    threading.Thread(target=_serve_commands, args=(loop, control), daemon=True).start()
    sys.stdout.write(json.dumps({"ok": True, "ready": True}) + "\n")
    sys.stdout.flush()
    loop.run_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
