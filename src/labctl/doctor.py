"""What ``labctl doctor`` finds: Python, labctl, the dependency binaries, the Docker engine (and
which backend ``auto`` picks), loopback ports; and the clean-up of a crashed run's leftovers."""

from __future__ import annotations

import platform
import sys

from labctl import __version__
from labctl._net import free_port
from labctl.backends import Finding, named
from labctl.backends.docker.engine import cleanup, engine_status
from labctl.errors import SetupError

Row = tuple[str, str, str]  # mark, what, detail


def findings() -> list[Finding]:
    """Each dependency kind labctl knows, and whether this machine can run it locally."""
    return named("local").findings()


def rows(found: list[Finding]) -> list[Row]:
    return [
        ("✔", "python", f"{platform.python_version()} ({sys.executable})"),
        ("✔", "labctl", __version__),
        *(("✔" if f.ok else "✘", f.kind, f.detail) for f in found),
        _docker_row(),
        _port_row(),
    ]


def cleanup_docker() -> str:
    """Remove what labctl's finished runs left in the Docker engine; say what went."""
    ok, why = engine_status()
    if not ok:
        raise SetupError(f"cannot clean up Docker: {why}", hint="start the Docker engine")
    done = cleanup()
    said = (
        f"removed {done.containers} containers, {done.networks} networks and {done.images} "
        "images labelled as labctl's"
    )
    if done.kept_runs:
        said += f"; kept {done.kept_runs} runs still in progress (their labctl is running)"
    return said


def _docker_row() -> Row:
    ok, why = engine_status()
    if ok:
        return "✔", "docker", f"{why}: --backend auto uses Docker for projects with a Dockerfile"
    return "·", "docker", f"{why}: --backend auto uses the local backend"


def _port_row() -> Row:
    try:
        return "✔", "loopback", f"can bind 127.0.0.1 (port {free_port()} was free)"
    except OSError as exc:
        return "✘", "loopback", f"cannot bind 127.0.0.1: {exc}"
