"""Stage `cache-outage`: Redis stops answering for 5 s during steady redirect traffic; redirects
keep working (from Postgres), and once Redis is back everything is normal again.

Redis stops answering twice, in two ways: its process is frozen (SIGSTOP: connections hang), and
the fault proxy in front of it swallows every answer (Toxiproxy's ``timeout`` toxic). A service
that does not use Redis passes both: the cache is optional, the redirects are not.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from labctl.grading import Fault, Faults, Http, points, stage, toxics

from ._faults import expect_served, redirect_traffic
from ._support import follow, new_url, shorten

pytestmark = stage("cache-outage")

LINKS = 20
OUTAGE_S = 5.0
MAX_ERROR_RATE = 0.01
P99_MS = 250.0
HINT_DURING = (
    "give every Redis call a short timeout (say 100 ms) and fall back to Postgres when it fails "
    "or times out; after a failure, skip Redis for a moment instead of waiting on it each time"
)
HINT_AFTER = (
    "after a timeout, drop that Redis connection: a late answer on it would be read as the "
    "answer to the next command; reconnect once Redis answers again"
)


def _warm_links(http: Http, rng: random.Random) -> list[tuple[str, str]]:
    """Links, each followed once (so a cache, if any, holds them)."""
    links = []
    for _ in range(LINKS):
        url = new_url(rng, "cached")
        code = shorten(http, url)
        follow(http, code, url)
        links.append((code, url))
    return links


def _judge(
    faults: Faults, http: Http, rng: random.Random, what: str, start: Callable[[], Fault]
) -> None:
    links = _warm_links(http, rng)
    during, after = redirect_traffic(faults, links, OUTAGE_S, start)
    expect_served(
        during,
        when=f"while {what}",
        max_error_rate=MAX_ERROR_RATE,
        p99_ms=P99_MS,
        hint=HINT_DURING,
    )
    expect_served(
        after, when="after Redis came back", max_error_rate=0, p99_ms=P99_MS, hint=HINT_AFTER
    )


@points(5)
def test_redirects_while_redis_is_frozen(http: Http, faults: Faults, rng: random.Random) -> None:
    """Redis frozen (SIGSTOP) for 5 s: redirects keep working, then all is normal again"""
    _judge(faults, http, rng, "Redis was frozen", lambda: faults.pause("redis"))


@points(5)
def test_redirects_while_redis_times_out(http: Http, faults: Faults, rng: random.Random) -> None:
    """Redis answers nothing (proxy timeout) for 5 s: redirects keep working, then all is normal"""
    _judge(
        faults,
        http,
        rng,
        "Redis answered nothing",
        lambda: faults.toxic("redis", toxics.timeout()),
    )
