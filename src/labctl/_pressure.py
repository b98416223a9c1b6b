"""How long tasks on this machine waited for a CPU (Linux pressure stall information).

A latency budget is only fair when the machine had CPU to spare: on a saturated machine the
service, its dependencies and the grader's own clients all wait, and a correct service can miss
its budget. Both the load engine and the fault stages' traffic use this to say "inconclusive"
rather than "fail" then.
"""

from __future__ import annotations

import threading
import time

# Share of the time some task waited for a CPU above which latency says more about the machine
# than about the service.
PRESSURE_LIMIT = 0.5


def cpu_waiting_s() -> float | None:
    """Seconds some task on this machine has waited for a CPU since boot; None where the kernel
    does not report it (not Linux, or PSI off)."""
    try:
        with open("/proc/pressure/cpu") as file:
            some = file.readline().split()
    except OSError:
        return None
    total = next((f for f in some if f.startswith("total=")), None)
    return int(total[6:]) / 1e6 if total else None


class PressureClock:
    """The share of wall time some task waited for a CPU within a span since start(), read from
    the counter's marks (mark() as traffic goes on). A span's own share matters because a budget
    is judged on a span: seconds of contention in a fault window hide in a whole run's average."""

    MARK_EVERY_S = 0.1

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: list[tuple[float, float]] = []  # (monotonic time, seconds waited) in order
        self.start()

    def start(self) -> None:
        """Forget earlier marks; the first is now."""
        waited = cpu_waiting_s()
        with self._lock:
            self._marks = [] if waited is None else [(time.monotonic(), waited)]

    def mark(self) -> None:
        """Note the counter now (at most every MARK_EVERY_S): a reading span() can start from."""
        now = time.monotonic()
        with self._lock:
            if not self._marks or now - self._marks[-1][0] < self.MARK_EVERY_S:
                return
            waited = cpu_waiting_s()
            if waited is not None:
                self._marks.append((now, waited))

    def span(self, start: float, end: float) -> float:
        """The share within [start, end) (monotonic times), from the last mark at or before
        ``start`` to the first at or after ``end`` (or now); -1 if unknown."""
        now = time.monotonic()
        with self._lock:
            marks = list(self._marks)
        waited = cpu_waiting_s()
        if not marks or waited is None:
            return -1.0
        marks.append((now, waited))
        first = max((m for m in marks if m[0] <= start), default=marks[0])
        last = min((m for m in marks if m[0] >= min(end, now)), default=marks[-1])
        wall = last[0] - first[0]
        return min(1.0, (last[1] - first[1]) / wall) if wall > 0 else -1.0
