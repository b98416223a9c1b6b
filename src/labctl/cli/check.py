"""``labctl check``: grade a project, stage by stage, and print and write its reports."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from labctl.backends import choose as choose_backend
from labctl.cli._exits import err, exit_for, interruptible, or_exit, out
from labctl.errors import ConfigError, SubmissionError
from labctl.model.submission import CONFIG_NAME, Submission, load_submission
from labctl.report.live import Progress
from labctl.report.outputs import Outputs, write_outputs
from labctl.report.terminal import status_glyphs
from labctl.run.check import CheckRequest
from labctl.run.check import check as run_request
from labctl.watch import Screen, Watching
from labctl.watch import watch as watch_loop


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
    html_path: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML report, with load plots."),
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
    graders: Annotated[
        str | None,
        typer.Option(
            "--graders",
            help="Grade with this grader pack: a directory, or a git URL (URL#subdir).",
        ),
    ] = None,
    reveal: Annotated[
        bool,
        typer.Option("--reveal", help="Show hidden checks in full: a report for the grader."),
    ] = False,
    classroom_path: Annotated[
        Path | None,
        typer.Option("--classroom", help="Also write a GitHub Classroom autograding result."),
    ] = None,
    min_points: Annotated[
        float | None,
        typer.Option("--min-points", min=0, help="Pass with at least this many points."),
    ] = None,
    repeat: Annotated[
        int,
        typer.Option("--repeat", min=1, help="Run N times; report each stage's stability."),
    ] = 1,
    github: Annotated[
        bool,
        typer.Option(
            "--github", help="Write a job summary, annotations and outputs for GitHub Actions."
        ),
    ] = False,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="local: processes; docker: containers (needs a Dockerfile); "
            "auto: docker when an engine answers and labctl.toml names a Dockerfile.",
        ),
    ] = "local",
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            "-w",
            help="Grade again on every change, the stage that failed last time first.",
        ),
    ] = False,
    all_stages: Annotated[
        bool,
        typer.Option("--all", help="With --watch: go on after a failing stage."),
    ] = False,
) -> None:
    """Start your service with real dependencies and grade it, stage by stage."""
    _check_watch_flags(watch, all_stages=all_stages, repeat=repeat, github=github)
    submission = or_exit(load_submission, path, run=run)
    chosen_backend = or_exit(choose_backend, backend, submission)
    chosen_seed = seed if seed is not None else secrets.randbelow(1_000_000)
    request = CheckRequest(
        lab=_lab_id(lab, submission),
        submission=submission,
        seed=chosen_seed,
        only=tuple(stage or ()),
        until=until,
        graders=graders,
        ready_timeout_s=ready_timeout,
        min_points=min_points,
        repeat=repeat,
        backend=chosen_backend,
        worker_log=Path(f"labctl-worker-{chosen_seed}.log").resolve() if verbose else None,
    )
    outputs = Outputs(json_path, junit_path, classroom_path, github, reveal, verbose, html_path)
    if watch:
        watching = Watching(request, run_command=run, all_stages=all_stages, outputs=outputs)
        with interruptible("everything labctl started has been stopped"):
            code = or_exit(watch_loop, watching, Screen(out, request.lab))
        raise typer.Exit(code)
    with interruptible("everything labctl started has been stopped"):
        progress = Progress(request.lab, status_glyphs(err))
        with err.status(progress.text()) as status:
            result = or_exit(
                run_request, request, lambda event: status.update(progress.update(event))
            )
    write_outputs(result, out, outputs)
    worker_log = request.worker_log
    if worker_log is not None:
        err.print(f"[dim]grader output: {worker_log}[/]")
    raise typer.Exit(result.exit_code)


def _check_watch_flags(watch: bool, *, all_stages: bool, repeat: int, github: bool) -> None:
    problem = ""
    if all_stages and not watch:
        problem = "--all goes with --watch (a check without --watch runs every stage anyway)"
    elif watch and repeat > 1:
        problem = "--watch grades once per change: it does not take --repeat"
    elif watch and github:
        problem = "--watch is for your terminal: GitHub Actions runs `labctl check --github`"
    if problem:
        raise exit_for(ConfigError(problem, hint="drop one of the two flags"))


def _lab_id(lab: str | None, submission: Submission) -> str:
    if lab and submission.lab and lab != submission.lab:
        raise exit_for(
            SubmissionError(
                f"{CONFIG_NAME} says lab = {submission.lab!r}, but you asked for {lab!r}",
                hint="drop the lab argument, or fix the lab in labctl.toml",
            )
        )
    chosen = lab or submission.lab
    if not chosen:
        raise exit_for(
            SubmissionError(
                "which lab? none was named and labctl.toml has no lab = ...",
                hint="run `labctl check <lab>` (see `labctl list`)",
            )
        )
    return chosen
