"""Faults a check injects and undoes (against a real Redis and the real fault proxy), steady paced
traffic (against a real HTTP server), and the timeline in results and the terminal report."""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console

from labctl.backends import DependencyHandle
from labctl.backends.kinds import KINDS
from labctl.backends.local.deps import create
from labctl.errors import Failure, Inconclusive
from labctl.faults import Faults
from labctl.faults import proxy as toxics
from labctl.faults.proxy import ProxyServer
from labctl.faults.traffic import PacedTraffic, Sample, Window, per_second, window
from labctl.grading import Http, expect
from labctl.report import render_terminal
from labctl.results import CheckResult, Result, StageResult, Status


@pytest.fixture(scope="module")
def redis_dep() -> Iterator[DependencyHandle]:
    workdir = Path(tempfile.mkdtemp(prefix="labctl-test-"))
    with create("redis", "redis", workdir) as handle:
        yield handle
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def faults(redis_dep: DependencyHandle) -> Iterator[Faults]:
    with ProxyServer(seed=3) as server:
        proxy = server.proxy("redis", redis_dep.host, redis_dep.port)
        yield Faults(
            deps={"redis": redis_dep},
            proxies={"redis": proxy},
            service=None,
            connect=lambda url, timeout_s: Http(url, timeout_s=timeout_s),
        )


def pong_through(faults: Faults) -> bool:
    return KINDS["redis"].ready("127.0.0.1", faults.proxies["redis"].port)


def test_each_fault_is_undone_and_timed(faults: Faults, redis_dep: DependencyHandle) -> None:
    paused = faults.pause("redis")
    assert not KINDS["redis"].ready(redis_dep.host, redis_dep.port)
    paused.end()
    assert KINDS["redis"].ready(redis_dep.host, redis_dep.port)
    faults.toxic("redis", toxics.timeout())
    faults.down("redis")
    stopped = faults.stop("redis")
    assert not redis_dep.running
    faults.undo()  # the newest first: start, up, remove the toxic
    assert redis_dep.running
    assert pong_through(faults)
    timeline = faults.timeline()
    assert timeline is not None
    kinds = [(f["kind"], f["target"]) for f in timeline["faults"]]
    assert kinds == [("pause", "redis"), ("timeout", "redis"), ("down", "redis"), ("stop", "redis")]
    assert all(f["end_s"] >= f["start_s"] >= 0 for f in timeline["faults"])
    assert stopped.end_s is not None
    assert paused.end_s is not None
    assert paused.end_s <= stopped.start_s


def test_undo_keeps_going_after_a_failure_and_raises_it(faults: Faults) -> None:
    faults.down("redis")
    broken = faults.toxic("redis", toxics.latency(10))

    def fails() -> None:
        raise RuntimeError("undo failed")

    broken._undo = fails
    with pytest.raises(RuntimeError, match="undo failed"):
        faults.undo()
    assert faults.proxies["redis"].enabled  # the other fault was still undone
    assert broken.active  # and the failed one stays on record as active


def test_restart_is_a_fault_that_ends_at_once(faults: Faults, redis_dep: DependencyHandle) -> None:
    fault = faults.restart("redis")
    assert not fault.active
    assert KINDS["redis"].ready(redis_dep.host, redis_dep.port)


def test_unknown_names_are_refused(faults: Faults) -> None:
    with pytest.raises(ValueError, match="no dependency named 'mysql'"):
        faults.pause("mysql")
    with pytest.raises(ValueError, match="no fault proxy"):
        faults.down("mysql")
    with pytest.raises(ValueError, match="no service"):
        faults.terminate()
    assert faults.timeline() is None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(0.2)
        status = 500 if self.path == "/bad" else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_paced_traffic_keeps_its_rate_and_records_errors(web: str) -> None:
    def send(http: Http, i: int) -> None:
        expect.status(http.get("/bad" if i % 10 == 0 else "/"), 200)

    origin = time.monotonic()
    with PacedTraffic(lambda: Http(web), send, rate=100, clients=4, origin=origin) as traffic:
        traffic.wait(1.0)
    samples = traffic.samples
    assert 90 <= len(samples) <= 110  # due times are fixed: about rate x duration
    seen = traffic.window(0, 10)
    assert seen.requests == len(samples)
    assert seen.errors == sum(1 for s in samples if s.error) >= 9
    assert "answered 500" in seen.first_errors[0]
    assert 0 < seen.p50_ms <= seen.p99_ms <= seen.max_ms


def test_a_stalled_service_is_not_hidden_by_a_waiting_client(web: str) -> None:
    """One client, 20 requests a second, 200 ms each: the backlog shows in the latency."""
    slow = PacedTraffic(lambda: Http(web), lambda http, i: http.get("/slow"), rate=20, clients=1)
    with slow as traffic:
        traffic.wait(1.0)
    latencies = [s.latency_s for s in traffic.samples]
    assert latencies[-1] > latencies[0] + 0.3  # each waited for the ones before it


def test_paced_traffic_stops_at_max_s(web: str) -> None:
    traffic = PacedTraffic(lambda: Http(web), lambda http, i: http.get("/"), rate=50, max_s=0.2)
    traffic.start()
    time.sleep(0.6)  # well past max_s: the schedule is over, the threads have nothing left
    traffic.stop()
    assert len(traffic.samples) == 10


def test_per_second_rows_and_windows() -> None:
    samples = [Sample(0.1, 0.010), Sample(0.5, 0.030, "boom"), Sample(1.2, 0.020)]
    assert per_second(samples) == [
        {"t_s": 0, "ok": 1, "errors": 1, "p50_ms": 30.0, "p99_ms": 30.0, "max_ms": 30.0},
        {"t_s": 1, "ok": 1, "errors": 0, "p50_ms": 20.0, "p99_ms": 20.0, "max_ms": 20.0},
    ]
    seen = window(samples, 0.0, 1.0)
    assert (seen.requests, seen.errors, seen.error_rate) == (2, 1, 0.5)
    assert window([], 0, 1).requests == 0


TIMELINE = {
    "faults": [
        {"kind": "pause", "target": "redis", "start_s": 1.0, "end_s": 6.0},
        {"kind": "terminate", "target": "service", "start_s": 7.0, "end_s": 8.0, "detail": "x"},
    ],
    "traffic": [
        {"t_s": 0, "ok": 50, "errors": 0, "p50_ms": 2.0, "p99_ms": 5.0, "max_ms": 6.0},
        {"t_s": 2, "ok": 40, "errors": 10, "p50_ms": 2.0, "p99_ms": 900.0, "max_ms": 950.0},
    ],
}


def test_the_timeline_travels_in_the_json_result_and_is_summarised() -> None:
    check = CheckResult("s/c", "a check", Status.PASS, 1, timeline=TIMELINE)
    stage = StageResult("s", "stage", Status.PASS, checks=(check,))
    result = Result("lab", 1, Status.PASS, 0, 1.0, (stage,))
    data = result.to_dict()
    assert data["stages"][0]["checks"][0]["timeline"] == TIMELINE
    assert Result.from_dict(data) == result
    assert "timeline" not in CheckResult("s/d", "d", Status.PASS).to_dict()
    out = io.StringIO()
    render_terminal(result, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "faults: pause redis 1.0-6.0 s; terminate service 7.0-8.0 s (x)" in text
    assert "during faults 50 requests, 10 errors, worst per-second p99 900 ms" in text
    assert "otherwise 50 requests, 0 errors" in text


def test_a_hidden_check_keeps_its_timeline_to_itself() -> None:
    check = CheckResult("s/c", "a check", Status.PASS, 1, hidden=True, timeline=TIMELINE)
    stage = StageResult("s", "stage", Status.PASS, checks=(check,))
    out = io.StringIO()
    render_terminal(Result("lab", 1, Status.PASS, 0, 1.0, (stage,)), Console(file=out))
    assert "faults:" not in out.getvalue()


# -- fairness -------------------------------------------------------------------------------


def _slow_window(cpu_pressure: float) -> Window:
    return Window(0.0, 5.0, 250, 0, 5.0, 300.0, 400.0, cpu_pressure=cpu_pressure)


def test_a_latency_miss_on_a_saturated_machine_is_inconclusive_not_a_failure() -> None:
    from graders.url_shortener._faults import expect_served

    with pytest.raises(Inconclusive, match="some task waited for a CPU 80%"):
        expect_served(
            _slow_window(0.8), when="during the fault", max_error_rate=0.01, p99_ms=250, hint=""
        )
    with pytest.raises(Failure, match="not served well"):
        expect_served(
            _slow_window(0.1), when="during the fault", max_error_rate=0.01, p99_ms=250, hint=""
        )


def test_cpu_pressure_is_read_for_the_window_judged_not_the_whole_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """10 s of traffic, a CPU-starved machine only from 4 s to 6 s: the fault window 4-6 s
    reads as saturated (90%) though the whole run's average (18%) is far under the limit."""
    from labctl import _pressure

    clock = {"now": 100.0}

    def waited() -> float:  # seconds some task waited for a CPU: 0.9 s a second from 4 s to 6 s
        t = clock["now"] - 100.0
        return 0.9 * min(max(t - 4.0, 0.0), 2.0)

    monkeypatch.setattr(_pressure, "cpu_waiting_s", waited)
    monkeypatch.setattr(_pressure.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(_pressure.PressureClock, "MARK_EVERY_S", 0.05)
    pressure = _pressure.PressureClock()
    for i in range(1, 101):  # a mark every 0.1 s, as the traffic's clients leave them
        clock["now"] = 100.0 + i / 10
        pressure.mark()
    assert pressure.span(104.0, 106.0) == pytest.approx(0.9)
    assert pressure.span(100.0, 110.0) == pytest.approx(0.18)
    assert pressure.span(107.0, float("inf")) == pytest.approx(0.0)
