"""Stage `overdraft-rule`: an account may go below zero while its owner's other accounts cover
it, a move between one owner's accounts is always allowed, and no owner's accounts ever add up
to less than zero, even when debits of two of their accounts arrive at the same moment (row
locks on the debited account alone let both through: write skew)."""

from __future__ import annotations

import random
from collections.abc import Callable

from labctl.grading import Http, Op, Service, expect, history, points, stage

from ._support import (
    RULE_HINT,
    expect_balances,
    expect_insufficient,
    expect_transfer,
    new_owner,
    open_account,
    transfer,
    withdraw,
)
from ._traffic import Account, Recorder, at_once, final_read

pytestmark = stage("overdraft-rule")

OWNERS = 12
AT_ONCE = 8  # debits of one owner sent at one moment, half from each of their two accounts
OPENING, DEBIT = 100, 150  # each debit alone is covered by the owner's 200; no two are


@points(3)
def test_an_account_may_go_below_zero_when_its_owner_covers_it(
    http: Http, rng: random.Random
) -> None:
    """A debit beyond one account's balance is allowed while the owner's sum stays >= 0"""
    owner = new_owner(rng, "covered")
    first, second = open_account(http, owner, 100), open_account(http, owner, 100)
    payee = open_account(http, new_owner(rng, "payee"), 0)
    resp = transfer(http, first, payee, 150)
    expect.status(resp, 201, hint=RULE_HINT)
    expect_transfer(resp, first, payee, 150)
    expect.status(withdraw(http, first, 40), 201, hint=RULE_HINT)
    expect_insufficient(transfer(http, second, payee, 20), hint=RULE_HINT)
    expect_balances(http, {first: -90, second: 100, payee: 150}, why=RULE_HINT)


@points(2)
def test_moves_between_one_owners_accounts_are_always_allowed(
    http: Http, rng: random.Random
) -> None:
    """A transfer between two accounts of one owner is allowed whatever their balances"""
    owner = new_owner(rng, "shuffle")
    first, second = open_account(http, owner, 0), open_account(http, owner, 0)
    payee = open_account(http, new_owner(rng, "payee"), 0)
    resp = transfer(http, first, second, 500)
    expect.status(resp, 201, hint="a move between one owner's accounts leaves their sum as it is")
    expect_insufficient(transfer(http, second, payee, 1), hint=RULE_HINT)
    expect_balances(http, {first: -500, second: 500, payee: 0}, why=RULE_HINT)


@points(8)
def test_the_rule_holds_under_concurrency(service: Service, rng: random.Random) -> None:
    """8 debits of one owner at once, from both accounts: the owner never goes below zero"""
    recorder = Recorder(history.History())
    https = [Http(service.url, service=service) for _ in range(AT_ONCE)]
    accounts: list[Account] = []
    try:
        payee = open_account(https[0], new_owner(rng, "payee"), 0)
        for _ in range(OWNERS):
            owner = new_owner(rng, "skew")
            pair = [Account(open_account(https[0], owner, OPENING), owner, OPENING) for _ in "ab"]
            accounts += pair
            at_once(https, [_debit(recorder, pair[i % 2].id, payee, i) for i in range(AT_ONCE)])
    finally:
        for h in https:
            h.close()
    final_read(recorder, service)
    expect.no_anomalies(
        history.bank.check_owner_rule(recorder.history.ops(), accounts),
        what=f"{OWNERS} owners, each sent {AT_ONCE} debits at once",
        hint="locking the debited account is not enough: two debits of one owner's two "
        "accounts each saw the other account before it changed. Lock every account of the "
        "owner (SELECT ... WHERE owner = $1 ORDER BY id FOR UPDATE) or use SERIALIZABLE "
        "transactions and retry serialization failures",
    )


def _debit(recorder: Recorder, account: str, payee: str, i: int) -> Callable[[Http], Op]:
    """Half the debits are transfers out, half withdrawals."""
    if i % 4 < 2:
        return lambda http: recorder.transfer(http, f"client-{i}", account, payee, DEBIT)
    return lambda http: recorder.withdraw(http, f"client-{i}", account, DEBIT)
