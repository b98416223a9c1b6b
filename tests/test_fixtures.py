"""Golden fixtures: the reference passes every stage; each broken variant fails exactly the stages
and checks its expected.json names. ``LABCTL_RECORD=1`` re-records expected.json files.

The correct solutions are graded in full. A broken variant is graded on the stages its
expected.json does not pass (and the stages those need): that is where it must fail, check by
check, and a full check of every variant would spend most of the suite's time on load and fault
stages that pass. ``LABCTL_FIXTURES=full`` grades every variant in full as well (recording always
does), as does ``scripts/repeat-fixtures``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, labctl

SEED = "20261121"
INCONCLUSIVE_EXIT = 4
# Every lab with fixtures: a new lab's reference and variants are graded once they exist.
LABS = tuple(
    sorted(p.name for p in FIXTURES.iterdir() if (p / "reference" / "labctl.toml").is_file())
)
# Solutions that must pass everything, always graded in full: the reference and the one in
# another language (named after it).
CORRECT = ("reference", "node", "go")
SOLUTIONS = sorted(
    p for lab in LABS for p in (FIXTURES / lab).iterdir() if (p / "labctl.toml").is_file()
)


def outcome(report: dict[str, Any]) -> dict[str, Any]:
    """What expected.json pins: the exit code and the status of every stage and every check."""
    return {
        "exit_code": report["exit_code"],
        "stages": {s["slug"]: s["status"] for s in report["stages"]},
        "checks": {c["id"]: c["status"] for s in report["stages"] for c in s["checks"]},
    }


def expectations(lab: str) -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads((p / "expected.json").read_text())
        for p in SOLUTIONS
        if p.parent.name == lab
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "solution", SOLUTIONS, ids=[f"{p.parent.name}/{p.name}" for p in SOLUTIONS]
)
def test_solution_gets_its_expected_verdict(solution: Path, tmp_path: Path) -> None:
    if (solution / "package.json").exists() and shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed")
    lab = solution.parent.name
    expected_file = solution / "expected.json"
    record = os.environ.get("LABCTL_RECORD") == "1"
    full = record or os.environ.get("LABCTL_FIXTURES") == "full"
    targets = [] if full else targeted(solution.name, json.loads(expected_file.read_text()))
    stages = [arg for slug in targets for arg in ("--stage", slug)]
    run = labctl(
        ["check", lab, "--path", str(solution), "--seed", SEED, *stages], tmp_path=tmp_path
    )
    assert run.report is not None, run.stderr + run.stdout
    got = outcome(run.report)
    if record:
        previous = json.loads(expected_file.read_text()) if expected_file.exists() else None
        expected_file.write_text(json.dumps(recorded(got, previous), indent=2) + "\n")
    expected = json.loads(expected_file.read_text())
    assert set(targets) <= set(got["stages"]), f"asked for {targets}, got {list(got['stages'])}"
    expected = restricted(expected, set(got["stages"]))
    assert settled(got, expected) == expected, run.stdout
    assert run.code in (expected["exit_code"], INCONCLUSIVE_EXIT)


def targeted(name: str, expected: dict[str, Any]) -> list[str]:
    """The stages to grade a solution on (empty: all of them): a broken variant is graded where
    its expected.json does not pass. ``labctl check`` adds the stages those need."""
    if name in CORRECT:
        return []
    return [slug for slug, status in expected["stages"].items() if status != "pass"]


def restricted(expected: dict[str, Any], stages: set[str]) -> dict[str, Any]:
    """``expected`` cut down to the stages that ran and their checks (ids are ``stage/check``)."""
    return {
        "exit_code": expected["exit_code"],
        "stages": {slug: s for slug, s in expected["stages"].items() if slug in stages},
        "checks": {
            check: s for check, s in expected["checks"].items() if check.split("/")[0] in stages
        },
    }


def settled(got: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """``got`` with each inconclusive status read as the expected one: an inconclusive load
    check (a machine too busy to judge latency) neither confirms nor contradicts it. A stage
    can fail on one check while another of its checks is inconclusive: checks count too."""
    statuses = {*got["stages"].values(), *got["checks"].values()}
    if got["exit_code"] != INCONCLUSIVE_EXIT and "inconclusive" not in statuses:
        return got
    return {
        "exit_code": expected["exit_code"]
        if got["exit_code"] == INCONCLUSIVE_EXIT
        else got["exit_code"],
        **{
            part: {
                key: expected[part].get(key, status) if status == "inconclusive" else status
                for key, status in got[part].items()
            }
            for part in ("stages", "checks")
        },
    }


def recorded(got: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """What to record: an inconclusive result keeps the expectation it could not judge."""
    return settled(got, previous) if previous else got


def test_an_inconclusive_check_in_a_failed_stage_neither_confirms_nor_contradicts() -> None:
    expected = {
        "exit_code": 1,
        "stages": {"cache-outage": "fail"},
        "checks": {"cache-outage/frozen": "fail", "cache-outage/times-out": "fail"},
    }
    got = {**expected, "checks": {**expected["checks"], "cache-outage/frozen": "inconclusive"}}
    assert settled(got, expected) == expected
    wrong = {**got, "checks": {**got["checks"], "cache-outage/times-out": "pass"}}
    assert settled(wrong, expected) != expected


def test_a_variant_is_graded_where_it_fails_and_a_correct_solution_everywhere() -> None:
    expected = {
        "exit_code": 1,
        "stages": {"health": "pass", "shorten": "fail", "redirect": "skip", "latency": "pass"},
        "checks": {
            "health/answers": "pass",
            "shorten/creates": "fail",
            "shorten/validates": "pass",
            "latency/p99": "pass",
        },
    }
    assert targeted("no-input-validation", expected) == ["shorten", "redirect"]
    assert targeted("reference", expected) == []
    assert restricted(expected, {"shorten", "redirect"}) == {
        "exit_code": 1,
        "stages": {"shorten": "fail", "redirect": "skip"},
        "checks": {"shorten/creates": "fail", "shorten/validates": "pass"},
    }


@pytest.mark.parametrize("lab", LABS)
def test_every_variant_is_caught_and_the_reference_passes(lab: str) -> None:
    """The fixture set itself is sound: the reference passes all; each variant fails something."""
    for name, expected in expectations(lab).items():
        statuses = set(expected["checks"].values())
        if name in CORRECT:
            assert expected["exit_code"] == 0, name
            assert statuses == {"pass"}, name
        else:
            assert expected["exit_code"] == 1, name
            assert "fail" in statuses, name


@pytest.mark.parametrize("lab", LABS)
def test_every_check_is_failed_by_some_variant(lab: str) -> None:
    """No grader check is left unproven: each one is failed by at least one broken fixture."""
    every = expectations(lab)
    failed = {
        check
        for expected in every.values()
        for check, status in expected["checks"].items()
        if status == "fail"
    }
    assert set(every["reference"]["checks"]) - failed == set()
