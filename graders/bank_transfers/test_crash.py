"""Stage `crash`: transfers, withdrawals and snapshots from many clients; the service is
SIGKILLed in the middle of them and started again, and the traffic goes on. Every snapshot,
before and after the crash, must add up and keep the owner rule, and at the end every move
answered 201 must be applied exactly once (those whose answer the crash cut off may or may not
have happened)."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from labctl import ServiceError
from labctl.grading import Http, Service, expect, history, points, stage

from ._traffic import Recorder, Traffic, final_read, mover, open_accounts, refused, run_clients

pytestmark = stage("crash")

OWNERS, PER_OWNER, OPENING = 4, 2, 1_000
MOVERS, READERS = 12, 2
BEFORE_S, AFTER_S = 1.5, 1.0  # traffic before the kill, and after the restart
MAX_AMOUNT = 60
WITHDRAWALS = 0.1
RESTART_TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def traffic(service: Service, seed: int) -> Traffic:
    rng = random.Random(f"{seed}/crash")
    accounts = open_accounts(
        service, rng, tag="crash", owners=OWNERS, each=PER_OWNER, opening=OPENING
    )
    recorder = Recorder(history.History())
    step = mover(recorder, accounts, rng, max_amount=MAX_AMOUNT, withdrawals=WITHDRAWALS)

    def work(http: Http, client: str) -> Any:
        if not service.running:  # killed: wait for the restart instead of spinning
            return time.sleep(0.01)
        if int(client.removeprefix("client-")) < READERS:
            return recorder.read(http, client)
        if refused(step(http, client)):  # it is dying: wait for the restart
            time.sleep(0.01)
        return None

    crashed = threading.Event()
    killer = threading.Thread(target=_kill_after, args=(service, BEFORE_S, crashed))
    killer.start()
    run_clients(service, MOVERS + READERS, work, duration_s=BEFORE_S + 0.5, stop=crashed)
    killer.join()
    _restart(service)
    run_clients(service, MOVERS + READERS, work, duration_s=AFTER_S)
    return Traffic(accounts, recorder.history.ops(), dict(final_read(recorder, service)))


def _kill_after(service: Service, delay_s: float, crashed: threading.Event) -> None:
    time.sleep(delay_s)  # the moment of the crash, in the middle of the traffic
    service.kill()
    crashed.set()


def _restart(service: Service) -> None:
    try:
        service.start()
        service.wait_ready(RESTART_TIMEOUT_S)
    except ServiceError as exc:
        raise expect.fail(
            "the service did not start again after a crash",
            expected="it answers on $PORT after a restart",
            got=exc.message,
            hint=exc.hint,
        ) from None


@points(6)
def test_every_snapshot_adds_up_across_the_crash(traffic: Traffic) -> None:
    """Snapshots before and after the crash add up and keep the owner rule"""
    lost = sum(1 for op in traffic.ops if op.outcome.uncertain and op.f != "read")
    found = history.bank.check_totals(traffic.ops, traffic.accounts)
    found += history.bank.check_owner_rule(traffic.ops, traffic.accounts)
    expect.no_anomalies(
        found,
        what=f"snapshots around a crash that cut off {lost} moves",
        hint="a transfer's debit and credit must commit together, in one transaction: a "
        "crash between two commits loses the money in flight. Keep every account in "
        "Postgres and nothing the service needs only in memory",
    )


@points(6)
def test_answered_moves_survive_the_crash(traffic: Traffic) -> None:
    """After the restart, every move answered 201 is applied exactly once"""
    expect.no_anomalies(
        history.bank.check_final(traffic.ops, traffic.accounts, traffic.final),
        what="the balances after a crash and a restart",
        hint="answer 201 only after the transaction committed, and never drop or recreate "
        "tables when the service starts",
    )
