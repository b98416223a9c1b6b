"""End-to-end wall time of `labctl check url-shortener` on the reference, functional stages only.

Target (issue: labctl core): under 5 s including Postgres and Redis start. Prints each run's wall
time, where it went (from the report's environment timings), and the ratio against the target
and against a named baseline measured in this script: the same grader run with Postgres started
the naive way (a fresh initdb for the run, no template cache).

    python benchmarks/check_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0


def one_run(env: dict[str, str]) -> tuple[float, dict[str, float], int]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "labctl",
                "check",
                "url-shortener",
                "--path",
                str(ROOT / "fixtures/url-shortener/reference"),
                "--json",
                str(report),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        data = json.loads(report.read_text())
    timings = data.get("meta", {}).get("environment", {}).get("timings_s", {})
    timings["grading"] = data["duration_s"] - sum(timings.values())
    return wall, timings, proc.returncode


def series(label: str, runs: int, env: dict[str, str]) -> float:
    walls = []
    for i in range(runs):
        wall, timings, code = one_run(env)
        assert code == 0, f"run {i + 1} failed with exit code {code}"
        walls.append(wall)
        parts = "  ".join(f"{k} {v:.2f}s" for k, v in timings.items())
        print(f"{label:>9} run {i + 1}: {wall:.2f} s wall (exit {code})  [{parts}]")
    median = statistics.median(walls)
    print(f"{label:>9} median: {median:.2f} s")
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    with tempfile.TemporaryDirectory() as cold_cache:
        # The baseline: a cache that is emptied before every run, so each run pays for initdb.
        # (Traversable: as root, Postgres runs as an unprivileged user that must reach it.)
        os.chmod(cold_cache, 0o711)
        naive = []
        for _ in range(max(1, args.runs // 2)):
            with tempfile.TemporaryDirectory(dir=cold_cache) as cache:
                os.chmod(cache, 0o711)
                wall, _, code = one_run({**env, "LABCTL_CACHE_DIR": cache})
                assert code == 0, f"the baseline run failed with exit code {code}"
                naive.append(wall)
        naive_median = statistics.median(naive)
        print(f"    naive median (initdb every run): {naive_median:.2f} s")
    labctl = series("labctl", args.runs, env)
    print(
        f"\nlabctl check, functional stages: {labctl:.2f} s median "
        f"({labctl / TARGET_S:.2f}x the {TARGET_S:g} s target; "
        f"{naive_median / labctl:.2f}x faster than initdb-per-run)"
    )


if __name__ == "__main__":
    main()
