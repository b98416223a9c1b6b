"""Judging steady traffic around a fault: the windows the fault stages look at, and the verdict."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from labctl.grading import Fault, Faults, Http, Window, expect

from ._support import follow

RATE = 50  # redirects per second, from 8 clients
BEFORE_S = 1.0  # traffic before the fault, so the service is warm and the fault hits mid-stream
SETTLE_S = 1.0  # after the fault is undone, time allowed to notice before "normal" is judged
AFTER_S = 2.0
BUSY_PRESSURE = 0.5  # share of the time some task waited for a CPU: above it, latency is unfair


def redirect_traffic(
    faults: Faults, links: Sequence[tuple[str, str]], outage_s: float, start: Callable[[], Fault]
) -> tuple[Window, Window]:
    """Redirects to ``links`` at RATE/s; ``start()`` a fault after BEFORE_S, end it after
    ``outage_s``. Returns what the traffic saw during the fault and once it had settled."""

    def send(http: Http, i: int) -> None:
        code, url = links[i % len(links)]
        follow(http, code, url)

    with faults.traffic(send, rate=RATE, max_s=BEFORE_S + outage_s + AFTER_S + 5) as traffic:
        traffic.wait(BEFORE_S)
        fault = start()
        traffic.wait(outage_s)
        fault.end()
        assert fault.end_s is not None
        traffic.wait(AFTER_S)
    return traffic.window(fault.start_s, fault.end_s), traffic.window(
        fault.end_s + SETTLE_S, math.inf
    )


def expect_served(
    seen: Window, *, when: str, max_error_rate: float, p99_ms: float, hint: str
) -> None:
    """Fail unless ``seen`` had at most ``max_error_rate`` errors and a p99 under ``p99_ms``."""
    if seen.requests == 0:
        raise expect.fail(f"no redirect was sent {when}: the grader could not judge", hint=hint)
    got = (
        f"{seen.requests} redirects, {seen.errors} errors ({seen.error_rate:.1%}), "
        f"p99 {seen.p99_ms:.0f} ms, max {seen.max_ms:.0f} ms"
    )
    if seen.first_errors:
        got += "; first errors: " + " | ".join(seen.first_errors)
    if seen.error_rate <= max_error_rate and seen.p99_ms >= p99_ms and _machine_busy(seen):
        raise expect.inconclusive(
            f"no verdict on latency {when}: p99 was {seen.p99_ms:.0f} ms (budget {p99_ms:g} ms),"
            f" but some task waited for a CPU {seen.cpu_pressure:.0%} of the time; run again on"
            " a quieter machine",
            details=got,
        )
    if seen.error_rate > max_error_rate or seen.p99_ms >= p99_ms:
        raise expect.fail(
            f"redirects {when} were not served well",
            expected=f"at most {max_error_rate:.0%} errors and p99 under {p99_ms:g} ms",
            got=got,
            hint=hint,
        )


def _machine_busy(seen: Window) -> bool:
    """The machine was saturated while the traffic ran: a slow p99 says nothing fair about the
    service (the grader's own clients waited for a CPU too)."""
    return seen.cpu_pressure > BUSY_PRESSURE
