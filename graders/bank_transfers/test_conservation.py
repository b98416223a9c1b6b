"""Stage `conservation`: concurrent transfers and withdrawals among 8 accounts of 4 owners while
other clients take snapshots (GET /accounts). Every snapshot must add up to what was deposited
less what was withdrawn (a withdrawal in flight counted either way), and at the end every
transfer answered 201 must be applied exactly once and none refused applied at all."""

from __future__ import annotations

import random
from typing import Any

import pytest

from labctl.grading import Http, Service, expect, history, points, stage

from ._traffic import Recorder, Traffic, final_read, mover, open_accounts, run_clients

pytestmark = stage("conservation")

OWNERS, PER_OWNER, OPENING = 4, 2, 1_000
MOVERS, READERS = 10, 2
DURATION_S = 2.5
MAX_AMOUNT = 60
WITHDRAWALS = 0.1  # share of the movers' requests that are withdrawals


@pytest.fixture(scope="module")
def traffic(service: Service, seed: int) -> Traffic:
    rng = random.Random(f"{seed}/conservation")
    accounts = open_accounts(
        service, rng, tag="conserve", owners=OWNERS, each=PER_OWNER, opening=OPENING
    )
    recorder = Recorder(history.History())
    step = mover(recorder, accounts, rng, max_amount=MAX_AMOUNT, withdrawals=WITHDRAWALS)

    def work(http: Http, client: str) -> Any:
        if int(client.removeprefix("client-")) < READERS:
            return recorder.read(http, client)
        return step(http, client)

    run_clients(service, MOVERS + READERS, work, duration_s=DURATION_S)
    final = dict(final_read(recorder, service))
    return Traffic(accounts, recorder.history.ops(), final)


@points(6)
def test_every_snapshot_adds_up(traffic: Traffic) -> None:
    """Every snapshot taken during the traffic adds up: no money created or lost in between"""
    reads = sum(1 for op in traffic.ops if op.f == "read" and op.ok)
    expect.no_anomalies(
        history.bank.check_totals(traffic.ops, traffic.accounts),
        what=f"{reads} snapshots during concurrent transfers",
        hint="a snapshot is one consistent read of every account (one statement or one "
        "transaction), and a transfer is one transaction: its debit and credit are seen "
        "together or not at all",
    )


@points(6)
def test_every_transfer_is_applied_once(traffic: Traffic) -> None:
    """At the end, each account holds its opening balance plus exactly what was answered 201"""
    moves = sum(1 for op in traffic.ops if op.f != "read")
    expect.no_anomalies(
        history.bank.check_final(traffic.ops, traffic.accounts, traffic.final),
        what=f"the balances after {moves} concurrent transfers and withdrawals",
        hint="concurrent updates of one balance must not overwrite each other: update it in "
        "the database (balance_cents = balance_cents - amount) under a row lock, never by "
        "writing back a value computed from an earlier read",
    )
