"""``labctl init``: a lab's starter project in a new directory, ready for ``labctl check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from labctl.cli._exits import exit_for, or_exit, out
from labctl.errors import ConfigError
from labctl.model import starters
from labctl.model.lab import Lab, load_lab


def init(
    lab: Annotated[str, typer.Argument(help="The lab's id, e.g. url-shortener.")],
    directory: Annotated[
        Path, typer.Argument(help="Where to write the project (default: the current directory).")
    ] = Path("."),
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="The starter's language: see `labctl list` for each lab's."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a directory that is not empty.")
    ] = False,
) -> None:
    """Start a project for a lab from its starter: a service that passes the first stage."""
    loaded = or_exit(load_lab, lab)
    language = lang or _only_language(loaded)
    written = or_exit(starters.init, loaded, language, directory, force=force)
    first = starters.first_stage(loaded)
    out.print(f"wrote {escape(str(directory))}, the {language} starter of {escape(loaded.title)}:")
    out.print("  " + "  ".join(escape(f) for f in written.files))
    if written.overwritten:
        out.print(f"[yellow]replaced[/]: {escape(', '.join(written.overwritten))}")
    out.print(f"It passes `{loaded.stages[0].slug}`; the next stage, `{first}`, is yours:")
    if directory.resolve() != Path.cwd():
        out.print(f"  cd {escape(str(directory))}")
    out.print(f"  labctl show {loaded.id} --stage {first}   # what it asks for")
    out.print("  labctl check --watch   # grade on every save, the stage you are on first")


def _only_language(lab: Lab) -> str:
    known = starters.languages(lab)
    if len(known) == 1:
        return known[0]
    offered = ", ".join(known) or "none yet"
    raise exit_for(
        ConfigError(
            f"which language? lab {lab.id!r} has starters in: {offered}",
            hint=f"pass one: labctl init {lab.id} DIR --lang {known[0] if known else 'LANG'}",
        )
    )
