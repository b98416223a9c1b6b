"""What labctl knows about each kind of dependency, written once and used by both backends.

A ``Kind`` holds the facts of one kind: the URL the service is given, the credentials in it, the
settings of a throwaway server (no fsync: durability buys nothing in a check), its port and
image in a container, and a readiness probe that speaks the kind's own protocol (a Postgres
startup packet, a Redis PING) so it holds for any server of that kind. Adding a kind (a message
broker) is one new entry in ``KINDS``, plus its local server in ``backends.local.deps``.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["KINDS", "Kind", "first_reply"]

USER = PASSWORD = DATABASE = "labctl"


@dataclass(frozen=True)
class Kind:
    name: str
    port: int  # the kind's conventional port, where its container listens
    image: str  # the Docker backend's default (LABCTL_<KIND>_IMAGE and lab.toml override it)
    url: Callable[[str, int], str]  # the URL of a server of this kind at host:port
    ready: Callable[[str, int], bool]  # whether the server at host:port answers its protocol
    program: str  # the server's program, as the official image names it
    args: Callable[[Mapping[str, str]], list[str]]  # settings as the program's arguments
    settings: Mapping[str, str] = field(default_factory=dict)  # a throwaway server's settings
    container_env: Mapping[str, str] = field(default_factory=dict)  # the official images' vars
    container_settings: Mapping[str, str] = field(default_factory=dict)  # more, in a container

    def container_command(self) -> list[str]:
        """The command a container of this kind runs: the program with the throwaway settings."""
        return [self.program, *self.args({**self.settings, **self.container_settings})]

    @property
    def image_env(self) -> str:
        """The env var that names another image for this kind: ``LABCTL_POSTGRES_IMAGE``."""
        return f"LABCTL_{self.name.upper()}_IMAGE"


def _postgres_url(host: str, port: int) -> str:
    return f"postgresql://{USER}:{PASSWORD}@{host}:{port}/{DATABASE}"


def _postgres_ready(host: str, port: int) -> bool:
    """Ready when a startup packet gets an authentication request ('R'), not an error ('E')."""
    params = f"user\0{USER}\0database\0{DATABASE}\0\0".encode()
    packet = struct.pack("!ii", 8 + len(params), 196608) + params
    return first_reply(host, port, packet).startswith(b"R")


def _postgres_args(settings: Mapping[str, str]) -> list[str]:
    return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]


def _redis_url(host: str, port: int) -> str:
    return f"redis://{host}:{port}/0"


def _redis_ready(host: str, port: int) -> bool:
    return first_reply(host, port, b"*1\r\n$4\r\nPING\r\n").startswith(b"+PONG")


def _redis_args(settings: Mapping[str, str]) -> list[str]:
    return [arg for key, value in settings.items() for arg in (f"--{key}", value)]


def first_reply(host: str, port: int, payload: bytes, timeout_s: float = 0.5) -> bytes:
    """The first bytes a server answers to ``payload`` (b"" if it cannot be reached)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(payload)
            return sock.recv(64)
    except OSError:
        return b""


KINDS: Mapping[str, Kind] = {
    "postgres": Kind(
        "postgres",
        port=5432,
        image="postgres:16-alpine",
        url=_postgres_url,
        ready=_postgres_ready,
        program="postgres",
        args=_postgres_args,
        settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
        container_env={
            "POSTGRES_USER": USER,
            "POSTGRES_PASSWORD": PASSWORD,
            "POSTGRES_DB": DATABASE,
            "POSTGRES_INITDB_ARGS": "--no-sync",  # a throwaway cluster: no fsync at initdb
        },
    ),
    "redis": Kind(
        "redis",
        port=6379,
        image="redis:7-alpine",
        url=_redis_url,
        ready=_redis_ready,
        program="redis-server",
        args=_redis_args,
        settings={"save": "", "appendonly": "no"},  # no persistence: a stop loses the data
        # Reached from other containers: Redis refuses them in protected mode (no password).
        container_settings={"protected-mode": "no"},
    ),
}
