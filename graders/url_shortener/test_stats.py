"""Stage `stats`: every redirect is counted, also when many clients redirect at once."""

from __future__ import annotations

import random

from labctl.grading import Http, expect, points, stage

from ._support import clicks, clicks_settle, follow, new_url, shorten, token

pytestmark = stage("stats")

CONCURRENT_CLIENTS = 50
CONCURRENT_CLICKS = 500
SETTLE_S = 2.0


@points(2)
def test_new_link_has_no_clicks(http: Http, rng: random.Random) -> None:
    """GET /links/{code}/stats answers the code, the URL and 0 clicks"""
    url = new_url(rng, "stats")
    expect.equal(clicks(http, shorten(http, url), url), 0, what="clicks of a new link")


@points(3)
def test_each_redirect_counts(http: Http, rng: random.Random) -> None:
    """Three redirects make three clicks (reading the stats is not a click)"""
    url = new_url(rng, "stats")
    code = shorten(http, url)
    for _ in range(3):
        follow(http, code, url)
    clicks(http, code, url)
    expect.equal(clicks_settle(http, code, url, 3, SETTLE_S), 3, what="clicks after 3 redirects")


@points(1)
def test_alias_has_stats(http: Http, rng: random.Random) -> None:
    """An aliased link has stats too"""
    url, alias = new_url(rng, "stats"), f"stats-{token(rng)}"
    shorten(http, url, alias=alias)
    follow(http, alias, url)
    expect.equal(clicks_settle(http, alias, url, 1, SETTLE_S), 1, what="clicks of an alias")


@points(2)
def test_unknown_code_is_404(http: Http, rng: random.Random) -> None:
    """GET /links/{code}/stats for an unknown code answers 404"""
    resp = http.get(f"/links/{token(rng, 14)}/stats")
    expect.status(resp, 404)
    expect.error_body(resp)


@points(6)
def test_concurrent_redirects_all_count(http: Http, rng: random.Random) -> None:
    """500 redirects from 50 concurrent clients make exactly 500 clicks within 2 s"""
    url = new_url(rng, "hot")
    code = shorten(http, url)
    http.concurrently(
        [lambda h: follow(h, code, url)] * CONCURRENT_CLICKS, clients=CONCURRENT_CLIENTS
    )
    count = clicks_settle(http, code, url, CONCURRENT_CLICKS, SETTLE_S)
    if count != CONCURRENT_CLICKS:
        raise expect.fail(
            f"after {CONCURRENT_CLICKS} concurrent redirects the link has {count} clicks",
            expected=f"{CONCURRENT_CLICKS} clicks within {SETTLE_S:g} s",
            got=f"{count} clicks",
            hint="lost updates: increment in one statement (UPDATE ... SET clicks = clicks + 1) "
            "instead of reading the count and writing it back"
            if count < CONCURRENT_CLICKS
            else "some redirects were counted twice",
        )
