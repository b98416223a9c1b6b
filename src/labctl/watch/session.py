"""The watch loop: grade, wait for a change, grade again, until the learner quits.

Each run is a whole check in a fresh grading process with fresh dependencies (an empty
database, an empty Redis, new stubs), exactly as ``labctl check`` runs one. What makes it quick
is when the slow part happens: as soon as a run has its verdict, the next run's process starts
(``RunSpec.warm``) and brings up the dependencies and stubs while the learner edits, so a saved
change only builds and starts the service and grades. The stage that failed last time runs
first, then the others in lab order, and the run stops at the first stage that fails (``--all``:
it goes on). A change that arrives while a run grades gives that run up for a new one.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from labctl.errors import LabctlError, SubmissionError
from labctl.model.lab import Lab, Stage, load_lab
from labctl.model.packs import grader_pack
from labctl.model.submission import CONFIG_NAME, Submission, load_submission
from labctl.progress import Event
from labctl.report.outputs import Outputs, write_files
from labctl.results import Result, Status
from labctl.run.check import CheckRequest, finished, stamped
from labctl.run.parent import GradingRun, RunSpec, Superseded, run_spec, submission_fields
from labctl.watch.changes import Changes
from labctl.watch.keys import Keys
from labctl.watch.screen import Screen


@dataclass(frozen=True)
class Watching:
    """What ``labctl check --watch`` was asked: the check, how to re-read the project, and the
    reports to rewrite after each run."""

    request: CheckRequest
    run_command: str | None = None  # --run, kept across re-reads of labctl.toml
    all_stages: bool = False
    outputs: Outputs = field(default_factory=Outputs)
    # Start the next run's process as soon as a run has its verdict (False: at the change,
    # the baseline benchmarks/watch_latency.py compares with).
    ahead: bool = True


def failed_first(stages: Sequence[Stage], last: Result | None) -> tuple[str, ...]:
    """The next run's order: the first of ``stages`` that did not pass last time, first."""
    if last is None or last.error:
        return ()
    statuses = {s.slug: s.status for s in last.stages}
    bad = (Status.FAIL, Status.ERROR, Status.INCONCLUSIVE)
    return next(((s.slug,) for s in stages if statuses.get(s.slug) in bad), ())


class Session:
    def __init__(self, watching: Watching, screen: Screen, changes: Changes, keys: Keys) -> None:
        self.watching = watching
        self.request = watching.request
        self.screen = screen
        self.changes = changes
        self.keys = keys
        self.last: Result | None = None
        self.log: list[str] = []
        self.runs = 0
        self.submission = self.request.submission
        self._held: list[str] = []  # the learner's changes seen while a run graded
        self._build = BuildWindow()

    def run(self) -> int:
        """Until 'q' (the exit code of the last verdict); Ctrl-C raises KeyboardInterrupt."""
        with grader_pack(self.request.graders) as pack:
            lab = load_lab(self.request.lab, graders=pack)
            stages = lab.select(self.request.only, self.request.until)
            self.screen.banner(str(self.submission.path), self.request.seed, self.keys.available)
            pending: list[str] | None = []  # the first run grades at once
            with suppress(_Quit):
                while True:
                    try:
                        pending = self._cycle(lab, stages, pending)
                    except Superseded:
                        pending, self._held = (self._held or None), []
        return self.last.exit_code if self.last is not None else 0

    def _cycle(
        self, lab: Lab, stages: tuple[Stage, ...], pending: list[str] | None
    ) -> list[str] | None:
        """One run: started (ahead of the change, unless the backend cannot), the change (or
        'r') awaited when ``pending`` is None, graded. Raises _Quit on 'q'."""
        if pending is None and not (self.watching.ahead and self.request.backend.starts_ahead):
            pending = self._wait()
        spare = self._spec(lab, stages, warm=True)
        with GradingRun(spare, self.request.backend, worker_log=self.request.worker_log) as run:
            if pending is None:
                pending = self._wait()
            self._grade(run, lab, stages, pending)
        return None

    def _grade(
        self, run: GradingRun, lab: Lab, stages: tuple[Stage, ...], changed: list[str]
    ) -> None:
        saved_at = _saved_at(self.submission.path, changed)
        try:
            fresh = self._reload()
        except LabctlError as exc:
            self.screen.problem(exc)
            raise Superseded from exc  # nothing to grade: wait for the next change instead
        if submission_fields(fresh) != run.spec.submission:
            # labctl.toml changed how the service builds or runs: a run made for it, at once.
            self.submission, self._held = fresh, changed or [CONFIG_NAME]
            raise Superseded
        self.runs += 1
        self.screen.run_started(self.runs, changed)
        order = failed_first(stages, self.last)
        run.go(self._spec(lab, stages, order=order))
        graded: list[str] = []  # the stages in the order they ran
        with self.screen.running(order[0] if order else None, saved_at) as view:

            def seen(event: Event) -> None:
                self._build.see(event)
                if event.kind == "stage":
                    graded.append(event.stage)
                view.update(event)

            result = run.result(seen, early=True, superseded=lambda: bool(self._news()))
            view.verdict_of_first(result)
        watched = {"run": self.runs, "changed": changed, "graded_in_order": graded}
        result = replace(result, meta={**result.meta, "watch": watched})
        self.last = finished(stamped(result, lab, self.request), lab, self.request)
        self.log = run.service_log()
        write_files(self.last, self.watching.outputs)
        first = self.runs == 1
        self.screen.summary(self.last, saved_at=saved_at, first=first, prompt=self.keys.available)

    def _wait(self) -> list[str]:
        """The next batch of changes ([] for 'r'); raises _Quit for 'q'."""
        readable = [self.changes.fileno()]
        if (key_fd := self.keys.fileno()) is not None:
            readable.append(key_fd)
        while True:
            ready, _, _ = select.select(readable, [], [])
            if self.changes.fileno() in ready and self._news():
                changed, self._held = self._held, []
                return changed
            for key in self.keys.read().lower():
                if key == "q":
                    raise _Quit
                if key == "r":
                    return []
                if key == "l":
                    self.screen.service_log(self.log)

    def _news(self) -> list[str]:
        """The learner's changes so far: what was queued, less what the service's build wrote."""
        fresh = [name for name in self.changes.take() if not self._build.wrote(self._path(name))]
        self._held = sorted({*self._held, *fresh})
        return self._held

    def _path(self, name: str) -> Path:
        return self.submission.path / name

    def _reload(self) -> Submission:
        """labctl.toml as it is now: the learner may have changed how the service starts."""
        fresh = load_submission(self.submission.path, run=self.watching.run_command)
        if fresh.lab and fresh.lab != self.request.lab:
            raise SubmissionError(
                f"{CONFIG_NAME} now names the lab {fresh.lab!r}, not {self.request.lab!r}",
                hint="stop this watch (Ctrl-C) and start it again for the other lab",
            )
        return fresh

    def _spec(
        self,
        lab: Lab,
        stages: tuple[Stage, ...],
        *,
        warm: bool = False,
        order: tuple[str, ...] = (),
    ) -> RunSpec:
        request = self.request
        return run_spec(
            lab,
            self.submission,
            stages,
            seed=request.seed,
            ready_timeout_s=request.ready_timeout_s,
            backend=request.backend,
            order=list(order),
            stop_after_failure=not self.watching.all_stages,
            warm=warm,
        )


class _Quit(Exception):
    """The learner pressed 'q'."""


class BuildWindow:
    """When the last run's build step ran, from its progress events: a file written then is
    the build's output (a binary, a bundle), not the learner's change, even where .gitignore
    does not say so; without this, such a build would start a new run after every run."""

    SLACK_S = 0.2  # events reach the parent up to a poll late

    def __init__(self) -> None:
        self.start = self.end = 0.0

    def see(self, event: Event) -> None:
        if event.kind != "phase":
            return
        if event.text.startswith("building your service"):
            self.start, self.end = time.time(), float("inf")
        elif event.text == "starting your service" and self.end == float("inf"):
            self.end = time.time()

    def wrote(self, path: Path) -> bool:
        try:
            written = path.stat().st_mtime
        except OSError:
            return False
        return self.start - self.SLACK_S <= written <= self.end + self.SLACK_S


def watch(watching: Watching, screen: Screen, ignore: Sequence[Path] = ()) -> int:
    """Run the loop on the request's project until 'q' or Ctrl-C (KeyboardInterrupt)."""
    from labctl.watch.changes import ProjectFilter

    root = watching.request.submission.path
    ignored = [*ignore, *watching.outputs.files()]
    if watching.request.worker_log is not None:
        ignored.append(watching.request.worker_log)
    with Changes(root, ProjectFilter(root, ignore_files=ignored)) as changes, Keys() as keys:
        return Session(watching, screen, changes, keys).run()


def _saved_at(root: Path, changed: Sequence[str]) -> float:
    """When the learner saved: the newest of the changed files' times (now, for a deletion)."""
    times = []
    for name in changed:
        try:
            times.append(os.stat(root / name).st_mtime)
        except OSError:
            continue
    return max(times, default=time.time())
