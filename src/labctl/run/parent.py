"""Runs one check in a grading child process and returns its Result.

The child (``labctl.run.child``) owns the environment; this side only starts it, waits, and
reads the result back. The child runs in its own process group, so a terminal's Ctrl-C reaches only
this side, which forwards it once, lets the child tear everything down, kills it only if it will
not finish, and deletes the run directory either way.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl._storage import DATA_DIR_ENV, data_parent
from labctl.backends import Backend
from labctl.errors import SetupError
from labctl.model.lab import Lab, Stage
from labctl.model.submission import Submission
from labctl.processes import spawn, stop
from labctl.progress import Event, EventReader
from labctl.results import Result

CLEANUP_GRACE_S = 20.0
EVENTS_FILE = "events.jsonl"
_PYTEST_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")


@dataclass(frozen=True)
class RunSpec:
    """Everything the worker needs, as the CLI resolved it."""

    lab_root: str
    graders: str
    submission: dict[str, Any]
    stages: list[str]
    seed: int
    ready_timeout_s: float | None = None
    backend: str = "local"  # the chosen backend's name
    run_id: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        return cls(**json.loads(text))


def run_check(
    lab: Lab,
    submission: Submission,
    stages: tuple[Stage, ...],
    *,
    seed: int,
    ready_timeout_s: float | None = None,
    worker_log: Path | None = None,
    on_event: Callable[[Event], None] = lambda event: None,
    backend: Backend,
) -> Result:
    """Grade ``submission`` on ``stages`` of ``lab``. Raises KeyboardInterrupt when interrupted."""
    run_id = secrets.token_hex(6)  # what the run's containers (if any) are labelled with
    spec = RunSpec(
        lab_root=str(lab.root),
        graders=str(lab.graders_dir),
        submission={
            "path": str(submission.path),
            "run": submission.run,
            "build": submission.build,
            "lab": submission.lab,
            "dockerfile": submission.dockerfile,
            "context": submission.context,
            "build_args": submission.build_args,
        },
        stages=[s.slug for s in stages],
        seed=seed,
        ready_timeout_s=ready_timeout_s,
        backend=backend.name,
        run_id=run_id,
    )
    with (
        _leftovers_removed(backend, run_id),
        tempfile.TemporaryDirectory(prefix="labctl-run-") as tmp,
        _data_root() as data,
    ):
        run_dir = Path(tmp)
        (run_dir / "spec.json").write_text(spec.to_json(), encoding="utf-8")
        log_path = worker_log or run_dir / "worker.log"
        code = _run_worker(run_dir, log_path, data, on_event)
        result_path = run_dir / "result.json"
        if not result_path.is_file():
            raise SetupError(
                f"the grading process exited with code {code} without a result",
                hint="this is a bug in labctl; run with -v to see its output",
                log=_tail(log_path),
            )
        return Result.from_dict(_load_json(result_path))


@contextmanager
def _leftovers_removed(backend: Backend, run_id: str) -> Iterator[None]:
    """A worker that was killed cannot remove what it made (containers): it goes here."""
    try:
        yield
    finally:
        backend.leftovers(run_id)


@contextmanager
def _data_root() -> Iterator[Path | None]:
    """This run's directory for dependency data, deleted here even if the worker was killed."""
    parent = data_parent()
    if parent is None:
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="labctl-data-", dir=parent))
    try:
        root.chmod(0o711)  # Postgres may run as an unprivileged user that must reach it
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_worker(
    run_dir: Path, log_path: Path, data: Path | None, on_event: Callable[[Event], None]
) -> int:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    for name in _PYTEST_ENV:  # pytest reads these from anywhere; the grader pack alone decides
        env.pop(name, None)
    if data is not None:
        env[DATA_DIR_ENV] = str(data)
    command = [
        sys.executable,
        "-m",
        "labctl.run.child",
        str(run_dir / "spec.json"),
        str(run_dir / "result.json"),
    ]
    with log_path.open("ab") as log:
        # Its own process group: a terminal's Ctrl-C reaches only us, and we forward it once.
        proc = spawn(
            command,
            out=log,
            env=env,
            # Not the learner's directory: `python -m` puts the working directory on sys.path,
            # where a learner's own labctl/ or pytest.py would shadow ours.
            cwd=run_dir,
            session=False,
            # The worker gets SIGTERM (and cleans up) if this process dies without telling it.
            death=signal.SIGTERM,
        )
        try:
            return _wait_passing_events(proc, EventReader(run_dir / EVENTS_FILE), on_event)
        except KeyboardInterrupt:
            _drain(proc)
            raise


def _wait_passing_events(
    proc: subprocess.Popen[bytes], events: EventReader, on_event: Callable[[Event], None]
) -> int:
    while True:
        try:
            code = proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            code = None
        for event in events.read_new():
            on_event(event)
        if code is not None:
            return code


def _drain(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt the worker and give it time to stop what it started; kill it if it hangs."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # Killed if it hangs: its children die with it (parent-death signal).
        stop(proc, grace_s=CLEANUP_GRACE_S, sig=signal.SIGINT, group=False)
    finally:
        signal.signal(signal.SIGINT, previous)


def _tail(path: Path, n: int = 30) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
    except OSError:
        return []


def _load_json(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data
