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
from labctl.run.parent import EVENTS_FILE, RunSpec

INTERRUPTED = 130
# Imported on a side thread while Postgres starts: together they are ~0.4 s of the wait.
_HEAVY = ("pytest", "labctl.grading.plugin")


def main(argv: list[str]) -> int:
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    signal.signal(signal.SIGTERM, _interrupt)
    spec = RunSpec.from_json(spec_path.read_text(encoding="utf-8"))
    parent = os.getppid()
    threading.Thread(target=_preload, daemon=True).start()
    try:
        result = grade(spec, spec_path.parent)
    except KeyboardInterrupt:
        _forget_run_dir_if_orphaned(spec_path.parent, parent)
        return INTERRUPTED
    write_result(result, result_path)
    return result.exit_code


def grade(spec: RunSpec, run_dir: Path) -> Result:
    started = time.monotonic()
    lab = load_lab(Path(spec.lab_root), graders=Path(spec.graders))
    stages = tuple(s for s in lab.stages if s.slug in spec.stages)
    submission = Submission(**{**spec.submission, "path": Path(spec.submission["path"])})
    options = Options(seed=spec.seed, run_id=spec.run_id, ready_timeout_s=spec.ready_timeout_s)
    events = EventWriter(run_dir / EVENTS_FILE)
    try:
        with Environment(
            lab,
            submission,
            named(spec.backend),
            options,
            parent_dir=run_dir,
            on_phase=lambda text: events.emit(Event("phase", text)),
        ) as env:
            stage_results = run_graders(lab, stages, env, run_dir, events)
            meta = {"environment": env.describe()}
    except LabctlError as exc:
        return error_result(lab, stages, spec.seed, exc, time.monotonic() - started)
    verdict, exit_code = verdict_of(stage_results)
    return Result(
        lab.id, spec.seed, verdict, exit_code, time.monotonic() - started, stage_results, meta=meta
    )


def run_graders(
    lab: Lab, stages: tuple[Stage, ...], env: Environment, run_dir: Path, events: EventWriter
) -> tuple[StageResult, ...]:
    import pytest

    from labctl.grading.plugin import LabctlPlugin

    plugin = LabctlPlugin(lab, stages, env, on_event=events.emit)
    code = pytest.main(pytest_args(lab, run_dir), plugins=[plugin])
    if plugin.errors:
        raise LabError(
            f"the grader pack {lab.graders_dir} is broken", hint="\n".join(plugin.errors)
        )
    if code == pytest.ExitCode.INTERRUPTED:
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
