"""A load worker: a locust worker process that sends its share of an open-model schedule.

Run as ``python -m labctl.load._worker --master-host H --master-port P`` (locally, by
``labctl.load.run``, one per core; or on other machines against the same master). The master
sends a ``labctl-plan``: the schedule's start (wall clock), rate, warm-up and duration, and this
worker's share (slot ``k`` belongs to worker ``k % count``). Every slot starts its request on
time in its own greenlet whether or not earlier ones have answered; latency counts from the
slot (coordinated omission corrected, as wrk2 does) and from the actual send. The tally goes
back as a ``labctl-tally`` message. This module imports locust: it never runs in the grader.
"""

from __future__ import annotations

import argparse
import logging
import resource
import time
from typing import Any

from gevent import monkey

monkey.patch_all()  # before anything else opens a socket, as locust itself does on import

import gevent  # noqa: E402
from gevent.pool import Group  # noqa: E402
from locust import User, task  # noqa: E402
from locust.contrib.fasthttp import FastHttpSession  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.event import EventHook  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402

from labctl._pressure import cpu_waiting_s  # noqa: E402
from labctl.load._model import Scenario  # noqa: E402
from labctl.load._tally import Tally  # noqa: E402

POOL = 512  # connections per worker: enough for a stalled service at the rates we send
YIELD_EVERY = 16  # when behind schedule, let answers be read between bursts of sends
# gevent's timers wake up to 1 ms late (epoll waits in whole milliseconds): aim a little early
# so sends leave within about half a millisecond either side of their slot.
WAKE_EARLY_S = 0.0006
GIVE_UP_LAG_S = 1.0  # this far behind, the run is inconclusive anyway: stop sending


class Idle(User):
    """Locust needs a user class to exist; the schedule, not users, drives the sends."""

    abstract = False

    @task
    def idle(self) -> None:
        self.stop()


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Schedule:
    """This worker's slots of one plan, sent on time and tallied."""

    def __init__(self, env: Environment, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.scenario = Scenario.from_dict(plan["scenario"])
        self.rate = float(plan["rate"])
        self.index, self.count = int(plan["index"]), int(plan["count"])
        self.warm_slots = round(self.rate * plan["warmup_s"])
        self.slots = round(self.rate * (plan["warmup_s"] + plan["duration_s"]))
        self.tally = Tally()
        self.session = _session(env, plan["url"], self.scenario)
        # Slot times on this process's monotonic clock, anchored to the plan's wall-clock start.
        self.base = time.perf_counter() + (plan["start_at"] - time.time())

    def run(self) -> Tally:
        group = Group()
        cpu0, wall0, wait0 = cpu_s(), time.perf_counter(), cpu_waiting_s()
        behind, measuring = 0, False
        for k in range(self.index, self.slots, self.count):
            if k >= self.warm_slots and not measuring:  # the generator's CPU counts from here
                cpu0, wall0, wait0 = cpu_s(), time.perf_counter(), cpu_waiting_s()
                measuring = True
            delay = self.base + k / self.rate - time.perf_counter() - WAKE_EARLY_S
            if delay > 0:
                gevent.sleep(delay)
                behind = 0
            elif delay < -GIVE_UP_LAG_S:
                break  # the unsent slots show in the report as missing sends
            else:
                behind += 1
                if behind % YIELD_EVERY == 0:
                    gevent.sleep(0)
            group.spawn(self.send, k)
        group.join(timeout=self.scenario.timeout_s + 5)
        group.kill(block=False)
        self.tally.cpu_s = cpu_s() - cpu0
        self.tally.wall_s = time.perf_counter() - wall0
        wait1 = cpu_waiting_s()
        if wait0 is not None and wait1 is not None and self.tally.wall_s > 0:
            self.tally.pressure = (wait1 - wait0) / self.tally.wall_s
        return self.tally

    def send(self, k: int) -> None:
        slot = self.base + k / self.rate
        sent = time.perf_counter()
        response = self._request(self.scenario.paths[k % len(self.scenario.paths)])
        done = time.perf_counter()
        if k < self.warm_slots:
            return
        second = int((k - self.warm_slots) / self.rate)
        self.tally.first_slot = min(self.tally.first_slot, self.plan["start_at"] + k / self.rate)
        self.tally.last_done = max(self.tally.last_done, time.time())
        # A request that left a little early counts from when it left, never less.
        self.tally.record(second, sent - slot, done - min(slot, sent), done - sent)
        self._classify(second, response)

    def _request(self, path: str) -> Any:
        """The answer, or None when none came within the timeout (waiting for a free
        connection included, so every request is tallied, however stuck the service is)."""
        try:
            with gevent.Timeout(self.scenario.timeout_s):
                return self.session.request(
                    self.scenario.method,
                    path,
                    data=self.scenario.body,
                    headers=dict(self.scenario.headers) or None,
                )
        except gevent.Timeout:
            return None

    def _classify(self, second: int, response: Any) -> None:
        status = int(getattr(response, "status_code", 0) or 0)
        error = getattr(response, "error", None)
        if status == 0:
            timed_out = response is None or _timed_out(error)
            self.tally.error(second, "timeout" if timed_out else "connection")
        elif status not in self.scenario.ok_status:
            self.tally.error(second, "status", status)
        else:
            self.tally.answered(status)


def _timed_out(error: BaseException | None) -> bool:
    # geventhttpclient wraps the socket's timeout: RetriesExceeded(..., original=timeout).
    cause = getattr(error, "original", None) or error
    return isinstance(cause, TimeoutError | gevent.Timeout)


def _session(env: Environment, url: str, scenario: Scenario) -> FastHttpSession:
    session = FastHttpSession(
        base_url=url,
        # Our own timing and tally replace locust's per-request statistics (and their cost).
        request_event=EventHook(),  # type: ignore[no-untyped-call]
        user=None,
        max_retries=0,
        max_redirects=0,
        network_timeout=scenario.timeout_s,
        connection_timeout=scenario.timeout_s,
        concurrency=POOL,
    )
    # Never follow a redirect (its target is not the service), without the per-request
    # toggle of allow_redirects=False, which concurrent requests on one session would race on.
    # Every status is an answer; the scenario's ok_status decides which ones are errors.
    for name, codes in (("redirect_response_codes", ()), ("valid_response_codes", range(600))):
        setattr(session.client, name, frozenset(codes))
    return session


def _on_plan(runner: WorkerRunner, env: Environment, plan: dict[str, Any]) -> None:
    try:
        tally = Schedule(env, plan).run()
        runner.send_message("labctl-tally", tally.to_wire())
    except Exception as exc:  # the master must hear of it, or it waits for a tally forever
        logging.exception("load worker failed")
        runner.send_message("labctl-failed", {"error": f"{type(exc).__name__}: {exc}"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labctl.load._worker")
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, required=True)
    args = parser.parse_args(argv)
    env = Environment(user_classes=[Idle], events=None)
    runner = env.create_worker_runner(args.master_host, args.master_port)
    runner.register_message(
        "labctl-plan", lambda environment, msg: _on_plan(runner, env, msg.data), concurrent=True
    )
    # Locust's own client_ready may reach the master before the handler above exists: the
    # master sends the plan only to workers that said this.
    runner.send_message("labctl-ready")
    runner.greenlet.join()


if __name__ == "__main__":
    main()
