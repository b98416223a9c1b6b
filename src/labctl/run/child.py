"""The grading child process: start the Environment, run the graders in pytest, write a Result.

Run as ``python -m labctl.run.child SPEC.json RESULT.json`` by ``labctl.run.parent``. It
owns every process the run starts; when it is interrupted (SIGINT, or SIGTERM from a dying parent)
it stops them all before it exits. The result file is written whole or not at all.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from labctl._storage import DATA_DIR_ENV
from labctl.backends import named
from labctl.environment import Environment, Options
from labctl.errors import LabctlError, LabError
from labctl.model.lab import Lab, Stage, load_lab
from labctl.model.submission import Submission
from labctl.progress import Event, EventWriter
from labctl.results import ExitCode, Result, StageResult, Status, verdict_of
from labctl.run.parent import EVENTS_FILE, SERVICE_LOG, RunSpec

INTERRUPTED = 130
SERVICE_LOG_KEPT = 200
# Imported on a side thread while Postgres starts: together they are ~0.4 s of the wait.
_HEAVY = ("pytest", "labctl.grading.plugin")


def main(argv: list[str]) -> int:
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    signal.signal(signal.SIGTERM, _interrupt)
    spec = RunSpec.from_json(spec_path.read_text(encoding="utf-8"))
    parent = os.getppid()
    threading.Thread(target=_preload, daemon=True).start()
    early = (lambda result: write_result(result, result_path)) if spec.warm else None
    try:
        result = grade(spec, spec_path.parent, on_graded=early)
    except KeyboardInterrupt:
        _forget_run_dir_if_orphaned(spec_path.parent, parent)
        return INTERRUPTED
    if not (spec.warm and result_path.exists()):
        write_result(result, result_path)
    return result.exit_code


@dataclass
class Plan:
    """What to grade and how: from the spec, or, for a run started ahead (``warm``), from the
    Go line its parent sends when the learner's change arrives."""

    stages: tuple[Stage, ...]
    submission: Submission
    order: tuple[str, ...] = ()
    stop_after_failure: bool = False
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, lab: Lab, spec: RunSpec) -> Plan:
        return cls(
            stages=tuple(s for s in lab.stages if s.slug in spec.stages),
            submission=Submission(**{**spec.submission, "path": Path(spec.submission["path"])}),
            order=tuple(spec.order),
            stop_after_failure=spec.stop_after_failure,
        )

    def wait_for_go(self, lab: Lab, events: EventWriter) -> Callable[[], Submission]:
        def go() -> Submission:
            events.emit(Event("phase", "ready"))
            line = sys.stdin.readline()
            if not line:
                raise KeyboardInterrupt  # the parent went away without a change to grade
            told = RunSpec.from_json(line)
            fresh = Plan.of(lab, told)
            self.stages, self.submission = fresh.stages, fresh.submission
            self.order, self.stop_after_failure = fresh.order, fresh.stop_after_failure
            self.started = time.monotonic()
            return self.submission

        return go


def grade(
    spec: RunSpec, run_dir: Path, *, on_graded: Callable[[Result], None] | None = None
) -> Result:
    """Grade as ``spec`` says; ``on_graded`` gets the result before the environment is torn
    down (a watch loop shows it while the run cleans up)."""
    lab = load_lab(Path(spec.lab_root), graders=Path(spec.graders))
    plan = Plan.of(lab, spec)
    options = Options(seed=spec.seed, run_id=spec.run_id, ready_timeout_s=spec.ready_timeout_s)
    events = EventWriter(run_dir / EVENTS_FILE)
    try:
        with Environment(
            lab,
            plan.submission,
            named(spec.backend),
            options,
            parent_dir=run_dir,
            on_phase=lambda text: events.emit(Event("phase", text)),
            wait_for_go=plan.wait_for_go(lab, events) if spec.warm else None,
        ) as env:
            stage_results = run_graders(lab, plan, env, run_dir, events)
            meta = {"environment": env.describe()}
            if on_graded is not None:
                _keep_service_log(env, run_dir)
                on_graded(_result(lab, spec.seed, stage_results, meta, plan.started))
    except LabctlError as exc:
        return error_result(lab, plan.stages, spec.seed, exc, time.monotonic() - plan.started)
    return _result(lab, spec.seed, stage_results, meta, plan.started)


def _result(
    lab: Lab,
    seed: int,
    stage_results: tuple[StageResult, ...],
    meta: Mapping[str, object],
    started: float,
) -> Result:
    verdict, exit_code = verdict_of(stage_results)
    duration = time.monotonic() - started
    return Result(lab.id, seed, verdict, exit_code, duration, stage_results, meta=meta)


def _keep_service_log(env: Environment, run_dir: Path) -> None:
    """The service's last lines, for the parent to show on request after the run is gone."""
    lines = env.service.tail(SERVICE_LOG_KEPT) if env.service is not None else []
    (run_dir / SERVICE_LOG).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def run_graders(
    lab: Lab, plan: Plan, env: Environment, run_dir: Path, events: EventWriter
) -> tuple[StageResult, ...]:
    import pytest

    from labctl.grading.plugin import LabctlPlugin

    plugin = LabctlPlugin(
        lab,
        plan.stages,
        env,
        on_event=events.emit,
        order=plan.order,
        stop_after_failure=plan.stop_after_failure,
    )
    code = pytest.main(pytest_args(lab, run_dir), plugins=[plugin])
    if plugin.errors:
        raise LabError(
            f"the grader pack {lab.graders_dir} is broken", hint="\n".join(plugin.errors)
        )
    if code == pytest.ExitCode.INTERRUPTED and plugin.stopped_after is None:
        raise KeyboardInterrupt
    return plugin.stage_results()


def _preload() -> None:
    for name in _HEAVY:
        importlib.import_module(name)


def pytest_args(lab: Lab, run_dir: Path) -> list[str]:
    """pytest confined to the grader pack: no ini file, conftest or plugin from anywhere else."""
    ini = run_dir / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    return [
        str(lab.graders_dir),
        "-c",
        str(ini),
        "--rootdir",
        str(lab.graders_dir),
        "--confcutdir",
        str(lab.graders_dir),
        "--strict-markers",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:stepwise",
        "-q",
        "--no-header",
        "-W",
        "default",
    ]


def error_result(
    lab: Lab, stages: tuple[Stage, ...], seed: int, exc: LabctlError, duration_s: float
) -> Result:
    reason = f"not run: {exc.message}"
    stage_results = tuple(
        StageResult(s.slug, s.title, Status.ERROR, reason, weight=s.points, partial=s.partial)
        for s in stages
    )
    return Result(
        lab.id,
        seed,
        Status.ERROR,
        exc.exit_code,
        duration_s,
        stage_results,
        error=exc.message,
        error_hint=exc.hint,
        log=exc.log,
        log_source=exc.log_source,
    )


def write_result(result: Result, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".result-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(result.to_dict(), out)
    os.replace(tmp, path)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _forget_run_dir_if_orphaned(run_dir: Path, parent: int) -> None:
    """A parent that died cannot delete the run's directories any more: do it here."""
    if os.getppid() != parent:
        shutil.rmtree(run_dir, ignore_errors=True)
        if data := os.environ.get(DATA_DIR_ENV):
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) == 3 else ExitCode.CONFIG)
