"""``labctl grade``: a cohort's submissions, a few at a time, into one CSV and HTML table."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from labctl.cli._exits import err, interruptible, or_exit
from labctl.cli.report import write_aggregate
from labctl.results import ExitCode
from labctl.results.cohort import Row
from labctl.run import cohort


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
    items = or_exit(cohort.submissions, submissions or [], csv_file)
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
    with interruptible("the running checks stopped what they started"):
        aggregate = or_exit(cohort.grade_all, items, args, out_dir, jobs, _print_row)
    write_aggregate(aggregate, out_dir / "grades.csv", out_dir / "grades.html")
    raise typer.Exit(0 if all(row.result for row in aggregate.rows) else ExitCode.FAIL)


def _print_row(row: Row) -> None:
    result = row.result or {}
    verdict = result.get("verdict", "not graded")
    points = result.get("points", {})
    detail = f"{points['earned']}/{points['possible']} points" if points else row.problem
    err.print(f"{escape(row.name)}  {verdict}  {escape(str(detail))}", soft_wrap=True)
