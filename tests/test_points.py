"""Points: per check (marker), per stage (lab.toml ``points``/``partial``), the pass mark
(``--min-points``), and the GitHub Classroom autograding result (``--classroom``)."""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labctl.errors import ConfigError, LabError
from labctl.model.lab import load_lab
from labctl.report.classroom import classroom_result
from labctl.report.junit import render_junit
from labctl.results import CheckResult, ExitCode, Result, StageResult, Status, verdict_of
from labctl.results.scoring import apply_pass_mark
from tests.conftest import ROOT, labctl, labctl_env

TOY_SERVICE = f"{sys.executable} {ROOT / 'tests' / 'services' / 'toy.py'}"
TOY_GRADERS = ROOT / "tests" / "data" / "graders" / "toy"


def check(status: Status, points: int, *, hidden: bool = False, message: str = "") -> CheckResult:
    return CheckResult(f"s/{status}-{points}", "title", status, points, message, hidden=hidden)


def stage_of(
    *checks: CheckResult, weight: float | None = None, partial: bool = True
) -> StageResult:
    statuses = {c.status for c in checks}
    status = Status.FAIL if Status.FAIL in statuses else Status.PASS
    return StageResult("s", "a stage", status, "", checks, weight=weight, partial=partial)


def result_of(*stages: StageResult) -> Result:
    verdict, code = verdict_of(stages)
    return Result("lab", 1, verdict, code, 1.0, stages)


HALF = (check(Status.PASS, 1), check(Status.FAIL, 3))


def test_check_points_add_up_without_a_stage_weight() -> None:
    stage = stage_of(*HALF)
    assert (stage.points_earned, stage.points_possible) == (1, 4)


def test_stage_weight_scales_the_checks_points_into_partial_credit() -> None:
    stage = stage_of(*HALF, weight=20)
    assert (stage.points_earned, stage.points_possible) == (5, 20)
    assert stage_of(check(Status.PASS, 1), check(Status.FAIL, 2), weight=10).points_earned == 3.33


def test_all_or_nothing_stage_earns_only_when_every_check_passed() -> None:
    assert stage_of(*HALF, weight=20, partial=False).points_earned == 0
    assert stage_of(*HALF, partial=False).points_earned == 0
    passed = stage_of(check(Status.PASS, 1), check(Status.PASS, 3), weight=20, partial=False)
    assert passed.points_earned == 20


def test_stage_points_survive_the_json_round_trip() -> None:
    result = result_of(stage_of(*HALF, weight=20, partial=False), stage_of(*HALF))
    again = Result.from_dict(json.loads(json.dumps(apply_pass_mark(result, 2).to_dict())))
    assert again == apply_pass_mark(result, 2)
    assert again.to_dict()["points"] == {"earned": 1, "possible": 24, "pass_mark": 2}


def test_pass_mark_decides_the_verdict_and_exit_code() -> None:
    result = result_of(stage_of(*HALF, weight=20))  # 5 of 20
    passed = apply_pass_mark(result, 5)
    assert (passed.verdict, passed.exit_code) == (Status.PASS, ExitCode.PASS)
    failed = apply_pass_mark(result, 5.5)
    assert (failed.verdict, failed.exit_code) == (Status.FAIL, ExitCode.FAIL)
    assert apply_pass_mark(result, None) is result


def test_pass_mark_never_turns_an_error_into_a_pass() -> None:
    broken = StageResult("s", "t", Status.ERROR, "", (check(Status.ERROR, 1),))
    result = apply_pass_mark(result_of(broken), 0)
    assert (result.verdict, result.exit_code) == (Status.ERROR, ExitCode.ENVIRONMENT)


def test_pass_mark_above_what_the_stages_are_worth_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="more than the 4 points"):
        apply_pass_mark(result_of(stage_of(*HALF)), 5)


def test_classroom_result_has_one_test_per_stage_and_hides_hidden_checks() -> None:
    secret = check(Status.FAIL, 2, hidden=True, message="expected the-secret-answer")
    result = result_of(stage_of(*HALF, weight=20), stage_of(check(Status.PASS, 1), secret))
    data = classroom_result(result)
    assert data["version"] == 1
    assert data["status"] == "fail"
    assert data["max_score"] == 23
    assert [(t["status"], t["score"], t["max_score"]) for t in data["tests"]] == [
        ("fail", 5, 20),
        ("fail", 1, 3),
    ]
    assert data["tests"][0]["message"].startswith("5/20 points; s/fail-3")
    assert "the-secret-answer" not in json.dumps(data)
    assert "the-secret-answer" in json.dumps(classroom_result(result, reveal=True))


def test_lab_toml_stage_points_are_validated(tmp_path: Path) -> None:
    lab = _toy_lab(tmp_path, 'points = "ten"')
    with pytest.raises(LabError, match=r"stages\[0\]\.points' is 'ten'"):
        load_lab(lab, graders=TOY_GRADERS)
    lab = _toy_lab(tmp_path, "partial = 1")
    with pytest.raises(LabError, match=r"stages\[0\]\.partial' is 1.*\n?"):
        load_lab(lab, graders=TOY_GRADERS)


def test_stage_points_and_pass_mark_end_to_end(tmp_path: Path) -> None:
    """basics: checks worth 2 + 3, stage worth 50; one passes: 20 of 50; the pass mark 20 passes."""
    labs = tmp_path / "labs"
    _toy_lab(labs, "points = 50")
    classroom = tmp_path / "classroom.json"
    args = ["check", "toy", "--path", str(tmp_path), "--run", TOY_SERVICE, "--stage", "basics"]
    args += ["--graders", str(TOY_GRADERS), "--classroom", str(classroom), "--min-points", "20"]
    run = labctl(args, tmp_path=tmp_path, env=labctl_env(LABCTL_LABS_DIR=str(labs)))
    assert run.code == 0, run.stdout + run.stderr
    assert run.report is not None
    assert run.report["points"] == {"earned": 20, "possible": 50, "pass_mark": 20}
    assert run.report["stages"][0]["status"] == "fail"  # the stage keeps its status
    assert "20/50 points (pass mark 20)" in run.stdout
    assert json.loads(classroom.read_text())["tests"][0]["score"] == 20
    args[-1] = "21"
    assert labctl(args, tmp_path=tmp_path, env=labctl_env(LABCTL_LABS_DIR=str(labs))).code == 1


def _toy_lab(labs: Path, basics_line: str) -> Path:
    """The toy lab, copied, with one more line in its first stage (basics)."""
    lab = labs / "toy"
    shutil.copytree(ROOT / "tests" / "data" / "labs" / "toy", lab, dirs_exist_ok=True)
    text = (lab / "lab.toml").read_text()
    marker = 'slug = "basics"\n'
    (lab / "lab.toml").write_text(text.replace(marker, marker + basics_line + "\n", 1))
    return lab


def test_junit_suites_carry_stage_points_and_the_total() -> None:
    result = apply_pass_mark(result_of(stage_of(*HALF, weight=20), stage_of(*HALF)), 6)
    root = ET.fromstring(render_junit(result))
    props = [
        {p.get("name"): p.get("value") for p in suite.iter("property")}
        for suite in root.iter("testsuite")
    ]
    assert [(p["points"], p["total_points"], p["pass_mark"]) for p in props] == [
        ("5/20", "6/24", "6"),
        ("1/4", "6/24", "6"),
    ]
