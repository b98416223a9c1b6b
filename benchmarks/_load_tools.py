"""What benchmarks/load_engine.py measures against: targets (nginx, a stalling server) and the
two baselines run the ordinary way (plain locust closed loop, wrk), each timed and CPU-counted.
"""

from __future__ import annotations

import csv
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labctl._net import free_port, poll, port_open

ROOT = Path(__file__).resolve().parents[1]
STALL_SERVER = ROOT / "tests" / "services" / "fast.py"
NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok"; }}
    }}
}}
"""


@dataclass(frozen=True)
class Figures:
    tool: str
    rps: float
    p99_ms: float
    cpu_s: float
    requests: int

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests if self.requests else 0.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _serving(args: list[str], port: int) -> Iterator[str]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not poll(lambda: port_open(port), timeout_s=15):
            raise SystemExit(f"{args[0]} did not start listening on port {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@contextmanager
def nginx() -> Iterator[str]:
    """nginx (Debian's) on a free loopback port, answering 200 "ok" to everything."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="labctl-nginx-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
        with _serving([binary, "-p", tmp, "-c", str(conf)], port) as url:
            yield url


@contextmanager
def stalling(stall_ms: float) -> Iterator[str]:
    """A server that answers at once except in the first ``stall_ms`` of every second."""
    port = free_port()
    args = [sys.executable, str(STALL_SERVER), str(port), "--stall-ms", str(stall_ms)]
    with _serving(args, port) as url:
        yield url


LOCUSTFILE = """
from locust import constant, constant_throughput
from locust.contrib.fasthttp import FastHttpUser
from locust import task

class Plain(FastHttpUser):
    wait_time = {wait}

    @task
    def get(self):
        self.client.get("/")
"""


def plain_locust(
    url: str, *, users: int, processes: int, seconds: float, rate: float = 0
) -> Figures:
    """locust's FastHttpUser, closed loop (no wait), or paced at ``rate`` in total."""
    wait = f"constant_throughput({rate / users})" if rate else "constant(0)"
    with tempfile.TemporaryDirectory(prefix="labctl-locust-") as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE.format(wait=wait))
        args = [
            *(sys.executable, "-m", "locust", "-f", str(locustfile), "--headless"),
            *("-H", url, "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s"),
            *("--processes", str(processes), "--csv", f"{tmp}/run", "--only-summary"),
        ]
        cpu0 = children_cpu()
        subprocess.run(args, capture_output=True, timeout=seconds + 120, check=False)
        cpu = children_cpu() - cpu0
        row = _aggregated(Path(f"{tmp}/run_stats.csv"))
    return Figures(
        "locust", float(row["Requests/s"]), float(row["99%"]), cpu, int(row["Request Count"])
    )


def _aggregated(path: Path) -> dict[str, str]:
    with path.open() as file:
        for row in csv.DictReader(file):
            if row["Name"] == "Aggregated":
                return row
    raise SystemExit(f"no Aggregated row in {path}")


WRK_PACE = "function delay() return {ms} end\n"


def wrk(url: str, *, threads: int, connections: int, seconds: float, rate: float = 0) -> Figures:
    """wrk (closed loop), or paced to ``rate`` in total with a per-request delay."""
    with tempfile.TemporaryDirectory(prefix="labctl-wrk-") as tmp:
        args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s"]
        if rate:
            script = Path(tmp) / "pace.lua"
            script.write_text(WRK_PACE.format(ms=round(connections * 1000 / rate)))
            args += ["-s", str(script)]
        cpu0 = children_cpu()
        out = subprocess.run(
            [*args, "--latency", url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
        cpu = children_cpu() - cpu0
    rps = float(_find(r"Requests/sec:\s+([\d.]+)", out))
    total = int(_find(r"(\d+) requests in", out))
    return Figures("wrk", rps, _ms(_find(r"99%\s+([\d.]+\w+)", out)), cpu, total)


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if not match:
        raise SystemExit(f"unexpected output (no {pattern!r}):\n{text}")
    return match.group(1)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
