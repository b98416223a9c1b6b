"""Where errors become exit codes, for every command (DESIGN.md: 0 pass, 1 fail, 2 usage or
config, 3 environment, 4 inconclusive, 130 interrupted), and the two consoles commands print on.

A ``LabctlError`` is printed as ``error:`` / ``hint:`` / its log lines and exits with its own
code; Ctrl-C exits 130 after saying what was stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from labctl.errors import LabctlError
from labctl.results import ExitCode

P = ParamSpec("P")
T = TypeVar("T")

out = Console()
err = Console(stderr=True)


def or_exit(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(...)``, or the exit a ``LabctlError`` it raised stands for."""
    try:
        return fn(*args, **kwargs)
    except LabctlError as exc:
        raise exit_for(exc) from None


def exit_for(exc: LabctlError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(exc.message)}")
    if exc.hint:
        err.print(f"[bold]hint:[/] {escape(exc.hint)}")
    for line in exc.log:
        err.print(f"[dim]\\[{escape(exc.log_source)}] {escape(line)}[/]")
    return typer.Exit(exc.exit_code)


@contextmanager
def interruptible(stopped: str) -> Iterator[None]:
    """Ctrl-C inside exits 130, saying what has been stopped."""
    try:
        yield
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted[/]: {stopped}")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
