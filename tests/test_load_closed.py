"""A closed-model run judged from its history: the figures of the report made from hand-written
operations, the fairness rules that make it inconclusive, the budget helpers on it, and
``load.closed`` driving real clients against a small local server."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.errors import Failure, Inconclusive
from labctl.grading import Budget, Http, expect
from labctl.grading.load import Load
from labctl.history import History, Op, Outcome
from labctl.load import ClosedRun, closed_report, summary
from labctl.load import _closed as closed

SERVER = Path(__file__).parent / "services" / "fast.py"
TICK = 1 / 128  # seconds a request takes: exact in binary, so the counts are exact too
BUDGET = Budget("throughput", rate=0.0, duration_s=2, p99_ms=50, min_achieved_rps=90, clients=2)


def answered(op: Op) -> bool:
    return isinstance(op.result, dict) and op.result.get("status") in (201, 422)


def history_of(
    latency_s: float, *, gap_s: float = 0.0, status: int = 201, slow_every: int = 0
) -> History:
    """Two clients, each sending its next request ``gap_s`` after its last answer, from 0 s
    (warm-up) to 3 s; every ``slow_every``-th request of a client takes 0.3 s."""
    history = History(origin=0.0)
    for client in ("c0", "c1"):
        t, n = 0.0, 0
        while t < 3.0:
            n += 1
            took = 0.3 if slow_every and n % slow_every == 0 else latency_s
            history.record(
                client,
                "transfer",
                {},
                start_s=t,
                end_s=t + took,
                outcome=Outcome.OK,
                result={"status": status},
            )
            t += took + gap_s
    return history


def run(**fields: float) -> ClosedRun:
    values = {"cpu_s": 0.2, "pressure": 0.1, **fields}
    return ClosedRun(
        url="http://x",
        clients=2,
        started_s=0.0,
        warmup_s=1.0,
        duration_s=2.0,
        cpu_s=values["cpu_s"],
        pressure=values["pressure"],
    )


def test_the_report_counts_the_measured_window_only() -> None:
    history = history_of(TICK)
    report = closed_report(history.ops(), run(), answered=answered)
    assert report.clients == 2
    assert report.sent == 512  # 2 clients x 128 per second x 2 s; the warm-up second left out
    assert report.achieved_rps == 256
    assert report.latency_ms.p99 == pytest.approx(1000 * TICK, abs=0.001)
    assert report.send_lag_ms.p99 == 0.0
    assert [s.sent for s in report.seconds] == [256, 256]
    assert report.status_codes == {"201": 512}
    assert not report.inconclusive
    assert "by 2 clients (closed model" in summary(report)
    expect.within_budget(report, BUDGET)


def test_statuses_that_are_not_answers_and_lost_answers_are_errors() -> None:
    history = history_of(TICK, status=503)
    history.record(
        "c2", "transfer", {}, start_s=1.5, end_s=None, outcome=Outcome.INFO, result="timeout"
    )
    report = closed_report(history.ops(), run(), answered=answered)
    assert report.errors == {"status": 512, "timeout": 1, "connection": 0}
    assert report.achieved_rps == 0
    with pytest.raises(Failure, match="513 of 513 requests under load went wrong"):
        expect.within_budget(report, BUDGET)


def test_a_slow_tail_fails_with_the_clients_named() -> None:
    report = closed_report(history_of(0.004, slow_every=20).ops(), run(), answered=answered)
    assert report.latency_ms.p99 == pytest.approx(300.0)
    with pytest.raises(Failure, match=r"p99 latency with 2 concurrent clients was 300\.0 ms"):
        expect.p99_at_most(report, 50)


def test_a_low_rate_fails_with_the_clients_named() -> None:
    report = closed_report(history_of(4 * TICK).ops(), run(), answered=answered)
    assert report.achieved_rps == 64
    with pytest.raises(Failure, match="answered 64 req/s with 2 concurrent clients"):
        expect.within_budget(report, BUDGET)


def test_clients_slow_to_send_make_a_missed_budget_inconclusive() -> None:
    report = closed_report(history_of(TICK, gap_s=0.0625).ops(), run(), answered=answered)
    assert report.send_lag_ms.p99 == pytest.approx(62.5)
    assert report.late_sends == report.sent  # each one left 62.5 ms after the answer before
    assert "the grader's clients fell behind" in report.reasons[0]
    with pytest.raises(Inconclusive):
        expect.within_budget(report, BUDGET)


def test_a_saturated_machine_or_a_pegged_grader_make_it_inconclusive() -> None:
    slow = history_of(4 * TICK).ops()
    saturated = closed_report(slow, run(pressure=0.8), answered=answered)
    assert "CPUs were saturated" in saturated.reasons[0]
    pegged = closed_report(slow, run(cpu_s=1.9), answered=answered)
    assert "CPU-bound" in pegged.reasons[0]
    for report in (saturated, pegged):
        with pytest.raises(Inconclusive):
            expect.within_budget(report, BUDGET)
    fast = closed_report(history_of(TICK).ops(), run(pressure=0.8), answered=answered)
    expect.within_budget(fast, BUDGET)  # a budget met passes, saturated or not


def test_percentiles_are_exact_nearest_rank() -> None:
    p = closed.percentiles([float(v) for v in range(1, 101)])
    assert (p.p50, p.p90, p.p99, p.p999, p.max) == (50, 90, 99, 100, 100)
    assert closed.percentiles([]).p99 == 0.0
    assert sum(n for _, n in closed.distribution([0.01, 1.0, 1.0, 250.0])) == 4


@pytest.fixture
def fast_url() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(SERVER), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_load_closed_runs_its_clients_and_keeps_the_report(fast_url: str) -> None:
    kept = []
    load = Load(fast_url, kept.append)
    history = History()
    budget = Budget(
        "t", rate=0.0, duration_s=1, warmup_s=0.2, p99_ms=100, min_achieved_rps=50, clients=4
    )

    def step(http: Http, client: str) -> None:
        pending = history.invoke(client, "get")
        pending.ok({"status": http.get("/").status_code})

    report = load.closed(step, budget=budget, history=history, answered=lambda op: True)
    assert kept == [report]
    assert report.clients == 4
    assert {op.process for op in history.ops()} == {f"client-{i}" for i in range(4)}
    assert report.sent > 50
    assert report.status_codes == {"200": report.sent}
    assert len(report.seconds) == 1
    assert report.generator.cpu_s > 0
    open_model = dataclasses.replace(budget, clients=0)
    with pytest.raises(TypeError, match="has no clients"):
        load.closed(step, budget=open_model, history=history, answered=answered)
