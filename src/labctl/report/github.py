"""The GitHub Actions report: a Markdown job summary, ``::error`` annotations and step outputs.

``report_to_github()`` appends the summary to ``$GITHUB_STEP_SUMMARY`` (the stages with their
points, then the first failure's details), prints one ``::error`` workflow command per failed
check on stdout, and appends ``verdict``, ``points``, ``max-points``, ``exit-code`` and
``classroom-result`` (base64, for Classroom's reporter) to ``$GITHUB_OUTPUT``. Learner-controlled
text is escaped for each place it lands: Markdown table cells, code fences, workflow commands.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from labctl.report._common import (
    NEEDS_DETAILS,
    clean,
    curl_lines,
    field_lines,
    first_line,
    service_line,
    shown,
)
from labctl.report.classroom import classroom_base64
from labctl.results import CheckResult, Result, StageResult, Status

LOG_LINES = 20
_MARK = {
    Status.PASS: "✅",
    Status.FAIL: "❌",
    Status.ERROR: "⚠️",
    Status.SKIP: "⏭️",
    Status.INCONCLUSIVE: "❔",
}


def report_to_github(
    result: Result, out: TextIO, env: Mapping[str, str] = os.environ, *, reveal: bool = False
) -> None:
    """Write every GitHub Actions artefact the environment asks for (outside Actions: none)."""
    view = shown(result, reveal=reveal)
    for line in error_annotations(view):
        print(line, file=out)
    if summary := env.get("GITHUB_STEP_SUMMARY"):
        _append(Path(summary), step_summary(view))
    if output := env.get("GITHUB_OUTPUT"):
        _append(Path(output), step_outputs(result))


def error_annotations(result: Result) -> list[str]:
    """One ``::error`` command per failed or errored check (or for the environment)."""
    if result.error:
        return [_command("error", "labctl: the environment could not start", result.error)]
    return [
        _command("error", f"{stage.slug} › {check.title}", _annotation_text(check))
        for stage in result.stages
        for check in stage.checks
        if check.status in (Status.FAIL, Status.ERROR)
    ]


def step_outputs(result: Result) -> str:
    return (
        f"verdict={result.verdict.value}\n"
        f"points={result.points_earned}\n"
        f"max-points={result.points_possible}\n"
        f"exit-code={result.exit_code}\n"
        f"classroom-result={classroom_base64(result)}\n"
    )


def step_summary(result: Result) -> str:
    lines = [
        f"## labctl · {_cell(result.lab)} · {_verdict(result)}",
        "",
        f"**{result.points_earned} / {result.points_possible} points**" + _pass_mark(result),
        "",
    ]
    if result.error:
        lines += ["### The environment could not start", "", *_fenced(_error_text(result)), ""]
    else:
        lines += [*_stage_table(result.stages), ""]
        lines += _stability(result)
        lines += _first_failure(result.stages)
    lines += [_provenance(result), ""]
    return "\n".join(lines) + "\n"


def _stage_table(stages: tuple[StageResult, ...]) -> list[str]:
    rows = ["| | stage | what is checked | checks passed | points |", "|---|---|---|---|---|"]
    for stage in stages:
        passed = sum(c.status is Status.PASS for c in stage.checks)
        rows.append(
            f"| {_MARK[stage.status]} | `{_code(stage.slug)}` | {_cell(stage.title)} "
            f"| {passed}/{len(stage.checks)} | {stage.points_earned}/{stage.points_possible} |"
        )
    return rows


def _stability(result: Result) -> list[str]:
    """A ``--repeat`` run's stages that did not give the same status every time."""
    stability = result.meta.get("stability")
    if not stability:
        return []
    runs = stability["runs"]
    flaky = [
        f"- `{_code(slug)}`: "
        + ", ".join(f"{n}× {status}" for status, n in sorted(row["statuses"].items()))
        for slug, row in stability["stages"].items()
        if not row["stable"]
    ]
    if not flaky:
        return [f"Every stage gave the same status in all {runs} runs.", ""]
    return [f"**Unstable over {runs} runs** (the worst run is reported):", "", *flaky, ""]


def _first_failure(stages: tuple[StageResult, ...]) -> list[str]:
    for stage in stages:
        for check in stage.checks:
            if check.status in NEEDS_DETAILS:
                return _details(stage, check)
    return []


def _details(stage: StageResult, check: CheckResult) -> list[str]:
    head = f"### First failure: `{_code(stage.slug)}` › {_cell(check.title)}"
    if check.hidden:
        return [head, "", "A hidden check: no details are shown.", ""]
    body = [check.message.rstrip(), *field_lines(check), *curl_lines(check)]
    lines = [head, "", f"`{_code(check.id)}`", "", *_fenced("\n".join(t for t in body if t)), ""]
    if check.log:
        log = "\n".join(service_line(entry) for entry in check.log[-LOG_LINES:])
        lines += ["<details><summary>your service's log</summary>", "", *_fenced(log)]
        lines += ["", "</details>", ""]
    return lines


def _provenance(result: Result) -> str:
    run = result.meta.get("run", {})
    facts = [f"seed {result.seed} (replay: `labctl check --seed {result.seed}`)"]
    if run:
        lab, labctl = run.get("lab_version", "?"), run.get("labctl_version", "?")
        facts += [f"lab `{_code(str(lab))}`", f"labctl `{_code(str(labctl))}`"]
    return "<sub>" + " · ".join(facts) + "</sub>"


def _verdict(result: Result) -> str:
    if result.verdict is Status.FAIL:
        failed = next((s.slug for s in result.stages if s.status is Status.FAIL), None)
        return f"❌ FAIL: fix `{_code(failed)}` first" if failed else "❌ FAIL"
    return f"{_MARK[result.verdict]} {result.verdict.value.upper()}"


def _pass_mark(result: Result) -> str:
    return "" if result.pass_mark is None else f" (pass mark {result.pass_mark:g})"


def _error_text(result: Result) -> str:
    lines = [result.error, *([f"hint: {result.error_hint}"] if result.error_hint else [])]
    source = result.log_source or "your service"
    return "\n".join([*lines, *(f"[{source}] {entry}" for entry in result.log[-LOG_LINES:])])


def _annotation_text(check: CheckResult) -> str:
    if check.hidden:
        return "a hidden check failed" if check.status is Status.FAIL else "a hidden check errored"
    return "\n".join([first_line(check.message, check.status.value), *field_lines(check)])


def _command(kind: str, title: str, message: str) -> str:
    return f"::{kind} title={_property(title)}::{_data(message)}"


def _data(text: str) -> str:
    """Escaped as the Actions runner unescapes a workflow command's message."""
    return clean(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _cell(text: str) -> str:
    """Learner text inside a Markdown table or heading: one line, no markup, no HTML."""
    flat = " ".join(clean(text).split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_|\[\]])", r"\\\1", flat)


def _code(text: str) -> str:
    """Learner text inside a backtick code span (where backslashes are literal)."""
    return " ".join(clean(text).replace("`", "'").split())


def _fenced(text: str) -> list[str]:
    """``text`` in a code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", clean(text), fence]


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(text)
