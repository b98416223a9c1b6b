"""What the watch loop prints: a banner, a line when a run starts, a live status while it runs,
the verdict of the stage that failed last time as soon as it has one, then the run's compact
report (``report.terminal.render_compact``), and the service's log when the learner asks."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.status import Status as Spinner
from rich.text import Text

from labctl.errors import LabctlError
from labctl.progress import Event
from labctl.report.live import Progress
from labctl.report.terminal import SERVICE_PREFIX, render_compact, status_glyphs
from labctl.results import Result, Status, worst

KEYS = "l: your service's log · r: run again · q: quit"
LOG_SHOWN = 60


class Screen:
    def __init__(self, out: Console, lab: str) -> None:
        self.out = out
        self.lab = lab
        self.marks = status_glyphs(out)

    def banner(self, path: str, seed: int, keys: bool) -> None:
        self.out.print(
            f"[bold]watching {escape(path)}[/] for the {escape(self.lab)} lab · seed {seed} · "
            + (f"{KEYS} · " if keys else "")
            + "Ctrl-C: stop",
            soft_wrap=True,
        )

    def run_started(self, number: int, changed: Sequence[str]) -> None:
        what = "first run" if number == 1 else _changed(changed)
        self.out.rule(Text(f"run {number} · {what}", style="dim"), align="left", style="dim")

    def running(self, first: str | None, saved_at: float) -> RunView:
        return RunView(self, first, saved_at)

    def summary(self, result: Result, *, saved_at: float, first: bool, prompt: bool) -> None:
        render_compact(result, self.out)
        since = time.time() - saved_at
        took = f"run took {since:.1f} s" if first else f"verdict {since:.1f} s after your save"
        self.out.print(Text(took + (f" · {KEYS}" if prompt else ""), style="dim"), soft_wrap=True)

    def problem(self, exc: LabctlError) -> None:
        """A run that could not start (say, labctl.toml no longer parses): what to fix."""
        self.out.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
        if exc.hint:
            self.out.print(f"[bold]hint:[/] {escape(exc.hint)}", soft_wrap=True)
        self.out.print(Text("waiting for your next change", style="dim"))

    def service_log(self, lines: Sequence[str]) -> None:
        if not lines:
            self.out.print(Text("your service printed nothing in the last run", style="dim"))
            return
        if len(lines) > LOG_SHOWN:
            omitted = f"{SERVICE_PREFIX}... {len(lines) - LOG_SHOWN} earlier lines"
            self.out.print(Text(omitted, style="dim"))
        for line in lines[-LOG_SHOWN:]:
            self.out.print(Text(SERVICE_PREFIX + line, style="dim"), soft_wrap=True, markup=False)


class RunView:
    """The live status of one run; prints the verdict of ``first`` (the stage that failed last
    time, graded first) the moment the run moves past it."""

    def __init__(self, screen: Screen, first: str | None, saved_at: float) -> None:
        self.screen = screen
        self.first = first
        self.saved_at = saved_at
        self.progress = Progress(screen.lab, screen.marks)
        self._said = first is None
        self._spinner: Spinner | None = None

    def __enter__(self) -> RunView:
        self._spinner = self.screen.out.status(self.progress.text())
        self._spinner.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._spinner is not None:
            self._spinner.__exit__(None, None, None)

    def update(self, event: Event) -> None:
        text = self.progress.update(event)
        if self._spinner is not None:
            self._spinner.update(text)
        if not self._said and event.kind == "stage" and event.stage != self.first:
            self.verdict_of_first(None)

    def verdict_of_first(self, result: Result | None) -> None:
        """Say how the first stage did, once: from the progress, or from the run's result."""
        if self._said or self.first is None:
            return
        self._said = True
        statuses = self.progress.stages.get(self.first, [])
        if result is not None:
            statuses = [s.status for s in result.stages if s.slug == self.first]
        status = worst(statuses)
        verb = _VERBS[status]
        line = Text.assemble(
            (self.screen.marks[status] + " ", _STYLE.get(status, "")),
            (self.first, "bold"),
            f" {verb} ",
            (f"({time.time() - self.saved_at:.1f} s after your save)", "dim"),
        )
        self.screen.out.print(line)


_STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.ERROR: "red"}
_VERBS = {
    Status.PASS: "passes now",
    Status.FAIL: "still fails",
    Status.ERROR: "could not be graded",
    Status.INCONCLUSIVE: "was inconclusive",
    Status.SKIP: "was not run",
}


def _changed(paths: Sequence[str]) -> str:
    if not paths:
        return "run again"
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return f"{shown} changed"
