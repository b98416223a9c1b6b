"""A load worker: a locust worker process that sends its share of an open-model schedule.

Run as ``python -m labctl.load._worker --master-host H --master-port P`` (locally, by
``labctl.load.run``, one per core; or on other machines against the same master). The master
sends a ``labctl-plan``: the schedule's start (wall clock), rate, warm-up and duration, and this
worker's share (slot ``k`` belongs to worker ``k % count``). Every slot starts its request on
time in its own greenlet whether or not earlier ones have answered; latency counts from the
slot (coordinated omission corrected, as wrk2 does) and from the actual send. The tally goes
back as a ``labctl-tally`` message. This module imports locust: it never runs in the grader.

Requests go out through geventhttpclient's ``HTTPClient``, the client under locust's
``FastHttpUser``, without ``FastHttpSession``'s per-request layers (URL parsing, cookies,
redirects, request events): those were two thirds of a worker's CPU per request, and a
generator that runs out of CPU makes a run inconclusive.
"""

from __future__ import annotations

import argparse
import logging
import resource
import time
from typing import Any
from urllib.parse import urlsplit

from gevent import monkey

monkey.patch_all()  # before anything else opens a socket, as locust itself does on import

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402
from locust import User, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402

from labctl import __version__  # noqa: E402
from labctl._pressure import cpu_waiting_s  # noqa: E402
from labctl.load._model import Scenario  # noqa: E402
from labctl.load._tally import Tally, second_pressure  # noqa: E402

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

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.scenario = Scenario.from_dict(plan["scenario"])
        self.rate = float(plan["rate"])
        self.index, self.count = int(plan["index"]), int(plan["count"])
        self.warm_slots = round(self.rate * plan["warmup_s"])
        self.slots = round(self.rate * (plan["warmup_s"] + plan["duration_s"]))
        self.tally = Tally()
        self.client, self.paths = _client(plan["url"], self.scenario)
        self.body = self.scenario.body.encode() if self.scenario.body is not None else None
        self.headers = dict(self.scenario.headers)
        # Slot times on this process's monotonic clock, anchored to the plan's wall-clock start.
        self.base = time.perf_counter() + (plan["start_at"] - time.time())
        self.in_flight = 0
        self.scheduled = False  # every slot sent (or given up on)
        self.all_done = Event()

    def run(self) -> Tally:
        cpu0, wall0, wait0 = cpu_s(), time.perf_counter(), cpu_waiting_s()
        behind, measuring, second = 0, False, -1
        marks: list[tuple[int, float, float | None]] = []  # (second, time, CPU wait so far)
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
            if measuring and int((k - self.warm_slots) / self.rate) > second:  # a new second
                second = int((k - self.warm_slots) / self.rate)
                marks.append((second, time.perf_counter(), cpu_waiting_s()))
            # A raw greenlet per slot: a Greenlet object and a pool's bookkeeping cost more
            # than the count kept here, and every send ends by its own timeout.
            self.in_flight += 1
            gevent.spawn_raw(self.send, k)
        self.scheduled = True
        if self.in_flight:
            self.all_done.wait(timeout=self.scenario.timeout_s + 5)
        self.client.close()
        self.tally.cpu_s = cpu_s() - cpu0
        self.tally.wall_s = time.perf_counter() - wall0
        wait1 = cpu_waiting_s()
        if wait0 is not None and wait1 is not None and self.tally.wall_s > 0:
            self.tally.pressure = (wait1 - wait0) / self.tally.wall_s
        marks.append((second + 1, time.perf_counter(), wait1))
        self.tally.second_pressure = second_pressure(marks)
        return self.tally

    def send(self, k: int) -> None:
        try:
            self._send(k)
        finally:
            self.in_flight -= 1
            if not self.in_flight and self.scheduled:
                self.all_done.set()

    def _send(self, k: int) -> None:
        slot = self.base + k / self.rate
        sent = time.perf_counter()
        status, error = self._request(self.paths[k % len(self.paths)])
        done = time.perf_counter()
        if k < self.warm_slots:
            return
        second = int((k - self.warm_slots) / self.rate)
        self.tally.first_slot = min(self.tally.first_slot, self.plan["start_at"] + k / self.rate)
        self.tally.last_done = max(self.tally.last_done, time.time())
        # A request that left a little early counts from when it left, never less.
        self.tally.record(second, sent - slot, done - min(slot, sent), done - sent)
        if error:
            self.tally.error(second, error)
        elif status not in self.scenario.ok_status:
            self.tally.error(second, "status", status)
        else:
            self.tally.answered(status)

    def _request(self, path: str) -> tuple[int, str]:
        """The answer's status and ``""``, or ``0`` and the kind of error: ``timeout`` when
        no answer came within the scenario's timeout (waiting for a free connection
        included, so every request is tallied however stuck the service is), ``connection``
        when the connection failed or the answer was not HTTP."""
        try:
            with gevent.Timeout(self.scenario.timeout_s):
                response = self.client.request(
                    self.scenario.method, path, body=self.body, headers=self.headers
                )
                try:
                    response.read()
                finally:
                    response.release()  # back to the pool, or closed if it cannot be reused
                return response.status_code, ""
        except (gevent.Timeout, TimeoutError):
            return 0, "timeout"
        except Exception:  # refused, reset, closed, not HTTP: no answer
            return 0, "connection"


def _client(url: str, scenario: Scenario) -> tuple[HTTPClient, tuple[str, ...]]:
    """The connection pool to the service, and the scenario's paths under the URL's own path.
    It never follows a redirect (its target is not the service): every status is an answer,
    and the scenario's ``ok_status`` decides which ones are errors."""
    parts = urlsplit(url)
    client = HTTPClient(
        parts.hostname or "127.0.0.1",
        port=parts.port or 80,
        headers={"User-Agent": f"labctl-load/{__version__}"},
        connection_timeout=scenario.timeout_s,
        network_timeout=scenario.timeout_s,
        concurrency=POOL,
    )
    prefix = parts.path.rstrip("/")
    return client, tuple(prefix + path for path in scenario.paths)


def _on_plan(runner: WorkerRunner, plan: dict[str, Any]) -> None:
    try:
        tally = Schedule(plan).run()
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
        "labctl-plan", lambda environment, msg: _on_plan(runner, msg.data), concurrent=True
    )
    # Locust's own client_ready may reach the master before the handler above exists: the
    # master sends the plan only to workers that said this.
    runner.send_message("labctl-ready")
    runner.greenlet.join()


if __name__ == "__main__":
    main()
