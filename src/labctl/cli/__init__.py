"""The ``labctl`` command line: one module per command (or group of commands).

Commands parse flags, call into the library and pick reporters; ``_exits`` maps errors to exit
codes for all of them (DESIGN.md: 0 pass, 1 fail, 2 usage/config, 3 environment,
4 inconclusive, 130 interrupted). No logic beyond that lives here.
"""

from __future__ import annotations

from typing import NoReturn

import typer

from labctl.cli import check, doctor, grade, init, labs, load
from labctl.cli.report import report_app

app = typer.Typer(
    help="Hands-on backend labs, graded against your real running service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(init.init)
app.command("list")(labs.list_command)
app.command()(labs.show)
app.command()(check.check)
app.command("load")(load.load_command)
app.command()(grade.grade)
app.add_typer(report_app, name="report")
app.command()(doctor.doctor)


def main() -> NoReturn:
    app()
    raise SystemExit(0)
