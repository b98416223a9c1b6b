"""Stage `accounts`: an account is opened with an owner and a balance, read back by its id, and
listed by GET /accounts."""

from __future__ import annotations

import random

from labctl.grading import Http, expect, points, stage

from ._support import ACCOUNT_FIELDS, balances, listed, new_owner, open_account

pytestmark = stage("accounts")


@points(3)
def test_opens_an_account(http: Http, rng: random.Random) -> None:
    """POST /accounts answers 201 with the account: an id, the owner and the balance"""
    owner = new_owner(rng, "open")
    open_account(http, owner, 12_345)
    open_account(http, owner, 0)


@points(3)
def test_reads_an_account_back(http: Http, rng: random.Random) -> None:
    """GET /accounts/{id} answers the account; an unknown id answers 404"""
    owner = new_owner(rng, "read")
    account_id = open_account(http, owner, 500)
    resp = http.get(f"/accounts/{account_id}")
    expect.status(resp, 200)
    account = expect.json_object(resp, ACCOUNT_FIELDS)
    expected = {"id": account_id, "owner": owner, "balance_cents": 500}
    expect.equal(
        {k: account[k] for k in expected}, expected, what="the account read back", response=resp
    )
    unknown = http.get(f"/accounts/acc-unknown-{rng.randrange(10**9)}")
    expect.status(unknown, 404, hint="an id no account has answers 404")
    expect.error_body(unknown)


@points(3)
def test_lists_every_account(http: Http, rng: random.Random) -> None:
    """GET /accounts lists every account with its owner and balance"""
    owner = new_owner(rng, "list")
    opened = {open_account(http, owner, b): b for b in (0, 1, 999_999)}
    expect.equal(balances(http, list(opened)), opened, what="the balances listed")
    resp, found = listed(http)
    for account_id in opened:
        expect.equal(found[account_id].get("owner"), owner, what="the owner listed", response=resp)
