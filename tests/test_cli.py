"""The command line as a user meets it: commands, errors that say what to do, exit codes."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, labctl_env

REFERENCE = FIXTURES / "url-shortener" / "reference"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labctl", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=labctl_env(COLUMNS="200"),
        cwd=cwd,
        check=False,
    )


def test_list_names_labs_stages_and_dependencies() -> None:
    run = cli("list")
    assert run.returncode == 0
    assert "url-shortener" in run.stdout
    assert "health → shorten → redirect → alias → stats → persistence" in run.stdout
    assert "postgres, redis" in run.stdout
    assert "postgres, bank (stub)" in run.stdout  # idempotent-payments' upstream stub
    assert "go, node, python" in run.stdout  # the languages of the starters `init` writes


def test_show_renders_the_spec_and_the_stages() -> None:
    run = cli("show", "url-shortener")
    assert run.returncode == 0
    assert "URL shortener" in run.stdout
    assert "POST /links" in run.stdout
    assert "How it is graded" in run.stdout


def test_show_stage_prints_that_stage_of_the_spec_only() -> None:
    run = cli("show", "url-shortener", "--stage", "redirect")
    assert run.returncode == 0, run.stderr
    assert "redirects to the exact URL" in run.stdout
    assert "Non-ASCII URLs" in run.stdout  # its sub-sections belong to it
    assert "Custom aliases" not in run.stdout
    assert "POST /links creates" not in run.stdout
    assert "labctl check --stage redirect" in run.stdout


def test_doctor_reports_what_it_found() -> None:
    run = cli("doctor")
    assert run.returncode == 0, run.stdout
    assert "postgres" in run.stdout
    assert "redis" in run.stdout
    assert "docker" in run.stdout


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (
            ["check", "url-shortner", "--path", str(FIXTURES), "--run", "x"],
            "does not exist",
            "url-shortener",
        ),
        (
            ["check", "--path", str(REFERENCE), "--stage", "redirects"],
            "no stage 'redirects'",
            "health, shorten",
        ),
        (["check", "url-shortener", "--path", "/nonexistent"], "no such directory", "--path"),
        (
            ["check", "alias-lab", "--path", str(REFERENCE)],
            "says lab = 'url-shortener'",
            "drop the lab argument",
        ),
        (["show", "nope"], "no lab 'nope'", "labs here"),
        (["show", "url-shortener", "--stage", "alias3"], "no stage 'alias3'", "health, shorten"),
    ],
)
def test_configuration_errors_exit_2_and_say_what_to_do(
    args: list[str], message: str, hint: str
) -> None:
    run = cli(*args)
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr
    assert hint in run.stderr


def test_missing_run_command_explains_labctl_toml(tmp_path: Path) -> None:
    (tmp_path / "labctl.toml").write_text('lab = "url-shortener"\n')
    run = cli("check", "--path", str(tmp_path))
    assert run.returncode == 2
    assert "no start command" in run.stderr
    assert "[service]" in run.stderr


def test_check_in_a_project_needs_no_arguments() -> None:
    run = cli("check", "--until", "health", cwd=REFERENCE)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "url-shortener" in run.stdout
    assert "1 of 1 stages passed" in run.stdout


def test_check_outside_a_project_says_how_to_start_one(tmp_path: Path) -> None:
    run = cli("check", cwd=tmp_path)
    assert run.returncode == 2
    assert f"no labctl.toml in {tmp_path.resolve()}" in run.stderr
    assert "labctl init LAB" in run.stderr
    assert "--path" in run.stderr


def test_stage_selection_and_junit_report(tmp_path: Path) -> None:
    junit = tmp_path / "out.xml"
    run = cli("check", "--path", str(REFERENCE), "--until", "shorten", "--junit", str(junit))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 of 2 stages passed" in run.stdout
    suites = ET.parse(junit).getroot()
    assert [s.get("name") for s in suites] == ["url-shortener.health", "url-shortener.shorten"]
    assert suites.get("failures") == "0"
    assert int(suites.get("tests") or 0) > 10
