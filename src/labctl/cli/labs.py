"""``labctl list`` and ``labctl show``: the labs, and one lab's spec."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from labctl.cli._exits import or_exit, out
from labctl.model.lab import Lab, list_labs, load_lab
from labctl.model.spec import section_text
from labctl.model.starters import languages


def list_command() -> None:
    """List the labs: their stages, dependencies, upstream stubs and starters' languages."""
    table = Table("lab", "title", "stages", "dependencies", "starters", box=None, pad_edge=False)
    for lab in or_exit(list_labs):
        needs = [d.kind for d in lab.dependencies] + [f"{u.name} (stub)" for u in lab.upstreams]
        stages = " → ".join(s.slug for s in lab.stages)
        table.add_row(lab.id, lab.title, stages, ", ".join(needs), ", ".join(languages(lab)))
    out.print(table)


def show(
    lab: Annotated[str, typer.Argument(help="The lab's id, e.g. url-shortener.")],
    stage: Annotated[
        str | None, typer.Option("--stage", help="Show only this stage's part of the spec.")
    ] = None,
) -> None:
    """Show a lab's spec (or one stage's part of it): what to build and how it is graded."""
    loaded = or_exit(load_lab, lab)
    from rich.markdown import Markdown  # slow to import; only show needs it

    if stage is not None:
        out.print(Markdown(or_exit(section_text, loaded, stage)))
        out.print()
        out.print(f"[dim]check it: labctl check --stage {escape(stage)}[/]")
        return
    out.print(Markdown(loaded.spec_path.read_text(encoding="utf-8")))
    out.print()
    out.print(_stage_table(loaded))


def _stage_table(lab: Lab) -> Table:
    table = Table("stage", "what is checked", "needs", "timeout", title="How it is graded")
    for s in lab.stages:
        table.add_row(s.slug, s.title, ", ".join(s.needs), f"{s.timeout_s:g} s")
    return table
