from __future__ import annotations

import socket

from labctl.grading import Service, expect, stage

pytestmark = stage("ping")


def ask(service: Service, line: bytes) -> bytes:
    with socket.create_connection(service.address, timeout=2.0) as sock:
        sock.sendall(line)
        return sock.recv(256)


def test_ping_answers_pong(service: Service) -> None:
    """PING answers +PONG"""
    expect.equal(ask(service, b"PING\r\n"), b"+PONG\r\n", what="the answer to PING")
