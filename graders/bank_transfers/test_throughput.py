"""Stage `throughput`: 50 clients, each sending its next transfer as soon as its last one was
answered, among 10 hot accounts (5 owners with 2 accounts each) for 10 s. No 5xx, p99 and
transfers answered per second within lab.toml's ``[budgets.throughput]``.

Every transfer is recorded with its times and status; the figures come from that history, like
a load report. A budget missed while the grader's clients could not keep up or the machine's
CPUs were saturated is inconclusive, never a failure.
"""

from __future__ import annotations

import random

from labctl.grading import Lab, Load, Service, expect, history, points, stage

from ._traffic import Recorder, answered, mover, open_accounts

pytestmark = stage("throughput")

OWNERS, PER_OWNER = 5, 2
OPENING = 10_000_000  # ample: insufficient funds stays rare (and a 422 is an answer too)
MAX_AMOUNT = 100


@points(8)
def test_hot_accounts_hold_the_throughput_budget(
    service: Service, load: Load, lab: Lab, rng: random.Random
) -> None:
    """50 clients on 10 hot accounts for 10 s: no errors, p99 and transfers/s within budget"""
    accounts = open_accounts(
        service, rng, tag="hot", owners=OWNERS, each=PER_OWNER, opening=OPENING
    )
    recorder = Recorder(history.History())
    step = mover(recorder, accounts, rng, max_amount=MAX_AMOUNT)
    budget = lab.budget("throughput")
    report = load.closed(step, budget=budget, history=recorder.history, answered=answered)
    expect.within_budget(report, budget)
