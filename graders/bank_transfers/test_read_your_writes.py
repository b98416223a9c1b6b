"""Stage `read-your-writes`: once a transfer answered 201, GET /accounts/{id} shows it, on any
connection, at once: no cache or replica may answer with the balance from before."""

from __future__ import annotations

import random

from labctl.grading import Http, Service, expect, points, stage

from ._support import ACCOUNT_FIELDS, expect_transfer, new_owner, open_account, transfer

pytestmark = stage("read-your-writes")

ROUNDS = 10


def _balance(http: Http, account: str) -> int:
    resp = http.get(f"/accounts/{account}")
    expect.status(resp, 200)
    return int(expect.json_object(resp, ACCOUNT_FIELDS)["balance_cents"])


@points(5)
def test_reads_after_a_transfer_show_it(http: Http, service: Service, rng: random.Random) -> None:
    """After each 201, GET /accounts/{id} of both accounts, on another connection, shows it"""
    payer = open_account(http, new_owner(rng, "payer"), 10_000)
    payee = open_account(http, new_owner(rng, "payee"), 0)
    with Http(service.url, service=service) as other:
        for n in range(1, ROUNDS + 1):
            before = (_balance(other, payer), _balance(other, payee))
            expect_transfer(transfer(http, payer, payee, 10), payer, payee, 10)
            after = (_balance(other, payer), _balance(other, payee))
            expect.equal(
                after,
                (before[0] - 10, before[1] + 10),
                what=f"the balances read right after transfer {n} (payer, payee)",
                hint="a transfer answered 201 is committed: every later read must see it. "
                "A cache in front of the database must be updated or dropped when a "
                "balance changes",
            )
