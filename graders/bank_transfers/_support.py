"""Flows the bank-transfers stages repeat: open accounts, move money, read balances back."""

from __future__ import annotations

import random
import string
from typing import Any

import httpx

from labctl.grading import Http, expect

ALPHABET = string.ascii_lowercase + string.digits
ACCOUNT_FIELDS = {"id": str, "owner": str, "balance_cents": int}
TRANSFER_FIELDS = {"id": str, "from": str, "to": str, "amount_cents": int}
WITHDRAWAL_FIELDS = {"id": str, "account": str, "amount_cents": int}
RULE_HINT = (
    "the rule is about the owner: the sum of all of an owner's balances must stay at zero or "
    "more; one account alone may go below zero"
)


def token(rng: random.Random, n: int = 10) -> str:
    return "".join(rng.choices(ALPHABET, k=n))


def new_owner(rng: random.Random, tag: str) -> str:
    """An owner name no other check uses: its accounts are this check's alone."""
    return f"{tag}-{token(rng)}"


def open_account(http: Http, owner: str, balance: int) -> str:
    """POST /accounts, checked to answer 201 with the account; returns its id."""
    resp = http.post("/accounts", json={"owner": owner, "balance_cents": balance})
    expect.status(resp, 201, hint="a new account answers 201 Created with the account")
    account = expect.json_object(resp, ACCOUNT_FIELDS)
    expect.equal(
        (account["owner"], account["balance_cents"]),
        (owner, balance),
        what="the owner and balance of the new account",
        response=resp,
        hint="answer with the account as it was opened",
    )
    return str(account["id"])


def listed(http: Http) -> tuple[httpx.Response, dict[str, dict[str, Any]]]:
    """GET /accounts, checked: the answer and its accounts by id."""
    resp = http.get("/accounts")
    expect.status(resp, 200)
    body = expect.json_object(resp, {"accounts": list})
    found = {}
    for account in body["accounts"]:
        if not isinstance(account, dict) or not isinstance(account.get("id"), str):
            raise expect.fail(
                "GET /accounts: an entry is not an account",
                expected='{"id": "...", "owner": "...", "balance_cents": 0}',
                got=repr(account)[:200],
                response=resp,
            )
        found[account["id"]] = account
    return resp, found


def balances(http: Http, ids: list[str]) -> dict[str, int]:
    """The balances of ``ids`` in one GET /accounts, each checked to be listed."""
    resp, found = listed(http)
    for account_id in ids:
        if account_id not in found:
            raise expect.fail(
                f"GET /accounts does not list account {account_id}",
                expected="every account, in one list",
                got=f"{len(found)} accounts, without {account_id}",
                response=resp,
            )
    return {i: _cents(found[i], resp) for i in ids}


def expect_balances(http: Http, expected: dict[str, int], *, why: str) -> None:
    got = balances(http, list(expected))
    if got != expected:
        raise expect.fail(
            "the balances are wrong",
            expected=_show(expected),
            got=_show(got),
            hint=why,
        )


def transfer(
    http: Http, source: str, target: str, amount: Any, key: str | None = None
) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    body = {"from": source, "to": target, "amount_cents": amount}
    return http.post("/transfers", json=body, headers=headers)


def withdraw(http: Http, account: str, amount: Any, key: str | None = None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return http.post(
        "/withdrawals", json={"account": account, "amount_cents": amount}, headers=headers
    )


def expect_transfer(resp: httpx.Response, source: str, target: str, amount: int) -> str:
    """The answer is a 201 with the transfer; returns its id."""
    expect.status(resp, 201)
    body = expect.json_object(resp, TRANSFER_FIELDS)
    expect.equal(
        (body["from"], body["to"], body["amount_cents"]),
        (source, target, amount),
        what="the transfer in the answer",
        response=resp,
    )
    return str(body["id"])


def expect_insufficient(resp: httpx.Response, hint: str = "") -> None:
    expect.status(resp, 422, hint=hint or "refuse a move the rule forbids with 422")
    error = expect.json_object(resp, {"error": str})["error"]
    expect.equal(error, "insufficient_funds", what="the error", response=resp)


def _cents(account: dict[str, Any], resp: httpx.Response) -> int:
    value = account.get("balance_cents")
    if not isinstance(value, int) or isinstance(value, bool):
        raise expect.fail(
            f"GET /accounts: account {account.get('id')}'s balance_cents is not an integer",
            expected="an integer number of cents",
            got=repr(value),
            hint="send balances as JSON integers (a bigint column may reach your code as a "
            "string or a decimal: convert it)",
            response=resp,
        )
    return value


def _show(balances: dict[str, int]) -> str:
    return ", ".join(f"{i}: {b}" for i, b in balances.items())
