"""Starters and `labctl init`: every starter of every lab passes `health` and fails the next
stage with the learner's message, in each language, locally and (per distinct Dockerfile) in
Docker; init refuses what it must and leaves nothing half-written."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from labctl.errors import ConfigError, LabError
from labctl.model import starters
from labctl.model.lab import Lab, list_labs, load_lab
from labctl.model.starters import first_stage, init, languages, render
from labctl.model.submission import load_submission
from labctl.results import Status
from tests.conftest import ROOT, labctl, labctl_env
from tests.docker_support import STANDIN_ENV, require_docker
from tests.test_cli import cli

TOOLCHAINS = {"python": "python3", "node": "node", "go": "go"}
STARTERS = [(lab, language) for lab in list_labs() for language in languages(lab)]
IDS = [f"{lab.id}-{language}" for lab, language in STARTERS]


def _require(language: str) -> None:
    tool = TOOLCHAINS.get(language, language)
    if shutil.which(tool) is None:
        pytest.skip(f"the {language} starters need `{tool}` on PATH (.ci/run installs it)")


def test_every_lab_has_starters_in_python_node_and_go() -> None:
    assert {lab.id: languages(lab) for lab in list_labs()} == {
        lab.id: ["go", "node", "python"] for lab in list_labs()
    }


@pytest.mark.parametrize(("lab", "language"), STARTERS, ids=IDS)
def test_a_starter_is_a_whole_project_on_the_env_contract(lab: Lab, language: str) -> None:
    files = {f.path: f.content.decode() for f in render(lab, language, "my-project")}
    assert {"labctl.toml", "Dockerfile", ".gitignore", "README.md"} <= set(files)
    assert not [path for path, text in files.items() if "{{" in text]
    config = tomllib.loads(files["labctl.toml"])
    assert config["lab"] == lab.id
    assert config["service"]["run"]
    assert config["service"]["dockerfile"] in files
    sources = "".join(text for path, text in files.items() if path.endswith((".py", ".js", ".go")))
    wanted = ["PORT", *(d.env for d in lab.dependencies), *(u.env for u in lab.upstreams)]
    assert [env for env in wanted if env not in sources] == []
    first = first_stage(lab)
    assert f"labctl show {lab.id} --stage {first}" in files["README.md"]


@pytest.mark.parametrize(("lab", "language"), STARTERS, ids=IDS)
def test_a_starter_passes_health_and_fails_the_next_stage(
    lab: Lab, language: str, tmp_path: Path
) -> None:
    _require(language)
    project = tmp_path / "project"
    made = cli("init", lab.id, str(project), "--lang", language)
    assert made.returncode == 0, made.stderr
    first = first_stage(lab)
    run = labctl(["check", "--path", str(project), "--until", first], tmp_path=tmp_path)
    assert run.code == 1, run.stdout + run.stderr
    assert run.report is not None
    stages = {s["slug"]: s for s in run.report["stages"]}
    assert stages[lab.stages[0].slug]["status"] == Status.PASS
    assert stages[first]["status"] == Status.FAIL
    failed = next(c for c in stages[first]["checks"] if c["status"] == Status.FAIL)
    # The learner's message: what was asked, what came back, a hint and the request to replay.
    assert failed["message"]
    assert failed["hint"]
    assert failed["expected"] != failed["got"]
    assert failed["curl"][0].startswith("curl ")
    assert f"FAIL: fix {first} first" in run.stdout
    assert f"next: fix `{first}`" in run.stdout  # and where the spec says what it wants:
    assert f"labctl show {lab.id} --stage {first}" in run.stdout


def _distinct_dockerfiles() -> list[tuple[Lab, str]]:
    """One starter per distinct Dockerfile: starters that share one are built the same way."""
    seen: dict[str, tuple[Lab, str]] = {}
    for lab, language in STARTERS:
        dockerfile = (lab.root / "starters" / language / "Dockerfile").read_text()
        seen.setdefault(dockerfile, (lab, language))
    return list(seen.values())


@pytest.mark.parametrize(
    ("lab", "language"),
    _distinct_dockerfiles(),
    ids=[f"{lab.id}-{language}" for lab, language in _distinct_dockerfiles()],
)
def test_a_starter_passes_health_in_docker(lab: Lab, language: str, tmp_path: Path) -> None:
    dockerfile = (lab.root / "starters" / language / "Dockerfile").read_text()
    bases = tuple(line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM "))
    require_docker((*STANDIN_ENV.values(), *bases))
    project = tmp_path / "project"
    init(lab, language, project)
    first = first_stage(lab)
    run = labctl(
        ["check", "--path", str(project), "--until", first, "--backend", "docker"],
        tmp_path=tmp_path,
        env=labctl_env(**STANDIN_ENV),
    )
    assert run.code == 1, run.stdout + run.stderr
    assert run.report is not None
    statuses = [s["status"] for s in run.report["stages"]]
    assert statuses == [Status.PASS, Status.FAIL]


def test_init_says_what_it_wrote_and_what_to_do_next(tmp_path: Path) -> None:
    run = cli("init", "url-shortener", "shortener", "--lang", "go", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "labctl.toml" in run.stdout
    assert "main.go" in run.stdout
    assert "cd shortener" in run.stdout
    assert "labctl show url-shortener --stage shorten" in run.stdout
    assert "module shortener" in (tmp_path / "shortener" / "go.mod").read_text()
    assert load_submission(tmp_path / "shortener").lab == "url-shortener"


def test_init_refuses_a_directory_that_is_not_empty_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "labctl.toml").write_text("old")
    refused = cli("init", "url-shortener", str(tmp_path), "--lang", "python")
    assert refused.returncode == 2
    assert "is not empty (labctl.toml, notes.txt)" in refused.stderr
    assert "--force" in refused.stderr
    assert (tmp_path / "labctl.toml").read_text() == "old"
    forced = cli("init", "url-shortener", str(tmp_path), "--lang", "python", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "replaced: labctl.toml" in forced.stdout
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert 'lab = "url-shortener"' in (tmp_path / "labctl.toml").read_text()


def test_init_writes_into_a_fresh_git_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    run = cli("init", "idempotent-payments", ".", "--lang", "node", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "server.js").is_file()
    assert "cd " not in run.stdout


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["init", "url-shortner", "d", "--lang", "go"], "no lab 'url-shortner'", "url-shortener"),
        (["init", "url-shortener", "d", "--lang", "rust"], "no 'rust' starter", "go, node, python"),
        (["init", "url-shortener", "d"], "which language?", "--lang go"),
    ],
)
def test_init_errors_exit_2_and_list_what_exists(
    tmp_path: Path, args: list[str], message: str, hint: str
) -> None:
    run = cli(*args, cwd=tmp_path)
    assert run.returncode == 2, run.stdout
    assert message in run.stderr
    assert hint in run.stderr
    assert list(tmp_path.iterdir()) == []


def _lab_copy(tmp_path: Path) -> Path:
    lab_dir = tmp_path / "labs" / "url-shortener"
    shutil.copytree(ROOT / "labs" / "url-shortener", lab_dir)
    shutil.copytree(ROOT / "graders", tmp_path / "graders")
    return lab_dir


def test_an_unknown_placeholder_is_the_starters_error_and_writes_nothing(tmp_path: Path) -> None:
    lab_dir = _lab_copy(tmp_path)
    readme = lab_dir / "starters" / "python" / "README.md"
    readme.write_text(readme.read_text() + "\n{{first_stag}}\n")
    with pytest.raises(
        LabError, match=r"README.md: unknown placeholder \{\{first_stag\}\}"
    ) as info:
        init(load_lab(lab_dir), "python", tmp_path / "project")
    assert "{{first_stage}}" in info.value.hint
    assert not (tmp_path / "project").exists()


def test_a_labs_protos_are_copied_and_named_for_code_generation(tmp_path: Path) -> None:
    lab_dir = _lab_copy(tmp_path)
    (lab_dir / "links.proto").write_text('syntax = "proto3";\npackage links;\n')
    readme = lab_dir / "starters" / "go" / "README.md"
    readme.write_text(readme.read_text() + "\nprotoc --go_out=. {{protos}}\n")
    written = init(load_lab(lab_dir), "go", tmp_path / "project")
    assert "links.proto" in written.files
    assert (tmp_path / "project" / "links.proto").read_text().startswith('syntax = "proto3"')
    assert "protoc --go_out=. links.proto" in (tmp_path / "project" / "README.md").read_text()


def test_a_write_that_fails_midway_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = starters._write_file
    calls: list[Path] = []

    def failing(dest: Path, f: starters.File) -> None:
        calls.append(dest)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(dest, f)

    monkeypatch.setattr(starters, "_write_file", failing)
    with pytest.raises(KeyboardInterrupt):
        init(load_lab("url-shortener"), "python", tmp_path / "a" / "project")
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "project").write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        init(load_lab("url-shortener"), "python", tmp_path / "project")
