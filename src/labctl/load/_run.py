"""Run one load test from the calling process, which never imports locust.

``run()`` writes the plan to a private temp directory, starts a locust master and one worker per
core as child processes of the same Python, waits (bounded) for the master's report, and
returns it as a ``LoadReport``. Whatever happens (an error, a timeout, Ctrl-C), every child is
stopped and the temp directory removed; if this process is killed, its children get SIGTERM
from the kernel (parent-death signal).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from labctl._net import free_port
from labctl.errors import LoadError
from labctl.load._model import LoadReport, Scenario
from labctl.processes import spawn, stop

READY_TIMEOUT_S = 60.0  # importing locust takes seconds on a busy machine, per process
EXIT_GRACE_S = 5.0
LOG_LINES = 20


def default_processes() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def run(
    url: str,
    scenario: Scenario,
    *,
    rate: float,
    duration_s: float,
    warmup_s: float = 1.0,
    processes: int | None = None,
) -> LoadReport:
    """Send ``scenario`` to ``url`` at ``rate`` req/s for ``warmup_s`` + ``duration_s`` seconds."""
    _validate(rate, duration_s, warmup_s)
    workers = processes or default_processes()
    plan = {
        "url": url.rstrip("/"),
        "scenario": scenario.to_dict(),
        "rate": float(rate),
        "duration_s": float(duration_s),
        "warmup_s": float(warmup_s),
    }
    with tempfile.TemporaryDirectory(prefix="labctl-load-") as tmp:
        return _run_in(Path(tmp), plan, workers, warmup_s + duration_s + scenario.timeout_s)


def _validate(rate: float, duration_s: float, warmup_s: float) -> None:
    if rate <= 0 or duration_s <= 0 or warmup_s < 0:
        raise LoadError(
            f"a load run needs rate > 0 and duration > 0 (got rate={rate}, duration={duration_s})",
            hint="pass a positive --rate and --duration",
        )


def _run_in(tmp: Path, plan: dict[str, object], workers: int, run_s: float) -> LoadReport:
    (tmp / "plan.json").write_text(json.dumps(plan))
    out, log = tmp / "report.json", tmp / "load.log"
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with open(log, "wb") as sink:
        try:
            procs.append(_spawn(_master_args(tmp, port, workers), sink, _block_sigterm))
            procs += [_spawn(_worker_args(port), sink) for _ in range(workers)]
            code = _wait(procs[0], READY_TIMEOUT_S + run_s + 30)
        finally:
            for proc in procs:
                stop(proc, grace_s=EXIT_GRACE_S)
    if code != 0 or not out.is_file():
        lines = log.read_text(errors="replace").splitlines()[-LOG_LINES:]
        said = next((line for line in reversed(lines) if line.startswith("labctl-load: ")), "")
        raise LoadError(
            "the load generator did not finish its run"
            + (f": {said.removeprefix('labctl-load: ')}" if said else " (no report)"),
            hint="see its log lines; a busy machine may need fewer processes (--processes)",
            log=lines,
        )
    return LoadReport.from_dict(json.loads(out.read_text()))


def _master_args(tmp: Path, port: int, workers: int) -> list[str]:
    return [
        *("-m", "labctl.load._master", "--port", str(port), "--workers", str(workers)),
        *("--plan", str(tmp / "plan.json"), "--out", str(tmp / "report.json")),
        *("--ready-timeout", str(READY_TIMEOUT_S), "--caller", str(os.getpid())),
    ]


def _block_sigterm() -> None:
    """In the master, before exec: SIGTERM waits (blocked, which exec keeps) until the master
    has its handler, so a caller killed while the master starts up still has its run directory
    removed by the master."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def _worker_args(port: int) -> list[str]:
    return ["-m", "labctl.load._worker", "--master-host", "127.0.0.1", "--master-port", str(port)]


def _spawn(
    args: list[str], sink: IO[bytes], setup: Callable[[], None] | None = None
) -> subprocess.Popen[bytes]:
    # Its own session: Ctrl-C reaches us alone; we stop the children ourselves.
    return spawn([sys.executable, *args], out=sink, setup=setup)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> int | None:
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
