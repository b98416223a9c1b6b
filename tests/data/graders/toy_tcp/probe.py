"""The lab's readiness probe: labctl calls ping(host, port) until it answers True."""

from __future__ import annotations

import socket


def ping(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=1.0) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")
