"""The grader runtime's rules, on a toy lab with one behaviour per stage: stage order and needs,
stage timeouts, grader bugs (an error, never the learner's failure), hidden checks, points and
seeded inputs."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, Run, labctl, labctl_env

TOY_SERVICE = f"{sys.executable} {ROOT / 'tests' / 'services' / 'toy.py'}"
TOY_LABS = ROOT / "tests" / "data" / "labs"


def toy(tmp_path: Path, *args: str) -> Run:
    tmp_path.mkdir(exist_ok=True)
    return labctl(
        ["check", "toy", "--path", str(tmp_path), "--run", TOY_SERVICE, *args],
        tmp_path=tmp_path,
        env=labctl_env(LABCTL_LABS_DIR=str(TOY_LABS)),
    )


def stage(report: dict[str, Any], slug: str) -> dict[str, Any]:
    return next(s for s in report["stages"] if s["slug"] == slug)


def test_failed_stage_skips_what_needs_it(tmp_path: Path) -> None:
    run = toy(tmp_path, "--stage", "after-basics", "--seed", "5")
    assert run.code == 1, run.stdout
    assert run.report is not None
    assert [s["slug"] for s in run.report["stages"]] == ["basics", "after-basics"]
    basics, after = stage(run.report, "basics"), stage(run.report, "after-basics")
    assert [c["status"] for c in basics["checks"]] == ["pass", "fail"]
    assert after["status"] == "skip"
    assert after["reason"] == "needs basics, which failed"
    assert run.report["points"] == {"earned": 2, "possible": 6}


def test_failure_shows_expected_got_and_a_curl_line(tmp_path: Path) -> None:
    run = toy(tmp_path, "--stage", "basics", "--seed", "5")
    assert run.report is not None
    failed = stage(run.report, "basics")["checks"][1]
    assert failed["id"] == "basics/ok-answers-201"
    assert failed["expected"] == "201 Created"
    assert failed["got"].startswith("200 OK")
    assert failed["curl"][0].startswith("curl -i 'http://127.0.0.1:")
    assert "GET /ok?n=" in failed["message"]


def test_same_seed_same_inputs(tmp_path: Path) -> None:
    """Random inputs come from the seed: a replay sends the same requests."""
    first = toy(tmp_path / "a", "--stage", "basics", "--seed", "42")
    again = toy(tmp_path / "b", "--stage", "basics", "--seed", "42")
    other = toy(tmp_path / "c", "--stage", "basics", "--seed", "43")
    sent = [
        re.findall(r"/ok\?n=\d+", stage(r.report or {}, "basics")["checks"][1]["curl"][0])
        for r in (first, again, other)
    ]
    assert sent[0] == sent[1] != []
    assert sent[0] != sent[2]


def test_stage_timeout_fails_the_hanging_check(tmp_path: Path) -> None:
    run = toy(tmp_path, "--stage", "slow")
    assert run.code == 1, run.stdout
    assert run.report is not None
    check = stage(run.report, "slow")["checks"][0]
    assert check["status"] == "fail"
    assert "ran past its 1 s timeout" in check["message"]
    assert check["duration_s"] < 2.5  # stopped at the stage's timeout, not the 3 s answer


def test_grader_bug_is_an_error_not_a_failure(tmp_path: Path) -> None:
    run = toy(tmp_path, "--stage", "buggy")
    assert run.code == 3, run.stdout
    assert run.report is not None
    check = stage(run.report, "buggy")["checks"][0]
    assert check["status"] == "error"
    assert "bug in the lab, not in your service" in check["message"]
    assert "KeyError" in check["message"]


def test_hidden_check_reveals_only_its_title(tmp_path: Path) -> None:
    run = toy(tmp_path, "--stage", "secret")
    assert run.code == 1
    assert run.report is not None
    check = stage(run.report, "secret")["checks"][0]
    assert (check["status"], check["title"], check.get("hidden")) == (
        "fail",
        "A hidden check",
        True,
    )
    assert "the-secret-answer" not in run.stdout + run.stderr
    assert "the-secret-answer" not in (tmp_path / "report.json").read_text()


def test_lab_with_no_dependencies_runs_everything_in_order(tmp_path: Path) -> None:
    run = toy(tmp_path)
    assert run.report is not None
    assert [s["slug"] for s in run.report["stages"]] == [
        "basics",
        "after-basics",
        "slow",
        "buggy",
        "secret",
        "load",
    ]
    assert run.report["verdict"] == "error"  # the grader bug outranks the failures
    assert run.code == 3


def test_an_overloaded_load_generator_makes_the_check_inconclusive(tmp_path: Path) -> None:
    run = toy(tmp_path, "--stage", "load")
    assert run.code == 4, run.stdout
    assert run.report is not None
    assert run.report["verdict"] == "inconclusive"
    check = stage(run.report, "load")["checks"][0]
    assert check["status"] == "inconclusive"
    assert "no verdict" in check["message"]
    assert "generator" in check["message"]
    assert check["load"][0]["verdict"] == "inconclusive"
    assert "INCONCLUSIVE" in run.stdout
