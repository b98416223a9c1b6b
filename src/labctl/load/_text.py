"""A ``LoadReport`` as JSON and as plain text: percentiles, worst seconds, the generator.

Used by ``labctl load`` and by the budget helpers' failure messages, so a learner sees the same
figures in both places.
"""

from __future__ import annotations

import json

from labctl.load._model import LoadReport

SCHEMA = "labctl.load/v1"


def as_json(report: LoadReport) -> bytes:
    """The report as ``labctl.load/v1`` JSON (``labctl load --json``)."""
    return (json.dumps({"schema": SCHEMA, **report.to_dict()}, indent=2) + "\n").encode()


def summary(report: LoadReport) -> str:
    """Rate, errors, percentiles and the generator, a dozen lines."""
    offered = (
        f"by {report.clients} clients (closed model: each sends when answered)"
        if report.clients
        else f"of {report.offered_rps:g} offered"
    )
    lines = [
        f"rate      {report.achieved_rps:g} req/s answered {offered}, "
        f"{report.sent} sent in {report.duration_s:g} s (after {report.warmup_s:g} s warm-up)",
        f"errors    {_errors(report)}",
        percentile_table(report),
        generator_line(report),
    ]
    return "\n".join(lines)


def percentile_table(report: LoadReport) -> str:
    rows = ["latency   from intended send   from actual send"]
    for (name, intended), (_, actual) in zip(
        report.latency_ms.rows(), report.service_latency_ms.rows(), strict=True
    ):
        rows.append(f"  {name:<7} {intended:>12.2f} ms {actual:>15.2f} ms")
    return "\n".join(rows)


def worst_seconds(report: LoadReport, n: int = 3) -> str:
    rows = ["worst seconds (by p99):"]
    for s in report.worst_seconds(n):
        rows.append(
            f"  second {s.t:>3}: p50 {s.p50_ms:.2f} ms, p99 {s.p99_ms:.2f} ms, "
            f"max {s.max_ms:.2f} ms, {s.sent} sent, {s.errors} errors"
            + (f", CPU pressure {s.cpu_pressure:.0%}" if s.cpu_pressure >= 0 else "")
        )
    return "\n".join(rows)


def generator_line(report: LoadReport) -> str:
    g = report.generator
    return (
        f"generator {g.processes} processes, {g.cpu_s:.2f} s CPU "
        f"({g.cpu_ms_per_request:.3f} ms/request, busiest at {g.busiest:.0%} of a core), "
        f"{report.late_sends} late sends (>1 ms), send lag p99 {report.send_lag_ms.p99:.1f} ms"
        + (f", CPU pressure {g.cpu_pressure:.0%}" if g.cpu_pressure >= 0 else "")
    )


def _errors(report: LoadReport) -> str:
    if not report.error_count:
        return "none"
    kinds = ", ".join(f"{n} {kind}" for kind, n in report.errors.items() if n)
    codes = ", ".join(f"{code}×{n}" for code, n in report.status_codes.items())
    return f"{report.error_count} ({report.error_rate:.2%}): {kinds}; statuses {codes}"
