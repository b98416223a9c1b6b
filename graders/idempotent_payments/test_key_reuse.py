"""Stage `key-reuse`: a key sent again with a different body is refused with 422."""

from __future__ import annotations

import random

import pytest

from labctl.grading import Http, expect, points, stage

from ._support import expect_charges, new_key, new_order, pay, post
from .bank import Bank

pytestmark = stage("key-reuse")


@points(2)
@pytest.mark.parametrize("field", ["amount", "currency", "source"])
def test_refuses_a_different_body(http: Http, bank: Bank, rng: random.Random, field: str) -> None:
    """The same key with a different amount, currency or source answers 422"""
    key, order = new_key(rng), new_order(rng)
    pay(http, key, order)
    changed = {
        **order,
        "amount": order["amount"] + 1 if field == "amount" else order["amount"],
        "currency": "SEK" if field == "currency" else order["currency"],
        "source": f"{order['source']}x" if field == "source" else order["source"],
    }
    resp = post(http, key, changed)
    expect.status(resp, 422, hint="a key belongs to one request body: refuse any other")
    error = expect.json_object(resp, {"error": str})["error"]
    expect.equal(error, "idempotency_key_reused", what="the error", response=resp)
    expect_charges(bank, order, 1, response=resp, why="only the first request charges")
    if field == "source":
        expect_charges(bank, changed, 0, response=resp, why="a refused request charges nothing")
