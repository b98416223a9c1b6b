"""The fault proxy: plain forwarding, each toxic's effect (Toxiproxy's meanings), down/up, and
clean-up, against a real TCP echo server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from labctl.faults import proxy as toxics
from labctl.faults.proxy import Proxy, ProxyServer, Toxic


class Echo:
    """A TCP server that echoes what it receives; a connection that sends b"bye" is closed."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(ConnectionError):  # reset_peer resets this side too
            while data := conn.recv(65536):
                if data == b"bye":
                    return
                conn.sendall(data)


@pytest.fixture(scope="module")
def server() -> Iterator[ProxyServer]:
    with ProxyServer(seed=7) as proxies:
        yield proxies


@pytest.fixture
def proxy(server: ProxyServer, request: pytest.FixtureRequest) -> Iterator[Proxy]:
    echo = Echo()
    proxy = server.proxy(request.node.name, "127.0.0.1", echo.port)
    yield proxy
    proxy.reset()
    echo.sock.close()


def connect(proxy: Proxy) -> socket.socket:
    sock = socket.create_connection((proxy.host, proxy.port), timeout=2)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip(sock: socket.socket, data: bytes = b"ping") -> tuple[bytes, float]:
    begun = time.monotonic()
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got, time.monotonic() - begun


def test_forwards_both_ways(proxy: Proxy) -> None:
    with connect(proxy) as sock:
        assert round_trip(sock, b"hello")[0] == b"hello"
        assert round_trip(sock, b"x" * 200_000)[0] == b"x" * 200_000


def test_latency_delays_each_way_until_removed(proxy: Proxy) -> None:
    with connect(proxy) as sock:
        proxy.add(toxics.latency(150))
        got, took = round_trip(sock)
        assert got == b"ping"
        assert 0.14 <= took < 1.0
        proxy.remove("latency_downstream")
        assert round_trip(sock)[1] < 0.1


def test_jitter_stays_within_its_bounds(proxy: Proxy) -> None:
    proxy.add(toxics.latency(100, 50, stream="upstream"))
    with connect(proxy) as sock:
        delays = [round_trip(sock)[1] for _ in range(5)]
    assert all(0.045 <= d < 0.6 for d in delays), delays


def test_bandwidth_limits_the_rate(proxy: Proxy) -> None:
    proxy.add(toxics.bandwidth(20))  # 20 KB/s: 10 KB take about half a second
    with connect(proxy) as sock:
        got, took = round_trip(sock, b"b" * 10_000)
    assert got == b"b" * 10_000
    assert took >= 0.4


def test_timeout_zero_holds_data_until_removed(proxy: Proxy) -> None:
    with connect(proxy) as sock:
        proxy.add(toxics.timeout(0, stream="upstream"))
        sock.settimeout(0.3)
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        proxy.remove("timeout_upstream")
        sock.settimeout(2)
        assert round_trip(sock, b"back")[0] == b"back"  # the dropped bytes stay dropped


def test_timeout_closes_the_connection_after_its_time(proxy: Proxy) -> None:
    proxy.add(toxics.timeout(200))
    with connect(proxy) as sock:
        begun = time.monotonic()
        sock.sendall(b"ping")
        assert sock.recv(10) == b""
        assert 0.15 <= time.monotonic() - begun < 1.5


def test_reset_peer_resets(proxy: Proxy) -> None:
    with connect(proxy) as sock:
        assert round_trip(sock)[0] == b"ping"
        proxy.add(toxics.reset_peer(0))
        with pytest.raises(ConnectionResetError):
            sock.recv(10)  # the RST was sent when the toxic was added


def test_slow_close_delays_the_close(proxy: Proxy) -> None:
    proxy.add(toxics.slow_close(300))
    with connect(proxy) as sock:
        begun = time.monotonic()
        sock.sendall(b"bye")  # the echo server closes: the proxy waits before closing ours
        assert sock.recv(10) == b""
        assert time.monotonic() - begun >= 0.28


def test_limit_data_closes_after_the_limit(proxy: Proxy) -> None:
    proxy.add(toxics.limit_data(10))
    with connect(proxy) as sock:
        sock.sendall(b"0123456789abcdefghij")
        got = b""
        while chunk := sock.recv(100):
            got += chunk
    assert got == b"0123456789"


def test_toxicity_zero_never_applies(proxy: Proxy) -> None:
    proxy.add(Toxic("timeout", {"timeout": 0}, toxicity=0.0))
    with connect(proxy) as sock:
        assert round_trip(sock)[0] == b"ping"


def test_down_refuses_and_cuts_then_up_serves_again(proxy: Proxy) -> None:
    with connect(proxy) as sock:
        assert round_trip(sock)[0] == b"ping"
        proxy.down()
        assert sock.recv(10) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.up()
    with connect(proxy) as sock:
        assert round_trip(sock)[0] == b"ping"


def test_a_dependency_that_refuses_closes_the_client(server: ProxyServer) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    proxy = server.proxy("nobody", "127.0.0.1", port)
    with connect(proxy) as sock:
        sock.sendall(b"hello")
        assert sock.recv(10) == b""


@pytest.mark.parametrize(
    ("kind", "attributes", "stream", "toxicity"),
    [
        ("lag", {}, "downstream", 1.0),
        ("latency", {"delay": 1.0}, "downstream", 1.0),
        ("latency", {"latency": -1.0}, "downstream", 1.0),
        ("latency", {}, "sideways", 1.0),
        ("latency", {}, "downstream", 2.0),
    ],
)
def test_bad_toxics_are_refused(
    kind: str, attributes: dict[str, float], stream: str, toxicity: float
) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        Toxic(kind, attributes, stream, toxicity)


def test_two_toxics_of_one_name_are_refused(proxy: Proxy) -> None:
    proxy.add(toxics.latency(1))
    with pytest.raises(ValueError, match="already has a toxic"):
        proxy.add(toxics.latency(2))


def test_closing_ends_the_process() -> None:
    server = ProxyServer()
    server.start()
    proc = server._proc
    assert proc is not None
    server.close()
    assert proc.poll() is not None
    server.close()  # idempotent
