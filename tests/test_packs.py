"""Private grader packs (``--graders DIR`` or a git URL), hidden checks in learner and grader
reports, and a learner repository that tries to change what runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Run, labctl_env

TOY_SERVICE = f"{sys.executable} {ROOT / 'tests' / 'services' / 'toy.py'}"
TOY_LABS = ROOT / "tests" / "data" / "labs"
SECRET_CHECK = '''
from labctl.grading import expect, hidden, stage

pytestmark = stage("secret")


@hidden
def test_knows_the_passphrase() -> None:
    """The service knows the passphrase"""
    expect.equal("open-sesame-4711", "something else", what="the passphrase")
'''


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """``labctl check toy`` from ``cwd`` (the learner's repository), as CI would run it there."""
    report = cwd.parent / f"{cwd.name}-report.json"
    command = [sys.executable, "-P", "-m", "labctl", "check", "toy", "--path", str(cwd)]
    proc = subprocess.run(
        [*command, "--run", TOY_SERVICE, *args, "--json", str(report)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env or labctl_env(LABCTL_LABS_DIR=str(TOY_LABS)),
        check=False,
    )
    data = json.loads(report.read_text()) if report.exists() else None
    return Run(proc.returncode, proc.stdout, proc.stderr, data)


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A private pack outside the learner's repository: the toy graders plus a hidden check."""
    pack = tmp_path / "private" / "graders" / "toy"
    shutil.copytree(ROOT / "tests" / "data" / "graders" / "toy", pack)
    (pack / "test_secret.py").write_text(SECRET_CHECK)
    return pack


@pytest.fixture
def learner(tmp_path: Path) -> Path:
    repo = tmp_path / "learner"
    repo.mkdir()
    return repo


def test_hidden_check_shows_only_its_title_to_the_learner(pack: Path, learner: Path) -> None:
    result = run(learner, "--graders", str(pack), "--stage", "secret")
    assert result.code == 1, result.stdout + result.stderr
    assert result.report is not None
    check = result.report["stages"][0]["checks"][0]
    assert check == {
        "id": "secret/knows-the-passphrase",
        "title": "The service knows the passphrase",
        "status": "fail",
        "points": 1,
        "message": "",
        "duration_s": check["duration_s"],
        "hidden": True,
    }
    assert "open-sesame" not in result.stdout + json.dumps(result.report)
    assert "The service knows the passphrase" in result.stdout
    assert result.report["meta"]["run"]["graders"] == "private pack"
    assert str(pack) not in json.dumps(result.report)
    assert not any("test_secret" in p.name for p in learner.rglob("*"))


def test_reveal_gives_the_grader_every_detail(pack: Path, learner: Path) -> None:
    result = run(learner, "--graders", str(pack), "--stage", "secret", "--reveal")
    assert result.report is not None
    assert result.report["revealed"] is True
    check = result.report["stages"][0]["checks"][0]
    assert "open-sesame-4711" in check["got"]
    assert "[hidden] The service knows the passphrase" in result.stdout
    assert "open-sesame-4711" in result.stdout


def test_pack_from_a_git_repository(pack: Path, learner: Path, tmp_path: Path) -> None:
    """A git URL (here a local bare repository) with #subdir; the clone is gone afterwards."""
    source = pack.parent.parent
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", str(source)], check=True)
    subprocess.run([*git, "-C", str(source), "add", "."], check=True)
    subprocess.run([*git, "-C", str(source), "commit", "-qm", "pack"], check=True)
    bare = tmp_path / "pack.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
    shutil.rmtree(source)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = labctl_env(LABCTL_LABS_DIR=str(TOY_LABS), TMPDIR=str(tmp))
    url = f"file://{bare}#graders/toy"
    result = run(learner, "--graders", url, "--stage", "secret", env=env)
    assert result.code == 1, result.stdout + result.stderr
    assert result.report is not None
    assert result.report["stages"][0]["checks"][0]["id"] == "secret/knows-the-passphrase"
    assert list(tmp.iterdir()) == []


def test_unreadable_git_pack_is_a_usage_error(learner: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = labctl_env(LABCTL_LABS_DIR=str(TOY_LABS), TMPDIR=str(tmp))
    result = run(learner, "--graders", f"file://{tmp_path}/missing.git", env=env)
    assert result.code == 2
    assert "git clone failed" in " ".join(result.stderr.split())
    assert "[git]" in result.stderr
    assert result.report is None
    assert list(tmp.iterdir()) == []


def test_missing_pack_directory_is_a_usage_error(learner: Path) -> None:
    result = run(learner, "--graders", str(learner / "nope"))
    assert result.code == 2
    assert "no such directory" in " ".join(result.stderr.split())


GAMING = {
    # Each would make every check pass if pytest loaded it.
    "conftest.py": (
        "import pytest\n\n"
        "@pytest.hookimpl(wrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    report = yield\n"
        "    report.outcome = 'passed'\n"
        "    return report\n"
    ),
    "pytest.ini": "[pytest]\naddopts = -p learner_plugin\n",
    "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-p learner_plugin'\n",
    "learner_plugin.py": "raise SystemExit('the learner plugin was loaded')\n",
    "graders/toy/__init__.py": "",
    "graders/toy/test_basics.py": (
        "from labctl.grading import stage\npytestmark = stage('basics')\n"
        "def test_ok_answers_201():\n    pass\n"
    ),
    "graders/toy/conftest.py": "raise SystemExit('the learner conftest was loaded')\n",
    # `python -m` puts the working directory first on sys.path: these would shadow ours.
    "labctl/__init__.py": "raise SystemExit('the learner labctl was imported')\n",
    "pytest.py": "raise SystemExit('the learner pytest was imported')\n",
}


@pytest.mark.parametrize("graders", ["bundled", "private"])
def test_learner_repository_cannot_change_what_runs(
    graders: str, pack: Path, learner: Path
) -> None:
    for name, text in GAMING.items():
        (learner / name).parent.mkdir(parents=True, exist_ok=True)
        (learner / name).write_text(text)
    env = labctl_env(
        LABCTL_LABS_DIR=str(TOY_LABS),
        PYTEST_ADDOPTS="-p learner_plugin",
        PYTEST_PLUGINS="learner_plugin",
    )
    args = ["--graders", str(pack)] if graders == "private" else []
    result = run(learner, *args, "--stage", "basics", env=env)
    assert result.report is not None, result.stdout + result.stderr
    checks = {c["id"]: c["status"] for c in result.report["stages"][0]["checks"]}
    assert checks == {"basics/ok-answers-200": "pass", "basics/ok-answers-201": "fail"}
    assert result.code == 1
