"""The load engine: open-model (arrival-rate) load with fair latency, on locust.

    from labctl.load import Scenario, run

    report = run("http://127.0.0.1:8080", Scenario.get("/a", "/b"), rate=200, duration_s=10)
    report.latency_ms.p99, report.error_rate, report.inconclusive

This package is the only code that uses locust, and only in child processes it starts
(``_master``, ``_worker``): locust monkey-patches the process on import. What comes back is a
plain frozen ``LoadReport``. Requests leave on a fixed schedule whatever the service does;
latency counts from each request's intended send time into HdrHistograms merged across worker
processes; when the generator itself falls behind, the verdict is ``inconclusive``.
``closed_report`` judges a closed-model run (clients that send when answered) from its
history instead, into the same ``LoadReport``.
"""

from __future__ import annotations

from labctl.load._closed import ClosedRun, closed_report
from labctl.load._model import Generator, LoadReport, Percentiles, Scenario, Second
from labctl.load._run import default_processes, run
from labctl.load._text import as_json, percentile_table, summary, worst_seconds

__all__ = [
    "ClosedRun",
    "Generator",
    "LoadReport",
    "Percentiles",
    "Scenario",
    "Second",
    "as_json",
    "closed_report",
    "default_processes",
    "percentile_table",
    "run",
    "summary",
    "worst_seconds",
]
