"""Save-to-verdict time of `labctl check --watch` on the url-shortener reference.

A copy of the reference with the `alias` stage broken (its alias pattern refuses `_`) runs under
`labctl check --watch --until alias` in a pseudo-terminal. Each round saves the fix and times
the moment the screen says `alias passes now` (the stage that was failing, graded first), then
saves the break again and times the end of that run (nothing failed last time, so it grades the
four stages in order and ends at alias). The clock starts at the file's write.
Target (issue 19): under 2 s for a functional stage.

Two baselines, measured in this script on the same project:
- `cold check`: what a learner does without --watch: save, then `labctl check --stage alias`
  (a new process, fresh dependencies, the stages alias needs graded before it);
- `watch, started at the change`: the same loop, but each run's process (and its Postgres,
  Redis and fault proxies) starts when the change arrives instead of ahead of it.

A learner takes longer to edit than a run needs to get ready; the benchmark waits `--think`
seconds (default 3) after each verdict before the next save. Run it alone:

    flock /tmp/labctl-bench.lock python benchmarks/watch_latency.py [--rounds 8]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "fixtures" / "url-shortener" / "reference"
ALIAS_OK = 'ALIAS = re.compile(r"[A-Za-z0-9_-]{3,32}")'
ALIAS_BROKEN = 'ALIAS = re.compile(r"[A-Za-z0-9-]{3,32}")'
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")
TARGET_S = 2.0
COLD_DRIVER = """
import sys
from pathlib import Path
from labctl.cli._exits import out
from labctl.model.submission import load_submission
from labctl.run.check import CheckRequest
from labctl.watch import Screen, Watching, watch
submission = load_submission(Path("."))
request = CheckRequest(lab="url-shortener", submission=submission, seed=1, until="alias")
sys.exit(watch(Watching(request, ahead=False), Screen(out, "url-shortener")))
"""


class Screen:
    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.text = ""

    def until(self, needle: str, timeout_s: float = 120) -> float:
        """Wall-clock time at which ``needle`` appeared."""
        deadline = time.monotonic() + timeout_s
        while needle not in self.text:
            if time.monotonic() > deadline:
                raise SystemExit(f"{needle!r} never appeared:\n{self.text[-3000:]}")
            try:
                self.text += ANSI.sub("", self.child.read_nonblocking(65536, timeout=0.05))
            except pexpect.TIMEOUT:
                continue
        seen = time.time()
        self.text = self.text.partition(needle)[2]
        return seen


def project(tmp: Path) -> tuple[Path, str]:
    for name in ("app.py", "labctl.toml", "Dockerfile"):
        shutil.copy(REFERENCE / name, tmp / name)
    source = (tmp / "app.py").read_text()
    (tmp / "app.py").write_text(source.replace(ALIAS_OK, ALIAS_BROKEN))
    return tmp / "app.py", source


def save(path: Path, text: str) -> float:
    path.write_text(text)
    return path.stat().st_mtime


def watch_rounds(argv: list[str], rounds: int, think_s: float) -> tuple[list[float], list[float]]:
    fixed, broken = [], []
    with tempfile.TemporaryDirectory() as tmp:
        app, source = project(Path(tmp))
        child = pexpect.spawn(
            sys.executable, argv, cwd=tmp, encoding="utf-8", codec_errors="replace",
            dimensions=(50, 200), env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        screen = Screen(child)
        try:
            screen.until("run took")
            for _ in range(rounds):
                time.sleep(think_s)
                saved = save(app, source)
                fixed.append(screen.until("alias passes now") - saved)
                screen.until("after your save ·")
                time.sleep(think_s)
                saved = save(app, source.replace(ALIAS_OK, ALIAS_BROKEN))
                broken.append(screen.until("3 of 4 stages passed") - saved)
                screen.until("after your save ·")
        finally:
            child.sendcontrol("c")
            child.expect(pexpect.EOF, timeout=60)
            child.close()
    return fixed, broken


def cold_checks(rounds: int) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        app, source = project(Path(tmp))
        for _ in range(rounds):
            saved = save(app, source)
            subprocess.run(
                [sys.executable, "-m", "labctl", "check", "--stage", "alias"],
                cwd=tmp, capture_output=True, check=True,
            )  # fmt: skip
            times.append(time.time() - saved)
    return times


def line(label: str, times: list[float], baseline: float | None = None) -> float:
    median = statistics.median(times)
    worst = max(times)
    ratio = f"  {median / baseline:.2f}x the watch" if baseline else ""
    print(
        f"{label:<48} median {median:5.2f} s  min {min(times):5.2f}  max {worst:5.2f}  "
        f"(n={len(times)}){ratio}"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--think", type=float, default=3.0)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    watch_argv = ["-m", "labctl", "check", "--watch", "--until", "alias"]
    fixed, broken = watch_rounds(watch_argv, args.rounds, args.think)
    late_fixed, late_broken = watch_rounds(["-c", COLD_DRIVER], args.rounds, args.think)
    cold = cold_checks(args.rounds)
    print("save -> verdict of the stage that was failing (alias), url-shortener reference:")
    ours = line("watch: fix saved -> 'alias passes now'", fixed)
    line("watch: break saved -> all 4 graded, alias fails", broken)
    line("baseline: watch, run started at the change", late_fixed, ours)
    line("  (break saved -> all 4 graded)", late_broken)
    line("baseline: cold `labctl check --stage alias`", cold, ours)
    verdict = "met" if ours < TARGET_S else "MISSED"
    print(f"target {TARGET_S:.1f} s: {verdict} ({ours / TARGET_S:.2f} of it)")
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
