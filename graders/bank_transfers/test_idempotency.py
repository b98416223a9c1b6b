"""Stage `idempotency`: a request whose Idempotency-Key was used before on the same endpoint
answers the first answer again (201 or 422) and moves no money a second time, also when the
retries arrive at the same moment."""

from __future__ import annotations

import functools
import random

import httpx

from labctl.grading import Http, Service, expect, points, stage

from ._support import (
    expect_balances,
    expect_insufficient,
    expect_transfer,
    new_owner,
    open_account,
    token,
    transfer,
    withdraw,
)
from ._traffic import at_once

pytestmark = stage("idempotency")

SIMULTANEOUS = 10
ROUNDS = 3
REPLAY_HINT = (
    "store each key with the answer it got, in the transaction that moves the money, and "
    "answer a key seen before with that stored answer"
)


def new_key(rng: random.Random) -> str:
    return f"key-{token(rng, 16)}"


def _send(http: Http, *, payer: str, payee: str, key: str) -> httpx.Response:
    return transfer(http, payer, payee, 100, key)


def _expect_same(resp: httpx.Response, first: httpx.Response) -> None:
    expect.status(resp, first.status_code, hint=REPLAY_HINT)
    if expect.json_body(resp) != expect.json_body(first):
        raise expect.fail(
            "a retry with the same Idempotency-Key answered a different result",
            expected=first.text,
            got=resp.text,
            hint=REPLAY_HINT,
            response=resp,
        )


@points(4)
def test_a_retried_transfer_moves_money_once(http: Http, rng: random.Random) -> None:
    """A transfer sent three times with one key answers the first 201 each time, moves once"""
    payer = open_account(http, new_owner(rng, "payer"), 1_000)
    payee = open_account(http, new_owner(rng, "payee"), 0)
    key = new_key(rng)
    first = transfer(http, payer, payee, 100, key)
    expect_transfer(first, payer, payee, 100)
    for _ in range(2):
        _expect_same(transfer(http, payer, payee, 100, key), first)
    expect_balances(http, {payer: 900, payee: 100}, why="retries with one key move money once")


@points(3)
def test_a_retried_withdrawal_moves_money_once(http: Http, rng: random.Random) -> None:
    """A withdrawal sent twice with one key answers the first 201 again, takes money once"""
    account = open_account(http, new_owner(rng, "cash"), 1_000)
    key = new_key(rng)
    first = withdraw(http, account, 300, key)
    expect.status(first, 201)
    _expect_same(withdraw(http, account, 300, key), first)
    expect_balances(http, {account: 700}, why="retries with one key take money once")


@points(3)
def test_a_retried_refusal_stays_refused(http: Http, rng: random.Random) -> None:
    """A retry of a 422 answers 422 again, even once the owner could cover it"""
    payer = open_account(http, new_owner(rng, "short"), 100)
    payee = open_account(http, new_owner(rng, "payee"), 0)
    donor = open_account(http, new_owner(rng, "donor"), 1_000)
    key = new_key(rng)
    first = transfer(http, payer, payee, 500, key)
    expect_insufficient(first)
    expect_transfer(transfer(http, donor, payer, 1_000), donor, payer, 1_000)
    _expect_same(transfer(http, payer, payee, 500, key), first)
    expect_balances(
        http,
        {payer: 1_100, payee: 0},
        why="a key whose first answer was 422 keeps that answer: its retry moves nothing",
    )


@points(5)
def test_simultaneous_retries_move_money_once(
    http: Http, service: Service, rng: random.Random
) -> None:
    """10 simultaneous requests with one key: one transfer, every answer the same 201"""
    payer = open_account(http, new_owner(rng, "payer"), 10_000)
    payee = open_account(http, new_owner(rng, "payee"), 0)
    https = [Http(service.url, service=service) for _ in range(SIMULTANEOUS)]
    try:
        for n in range(1, ROUNDS + 1):
            key = new_key(rng)
            send = functools.partial(_send, payer=payer, payee=payee, key=key)
            answers = at_once(https, [send] * SIMULTANEOUS)
            first = answers[0]
            expect_transfer(first, payer, payee, 100)
            for resp in answers[1:]:
                _expect_same(resp, first)
            expect_balances(
                http,
                {payer: 10_000 - 100 * n, payee: 100 * n},
                why="duplicates in flight at once must move money once: claim the key "
                "(insert it under a unique constraint) in the transaction that moves the money",
            )
    finally:
        for h in https:
            h.close()
