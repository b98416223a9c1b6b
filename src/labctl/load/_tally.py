"""One worker's record of the measured window, and the merge of every worker's record.

A ``Tally`` holds HdrHistograms in microseconds (3 significant figures): latency from the
intended send time, latency from the actual send time, and one intended-time histogram per
second. ``to_wire()`` encodes it for locust's message channel; ``merge()`` adds the workers'
tallies together, the way HdrHistogram is meant to be combined (never averaging percentiles).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # an hour: nothing a bounded run can exceed
DIGITS = 3
LATE_US = 1000  # a send that left more than 1 ms after its slot is late


def histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def _bucket(seconds: float) -> int:
    """The lowest value HdrHistogram (3 significant figures, 2048 sub-buckets) files
    ``seconds`` under, in µs: counting these in a dict costs a fraction of a record_value()
    call per request. Kept in one function: it runs three times per request."""
    us = round(seconds * 1e6)
    if us < LOWEST_US:
        return LOWEST_US
    if us > HIGHEST_US:
        us = HIGHEST_US
    shift = us.bit_length() - 11
    return (us >> shift) << shift if shift > 0 else us


class _Counts(Counter[int]):
    def drain_into(self, hist: HdrHistogram) -> None:
        for value, count in self.items():
            hist.record_value(value, count)
        self.clear()


@dataclass
class Second:
    sent: int = 0
    errors: int = 0
    late: int = 0
    hist: HdrHistogram = field(default_factory=histogram)
    counts: _Counts = field(default_factory=_Counts)  # not yet in ``hist``


@dataclass
class Tally:
    intended: HdrHistogram = field(default_factory=histogram)
    actual: HdrHistogram = field(default_factory=histogram)
    lag: HdrHistogram = field(default_factory=histogram)
    seconds: dict[int, Second] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    status_codes: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    late: int = 0
    first_slot: float = float("inf")  # wall-clock bounds of the window, epoch seconds
    last_done: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    workers: int = 1
    busiest: float = 0.0
    pressure: float = -1.0  # share of the window some task waited for a CPU (-1: unknown)
    second_pressure: dict[int, float] = field(default_factory=dict)  # the same, second by second
    # Per-request values are counted here and go into the histograms in flush(), once.
    pending: tuple[_Counts, _Counts, _Counts] = field(
        default_factory=lambda: (_Counts(), _Counts(), _Counts())
    )

    def record(self, second: int, lag_s: float, latency_s: float, service_s: float) -> None:
        """One measured request: its slot's second, send lag, and both latencies."""
        self.sent += 1
        sec = self.seconds.get(second) or self.seconds.setdefault(second, Second())
        sec.sent += 1
        latency = _bucket(latency_s)
        sec.counts[latency] += 1
        intended, actual, lag = self.pending
        intended[latency] += 1
        actual[_bucket(service_s)] += 1
        lag[_bucket(lag_s)] += 1
        if lag_s * 1e6 > LATE_US:
            self.late += 1
            sec.late += 1

    def flush(self) -> None:
        """Move the counted values into the HdrHistograms."""
        for counts, hist in zip(self.pending, (self.intended, self.actual, self.lag), strict=True):
            counts.drain_into(hist)
        for sec in self.seconds.values():
            sec.counts.drain_into(sec.hist)

    def error(self, second: int, kind: str, status: int = 0) -> None:
        self.errors[kind] += 1
        self.seconds.setdefault(second, Second()).errors += 1
        if status:
            self.status_codes[str(status)] += 1

    def answered(self, status: int) -> None:
        self.status_codes[str(status)] += 1

    def to_wire(self) -> dict[str, Any]:
        self.flush()
        return {
            "intended": _enc(self.intended),
            "actual": _enc(self.actual),
            "lag": _enc(self.lag),
            "seconds": {
                str(t): [s.sent, s.errors, s.late, _enc(s.hist)] for t, s in self.seconds.items()
            },
            "errors": dict(self.errors),
            "status_codes": dict(self.status_codes),
            "sent": self.sent,
            "late": self.late,
            "first_slot": self.first_slot,
            "last_done": self.last_done,
            "cpu_s": self.cpu_s,
            "wall_s": self.wall_s,
            "pressure": self.pressure,
            "second_pressure": {str(t): p for t, p in self.second_pressure.items()},
        }


def merge(wires: Iterable[Mapping[str, Any]]) -> Tally:
    """Every worker's tally added into one; ``busiest`` keeps the most loaded worker's share."""
    total = Tally(workers=0)
    for wire in wires:
        total.workers += 1
        total.intended.decode_and_add(wire["intended"])
        total.actual.decode_and_add(wire["actual"])
        total.lag.decode_and_add(wire["lag"])
        for t, (sent, errors, late, enc) in wire["seconds"].items():
            sec = total.seconds.setdefault(int(t), Second())
            sec.sent, sec.errors, sec.late = sec.sent + sent, sec.errors + errors, sec.late + late
            sec.hist.decode_and_add(enc)
        total.errors.update(wire["errors"])
        total.status_codes.update(wire["status_codes"])
        total.sent += wire["sent"]
        total.late += wire["late"]
        total.first_slot = min(total.first_slot, wire["first_slot"])
        total.last_done = max(total.last_done, wire["last_done"])
        total.cpu_s += wire["cpu_s"]
        total.wall_s = max(total.wall_s, wire["wall_s"])
        total.pressure = max(total.pressure, wire.get("pressure", -1.0))
        for t, p in wire.get("second_pressure", {}).items():  # workers on several machines
            total.second_pressure[int(t)] = max(total.second_pressure.get(int(t), -1.0), p)
        if wire["wall_s"] > 0:
            total.busiest = max(total.busiest, wire["cpu_s"] / wire["wall_s"])
    return total


def second_pressure(marks: list[tuple[int, float, float | None]]) -> dict[int, float]:
    """Each second's share of time some task waited for a CPU, from readings taken at the
    first slot of each second (and one at the end)."""
    shares = {}
    for (t, at0, wait0), (_, at1, wait1) in itertools.pairwise(marks):
        if wait0 is not None and wait1 is not None and at1 > at0:
            shares[t] = min(1.0, (wait1 - wait0) / (at1 - at0))
    return shares


def _enc(hist: HdrHistogram) -> str:
    encoded: bytes = hist.encode()
    return encoded.decode("ascii")
