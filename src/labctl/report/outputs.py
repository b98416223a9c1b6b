"""Every report one ``labctl check`` writes, chosen by its flags: terminal, JSON, JUnit, Classroom,
GitHub Actions, HTML, and the stability table of a ``--repeat`` run.

``reveal`` (the grader's report) shows hidden checks in full in every one of them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from labctl.report.classroom import write_classroom
from labctl.report.github import report_to_github
from labctl.report.html import write_html
from labctl.report.json import write_json
from labctl.report.junit import write_junit
from labctl.report.terminal import render_terminal
from labctl.results import Result


@dataclass(frozen=True)
class Outputs:
    json: Path | None = None
    junit: Path | None = None
    classroom: Path | None = None
    github: bool = False
    reveal: bool = False
    verbose: bool = False
    html: Path | None = None

    def files(self) -> list[Path]:
        """The report files asked for."""
        return [p for p in (self.json, self.junit, self.classroom, self.html) if p is not None]


def write_outputs(result: Result, console: Console, outputs: Outputs) -> None:
    render_terminal(result, console, verbose=outputs.verbose, reveal=outputs.reveal)
    if "stability" in result.meta:
        console.print(stability_table(result))
    write_files(result, outputs)
    if outputs.github:
        report_to_github(result, sys.stdout, reveal=outputs.reveal)


def write_files(result: Result, outputs: Outputs) -> None:
    """The report files ``outputs`` asks for (JSON, JUnit, Classroom, HTML)."""
    if outputs.json is not None:
        write_json(result, outputs.json, reveal=outputs.reveal)
    if outputs.junit is not None:
        write_junit(result, outputs.junit, reveal=outputs.reveal)
    if outputs.classroom is not None:
        write_classroom(result, outputs.classroom, reveal=outputs.reveal)
    if outputs.html is not None:
        write_html(result, outputs.html, reveal=outputs.reveal)


def stability_table(result: Result) -> Table:
    stability = result.meta["stability"]
    table = Table(
        "stage", "statuses", "stable", title=f"Stability over {stability['runs']} runs", box=None
    )
    for slug, row in stability["stages"].items():
        counts = ", ".join(f"{n}× {status}" for status, n in sorted(row["statuses"].items()))
        table.add_row(slug, counts, "yes" if row["stable"] else "[bold red]NO[/]")
    return table
