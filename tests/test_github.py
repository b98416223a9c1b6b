"""The GitHub Action: its check step runs as a script against a learner repository, with
``$GITHUB_STEP_SUMMARY`` and ``$GITHUB_OUTPUT`` in temp files; what it writes is checked. Also
the escaping of learner text in each place it lands."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from labctl.report.github import error_annotations, step_summary
from labctl.results import CheckResult, Result, StageResult, Status
from tests.conftest import ROOT, labctl_env

TOY_SERVICE = f"{sys.executable} {ROOT / 'tests' / 'services' / 'toy.py'}"
TOY_LABS = ROOT / "tests" / "data" / "labs"


def action_step(step_id: str) -> dict[str, Any]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    return next(s for s in action["runs"]["steps"] if s.get("id") == step_id)


def inputs(**given: str) -> dict[str, str]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    return {name: given.get(name, spec["default"]) for name, spec in action["inputs"].items()}


def run_step(step_id: str, cwd: Path, env: dict[str, str], values: dict[str, str]) -> Any:
    """The step's script with its env, ``${{ inputs.X }}`` resolved as the runner would."""
    step = action_step(step_id)
    resolved = {
        name: re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m[1]], value)
        for name, value in step.get("env", {}).items()
    }
    return subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=cwd,
        env={**env, **resolved},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_action_check_step_writes_summary_annotations_outputs_and_reports(tmp_path: Path) -> None:
    repo = tmp_path / "learner"
    repo.mkdir()
    (repo / "labctl.toml").write_text(f'lab = "toy"\n\n[service]\nrun = "{TOY_SERVICE}"\n')
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    env = labctl_env(
        LABCTL_LABS_DIR=str(TOY_LABS),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
    )
    values = inputs(args="--stage basics --stage secret --seed 5")
    proc = run_step("check", repo, env, values)
    assert proc.returncode == 1, proc.stdout + proc.stderr

    text = summary.read_text()
    assert "## labctl · toy · ❌ FAIL: fix `basics` first" in text
    assert "**2 / 6 points**" in text
    assert "| ❌ | `basics` | Basics | 1/2 | 2/5 |" in text
    assert "| ❌ | `secret` | A hidden check | 0/1 | 0/1 |" in text
    assert "### First failure: `basics` › GET /ok answers 201 (it does not)" in text
    assert "expected: 201 Created" in text
    assert "$ curl -i 'http://127.0.0.1:" in text
    assert "the-secret-answer" not in text + proc.stdout + output.read_text()
    assert "seed 5 (replay: `labctl check --seed 5`) · lab `sha256:" in text

    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert annotations[0].startswith(
        "::error title=basics › GET /ok answers 201 (it does not)::GET /ok?n="
    )
    assert "%0A  expected: 201 Created" in annotations[0]
    assert annotations[1] == "::error title=secret › A hidden check::a hidden check failed"

    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert {k: outputs[k] for k in ("verdict", "points", "max-points", "exit-code")} == {
        "verdict": "fail",
        "points": "2",
        "max-points": "6",
        "exit-code": "1",
    }
    classroom = json.loads(base64.b64decode(outputs["classroom-result"]))
    assert classroom["max_score"] == 6

    reports = repo / values["reports"]
    assert json.loads((reports / "result.json").read_text())["points"]["earned"] == 2
    assert ET.parse(reports / "junit.xml").getroot().get("failures") == "2"
    assert json.loads((reports / "classroom.json").read_text()) == classroom


def test_action_outputs_are_the_check_steps() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.check.outputs.{name} }}}}"
    upload = action["runs"]["steps"][-1]
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "${{ inputs.reports }}"


TRICKY = CheckResult(
    "s/c[x]",
    "title | with *markup* and <b>html</b>, a: b",
    Status.FAIL,
    message="100% broken\nsecond line with ``` fence",
    got="x",
)


def test_learner_text_is_escaped_where_it_lands() -> None:
    stage = StageResult("s", "stage", Status.FAIL, "", (TRICKY,))
    result = Result("lab", 1, Status.FAIL, 1, 1.0, (stage,))
    [line] = error_annotations(result)
    assert line == (
        "::error title=s › title | with *markup* and <b>html</b>%2C a%3A b"
        "::100%25 broken%0A  got:      x"
    )
    text = step_summary(result)
    assert "title \\| with \\*markup\\* and &lt;b&gt;html&lt;/b&gt;, a: b" in text
    assert "````text\n100% broken\nsecond line with ``` fence" in text


def test_environment_error_is_one_annotation_and_a_summary_section() -> None:
    result = Result("lab", 1, Status.ERROR, 3, 1.0, error="service never ready", log=("boom",))
    assert error_annotations(result) == [
        "::error title=labctl%3A the environment could not start::service never ready"
    ]
    assert "[your service] boom" in step_summary(result)


def test_shipped_workflows_parse_and_the_examples_never_run_on_this_repos_pushes() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert any(".ci/run" in step.get("run", "") for step in ci["jobs"]["check"]["steps"])
    # PyYAML reads the key `on` as True.
    example = yaml.safe_load((ROOT / ".github" / "workflows" / "labctl-action.yml").read_text())
    assert set(example[True]) == {"workflow_dispatch"}
    learner = yaml.safe_load((ROOT / "docs" / "examples" / "learner-workflow.yml").read_text())
    assert "push" in learner[True]
    matrix = yaml.safe_load((ROOT / "docs" / "cohort-matrix.yml").read_text())
    merge = " ".join(step.get("run", "") for step in matrix["jobs"]["merge"]["steps"])
    assert "labctl report merge results" in merge


def test_summary_of_a_repeated_run_names_unstable_stages() -> None:
    stage = StageResult("stats", "Click counts", Status.FAIL)
    stability = {
        "runs": 3,
        "stages": {
            "health": {"statuses": {"pass": 3}, "stable": True},
            "stats": {"statuses": {"pass": 2, "fail": 1}, "stable": False},
        },
    }
    result = Result("lab", 1, Status.FAIL, 1, 1.0, (stage,), meta={"stability": stability})
    text = step_summary(result)
    assert (
        "**Unstable over 3 runs** (the worst run is reported):\n\n- `stats`: 1× fail, 2× pass"
        in text
    )
    assert "health`:" not in text
