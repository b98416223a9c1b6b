"""How long ``labctl grade`` takes for a cohort at each parallelism, against one at a time.

The cohort is the url-shortener fixtures (or the first ``--count`` of them), graded with one seed.
The baseline is ``--jobs 1``; each other figure is its wall time and its speed-up over it.
On a machine shared with other work, run it when the machine is quiet.

Usage: python benchmarks/cohort_parallel.py [--count N] [--jobs 1 2 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_FIXTURES = sorted(
    p for p in (ROOT / "fixtures" / "url-shortener").iterdir() if (p / "app.py").is_file()
)


def grade(paths: list[Path], jobs: int) -> float:
    with tempfile.TemporaryDirectory(prefix="labctl-bench-") as out:
        started = time.monotonic()
        command = [sys.executable, "-m", "labctl", "grade", *map(str, paths), "--out", out]
        subprocess.run(
            [*command, "--jobs", str(jobs), "--seed", "1"],
            capture_output=True,
            check=False,
        )
        return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--jobs", type=int, nargs="+", default=[2, 4])
    args = parser.parse_args()
    paths = PYTHON_FIXTURES[: args.count]
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    print(f"{len(paths)} submissions, {cores} cores, load average {load:.1f} before the runs")
    baseline = grade(paths, 1)
    print(f"--jobs 1 (baseline): {baseline:6.1f} s  {baseline / len(paths):5.1f} s each")
    for jobs in args.jobs:
        wall = grade(paths, jobs)
        print(f"--jobs {jobs}: {wall:6.1f} s  speed-up {baseline / wall:4.2f}x")


if __name__ == "__main__":
    main()
