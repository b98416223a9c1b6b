"""Stage `bank-failures`: a bank error or timeout is answered 502/503/504, never as success, and
a retry with the same key ends with exactly one executed charge."""

from __future__ import annotations

import random

import pytest

from labctl.grading import Http, Upstream, expect, points, stage

from ._support import GATEWAY_ERRORS, expect_charges, new_key, new_order, pay, post
from .bank import Bank

pytestmark = stage("bank-failures")

UNAVAILABLE_HINT = (
    "the bank did not confirm the charge: answer 502, 503 or 504 (never 201), and let the "
    "client retry with the same key"
)


@points(3)
@pytest.mark.parametrize("status", [500, 503])
def test_bank_error_is_not_success(
    http: Http, bank: Bank, bank_stub: Upstream, rng: random.Random, status: int
) -> None:
    """A bank 500/503 answers 502/503/504; the retry charges once"""
    key, order = new_key(rng), new_order(rng)
    bank_stub.fail_next(1, status=status)
    first = post(http, key, order)
    expect.status(first, GATEWAY_ERRORS, hint=UNAVAILABLE_HINT)
    expect_charges(bank, order, 0, response=first, why="the bank executed nothing")
    retry = pay(http, key, order)
    expect_charges(bank, order, 1, response=retry, why="the retry charges exactly once")


@points(4)
def test_bank_timeout_is_not_success(
    http: Http, bank: Bank, bank_stub: Upstream, rng: random.Random
) -> None:
    """A bank that never answers: 502/503/504 within 5 s; the retry charges once"""
    key, order = new_key(rng), new_order(rng)
    bank_stub.hang_next(1)
    first = post(http, key, order)
    expect.status(first, GATEWAY_ERRORS, hint=UNAVAILABLE_HINT)
    expect_charges(bank, order, 0, response=first, why="the bank executed nothing")
    bank_stub.reset()
    retry = pay(http, key, order)
    expect_charges(bank, order, 1, response=retry, why="the retry charges exactly once")


@points(4)
def test_lost_bank_answer(http: Http, bank: Bank, bank_stub: Upstream, rng: random.Random) -> None:
    """The bank charges but its answer is lost: 502/503/504, and the retry does not charge again"""
    key, order = new_key(rng), new_order(rng)
    bank_stub.hang_next(1, execute=True)
    first = post(http, key, order)
    expect.status(first, GATEWAY_ERRORS, hint=UNAVAILABLE_HINT)
    bank_stub.reset()
    retry = pay(http, key, order)
    expect_charges(
        bank,
        order,
        1,
        response=retry,
        why="the bank had already charged: a retry must send the bank the same Idempotency-Key "
        "as the first attempt, so the bank answers the first charge instead of a new one",
    )
