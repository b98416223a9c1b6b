"""JUnit XML for bootcamps' CI (GitLab, Jenkins, GitHub test reporters).

One ``<testsuite name="<lab>.<stage>">`` per stage, one ``<testcase>`` per check. A failed
check carries ``<failure>``, an errored one ``<error>``; skipped and inconclusive checks carry
``<skipped>`` (JUnit has no "inconclusive", and an inconclusive check is never a failure). The
service's log goes to ``<system-out>``. When the environment could not start, the whole report
is one ``environment`` testcase with an ``<error>``.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from labctl.report._atomic import write_atomic
from labctl.report._common import clean, curl_lines, field_lines, first_line, shown
from labctl.results import CheckResult, Result, StageResult, Status

_OUTCOME_TAG = {
    Status.FAIL: "failure",
    Status.ERROR: "error",
    Status.SKIP: "skipped",
    Status.INCONCLUSIVE: "skipped",
}
_DEFAULT_MESSAGE = {
    Status.FAIL: "failed",
    Status.ERROR: "error",
    Status.SKIP: "skipped",
    Status.INCONCLUSIVE: "inconclusive",
}


def write_junit(result: Result, path: Path, *, reveal: bool = False) -> None:
    """Write ``result`` to ``path`` as JUnit XML; the file is complete or absent."""
    write_atomic(path, render_junit(result, reveal=reveal))


def render_junit(result: Result, *, reveal: bool = False) -> bytes:
    result = shown(result, reveal=reveal)
    if result.error:
        suites = [_environment_suite(result)]
    else:
        suites = [_stage_suite(result, stage) for stage in result.stages]
    root = ET.Element("testsuites", name="labctl")
    root.extend(suites)
    _set_totals(root, result.duration_s)
    _add_points(root, result)
    ET.indent(root)
    buffer = io.BytesIO()
    ET.ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue()


def _add_points(root: ET.Element, result: Result) -> None:
    """Each suite's properties carry its stage's points and the run's total (and pass mark)."""
    suites = root.findall("testsuite")
    stages = result.stages if not result.error else ()
    for suite, stage in zip(suites, stages, strict=False):
        _property(suite, "points", f"{stage.points_earned}/{stage.points_possible}")
    total = result.points
    for suite in suites:
        _property(suite, "total_points", f"{total['earned']}/{total['possible']}")
        if "pass_mark" in total:
            _property(suite, "pass_mark", str(total["pass_mark"]))


def _property(suite: ET.Element, name: str, value: str) -> None:
    properties = suite.find("properties")
    assert properties is not None  # every suite is made with one
    ET.SubElement(properties, "property", name=name, value=value)


def _stage_suite(result: Result, stage: StageResult) -> ET.Element:
    classname = f"{result.lab}.{stage.slug}"
    checks = stage.checks or (_stage_as_check(stage),)
    cases = [_case(classname, check, stage.reason) for check in checks]
    time = sum(check.duration_s for check in stage.checks)
    return _suite(classname, result.seed, cases, time)


def _stage_as_check(stage: StageResult) -> CheckResult:
    """A stage with no checks (skipped, or failed before any ran) still shows up as a test."""
    return CheckResult(id=stage.slug, title=stage.title, status=stage.status, message=stage.reason)


def _environment_suite(result: Result) -> ET.Element:
    error = CheckResult(
        id="environment",
        title="environment",
        status=Status.ERROR,
        message=result.error,
        hint=result.error_hint,
        log=result.log,
    )
    case = _case(result.lab, error, "")
    return _suite(result.lab, result.seed, [case], result.duration_s)


def _suite(name: str, seed: int, cases: list[ET.Element], time: float) -> ET.Element:
    suite = ET.Element("testsuite", name=clean(name))
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="seed", value=str(seed))
    suite.extend(cases)
    _set_totals(suite, time)
    return suite


def _case(classname: str, check: CheckResult, stage_reason: str) -> ET.Element:
    name = check.title if check.hidden else check.id
    case = ET.Element(
        "testcase", classname=clean(classname), name=clean(name), time=_seconds(check.duration_s)
    )
    if check.status in _OUTCOME_TAG:
        case.append(_outcome(check, stage_reason))
    if check.log:
        ET.SubElement(case, "system-out").text = clean("\n".join(check.log))
    return case


def _outcome(check: CheckResult, stage_reason: str) -> ET.Element:
    body = _body(check) or (stage_reason if check.status is Status.SKIP else "")
    outcome = ET.Element(_OUTCOME_TAG[check.status], message=clean(_message(check, body)))
    if check.status is not Status.SKIP:
        outcome.set("type", check.status.value)
    if body:
        # Some CI reporters show only the element's text, others only the message.
        outcome.text = clean(body)
    return outcome


def _message(check: CheckResult, body: str) -> str:
    default = _DEFAULT_MESSAGE[check.status]
    if check.hidden:
        return f"hidden check: {default}"
    line = first_line(body, default)
    return f"inconclusive: {line}" if check.status is Status.INCONCLUSIVE and body else line


def _body(check: CheckResult) -> str:
    """The full failure text: message, then the fields it does not state, then curl lines."""
    lines = [check.message] if check.message else []
    return "\n".join([*lines, *field_lines(check), *curl_lines(check)])


def _set_totals(element: ET.Element, time: float) -> None:
    cases = list(element.iter("testcase"))
    element.set("tests", str(len(cases)))
    for tag, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        element.set(attribute, str(sum(case.find(tag) is not None for case in cases)))
    element.set("time", _seconds(time))


def _seconds(value: float) -> str:
    return f"{value:.3f}"
