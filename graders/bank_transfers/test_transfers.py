"""Stage `transfers`: a transfer moves money between two accounts and a withdrawal takes it out;
an unknown account answers 404 and a move the owner cannot cover answers 422, and neither moves
anything."""

from __future__ import annotations

import random

from labctl.grading import Http, expect, points, stage

from ._support import (
    WITHDRAWAL_FIELDS,
    expect_balances,
    expect_insufficient,
    expect_transfer,
    new_owner,
    open_account,
    transfer,
    withdraw,
)

pytestmark = stage("transfers")


@points(4)
def test_moves_money(http: Http, rng: random.Random) -> None:
    """POST /transfers answers 201 with the transfer and moves the amount"""
    payer = open_account(http, new_owner(rng, "payer"), 1_000)
    payee = open_account(http, new_owner(rng, "payee"), 50)
    expect_transfer(transfer(http, payer, payee, 300), payer, payee, 300)
    expect_balances(http, {payer: 700, payee: 350}, why="a transfer moves its amount, once")


@points(3)
def test_withdraws_money(http: Http, rng: random.Random) -> None:
    """POST /withdrawals answers 201 with the withdrawal and takes the amount out"""
    account = open_account(http, new_owner(rng, "cash"), 1_000)
    resp = withdraw(http, account, 250)
    expect.status(resp, 201)
    body = expect.json_object(resp, WITHDRAWAL_FIELDS)
    expect.equal(
        (body["account"], body["amount_cents"]),
        (account, 250),
        what="the withdrawal",
        response=resp,
    )
    expect_balances(http, {account: 750}, why="a withdrawal takes its amount out, once")


@points(3)
def test_unknown_accounts_answer_404(http: Http, rng: random.Random) -> None:
    """A transfer or withdrawal naming an unknown account answers 404 and moves nothing"""
    known = open_account(http, new_owner(rng, "known"), 1_000)
    missing = f"acc-missing-{rng.randrange(10**9)}"
    for resp in (
        transfer(http, known, missing, 10),
        transfer(http, missing, known, 10),
        withdraw(http, missing, 10),
    ):
        expect.status(resp, 404, hint="check that both accounts exist before moving money")
        expect.error_body(resp)
    expect_balances(http, {known: 1_000}, why="a refused transfer moves nothing")


@points(4)
def test_refuses_what_the_owner_cannot_cover(http: Http, rng: random.Random) -> None:
    """A transfer or withdrawal beyond the owner's money answers 422 insufficient_funds"""
    owner = new_owner(rng, "short")
    first, second = open_account(http, owner, 100), open_account(http, owner, 50)
    payee = open_account(http, new_owner(rng, "payee"), 0)
    expect_insufficient(transfer(http, first, payee, 151))
    expect_insufficient(withdraw(http, second, 151))
    expect_balances(
        http, {first: 100, second: 50, payee: 0}, why="a refused transfer moves nothing"
    )
