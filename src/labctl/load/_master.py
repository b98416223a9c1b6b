"""The load master: a locust master process that hands out one schedule and merges the tallies.

Run as ``python -m labctl.load._master --port P --plan FILE --out FILE --workers N`` by
``labctl.load.run``. It waits for N workers (local ones, or remote ones started with
``python -m labctl.load._worker --master-host``), sends each its share of the schedule with one
common start time, merges the HdrHistograms they send back, judges whether the schedule was
held, and writes the ``LoadReport`` as JSON. This module imports locust: never in the grader.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import MasterRunner  # noqa: E402

from labctl.load._judge import Plan, report  # noqa: E402
from labctl.load._model import Scenario  # noqa: E402
from labctl.load._tally import merge  # noqa: E402
from labctl.load._worker import Idle  # noqa: E402

START_MARGIN_S = 0.5  # between sending the plans and the first slot: every worker has it by then
POLL_S = 0.02
REPORT_GRACE_S = 15.0


class LoadFailed(Exception):
    pass


def wait_for_workers(ready: list[str], count: int, timeout_s: float) -> list[str]:
    """The first ``count`` workers that said ``labctl-ready`` (their plan handler exists)."""
    deadline = time.monotonic() + timeout_s
    while len(ready) < count:
        if time.monotonic() > deadline:
            raise LoadFailed(f"{len(ready)} of {count} load workers connected in {timeout_s:g} s")
        gevent.sleep(POLL_S)
    return sorted(ready[:count])


def run(runner: MasterRunner, plan: dict[str, Any], workers: int, ready_s: float) -> list[Any]:
    tallies: list[Any] = []
    failures: list[str] = []
    ready: list[str] = []
    runner.register_message("labctl-ready", lambda environment, msg: ready.append(msg.node_id))
    runner.register_message("labctl-tally", lambda environment, msg: tallies.append(msg.data))
    runner.register_message(
        "labctl-failed", lambda environment, msg: failures.append(msg.data["error"])
    )
    ids = wait_for_workers(ready, workers, ready_s)
    start_at = time.time() + START_MARGIN_S
    for index, client_id in enumerate(ids):
        share = {**plan, "start_at": start_at, "index": index, "count": len(ids)}
        runner.send_message("labctl-plan", share, client_id=client_id)
    deadline = start_at + plan["warmup_s"] + plan["duration_s"] + plan["scenario"]["timeout_s"]
    while len(tallies) < len(ids) and not failures:
        # Not the heartbeat: a starved worker misses heartbeats and still reports back.
        if time.time() > deadline + REPORT_GRACE_S:
            raise LoadFailed(f"{len(ids) - len(tallies)} load workers never reported back")
        gevent.sleep(POLL_S)
    if failures:
        raise LoadFailed(f"a load worker failed: {failures[0]}")
    return tallies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labctl.load._master")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--caller", type=int, help="the run directory goes when this pid does")
    args = parser.parse_args(argv)
    if args.caller:
        _clean_up_when_orphaned(args.caller, args.plan.parent)
    plan = json.loads(args.plan.read_text())
    env = Environment(user_classes=[Idle], events=None)
    runner = env.create_master_runner(args.bind, args.port)
    try:
        tallies = run(runner, plan, args.workers, args.ready_timeout)
    except LoadFailed as exc:
        print(f"labctl-load: {exc}", file=sys.stderr)
        return 3
    finally:
        runner.quit()
    judged = report(_plan(plan), merge(tallies))
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(judged.to_dict()))
    tmp.replace(args.out)
    return 0


def _clean_up_when_orphaned(caller: int, run_dir: Path) -> None:
    """On SIGTERM, remove the run's directory if the caller is gone, then exit.

    The caller removes it after every run it sees to the end, Ctrl-C included. A caller that
    is killed outright cannot: the kernel then sends this process SIGTERM (parent-death
    signal). The caller starts this process with SIGTERM blocked; it is unblocked here, with
    the handler in place, so one that came during start-up is handled now."""

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if os.getppid() != caller:
            shutil.rmtree(run_dir, ignore_errors=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _plan(plan: dict[str, Any]) -> Plan:
    return Plan(
        url=plan["url"],
        scenario=Scenario.from_dict(plan["scenario"]),
        rate=plan["rate"],
        duration_s=plan["duration_s"],
        warmup_s=plan["warmup_s"],
    )


if __name__ == "__main__":
    sys.exit(main())
