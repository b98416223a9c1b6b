"""Flows the idempotent-payments stages repeat: make an order, pay it, check the answer and the
bank's ledger."""

from __future__ import annotations

import random
import string
from typing import Any

import httpx

from labctl.grading import Failure, Http, Upstream, expect

from .bank import Bank, Charge

ALPHABET = string.ascii_letters + string.digits
CURRENCIES = ("EUR", "USD", "GBP", "JPY", "CHF")
GATEWAY_ERRORS = (502, 503, 504)
PAYMENT_FIELDS = {"id": str, "amount": int, "currency": str, "source": str, "status": str}


def token(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choices(ALPHABET, k=n))


def new_key(rng: random.Random) -> str:
    return f"key-{token(rng)}"


def new_order(rng: random.Random, source: str | None = None) -> dict[str, Any]:
    """A payment request no other check sends: its own card (source), so its charges are its own."""
    return {
        "amount": rng.randrange(100, 500_000),
        "currency": rng.choice(CURRENCIES),
        "source": source or f"tok_{token(rng)}",
    }


def bank_of(upstreams: dict[str, Upstream]) -> Bank:
    bank = upstreams["bank"].handler
    assert isinstance(bank, Bank), "the lab's bank stub is not graders/idempotent_payments/bank.py"
    return bank


def post(http: Http, key: str | None, order: Any) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return http.post("/payments", json=order, headers=headers)


def expect_payment(resp: httpx.Response, order: dict[str, Any], status: str) -> dict[str, Any]:
    """The answer is a payment of ``order`` with ``status``; returns it."""
    payment: dict[str, Any] = expect.json_object(resp, PAYMENT_FIELDS)
    for field in ("amount", "currency", "source"):
        expect.equal(
            payment[field],
            order[field],
            what=f"the payment's {field}",
            response=resp,
            hint="answer with the payment as it was requested",
        )
    expect.equal(payment["status"], status, what="the payment's status", response=resp)
    return payment


def pay(http: Http, key: str, order: dict[str, Any]) -> httpx.Response:
    """POST /payments, checked to answer 201 with the payment."""
    resp = post(http, key, order)
    expect.status(resp, 201)
    expect_payment(resp, order, "succeeded")
    return resp


def expect_charges(
    bank: Bank, order: dict[str, Any], n: int, *, response: httpx.Response | None = None, why: str
) -> list[Charge]:
    """The bank executed exactly ``n`` charges on the order's card, each of its amount."""
    charges = bank.charges_from(order["source"])
    if len(charges) != n:
        raise expect.fail(
            f"the bank executed {len(charges)} charges for this payment",
            expected=f"{n} executed charge{'s' if n != 1 else ''}",
            got=f"{len(charges)}: " + ", ".join(f"{c.id} (key {c.key})" for c in charges),
            hint=why,
            response=response,
        )
    for charge in charges:
        expect.equal(
            (charge.amount, charge.currency),
            (order["amount"], order["currency"]),
            what="the amount and currency charged at the bank",
            response=response,
        )
    return charges


def expect_replay(resp: httpx.Response, first: httpx.Response) -> None:
    """``resp`` replays ``first``: same status, byte-identical body, Idempotent-Replayed: true."""
    expect.status(resp, first.status_code, hint="a retry with the same key answers as the first")
    if resp.content != first.content:
        raise expect.fail(
            "the replayed body is not byte-identical to the first answer",
            expected=first.content.decode("utf-8", "replace"),
            got=resp.content.decode("utf-8", "replace"),
            hint="store the exact bytes you answered and send them again; re-serialising a "
            "stored object can change key order or spacing",
            response=resp,
        )
    replayed = resp.headers.get("Idempotent-Replayed")
    expect.equal(
        replayed,
        "true",
        what="the Idempotent-Replayed header",
        response=resp,
        hint="a replayed answer carries the header Idempotent-Replayed: true",
    )


def attempt(http: Http, key: str, order: dict[str, Any]) -> httpx.Response | None:
    """POST /payments that may get no answer (the service was killed): None then."""
    try:
        return post(http, key, order)
    except Failure:
        return None
