"""Stage `validation`: a body that is not a valid account, transfer or withdrawal answers 400
with an error, and nothing is opened or moved."""

from __future__ import annotations

import random
from typing import Any

import pytest

from labctl.grading import Http, expect, points, stage

from ._support import expect_balances, listed, new_owner, open_account

pytestmark = stage("validation")

# Placeholders the check replaces with two real accounts of one owner.
A, B = "<a>", "<b>"

BAD_TRANSFERS: dict[str, Any] = {
    "not-json": b"from=a&to=b&amount_cents=5",
    "a-list": [A, B, 5],
    "no-from": {"to": B, "amount_cents": 5},
    "no-to": {"from": A, "amount_cents": 5},
    "no-amount": {"from": A, "to": B},
    "amount-zero": {"from": A, "to": B, "amount_cents": 0},
    "amount-negative": {"from": A, "to": B, "amount_cents": -5},
    "amount-decimal": {"from": A, "to": B, "amount_cents": 5.5},
    "amount-string": {"from": A, "to": B, "amount_cents": "5"},
    "amount-true": {"from": A, "to": B, "amount_cents": True},
    "same-account": {"from": A, "to": A, "amount_cents": 5},
    "from-a-number": {"from": 7, "to": B, "amount_cents": 5},
}

BAD_WITHDRAWALS: dict[str, Any] = {
    "not-json": b"account=a&amount_cents=5",
    "no-account": {"amount_cents": 5},
    "amount-zero": {"account": A, "amount_cents": 0},
    "amount-negative": {"account": A, "amount_cents": -5},
    "amount-string": {"account": A, "amount_cents": "5"},
}

BAD_ACCOUNTS: dict[str, Any] = {
    "not-json": b"owner=x&balance_cents=5",
    "no-owner": {"balance_cents": 5},
    "owner-empty": {"owner": "", "balance_cents": 5},
    "owner-65-characters": {"owner": "o" * 65, "balance_cents": 5},
    "owner-a-number": {"owner": 42, "balance_cents": 5},
    "no-balance": {"owner": "<owner>"},
    "balance-negative": {"owner": "<owner>", "balance_cents": -1},
    "balance-decimal": {"owner": "<owner>", "balance_cents": 10.5},
    "balance-string": {"owner": "<owner>", "balance_cents": "10"},
}


def _fill(body: Any, names: dict[str, str]) -> Any:
    if isinstance(body, dict):
        return {k: _fill(v, names) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, names) for v in body]
    return names.get(body, body) if isinstance(body, str) else body


def _post(http: Http, path: str, body: Any) -> Any:
    if isinstance(body, bytes):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return http.post(path, content=body, headers=headers)
    return http.post(path, json=body)


def _expect_rejected(resp: Any) -> None:
    expect.status(resp, 400, hint="validate the body before touching any account")
    expect.error_body(resp)


@points(1)
@pytest.mark.parametrize("body", BAD_TRANSFERS.values(), ids=BAD_TRANSFERS.keys())
def test_rejects_a_bad_transfer(http: Http, rng: random.Random, body: Any) -> None:
    """A transfer body that is not two different accounts and a whole positive amount: 400"""
    owner = new_owner(rng, "bad-transfer")
    a, b = open_account(http, owner, 100), open_account(http, owner, 100)
    _expect_rejected(_post(http, "/transfers", _fill(body, {A: a, B: b})))
    expect_balances(http, {a: 100, b: 100}, why="a rejected transfer moves nothing")


@points(1)
@pytest.mark.parametrize("body", BAD_WITHDRAWALS.values(), ids=BAD_WITHDRAWALS.keys())
def test_rejects_a_bad_withdrawal(http: Http, rng: random.Random, body: Any) -> None:
    """A withdrawal body that is not an account and a whole positive amount: 400"""
    a = open_account(http, new_owner(rng, "bad-withdrawal"), 100)
    _expect_rejected(_post(http, "/withdrawals", _fill(body, {A: a})))
    expect_balances(http, {a: 100}, why="a rejected withdrawal moves nothing")


@points(1)
@pytest.mark.parametrize("body", BAD_ACCOUNTS.values(), ids=BAD_ACCOUNTS.keys())
def test_rejects_a_bad_account(http: Http, rng: random.Random, body: Any) -> None:
    """An account body without an owner of 1-64 characters and a whole balance >= 0: 400"""
    owner = new_owner(rng, "bad-account")
    _expect_rejected(_post(http, "/accounts", _fill(body, {"<owner>": owner})))
    resp, found = listed(http)
    opened = [a for a in found.values() if a.get("owner") == owner]
    expect.equal(opened, [], what="accounts opened by the rejected request", response=resp)
