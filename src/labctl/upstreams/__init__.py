"""Upstream stubs: HTTP services the harness runs for the learner's service to call.

A lab declares each stub in lab.toml and writes its handler in its grader pack; the harness needs
no change for a new one::

    [upstreams.bank]
    env = "BANK_URL"            # the service finds the stub's base URL in this env var
    handler = "bank:Bank"       # module in the grader pack : a class (or factory) of handlers

A handler is any callable taking a ``StubRequest`` and returning a ``Reply``; it owns the stub's
state (a bank's ledger). The harness records every request a stub receives (``received()``) and
lets a grader program misbehaviour for the current check: latency, error answers for the next N
calls or a seeded fraction of them, hangs past the caller's timeout (before or after the handler
ran), and hooks that run after the handler and before the answer leaves ("SIGKILL the service
once the bank has executed the charge"). ``reset()`` forgets the programming, not the state;
the grading plugin calls it when each check ends.

Stubs serve HTTP/1.1 from threads of the grading process. ``start(bind)`` chooses the address
they listen on, which is also where the service reaches them: loopback for a local service; the
run network's gateway for a container.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from labctl.errors import DependencyError, LabError
from labctl.model.lab import UpstreamSpec
from labctl.model.packs import pack_object
from labctl.upstreams._rules import Action, Rules
from labctl.upstreams._server import StubServer
from labctl.upstreams._types import Handler, Received, Reply, StubRequest

__all__ = ["Handler", "Received", "Reply", "StubRequest", "Upstream", "load_handler"]

LOOPBACK = "127.0.0.1"


class Upstream:
    """One running stub: its URL, its handler, what it received, and its programmed behaviour."""

    def __init__(self, spec: UpstreamSpec, handler: Handler) -> None:
        self.name = spec.name
        self.env = spec.env
        self.handler = handler
        self.url = ""
        self.errors: list[str] = []  # handler exceptions: bugs in the lab, shown to its author
        self._rules = Rules()
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server: Any = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (0 before ``start()``)."""
        return 0 if self._server is None else int(self._server.port)

    def start(self, bind: str = LOOPBACK) -> None:
        """Listen on ``bind`` (a free port); the service is told ``http://bind:port``."""
        try:
            self._server = StubServer(bind, self.serve, self.name)
        except OSError as exc:
            raise DependencyError(
                f"upstream stub {self.name!r} could not listen on {bind}: {exc}",
                hint="free a port or choose another bind address",
            ) from exc
        self.url = f"http://{bind}:{self._server.port}"
        self._server.serve_in_background()

    def close(self) -> None:
        """Release hung calls and stop serving. Idempotent, never raises."""
        self._rules.release_hung()
        if self._server is not None:
            self._server.stop()
            self._server = None

    # -- what it received -----------------------------------------------------------------------

    def mark(self) -> int:
        """How many requests so far; ``received(since=mark)`` shows only the later ones."""
        with self._lock:
            return len(self._received)

    def received(self, since: int = 0) -> list[Received]:
        with self._lock:
            return self._received[since:]

    # -- behaviour for the current check --------------------------------------------------------

    def latency(self, seconds: float, *, path: str | None = None) -> None:
        """Every call (to ``path``, or any) waits ``seconds`` before it is handled."""
        self._rules.set_latency(seconds, path)

    def fail_next(self, n: int = 1, *, status: int = 503, path: str | None = None) -> None:
        """The next ``n`` calls answer ``status`` without running the handler."""
        self._rules.add_failures(n, status, path)

    def fail_fraction(
        self, fraction: float, *, seed: int | str, status: int = 503, path: str | None = None
    ) -> None:
        """Each call answers ``status`` with probability ``fraction``, drawn from ``seed``."""
        self._rules.set_fraction(fraction, status, seed, path)

    def hang_next(self, n: int = 1, *, execute: bool = False, path: str | None = None) -> None:
        """The next ``n`` calls never get an answer (until reset()); with ``execute``, the
        handler runs first: the work is done but the answer is lost."""
        self._rules.add_hangs(n, execute, path)

    def after_next(
        self,
        action: Action,
        *,
        n: int = 1,
        when: Callable[[StubRequest, Reply], bool] | None = None,
        path: str | None = None,
    ) -> None:
        """Run ``action(request, reply)`` after the handler of the next ``n`` calls whose reply
        matches ``when``, before their answer leaves (for example: kill the service)."""
        self._rules.add_hook(action, n, when, path)

    def reset(self) -> None:
        """Forget all programmed behaviour and release hung calls; state and records stay."""
        self._rules.reset()

    def take_errors(self) -> list[str]:
        """The handler's exceptions since the last call (bugs in the lab's stub), forgotten."""
        with self._lock:
            errors, self.errors = self.errors, []
        return errors

    # -- called by the server, one thread per connection ----------------------------------------

    def serve(self, request: StubRequest) -> Reply | None:
        """The answer to ``request`` under the current behaviour; None: hang up, no answer."""
        index = self._record(Received(request, time.monotonic()))
        plan = self._rules.plan(request)
        if plan.delay_s:
            time.sleep(plan.delay_s)
        if plan.hang and not plan.hang.execute:
            self._update(index, "hung", None, executed=False)
            self._rules.wait_released(plan.hang)
            return None
        if plan.status is not None:
            self._update(index, "injected", plan.status, executed=False)
            return Reply.json(plan.status, {"error": "injected by labctl"})
        reply = self._run_handler(index, request)
        for hook in self._rules.hooks_for(request, reply):
            hook(request, reply)
        if plan.hang:
            self._update(index, "hung", reply.status, executed=True)
            self._rules.wait_released(plan.hang)
            return None
        return reply

    def _run_handler(self, index: int, request: StubRequest) -> Reply:
        try:
            reply = self.handler(request)
        except Exception as exc:
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._update(index, "error", 500, executed=True)
            return Reply.json(500, {"error": f"stub {self.name} failed: {exc}"})
        self._update(index, "answered", reply.status, executed=True)
        return reply

    def _record(self, entry: Received) -> int:
        with self._lock:
            self._received.append(entry)
            return len(self._received) - 1

    def _update(self, index: int, outcome: str, status: int | None, *, executed: bool) -> None:
        with self._lock:
            entry = self._received[index]
            self._received[index] = replace(
                entry, outcome=outcome, status=status, executed=executed
            )


def load_handler(spec: UpstreamSpec, graders_dir: Path) -> Handler:
    """Import ``spec.handler`` (``module:callable``) from the grader pack and make a handler."""
    where = f"upstreams.{spec.name}.handler"
    hint = (
        "point it at module:callable inside the grader pack; the callable takes no "
        "arguments and returns a handler (request -> Reply)"
    )
    factory = pack_object(graders_dir, spec.handler, where=where, hint=hint)
    try:
        handler: Handler = factory()  # type: ignore[operator]
    except Exception as exc:
        raise LabError(
            f"the lab's {where} ({spec.handler}) could not make a handler: "
            f"{type(exc).__name__}: {exc}",
            hint=hint,
        ) from exc
    if not callable(handler):
        raise LabError(
            f"the lab's {where} ({spec.handler}) made a {type(handler).__name__}, not a handler",
            hint="the callable must return a handler: an object called with a StubRequest",
        )
    return handler


def start_all(
    specs: tuple[UpstreamSpec, ...],
    graders_dir: Path,
    *,
    bind: str = LOOPBACK,
) -> Mapping[str, Upstream]:
    """Load and start every declared stub; on any error, stop those already started."""
    started: dict[str, Upstream] = {}
    try:
        for spec in specs:
            upstream = Upstream(spec, load_handler(spec, graders_dir))
            upstream.start(bind)
            started[spec.name] = upstream
    except BaseException:
        for upstream in started.values():
            upstream.close()
        raise
    return started
