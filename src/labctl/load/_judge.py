"""From the merged tally to a ``LoadReport``, and whether the generator held its schedule.

The generator judges itself before anyone judges the service: when its sends fell behind the
schedule or a worker's CPU was pegged, latency from the intended send time partly measures the
generator, so the verdict is ``inconclusive`` with the reasons, never a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from labctl._pressure import PRESSURE_LIMIT
from labctl.load._model import (
    ERROR_KINDS,
    VERDICT_INCONCLUSIVE,
    VERDICT_OK,
    Generator,
    LoadReport,
    Percentiles,
    Scenario,
    Second,
)
from labctl.load._tally import Tally, histogram

# Sends that left this late at the 99th percentile: the generator did not hold the schedule.
# (A busy machine's scheduler alone delays a few percent of wake-ups by several ms: that is
# jitter, reported as late sends, and judged against each budget by the expect helpers.)
LAG_P99_LIMIT_MS = 50.0
CPU_PEGGED = 0.90  # a worker using this share of a core has no room left to keep time
# Some task waited for a CPU this share of the time: the machine (service, dependencies and
# generator share it) was saturated, so latency measures the machine, not the service.
MISSING_LIMIT = 0.01  # slots never sent (a worker lost, a run cut short)


@dataclass(frozen=True)
class Plan:
    url: str
    scenario: Scenario
    rate: float
    duration_s: float
    warmup_s: float

    @property
    def measured_slots(self) -> int:
        return round(self.rate * (self.warmup_s + self.duration_s)) - round(
            self.rate * self.warmup_s
        )


def report(plan: Plan, tally: Tally) -> LoadReport:
    tally.flush()
    reasons = saturation(plan, tally)
    busy = {t for t in tally.seconds if tally.second_pressure.get(t, -1.0) > PRESSURE_LIMIT}
    answered = tally.sent - sum(tally.errors.values())
    span = max(tally.last_done - tally.first_slot, plan.duration_s) if tally.sent else 0.0
    return LoadReport(
        url=plan.url,
        offered_rps=plan.rate,
        achieved_rps=round(answered / span, 2) if span else 0.0,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
        sent=tally.sent,
        late_sends=tally.late,
        errors={kind: tally.errors.get(kind, 0) for kind in ERROR_KINDS},
        status_codes=dict(sorted(tally.status_codes.items())),
        latency_ms=percentiles(tally.intended),
        service_latency_ms=percentiles(tally.actual),
        send_lag_ms=percentiles(tally.lag),
        seconds=tuple(_second(t, tally) for t in sorted(tally.seconds)),
        distribution=distribution(tally.intended),
        generator=Generator(
            processes=tally.workers,
            cpu_s=round(tally.cpu_s, 3),
            busiest=round(tally.busiest, 3),
            cpu_ms_per_request=round(1000 * tally.cpu_s / tally.sent, 4) if tally.sent else 0.0,
            cpu_pressure=round(tally.pressure, 3),
        ),
        verdict=VERDICT_INCONCLUSIVE if reasons else VERDICT_OK,
        reasons=tuple(reasons),
        started_at=tally.first_slot if tally.sent else 0.0,
        calm_latency_ms=calm_latency(tally, busy),
        saturated_seconds=len(busy),
    )


def calm_latency(tally: Tally, busy: set[int]) -> Percentiles | None:
    """Latency over the seconds clear of CPU saturation, if some (``busy``) were saturated
    (None when none was, or no second was clear): a second of contention (another program
    starting, a build) can carry a whole run's p99. The seconds either side of a saturated one
    are not clear: contention that starts late in a second shows in its figures more than in
    its pressure, and the requests it held up are answered in the next."""
    near = {t + d for t in busy for d in (-1, 0, 1)}
    calm = [sec.hist for t, sec in tally.seconds.items() if t not in near]
    if not busy or not calm:
        return None
    merged = histogram()
    for hist in calm:
        merged.add(hist)
    return percentiles(merged)


def saturation(plan: Plan, tally: Tally) -> list[str]:
    """Why the generator could not hold the schedule; empty when it did."""
    reasons = []
    expected = plan.measured_slots
    if tally.sent < expected * (1 - MISSING_LIMIT):
        reasons.append(f"the generator sent {tally.sent} of the {expected} scheduled requests")
    lag_p99 = float(tally.lag.get_value_at_percentile(99)) / 1000 if tally.sent else 0.0
    if lag_p99 > LAG_P99_LIMIT_MS:
        reasons.append(
            f"the generator fell behind: 1% of its sends left more than {lag_p99:.0f} ms after "
            f"their slot (limit {LAG_P99_LIMIT_MS:g} ms)"
        )
    if tally.busiest > CPU_PEGGED:
        reasons.append(
            f"the generator's CPU was pegged: a worker used {tally.busiest:.0%} of a core "
            f"(limit {CPU_PEGGED:.0%}); lower the rate or give it more cores"
        )
    if tally.pressure > PRESSURE_LIMIT:
        reasons.append(
            f"the machine's CPUs were saturated: some task waited for a CPU {tally.pressure:.0%} "
            f"of the time (limit {PRESSURE_LIMIT:.0%}); run again on a quieter machine"
        )
    return reasons


def percentiles(hist: HdrHistogram) -> Percentiles:
    if hist.get_total_count() == 0:
        return Percentiles()

    def ms(p: float) -> float:
        return round(float(hist.get_value_at_percentile(p)) / 1000, 3)

    return Percentiles(
        ms(50), ms(90), ms(99), ms(99.9), round(float(hist.get_max_value()) / 1000, 3)
    )


def distribution(hist: HdrHistogram) -> tuple[tuple[float, int], ...]:
    """Request counts in logarithmic latency buckets (x1.25 from 50 µs), empty buckets left out."""
    if hist.get_total_count() == 0:
        return ()
    buckets = []
    for item in hist.get_log_iterator(50, 1.25):
        if item.count_added_in_this_iter_step:
            bound = round(item.value_iterated_to / 1000, 3)
            buckets.append((bound, int(item.count_added_in_this_iter_step)))
    return tuple(buckets)


def _second(t: int, tally: Tally) -> Second:
    sec = tally.seconds[t]
    p = percentiles(sec.hist)
    return Second(
        t=t,
        sent=sec.sent,
        errors=sec.errors,
        late=sec.late,
        p50_ms=p.p50,
        p99_ms=p.p99,
        max_ms=p.max,
        cpu_pressure=round(tally.second_pressure.get(t, -1.0), 3),
    )
