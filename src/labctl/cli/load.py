"""``labctl load``: open-model load on a running service, with its latency report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from labctl.cli._exits import interruptible, or_exit, out
from labctl.errors import ConfigError
from labctl.load import Scenario, as_json, summary
from labctl.load import run as run_load
from labctl.report import write_atomic
from labctl.results import ExitCode


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
    scenario = or_exit(_scenario, url, path or ["/"], ok_status or [200])
    with interruptible("the load generator has been stopped"):
        report = or_exit(
            run_load,
            url,
            scenario,
            rate=rate,
            duration_s=duration,
            warmup_s=warmup,
            processes=processes,
        )
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
