"""The cohort reports: one CSV row and one HTML table row per submission.

Columns: submission, lab, verdict, exit code, points, then each stage's status and points, then
a p99 column for each stage whose results carry a p99 figure (load stages), then why a
submission has no result. The HTML page is self-contained (inline CSS, no scripts, no network)
and escapes everything a learner controls.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

from labctl.report._atomic import write_atomic
from labctl.results import number
from labctl.results.cohort import Aggregate, Row, p99_ms, stage_of

_GLYPH = {"pass": "✔", "fail": "✘", "error": "!", "skip": "↷", "inconclusive": "?"}
_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; white-space: nowrap; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { background: #e6f4ea; } .fail, .error { background: #fce8e6; }
.skip { color: #888; } .inconclusive { background: #fef7e0; }
caption { text-align: left; font-weight: bold; margin-bottom: .5em; }
"""


def csv_rows(aggregate: Aggregate) -> list[dict[str, Any]]:
    return [_csv_row(aggregate, row) for row in aggregate.rows]


def write_csv(aggregate: Aggregate, path: Path) -> None:
    write_atomic(path, render_csv(aggregate).encode("utf-8"))


def render_csv(aggregate: Aggregate) -> str:
    columns = ["submission", "lab", "verdict", "exit_code", "points", "max_points"]
    for slug in aggregate.stages:
        columns += [slug, f"{slug}_points"]
    columns += [f"{slug}_p99_ms" for slug in aggregate.p99_stages()]
    columns.append("problem")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(aggregate))
    return buffer.getvalue()


def write_html(aggregate: Aggregate, path: Path) -> None:
    write_atomic(path, render_html(aggregate).encode("utf-8"))


def render_html(aggregate: Aggregate) -> str:
    p99 = aggregate.p99_stages()
    head = ["submission", "verdict", "points", *aggregate.stages, *(f"{s} p99" for s in p99)]
    passed = sum(r.result is not None and r.result.get("verdict") == "pass" for r in aggregate.rows)
    caption = f"{len(aggregate.rows)} submissions, {passed} passed"
    lines = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>labctl cohort</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<table><caption>{caption}</caption>",
        "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>",
        *(_html_row(aggregate, row, p99) for row in aggregate.rows),
        "</table></body></html>",
    ]
    return "\n".join(lines) + "\n"


def _csv_row(aggregate: Aggregate, row: Row) -> dict[str, Any]:
    result = row.result or {}
    points = result.get("points", {})
    data: dict[str, Any] = {
        "submission": row.name,
        "lab": result.get("lab", ""),
        "verdict": result.get("verdict", "not graded"),
        "exit_code": result.get("exit_code", ""),
        "points": points.get("earned", ""),
        "max_points": points.get("possible", ""),
        "problem": row.problem or result.get("error", {}).get("message", ""),
    }
    for slug in aggregate.stages:
        stage = stage_of(row, slug) or {}
        data[slug] = stage.get("status", "")
        data[f"{slug}_points"] = stage.get("points", {}).get("earned", "")
    for slug in aggregate.p99_stages():
        value = p99_ms(row, slug)
        data[f"{slug}_p99_ms"] = "" if value is None else number(round(value, 3))
    return data


def _html_row(aggregate: Aggregate, row: Row, p99: tuple[str, ...]) -> str:
    data = _csv_row(aggregate, row)
    link = f'<a href="{_e(row.name)}.json">{_e(row.name)}</a>' if row.result else _e(row.name)
    verdict = str(data["verdict"])
    style = verdict if row.result else "error"
    title = f' title="{_e(data["problem"])}"' if data["problem"] else ""
    cells = [
        f"<td>{link}</td>",
        f'<td class="{_e(style)}"{title}>{_e(verdict)}</td>',
        f'<td class="num">{_e(_points(data["points"], data["max_points"]))}</td>',
    ]
    for slug in aggregate.stages:
        status = str(data[slug])
        shown = f"{_GLYPH.get(status, '')} {data[f'{slug}_points']}" if status else ""
        cells.append(f'<td class="{_e(status)}" title="{_e(status)}">{_e(shown)}</td>')
    cells += [f'<td class="num">{_e(_ms(data[f"{slug}_p99_ms"]))}</td>' for slug in p99]
    return "<tr>" + "".join(cells) + "</tr>"


def _points(earned: Any, possible: Any) -> str:
    return f"{earned}/{possible}" if earned != "" else ""


def _ms(value: Any) -> str:
    return f"{value} ms" if value != "" else ""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
