"""The faults a grader injects during one check, undone when the check ends, and their timeline.

A grader gets a ``Faults`` from the ``faults`` fixture. Each method starts one fault and returns
a ``Fault`` (a context manager; ``end()`` undoes it early):

- dependencies, through their handle (local process now, container later; same methods):
  ``pause(dep)`` (SIGSTOP, undone by resume), ``stop(dep)`` (undone by start), ``restart(dep)``;
- the dependency's fault proxy: ``toxic(dep, labctl.faults.proxy.timeout())`` and the other toxics,
  ``down(dep)`` (refuse and cut connections);
- the learner's service: ``terminate()`` (SIGTERM, in the background: ``wait()`` gives the exit
  code), ``kill()`` (SIGKILL), ``restart_service()``; undone by starting the service again.

``traffic(send, rate=...)`` runs steady requests alongside. Whatever happens in the check, the
plugin calls ``undo()`` at its end: every fault still on is undone (newest first), traffic stops,
and ``timeline()`` gives the plain data the report carries: each fault's start and end, seconds
since the check began, and per-second successes, errors and latency of the traffic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from labctl.backends import DependencyHandle
from labctl.faults.proxy import Proxy, Toxic
from labctl.faults.traffic import C, PacedTraffic, per_second
from labctl.services import Service

__all__ = ["Fault", "Faults", "ServiceStop"]

_F = TypeVar("_F", bound="Fault")

_SERVICE_HEALTHY_S = 10.0


class Fault:
    """One fault: what, on what, when it started and ended (seconds since the check began)."""

    def __init__(
        self, faults: Faults[Any], kind: str, target: str, undo: Callable[[], None]
    ) -> None:
        self.kind = kind
        self.target = target
        self.start_s = faults.now()
        self.end_s: float | None = None
        self.detail = ""
        self._faults = faults
        self._undo = undo

    @property
    def active(self) -> bool:
        return self.end_s is None

    def end(self) -> None:
        """Undo the fault (once; a call after a successful undo does nothing)."""
        if self.end_s is not None:
            return
        self._undo()  # if this raises, the fault stays active and the check's end retries it
        self.end_s = self._faults.now()

    def __enter__(self) -> Fault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "target": self.target,
            "start_s": round(self.start_s, 3),
            "end_s": None if self.end_s is None else round(self.end_s, 3),
        }
        if self.detail:
            data["detail"] = self.detail
        return data


class ServiceStop(Fault):
    """A SIGTERM or SIGKILL sent to the service; ``wait()`` for its exit code."""

    def __init__(self, faults: Faults[Any], kind: str, stop: Callable[[], int | None]) -> None:
        super().__init__(faults, kind, "service", faults.start_service)
        self.exit_code: int | None = None
        self.exited_after_s: float | None = None
        self._thread = threading.Thread(target=self._run, args=(stop,), daemon=True)
        self._thread.start()

    def _run(self, stop: Callable[[], int | None]) -> None:
        self.exit_code = stop()
        self.exited_after_s = self._faults.now() - self.start_s
        self.detail = f"exit code {self.exit_code} after {self.exited_after_s:.2f} s"

    def wait(self, timeout_s: float | None = None) -> int | None:
        """The exit code, once the service has exited (None if it had to be killed)."""
        self._thread.join(timeout_s)
        return self.exit_code

    def end(self) -> None:
        self._thread.join()
        super().end()


class Faults(Generic[C]):
    """The faults and traffic of one check."""

    def __init__(
        self,
        *,
        deps: Mapping[str, DependencyHandle],
        proxies: Mapping[str, Proxy],
        service: Service | None,
        connect: Callable[[str, float], AbstractContextManager[C]],
        origin: float | None = None,
    ) -> None:
        self.deps = deps
        self.proxies = proxies
        self.service = service
        self.origin = time.monotonic() if origin is None else origin
        self.faults: list[Fault] = []
        self.traffics: list[PacedTraffic[C]] = []
        self._connect = connect  # (service URL, timeout) -> the client traffic sends with

    def now(self) -> float:
        return time.monotonic() - self.origin

    # -- dependencies ---------------------------------------------------------------------------

    def pause(self, dep: str) -> Fault:
        handle = self._dep(dep)
        handle.pause()
        return self._add(Fault(self, "pause", dep, handle.resume))

    def stop(self, dep: str) -> Fault:
        handle = self._dep(dep)
        fault = self._add(Fault(self, "stop", dep, handle.start))
        handle.stop()
        return fault

    def restart(self, dep: str) -> Fault:
        handle = self._dep(dep)
        fault = self._add(Fault(self, "restart", dep, lambda: None))
        handle.restart()
        fault.end()
        return fault

    # -- the fault proxy ------------------------------------------------------------------------

    def toxic(self, dep: str, toxic: Toxic) -> Fault:
        proxy = self._proxy(dep)
        proxy.add(toxic)
        fault = self._add(
            Fault(self, toxic.type, dep, lambda: proxy.remove(toxic, missing_ok=True))
        )
        fault.detail = toxic.describe()
        return fault

    def down(self, dep: str) -> Fault:
        proxy = self._proxy(dep)
        proxy.down()
        return self._add(Fault(self, "down", dep, proxy.up))

    # -- the service ----------------------------------------------------------------------------

    def terminate(self, timeout_s: float = 10.0) -> ServiceStop:
        """SIGTERM now; the service gets ``timeout_s`` to exit before SIGKILL."""
        service = self._service()
        stop = ServiceStop(self, "terminate", lambda: service.terminate(timeout_s))
        self._add(stop)
        return stop

    def kill(self) -> ServiceStop:
        service = self._service()
        stop = ServiceStop(self, "kill", service.kill)
        stop.wait()
        return self._add(stop)

    def restart_service(self) -> Fault:
        stop = self.terminate()
        stop.end()
        return stop

    def start_service(self) -> None:
        """Start the service again if it is not running (the undo of terminate and kill)."""
        service = self._service()
        if not service.running:
            service.start()
            service.wait_ready(_SERVICE_HEALTHY_S)

    # -- traffic and the end of the check -------------------------------------------------------

    def traffic(
        self,
        send: Callable[[C, int], object],
        *,
        rate: float,
        clients: int = 8,
        max_s: float = 60.0,
        timeout_s: float = 2.0,
    ) -> PacedTraffic[C]:
        """Steady requests (not yet started: use it as a context manager, or start() it)."""
        url = self._service().url
        source = PacedTraffic(
            lambda: self._connect(url, timeout_s),
            send,
            rate=rate,
            clients=clients,
            max_s=max_s,
            timeout_s=timeout_s,
            origin=self.origin,
        )
        self.traffics.append(source)
        return source

    def undo(self) -> None:
        """Stop the traffic and undo every fault still on, newest first; raise the first error."""
        for source in self.traffics:
            source.stop()
        errors: list[BaseException] = []
        for fault in reversed(self.faults):
            try:
                fault.end()
            except Exception as exc:  # keep undoing the others: none may outlive the check
                errors.append(exc)
        if errors:
            raise errors[0]

    def timeline(self) -> dict[str, Any] | None:
        """The faults and the traffic of this check as plain data; None if there were none."""
        if not self.faults and not self.traffics:
            return None
        samples = [s for source in self.traffics for s in source.samples]
        return {
            "faults": [fault.to_dict() for fault in self.faults],
            "traffic": per_second(samples),
        }

    # -- helpers --------------------------------------------------------------------------------

    def _add(self, fault: _F) -> _F:
        self.faults.append(fault)
        return fault

    def _dep(self, name: str) -> DependencyHandle:
        if name not in self.deps:
            raise ValueError(f"no dependency named {name!r}: the lab has {sorted(self.deps)}")
        return self.deps[name]

    def _proxy(self, name: str) -> Proxy:
        if name not in self.proxies:
            raise ValueError(f"no fault proxy for {name!r}: there are {sorted(self.proxies)}")
        return self.proxies[name]

    def _service(self) -> Service:
        if self.service is None:
            raise ValueError("no service is running")
        return self.service
