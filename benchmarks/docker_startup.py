"""Start-up cost of the Docker backend against the local backend (the baseline), same machine.

For each backend, N times: bring up the url-shortener environment for the reference solution
(Postgres + Redis, then the service until GET /healthz answers 200) and tear it down. Prints, per
phase, the median and the ratio docker/local:

- dependencies ready: both dependencies answer their protocol (Docker: containers on the run's
  network, from the image settings, default the stand-ins of scripts/docker-images);
- build: Docker only, the learner's image from its Dockerfile (layer-cached after the first run);
- service ready: started until it answers its health path;
- teardown: everything stopped and removed (Docker: containers, network, built image).

    python benchmarks/docker_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
from pathlib import Path

from labctl.backends import named
from labctl.environment import Environment, Options
from labctl.model.lab import load_lab
from labctl.model.submission import load_submission

ROOT = Path(__file__).resolve().parents[1]
STANDINS = {
    "LABCTL_POSTGRES_IMAGE": "labctl-standin/postgres:15",
    "LABCTL_REDIS_IMAGE": "labctl-standin/redis:7.0",
}
PHASES = ("dependencies", "build", "service", "teardown")


def one_start(backend: str) -> dict[str, float]:
    lab = load_lab("url-shortener")
    submission = load_submission(ROOT / "fixtures/url-shortener/reference")
    options = Options(seed=1, run_id=secrets.token_hex(6))
    env = Environment(lab, submission, named(backend), options)
    with env:
        timings = {
            "dependencies": env.timings.dependencies_s,
            "build": env.timings.build_s,
            "service": env.timings.service_s,
        }
        started = time.perf_counter()
    timings["teardown"] = time.perf_counter() - started
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for key, value in STANDINS.items():
        os.environ.setdefault(key, value)
    one_start("docker")  # warm the engine's layer cache, as every run after a first build
    results = {b: [one_start(b) for _ in range(args.runs)] for b in ("local", "docker")}
    print(f"url-shortener reference, {args.runs} runs each, median seconds")
    print(f"{'phase':<14}{'local':>9}{'docker':>9}{'docker/local':>14}")
    for phase in (*PHASES, "total"):
        local, docker = (_median(results[b], phase) for b in ("local", "docker"))
        ratio = f"{docker / local:.1f}x" if local > 0.001 else "-"
        print(f"{phase:<14}{local:>9.2f}{docker:>9.2f}{ratio:>14}")
    print(f"images: {os.environ['LABCTL_POSTGRES_IMAGE']}, {os.environ['LABCTL_REDIS_IMAGE']}")


def _median(runs: list[dict[str, float]], phase: str) -> float:
    if phase == "total":
        return statistics.median(sum(r.values()) for r in runs)
    return statistics.median(r[phase] for r in runs)


if __name__ == "__main__":
    main()
