"""Operations, the recorder that collects them, and the anomaly a checker reports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

_EXCERPT_OPS = 20  # an anomaly's excerpt shows at most this many operations
_VALUE_CHARS = 120


class Outcome(StrEnum):
    OK = "ok"  # it happened
    FAIL = "fail"  # it certainly did not happen
    INFO = "info"  # no answer: it may or may not have happened
    PENDING = "pending"  # still in flight when the history was read (checkers treat it as info)

    @property
    def uncertain(self) -> bool:
        return self in (Outcome.INFO, Outcome.PENDING)


@dataclass(frozen=True)
class Op:
    """One operation: who did what, when it was invoked and completed, and how it ended.

    ``start_s``/``end_s`` are seconds since the history's origin; ``end_s`` is None while the
    operation is pending and for an ``info`` whose time of giving up was not recorded."""

    index: int
    process: str
    f: str
    value: Any
    start_s: float
    end_s: float | None = None
    outcome: Outcome = Outcome.PENDING
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    def describe(self) -> str:
        """``#12 client-3 transfer {"from": ...} 0.412-0.419 s -> ok {"id": "t1"}``"""
        end = "..." if self.end_s is None else f"{self.end_s:.3f}"
        text = f"#{self.index} {self.process} {self.f}"
        if self.value is not None:
            text += f" {_short(self.value)}"
        text += f" {self.start_s:.3f}-{end} s -> {self.outcome.value}"
        if self.result is not None:
            text += f" {_short(self.result)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "process": self.process,
            "f": self.f,
            "value": _plain(self.value),
            "start_s": round(self.start_s, 6),
            "end_s": None if self.end_s is None else round(self.end_s, 6),
            "outcome": self.outcome.value,
            "result": _plain(self.result),
        }


class Pending:
    """An invoked operation; call exactly one of ``ok``/``fail``/``info`` when it completes."""

    def __init__(self, history: History, op: Op) -> None:
        self._history = history
        self.op = op

    def ok(self, result: Any = None) -> Op:
        return self._history._complete(self.op, Outcome.OK, result)

    def fail(self, result: Any = None) -> Op:
        return self._history._complete(self.op, Outcome.FAIL, result)

    def info(self, result: Any = None) -> Op:
        return self._history._complete(self.op, Outcome.INFO, result)


class History:
    """A thread-safe recorder of operations (threads and asyncio tasks alike)."""

    def __init__(self, origin: float | None = None) -> None:
        self.origin = time.monotonic() if origin is None else origin
        self._lock = threading.Lock()
        self._ops: list[Op] = []

    def now(self) -> float:
        """Seconds since the history began."""
        return time.monotonic() - self.origin

    def invoke(self, process: str, f: str, value: Any = None) -> Pending:
        with self._lock:
            op = Op(len(self._ops), process, f, value, self.now())
            self._ops.append(op)
        return Pending(self, op)

    def record(
        self,
        process: str,
        f: str,
        value: Any,
        *,
        start_s: float,
        end_s: float | None,
        outcome: Outcome,
        result: Any = None,
    ) -> Op:
        """An operation whose times were measured elsewhere (seconds since this origin)."""
        with self._lock:
            op = Op(len(self._ops), process, f, value, start_s, end_s, outcome, result)
            self._ops.append(op)
        return op

    def ops(self) -> tuple[Op, ...]:
        """Every operation so far, ordered by invocation time (pending ones included)."""
        with self._lock:
            ops = list(self._ops)
        return tuple(sorted(ops, key=lambda op: (op.start_s, op.index)))

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def _complete(self, op: Op, outcome: Outcome, result: Any) -> Op:
        done = replace(op, end_s=self.now(), outcome=outcome, result=result)
        with self._lock:
            if self._ops[op.index].outcome is not Outcome.PENDING:
                raise RuntimeError(f"operation #{op.index} completed twice")
            self._ops[op.index] = done
        return done


@dataclass(frozen=True)
class Anomaly:
    """A rule the history breaks: which, in one sentence, and the operations that show it.

    ``ops`` is the smallest piece of history that proves it (checkers choose it); ``details``
    are extra lines (a snapshot's balances, the arithmetic of a bound)."""

    rule: str
    message: str
    ops: tuple[Op, ...] = ()
    details: tuple[str, ...] = ()

    def excerpt(self, limit: int = _EXCERPT_OPS) -> list[str]:
        lines = list(self.details)
        shown = self.ops[:limit]
        lines += [op.describe() for op in shown]
        if len(self.ops) > limit:
            lines.append(f"... and {len(self.ops) - limit} more operations")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "message": self.message,
            "details": list(self.details),
            "ops": [op.to_dict() for op in self.ops[:_EXCERPT_OPS]],
        }


def overlapping(ops: Iterable[Op], start_s: float, end_s: float) -> list[Op]:
    """The operations whose [start, end] meets [start_s, end_s] (a pending op never ends)."""
    return [op for op in ops if op.start_s <= end_s and (op.end_s is None or op.end_s >= start_s)]


def around(ops: Sequence[Op], op: Op, before: int = 3, after: int = 3) -> list[Op]:
    """``op`` with up to ``before`` operations invoked before it and ``after`` after it."""
    ordered = sorted(ops, key=lambda o: (o.start_s, o.index))
    at = next(i for i, o in enumerate(ordered) if o.index == op.index)
    return ordered[max(0, at - before) : at + after + 1]


def _short(value: Any) -> str:
    text = json.dumps(_plain(value), ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."


def _plain(value: Any) -> Any:
    """JSON-safe: bytes as text, tuples and sets as lists, anything else as its repr."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return repr(value)
