"""The ``labctl`` command line: list, show, check, doctor.

Commands parse flags, call into the library, pick reporters and map errors to exit codes
(DESIGN.md: 0 pass, 1 fail, 2 usage/config, 3 environment, 4 inconclusive, 130 interrupted).
"""

from __future__ import annotations

import platform
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labctl import __version__
from labctl._docker import engine_status, resolve_backend
from labctl._net import free_port
from labctl.errors import LabctlError, SetupError, SubmissionError
from labctl.lab import Lab, list_labs, load_lab
from labctl.progress import Event
from labctl.report import render_terminal, write_json, write_junit
from labctl.report.terminal import status_glyphs
from labctl.results import ExitCode, Result, Status, worst
from labctl.runner import run_check
from labctl.submission import CONFIG_NAME, Submission, load_submission

P = ParamSpec("P")
T = TypeVar("T")

app = typer.Typer(
    help="Hands-on backend labs, graded against your real running service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


@app.command("list")
def list_command() -> None:
    """List the labs, with their stages and dependencies."""
    table = Table("lab", "title", "stages", "dependencies", box=None, pad_edge=False)
    for lab in _or_exit(list_labs):
        table.add_row(
            lab.id,
            lab.title,
            " → ".join(s.slug for s in lab.stages),
            ", ".join(d.kind for d in lab.dependencies),
        )
    out.print(table)


@app.command()
def show(lab: Annotated[str, typer.Argument(help="The lab's id, e.g. url-shortener.")]) -> None:
    """Show a lab's spec: what to build and how it is graded."""
    loaded = _or_exit(load_lab, lab)
    from rich.markdown import Markdown  # slow to import; only show needs it

    out.print(Markdown(loaded.spec_path.read_text(encoding="utf-8")))
    out.print()
    out.print(_stage_table(loaded))


@app.command()
def check(
    lab: Annotated[
        str | None, typer.Argument(help="The lab's id; defaults to the lab named in labctl.toml.")
    ] = None,
    path: Annotated[
        Path, typer.Option("--path", help=f"Your project's directory (holding {CONFIG_NAME}).")
    ] = Path("."),
    run: Annotated[
        str | None,
        typer.Option("--run", help="The command that starts your service (overrides labctl.toml)."),
    ] = None,
    stage: Annotated[
        list[str] | None,
        typer.Option("--stage", help="Run this stage (and the stages it needs); repeatable."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Run the stages up to and including this one.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Replay the random inputs of an earlier run.")
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the result as JSON (labctl.result/v1)."),
    ] = None,
    junit_path: Annotated[
        Path | None, typer.Option("--junit", help="Also write the result as JUnit XML.")
    ] = None,
    ready_timeout: Annotated[
        float | None,
        typer.Option(
            "--ready-timeout", min=0.1, help="Seconds your service gets to start answering."
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("-v", "--verbose", help="Show every log line and the grader's own output."),
    ] = False,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="local: processes; docker: containers (needs a Dockerfile); "
            "auto: docker when an engine answers and labctl.toml names a Dockerfile.",
        ),
    ] = "local",
) -> None:
    """Start your service with real dependencies and grade it, stage by stage."""
    submission = _or_exit(load_submission, path, run=run)
    chosen_backend = _or_exit(resolve_backend, backend, submission)
    loaded = _or_exit(load_lab, _lab_id(lab, submission))
    stages = _or_exit(loaded.select, tuple(stage or ()), until)
    chosen_seed = seed if seed is not None else secrets.randbelow(1_000_000)
    worker_log = Path(f"labctl-worker-{chosen_seed}.log").resolve() if verbose else None
    try:
        progress = _Progress(loaded.id, status_glyphs(err))
        with err.status(progress.text()) as status:
            result = _or_exit(
                run_check,
                loaded,
                submission,
                stages,
                seed=chosen_seed,
                ready_timeout_s=ready_timeout,
                worker_log=worker_log,
                on_event=lambda event: status.update(progress.update(event)),
                backend=chosen_backend,
            )
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: everything labctl started has been stopped")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    _report(result, json_path, junit_path, verbose)
    if worker_log is not None:
        err.print(f"[dim]grader output: {worker_log}[/]")
    raise typer.Exit(result.exit_code)


@app.command()
def doctor(
    cleanup: Annotated[
        bool,
        typer.Option("--cleanup", help="Remove containers, networks and images labctl left."),
    ] = False,
) -> None:
    """Say what this machine offers labctl: dependency binaries, Docker, loopback ports."""
    if cleanup:
        _cleanup_docker()
    table = Table("", "what", "detail", box=None, pad_edge=False)
    table.add_row("✔", "python", f"{platform.python_version()} ({sys.executable})")
    table.add_row("✔", "labctl", __version__)
    from labctl import deps  # only doctor needs the providers

    findings = deps.available()
    for finding in findings:
        table.add_row("✔" if finding.ok else "✘", finding.kind, escape(finding.detail))
    table.add_row(*_docker_row())
    table.add_row(*_port_row())
    out.print(table)
    missing = [f.kind for f in findings if not f.ok]
    if missing:
        out.print(f"[red]missing: {', '.join(missing)}[/]: labs that need them cannot run here")
        raise typer.Exit(ExitCode.ENVIRONMENT)


def _docker_row() -> tuple[str, str, str]:
    ok, why = engine_status()
    if ok:
        return "✔", "docker", f"{why}: --backend auto uses Docker for projects with a Dockerfile"
    return "·", "docker", f"{why}: --backend auto uses the local backend"


def _cleanup_docker() -> None:
    ok, why = engine_status()
    if not ok:
        raise _exit(SetupError(f"cannot clean up Docker: {why}", hint="start the Docker engine"))
    from labctl._docker import cleanup

    done = cleanup()
    out.print(
        f"removed {done.containers} containers, {done.networks} networks and {done.images} "
        "images labelled as labctl's"
    )


def _port_row() -> tuple[str, str, str]:
    try:
        return "✔", "loopback", f"can bind 127.0.0.1 (port {free_port()} was free)"
    except OSError as exc:
        return "✘", "loopback", f"cannot bind 127.0.0.1: {exc}"


class _Progress:
    """The status line while a check runs: the start-up phase, then stage by stage."""

    def __init__(self, lab: str, marks: Mapping[Status, str]) -> None:
        self.lab = lab
        self.marks = marks
        self.phase = "starting"
        self.stages: dict[str, list[Status]] = {}  # slug -> statuses of its finished checks
        self.current: str | None = None

    def update(self, event: Event) -> str:
        if event.kind == "phase":
            self.phase = event.text
        elif event.kind == "stage":
            self.current = event.stage
            self.stages.setdefault(event.stage, [])
        elif event.kind == "check":
            self.stages.setdefault(event.stage, []).append(Status(event.status))
        return self.text()

    def text(self) -> str:
        if self.current is None:
            return escape(f"grading {self.lab}: {self.phase}…")
        return escape(
            f"grading {self.lab}: "
            + " · ".join(
                f"{slug} ({len(done)} checks)…"
                if slug == self.current
                else f"{slug} {self.marks[worst(done)]}"
                for slug, done in self.stages.items()
            )
        )


def _lab_id(lab: str | None, submission: Submission) -> str:
    if lab and submission.lab and lab != submission.lab:
        raise _exit(
            SubmissionError(
                f"{CONFIG_NAME} says lab = {submission.lab!r}, but you asked for {lab!r}",
                hint="drop the lab argument, or fix the lab in labctl.toml",
            )
        )
    chosen = lab or submission.lab
    if not chosen:
        raise _exit(
            SubmissionError(
                "which lab? none was named and labctl.toml has no lab = ...",
                hint="run `labctl check <lab>` (see `labctl list`)",
            )
        )
    return chosen


def _report(result: Result, json_path: Path | None, junit_path: Path | None, verbose: bool) -> None:
    render_terminal(result, out, verbose=verbose)
    if json_path is not None:
        write_json(result, json_path)
    if junit_path is not None:
        write_junit(result, junit_path)


def _stage_table(lab: Lab) -> Table:
    table = Table("stage", "what is checked", "needs", "timeout", title="How it is graded")
    for s in lab.stages:
        table.add_row(s.slug, s.title, ", ".join(s.needs), f"{s.timeout_s:g} s")
    return table


def _or_exit(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    try:
        return fn(*args, **kwargs)
    except LabctlError as exc:
        raise _exit(exc) from None


def _exit(exc: LabctlError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(exc.message)}")
    if exc.hint:
        err.print(f"[bold]hint:[/] {escape(exc.hint)}")
    for line in exc.log:
        err.print(f"[dim]\\[{escape(exc.log_source)}] {escape(line)}[/]")
    return typer.Exit(exc.exit_code)


def main() -> NoReturn:
    app()
    raise SystemExit(0)
