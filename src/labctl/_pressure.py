"""How long tasks on this machine waited for a CPU (Linux pressure stall information).

A latency budget is only fair when the machine had CPU to spare: on a saturated machine the
service, its dependencies and the grader's own clients all wait, and a correct service can miss
its budget. Both the load engine and the fault stages' traffic use this to say "inconclusive"
rather than "fail" then.
"""

from __future__ import annotations

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
    """The share of wall time since start() that some task waited for a CPU (-1: unknown)."""

    def __init__(self) -> None:
        self._wall0 = time.monotonic()
        self._wait0 = cpu_waiting_s()

    def start(self) -> None:
        self._wall0 = time.monotonic()
        self._wait0 = cpu_waiting_s()

    def share(self) -> float:
        wait1, wall = cpu_waiting_s(), time.monotonic() - self._wall0
        if self._wait0 is None or wait1 is None or wall <= 0:
            return -1.0
        return min(1.0, (wait1 - self._wait0) / wall)
