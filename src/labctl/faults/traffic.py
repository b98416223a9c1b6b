"""Steady traffic on the learner's service while a fault runs, and what that traffic saw.

``PacedTraffic`` is the simple source: ``clients`` threads, each with its own client,
share a fixed schedule of ``rate`` requests per second (request i is due at ``i / rate``), for at
most ``max_s`` seconds. A request that waited for a client busy with an earlier one has its
latency counted from when it was due, not from when it was sent, so a service that stalls is not
hidden by a client that waited for it; a client that was idle but late (the grading process was
short of CPU) does not count its own delay against the service. A request is one call of the
grader's ``send(client, i)``; it succeeds unless it raises (a ``Failure`` from ``expect``
included). The client is whatever ``connect()`` makes: the graders' ``Http`` for the faults
fixture. ``per_second()`` and ``window()`` turn samples into the plain data the fault timeline
carries.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

from labctl._pressure import PressureClock

__all__ = ["PacedTraffic", "Sample", "Window", "per_second", "window"]

C = TypeVar("C")  # the client each traffic thread sends with
_ERRORS_KEPT = 5


@dataclass(frozen=True)
class Sample:
    """One request: when it was due and sent (s since the timeline's origin), its latency (from
    when it was due), its error ("" if none)."""

    due_s: float
    latency_s: float
    error: str = ""
    sent_s: float = 0.0


@dataclass(frozen=True)
class Window:
    """What the requests due within [start_s, end_s) saw."""

    start_s: float
    end_s: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    first_errors: tuple[str, ...] = ()
    # Share of the window's time some task on the machine waited for a CPU (-1: unknown).
    cpu_pressure: float = -1.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
        }


class PacedTraffic(Generic[C]):
    """``rate`` requests per second from ``clients`` threads, until stop() or ``max_s``; each
    thread sends with its own client from ``connect()``."""

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[C]],
        send: Callable[[C, int], object],
        *,
        rate: float,
        clients: int = 8,
        max_s: float = 60.0,
        timeout_s: float = 2.0,
        origin: float | None = None,
    ) -> None:
        self._connect = connect
        self.rate = rate
        self.clients = clients
        self.max_s = max_s
        self.timeout_s = timeout_s
        self.origin = time.monotonic() if origin is None else origin
        self._send = send
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._next = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._began = 0.0
        self._pressure = PressureClock()

    @property
    def samples(self) -> Sequence[Sample]:
        with self._lock:
            return list(self._samples)

    def start(self) -> None:
        self._began = time.monotonic()
        self._pressure.start()
        self._threads = [
            threading.Thread(target=self._client, name=f"traffic-{i}", daemon=True)
            for i in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop sending; returns once every request in flight has answered or timed out."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(self.timeout_s + 5.0)

    def window(self, start_s: float, end_s: float) -> Window:
        """What the requests due within [start_s, end_s) of the timeline saw, and how much of
        that span some task on the machine waited for a CPU."""
        pressure = self._pressure.span(self.origin + start_s, self.origin + end_s)
        return dataclasses.replace(window(self.samples, start_s, end_s), cpu_pressure=pressure)

    def wait(self, seconds: float) -> None:
        """Let the traffic run for ``seconds`` (returns early if stop() was called)."""
        self._stopping.wait(seconds)

    def __enter__(self) -> PacedTraffic[C]:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _claim(self) -> tuple[int, float] | None:
        """The next request's index and when it is due, or None when the schedule is over."""
        with self._lock:
            i, self._next = self._next, self._next + 1
        if self._stopping.is_set() or i >= self.max_s * self.rate - 1e-9:
            return None
        return i, self._began + i / self.rate

    def _client(self) -> None:
        free_since = time.monotonic()
        with self._connect() as client:
            while (claim := self._claim()) is not None:
                i, due = claim
                if self._stopping.wait(max(0.0, due - time.monotonic())):
                    return
                sent = time.monotonic()
                error = self._attempt(client, i)
                # Busy with an earlier request when this one was due: the service made it wait,
                # so its latency counts from when it was due. Idle, yet sent late: the grading
                # process was starved of CPU, which is not the service's doing.
                latency = time.monotonic() - (due if free_since > due else sent)
                free_since = time.monotonic()
                sample = Sample(due - self.origin, latency, error, sent - self.origin)
                with self._lock:
                    self._samples.append(sample)
                self._pressure.mark()

    def _attempt(self, client: C, i: int) -> str:
        """Send request i; the first line of its error, "" if it succeeded."""
        try:
            self._send(client, i)
        except Exception as exc:  # a Failure, or a bug in send: either is an error seen
            return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return ""


def window(samples: Sequence[Sample], start_s: float, end_s: float) -> Window:
    """The requests due within [start_s, end_s)."""
    chosen = [s for s in samples if start_s <= s.due_s < end_s]
    latencies = sorted(s.latency_s * 1000 for s in chosen)
    errors = [s.error for s in chosen if s.error]
    return Window(
        start_s,
        end_s,
        len(chosen),
        len(errors),
        _pct(latencies, 0.50),
        _pct(latencies, 0.99),
        latencies[-1] if latencies else 0.0,
        tuple(dict.fromkeys(errors))[:_ERRORS_KEPT],
    )


def per_second(samples: Sequence[Sample]) -> list[dict[str, object]]:
    """One entry per whole second of the timeline that had requests: for plots and reports."""
    if not samples:
        return []
    first, last = int(min(s.due_s for s in samples)), int(max(s.due_s for s in samples))
    rows: list[dict[str, object]] = []
    for second in range(first, last + 1):
        w = window(samples, second, second + 1)
        if w.requests:
            rows.append(
                {
                    "t_s": second,
                    "ok": w.requests - w.errors,
                    "errors": w.errors,
                    "p50_ms": round(w.p50_ms, 2),
                    "p99_ms": round(w.p99_ms, 2),
                    "max_ms": round(w.max_ms, 2),
                }
            )
    return rows


def _pct(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
