"""Stage `persistence`: links and click counts survive a restart of the service."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from labctl import ServiceError
from labctl.grading import Http, Service, expect, points, stage

from ._support import clicks, clicks_settle, follow, new_url, shorten, token

pytestmark = stage("persistence")

LINKS = 20


@dataclass(frozen=True)
class Link:
    code: str
    url: str
    clicks: int


@pytest.fixture(scope="module")
def restarted(service: Service, seed: int) -> list[Link]:
    """Links with clicks, made before the service is stopped with SIGTERM and started again."""
    rng = random.Random(f"{seed}/persistence")
    with Http(service.url, service=service) as http:
        links = [_make_link(http, rng, i) for i in range(LINKS)]
    _restart(service)
    return links


def _make_link(http: Http, rng: random.Random, i: int) -> Link:
    url = new_url(rng, "keep")
    code = shorten(http, url, alias=f"keep-{token(rng)}" if i % 4 == 0 else None)
    count = rng.randrange(0, 4)
    for _ in range(count):
        follow(http, code, url)
    expect.equal(clicks_settle(http, code, url, count, 2.0), count, what="clicks before restart")
    return Link(code, url, count)


def _restart(service: Service) -> None:
    service.terminate()
    try:
        service.start()
    except ServiceError as exc:
        raise expect.fail(
            f"after SIGTERM, your service did not start again: {exc.message}", hint=exc.hint
        ) from None
    service.wait_ready(10.0)


@points(5)
def test_clicks_survive_a_restart(http: Http, restarted: list[Link]) -> None:
    """After a restart every link keeps its click count"""
    for link in restarted:
        expect.equal(
            clicks(http, link.code, link.url),
            link.clicks,
            what=f"clicks of /{link.code} after a restart",
            hint="keep the counts in the database, not in the process's memory",
        )


@points(5)
def test_links_survive_a_restart(http: Http, restarted: list[Link]) -> None:
    """After a restart every link still redirects to its URL"""
    # Runs after the click check: these redirects add clicks.
    for link in restarted:
        follow(http, link.code, link.url)
