"""The ``labctl`` command line: list, show, check, doctor.

Commands parse flags, call into the library, pick reporters and map errors to exit codes
(DESIGN.md: 0 pass, 1 fail, 2 usage/config, 3 environment, 4 inconclusive, 130 interrupted).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labctl import doctor as checkup
from labctl.backends import choose as choose_backend
from labctl.errors import ConfigError, LabctlError, SubmissionError
from labctl.load import Scenario, as_json, summary
from labctl.load import run as run_load
from labctl.model.lab import Lab, list_labs, load_lab
from labctl.model.submission import CONFIG_NAME, Submission, load_submission
from labctl.report import write_atomic
from labctl.report.cohort import write_csv
from labctl.report.cohort import write_html as write_cohort_html
from labctl.report.live import Progress
from labctl.report.outputs import Outputs, write_outputs
from labctl.report.terminal import status_glyphs
from labctl.results import ExitCode
from labctl.results.cohort import Aggregate, Row
from labctl.run import cohort
from labctl.run.check import CheckRequest
from labctl.run.check import check as run_request

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
    """List the labs, with their stages, dependencies and the upstream stubs they run."""
    table = Table("lab", "title", "stages", "dependencies", box=None, pad_edge=False)
    for lab in _or_exit(list_labs):
        needs = [d.kind for d in lab.dependencies] + [f"{u.name} (stub)" for u in lab.upstreams]
        table.add_row(lab.id, lab.title, " → ".join(s.slug for s in lab.stages), ", ".join(needs))
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
) -> None:
    """Start your service with real dependencies and grade it, stage by stage."""
    submission = _or_exit(load_submission, path, run=run)
    chosen_backend = _or_exit(choose_backend, backend, submission)
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
    try:
        progress = Progress(request.lab, status_glyphs(err))
        with err.status(progress.text()) as status:
            result = _or_exit(
                run_request, request, lambda event: status.update(progress.update(event))
            )
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: everything labctl started has been stopped")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    outputs = Outputs(json_path, junit_path, classroom_path, github, reveal, verbose, html_path)
    write_outputs(result, out, outputs)
    worker_log = request.worker_log
    if worker_log is not None:
        err.print(f"[dim]grader output: {worker_log}[/]")
    raise typer.Exit(result.exit_code)


@app.command("load")
def load_command(
    url: Annotated[str, typer.Argument(help="The service to load, e.g. http://127.0.0.1:8080.")],
    rate: Annotated[float, typer.Option("--rate", min=0.1, help="Requests per second to send.")],
    duration: Annotated[
        float, typer.Option("--duration", min=0.1, help="Seconds measured (after the warm-up).")
    ],
    path: Annotated[
        list[str] | None, typer.Option("--path", help="Request path, repeatable (sent in turn).")
    ] = None,
    ok_status: Annotated[
        list[int] | None,
        typer.Option(
            "--ok-status", help="A status that is not an error (default 200); repeatable."
        ),
    ] = None,
    warmup: Annotated[
        float, typer.Option("--warmup", min=0.0, help="Seconds sent first and not measured.")
    ] = 1.0,
    processes: Annotated[
        int | None, typer.Option("--processes", min=1, help="Worker processes (default: cores).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON.")
    ] = None,
) -> None:
    """Send requests on a fixed schedule and report latency; exit 4 if the schedule slipped."""
    scenario = _or_exit(_scenario, url, path or ["/"], ok_status or [200])
    try:
        report = _or_exit(
            run_load,
            url,
            scenario,
            rate=rate,
            duration_s=duration,
            warmup_s=warmup,
            processes=processes,
        )
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: the load generator has been stopped")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    out.print(escape(summary(report)))
    for reason in report.reasons:
        out.print(f"[yellow]inconclusive[/]: {escape(reason)}")
    if json_path is not None:
        write_atomic(json_path, as_json(report))
    raise typer.Exit(ExitCode.INCONCLUSIVE if report.inconclusive else ExitCode.PASS)


def _scenario(url: str, paths: list[str], ok_status: list[int]) -> Scenario:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{url!r} is not an http:// URL", hint="e.g. http://127.0.0.1:8080")
    scheme, _, after = url.partition("//")
    host, _, rest = after.partition("/")
    if rest:
        raise ConfigError(
            f"{url!r} has a path; the URL names the service only",
            hint=f"pass the path with --path: labctl load {scheme}//{host} --path /{rest}",
        )
    try:
        return Scenario.get(*paths, ok_status=ok_status)
    except ValueError as exc:
        raise ConfigError(f"--path: {exc}", hint="e.g. --path /healthz") from None


@app.command()
def grade(
    submissions: Annotated[
        list[Path] | None, typer.Argument(help="The submissions' directories.")
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", help="Also grade the directories in this CSV's path column."),
    ] = None,
    lab: Annotated[
        str | None, typer.Option("--lab", help="The lab; default: each one's labctl.toml.")
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where results, logs and the aggregate go.")
    ] = Path("labctl-grades"),
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", min=1, help="Submissions graded at once (default: cores/2)."),
    ] = cohort.default_jobs(),
    seed: Annotated[
        int | None, typer.Option("--seed", help="The seed for all (default: a random one).")
    ] = None,
    stage: Annotated[
        list[str] | None, typer.Option("--stage", help="Run this stage (and what it needs).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Run the stages up to and including this one.")
    ] = None,
    graders: Annotated[
        str | None, typer.Option("--graders", help="A private grader pack: directory or git URL.")
    ] = None,
    min_points: Annotated[
        float | None, typer.Option("--min-points", min=0, help="Pass with this many points.")
    ] = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Results with hidden checks in full (for graders).")
    ] = False,
) -> None:
    """Grade many submissions, a few at a time, into one CSV and HTML table."""
    items = _or_exit(cohort.submissions, submissions or [], csv_file)
    chosen_seed = seed if seed is not None else secrets.randbelow(1_000_000)
    args = cohort.check_args(
        lab=lab,
        seed=chosen_seed,
        stages=stage or (),
        until=until,
        graders=graders,
        min_points=min_points,
        reveal=reveal,
    )
    err.print(f"grading {len(items)} submissions, {jobs} at a time, seed {chosen_seed}")
    try:
        aggregate = _or_exit(cohort.grade_all, items, args, out_dir, jobs, _print_row)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: the running checks stopped what they started")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    _write_aggregate(aggregate, out_dir / "grades.csv", out_dir / "grades.html")
    raise typer.Exit(0 if all(row.result for row in aggregate.rows) else ExitCode.FAIL)


report_app = typer.Typer(help="Work with result files.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("merge")
def report_merge(
    results: Annotated[
        list[Path], typer.Argument(help="Result JSON files, or directories holding them.")
    ],
    csv_path: Annotated[Path, typer.Option("--csv", help="The aggregate CSV.")] = Path(
        "grades.csv"
    ),
    html_path: Annotated[Path, typer.Option("--html", help="The aggregate HTML table.")] = Path(
        "grades.html"
    ),
) -> None:
    """Merge `labctl check --json` results (one per submission) into a CSV and HTML table."""
    _write_aggregate(_or_exit(cohort.load_results, results), csv_path, html_path)


def _print_row(row: Row) -> None:
    result = row.result or {}
    verdict = result.get("verdict", "not graded")
    points = result.get("points", {})
    detail = f"{points['earned']}/{points['possible']} points" if points else row.problem
    err.print(f"{escape(row.name)}  {verdict}  {escape(str(detail))}", soft_wrap=True)


def _write_aggregate(aggregate: Aggregate, csv_path: Path, html_path: Path) -> None:
    write_csv(aggregate, csv_path)
    write_cohort_html(aggregate, html_path)
    out.print(f"{len(aggregate.rows)} submissions: {csv_path}, {html_path}")


@app.command()
def doctor(
    cleanup: Annotated[
        bool,
        typer.Option("--cleanup", help="Remove containers, networks and images labctl left."),
    ] = False,
) -> None:
    """Say what this machine offers labctl: dependency binaries, Docker, loopback ports."""
    if cleanup:
        out.print(_or_exit(checkup.cleanup_docker))
    table = Table("", "what", "detail", box=None, pad_edge=False)
    found = checkup.findings()
    for row in checkup.rows(found):
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
    if missing := [f.kind for f in found if not f.ok]:
        out.print(f"[red]missing: {', '.join(missing)}[/]: labs that need them cannot run here")
        raise typer.Exit(ExitCode.ENVIRONMENT)


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
