"""The Docker backend on a real engine: dependency handles, the untrusted-code box (each property
proven from inside the container), cleanup. Skipped, with the reason, where no engine runs."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from labctl.backends import named
from labctl.environment import Environment, Options
from labctl.errors import DependencyError
from labctl.model.lab import load_lab
from labctl.model.submission import load_submission
from tests.conftest import ROOT
from tests.docker_support import PYTHON_ONLY, STANDIN_ENV, leftovers, require_docker

PROBE = ROOT / "tests" / "services" / "docker-probe"


@pytest.fixture(autouse=True)
def _docker(monkeypatch: pytest.MonkeyPatch) -> None:
    require_docker(PYTHON_ONLY)
    for key, value in STANDIN_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def probe_env() -> Iterator[Environment]:
    require_docker(PYTHON_ONLY)
    saved = {k: os.environ.get(k) for k in STANDIN_ENV}
    os.environ.update(STANDIN_ENV)
    lab = load_lab("url-shortener")
    options = Options(seed=1, run_id="probe" + os.urandom(3).hex())
    env = Environment(lab, load_submission(PROBE), named("docker"), options)
    try:
        with env:
            yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def probed(probe_env: Environment) -> dict[str, object]:
    """The probe's report, with a host service listening on every interface meanwhile."""
    assert probe_env.service is not None
    with socket.create_server(("0.0.0.0", 0)) as host_service:
        port = host_service.getsockname()[1]
        url = f"{probe_env.service.url}/probe?host_port={port}"
        answer = httpx.get(url, timeout=60, trust_env=False)
    result: dict[str, object] = answer.json()
    return result


def test_the_service_is_published_on_loopback_only(probe_env: Environment) -> None:
    assert probe_env.service is not None
    assert probe_env.service.url.startswith("http://127.0.0.1:")


def test_no_capabilities_and_no_new_privileges(probed: dict[str, object]) -> None:
    assert probed["cap_eff"] == "0000000000000000"
    assert probed["no_new_privs"] == "1"


def test_not_privileged(probed: dict[str, object]) -> None:
    devices = probed["host_devices"]
    assert isinstance(devices, list)
    assert not {"mem", "kmsg", "sda", "nvme0n1"} & set(devices), devices


def test_root_filesystem_is_read_only_but_tmp_is_writable(probed: dict[str, object]) -> None:
    assert probed["root_writable"] is False
    assert probed["tmp_writable"] is True


def test_memory_and_cpu_limits_come_from_the_lab(probed: dict[str, object]) -> None:
    assert probed["memory_limit"] == str(512 * 1024 * 1024)
    quota = str(probed["cpu_quota"])
    if " " in quota:  # cgroup v2: "100000 100000"
        assert quota.split() == ["100000", "100000"]
    else:
        assert int(quota) == int(str(probed["cpu_period"]))  # exactly one CPU


def test_the_pids_limit_stops_a_fork_bomb(probed: dict[str, object]) -> None:
    assert probed["pids_max"] == "256"
    started = probed["processes_started"]
    assert isinstance(started, int)
    assert 0 < started < 256


def test_network_reaches_the_dependencies_and_nothing_beyond(probed: dict[str, object]) -> None:
    assert probed["dependency_reachable"] is True
    assert probed["outside_ip_reachable"] is False
    assert probed["outside_name_resolves"] is False


def test_the_host_is_out_of_reach_too(probed: dict[str, object]) -> None:
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        pytest.skip("closing the way to the host needs root and iptables")
    assert probed["host_reachable"] is False, f"host reachable at {probed['gateway']}"


def test_limits_are_reported_in_the_result_meta(probe_env: Environment) -> None:
    described = probe_env.describe()
    assert described["backend"] == "docker"
    assert described["limits"] == {
        "cpus": 1.0,
        "memory_mb": 512,
        "pids": 256,
        "tmp_mb": 64,
        "capabilities": "none",
        "no_new_privileges": True,
        "read_only_root": True,
        "network": "internal",
        "host_blocked": os.geteuid() == 0 and shutil.which("iptables") is not None,
        "init": "the engine's (the service is not PID 1)",
    }


def test_dependency_handles_pause_stop_and_start(probe_env: Environment) -> None:
    postgres = probe_env.deps["postgres"]
    proxy = probe_env.proxies["postgres"]  # the service reaches Postgres through its fault proxy
    assert probe_env.site is not None
    assert proxy.host == probe_env.site.host
    assert probe_env.service_env()["DATABASE_URL"].startswith(
        f"postgresql://labctl:labctl@{proxy.host}:{proxy.port}/"
    )
    postgres.pause()
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres.url, connect_timeout=1)
    finally:
        postgres.resume()
    postgres.restart()
    with psycopg.connect(postgres.url, connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_service_terminate_kill_and_restart(probe_env: Environment) -> None:
    service = probe_env.service
    assert service is not None
    assert service.kill() == -9
    assert not service.running
    service.start()
    assert service.wait_ready(10)
    service.restart()
    assert service.running
    assert httpx.get(service.url + "/healthz", trust_env=False).status_code == 200


def test_a_missing_image_is_a_clear_dependency_error(tmp_path: Path) -> None:
    os.environ["LABCTL_REDIS_IMAGE"] = "labctl-no-such-image:1"
    lab = load_lab("url-shortener")
    options = Options(seed=1, run_id="missing" + os.urandom(3).hex())
    env = Environment(lab, load_submission(PROBE), named("docker"), options)
    with pytest.raises(DependencyError) as caught, env:
        pass
    assert "labctl-no-such-image:1" in str(caught.value)
    assert "LABCTL_REDIS_IMAGE" in caught.value.hint
    assert options.run_id not in str(leftovers())
