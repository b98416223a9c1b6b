"""``labctl doctor``: what this machine offers labctl, and ``--cleanup`` of what labctl left."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from labctl import doctor as checkup
from labctl.cli._exits import or_exit, out
from labctl.results import ExitCode


def doctor(
    cleanup: Annotated[
        bool,
        typer.Option("--cleanup", help="Remove containers, networks and images labctl left."),
    ] = False,
) -> None:
    """Say what this machine offers labctl: dependency binaries, Docker, loopback ports."""
    if cleanup:
        out.print(or_exit(checkup.cleanup_docker))
    table = Table("", "what", "detail", box=None, pad_edge=False)
    found = checkup.findings()
    for row in checkup.rows(found):
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
    if missing := [f.kind for f in found if not f.ok]:
        out.print(f"[red]missing: {', '.join(missing)}[/]: labs that need them cannot run here")
        raise typer.Exit(ExitCode.ENVIRONMENT)
