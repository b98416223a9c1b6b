"""``labctl report merge``: many ``labctl check --json`` results into one CSV and HTML table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labctl.cli._exits import or_exit, out
from labctl.report.cohort import write_csv
from labctl.report.cohort import write_html as write_cohort_html
from labctl.results.cohort import Aggregate
from labctl.run import cohort

report_app = typer.Typer(help="Work with result files.", no_args_is_help=True)


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
    write_aggregate(or_exit(cohort.load_results, results), csv_path, html_path)


def write_aggregate(aggregate: Aggregate, csv_path: Path, html_path: Path) -> None:
    write_csv(aggregate, csv_path)
    write_cohort_html(aggregate, html_path)
    out.print(f"{len(aggregate.rows)} submissions: {csv_path}, {html_path}")
