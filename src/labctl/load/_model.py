"""The load engine's plain data: what to send (``Scenario``) and what came of it (``LoadReport``).

Both are frozen and travel between processes as JSON (``to_dict``/``from_dict``): the grader
builds a ``Scenario``, the locust processes never see grader code, and the grader gets a
``LoadReport`` back without importing locust.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

VERDICT_OK = "ok"
VERDICT_INCONCLUSIVE = "inconclusive"
ERROR_KINDS = ("status", "timeout", "connection")


@dataclass(frozen=True)
class Scenario:
    """Requests sent in turn, slot ``k`` of the schedule sending ``paths[k % len(paths)]``.

    ``ok_status`` lists the statuses that count as answered correctly; any other is a
    ``status`` error. Redirects are never followed: a 302 is an answer like any other.
    """

    paths: tuple[str, ...]
    method: str = "GET"
    ok_status: tuple[int, ...] = (200,)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.paths:
            raise ValueError("a scenario needs at least one path")
        if any(not p.startswith("/") for p in self.paths):
            raise ValueError("scenario paths start with '/' (they are relative to the service)")

    @classmethod
    def get(
        cls, *paths: str, ok_status: Sequence[int] = (200,), timeout_s: float = 5.0
    ) -> Scenario:
        return cls(paths=tuple(paths), ok_status=tuple(ok_status), timeout_s=timeout_s)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["headers"] = dict(self.headers)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        return cls(
            paths=tuple(data["paths"]),
            method=data.get("method", "GET"),
            ok_status=tuple(data.get("ok_status", (200,))),
            headers=dict(data.get("headers", {})),
            body=data.get("body"),
            timeout_s=float(data.get("timeout_s", 5.0)),
        )


@dataclass(frozen=True)
class Percentiles:
    """Latency in milliseconds (from HdrHistogram: µs resolution, 3 significant figures)."""

    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    max: float = 0.0

    def rows(self) -> list[tuple[str, float]]:
        names = ("p50", "p90", "p99", "p99.9", "max")
        return list(zip(names, (self.p50, self.p90, self.p99, self.p999, self.max), strict=True))


@dataclass(frozen=True)
class Second:
    """One second of the measured window, by intended send time."""

    t: int
    sent: int
    errors: int
    late: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_pressure: float = -1.0  # share of this second some task waited for a CPU (-1: unknown)


@dataclass(frozen=True)
class Generator:
    """What the load generator itself spent: its processes and their CPU over the window."""

    processes: int
    cpu_s: float
    busiest: float  # the highest CPU share of one core among the worker processes
    cpu_ms_per_request: float
    # Share of the window during which some task on the generator's machine waited for a CPU
    # (Linux PSI, /proc/pressure/cpu); -1 where the kernel does not report it.
    cpu_pressure: float = -1.0


@dataclass(frozen=True)
class LoadReport:
    url: str
    offered_rps: float
    achieved_rps: float
    duration_s: float
    warmup_s: float
    sent: int
    late_sends: int
    errors: Mapping[str, int]
    status_codes: Mapping[str, int]
    latency_ms: Percentiles
    service_latency_ms: Percentiles  # from the actual send time: what locust alone would see
    send_lag_ms: Percentiles  # how long after its slot each request left
    seconds: tuple[Second, ...]
    distribution: tuple[tuple[float, int], ...]  # (bucket upper bound in ms, requests)
    generator: Generator
    verdict: str
    reasons: tuple[str, ...] = ()
    started_at: float = 0.0  # wall-clock time (epoch s) of the first measured slot
    # Latency over the seconds clear of CPU saturation (a second's neighbours are not), when
    # some were saturated; None when none was or no second was clear. A budget missed only
    # because of those seconds is no verdict.
    calm_latency_ms: Percentiles | None = None
    saturated_seconds: int = 0
    # A closed model (``closed_report``): that many clients, each sending its next
    # request when its last was answered; ``offered_rps`` is then the rate they sent at and
    # ``send_lag_ms`` how long after an answer the next request left. 0: the open model.
    clients: int = 0

    @property
    def inconclusive(self) -> bool:
        return self.verdict == VERDICT_INCONCLUSIVE

    @property
    def underloaded(self) -> bool:
        """Fewer requests left than the schedule holds: the load was not offered in full."""
        return self.sent < 0.99 * round(self.offered_rps * self.duration_s)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        return self.error_count / self.sent if self.sent else 0.0

    def worst_seconds(self, n: int = 3) -> tuple[Second, ...]:
        ranked = sorted(self.seconds, key=lambda s: (s.p99_ms, s.errors), reverse=True)
        return tuple(ranked[:n])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = dict(self.errors)
        data["status_codes"] = dict(self.status_codes)
        data["error_rate"] = self.error_rate
        data["distribution"] = [list(b) for b in self.distribution]
        data["reasons"] = list(self.reasons)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadReport:
        return cls(
            url=data["url"],
            offered_rps=data["offered_rps"],
            achieved_rps=data["achieved_rps"],
            duration_s=data["duration_s"],
            warmup_s=data["warmup_s"],
            sent=data["sent"],
            late_sends=data["late_sends"],
            errors=dict(data["errors"]),
            status_codes=dict(data["status_codes"]),
            latency_ms=Percentiles(**data["latency_ms"]),
            service_latency_ms=Percentiles(**data["service_latency_ms"]),
            send_lag_ms=Percentiles(**data["send_lag_ms"]),
            seconds=tuple(Second(**s) for s in data["seconds"]),
            distribution=tuple((float(ms), int(n)) for ms, n in data["distribution"]),
            generator=Generator(**data["generator"]),
            verdict=data["verdict"],
            reasons=tuple(data.get("reasons", ())),
            started_at=data.get("started_at", 0.0),
            calm_latency_ms=Percentiles(**calm) if (calm := data.get("calm_latency_ms")) else None,
            saturated_seconds=data.get("saturated_seconds", 0),
            clients=data.get("clients", 0),
        )
