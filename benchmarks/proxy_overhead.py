"""What the fault proxy adds to a dependency round trip when no fault is set.

Against a real local Redis: N PING round trips straight to Redis (the baseline), then N through
the proxy, each on one kept-open connection, and the same again with C connections at once (one
thread each). Prints p50/p99/max of each, the added p99 and the ratio. Target: under 1 ms of
added p99.

Usage: python benchmarks/proxy_overhead.py [--requests N] [--clients C]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

from labctl.backends import local
from labctl.faults.proxy import ProxyServer

PING = b"*1\r\n$4\r\nPING\r\n"


def round_trips(port: int, n: int) -> list[float]:
    """Seconds per PING -> +PONG, n of them on one connection."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(n):
            begun = time.perf_counter()
            sock.sendall(PING)
            if not sock.recv(64).startswith(b"+PONG"):
                raise RuntimeError("not a PONG")
            times.append(time.perf_counter() - begun)
    return times


def concurrent(port: int, n: int, clients: int) -> list[float]:
    results: list[list[float]] = [[] for _ in range(clients)]

    def run(i: int) -> None:
        results[i] = round_trips(port, n // clients)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [t for r in results for t in r]


def pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def show(label: str, times: list[float]) -> None:
    print(
        f"  {label:<8} p50 {pct(times, 0.5):6.3f} ms   p99 {pct(times, 0.99):6.3f} ms   "
        f"max {max(times) * 1000:7.3f} ms   ({len(times)} round trips)"
    )


def compare(title: str, direct: list[float], proxied: list[float]) -> None:
    print(title)
    show("direct", direct)
    show("proxied", proxied)
    added = pct(proxied, 0.99) - pct(direct, 0.99)
    ratio = pct(proxied, 0.99) / pct(direct, 0.99)
    verdict = "under" if added < 1.0 else "OVER"
    print(f"  added p99 {added:.3f} ms ({verdict} the 1 ms target), p99 ratio {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labctl-bench-") as tmp:
        workdir = Path(tmp) / "redis"
        workdir.mkdir()
        with local.create("redis", "redis", workdir) as redis, ProxyServer(seed=1) as proxies:
            proxy = proxies.proxy("redis", redis.host, redis.port)
            round_trips(redis.port, 500)  # warm both paths up
            round_trips(proxy.port, 500)
            n, c = args.requests, args.clients
            compare(
                f"one connection, {n} PINGs:",
                round_trips(redis.port, n),
                round_trips(proxy.port, n),
            )
            compare(
                f"{c} connections at once, {n} PINGs in all:",
                concurrent(redis.port, n, c),
                concurrent(proxy.port, n, c),
            )


if __name__ == "__main__":
    main()
