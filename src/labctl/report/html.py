"""The HTML report (``labctl check --html FILE``): one self-contained page, no network.

The page is a list of sections, each a small function from the (redacted) ``Result`` to HTML:
the summary, then every stage with its checks. Inside a check, each kind of attached data has
its own function too (``CHECK_SECTIONS``): today the load runs, each with latency percentiles
over time and the latency distribution as inline SVG. Another kind of section (a fault
timeline, points per stage) is one more function appended to ``SECTIONS`` or
``CHECK_SECTIONS``. Every learner-controlled text is cleaned and escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from labctl.report._atomic import write_atomic
from labctl.report._common import clean, curl_lines, field_lines, service_line, shown
from labctl.report._svg import Chart, Series, bar_chart, line_chart
from labctl.results import CheckResult, Result, StageResult, Status

Section = Callable[[Result], str]
CheckSection = Callable[[CheckResult], str]

_COLOUR = {
    Status.PASS: "#15803d",
    Status.FAIL: "#b91c1c",
    Status.ERROR: "#b91c1c",
    Status.SKIP: "#6b7280",
    Status.INCONCLUSIVE: "#b45309",
}
_PERCENTILES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max"))
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#111}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}h3{font-size:1em}
.status{font-weight:bold;text-transform:uppercase}
pre{background:#f3f4f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}
details{margin:.3em 0 .3em 1em}table{border-collapse:collapse}
td,th{padding:.15em .8em;text-align:right}td:first-child,th:first-child{text-align:left}
"""


def write_html(result: Result, path: Path, *, reveal: bool = False) -> None:
    """Write ``result`` to ``path`` as one HTML page; the file is complete or absent.

    ``reveal`` shows hidden checks in full: a report for the grader, never the learner."""
    page = render_html(result, reveal=reveal)
    write_atomic(path, page.encode("utf-8", errors="backslashreplace"))


def render_html(result: Result, *, reveal: bool = False) -> str:
    result = shown(result, reveal=reveal)
    body = "".join(section(result) for section in SECTIONS)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>labctl · {_e(result.lab)} · {_e(result.verdict.value)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def summary_section(result: Result) -> str:
    error = ""
    if result.error:
        log = "\n".join(result.log)
        error = f"<h2>Environment error</h2><p>{_e(result.error)}</p><p>{_e(result.error_hint)}</p>"
        error += f"<pre>{_e(log)}</pre>" if log else ""
    return (
        f"<h1>{_e(result.lab)}: {_status(result.verdict)}</h1>"
        f"<p>seed {result.seed} · {result.points_earned}/{result.points_possible} points · "
        f"{result.duration_s:.1f} s · exit code {result.exit_code}</p>{error}"
    )


def stages_section(result: Result) -> str:
    return "".join(_stage(stage) for stage in result.stages)


def _stage(stage: StageResult) -> str:
    reason = f"<p>{_e(stage.reason)}</p>" if stage.reason else ""
    checks = "".join(_check(check) for check in stage.checks)
    return (
        f"<h2>{_status(stage.status)} {_e(stage.slug)}: {_e(stage.title)} "
        f"({stage.points_earned}/{stage.points_possible})</h2>{reason}{checks}"
    )


def _check(check: CheckResult) -> str:
    inner = "".join(section(check) for section in CHECK_SECTIONS)
    head = f"{_status(check.status)} {_e(check.id)}: {_e(check.title)} ({check.duration_s:.2f} s)"
    if not inner:
        return f"<div>{head}</div>"
    opened = " open" if check.status is not Status.PASS or check.load else ""
    return f"<details{opened}><summary>{head}</summary>{inner}</details>"


def message_section(check: CheckResult) -> str:
    if check.status not in (Status.FAIL, Status.ERROR, Status.INCONCLUSIVE):
        return ""
    lines = [check.message, *field_lines(check), *curl_lines(check)]
    log = "\n".join(service_line(line) for line in check.log)
    return f"<pre>{_e(chr(10).join(lines))}</pre>" + (f"<pre>{_e(log)}</pre>" if log else "")


def load_section(check: CheckResult) -> str:
    return "".join(_load_run(i, run) for i, run in enumerate(check.load, start=1))


def _load_run(number: int, run: Mapping[str, Any]) -> str:
    seconds = run.get("seconds", [])
    over_time = Chart(
        series=[
            Series(name, [(s["t"], s[key]) for s in seconds])
            for name, key in (("p50", "p50_ms"), ("p99", "p99_ms"), ("max", "max_ms"))
        ],
        x_label="second of the run (by intended send time)",
        y_label="ms",
    )
    buckets = [(f"≤{ms:g} ms", float(n)) for ms, n in run.get("distribution", [])]
    return (
        f"<h3>Load run {number}: {run['offered_rps']:g} req/s offered, "
        f"{run['achieved_rps']:g} answered, verdict {_e(run['verdict'])}</h3>"
        f"{_percentile_table(run)}{line_chart(over_time)}"
        f"{bar_chart(buckets, 'latency from intended send', 'requests')}"
    )


def _percentile_table(run: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{name}</td><td>{run['latency_ms'][key]:.2f} ms</td>"
        f"<td>{run['service_latency_ms'][key]:.2f} ms</td></tr>"
        for name, key in _PERCENTILES
    )
    gen = run["generator"]
    errors = ", ".join(f"{n} {kind}" for kind, n in run["errors"].items() if n) or "none"
    return (
        "<table><tr><th>latency</th><th>from intended send</th><th>from actual send</th></tr>"
        f"{rows}</table><p>errors: {_e(errors)} · late sends: {run['late_sends']} · generator: "
        f"{gen['processes']} processes, {gen['cpu_ms_per_request']:.3f} ms CPU/request</p>"
    )


def _status(status: Status) -> str:
    return f'<span class="status" style="color:{_COLOUR[status]}">{status.value}</span>'


def _e(text: str) -> str:
    return escape(clean(text))


SECTIONS: list[Section] = [summary_section, stages_section]
CHECK_SECTIONS: list[CheckSection] = [message_section, load_section]
