"""What every reporter shares: the learner's view of a Result, and text that is safe to show.

``redact()`` is the one place that enforces hidden checks: every reporter calls it first, so a
hidden check's message, expected/got, hint, curl lines and log never reach any report; its id,
title, status, points and duration remain. ``clean()`` makes learner-controlled text (service
logs, messages built from responses) safe for a terminal and for XML 1.0.
"""

from __future__ import annotations

import dataclasses
import re

from labctl.results import CheckResult, Result, StageResult, Status

# Statuses whose checks get a details block (terminal) or a body (JUnit).
NEEDS_DETAILS = frozenset({Status.FAIL, Status.ERROR, Status.INCONCLUSIVE})

_ANSI = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, hyperlinks
    r"|[@-Z\\-_])"  # other two-byte escapes
)
# C0 controls except tab and newline, DEL, C1 controls (\x9b is a CSI on some terminals),
# and the two non-characters XML 1.0 forbids.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """``text`` without escape sequences and control characters; lone surrogates become U+FFFD."""
    text = _ANSI.sub("", text)
    text = _SURROGATE.sub("\ufffd", text)
    return _UNPRINTABLE.sub("", text)


def redact(result: Result) -> Result:
    """``result`` with every hidden check reduced to what a learner may see of it."""
    stages = tuple(_redact_stage(stage) for stage in result.stages)
    return dataclasses.replace(result, stages=stages)


def revealed(result: Result) -> Result:
    """``result`` for the grader's eyes: hidden checks shown in full, titled as hidden."""
    stages = tuple(
        dataclasses.replace(stage, checks=tuple(_unhide(c) for c in stage.checks))
        for stage in result.stages
    )
    return dataclasses.replace(result, stages=stages)


def shown(result: Result, *, reveal: bool) -> Result:
    """What a report shows: the learner's view, or with ``reveal`` the grader's."""
    return revealed(result) if reveal else redact(result)


def _unhide(check: CheckResult) -> CheckResult:
    if not check.hidden:
        return check
    return dataclasses.replace(check, hidden=False, title=f"[hidden] {check.title}")


def _redact_stage(stage: StageResult) -> StageResult:
    return dataclasses.replace(stage, checks=tuple(_redact_check(c) for c in stage.checks))


def _redact_check(check: CheckResult) -> CheckResult:
    if not check.hidden:
        return check
    return CheckResult(
        id=check.id,
        title=check.title,
        status=check.status,
        points=check.points,
        duration_s=check.duration_s,
        hidden=True,
    )


def field_lines(check: CheckResult) -> list[str]:
    """``expected:`` / ``got:`` / ``hint:`` lines for what ``check.message`` does not state."""
    fields = (("expected", check.expected), ("got", check.got), ("hint", check.hint or None))
    return [
        _labelled(label, value)
        for label, value in fields
        if value is not None and not _already_said(check.message, label, value)
    ]


def curl_lines(check: CheckResult) -> list[str]:
    """The check's curl commands as ``$ curl ...`` lines, minus any the message already shows."""
    lines = [c if c.startswith("$ ") else f"$ {c}" for c in check.curl]
    return [line for line in lines if line[2:] not in check.message]


def service_line(line: str, prefix: str = "[your service] ") -> str:
    """A log line as shown: a replica's lines carry their own ``[your service #N]`` already."""
    return line if line.startswith("[your service") else prefix + line


def first_line(text: str, default: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), default)


def _labelled(label: str, value: str) -> str:
    # Laid out like errors.Failure's own text: "  expected: ", "  got:      ", "  hint:     ".
    head = f"  {label + ':':<9} "
    shown = value if value else '""'
    return head + shown.replace("\n", "\n" + " " * len(head))


def _already_said(message: str, label: str, value: str) -> bool:
    needle = _squash(f"{label}: {value}")
    if value.strip():
        return needle in _squash(message)
    return any(_squash(line) == needle for line in message.splitlines())


def _squash(text: str) -> str:
    return " ".join(text.split())
