"""The reporters: terminal text, JUnit XML, the JSON contract, and all-or-nothing writes."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

import labctl.report
from labctl.report import render_terminal, write_atomic, write_json, write_junit
from labctl.results import (
    CheckResult,
    ExitCode,
    Result,
    StageResult,
    Status,
    stage_status,
    verdict_of,
)

SECRET = "s3cret-probe"
CURL = 'curl -i -X POST http://127.0.0.1:8080/links -d \'{"url": "ftp://x"}\''
MARKUP_MESSAGE = "scheme [bold]ftp[/bold] was accepted \x1b[31mred\x1b[0m\n  expected: 400"


def stage(
    slug: str, *checks: CheckResult, reason: str = "", status: Status | None = None
) -> StageResult:
    return StageResult(
        slug=slug,
        title=f"title of {slug}",
        status=status or stage_status(checks),
        reason=reason,
        checks=checks,
    )


def build(*stages: StageResult) -> Result:
    verdict, exit_code = verdict_of(stages)
    return Result(
        lab="url-shortener",
        seed=1234,
        verdict=verdict,
        exit_code=exit_code,
        duration_s=2.125,
        stages=stages,
        meta={"labctl": "0.1.0"},
    )


HEALTH = stage(
    "health",
    CheckResult("answers-200", "GET /healthz answers 200", Status.PASS, 5, duration_s=0.01),
)
BAD_SCHEME = CheckResult(
    "rejects-non-http-scheme",
    "POST /links rejects non-http schemes",
    Status.FAIL,
    points=5,
    message=MARKUP_MESSAGE,
    duration_s=0.02,
    expected="400",
    got="201 Created",
    hint="accept only http:// and https:// URLs",
    curl=(CURL,),
    log=("POST /links [201]", "bad\x00byte [red]x[/red] \x1b[1mbold\x1b[0m"),
)
HIDDEN = CheckResult(
    "no-open-redirect",
    "does not shorten its own short links",
    Status.FAIL,
    points=10,
    message=f"{SECRET} message",
    duration_s=0.03,
    hidden=True,
    expected=f"{SECRET} expected",
    got=f"{SECRET} got",
    hint=f"{SECRET} hint",
    curl=(f"curl http://127.0.0.1/{SECRET}",),
    log=(f"{SECRET} log",),
)
SHORTEN = stage(
    "shorten",
    CheckResult("creates-link", "POST /links answers 201", Status.PASS, 5, duration_s=0.01),
    BAD_SCHEME,
    CheckResult("unicode-url", "IDN hosts", Status.SKIP, 5, message="needs IDN support\nmore"),
    HIDDEN,
)
REDIRECT = stage(
    "redirect",
    CheckResult(
        "follows-link", "GET /{code} redirects", Status.ERROR, 5, message="connection reset by peer"
    ),
)
STATS = stage(
    "stats",
    CheckResult(
        "p99-budget",
        "p99 < 10 ms at 500 req/s",
        Status.INCONCLUSIVE,
        5,
        message="the load generator fell behind: 380 of 500 req/s",
    ),
)
ALIAS = stage(
    "alias",
    CheckResult("custom-alias", "POST /links with alias", Status.SKIP, 5),
    reason="needs redirect, which failed",
)
PERSISTENCE = stage("persistence", reason="needs stats, which was inconclusive", status=Status.SKIP)
EVERYTHING = build(HEALTH, SHORTEN, REDIRECT, STATS, ALIAS, PERSISTENCE)

ENV_ERROR = Result(
    lab="url-shortener",
    seed=7,
    verdict=Status.ERROR,
    exit_code=ExitCode.ENVIRONMENT,
    duration_s=1.5,
    error="the service exited with code 1 before GET /healthz answered",
    error_hint="run it yourself with PORT=8080 and read the traceback",
    log=tuple(f"line {i} [dim]" for i in range(25)),
)


def terminal(result: Result, *, verbose: bool = False) -> str:
    out = Console(record=True, width=100, no_color=True, file=io.StringIO())
    render_terminal(result, out, verbose=verbose)
    return out.export_text()


# -- public surface -------------------------------------------------------------------------


def test_exports() -> None:
    assert labctl.report.__all__ == [
        "render_terminal",
        "write_atomic",
        "write_html",
        "write_json",
        "write_junit",
    ]


# -- terminal -------------------------------------------------------------------------------


def test_terminal_header_stages_and_checks() -> None:
    text = terminal(EVERYTHING)
    lines = text.splitlines()
    assert lines[0] == "url-shortener  seed 1234 (replay with --seed 1234)"
    assert "✔ health       title of health  5/5" in lines
    assert "✘ shorten      title of shorten  5/25" in lines
    assert "  ✔ creates-link  0.01s" in lines
    assert "  ✘ rejects-non-http-scheme  0.02s" in lines
    assert "  ↷ unicode-url  needs IDN support" in lines
    assert "  ! follows-link  0.00s" in lines
    assert "  ? p99-budget  0.00s" in lines


def test_terminal_skipped_stage_shows_its_reason_once_and_not_its_checks() -> None:
    text = terminal(EVERYTHING)
    assert text.count("needs redirect, which failed") == 1
    assert "↷ alias        skipped: needs redirect, which failed" in text.splitlines()
    assert "custom-alias" not in text
    assert "↷ persistence  skipped: needs stats, which was inconclusive" in text


def test_terminal_failure_details() -> None:
    text = terminal(EVERYTHING)
    details = text[text.index("✘ shorten › rejects-non-http-scheme") :]
    block = details[: details.index("\n\n")].splitlines()
    assert block == [
        "✘ shorten › rejects-non-http-scheme  POST /links rejects non-http schemes",
        "    scheme [bold]ftp[/bold] was accepted red",
        "      expected: 400",
        "      got:      201 Created",
        "      hint:     accept only http:// and https:// URLs",
        f"    $ {CURL}",
        "    [your service] POST /links [201]",
        "    [your service] badbyte [red]x[/red] bold",
    ]
    assert "! redirect › follows-link  GET /{code} redirects\n    connection reset by peer" in text
    assert "? stats › p99-budget" in text
    assert "fell behind: 380 of 500 req/s" in text


def test_terminal_prints_no_control_characters() -> None:
    text = terminal(EVERYTHING)
    assert not [ch for ch in text if ord(ch) < 32 and ch != "\n"]


def test_terminal_hidden_check_shows_title_and_status_only() -> None:
    text = terminal(EVERYTHING)
    assert SECRET not in text
    assert "no-open-redirect" not in text
    assert "  ✘ does not shorten its own short links" in text
    assert "✘ shorten › does not shorten its own short links" in text


def test_terminal_summary_and_verdicts() -> None:
    lines = terminal(EVERYTHING).splitlines()
    assert lines[-2:] == ["1 of 6 stages passed · 10/45 points · 2.1 s", "ERROR"]
    failing = build(HEALTH, SHORTEN, stage("redirect", reason="needs shorten", status=Status.SKIP))
    assert terminal(failing).splitlines()[-1] == "FAIL: fix shorten first"
    assert terminal(build(HEALTH)).splitlines()[-2:] == [
        "1 of 1 stages passed · 5/5 points · 2.1 s",
        "PASS",
    ]
    assert terminal(build(HEALTH, STATS)).splitlines()[-1] == "INCONCLUSIVE"


def test_terminal_service_log_is_limited_unless_verbose() -> None:
    log = tuple(f"request {i}" for i in range(30))
    noisy = build(stage("shorten", CheckResult("c", "t", Status.FAIL, message="m", log=log)))
    text = terminal(noisy)
    assert "[your service] ... 10 earlier lines (--verbose shows all)" in text
    assert "request 9\n" not in text
    assert "[your service] request 10" in text
    assert "[your service] request 29" in text
    verbose = terminal(noisy, verbose=True)
    assert "earlier lines" not in verbose
    assert "[your service] request 0" in verbose


def test_terminal_does_not_repeat_what_the_message_says() -> None:
    said = CheckResult(
        "c",
        "t",
        Status.FAIL,
        message="bad\n  expected: 302\n  got:      200\n  hint:     send a Location header",
        expected="302",
        got="200",
        hint="send a Location header",
        curl=("curl -i http://x/abc",),
    )
    text = terminal(build(stage("redirect", said)))
    assert text.count("expected:") == text.count("got:") == text.count("hint:") == 1
    assert text.count("curl -i http://x/abc") == 1


def test_terminal_shows_empty_values() -> None:
    empty = CheckResult("c", "t", Status.FAIL, message="the body was empty", expected="ok", got="")
    assert '      got:      ""' in terminal(build(stage("s", empty))).splitlines()


def test_terminal_environment_error_is_the_whole_report() -> None:
    text = terminal(ENV_ERROR)
    assert "! the environment could not start: the service exited with code 1" in text
    assert "  hint: run it yourself with PORT=8080" in text
    assert "  [your service] line 24 [dim]" in text
    assert "line 4 [dim]" not in text
    assert "stages passed" not in text
    assert "line 0 [dim]" in terminal(ENV_ERROR, verbose=True)


def test_terminal_with_colour_keeps_user_markup_literal() -> None:
    out = Console(record=True, width=100, force_terminal=True, color_system="truecolor")
    out.file = io.StringIO()
    render_terminal(EVERYTHING, out)
    assert "scheme [bold]ftp[/bold] was accepted" in out.export_text(styles=False)
    assert "\x1b[31mred" not in out.export_text(styles=True)


def test_terminal_on_a_non_utf8_console() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    out = Console(file=stream, width=100, no_color=True)
    accented = CheckResult("c", "t", Status.FAIL, message="café ✘")
    render_terminal(build(HEALTH, stage("s", accented)), out)
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "+ health" in text
    assert "caf? ?" in text
    assert "x s > c  t" in text


# -- JUnit ----------------------------------------------------------------------------------


def junit(result: Result, tmp_path: Path) -> ET.Element:
    path = tmp_path / "report.xml"
    write_junit(result, path)
    data = path.read_bytes()
    assert SECRET.encode() not in data
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(data)


def counts(element: ET.Element) -> dict[str, str]:
    return {key: element.get(key, "") for key in ("tests", "failures", "errors", "skipped")}


def test_junit_suites_and_counts(tmp_path: Path) -> None:
    root = junit(EVERYTHING, tmp_path)
    assert root.tag == "testsuites"
    assert root.get("name") == "labctl"
    assert root.get("time") == "2.125"
    assert counts(root) == {"tests": "9", "failures": "2", "errors": "1", "skipped": "4"}
    names = [suite.get("name") for suite in root.iter("testsuite")]
    assert names == [f"url-shortener.{s.slug}" for s in EVERYTHING.stages]
    shorten = root.find("testsuite[@name='url-shortener.shorten']")
    assert shorten is not None
    assert counts(shorten) == {"tests": "4", "failures": "2", "errors": "0", "skipped": "1"}
    assert shorten.get("time") == "0.060"
    assert shorten.findall("properties/property")[0].attrib == {"name": "seed", "value": "1234"}


def case(root: ET.Element, name: str) -> ET.Element:
    found = root.find(f".//testcase[@name='{name}']")
    assert found is not None, name
    return found


def test_junit_failure_carries_the_whole_story(tmp_path: Path) -> None:
    bad = case(junit(EVERYTHING, tmp_path), "rejects-non-http-scheme")
    assert bad.get("classname") == "url-shortener.shorten"
    assert bad.get("time") == "0.020"
    failure = bad.find("failure")
    assert failure is not None
    assert failure.get("message") == "scheme [bold]ftp[/bold] was accepted red"
    assert failure.text is not None
    assert failure.text.splitlines() == [
        "scheme [bold]ftp[/bold] was accepted red",
        "  expected: 400",
        "  got:      201 Created",
        "  hint:     accept only http:// and https:// URLs",
        f"$ {CURL}",
    ]
    assert bad.findtext("system-out") == "POST /links [201]\nbadbyte [red]x[/red] bold"


def test_junit_error_skip_and_inconclusive(tmp_path: Path) -> None:
    root = junit(EVERYTHING, tmp_path)
    error = case(root, "follows-link").find("error")
    assert error is not None
    assert error.get("message") == "connection reset by peer"
    skipped = case(root, "unicode-url").find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "needs IDN support"
    inconclusive = case(root, "p99-budget").find("skipped")
    assert inconclusive is not None
    assert (
        inconclusive.get("message")
        == "inconclusive: the load generator fell behind: 380 of 500 req/s"
    )
    assert case(root, "answers-200").find("*") is None


def test_junit_skipped_stages(tmp_path: Path) -> None:
    root = junit(EVERYTHING, tmp_path)
    alias = case(root, "custom-alias").find("skipped")
    assert alias is not None
    assert alias.get("message") == "needs redirect, which failed"
    persistence = case(root, "persistence")
    assert persistence.get("classname") == "url-shortener.persistence"
    reason = persistence.find("skipped")
    assert reason is not None
    assert reason.get("message") == "needs stats, which was inconclusive"


def test_junit_hidden_check_is_title_only(tmp_path: Path) -> None:
    hidden = case(junit(EVERYTHING, tmp_path), "does not shorten its own short links")
    failure = hidden.find("failure")
    assert failure is not None
    assert failure.get("message") == "hidden check: failed"
    assert not failure.text
    assert hidden.find("system-out") is None


def test_junit_environment_error(tmp_path: Path) -> None:
    root = junit(ENV_ERROR, tmp_path)
    cases = list(root.iter("testcase"))
    assert len(cases) == 1
    assert cases[0].get("name") == "environment"
    assert counts(root) == {"tests": "1", "failures": "0", "errors": "1", "skipped": "0"}
    error = cases[0].find("error")
    assert error is not None
    assert error.get("message") == ENV_ERROR.error
    assert "hint:     run it yourself" in (error.text or "")
    assert "line 0 [dim]" in (cases[0].findtext("system-out") or "")


def test_junit_strips_characters_illegal_in_xml(tmp_path: Path) -> None:
    log = ("nul\x00 bell\x07 esc\x1b[2J form\x0c", "surrogate \udcff end")
    noisy = build(stage("s", CheckResult("c\x01", "t", Status.FAIL, message="m\x08", log=log)))
    root = junit(noisy, tmp_path)
    assert case(root, "c").findtext("system-out") == "nul bell esc form\nsurrogate \ufffd end"


# -- JSON -----------------------------------------------------------------------------------


def test_json_is_the_result_contract(tmp_path: Path) -> None:
    visible = build(HEALTH, REDIRECT, ALIAS)
    path = tmp_path / "result.json"
    write_json(visible, path)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == visible.to_dict()
    assert text.startswith('{\n  "schema": "labctl.result/v1",')
    assert Result.from_dict(json.loads(text)) == visible


def test_json_round_trips_and_hides_hidden_checks(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_json(EVERYTHING, path)
    text = path.read_text(encoding="utf-8")
    assert SECRET not in text
    back = Result.from_dict(json.loads(text))
    hidden = next(c for c in back.checks() if c.hidden)
    assert (hidden.id, hidden.title, hidden.status, hidden.points) == (
        "no-open-redirect",
        "does not shorten its own short links",
        Status.FAIL,
        10,
    )
    assert (hidden.message, hidden.expected, hidden.curl, hidden.log) == ("", None, (), ())
    assert [c for c in back.checks() if not c.hidden] == [
        c for c in EVERYTHING.checks() if not c.hidden
    ]
    assert back.verdict is EVERYTHING.verdict
    assert back.meta == EVERYTHING.meta


def test_json_is_utf8_even_with_undecodable_log_bytes(tmp_path: Path) -> None:
    odd = build(stage("s", CheckResult("c", "t", Status.FAIL, message="é", log=("x\udcff",))))
    path = tmp_path / "result.json"
    write_json(odd, path)
    data = json.loads(path.read_bytes().decode("utf-8"))
    assert data["stages"][0]["checks"][0]["message"] == "é"
    assert data["stages"][0]["checks"][0]["log"] == ["x\udcff"]


def test_environment_error_json(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_json(ENV_ERROR, path)
    assert Result.from_dict(json.loads(path.read_text(encoding="utf-8"))) == ENV_ERROR


# -- atomic writes --------------------------------------------------------------------------


def test_write_atomic_replaces_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "out.xml"
    write_atomic(target, b"one")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    target.chmod(0o600)
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(target.parent) == ["out.xml"]


class Interrupted(KeyboardInterrupt):
    pass


def interrupt(*args: object, **kwargs: object) -> None:
    raise Interrupted


@pytest.mark.parametrize("step", ["fsync", "replace", "chmod"])
def test_write_atomic_interrupted_leaves_the_target_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    target = tmp_path / "result.json"
    target.write_bytes(b"previous")
    monkeypatch.setattr(os, step, interrupt)
    with pytest.raises(Interrupted):
        write_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["result.json"]


def test_write_atomic_failing_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Full(io.FileIO):
        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(
        "labctl.report._atomic.open", lambda fd, mode: Full(fd, "wb"), raising=False
    )
    with pytest.raises(OSError, match="No space left"):
        write_atomic(tmp_path / "out.xml", b"data")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("writer", "serialiser"),
    [
        (write_json, "labctl.report.json.json.dumps"),
        (write_junit, "xml.etree.ElementTree.ElementTree.write"),
    ],
)
def test_a_failing_serialiser_writes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    writer: Callable[[Result, Path], None],
    serialiser: str,
) -> None:
    target = tmp_path / "report"
    target.write_bytes(b"previous")
    monkeypatch.setattr(serialiser, interrupt)
    with pytest.raises(Interrupted):
        writer(EVERYTHING, target)
    monkeypatch.undo()
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["report"]


def test_terminal_aligns_multi_line_values() -> None:
    body = CheckResult("c", "t", Status.FAIL, message="wrong body", expected='{\n  "a": 1\n}')
    lines = terminal(build(stage("s", body))).splitlines()
    start = lines.index("      expected: {")
    assert lines[start : start + 3] == [
        "      expected: {",
        '                  "a": 1',
        "                }",
    ]


def test_environment_error_names_whose_log_it_shows() -> None:
    """A dependency's log lines are not the learner's: they carry the dependency's name."""
    postgres_failed = dataclasses.replace(
        ENV_ERROR,
        error="postgres 'postgres' exited during start-up",
        log_source="postgres",
        log=("FATAL: could not map anonymous shared memory",),
    )
    text = terminal(postgres_failed)
    assert "[postgres] FATAL: could not map anonymous shared memory" in text
    assert "[your service]" not in text
    assert "[your service] line 24 [dim]" in terminal(ENV_ERROR)
