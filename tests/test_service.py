"""The local service runner against real processes: tiny HTTP services written inline, no mocks."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from labctl._net import free_port
from labctl.backends.local.service import LocalRunner, run_build
from labctl.errors import ServiceError
from labctl.services.readiness import HttpProbe
from labctl.services.replica import Replica

PYTHON = shlex.quote(sys.executable)

# One small server, steered by MODE: ok, 404, 503-then-exit, wrong-port, ignore-sigterm,
# default-sigterm, no-http. HOST picks the address it binds.
SERVER = r"""
import http.server, os, signal, socket, sys, threading

mode = os.environ.get("MODE", "ok")
host = os.environ.get("HOST", "0.0.0.0")
port = int(os.environ["OTHER_PORT"] if mode == "wrong-port" else os.environ["PORT"])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = {"404": 404, "503-then-exit": 503}.get(mode, 200)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


if mode == "ok":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
if mode == "ignore-sigterm":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "503-then-exit":
    threading.Timer(0.5, os._exit, [5]).start()
print("hello from the service", os.getpid())  # no flush on purpose
if mode == "no-http":
    sock = socket.create_server((host, port))
    while True:
        sock.accept()[0].close()
http.server.HTTPServer((host, port), Handler).serve_forever()
"""

MakeService = Callable[..., Replica]


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[MakeService]:
    (tmp_path / "server.py").write_text(SERVER)
    made: list[Replica] = []

    def make(
        run: str = f"{PYTHON} server.py",
        *,
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 10.0,
    ) -> Replica:
        runner = LocalRunner(
            run=run,
            cwd=tmp_path,
            env=env or {},
            port=free_port(),
            log_path=tmp_path / "service.log",
        )
        service = Replica(runner, HttpProbe("/healthz"), ready_timeout_s=ready_timeout_s)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


def get(service: Replica, path: str = "/healthz") -> int:
    return httpx.get(service.url + path, trust_env=False).status_code


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def leader(service: Replica) -> int | None:
    assert isinstance(service.runner, LocalRunner)
    return service.runner.pid


def start_error(service: Replica) -> tuple[ServiceError, float]:
    began = time.monotonic()
    with pytest.raises(ServiceError) as info:
        service.start()
    return info.value, time.monotonic() - began


def test_a_good_service_starts_answers_and_its_prints_are_captured(
    make_service: MakeService,
) -> None:
    service = make_service()
    service.start()

    assert service.running
    assert service.url == f"http://127.0.0.1:{service.port}"
    assert get(service) == 200
    assert service.wait_ready(5)
    identity = service.identity()
    assert identity is not None
    assert f"hello from the service {identity.pid}" in service.log_lines()


def test_restart_keeps_the_port_and_appends_to_the_log(make_service: MakeService) -> None:
    service = make_service()
    service.start()
    first, mark = service.identity(), service.log_mark()

    service.restart()

    now = service.identity()
    assert now is not None
    assert now != first
    assert get(service) == 200
    assert service.log_lines(mark) == [f"hello from the service {now.pid}"]
    assert sum("hello" in line for line in service.log_lines()) == 2


def test_terminate_returns_the_exit_code_of_a_service_that_handles_sigterm(
    make_service: MakeService,
) -> None:
    service = make_service()
    service.start()

    assert service.terminate() == 0
    assert not service.running
    assert service.returncode == 0


def test_terminate_reports_a_signal_as_a_negative_code(make_service: MakeService) -> None:
    service = make_service(env={"MODE": "default-sigterm"})
    service.start()

    assert service.terminate() == -15


def test_terminate_kills_a_service_that_ignores_sigterm(make_service: MakeService) -> None:
    service = make_service(env={"MODE": "ignore-sigterm"})
    service.start()

    began = time.monotonic()
    assert service.terminate(timeout_s=0.3) is None
    assert time.monotonic() - began < 2
    assert service.returncode == -9


def test_kill_returns_minus_9(make_service: MakeService) -> None:
    service = make_service()
    service.start()

    assert service.kill() == -9
    assert not service.running


def test_a_service_that_exits_early_fails_fast_with_its_code_and_log(
    make_service: MakeService,
) -> None:
    script = "import sys; print('boom: DATABASE_URL is not set'); sys.exit(3)"
    service = make_service(f"{PYTHON} -c {shlex.quote(script)}", ready_timeout_s=30)

    error, elapsed = start_error(service)

    assert elapsed < 1.5
    assert f"exited with code 3 before it answered on port {service.port}" in error.message
    assert error.log == ("boom: DATABASE_URL is not set",)
    assert error.hint


def test_a_service_killed_by_a_signal_says_which(make_service: MakeService) -> None:
    service = make_service("kill -SEGV $$")

    error, _ = start_error(service)

    assert "was killed by SIGSEGV" in error.message


def test_a_service_on_the_wrong_port_fails_within_3_s(make_service: MakeService) -> None:
    other = free_port()
    service = make_service(env={"MODE": "wrong-port", "OTHER_PORT": str(other)}, ready_timeout_s=30)

    error, elapsed = start_error(service)

    assert elapsed < 3.5
    assert error.message == (
        f"your service listens on port {other}, but labctl gave it PORT={service.port}"
    )
    assert "PORT environment variable" in error.hint
    assert any("hello from the service" in line for line in error.log)
    pid = leader(service)
    assert pid is not None
    assert gone(pid)


def test_a_service_that_never_listens_fails_after_the_ready_timeout(
    make_service: MakeService,
) -> None:
    service = make_service("sleep 30", ready_timeout_s=0.5)

    error, elapsed = start_error(service)

    assert 0.5 <= elapsed < 2
    assert f"did not listen on port {service.port} within 0.5 s" in error.message
    assert "--ready-timeout" in error.hint
    pid = leader(service)
    assert pid is not None
    assert gone(pid)


def test_a_service_bound_to_another_address_is_told_so(make_service: MakeService) -> None:
    service = make_service(env={"HOST": "127.0.0.2"}, ready_timeout_s=1)

    error, _ = start_error(service)

    assert f"listens on port {service.port} only on 127.0.0.2" in error.message
    assert "0.0.0.0" in error.hint


def test_a_service_that_speaks_no_http_is_told_so(make_service: MakeService) -> None:
    service = make_service(env={"MODE": "no-http"}, ready_timeout_s=1)

    error, _ = start_error(service)

    assert f"accepts connections on port {service.port} but does not answer HTTP" in error.message


def test_wait_ready_gives_up_early_on_a_missing_route(make_service: MakeService) -> None:
    service = make_service(env={"MODE": "404"})
    service.start()  # any HTTP answer means UP

    began = time.monotonic()
    assert not service.wait_ready(10)
    assert time.monotonic() - began < 2.5


def test_wait_ready_raises_if_the_service_exits(make_service: MakeService) -> None:
    service = make_service(env={"MODE": "503-then-exit"})
    service.start()

    with pytest.raises(ServiceError, match="exited with code 5 while labctl waited"):
        service.wait_ready(10)


def test_close_leaves_no_process_behind(make_service: MakeService) -> None:
    # A background child in the group, and one that left the group with setsid.
    service = make_service(f"sleep 1000 & setsid sleep 1001 & {PYTHON} server.py")
    service.start()
    first = leader(service)
    assert first is not None
    pids = {first} | {p.pid for p in psutil.Process(first).children(recursive=True)}
    assert len(pids) >= 3  # bash stays as the leader of a list, or execs its last command
    assert {os.getpgid(pid) == first for pid in pids} == {True, False}

    service.close()
    service.close()  # idempotent

    assert all(gone(pid) for pid in pids)


def test_run_build_failure_carries_the_output_tail(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    command = "echo compiling; echo 'error: missing semicolon' >&2; exit 2"

    with pytest.raises(ServiceError) as info:
        run_build(command, cwd=tmp_path, env={}, log_path=log)

    assert info.value.message == f"the build command `{command}` exited with 2"
    assert info.value.log == ("compiling", "error: missing semicolon")
    assert info.value.hint


def test_run_build_appends_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text("earlier\n")

    run_build("echo built $FLAVOUR", cwd=tmp_path, env={"FLAVOUR": "vanilla"}, log_path=log)

    assert log.read_text() == "earlier\nbuilt vanilla\n"


def test_run_build_timeout_kills_the_build(tmp_path: Path) -> None:
    began = time.monotonic()
    with pytest.raises(ServiceError, match=r"did not finish within 0\.3 s"):
        run_build("sleep 30", cwd=tmp_path, env={}, log_path=tmp_path / "b.log", timeout_s=0.3)
    assert time.monotonic() - began < 2
