"""Stage `replay`: a retry with the same key and body answers exactly as the first time, marked
as replayed, and charges nothing."""

from __future__ import annotations

import random

from labctl.grading import Http, expect, points, stage

from ._support import expect_charges, expect_replay, new_key, new_order, pay, post
from .bank import DECLINED, Bank

pytestmark = stage("replay")


@points(5)
def test_replays_a_payment(http: Http, bank: Bank, rng: random.Random) -> None:
    """A retry of a payment answers the same status and byte-identical body, without a charge"""
    key, order = new_key(rng), new_order(rng)
    first = pay(http, key, order)
    for _ in range(2):
        expect_replay(post(http, key, order), first)
    expect_charges(bank, order, 1, response=first, why="a replay must not charge again")


@points(3)
def test_replays_a_decline(http: Http, bank: Bank, rng: random.Random) -> None:
    """A retry of a declined payment answers the same 402, without a charge"""
    key, order = new_key(rng), new_order(rng, source=DECLINED)
    first = post(http, key, order)
    expect.status(first, 402)
    before = len(bank.ledger())
    expect_replay(post(http, key, order), first)
    expect.equal(len(bank.ledger()), before, what="charges executed", response=first)
