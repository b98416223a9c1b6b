"""Reproducibility: every report records what ran where; ``--seed`` replays; ``--repeat N``
reports each stage's stability."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from labctl.model.lab import load_lab
from labctl.results import Result, StageResult, Status
from labctl.run.check import combined, stability
from labctl.run.provenance import lab_version
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


def test_report_records_versions_seed_backend_limits_and_machine(tmp_path: Path) -> None:
    run = toy(tmp_path, "--stage", "basics", "--seed", "7", "--ready-timeout", "4")
    assert run.report is not None
    facts = run.report["meta"]["run"]
    assert facts["seed"] == 7 == run.report["seed"]
    assert facts["backend"] == "local"
    assert facts["labctl_version"]
    assert facts["lab_version"] == lab_version(load_lab(TOY_LABS / "toy"))
    assert facts["limits"]["ready_timeout_s"] == 4
    assert facts["limits"]["stage_timeouts_s"]["slow"] == 1
    assert facts["machine"]["cores"] >= 1
    assert facts["machine"]["memory_mb"] > 0


def test_lab_version_changes_with_any_grader_file(tmp_path: Path) -> None:
    graders = tmp_path / "graders"
    lab = TOY_LABS / "toy"
    shutil.copytree(ROOT / "tests" / "data" / "graders" / "toy", graders)
    before = lab_version(load_lab(lab, graders=graders))
    assert before == lab_version(load_lab(lab, graders=graders))
    assert before.startswith("sha256:")
    (graders / "test_basics.py").write_text((graders / "test_basics.py").read_text() + "\n")
    assert lab_version(load_lab(lab, graders=graders)) != before


def test_repeat_reports_each_stages_stability(tmp_path: Path) -> None:
    run = toy(tmp_path, "--stage", "basics", "--seed", "7", "--repeat", "2")
    assert run.code == 1
    assert run.report is not None
    assert run.report["meta"]["stability"] == {
        "runs": 2,
        "verdicts": {"fail": 2},
        "stable": True,
        "stages": {"basics": {"statuses": {"fail": 2}, "stable": True}},
    }
    assert "Stability over 2 runs" in run.stdout


def test_stability_names_a_flaky_stage_and_reports_the_worst_run() -> None:
    def result(status: Status) -> Result:
        stage = StageResult("stats", "t", status)
        return Result("lab", 1, status, 0 if status is Status.PASS else 1, 1.0, (stage,))

    runs = [result(Status.PASS), result(Status.FAIL), result(Status.PASS)]
    table = stability(runs)
    assert table["stable"] is False
    assert table["stages"]["stats"] == {"statuses": {"pass": 2, "fail": 1}, "stable": False}
    reported = combined(runs)
    assert (reported.verdict, reported.exit_code) == (Status.FAIL, 1)
    assert reported.meta["stability"] == table
