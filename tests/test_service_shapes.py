"""Services of every shape, end to end through ``labctl check``, on both backends: a gRPC
service run as two replicas (readiness by grpc.health.v1, calls from the lab's proto, a replica
killed and restarted by a grader, each replica's log lines in a failure) and a raw TCP service
whose readiness is the grader pack's probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Run, labctl, labctl_env
from tests.docker_support import PYTHON_ONLY, STANDIN_ENV, leftovers, require_docker

TOY_LABS = ROOT / "tests" / "data" / "labs"
SERVICES = ROOT / "tests" / "services"
BACKENDS = ("local", "docker")


def check(lab: str, service: str, tmp_path: Path, *args: str, backend: str = "local") -> Run:
    if backend == "docker":
        require_docker(PYTHON_ONLY)
    env = labctl_env(LABCTL_LABS_DIR=str(TOY_LABS), **STANDIN_ENV)
    argv = ["check", lab, "--path", str(SERVICES / service), "--backend", backend, *args]
    return labctl(argv, tmp_path=tmp_path, env=env, timeout=600)


def statuses(report: dict[str, Any] | None) -> dict[str, str]:
    assert report is not None
    return {c["id"]: c["status"] for s in report["stages"] for c in s["checks"]}


def failed(report: dict[str, Any] | None, check_id: str) -> dict[str, Any]:
    assert report is not None
    return next(c for s in report["stages"] for c in s["checks"] if c["id"] == check_id)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_grpc_replicas_are_graded_and_one_is_killed_and_restarted(
    backend: str, tmp_path: Path
) -> None:
    run = check("toy-grpc", "toy-grpc", tmp_path, backend=backend)
    assert run.code == 0, run.stdout + run.stderr
    assert set(statuses(run.report).values()) == {"pass"}
    assert run.report is not None
    replicas = run.report["meta"]["environment"]["replicas"]
    assert len(replicas) == 2
    assert len(set(replicas)) == 2
    if backend == "docker":
        assert leftovers() == {"containers": [], "networks": [], "images": []}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failure_shows_each_replicas_log_and_the_grpcurl_line(
    backend: str, tmp_path: Path
) -> None:
    run = check("toy-grpc", "toy-grpc-bad", tmp_path, "--stage", "echo", backend=backend)
    assert run.code == 1, run.stdout + run.stderr
    echo = failed(run.report, "echo/every-replica-echoes-and-names-itself")
    assert echo["status"] == "fail"
    assert echo["got"] == "wrong"
    assert echo["curl"][0].startswith("grpcurl -plaintext ")
    assert echo["curl"][0].endswith("toy.v1.Toy/Echo")
    assert "[your service #0] replica 0: echo 'hello 0'" in echo["log"]
    assert "[your service #1] replica 1: echo 'hello 1'" in echo["log"]
    assert "[your service #1] replica 1: echo 'hello 1'" in run.stdout


def test_a_grpc_service_without_the_health_service_fails_health_quickly(tmp_path: Path) -> None:
    run = check("toy-grpc", "toy-grpc", tmp_path, "--run", "MODE=no-health python3 server.py")
    assert run.code == 1, run.stdout + run.stderr
    health = failed(run.report, "health/every-replica-is-serving")
    assert health["status"] == "fail"
    assert "UNIMPLEMENTED" in health["got"]
    assert run.report is not None
    assert run.report["duration_s"] < 15  # UNIMPLEMENTED will not change: nobody waits 20 s


def test_a_grpc_service_on_the_wrong_port_is_told_so(tmp_path: Path) -> None:
    run = check("toy-grpc", "toy-grpc", tmp_path, "--run", "MODE=wrong-port python3 server.py")
    assert run.code == 3, run.stdout + run.stderr
    assert run.report is not None
    assert "but labctl gave it PORT=" in run.report["error"]["message"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tcp_service_is_ready_when_the_labs_probe_says_so(backend: str, tmp_path: Path) -> None:
    run = check("toy-tcp", "toy-tcp", tmp_path, backend=backend)
    assert run.code == 0, run.stdout + run.stderr
    assert statuses(run.report) == {
        "ping/ping-answers-pong": "pass",
        "echo/echo-answers-its-argument": "pass",
    }


def test_a_tcp_service_whose_probe_never_passes_fails_its_first_stage(tmp_path: Path) -> None:
    run = check("toy-tcp", "toy-tcp", tmp_path, "--run", "MODE=no-pong python3 server.py")
    assert run.code == 1, run.stdout + run.stderr
    assert statuses(run.report) == {
        "ping/ping-answers-pong": "fail",
        "echo/echo-answers-its-argument": "skip",
    }
    assert failed(run.report, "ping/ping-answers-pong")["got"] == "b'-ERR not today\\r\\n'"
