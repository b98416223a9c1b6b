"""Stage `db-outage`: Postgres goes down. POST /links answers 503 within 2 s (no hang, no stack
trace); when Postgres is back, the service recovers by itself, without a restart, within 5 s."""

from __future__ import annotations

import contextlib
import random
import re
import time

import httpx

from labctl.grading import Failure, Faults, Http, Identity, Service, expect, points, stage

from ._support import follow, new_url, shorten

pytestmark = stage("db-outage")

ANSWER_WITHIN_S = 2.0
RECOVER_WITHIN_S = 5.0
TRIES = 3
# What a stack trace looks like in Python, Node/Java, Go and Ruby.
STACK_TRACE = re.compile(r"Traceback \(most recent|\n\s+at \S|^goroutine \d|\.rb:\d+:in ", re.M)
HINT_503 = (
    "catch the database's connection errors and answer 503 with a JSON error; give connecting "
    "and each query a timeout so a dead database cannot make a request hang"
)


def _post(service: Service, rng: random.Random) -> httpx.Response:
    """POST /links with a new URL, given ANSWER_WITHIN_S to answer."""
    with Http(service.url, timeout_s=ANSWER_WITHIN_S, service=service) as quick:
        return quick.post("/links", json={"url": new_url(rng, "outage")})


def _expect_unavailable(response: httpx.Response) -> None:
    expect.status(response, 503, hint=HINT_503)
    expect.error_body(response)
    if STACK_TRACE.search(response.text):
        raise expect.fail(
            "the 503 answer shows a stack trace",
            expected='{"error": "..."} with a message for the client',
            got=response.text[:300],
            hint="log the stack trace; answer the client with a short message",
            response=response,
        )


@points(5)
def test_answers_503_while_postgres_is_down(
    service: Service, faults: Faults, rng: random.Random
) -> None:
    """Postgres down: POST /links answers 503 with a JSON error within 2 s, every time"""
    with faults.stop("postgres"):
        for _ in range(TRIES):
            _expect_unavailable(_post(service, rng))


@points(5)
def test_recovers_without_a_restart(
    http: Http, service: Service, faults: Faults, rng: random.Random
) -> None:
    """After Postgres comes back, POST /links works again within 5 s, with no restart"""
    before = _serving(service)  # the process serving PORT, as both backends see it
    with faults.stop("postgres"):
        for _ in range(TRIES):  # the service's connections break now, whatever it answers
            with contextlib.suppress(Failure):  # judged by the other check
                _post(service, rng)
    back = time.monotonic()
    last = _first_success(service, rng, back + RECOVER_WITHIN_S)
    if isinstance(last, httpx.Response) and last.status_code == 201:
        now = service.identity()
        if now != before:
            raise expect.fail(
                "your service was restarted during the outage",
                expected=f"the same server process throughout ({before})",
                got=f"another one ({now}): it exited and something started it again",
                hint="a lost database connection must not end the process: catch the error, "
                "answer 503, and reconnect",
            )
        url = new_url(rng, "back")
        follow(http, shorten(http, url), url)
        return
    got = last if isinstance(last, str) else f"{last.status_code} {last.text[:200]}"
    raise expect.fail(
        f"POST /links still fails {RECOVER_WITHIN_S:g} s after Postgres came back",
        expected=f"201 within {RECOVER_WITHIN_S:g} s of Postgres being back",
        got=f"last answer: {got}",
        hint="a connection that broke stays broken: drop it and open a new one (a connection "
        "pool does this when it checks connections or discards those that failed)",
    )


def _serving(service: Service) -> Identity | None:
    """The process listening on PORT, once one is (a service restarting after the previous
    check's outage may be between two processes for a moment)."""
    deadline = time.monotonic() + RECOVER_WITHIN_S
    while (found := service.identity()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _first_success(service: Service, rng: random.Random, deadline: float) -> httpx.Response | str:
    """POST /links every 100 ms until it answers 201 or the deadline passes; the last outcome."""
    while True:
        try:
            last: httpx.Response | str = _post(service, rng)
        except Failure as exc:
            last = exc.summary
        if isinstance(last, httpx.Response) and last.status_code == 201:
            return last
        if time.monotonic() >= deadline:
            return last
        time.sleep(0.1)
