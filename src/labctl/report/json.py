"""The ``labctl.result/v1`` JSON report: ``Result.to_dict()``, indented, UTF-8.

Hidden checks are written as every other reporter shows them (id, title, status, points,
duration), so the file can sit in a candidate's working directory.
"""

from __future__ import annotations

import json
from pathlib import Path

from labctl.report._atomic import write_atomic
from labctl.report._common import redact
from labctl.results import Result


def write_json(result: Result, path: Path, *, reveal: bool = False) -> None:
    """Write ``result`` to ``path`` as ``labctl.result/v1``; the file is complete or absent.
    ``reveal`` keeps hidden checks' details: a report for the grader, never the learner."""
    write_atomic(path, render_json(result, reveal=reveal))


def render_json(result: Result, *, reveal: bool = False) -> bytes:
    data = result.to_dict() if reveal else redact(result).to_dict()
    if reveal:
        data["revealed"] = True
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    # A lone surrogate (undecodable service output) cannot be UTF-8; "\udcff" is what
    # ensure_ascii would have written, and it is only ever inside a JSON string.
    return text.encode("utf-8", errors="backslashreplace")
