"""``Replica``: one instance of the learner's service, a backend's ``Runner`` plus the lab's
readiness. Both backends start, wait, explain and restart through this one class.

``start()`` returns once the replica answers its protocol on PORT; when it cannot, the
``ServiceError`` says why in the learner's terms (exited early, wrong port, loopback only,
another protocol, never listened) with the last lines of this run's log. ``wait_ready()`` then
waits for the lab's readiness probe (the health stage judges it).
"""

from __future__ import annotations

from collections.abc import Sequence

import psutil

from labctl.errors import ServiceError
from labctl.services import Identity, Runner
from labctl.services.listeners import listeners
from labctl.services.readiness import PortWatch, Probe, wait_ready, wait_up

__all__ = ["Replica", "log_prefix"]

_LOG_TAIL = 30


def log_prefix(replica: int, replicas: int) -> str:
    """How a replica's log lines are shown: ``[your service]``, or ``[your service #1]``."""
    return "[your service]" if replicas == 1 else f"[your service #{replica}]"


class Replica:
    """Replica ``replica`` of the service; ``replicas`` is filled in with the whole set."""

    def __init__(
        self, runner: Runner, probe: Probe, *, replica: int = 0, ready_timeout_s: float = 30.0
    ) -> None:
        self.runner = runner
        self.probe = probe
        self.replica = replica
        self.port = runner.port
        self.ready_timeout_s = ready_timeout_s
        self._replicas: Sequence[Replica] = (self,)
        self._run_mark = 0  # first log line of the current run: error tails show only this run

    # -- where it is -------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return self.runner.address

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def replicas(self) -> Sequence[Replica]:
        return self._replicas

    @replicas.setter
    def replicas(self, every: Sequence[Replica]) -> None:
        self._replicas = tuple(every)

    @property
    def name(self) -> str:
        """``your service``, or ``your service #1`` when there are several."""
        return log_prefix(self.replica, len(self._replicas))[1:-1]

    # -- its state ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.runner.running

    @property
    def returncode(self) -> int | None:
        return self.runner.returncode

    def identity(self) -> Identity | None:
        """The oldest process holding a socket that listens on PORT (a pre-forking server's
        workers share the parent's socket; the parent is the server)."""
        pids = {found.pid for found in listeners(self.runner.pids()) if found.port == self.port}
        known: list[Identity] = []
        for pid in pids:
            try:
                known.append(Identity(pid, psutil.Process(pid).create_time()))
            except psutil.Error:
                continue
        return min(known, key=lambda i: (i.started, i.pid), default=None)

    # -- its life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start it and return once it answers its protocol on PORT; if it cannot, stop it."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running; terminate() it first")
        self._run_mark = self.log_mark()
        self.runner.launch()
        try:
            wait_up(
                self.probe,
                lambda: self.runner.address,
                self.ready_timeout_s,
                exited=self._raise_if_exited,
                watch=PortWatch(self.runner.pids, self.port),
                error=self._error,
            )
        except BaseException:
            self.runner.kill()
            raise

    def wait_ready(self, timeout_s: float) -> bool:
        answer = wait_ready(
            self.probe, lambda: self.runner.address, timeout_s, exited=self._raise_if_exited
        )
        return answer is not None and answer.ready

    def terminate(self, timeout_s: float = 10.0) -> int | None:
        return self.runner.terminate(timeout_s)

    def kill(self) -> int | None:
        return self.runner.kill()

    def restart(self) -> None:
        """terminate() then start(): same PORT, same environment, same log."""
        self.terminate()
        self.start()

    def pause(self) -> None:
        self.runner.pause()

    def resume(self) -> None:
        self.runner.resume()

    def close(self) -> None:
        self.runner.close()

    # -- its log ------------------------------------------------------------------------------

    def log_mark(self) -> int:
        """Number of complete log lines so far; pass it to log_lines() to see what follows."""
        self.runner.sync_log()
        return self.runner.log.mark()

    def log_lines(self, since: int = 0) -> list[str]:
        """stdout+stderr lines from line ``since`` on, an unfinished last line included."""
        self.runner.sync_log()
        return self.runner.log.lines(since)

    def tail(self, n: int = 20) -> list[str]:
        self.runner.sync_log()
        return self.runner.log.tail(n)

    # -- errors -------------------------------------------------------------------------------

    def _raise_if_exited(self, when: str) -> None:
        code = self.runner.returncode
        if code is None:
            return
        how, hint = self.runner.exit_story(code)
        raise self._error(f"{self.name} {how} {when}", hint)

    def _error(self, message: str, hint: str) -> ServiceError:
        lines = self.log_lines(self._run_mark)[-_LOG_TAIL:]
        return ServiceError(message, hint=hint, log=lines, log_source=self.name)
