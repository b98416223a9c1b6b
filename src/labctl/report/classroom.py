"""A GitHub Classroom autograding result: the JSON a grader action hands to Classroom's reporter.

Shape (what ``classroom-resources/autograding-grading-reporter`` reads, base64-encoded, from a
``<RUNNER>_RESULTS`` variable): ``{"version": 1, "status", "max_score", "tests": [{"name",
"status", "score", "message", ...}]}``. One test per stage, because points are awarded per
stage (a stage's partial credit is its score). Hidden checks are redacted as everywhere.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from labctl.report._atomic import write_atomic
from labctl.report._common import clean, first_line, shown
from labctl.results import CheckResult, Result, StageResult, Status

# Classroom knows pass, fail and error; skipped and inconclusive stages earned nothing.
_STATUS = {Status.PASS: "pass", Status.ERROR: "error"}


def write_classroom(result: Result, path: Path, *, reveal: bool = False) -> None:
    """Write ``result`` to ``path`` as a Classroom grader result; complete or absent."""
    write_atomic(path, render_classroom(result, reveal=reveal))


def render_classroom(result: Result, *, reveal: bool = False) -> bytes:
    return (json.dumps(classroom_result(result, reveal=reveal), indent=2) + "\n").encode()


def classroom_base64(result: Result) -> str:
    """The form the Classroom reporter reads from ``<RUNNER>_RESULTS``."""
    return base64.b64encode(json.dumps(classroom_result(result)).encode()).decode()


def classroom_result(result: Result, *, reveal: bool = False) -> dict[str, Any]:
    view = shown(result, reveal=reveal)
    return {
        "version": 1,
        "status": _STATUS.get(view.verdict, "fail"),
        "max_score": view.points_possible,
        "tests": [_test(view, stage) for stage in view.stages],
    }


def _test(result: Result, stage: StageResult) -> dict[str, Any]:
    return {
        "name": f"{stage.slug}: {stage.title}",
        "status": _STATUS.get(stage.status, "fail"),
        "score": stage.points_earned,
        "max_score": stage.points_possible,
        "message": clean(_message(result, stage)),
        "duration": round(sum(c.duration_s for c in stage.checks), 3),
    }


def _message(result: Result, stage: StageResult) -> str:
    if result.error:
        return f"not run: {result.error}"
    failed = next((c for c in stage.checks if c.status in (Status.FAIL, Status.ERROR)), None)
    points = f"{stage.points_earned}/{stage.points_possible} points"
    if failed is not None:
        return f"{points}; {_failure(failed)}"
    return f"{points}; {stage.reason}" if stage.reason else points


def _failure(check: CheckResult) -> str:
    if check.hidden:
        return f"{check.title}: hidden check failed"
    return f"{check.id}: {first_line(check.message, check.status.value)}"
