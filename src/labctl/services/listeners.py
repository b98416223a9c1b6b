"""Which TCP ports a set of processes listens on, read from ``/proc`` (Linux).

A process's sockets are the ``socket:[inode]`` links in ``/proc/<pid>/fd``; the sockets of its
network namespace, with their state, are in ``/proc/<pid>/net/tcp`` and ``tcp6``. Reading both
through the pid works whether the process shares labctl's network namespace (the local backend)
or lives in a container's (the Docker backend), where psutil's connection listing, which reads
labctl's own namespace, sees nothing.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass

__all__ = ["Listener", "listeners"]

_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    pid: int
    address: str  # "0.0.0.0", "127.0.0.1", "::"
    port: int


def listeners(pids: Iterable[int]) -> list[Listener]:
    """Every TCP socket in LISTEN state held open by one of ``pids``."""
    found: list[Listener] = []
    tables: dict[str, dict[int, tuple[str, int]]] = {}  # netns -> inode -> address
    for pid in pids:
        inodes = _socket_inodes(pid)
        if not inodes:
            continue
        namespace = _netns(pid)
        if namespace not in tables:
            tables[namespace] = _listening(pid)
        table = tables[namespace]
        found += [Listener(pid, *table[inode]) for inode in inodes if inode in table]
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    with suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _netns(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return f"pid:{pid}"


def _listening(pid: int) -> dict[int, tuple[str, int]]:
    """inode -> (address, port) of the listening TCP sockets in ``pid``'s network namespace."""
    table: dict[int, tuple[str, int]] = {}
    for name in ("tcp", "tcp6"):
        with suppress(OSError), open(f"/proc/{pid}/net/{name}", encoding="ascii") as fh:
            next(fh, None)  # the header
            for line in fh:
                fields = line.split()
                if len(fields) > 9 and fields[3] == _LISTEN:
                    table[int(fields[9])] = _address(fields[1])
    return table


def _address(field: str) -> tuple[str, int]:
    """``0100007F:1F90`` -> ("127.0.0.1", 8080): each 32-bit word is in host (little) order."""
    hex_ip, hex_port = field.split(":")
    raw = bytes.fromhex(hex_ip)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words)), int(hex_port, 16)
