"""The ``load`` fixture: open-model load against the learner's service, from a grader.

    def test_redirects_hold_their_budget(load, lab):
        budget = lab.budget("latency")
        report = load.run(Scenario.get("/abc", "/def", ok_status=[302]), budget=budget)
        expect.within_budget(report, budget)

The engine runs in child processes (``labctl.load``); the grader gets a plain ``LoadReport``.
``load.closed(step, budget=..., history=...)`` is the closed model instead (a budget with
``clients``): the grader's own threads, every request recorded in a ``History`` and the report
made from it. Every report is also kept on the check's result, so the HTML report can plot it.
"""

from __future__ import annotations

import math
import resource
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from labctl._pressure import PressureClock
from labctl.grading.http import Http
from labctl.history import History, Op
from labctl.load import ClosedRun, LoadReport, Scenario, closed_report
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

    def closed(
        self,
        step: Callable[[Http, str], object],
        *,
        budget: Budget,
        history: History,
        answered: Callable[[Op], bool],
        timeout_s: float = 5.0,
    ) -> LoadReport:
        """A closed model from the grader itself: ``budget.clients`` threads, each with its own
        connection, calling ``step(http, client)`` again as soon as it returns, for the budget's
        warm-up and duration. ``step`` records one operation in ``history`` as ``client`` (and
        must not raise when the service does not answer: record ``info``). The report is
        judged from that history (``labctl.load.closed_report``) and kept on the check."""
        if budget.clients < 1:
            raise TypeError(f"budget {budget.name!r} has no clients: use load.run() for it")
        started = history.now()
        stop_at = time.monotonic() + budget.warmup_s + budget.duration_s
        clock, sampler = PressureClock(), _Sampler(budget.warmup_s, budget.duration_s)

        def client(name: str) -> None:
            with Http(self.url, timeout_s=timeout_s) as http:
                while time.monotonic() < stop_at:
                    step(http, name)
                    clock.mark()

        names = [f"client-{i}" for i in range(budget.clients)]
        with sampler.running(clock), ThreadPoolExecutor(budget.clients) as pool:
            list(pool.map(client, names))
        run = ClosedRun(
            url=self.url,
            clients=budget.clients,
            started_s=started,
            warmup_s=budget.warmup_s,
            duration_s=budget.duration_s,
            cpu_s=sampler.cpu_s,
            pressure=sampler.pressure,
            second_pressure=sampler.seconds,
        )
        report = closed_report(history.ops(), run, answered=answered)
        self._on_report(report)
        return report


class _Sampler:
    """The grader's CPU and the machine's CPU pressure over the measured window of a closed
    run, and per measured second."""

    def __init__(self, warmup_s: float, duration_s: float) -> None:
        self.warmup_s, self.duration_s = warmup_s, duration_s
        self.cpu_s, self.pressure = 0.0, -1.0
        self.seconds: dict[int, float] = {}
        self._done = threading.Event()

    @contextmanager
    def running(self, clock: PressureClock) -> Iterator[None]:
        thread = threading.Thread(target=self._sample, args=(clock,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._done.set()
            thread.join()

    def _sample(self, clock: PressureClock) -> None:
        begin = time.monotonic() + self.warmup_s
        if self._done.wait(self.warmup_s):
            return
        cpu0 = _cpu_s()
        clock.start()
        for t in range(math.ceil(self.duration_s)):
            end = begin + min(t + 1, self.duration_s)
            while not self._done.wait(min(0.1, max(0.0, end - time.monotonic()))):
                clock.mark()
                if time.monotonic() >= end:
                    break
            self.seconds[t] = clock.span(begin + t, end)
            if self._done.is_set():
                break
        self.cpu_s = _cpu_s() - cpu0
        self.pressure = clock.span(begin, begin + self.duration_s)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
