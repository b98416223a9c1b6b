"""Budget assertions on a ``LoadReport``, re-exported by ``expect``.

Never a failure the service might not deserve: a report whose load was not sent in full raises
``Inconclusive`` before any budget is judged; a budget met passes even if the run was
inconclusive (a slow generator or a saturated machine only makes figures worse); a budget
missed on an inconclusive run, a p99 whose excess the generator's own send lag could explain,
or a p99 within budget once the seconds when the machine's CPUs were saturated are left out, is
``Inconclusive`` too. Every failure shows the percentile table and the worst
seconds.
"""

from __future__ import annotations

from labctl.errors import Failure, Inconclusive
from labctl.load import LoadReport, percentile_table, summary, worst_seconds
from labctl.model.lab import Budget


def schedule_held(report: LoadReport) -> None:
    """The load was sent in full, so the service's figures can be judged at all."""
    if report.underloaded:
        raise Inconclusive("no verdict: " + "; ".join(report.reasons), details=summary(report))


def _fair_to_fail(report: LoadReport, missed: str) -> None:
    """A missed budget is the service's only if the generator and the machine kept up."""
    if report.inconclusive:
        raise Inconclusive(
            f"no verdict: {missed}, but " + "; ".join(report.reasons), details=summary(report)
        )


def p99_at_most(report: LoadReport, budget_ms: float) -> None:
    schedule_held(report)
    got = report.latency_ms.p99
    if got <= budget_ms:
        return
    _fair_to_fail(report, f"p99 was {got:.1f} ms (budget {budget_ms:g} ms)")
    calm = report.calm_latency_ms
    if report.saturated_seconds and (calm is None or calm.p99 <= budget_ms):
        # The saturated seconds (and those next to them) carry the excess, or nothing is clear.
        rest = f"the other seconds' p99 is {calm.p99:.1f} ms" if calm else "no second was clear"
        raise Inconclusive(
            f"no verdict: p99 was {got:.1f} ms (budget {budget_ms:g} ms), but the machine's "
            f"CPUs were saturated for {report.saturated_seconds} of its {len(report.seconds)} "
            f"seconds, and {rest}; run again on a quieter machine",
            details=summary(report),
        )
    lag = report.send_lag_ms.p99
    if got - lag <= budget_ms:  # the generator's own lateness could account for the excess
        raise Inconclusive(
            f"no verdict: p99 was {got:.1f} ms (budget {budget_ms:g} ms), but the generator's "
            f"own sends were up to {lag:.1f} ms late (p99), enough to explain the difference",
            details=summary(report),
        )
    raise _failure(
        report,
        f"p99 latency {_load_of(report)} was {got:.1f} ms",
        expected=f"p99 ≤ {budget_ms:g} ms",
        got=f"p99 = {got:.1f} ms (p50 {report.latency_ms.p50:.1f} ms)",
        hint=_slow_hint(report),
    )


def error_rate_at_most(report: LoadReport, limit: float) -> None:
    schedule_held(report)
    if report.error_rate <= limit:
        return
    _fair_to_fail(report, f"the error rate was {report.error_rate:.2%}")
    kinds = ", ".join(f"{n} {kind}" for kind, n in report.errors.items() if n)
    raise _failure(
        report,
        f"{report.error_count} of {report.sent} requests under load went wrong ({kinds})",
        expected=f"error rate ≤ {limit:.2%}",
        got=f"{report.error_rate:.2%}; statuses: {dict(report.status_codes)}",
        hint="under load every request must still get its normal answer: look at your "
        "service's log for errors, and at pool and queue limits",
    )


def achieved_rate_at_least(report: LoadReport, rps: float) -> None:
    schedule_held(report)
    if report.achieved_rps >= rps:
        return
    _fair_to_fail(report, f"{report.achieved_rps:g} req/s were answered (budget {rps:g})")
    raise _failure(
        report,
        f"the service answered {report.achieved_rps:g} req/s with {report.clients} concurrent "
        "clients"
        if report.clients
        else f"the service answered {report.achieved_rps:g} of {report.offered_rps:g} req/s",
        expected=f"at least {rps:g} req/s answered",
        got=f"{report.achieved_rps:g} req/s",
        hint="requests queue up faster than they are answered: the service cannot keep up "
        "with this rate (a lock, a single connection, a synchronous call per request?)",
    )


def within_budget(report: LoadReport, budget: Budget) -> None:
    """Every figure of ``budget``: errors, then achieved rate, then p99."""
    error_rate_at_most(report, budget.max_error_rate)
    achieved_rate_at_least(report, budget.min_achieved_rps)
    p99_at_most(report, budget.p99_ms)


def _failure(
    report: LoadReport, summary_line: str, *, expected: str, got: str, hint: str
) -> Failure:
    text = "\n".join([summary_line, percentile_table(report), worst_seconds(report)])
    return Failure(text, expected=expected, got=got, hint=hint)


def _load_of(report: LoadReport) -> str:
    if report.clients:
        return f"with {report.clients} concurrent clients"
    return f"at {report.offered_rps:g} req/s"


def _slow_hint(report: LoadReport) -> str:
    if report.latency_ms.p50 * 10 < report.latency_ms.p99:
        return (
            "most requests are fast but a few are far slower: look for something that happens "
            "on some requests only (a lock, a cache miss, a synchronous call, a retry)"
        )
    return "every request is slow at this rate: profile one request and remove its slowest step"
