"""Stage `consistency`: a steady stream of payments, 10% of them sent twice with the same key (half
at the same moment from another client, half moments later) and 5% of bank calls failing;
afterwards the bank's ledger and the answers must agree."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from labctl.grading import Http, Service, Upstream, expect, points, stage

from ._support import bank_of, new_key, new_order
from ._traffic import PacedTraffic, Planned, Sent
from .bank import Charge

pytestmark = stage("consistency")

PAYMENTS = 1500  # ~1,650 requests with the duplicates, plus retries of failed bank calls
RATE_PER_S = 200.0  # payments per second: 7.5 s of traffic
CLIENTS = 12
DUPLICATES = 0.10  # share of payments sent a second time with the same key
SAME_SLOT = 0.5  # share of those duplicates sent in the original's slot, from another client
BANK_FAILURES = 0.05
DEADLINE_S = 60.0  # 8x what the reference needs: attempts after it are not sent at all
SHOWN = 5


@dataclass(frozen=True)
class History:
    orders: dict[str, dict[str, Any]]  # key -> the order sent with it
    sent: list[Sent]
    charges: dict[str, list[Charge]]  # source -> charges executed on it

    def answers(self, key: str) -> list[Sent]:
        return [s for s in self.sent if s.key == key]


@pytest.fixture(scope="module")
def history(service: Service, upstreams: dict[str, Upstream], seed: int) -> History:
    rng = random.Random(f"{seed}/consistency")
    orders = {new_key(rng): new_order(rng) for _ in range(PAYMENTS)}
    upstreams["bank"].fail_fraction(BANK_FAILURES, seed=f"{seed}/consistency", status=503)
    with Http(service.url, service=service) as http:
        traffic = PacedTraffic(http, clients=CLIENTS, deadline_s=DEADLINE_S)
        sent = traffic.run(_plan(rng, orders))
    upstreams["bank"].reset()
    sources = {order["source"] for order in orders.values()}
    charges: dict[str, list[Charge]] = defaultdict(list)
    for charge in bank_of(upstreams).ledger():
        if charge.source in sources:
            charges[charge.source].append(charge)
    return History(orders, sent, charges)


def _plan(rng: random.Random, orders: dict[str, dict[str, Any]]) -> list[Planned]:
    plan = [Planned(i / RATE_PER_S, key, order) for i, (key, order) in enumerate(orders.items())]
    for i, (key, order) in enumerate(orders.items()):
        if rng.random() < DUPLICATES:
            # Half arrive while the original is still being served (a race the service must
            # win every time), half a few slots later (a retry that must replay).
            later = 0 if rng.random() < SAME_SLOT else rng.randint(1, 8)
            plan.append(Planned((i + later) / RATE_PER_S, key, order))
    return sorted(plan, key=lambda p: p.at_s)


@points(5)
def test_every_charge_is_one_payment(history: History) -> None:
    """Each payment answered 201 was charged exactly once; nothing else was charged"""
    wrong = []
    for key, order in history.orders.items():
        succeeded = any(s.status == 201 for s in history.answers(key))
        charged = len(history.charges.get(order["source"], []))
        if charged != (1 if succeeded else 0):
            wrong.append(f"{key}: {charged} charges, answered {_statuses(history.answers(key))}")
    _expect_none(wrong, "charged a number of times that does not match their answers", history)


@points(3)
def test_amounts_match(history: History) -> None:
    """Every charge is for the amount and currency of its payment"""
    wrong = []
    by_source = {order["source"]: order for order in history.orders.values()}
    for source, charges in history.charges.items():
        order = by_source[source]
        for charge in charges:
            if (charge.amount, charge.currency) != (order["amount"], order["currency"]):
                wrong.append(
                    f"{charge.id}: charged {charge.amount} {charge.currency} for a payment of "
                    f"{order['amount']} {order['currency']}"
                )
    _expect_none(wrong, "charged the wrong amount or currency", history)


@points(4)
def test_answers_agree(history: History) -> None:
    """No key was answered two different payments; no two keys share a payment id"""
    wrong, owners = [], {}
    for key in history.orders:
        bodies = {s.body for s in history.answers(key) if s.status == 201}
        if len(bodies) > 1:
            wrong.append(f"{key}: answered {len(bodies)} different bodies: {sorted(bodies)[:2]}")
        for body in bodies:
            payment_id = _payment_id(body)
            if owners.setdefault(payment_id, key) != key:
                wrong.append(f"payment id {payment_id} answered for {owners[payment_id]} and {key}")
    _expect_none(wrong, "answered with conflicting payments", history)


@points(4)
def test_no_server_errors(history: History) -> None:
    """Every answer is 201, 409 or a bank-caused 502/503/504, and every payment ends in a 201"""
    wrong = []
    for key in history.orders:
        answers = history.answers(key)
        odd = [s.status for s in answers if s.status not in (201, 409, 502, 503, 504)]
        if not answers:
            wrong.append(f"{key}: not sent within {DEADLINE_S:g} s, the service was too slow")
        elif odd or not any(s.status == 201 for s in answers):
            wrong.append(f"{key}: answered {_statuses(answers)}")
    _expect_none(wrong, "answered unexpectedly", history)


def _expect_none(wrong: list[str], what: str, history: History) -> None:
    if wrong:
        raise expect.fail(
            f"{len(wrong)} problems among {len(history.orders)} payments: {what}",
            expected="none",
            got="; ".join(wrong[:SHOWN]) + (" …" if len(wrong) > SHOWN else ""),
            hint="under concurrent load with retries and failing bank calls, every payment must "
            "charge exactly once and every key keep one answer: look for state shared between "
            "requests, ids that can collide, and checks that are not atomic",
        )


def _statuses(answers: list[Sent]) -> str:
    return ", ".join("no answer" if s.status is None else str(s.status) for s in answers)


def _payment_id(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return f"(not JSON: {body[:40]!r})"
    return str(parsed.get("id")) if isinstance(parsed, dict) else "(not an object)"
