"""Stage `concurrent`: 20 simultaneous requests with one key and body charge the bank once; each
answers the payment (the same bytes) or 409 request_in_progress."""

from __future__ import annotations

import random
import threading
from typing import Any

import httpx

from labctl.grading import Http, Upstream, expect, points, stage

from ._support import expect_charges, expect_payment, new_key, new_order, post
from .bank import Bank

pytestmark = stage("concurrent")

CLIENTS = 20
# A slow bank keeps the first request in flight while the others arrive, even when opening their
# database connections takes a while on a busy machine (0.3 s was not always enough). The spec
# promises the bank answers within 1 s and asks services to wait 2-3 s.
BANK_LATENCY_S = 1.0


@points(8)
def test_one_charge_for_simultaneous_retries(
    http: Http, bank: Bank, bank_stub: Upstream, rng: random.Random
) -> None:
    """20 simultaneous identical requests: one bank charge, answers 201 (identical) or 409"""
    key, order = new_key(rng), new_order(rng)
    bank_stub.latency(BANK_LATENCY_S)
    start = threading.Barrier(CLIENTS)

    def send(client: Http) -> httpx.Response:
        start.wait(timeout=10)
        return post(client, key, order)

    answers = http.concurrently([send] * CLIENTS, clients=CLIENTS)
    for resp in answers:
        expect.status(
            resp, (201, 409), hint="a duplicate of a payment in flight answers 409 or waits"
        )
    created = [r for r in answers if r.status_code == 201]
    for resp in answers:
        if resp.status_code == 409:
            _expect_in_progress(resp)
    final = post(http, key, order)
    expect.status(final, 201, hint="once the first request finished, a retry replays its answer")
    expect_payment(final, order, "succeeded")
    expect_charges(
        bank,
        order,
        1,
        response=final,
        why="simultaneous duplicates must not each charge: claim the key atomically (a unique "
        "constraint, a row lock) before calling the bank",
    )
    for resp in created:
        _expect_same(resp, final)


def _expect_in_progress(resp: httpx.Response) -> None:
    body: Any = expect.json_object(resp, {"error": str})
    expect.equal(body["error"], "request_in_progress", what="the 409's error", response=resp)


def _expect_same(resp: httpx.Response, final: httpx.Response) -> None:
    if resp.content != final.content:
        raise expect.fail(
            "two answers to the same key differ",
            expected=final.content.decode("utf-8", "replace"),
            got=resp.content.decode("utf-8", "replace"),
            hint="every request with one key must end in the same payment",
            response=resp,
        )
