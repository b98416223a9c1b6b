"""Calibrates the url-shortener `latency` stage: N runs of the reference, the Node solution and
the slow variant, each a full `labctl check --stage latency`, with the verdicts counted and the
figures each run measured. The budget is right when the reference and Node pass N/N and the
slow variant fails N/N (an inconclusive run counts as neither: it says the machine was busy).

Usage: python benchmarks/latency_calibration.py [--runs 20] [--solution reference ...]
(about 20 s per run: 20 runs of three solutions take ~20 minutes; run it on a quiet machine).
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
SOLUTIONS = ("reference", "node", "slow-redirects")
EXPECTED = {"reference": "pass", "node": "pass", "slow-redirects": "fail"}
CHECK = "latency/redirects-hold-their-latency-budget"


def check_once(solution: str, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="labctl-calibration-") as tmp:
        out = Path(tmp) / "report.json"
        path = ROOT / "fixtures" / "url-shortener" / solution
        args = ["check", "url-shortener", "--path", str(path), "--stage", "latency"]
        subprocess.run(
            [sys.executable, "-m", "labctl", *args, "--seed", str(seed), "--json", str(out)],
            capture_output=True,
            timeout=600,
            check=False,
        )
        report = json.loads(out.read_text())
    check = next(c for s in report["stages"] for c in s["checks"] if c["id"] == CHECK)
    return check


def figures(check: dict[str, Any]) -> str:
    if not check.get("load"):  # an error: its last lines say what went wrong
        return " | ".join(check.get("message", "").splitlines()[-3:])
    run = check["load"][0]
    lat, gen = run["latency_ms"], run["generator"]
    return (
        f"p50 {lat['p50']:6.1f} p99 {lat['p99']:7.1f} max {lat['max']:7.1f} ms, "
        f"achieved {run['achieved_rps']:g}/s, errors {sum(run['errors'].values())}, "
        f"lag p99 {run['send_lag_ms']['p99']:.1f} ms, generator busiest {gen['busiest']:.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--solution", action="append", choices=SOLUTIONS)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    tallies = {}
    for solution in args.solution or SOLUTIONS:
        tally: Counter[str] = Counter()
        for i in range(args.runs):
            check = check_once(solution, seed=1000 + i)
            tally[check["status"]] += 1
            load1 = os.getloadavg()[0]
            print(
                f"{solution:<15} run {i + 1:>2}: {check['status']:<12} {figures(check)} "
                f"(load {load1:.2f})",
                flush=True,
            )
        tallies[solution] = tally
    print()
    for solution, tally in tallies.items():
        want = EXPECTED[solution]
        print(f"{solution:<15} {tally[want]}/{args.runs} {want}  {dict(tally)}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
