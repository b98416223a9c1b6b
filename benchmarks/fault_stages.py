"""The fault stages' verdicts over repeated runs, and their run time.

Grades the url-shortener reference on the three fault stages, and each broken variant on the
stage it must fail, ``--runs`` times with a different seed each time (``labctl check --stage``,
so the stages they need run first). Prints, per fixture and stage, how many runs gave the
expected status (the target is every run), each failed check's message as it comes, and the
stage's run time (the sum of its checks'
durations): mean and max. Exit code 1 if any run gave another status.

Usage: python benchmarks/fault_stages.py [--runs N] [--only FIXTURE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "url-shortener"
STAGES = ("cache-outage", "graceful-shutdown", "db-outage")
# fixture -> {stage: the status every run must give}
EXPECTED: dict[str, dict[str, str]] = {
    "reference": dict.fromkeys(STAGES, "pass"),
    "redis-no-timeout": {"cache-outage": "fail"},
    "sigterm-exits-at-once": {"graceful-shutdown": "fail"},
    "sigterm-not-handled": {"graceful-shutdown": "fail"},
    "db-never-reconnects": {"db-outage": "fail"},
    "db-error-shows-traceback": {"db-outage": "fail"},
}


def grade(fixture: str, stages: list[str], seed: int) -> dict[str, tuple[str, float]]:
    """One ``labctl check``: stage -> (status, seconds its checks took)."""
    with tempfile.TemporaryDirectory(prefix="labctl-bench-") as tmp:
        report = Path(tmp) / "report.json"
        stage_args = [arg for stage in stages for arg in ("--stage", stage)]
        where = ["--path", str(FIXTURES / fixture), "--seed", str(seed), "--json", str(report)]
        subprocess.run(
            [sys.executable, "-m", "labctl", "check", "url-shortener", *where, *stage_args],
            capture_output=True,
            check=False,
            timeout=600,
        )
        if not report.exists():
            return {stage: ("no report", 0.0) for stage in stages}
        data = json.loads(report.read_text())
    for stage in data["stages"]:
        for check in stage["checks"]:
            if check["status"] not in ("pass", "skip"):
                got = f" got: {check['got']}" if check.get("got") else ""
                print(f"    seed {seed}: {check['id']} {check['status']}: {check['message']}{got}")
    return {
        s["slug"]: (s["status"], sum(c["duration_s"] for c in s["checks"]))
        for s in data["stages"]
        if s["slug"] in stages
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--only", nargs="*", choices=sorted(EXPECTED), default=sorted(EXPECTED))
    args = parser.parse_args()
    ok = True
    print(f"{'fixture':<26} {'stage':<18} {'expected':<9} {'as expected':<12} run time mean / max")
    for fixture in args.only:
        expected = EXPECTED[fixture]
        seen: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for run in range(args.runs):
            for stage, outcome in grade(fixture, list(expected), seed=1000 + run).items():
                seen[stage].append(outcome)
        for stage, status in expected.items():
            outcomes = seen[stage]
            hits = sum(1 for got, _ in outcomes if got == status)
            ok &= hits == args.runs
            times = [t for _, t in outcomes] or [0.0]
            others = sorted({got for got, _ in outcomes if got != status})
            note = f"  (also: {', '.join(others)})" if others else ""
            print(
                f"{fixture:<26} {stage:<18} {status:<9} {hits:>2}/{args.runs:<9} "
                f"{statistics.mean(times):5.1f} s / {max(times):5.1f} s{note}",
                flush=True,
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
