"""Stage `create`: a payment charges the bank once; a declined card is a failed payment; a
payment can be read back by its id."""

from __future__ import annotations

import random

from labctl.grading import Http, expect, points, stage

from ._support import expect_charges, expect_payment, new_key, new_order, pay, post
from .bank import DECLINED, Bank

pytestmark = stage("create")


@points(5)
def test_creates_a_payment(http: Http, bank: Bank, rng: random.Random) -> None:
    """POST /payments answers 201 with the payment and charges the bank once"""
    order = new_order(rng)
    resp = pay(http, new_key(rng), order)
    expect_charges(bank, order, 1, response=resp, why="a new payment charges the bank once")


@points(3)
def test_declines_a_card(http: Http, bank: Bank, rng: random.Random) -> None:
    """A card the bank declines answers 402 with a failed payment"""
    order = new_order(rng, source=DECLINED)
    before = len(bank.ledger())
    resp = post(http, new_key(rng), order)
    expect.status(resp, 402, hint="when the bank answers 402 card_declined, answer 402")
    expect_payment(resp, order, "failed")
    expect.equal(len(bank.ledger()), before, what="charges executed", response=resp)


@points(3)
def test_reads_a_payment_back(http: Http, rng: random.Random) -> None:
    """GET /payments/{id} answers the payment; an unknown id answers 404"""
    order = new_order(rng)
    created = pay(http, new_key(rng), order).json()
    resp = http.get(f"/payments/{created['id']}")
    expect.status(resp, 200)
    expect.equal(expect_payment(resp, order, "succeeded"), created, what="the payment read back")
    unknown = http.get(f"/payments/pay_{rng.randrange(10**12)}unknown")
    expect.status(unknown, 404, hint="an id no payment has answers 404")
    expect.error_body(unknown)
