"""The pytest plugin that turns a grader package into staged checks against one Environment.

Registered explicitly (``pytest.main(args, plugins=[LabctlPlugin(...)])``) in the grading child
process. It provides the fixtures graders use (``service``, ``http``, ``deps``, ``upstreams``,
``rng``, ``lab``, ``seed``, ``load``, ``faults``, ``proxies``), the markers (``stage``, ``points``,
``hidden``), runs checks in lab.toml's stage order, skips a stage whose ``needs`` did not pass,
enforces each stage's timeout, attaches the service's own log lines to a failing check, turns
``Inconclusive`` into an inconclusive check, resets the upstream stubs' programmed behaviour and
undoes a check's faults when it ends (keeping its fault timeline), and collects everything into
``StageResult``s.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from labctl.backends import DependencyHandle
from labctl.environment import Environment
from labctl.errors import Failure, Inconclusive, ServiceError
from labctl.faults import Faults
from labctl.faults.proxy import Proxy
from labctl.grading.http import Http
from labctl.grading.load import Load
from labctl.load import LoadReport
from labctl.model.lab import Lab, Stage
from labctl.progress import Event
from labctl.results import CheckResult, StageResult, Status, stage_status
from labctl.services import Service
from labctl.services.replica import log_prefix
from labctl.upstreams import Upstream

if TYPE_CHECKING:  # grpcio loads only for gRPC labs
    import grpc as grpc_typing

    from labctl.grading.grpc import Grpc, Protos

LOG_LINES_KEPT = 40
MARKERS = (
    "stage(slug): the lab stage this check belongs to (lab.toml [[stages]] slug)",
    "points(n): points this check is worth (default 1)",
    "hidden: the learner sees only this check's title and status",
)


_VERBS = {
    Status.FAIL: "failed",
    Status.ERROR: "could not be graded",
    Status.SKIP: "was skipped",
    Status.INCONCLUSIVE: "was inconclusive",
}


class StageTimeout(Failure):
    """The stage's checks ran past the stage's timeout."""


@dataclass
class _Check:
    """What is known of one check while pytest runs its phases."""

    id: str
    title: str
    stage: str
    points: int
    hidden: bool
    log_marks: tuple[int, ...] = ()  # each replica's log line count when the check began
    started: float = field(default_factory=time.monotonic)
    status: Status = Status.PASS
    fields: dict[str, Any] = field(default_factory=dict)


class LabctlPlugin:
    def __init__(
        self,
        lab: Lab,
        stages: tuple[Stage, ...],
        env: Environment,
        on_event: Callable[[Event], None] = lambda event: None,
        *,
        order: tuple[str, ...] = (),
        stop_after_failure: bool = False,
    ) -> None:
        """``order``: stages to run first, in this order (the rest follow in lab order); a stage
        run before what it needs is not held back by them. ``stop_after_failure``: no stage runs
        after one that failed (``labctl check --watch``)."""
        self._lab = lab
        self._on_event = on_event
        self._stages = stages
        self._env = env
        self.errors: list[str] = []
        self._order = {s.slug: i for i, s in enumerate(lab.stages)}
        self._run_order = {slug: i - len(order) for i, slug in enumerate(order)}
        self._stop_after_failure = stop_after_failure
        self.stopped_after: str | None = None  # the failed stage that ended the run early
        self._selected = {s.slug for s in stages}
        self._checks: dict[str, _Check] = {}
        self._results: dict[str, list[CheckResult]] = {s.slug: [] for s in stages}
        self._spent: dict[str, float] = {s.slug: 0.0 for s in stages}
        self._current_stage: str | None = None

    # -- configuration and collection ---------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        for line in MARKERS:
            config.addinivalue_line("markers", line)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid}: {report.longreprtext}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            slug = self._stage_of(item)
            (keep if slug in self._selected else drop).append(item)
        keep.sort(key=lambda item: self._position(self._stage_of(item) or ""))
        items[:] = keep
        if drop:
            config.hook.pytest_deselected(items=drop)

    def _position(self, slug: str) -> int:
        return self._run_order.get(slug, self._order[slug])

    def _stage_of(self, item: pytest.Item) -> str | None:
        marker = item.get_closest_marker("stage")
        if marker is None or not marker.args:
            self._error(f"{item.nodeid}: no stage marker (add pytestmark = stage('<slug>'))")
            return None
        slug = str(marker.args[0])
        if slug not in self._order:
            self._error(f"{item.nodeid}: stage {slug!r} is not a stage in lab.toml")
            return None
        return slug

    def _error(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    # -- fixtures -------------------------------------------------------------------------------

    @pytest.fixture(scope="session")
    def lab(self) -> Lab:
        return self._lab

    @pytest.fixture(scope="session")
    def seed(self) -> int:
        return self._env.seed

    @pytest.fixture(scope="session")
    def service(self) -> Service:
        """Replica 0 of the learner's service; ``service.replicas`` lists every replica."""
        assert self._env.service is not None
        return self._env.service

    @pytest.fixture(scope="session")
    def deps(self) -> dict[str, DependencyHandle]:
        return dict(self._env.deps)

    @pytest.fixture(scope="session")
    def upstreams(self) -> dict[str, Upstream]:
        """The lab's upstream stubs by name; their programmed behaviour resets after each check."""
        return dict(self._env.upstreams)

    @pytest.fixture
    def http(self) -> Iterator[Http]:
        assert self._env.service is not None
        with Http(self._env.service.url, service=self._env.service) as client:
            yield client

    @pytest.fixture(scope="session")
    def protos(self) -> Protos:
        """The lab's .proto files (lab.toml ``[service] protos``), compiled on first use."""
        from labctl.grading.grpc import Protos  # grpcio loads only for gRPC labs

        spec = self._lab.service
        return Protos(self._lab.root, spec.protos, self._env.workdir / "protos")

    @pytest.fixture
    def grpc(self, protos: Protos) -> Iterator[Grpc]:
        """gRPC calls to replica 0 by method name; ``grpc_replicas`` has one per replica."""
        from labctl.grading.grpc import Grpc

        assert self._env.service is not None
        with Grpc(self._env.service.address, protos) as client:
            yield client

    @pytest.fixture
    def grpc_replicas(self, protos: Protos) -> Iterator[list[Grpc]]:
        from labctl.grading.grpc import Grpc

        clients = [Grpc(replica.address, protos) for replica in self._env.replicas]
        try:
            yield clients
        finally:
            for client in clients:
                client.close()

    @pytest.fixture
    def grpc_channel(self, grpc: Grpc) -> grpc_typing.Channel:
        """A ``grpc.Channel`` to replica 0, for the stubs of ``protos.services(...)``."""
        return grpc.channel

    @pytest.fixture(scope="session")
    def proxies(self) -> dict[str, Proxy]:
        return dict(self._env.proxies)

    @pytest.fixture
    def faults(self, request: pytest.FixtureRequest) -> Iterator[Faults[Http]]:
        """Faults for one check: all undone when it ends, whatever happened; its timeline kept."""
        check = self._checks.get(request.node.nodeid)
        faults = Faults(
            deps=self._env.deps,
            proxies=self._env.proxies,
            service=self._env.service,
            connect=lambda url, timeout_s: Http(url, timeout_s=timeout_s),
            origin=check.started if check else None,
        )
        try:
            yield faults
        finally:
            try:
                faults.undo()
            finally:
                timeline = faults.timeline()
                if check is not None and timeline is not None:
                    check.fields["timeline"] = timeline

    @pytest.fixture
    def load(self, request: pytest.FixtureRequest) -> Load:
        """Open-model load on the service; each report is kept on the check's result."""
        assert self._env.service is not None
        check = self._checks[request.node.nodeid]

        def keep(report: LoadReport) -> None:
            check.fields["load"] = (*check.fields.get("load", ()), report.to_dict())

        return Load(self._env.service.url, keep)

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> random.Random:
        """Random inputs, the same for the same seed and check whatever else runs."""
        return random.Random(f"{self._env.seed}/{_check_id(request.node)}")

    # -- running --------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        slug = self._stage_of(item) or ""
        check = self._begin(item, slug)
        if slug != self._current_stage:
            self._current_stage = slug
            self._on_event(Event("stage", stage=slug))
            self._revive_service()
        if reason := self._blocked_by(slug):
            check.status = Status.SKIP
            pytest.skip(reason)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        slug = self._stage_of(item) or ""
        stage = self._lab.stage(slug)
        remaining = stage.timeout_s - self._spent[slug]
        started = time.monotonic()
        if remaining <= 0:
            raise _timeout(stage)
        previous = signal.signal(signal.SIGALRM, lambda n, f: _on_alarm(stage, n, f))
        signal.setitimer(signal.ITIMER_REAL, remaining)
        try:
            return (yield)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            self._spent[slug] += time.monotonic() - started

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self,
        item: pytest.Item,
        call: pytest.CallInfo[None],
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report: pytest.TestReport = yield
        check = self._checks.get(item.nodeid)
        if check is not None and check.status is not Status.SKIP:
            self._record_phase(check, report, call)
        return report

    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Stubs forget the check's programming; a stub's crash is the lab's bug, not the
        learner's: it makes the check an error (the service only saw a 500 from the stub)."""
        self._stop_if_stage_failed(item, nextitem)
        crashes = []
        for name, upstream in self._env.upstreams.items():
            upstream.reset()
            crashes += [f"upstream stub {name!r}: {error}" for error in upstream.take_errors()]
        if crashes:
            raise RuntimeError("; ".join(crashes))

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        check = self._checks.pop(nodeid, None)
        if check is not None:
            result = self._finish(check)
            self._results[check.stage].append(result)
            self._on_event(Event("check", result.id, check.stage, result.status.value))

    # -- helpers --------------------------------------------------------------------------------

    def _stop_if_stage_failed(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        slug = self._stage_of(item)
        if not self._stop_after_failure or slug is None:
            return
        if nextitem is not None and self._stage_of(nextitem) == slug:
            return  # the stage is not over yet
        statuses = {c.status for c in self._results[slug]}
        if (check := self._checks.get(item.nodeid)) is not None:
            statuses.add(check.status)  # this check's own result is recorded after teardown
        if statuses & {Status.FAIL, Status.ERROR} and nextitem is not None:
            self.stopped_after = slug
            item.session.shouldstop = f"stage {slug} failed"

    def _begin(self, item: pytest.Item, slug: str) -> _Check:
        points = item.get_closest_marker("points")
        check = _Check(
            id=_check_id(item),
            title=_title(item),
            stage=slug,
            points=int(points.args[0]) if points and points.args else 1,
            hidden=item.get_closest_marker("hidden") is not None,
            log_marks=tuple(replica.log_mark() for replica in self._env.replicas),
        )
        self._checks[item.nodeid] = check
        return check

    def _blocked_by(self, slug: str) -> str:
        for need in self._lab.stage(slug).needs:
            if self._run_order and not self._results.get(need):
                continue  # run first, ahead of what it needs: judged on its own
            status = stage_status(self._results.get(need, []))
            if need in self._results and status is not Status.PASS:
                return f"needs {need}, which {_VERBS[status]}"
        return ""

    def _revive_service(self) -> None:
        """A service that crashed in an earlier stage is started again, so later stages are fair."""
        service = self._env.service
        if service is None or service.running:
            return
        try:
            service.start()
            service.wait_ready(5.0)
        except ServiceError:
            pass  # the stage's checks report the dead service, with its log

    def _record_phase(
        self, check: _Check, report: pytest.TestReport, call: pytest.CallInfo[None]
    ) -> None:
        if report.passed or check.status is not Status.PASS:
            return
        if report.skipped:
            check.status = Status.SKIP
            check.fields["message"] = _skip_reason(report)
            return
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, Inconclusive):
            check.status = Status.INCONCLUSIVE
            check.fields["message"] = f"{exc.message}\n{exc.details}".strip()
        elif isinstance(exc, Failure):
            check.status = Status.FAIL
            check.fields.update(_failure_fields(exc))
        elif isinstance(exc, AssertionError) and report.when == "call":
            check.status = Status.FAIL
            check.fields["message"] = str(exc) or report.longreprtext
        else:
            check.status = Status.ERROR
            check.fields["message"] = (
                f"the grader itself failed during {report.when}: this is a bug in the lab, "
                f"not in your service\n{report.longreprtext}"
            )

    def _finish(self, check: _Check) -> CheckResult:
        log: tuple[str, ...] = ()
        if check.status in (Status.FAIL, Status.ERROR):
            log = tuple(self._log_since(check.log_marks)[-LOG_LINES_KEPT:])
        return CheckResult(
            id=check.id,
            title=check.title,
            status=check.status,
            points=check.points,
            duration_s=time.monotonic() - check.started,
            hidden=check.hidden,
            log=log,
            **check.fields,
        )

    def _log_since(self, marks: tuple[int, ...]) -> list[str]:
        """What the service printed since ``marks``; with replicas, each line says whose."""
        replicas = self._env.replicas
        if len(replicas) == 1:
            return replicas[0].log_lines(marks[0] if marks else 0)
        lines: list[str] = []
        for replica, mark in zip(replicas, marks or (0,) * len(replicas), strict=True):
            prefix = log_prefix(replica.replica, len(replicas))
            lines += [f"{prefix} {line}" for line in replica.log_lines(mark)]
        return lines

    def stage_results(self) -> tuple[StageResult, ...]:
        return tuple(self._stage_result(s) for s in self._stages)

    def _stage_result(self, stage: Stage) -> StageResult:
        checks = tuple(self._results[stage.slug])
        reason = (
            self._blocked_by(stage.slug) if all(c.status is Status.SKIP for c in checks) else ""
        )
        if not checks and self.stopped_after is not None:
            reason = f"not run: {self.stopped_after} failed first (--all runs every stage)"
        if not checks:
            reason = reason or "no checks ran for this stage"
        return StageResult(
            stage.slug,
            stage.title,
            stage_status(checks),
            reason,
            checks,
            weight=stage.points,
            partial=stage.partial,
        )


def _check_id(item: pytest.Item) -> str:
    marker = item.get_closest_marker("stage")
    stage = str(marker.args[0]) if marker and marker.args else "?"
    name = getattr(item, "originalname", item.name).removeprefix("test_").replace("_", "-")
    param = item.name[len(getattr(item, "originalname", item.name)) :]
    return f"{stage}/{name}{param}"


def _title(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    if doc and doc.strip():
        return str(doc.strip().splitlines()[0])
    name: str = getattr(item, "originalname", item.name)
    return name.removeprefix("test_").replace("_", " ")


def _failure_fields(exc: Failure) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "message": exc.summary,
        "hint": exc.hint,
        "curl": tuple(e.curl for e in exc.exchanges),
    }
    if exc.has_expected:
        fields["expected"] = _text(exc.expected)
    if exc.has_got:
        fields["got"] = _text(exc.got)
    return fields


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _timeout(stage: Stage) -> StageTimeout:
    return StageTimeout(
        f"stage {stage.slug!r} ran past its {stage.timeout_s:g} s timeout",
        hint="a request may be hanging: every request should answer quickly, even under load",
    )


def _on_alarm(stage: Stage, signum: int, frame: FrameType | None) -> None:
    raise _timeout(stage)
