"""What the Docker tests share: the engine check (skip with a visible reason), the stand-in
images' settings, and a look at what labctl has left in the engine."""

from __future__ import annotations

import subprocess

import pytest

from labctl.backends.docker.engine import LABEL, engine_status

STANDIN_ENV = {
    "LABCTL_POSTGRES_IMAGE": "labctl-standin/postgres:15",
    "LABCTL_REDIS_IMAGE": "labctl-standin/redis:7.0",
}
BASE_IMAGES = ("python:3.11-slim-bookworm", "node:20-bookworm-slim")
NEEDED = (*STANDIN_ENV.values(), *BASE_IMAGES)
PYTHON_ONLY = (*STANDIN_ENV.values(), BASE_IMAGES[0])


def require_docker(images: tuple[str, ...] = NEEDED) -> None:
    """Skip (with the reason shown in the summary) unless an engine and the stand-ins are here."""
    ok, why = engine_status()
    if not ok:
        pytest.skip(f"Docker tests need a Docker engine: {why}")
    missing = [name for name in images if not _image_exists(name)]
    if missing:
        pytest.skip(f"stand-in images missing ({', '.join(missing)}): run scripts/docker-images")


def _image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def leftovers() -> dict[str, list[str]]:
    """labctl's containers, networks and images still in the engine (labelled or named)."""

    def lines(*args: str) -> list[str]:
        out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)
        return [line for line in out.stdout.splitlines() if line.strip()]

    return {
        "containers": lines("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}")
        + [n for n in lines("ps", "-a", "--format", "{{.Names}}") if n.startswith("labctl-")],
        "networks": lines("network", "ls", "--filter", f"label={LABEL}", "--format", "{{.Name}}")
        + [n for n in lines("network", "ls", "--format", "{{.Name}}") if n.startswith("labctl-")],
        "images": lines("images", "--filter", f"label={LABEL}", "--format", "{{.Repository}}")
        + [
            n
            for n in lines("images", "--format", "{{.Repository}}")
            if n.startswith("labctl-service")
        ],
    }
