"""The history recorder and what every checker shares: operations, anomalies, excerpts."""

from __future__ import annotations

import threading

import pytest

from labctl.errors import Failure
from labctl.grading import expect
from labctl.history import Anomaly, History, Outcome, around, overlapping


def test_an_operation_is_invoked_then_completed_once() -> None:
    history = History()
    op = history.invoke("alice", "read", {"key": "k"})
    assert history.ops()[0].outcome is Outcome.PENDING
    done = op.ok(3)
    assert done.outcome is Outcome.OK
    assert done.result == 3
    assert done.end_s is not None
    assert done.end_s >= done.start_s
    with pytest.raises(RuntimeError, match="completed twice"):
        op.fail()
    assert history.ops() == (done,)


def test_ops_are_ordered_by_invocation_whatever_order_they_completed_in() -> None:
    history = History(origin=0.0)
    late = history.record("b", "w", 1, start_s=2.0, end_s=3.0, outcome=Outcome.OK)
    early = history.record("a", "w", 2, start_s=1.0, end_s=None, outcome=Outcome.INFO)
    assert history.ops() == (early, late)
    assert early.outcome.uncertain
    assert not late.outcome.uncertain


def test_concurrent_clients_record_every_operation() -> None:
    history = History()

    def client(n: int) -> None:
        for i in range(200):
            history.invoke(f"c{n}", "inc", i).ok()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ops = history.ops()
    assert len(ops) == 1600
    assert sorted(op.index for op in ops) == list(range(1600))
    assert all(op.ok for op in ops)


def test_overlapping_and_around_pick_the_neighbourhood_of_an_operation() -> None:
    history = History(origin=0.0)
    ops = [
        history.record("c", "w", i, start_s=i, end_s=i + 0.5, outcome=Outcome.OK) for i in range(10)
    ]
    pending = history.record("d", "w", None, start_s=3.2, end_s=None, outcome=Outcome.PENDING)
    assert [op.value for op in overlapping(history.ops(), 4.2, 5.1)] == [None, 4, 5]
    assert pending in overlapping(history.ops(), 9.0, 9.1)
    assert [op.value for op in around(ops, ops[5], before=1, after=2)] == [4, 5, 6, 7]


def test_an_anomaly_fails_the_check_with_the_operations_that_show_it() -> None:
    history = History(origin=0.0)
    op = history.record(
        "alice", "transfer", {"amount": 5}, start_s=0.1, end_s=0.2, outcome=Outcome.OK
    )
    anomaly = Anomaly("conservation", "the snapshot adds up to 95, not 100", (op,), ("sum 95",))
    expect.no_anomalies([], what="the bank")
    with pytest.raises(Failure) as caught:
        expect.no_anomalies([anomaly, anomaly], what="the bank", hint="use one transaction")
    failure = caught.value
    assert (
        failure.summary
        == "the bank: the snapshot adds up to 95, not 100 (1 more anomaly of this history)"
    )
    assert failure.got == 'sum 95\n#0 alice transfer {"amount": 5} 0.100-0.200 s -> ok'
    assert failure.hint == "use one transaction"
    assert anomaly.to_dict()["ops"][0]["value"] == {"amount": 5}


def test_a_long_anomaly_excerpt_is_cut_and_says_how_much_was_left_out() -> None:
    history = History(origin=0.0)
    ops = tuple(
        history.record("c", "w", bytes([i]), start_s=i, end_s=i, outcome=Outcome.FAIL)
        for i in range(25)
    )
    lines = Anomaly("r", "m", ops).excerpt(limit=20)
    assert len(lines) == 21
    assert lines[-1] == "... and 5 more operations"
