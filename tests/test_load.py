"""The load engine against a real local HTTP server: schedule held, stalls seen, overload is
inconclusive, tallies merge, nothing is left behind. Runs are a few seconds each."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import psutil
import pytest

from labctl._net import free_port, poll, port_open
from labctl.errors import LoadError
from labctl.load import LoadReport, Scenario, run
from labctl.load._judge import Plan, report
from labctl.load._tally import Tally, _bucket, histogram, merge
from tests.conftest import labctl_env
from tests.test_cli import cli as _cli

SERVER = Path(__file__).parent / "services" / "fast.py"


def _serve(*extra: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SERVER), str(port), *extra])
    try:
        assert poll(lambda: port_open(port), timeout_s=10), "the test server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def fast_url() -> Iterator[str]:
    yield from _serve()


@pytest.fixture
def stalling_url() -> Iterator[str]:
    yield from _serve("--stall-ms", "200")


def test_a_held_schedule_sends_every_slot_once(fast_url: str) -> None:
    got = run(fast_url, Scenario.get("/a", "/b"), rate=100, duration_s=2, warmup_s=0.5)
    assert got.sent == 200
    assert got.status_codes == {"200": 200}
    assert got.error_count == 0
    assert [s.sent for s in got.seconds] == [100, 100]
    assert 0 < got.latency_ms.p50 <= got.latency_ms.p99 <= got.latency_ms.max
    assert got.generator.processes >= 1
    assert got.achieved_rps == pytest.approx(100, rel=0.1)


def test_latency_counts_from_the_slot_so_a_stall_is_seen(stalling_url: str) -> None:
    """A server paused 200 ms of every second: a fifth of the slots wait up to 200 ms."""
    got = run(stalling_url, Scenario.get("/"), rate=100, duration_s=2, warmup_s=0.5, processes=1)
    if got.inconclusive:  # a saturated machine: the engine says so instead of a figure
        assert got.reasons
        return
    # True latency of a slot t in the pause is (0.2 - t % 1); the 99th percentile is ~190 ms,
    # plus at most the generator's own lateness.
    assert 165 <= got.latency_ms.p99 <= 215 + got.send_lag_ms.p99
    assert got.service_latency_ms.p50 < 20


def test_an_overloaded_generator_is_inconclusive_not_a_failure(fast_url: str) -> None:
    started = time.monotonic()
    got = run(fast_url, Scenario.get("/"), rate=40_000, duration_s=2, warmup_s=0.2, processes=1)
    assert got.inconclusive
    assert any("generator" in r for r in got.reasons)
    assert time.monotonic() - started < 60


def test_errors_are_counted_by_kind() -> None:
    port = free_port()  # nothing listens: every request is a connection error
    got = run(f"http://127.0.0.1:{port}", Scenario.get("/"), rate=50, duration_s=1, warmup_s=0)
    assert got.errors["connection"] == got.sent == 50
    assert got.error_rate == 1.0
    assert got.achieved_rps == 0


def test_status_errors_name_the_code(fast_url: str) -> None:
    got = run(fast_url, Scenario.get("/", ok_status=(302,)), rate=50, duration_s=1, warmup_s=0)
    assert got.errors["status"] == 50
    assert got.status_codes == {"200": 50}


class _Recorder(BaseHTTPRequestHandler):
    """Answers 201 to a POST and records what came: method, path, body, headers."""

    seen: ClassVar[list[tuple[str, str, bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append((self.command, self.path, body, self.headers.get("Content-Type", "")))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_scenario_sends_its_method_body_and_headers_under_the_url_path() -> None:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        scenario = Scenario(
            paths=("/links",),
            method="POST",
            body='{"url": "https://example.com/é"}',
            headers={"Content-Type": "application/json"},
            ok_status=(201,),
        )
        url = f"http://127.0.0.1:{server.server_address[1]}/api"
        got = run(url, scenario, rate=20, duration_s=1, warmup_s=0, processes=1)
    finally:
        server.shutdown()
        server.server_close()
    assert got.status_codes == {"201": 20}
    assert got.error_count == 0
    body = '{"url": "https://example.com/é"}'.encode()
    assert _Recorder.seen == [("POST", "/api/links", body, "application/json")] * 20


def test_counted_latencies_land_in_the_buckets_hdrhistogram_would_use() -> None:
    """Values are counted by bucket before they reach the histogram: the bucket must be the
    one record_value() files them under, from a microsecond to past an hour."""
    hist = histogram()
    rng = random.Random(7)
    for scale in (1e-6, 1e-3, 0.1, 10.0, 5000.0):
        for _ in range(2000):
            seconds = rng.random() * scale
            us = min(max(1, round(seconds * 1e6)), 3_600_000_000)
            assert _bucket(seconds) == hist.get_lowest_equivalent_value(us), seconds


def test_bad_parameters_are_a_clear_error() -> None:
    with pytest.raises(LoadError, match="rate > 0"):
        run("http://127.0.0.1:1", Scenario.get("/"), rate=0, duration_s=1)
    with pytest.raises(ValueError, match="start with '/'"):
        Scenario.get("a")


def test_tallies_merge_as_histograms_not_averages() -> None:
    fast, slow = Tally(), Tally()
    for _ in range(99):
        fast.record(0, 0.0, 0.001, 0.001)
    slow.record(0, 0.0, 0.5, 0.5)
    fast.cpu_s = slow.cpu_s = 0.1
    fast.wall_s = slow.wall_s = 1.0
    fast.first_slot = slow.first_slot = 100.0
    fast.last_done = slow.last_done = 101.0
    merged = merge([fast.to_wire(), slow.to_wire()])
    plan = Plan("http://x", Scenario.get("/"), rate=100, duration_s=1, warmup_s=0)
    got = report(plan, merged)
    assert got.sent == 100
    assert got.latency_ms.p50 == pytest.approx(1.0, rel=0.01)
    assert got.latency_ms.max == pytest.approx(500, rel=0.01)
    assert got.generator.processes == 2
    assert got.verdict == "ok"
    assert LoadReport.from_dict(got.to_dict()) == got


def test_the_load_command_writes_its_json_and_says_if_the_schedule_held(
    fast_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "load.json"
    args = [fast_url, "--rate", "50", "--duration", "1", "--warmup", "0", "--json", str(out)]
    run = _cli("load", *args)
    assert "from intended send" in run.stdout
    data = json.loads(out.read_text())
    assert data["schema"] == "labctl.load/v1"
    # 0 when the schedule was held; 4 when this machine was too busy to hold it (then it says so)
    assert (run.returncode, data["verdict"]) in ((0, "ok"), (4, "inconclusive")), run.stderr
    assert all("machine's CPUs were saturated" in r for r in data["reasons"]), data["reasons"]
    assert data["offered_rps"] == 50
    assert set(data["latency_ms"]) == {"p50", "p90", "p99", "p999", "max"}
    assert {"achieved_rps", "late_sends", "errors"} <= set(data)


def test_the_load_command_exits_4_when_the_generator_cannot_keep_up(fast_url: str) -> None:
    run = _cli("load", fast_url, "--rate", "40000", "--duration", "1", "--processes", "1")
    assert run.returncode == 4, run.stdout + run.stderr
    assert "inconclusive" in run.stdout


def test_the_load_command_rejects_a_url_that_is_not_http() -> None:
    run = _cli("load", "localhost:8080", "--rate", "10", "--duration", "1")
    assert run.returncode == 2
    assert "not an http:// URL" in run.stderr
    run = _cli("load", "http://127.0.0.1:8080/abc", "--rate", "10", "--duration", "1")
    assert run.returncode == 2
    assert "--path /abc" in " ".join(run.stderr.split())


def test_a_killed_caller_leaves_no_load_process_or_file_behind(
    fast_url: str, scratch: Path
) -> None:
    code = (
        "from labctl.load import run, Scenario\n"
        f"run({fast_url!r}, Scenario.get('/'), rate=50, duration_s=60, processes=1)\n"
    )
    caller = subprocess.Popen([sys.executable, "-c", code], env=labctl_env(TMPDIR=str(scratch)))
    try:
        assert poll(lambda: len(_children(caller.pid)) == 2, timeout_s=30)
        children = _children(caller.pid)
    finally:
        caller.kill()
        caller.wait()
    assert poll(lambda: not any(psutil.pid_exists(p) for p in children), timeout_s=15)
    assert poll(lambda: not any(scratch.iterdir()), timeout_s=5), list(scratch.iterdir())


def _children(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children()]
    except psutil.NoSuchProcess:
        return []


def test_a_service_that_never_answers_gives_timeouts_not_an_inconclusive_run() -> None:
    with socket.socket() as listener:  # accepts connections (the kernel does), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(256)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        scenario = Scenario(paths=("/",), timeout_s=1.0)
        got = run(url, scenario, rate=20, duration_s=1, warmup_s=0, processes=1)
    assert not any("scheduled requests" in r for r in got.reasons)  # none went missing
    assert got.errors["timeout"] == got.sent == 20
    assert got.latency_ms.p50 >= 1000


def test_a_saturated_machine_or_a_pegged_worker_is_inconclusive() -> None:
    tally = Tally()
    for _ in range(100):
        tally.record(0, 0.0, 0.002, 0.002)
    tally.first_slot, tally.last_done, tally.cpu_s, tally.wall_s = 1.0, 2.0, 0.95, 1.0
    tally.pressure = 0.8
    plan = Plan("http://x", Scenario.get("/"), rate=100, duration_s=1, warmup_s=0)
    got = report(plan, merge([tally.to_wire()]))
    assert got.inconclusive
    assert any("CPUs were saturated" in r and "80%" in r for r in got.reasons)
    assert any("CPU was pegged" in r for r in got.reasons)
    assert got.generator.cpu_pressure == 0.8
