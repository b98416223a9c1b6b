"""The misbehaviour a grader programs into an upstream stub for one check, and its bookkeeping.

Counted rules (fail the next N, hang the next N, run a hook after the next N) are consumed in
arrival order under one lock, so N concurrent calls trigger a rule exactly N times. A hang waits
on an event that ``reset()`` and ``release_hung()`` set, so no stub thread outlives its check.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labctl.upstreams._types import Reply, StubRequest

Action = Callable[[StubRequest, Reply], None]
Match = Callable[[StubRequest, Reply], bool]
HANG_LIMIT_S = 60.0  # a hung call answers nothing; past this it is dropped even without reset()


@dataclass
class _Counted:
    remaining: int
    path: str | None
    value: Any

    def take(self, path: str) -> bool:
        if self.remaining <= 0 or (self.path is not None and self.path != path):
            return False
        self.remaining -= 1
        return True


@dataclass(frozen=True)
class Hang:
    execute: bool
    released: threading.Event


@dataclass
class Plan:
    """What happens to one call: wait, then hang, answer an injected status, or run the handler."""

    delay_s: float = 0.0
    hang: Hang | None = None
    status: int | None = None


@dataclass
class _Fraction:
    fraction: float
    status: int
    rng: random.Random
    path: str | None


@dataclass
class Rules:
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _latency: dict[str | None, float] = field(default_factory=dict)
    _failures: list[_Counted] = field(default_factory=list)
    _fraction: _Fraction | None = None
    _hangs: list[_Counted] = field(default_factory=list)
    _hooks: list[_Counted] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)

    def set_latency(self, seconds: float, path: str | None) -> None:
        with self._lock:
            self._latency[path] = seconds

    def add_failures(self, n: int, status: int, path: str | None) -> None:
        with self._lock:
            self._failures.append(_Counted(n, path, status))

    def set_fraction(self, fraction: float, status: int, seed: int | str, path: str | None) -> None:
        with self._lock:
            self._fraction = _Fraction(fraction, status, random.Random(str(seed)), path)

    def add_hangs(self, n: int, execute: bool, path: str | None) -> None:
        with self._lock:
            self._hangs.append(_Counted(n, path, execute))

    def add_hook(self, action: Action, n: int, when: Match | None, path: str | None) -> None:
        with self._lock:
            self._hooks.append(_Counted(n, path, (action, when)))

    def plan(self, request: StubRequest) -> Plan:
        path = request.path
        with self._lock:
            plan = Plan(delay_s=self._latency.get(path, self._latency.get(None, 0.0)))
            if hang := next((h for h in self._hangs if h.take(path)), None):
                plan.hang = Hang(bool(hang.value), self._released)
            elif failure := next((f for f in self._failures if f.take(path)), None):
                plan.status = int(failure.value)
            elif self._draws_failure(path):
                assert self._fraction is not None
                plan.status = self._fraction.status
            return plan

    def _draws_failure(self, path: str) -> bool:
        drawn = self._fraction
        if drawn is None or drawn.path not in (None, path):
            return False
        return drawn.rng.random() < drawn.fraction

    def hooks_for(self, request: StubRequest, reply: Reply) -> list[Action]:
        """The hooks this answered call triggers, each counted once."""
        fired: list[Action] = []
        with self._lock:
            for hook in self._hooks:
                action, when = hook.value
                matches = when is None or when(request, reply)
                if matches and hook.take(request.path):
                    fired.append(action)
        return fired

    @staticmethod
    def wait_released(hang: Hang) -> None:
        hang.released.wait(HANG_LIMIT_S)

    def release_hung(self) -> None:
        with self._lock:
            self._released.set()
            self._released = threading.Event()

    def reset(self) -> None:
        with self._lock:
            self._latency.clear()
            self._failures.clear()
            self._fraction = None
            self._hangs.clear()
            self._hooks.clear()
        self.release_hung()
