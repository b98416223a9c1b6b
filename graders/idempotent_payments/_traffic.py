"""Steady, paced traffic for the consistency stage: a bounded number of requests at a fixed rate
from a few concurrent clients, each request retried with the same key while it gets 409/5xx.

``Traffic`` is the interface the stage uses; ``PacedTraffic`` implements it on the graders' own
``Http.concurrently`` (threads, one keep-alive connection each). It sends on schedule while the
service keeps up and falls behind (never bursts beyond ``clients``) when it does not: fine for
an invariant check over the history, not for latency budgets. A load engine can replace it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from labctl.grading import Http

from ._support import attempt

RETRY_STATUSES = (409, 502, 503, 504)
ATTEMPTS = 5
BACKOFF_S = 0.05


@dataclass(frozen=True)
class Planned:
    """One payment request to send ``at_s`` seconds after the start."""

    at_s: float
    key: str
    order: dict[str, Any]


@dataclass(frozen=True)
class Sent:
    """One answer (or None: no answer) to one attempt of a planned request."""

    key: str
    attempt: int
    status: int | None
    body: bytes
    replayed: bool


class Traffic(Protocol):
    def run(self, plan: Sequence[Planned]) -> list[Sent]: ...


class PacedTraffic:
    def __init__(self, http: Http, *, clients: int, deadline_s: float) -> None:
        self._http = http
        self._clients = clients
        self._deadline_s = deadline_s

    def run(self, plan: Sequence[Planned]) -> list[Sent]:
        start = time.monotonic()
        deadline = start + self._deadline_s

        def task(planned: Planned) -> Any:
            def send(http: Http) -> list[Sent]:
                time.sleep(max(0.0, start + planned.at_s - time.monotonic()))
                return _send_with_retries(http, planned, deadline)

            return send

        answers = self._http.concurrently([task(p) for p in plan], clients=self._clients)
        return [sent for per_request in answers for sent in per_request]


def _send_with_retries(http: Http, planned: Planned, deadline: float) -> list[Sent]:
    sent: list[Sent] = []
    for n in range(ATTEMPTS):
        if time.monotonic() > deadline:
            break
        resp = attempt(http, planned.key, planned.order)
        if resp is None:
            sent.append(Sent(planned.key, n, None, b"", False))
        else:
            replayed = resp.headers.get("Idempotent-Replayed") == "true"
            sent.append(Sent(planned.key, n, resp.status_code, resp.content, replayed))
            if resp.status_code not in RETRY_STATUSES:
                break
        time.sleep(BACKOFF_S * (n + 1))
    return sent
