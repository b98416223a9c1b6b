"""Stage `graceful-shutdown`: SIGTERM during steady traffic. Every request already accepted
completes successfully, and the process exits with code 0 within 10 s.

One request is held open on purpose: its headers and half its body are sent before the SIGTERM,
the rest after, so there is always a request in flight when the signal arrives.
"""

from __future__ import annotations

import json
import random
import signal
import socket
from urllib.parse import urlsplit

from labctl.grading import Faults, Http, Service, expect, points, stage

from ._faults import RATE
from ._support import follow, new_url, shorten

pytestmark = stage("graceful-shutdown")

EXIT_WITHIN_S = 10.0
TRAFFIC_S = 1.0  # steady redirects before the SIGTERM
READ_HEADERS_S = 0.3  # for the service to accept the held request and read its headers
HELD_AFTER_S = 0.5  # the held request's body is finished this long after the SIGTERM
ANSWER_S = 5.0
HINT = (
    "on SIGTERM stop accepting new connections, let the requests in flight finish, then exit "
    "with code 0 (most servers have a graceful shutdown: http.Server.close() in Node, "
    "server.shutdown() in Python, Shutdown(ctx) in Go)"
)


class HeldRequest:
    """A POST /links sent in two halves over a raw socket, with a pause in between."""

    def __init__(self, service_url: str, url: str) -> None:
        parts = urlsplit(service_url)
        self.body = json.dumps({"url": url}).encode()
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=ANSWER_S)
        self.head = (
            f"POST /links HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        ).encode()

    def send_first_half(self) -> None:
        self.sock.sendall(self.head + self.body[: len(self.body) // 2])

    def finish(self) -> str:
        """Send the rest of the body; the answer's status line and body ("" if cut off)."""
        try:
            self.sock.sendall(self.body[len(self.body) // 2 :])
            return self._answer()
        except OSError as exc:
            return f"({exc.strerror or type(exc).__name__})"
        finally:
            self.sock.close()

    def _answer(self) -> str:
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < self._length(data):
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8", "replace")

    @staticmethod
    def _length(data: bytes) -> int:
        for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                return int(value)
        return 0


def _redirects(http: Http, rng: random.Random) -> tuple[str, str]:
    url = new_url(rng, "drain")
    return shorten(http, url), url


@points(5)
def test_finishes_accepted_requests(
    http: Http, service: Service, faults: Faults, rng: random.Random
) -> None:
    """SIGTERM: a request already accepted, and those in flight, complete successfully"""
    code, url = _redirects(http, rng)
    held = HeldRequest(service.url, new_url(rng, "held"))
    traffic = faults.traffic(lambda h, i: follow(h, code, url), rate=RATE, max_s=10)
    with traffic:
        traffic.wait(TRAFFIC_S)
        held.send_first_half()
        traffic.wait(READ_HEADERS_S)
        stop = faults.terminate(EXIT_WITHIN_S)
        traffic.wait(HELD_AFTER_S)
        answer = held.finish()
    status_line = answer.partition("\r\n")[0]
    if not status_line.startswith("HTTP/1.1 201") and not status_line.startswith("HTTP/1.0 201"):
        raise expect.fail(
            "a POST /links that your service had accepted before the SIGTERM did not complete",
            expected="201 Created, once the rest of the body arrived (0.5 s after the SIGTERM)",
            got=status_line or answer or "the connection closed without an answer",
            hint=HINT,
        )
    cut = [s for s in traffic.samples if s.sent_s < stop.start_s and s.error]
    if cut:
        raise expect.fail(
            f"{len(cut)} redirects sent before the SIGTERM failed",
            expected="every request sent before the SIGTERM answered",
            got=" | ".join(dict.fromkeys(s.error for s in cut)),
            hint=HINT,
        )


@points(5)
def test_exits_0_within_10_s(http: Http, faults: Faults, rng: random.Random) -> None:
    """SIGTERM during steady traffic: the process exits with code 0 within 10 s"""
    code, url = _redirects(http, rng)
    with faults.traffic(lambda h, i: follow(h, code, url), rate=RATE, max_s=10) as traffic:
        traffic.wait(TRAFFIC_S)
        stop = faults.terminate(EXIT_WITHIN_S)
        exit_code = stop.wait(EXIT_WITHIN_S + 5)
    if exit_code == 0:
        return
    got = (
        f"still running after {EXIT_WITHIN_S:g} s (killed with SIGKILL)"
        if exit_code is None
        else f"killed by {signal.Signals(-exit_code).name}"
        if exit_code < 0
        else f"exit code {exit_code}"
    )
    raise expect.fail(
        "after SIGTERM your service did not exit cleanly",
        expected=f"exit code 0 within {EXIT_WITHIN_S:g} s",
        got=got,
        hint=HINT
        + "; a process with no SIGTERM handler is killed by the signal instead of exiting 0",
    )
