"""A cohort's results as one table: a row per submission (its result JSON, or why there is
none), the union of their stages, and the load figures found in them. Plain data, read by the
cohort reports; ``labctl.run.cohort`` fills it by grading, ``labctl report merge`` from files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Aggregate", "Row", "p99_ms", "stage_of"]


@dataclass(frozen=True)
class Row:
    """One submission's line in the aggregate: its result JSON, or why there is none."""

    name: str
    result: dict[str, Any] | None
    problem: str = ""


@dataclass(frozen=True)
class Aggregate:
    rows: tuple[Row, ...]
    stages: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, rows: Sequence[Row]) -> Aggregate:
        stages: dict[str, None] = {}
        for row in rows:
            for stage in (row.result or {}).get("stages", ()):
                stages.setdefault(stage["slug"], None)
        return cls(tuple(sorted(rows, key=lambda r: r.name)), tuple(stages))

    def p99_stages(self) -> tuple[str, ...]:
        """Stages for which some result carries a p99 figure (load stages)."""
        return tuple(s for s in self.stages if any(p99_ms(r, s) is not None for r in self.rows))


def stage_of(row: Row, slug: str) -> dict[str, Any] | None:
    stages = (row.result or {}).get("stages", ())
    return next((s for s in stages if s.get("slug") == slug), None)


def p99_ms(row: Row, slug: str) -> float | None:
    """The first p99 latency found anywhere in a stage's data (``p99_ms``, or ``p99_s``)."""
    stage = stage_of(row, slug)
    for key, value in _walk(stage or {}):
        if isinstance(value, int | float) and not isinstance(value, bool):
            if key in ("p99_ms", "p99"):
                return float(value)
            if key == "p99_s":
                return float(value) * 1000
    return None


def _walk(data: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(data, list):
        for value in data:
            yield from _walk(value)
