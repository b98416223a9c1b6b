"""Stage `persistence`: after a restart, retries replay the stored answers and payments can still
be read."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from labctl import ServiceError
from labctl.grading import Http, Service, Upstream, expect, points, stage

from ._support import bank_of, expect_charges, expect_replay, new_key, new_order, pay, post
from .bank import DECLINED

pytestmark = stage("persistence")

PAYMENTS = 6


@dataclass(frozen=True)
class Made:
    key: str
    order: dict[str, Any]
    first: httpx.Response


@pytest.fixture(scope="module")
def restarted(service: Service, seed: int) -> list[Made]:
    """Payments (one declined) made before the service is stopped with SIGTERM and restarted."""
    rng = random.Random(f"{seed}/persistence")
    made = []
    with Http(service.url, service=service) as http:
        for i in range(PAYMENTS):
            key, order = new_key(rng), new_order(rng, source=DECLINED if i == 0 else None)
            first = post(http, key, order) if i == 0 else pay(http, key, order)
            made.append(Made(key, order, first))
    service.terminate()
    try:
        service.start()
    except ServiceError as exc:
        raise expect.fail(
            "the service did not start again", got=exc.message, hint=exc.hint
        ) from None
    return made


@points(5)
def test_replays_after_restart(
    http: Http, upstreams: dict[str, Upstream], restarted: list[Made]
) -> None:
    """Retries after a restart replay the stored answers byte for byte, without charging"""
    bank = bank_of(upstreams)
    for made in restarted:
        expect_replay(post(http, made.key, made.order), made.first)
        if made.order["source"] != DECLINED:
            expect_charges(bank, made.order, 1, response=made.first, why="a replay charges nothing")


@points(3)
def test_payments_readable_after_restart(http: Http, restarted: list[Made]) -> None:
    """GET /payments/{id} answers every payment made before the restart"""
    for made in restarted:
        created = made.first.json()
        resp = http.get(f"/payments/{created['id']}")
        expect.status(resp, 200, hint="payments live in the database, not in the process")
        expect.equal(resp.json(), created, what="the payment read back", response=resp)
