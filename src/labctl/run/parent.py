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
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
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
POLL_S = 0.02  # how often the parent looks for the child's events, result and exit
RUN_DIR = "labctl-run-"
EVENTS_FILE = "events.jsonl"
SERVICE_LOG = "service.log"  # a warm run's service log, kept by the child for the parent
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
    order: list[str] = field(default_factory=list)  # stages to run first (the plugin's order)
    stop_after_failure: bool = False
    # Started ahead: the child starts all but the service, then reads a Go line on stdin.
    warm: bool = False

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
    spec = run_spec(
        lab, submission, stages, seed=seed, ready_timeout_s=ready_timeout_s, backend=backend
    )
    with GradingRun(spec, backend, worker_log=worker_log) as run:
        return run.result(on_event)


def run_spec(
    lab: Lab,
    submission: Submission,
    stages: tuple[Stage, ...],
    *,
    seed: int,
    ready_timeout_s: float | None = None,
    backend: Backend,
    **more: Any,
) -> RunSpec:
    """The child's instructions for one run (``more``: RunSpec's other fields)."""
    return RunSpec(
        lab_root=str(lab.root),
        graders=str(lab.graders_dir),
        submission=submission_fields(submission),
        stages=[s.slug for s in stages],
        seed=seed,
        ready_timeout_s=ready_timeout_s,
        backend=backend.name,
        run_id=secrets.token_hex(6),  # what the run's containers (if any) are labelled with
        **more,
    )


def submission_fields(submission: Submission) -> dict[str, Any]:
    return {
        "path": str(submission.path),
        "run": submission.run,
        "build": submission.build,
        "lab": submission.lab,
        "dockerfile": submission.dockerfile,
        "context": submission.context,
        "build_args": submission.build_args,
    }


class Superseded(Exception):
    """A run given up for a newer one (a watch loop saw another change while it graded)."""


class GradingRun:
    """One grading child process and its directories, from spawn to cleanup.

    ``run_check`` starts one and waits for its result. A watch loop starts the next one ahead
    (``RunSpec.warm``): its child brings up the dependencies and stubs while the learner edits,
    ``go()`` tells it what to grade once a change arrives, and ``result(early=True)`` returns as
    soon as the child has written its result, while it tears down. Leaving the context waits for
    the child to finish (interrupting it first after an exception: Ctrl-C or ``Superseded``),
    kills it if it hangs, and deletes the directories, whatever the child did.
    """

    def __init__(self, spec: RunSpec, backend: Backend, *, worker_log: Path | None = None) -> None:
        self.spec = spec
        self.backend = backend
        self._worker_log = worker_log
        self._stack = ExitStack()
        self._proc: subprocess.Popen[bytes] | None = None
        self.run_dir = Path()
        self.log_path = Path()

    def __enter__(self) -> GradingRun:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._proc is not None and kind is None:
                self._close_stdin()  # a warm child never told to go stops at the end of its input
                self._wait_for_teardown(self._proc)
            elif self._proc is not None:
                _drain(self._proc)
        finally:
            self._stack.close()

    @staticmethod
    def _wait_for_teardown(proc: subprocess.Popen[bytes]) -> None:
        try:
            stop(proc, grace_s=CLEANUP_GRACE_S, sig=None, group=False)
        except BaseException:  # Ctrl-C while it tears down: it must finish before its dirs go
            _drain(proc)
            raise

    def _start(self) -> None:
        self._stack.enter_context(_leftovers_removed(self.backend, self.spec.run_id))
        self.run_dir = Path(
            self._stack.enter_context(
                tempfile.TemporaryDirectory(prefix=RUN_DIR, ignore_cleanup_errors=True)
            )
        )
        data = self._stack.enter_context(_data_root())
        (self.run_dir / "spec.json").write_text(self.spec.to_json(), encoding="utf-8")
        self.log_path = self._worker_log or self.run_dir / "worker.log"
        self._events = EventReader(self.run_dir / EVENTS_FILE)
        self._proc = _spawn_worker(self.run_dir, self.log_path, data, warm=self.spec.warm)

    def go(self, told: RunSpec) -> None:
        """What a warm child grades: ``told``'s submission, stages and order."""
        assert self._proc is not None
        assert self._proc.stdin is not None
        with suppress(OSError):  # it has exited already (it could not start): result() says why
            self._proc.stdin.write(told.to_json().encode() + b"\n")
        self._close_stdin()

    def result(
        self,
        on_event: Callable[[Event], None] = lambda event: None,
        *,
        early: bool = False,
        superseded: Callable[[], bool] = lambda: False,
    ) -> Result:
        """The run's result, once the child has exited (``early``: once it has written it)."""
        assert self._proc is not None
        result_path = self.run_dir / "result.json"
        while True:
            code = self._proc.poll()
            for event in self._events.read_new():
                on_event(event)
            if code is not None or (early and result_path.is_file()):
                break
            if superseded():
                raise Superseded
            time.sleep(POLL_S)
        if not result_path.is_file():
            raise SetupError(
                f"the grading process exited with code {code} without a result",
                hint="this is a bug in labctl; run with -v to see its output",
                log=_tail(self.log_path),
            )
        return Result.from_dict(_load_json(result_path))

    def service_log(self) -> list[str]:
        """The service's last lines, as a warm child kept them with its result."""
        return _tail(self.run_dir / SERVICE_LOG, n=10_000)

    def _close_stdin(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            with suppress(OSError):
                self._proc.stdin.close()


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


def _spawn_worker(
    run_dir: Path, log_path: Path, data: Path | None, *, warm: bool
) -> subprocess.Popen[bytes]:
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
        return spawn(
            command,
            out=log,
            stdin=subprocess.PIPE if warm else subprocess.DEVNULL,
            env=env,
            # Not the learner's directory: `python -m` puts the working directory on sys.path,
            # where a learner's own labctl/ or pytest.py would shadow ours.
            cwd=run_dir,
            session=False,
            # The worker gets SIGTERM (and cleans up) if this process dies without telling it.
            death=signal.SIGTERM,
        )


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
