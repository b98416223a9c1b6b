"""The ``load`` fixture: open-model load against the learner's service, from a grader.

    def test_redirects_hold_their_budget(load, lab):
        budget = lab.budget("latency")
        report = load.run(Scenario.get("/abc", "/def", ok_status=[302]), budget=budget)
        expect.within_budget(report, budget)

The engine runs in child processes (``labctl.load``); the grader gets a plain ``LoadReport``.
Every report is also kept on the check's result, so the HTML report can plot it.
"""

from __future__ import annotations

from collections.abc import Callable

from labctl.load import LoadReport, Scenario
from labctl.load import run as run_load
from labctl.model.lab import Budget


class Load:
    def __init__(self, url: str, on_report: Callable[[LoadReport], None]) -> None:
        self.url = url
        self._on_report = on_report

    def run(
        self,
        scenario: Scenario,
        *,
        rate: float | None = None,
        duration: float | None = None,
        warmup: float | None = None,
        budget: Budget | None = None,
        processes: int | None = None,
    ) -> LoadReport:
        """Send ``scenario`` at ``rate`` req/s for ``duration`` s (or the ``budget``'s figures)."""
        rate = rate if rate is not None else budget.rate if budget else None
        duration = duration if duration is not None else budget.duration_s if budget else None
        if rate is None or duration is None:
            raise TypeError("load.run() needs rate= and duration=, or budget=")
        if warmup is None:
            warmup = budget.warmup_s if budget else 1.0
        report = run_load(
            self.url, scenario, rate=rate, duration_s=duration, warmup_s=warmup, processes=processes
        )
        self._on_report(report)
        return report
