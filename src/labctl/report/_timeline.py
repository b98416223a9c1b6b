"""A check's fault timeline in a few words, for the terminal report.

The timeline itself (``CheckResult.timeline``) is plain data: the faults with their start and end
in seconds since the check began, and the traffic per second. This module summarises it: which
fault ran when, and what the traffic saw during the faults and outside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def summary(timeline: Mapping[str, Any]) -> list[str]:
    """One line for the faults, one for the traffic (if any)."""
    faults = timeline.get("faults", [])
    traffic = timeline.get("traffic", [])
    lines = []
    if faults:
        lines.append("faults: " + "; ".join(_fault(f) for f in faults))
    if traffic:
        windows = [(f["start_s"], f["end_s"]) for f in faults if f.get("end_s") is not None]
        during = [row for row in traffic if _within(row["t_s"], windows)]
        outside = [row for row in traffic if not _within(row["t_s"], windows)]
        parts = [f"during faults {_traffic(during)}"] if during else []
        parts.append(f"{'otherwise ' if during else ''}{_traffic(outside)}")
        lines.append("traffic: " + "; ".join(parts))
    return lines


def _fault(fault: Mapping[str, Any]) -> str:
    end = fault.get("end_s")
    span = (
        f"{fault['start_s']:.1f}-{end:.1f} s"
        if end is not None
        else f"from {fault['start_s']:.1f} s"
    )
    detail = f" ({fault['detail']})" if fault.get("detail") else ""
    return f"{fault['kind']} {fault['target']} {span}{detail}"


def _within(second: int, windows: Sequence[tuple[float, float]]) -> bool:
    """Whether the second [second, second+1) overlaps any fault window."""
    return any(second < end and second + 1 > start for start, end in windows)


def _traffic(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no requests"
    ok = sum(int(r["ok"]) for r in rows)
    errors = sum(int(r["errors"]) for r in rows)
    worst = max(float(r["p99_ms"]) for r in rows)
    return f"{ok + errors} requests, {errors} errors, worst per-second p99 {worst:.0f} ms"
