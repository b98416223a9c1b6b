"""Calibrates the bank-transfers `throughput` stage (lab.toml's [budgets.throughput]): N runs of
the reference, the Node solution and the variant aimed at the budget (deadlocks-retried), each
a full `labctl check --stage throughput`, with the verdicts counted and each run's figures. The
budget is right when the reference and Node pass N/N and the variant fails N/N (an inconclusive
run counts as neither: the machine was too busy to judge).

Usage: python benchmarks/throughput_calibration.py [--runs 20] [--solution reference ...]
(about 15 s per run: 20 runs of three solutions take ~15 minutes; run it on a quiet machine,
under `flock /tmp/labctl-bench.lock`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAB = "bank-transfers"
EXPECTED = {"reference": "pass", "node": "pass", "deadlocks-retried": "fail"}
CHECK = "throughput/hot-accounts-hold-the-throughput-budget"


def check_once(solution: str, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="labctl-calibration-") as tmp:
        out = Path(tmp) / "report.json"
        path = ROOT / "fixtures" / LAB / solution
        args = ["check", LAB, "--path", str(path), "--stage", "throughput", "--seed", str(seed)]
        subprocess.run(
            [sys.executable, "-m", "labctl", *args, "--json", str(out)],
            capture_output=True,
            timeout=600,
            check=False,
        )
        report = json.loads(out.read_text())
    return next(c for s in report["stages"] for c in s["checks"] if c["id"] == CHECK)


def figures(check: dict[str, Any]) -> str:
    if not check.get("load"):
        return " | ".join(check.get("message", "").splitlines()[-3:])
    run = check["load"][0]
    lat, gen = run["latency_ms"], run["generator"]
    return (
        f"{run['achieved_rps']:6.1f}/s p50 {lat['p50']:6.1f} p99 {lat['p99']:7.1f} "
        f"max {lat['max']:7.1f} ms, errors {sum(run['errors'].values())}, "
        f"client gap p99 {run['send_lag_ms']['p99']:.1f} ms, grader CPU {gen['busiest']:.0%}, "
        f"CPU pressure {gen['cpu_pressure']:.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--solution", action="append", choices=list(EXPECTED))
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    tallies = {}
    for solution in args.solution or EXPECTED:
        tally: Counter[str] = Counter()
        for i in range(args.runs):
            check = check_once(solution, seed=2000 + i)
            tally[check["status"]] += 1
            print(
                f"{solution:<18} run {i + 1:>2}: {check['status']:<12} {figures(check)} "
                f"(load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        tallies[solution] = tally
    print()
    for solution, tally in tallies.items():
        want = EXPECTED[solution]
        print(f"{solution:<18} {tally[want]}/{args.runs} {want}  {dict(tally)}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
