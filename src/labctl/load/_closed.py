"""A closed-model load run judged from its history: clients that each send their next request as
soon as their last one was answered, every request an ``Op`` (``labctl.history``).

``closed_report()`` turns the measured operations into a ``LoadReport``, so the budget helpers
(``expect.within_budget``), their fairness rules and the reports treat it as they treat the
load engine's open-model runs. In a closed model a request cannot be late for a schedule, but
a client can be slow to send it: the gap between a client's answer and its next request is the
generator's lag (``send_lag_ms``). When those gaps grew, the grader's own CPU was pegged or the
machine's CPUs were saturated, the verdict is ``inconclusive``.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from labctl._pressure import PRESSURE_LIMIT
from labctl.history._ops import Op
from labctl.load._model import Generator, LoadReport, Percentiles, Second

GAP_P99_LIMIT_MS = 50.0  # a client this slow to send its next request: the grader fell behind
CPU_PEGGED = 0.90  # the grader's clients share one interpreter: this much of a core is all of it
LATE_MS = 1.0  # a send this long after the client's last answer counts as late


@dataclass(frozen=True)
class ClosedRun:
    """What the runner measured besides the operations themselves."""

    url: str
    clients: int
    started_s: float  # on the history's clock: the first request of the warm-up
    warmup_s: float
    duration_s: float
    cpu_s: float = 0.0  # the grader process's CPU over the measured window
    pressure: float = -1.0  # share of the window some task waited for a CPU (-1: unknown)
    second_pressure: Mapping[int, float] | None = None  # the same per measured second


def closed_report(
    ops: Iterable[Op], run: ClosedRun, *, answered: Callable[[Op], bool]
) -> LoadReport:
    """The ``LoadReport`` of the operations of ``run`` invoked in its measured window;
    ``answered(op)`` says whether an op got the answer it should (else: a status error)."""
    begin = run.started_s + run.warmup_s
    measured = [op for op in ops if begin <= op.start_s < begin + run.duration_s]
    pressure = dict(run.second_pressure or {})
    by_second: dict[int, list[Op]] = defaultdict(list)
    for op in measured:
        by_second[int(op.start_s - begin)].append(op)
    gaps = _gaps(ops, begin, run.duration_s)
    errors, statuses = _errors(measured, answered)
    busy = {t for t, share in pressure.items() if share > PRESSURE_LIMIT}
    latency = [_latency_ms(op) for op in measured]
    reasons = _reasons(run, gaps)
    return LoadReport(
        url=run.url,
        offered_rps=round(len(measured) / run.duration_s, 2),
        achieved_rps=round((len(measured) - sum(errors.values())) / run.duration_s, 2),
        duration_s=run.duration_s,
        warmup_s=run.warmup_s,
        sent=len(measured),
        late_sends=sum(1 for g in gaps if g > LATE_MS),
        errors=errors,
        status_codes=dict(sorted(statuses.items())),
        latency_ms=percentiles(latency),
        service_latency_ms=percentiles(latency),
        send_lag_ms=percentiles(gaps),
        seconds=tuple(
            _second(t, by_second[t], answered, gaps_of(by_second[t], ops), pressure)
            for t in sorted(by_second)
        ),
        distribution=distribution(latency),
        generator=Generator(
            processes=1,
            cpu_s=round(run.cpu_s, 3),
            busiest=round(run.cpu_s / run.duration_s, 3),
            cpu_ms_per_request=round(1000 * run.cpu_s / len(measured), 4) if measured else 0.0,
            cpu_pressure=round(run.pressure, 3),
        ),
        verdict="inconclusive" if reasons else "ok",
        reasons=tuple(reasons),
        calm_latency_ms=_calm(by_second, busy),
        saturated_seconds=len(busy),
        clients=run.clients,
    )


def percentiles(values_ms: Sequence[float]) -> Percentiles:
    """Exact percentiles (nearest rank) of a list of milliseconds."""
    if not values_ms:
        return Percentiles()
    ordered = sorted(values_ms)

    def at(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 3)

    return Percentiles(at(50), at(90), at(99), at(99.9), round(ordered[-1], 3))


def distribution(values_ms: Iterable[float]) -> tuple[tuple[float, int], ...]:
    """Counts in logarithmic buckets (x1.25 from 50 µs), as the load engine reports them."""
    counts: dict[int, int] = defaultdict(int)
    for ms in values_ms:
        counts[max(0, math.ceil(math.log(max(ms, 0.05) / 0.05, 1.25)))] += 1
    return tuple((round(0.05 * 1.25**i, 3), counts[i]) for i in sorted(counts))


def gaps_of(chosen: Sequence[Op], ops: Iterable[Op]) -> list[float]:
    """How long each of ``chosen`` was sent after its client's previous answer, in ms."""
    wanted = {op.index for op in chosen}
    return [gap for index, gap in _client_gaps(ops) if index in wanted]


def _gaps(ops: Iterable[Op], begin: float, duration_s: float) -> list[float]:
    inside = [op for op in ops if begin <= op.start_s < begin + duration_s]
    return gaps_of(inside, ops)


def _client_gaps(ops: Iterable[Op]) -> list[tuple[int, float]]:
    by_client: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_client[op.process].append(op)
    gaps = []
    for mine in by_client.values():
        mine.sort(key=lambda op: op.start_s)
        for before, op in itertools.pairwise(mine):
            if before.end_s is not None:
                gaps.append((op.index, max(0.0, (op.start_s - before.end_s) * 1000)))
    return gaps


def _latency_ms(op: Op) -> float:
    return 1000 * ((op.end_s if op.end_s is not None else op.start_s) - op.start_s)


def _errors(
    ops: Iterable[Op], answered: Callable[[Op], bool]
) -> tuple[dict[str, int], dict[str, int]]:
    errors = {"status": 0, "timeout": 0, "connection": 0}
    statuses: dict[str, int] = defaultdict(int)
    for op in ops:
        if op.outcome.uncertain:
            errors["timeout" if op.result == "timeout" else "connection"] += 1
            continue
        status = op.result.get("status") if isinstance(op.result, Mapping) else None
        if status is not None:
            statuses[str(status)] += 1
        if not answered(op):
            errors["status"] += 1
    return errors, dict(statuses)


def _reasons(run: ClosedRun, gaps: Sequence[float]) -> list[str]:
    reasons = []
    gap_p99 = percentiles(gaps).p99
    if gap_p99 > GAP_P99_LIMIT_MS:
        reasons.append(
            f"the grader's clients fell behind: 1% of their requests left more than "
            f"{gap_p99:.0f} ms after the answer before (limit {GAP_P99_LIMIT_MS:g} ms)"
        )
    if run.cpu_s / run.duration_s > CPU_PEGGED:
        reasons.append(
            f"the grader's clients were CPU-bound: {run.cpu_s / run.duration_s:.0%} of a core "
            f"(limit {CPU_PEGGED:.0%})"
        )
    if run.pressure > PRESSURE_LIMIT:
        reasons.append(
            f"the machine's CPUs were saturated: some task waited for a CPU {run.pressure:.0%} "
            f"of the time (limit {PRESSURE_LIMIT:.0%}); run again on a quieter machine"
        )
    return reasons


def _second(
    t: int,
    ops: Sequence[Op],
    answered: Callable[[Op], bool],
    gaps: Sequence[float],
    pressure: Mapping[int, float],
) -> Second:
    p = percentiles([_latency_ms(op) for op in ops])
    errors = sum(1 for op in ops if op.outcome.uncertain or not answered(op))
    return Second(
        t=t,
        sent=len(ops),
        errors=errors,
        late=sum(1 for g in gaps if g > LATE_MS),
        p50_ms=p.p50,
        p99_ms=p.p99,
        max_ms=p.max,
        cpu_pressure=round(pressure.get(t, -1.0), 3),
    )


def _calm(by_second: Mapping[int, Sequence[Op]], busy: set[int]) -> Percentiles | None:
    """Latency over the seconds clear of CPU saturation (and of their neighbours), as the load
    engine computes it; None when no second was saturated or none was clear."""
    near = {t + d for t in busy for d in (-1, 0, 1)}
    calm = [_latency_ms(op) for t, ops in by_second.items() if t not in near for op in ops]
    return percentiles(calm) if busy and calm else None
