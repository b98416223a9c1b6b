"""The budget helpers judge a LoadReport: pass, a Failure that shows the figures, or no verdict
when the generator could be to blame."""

from __future__ import annotations

import dataclasses

import pytest

from labctl.errors import Failure, Inconclusive
from labctl.grading import Budget, expect
from labctl.load import LoadReport, Percentiles, worst_seconds
from labctl.load._judge import Plan, report
from labctl.load._model import Scenario
from labctl.load._tally import Tally

BUDGET = Budget("latency", rate=100, duration_s=3, p99_ms=100, min_achieved_rps=95)


def measured(
    slow_every: int = 0,
    lag_s: float = 0.0002,
    errors: int = 0,
    slow_in: int | None = None,
    pressure: tuple[float, ...] | None = None,
) -> LoadReport:
    """100 req/s for 3 s (or one second per ``pressure`` value, that second's CPU pressure)."""
    seconds = len(pressure) if pressure else 3
    tally = Tally()
    for k in range(100 * seconds):
        slow = slow_every and k % slow_every == 0 and slow_in in (None, k // 100)
        tally.record(k // 100, lag_s, 0.300 if slow else 0.004, 0.004)
        if k < errors:
            tally.error(k // 100, "status", 500)
        else:
            tally.answered(302)
    tally.first_slot, tally.last_done, tally.cpu_s, tally.wall_s = 10.0, 10.0 + seconds, 0.3, 3.0
    if pressure is not None:
        tally.second_pressure = dict(enumerate(pressure))
        tally.pressure = sum(pressure) / len(pressure)
    return report(Plan("http://x", Scenario.get("/"), 100, seconds, 1), tally)


def test_a_report_within_budget_passes() -> None:
    expect.within_budget(measured(), BUDGET)


def test_a_slow_tail_fails_with_the_percentile_table_and_the_worst_seconds() -> None:
    with pytest.raises(Failure) as info:
        expect.within_budget(measured(slow_every=30), BUDGET)
    text = str(info.value)
    assert "p99 latency at 100 req/s was 300.0 ms" in text
    assert "from intended send" in text
    assert "worst seconds (by p99):" in text
    assert "second   0" in text
    assert info.value.expected == "p99 ≤ 100 ms"
    assert "a few are far slower" in info.value.hint


def test_errors_fail_before_latency() -> None:
    with pytest.raises(Failure, match="3 of 300 requests under load went wrong"):
        expect.within_budget(measured(errors=3), BUDGET)


def test_too_few_answers_per_second_fail() -> None:
    slow = dataclasses.replace(measured(), achieved_rps=60.0)
    with pytest.raises(Failure, match="answered 60 of 100 req/s"):
        expect.within_budget(slow, BUDGET)


def test_a_budget_missed_on_an_inconclusive_run_is_inconclusive() -> None:
    behind = dataclasses.replace(measured(slow_every=30), verdict="inconclusive", reasons=("x",))
    with pytest.raises(Inconclusive, match=r"no verdict: p99 was 300\.0 ms .*, but x"):
        expect.within_budget(behind, BUDGET)


def test_a_budget_met_on_an_inconclusive_run_still_passes() -> None:
    """A busy machine or a late generator only makes latency worse: a pass is still a pass."""
    busy = dataclasses.replace(measured(), verdict="inconclusive", reasons=("busy",))
    expect.within_budget(busy, BUDGET)


def test_load_not_sent_in_full_is_never_judged() -> None:
    short = dataclasses.replace(measured(), sent=150, verdict="inconclusive", reasons=("short",))
    with pytest.raises(Inconclusive, match="no verdict: short"):
        expect.within_budget(short, BUDGET)


def test_an_excess_the_generators_lag_could_explain_is_inconclusive() -> None:
    late = dataclasses.replace(
        measured(),
        latency_ms=Percentiles(p50=5, p90=20, p99=120, p999=130, max=140),
        send_lag_ms=Percentiles(p50=1, p90=10, p99=30, p999=40, max=45),
    )
    with pytest.raises(Inconclusive, match=r"up to 30\.0 ms late"):
        expect.p99_at_most(late, 100)
    clear = dataclasses.replace(late, latency_ms=Percentiles(5, 20, 300, 310, 320))
    with pytest.raises(Failure):
        expect.p99_at_most(clear, 100)


def test_a_tail_from_seconds_the_machine_was_saturated_is_inconclusive() -> None:
    """The slow requests all in second 1, when some task waited for a CPU 90% of the time
    (the run's average, 19%, is under the limit): the seconds clear of it (3-5; 0 and 2 are
    its neighbours) are within budget."""
    busy = measured(slow_every=10, slow_in=1, pressure=(0.05, 0.9, 0.05, 0.05, 0.05, 0.05))
    assert busy.verdict == "ok"
    assert busy.saturated_seconds == 1
    assert busy.calm_latency_ms is not None
    assert busy.calm_latency_ms.p99 < 100
    with pytest.raises(Inconclusive, match="saturated for 1 of its 6 seconds"):
        expect.within_budget(busy, BUDGET)
    assert "CPU pressure 90%" in worst_seconds(busy)


def test_a_run_with_no_second_clear_of_saturation_is_inconclusive() -> None:
    busy = measured(slow_every=10, slow_in=1, pressure=(0.05, 0.9, 0.05))
    assert busy.calm_latency_ms is None
    with pytest.raises(Inconclusive, match="no second was clear"):
        expect.within_budget(busy, BUDGET)


def test_a_tail_spread_over_calm_seconds_still_fails_when_one_second_was_saturated() -> None:
    spread = measured(slow_every=30, pressure=(0.05, 0.9, 0.05, 0.05, 0.05, 0.05))
    with pytest.raises(Failure, match=r"p99 latency at 100 req/s was 300\.0 ms"):
        expect.within_budget(spread, BUDGET)
    calm = measured(slow_every=10, slow_in=1, pressure=(0.05,) * 6)  # the same tail, no rush
    with pytest.raises(Failure, match="p99 latency"):
        expect.within_budget(calm, BUDGET)


def test_a_report_with_saturated_seconds_survives_its_json() -> None:
    busy = measured(slow_every=10, slow_in=1, pressure=(0.05, 0.9, 0.05, 0.05, 0.05, 0.05))
    again = LoadReport.from_dict(busy.to_dict())
    assert again == busy
    assert again.seconds[1].cpu_pressure == 0.9


def test_each_second_s_pressure_is_read_from_the_marks_around_it_and_merged_by_the_worst() -> None:
    from labctl.load._tally import merge, second_pressure

    marks = [(0, 10.0, 5.0), (1, 11.0, 5.1), (2, 12.0, 6.0), (3, 12.5, 6.1)]
    shares = second_pressure([*marks, (4, 12.5, None)])
    assert shares == pytest.approx({0: 0.1, 1: 0.9, 2: 0.2})
    first, second = Tally(second_pressure={0: 0.1, 1: 0.9}), Tally(second_pressure={0: 0.6})
    merged = merge([first.to_wire(), second.to_wire()])
    assert merged.second_pressure == {0: 0.6, 1: 0.9}
