"""Choosing the backend (--backend local|docker|auto) and the Docker keys of labctl.toml; none of
these need a Docker engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.backends import choose
from labctl.backends.docker.engine import engine_status
from labctl.errors import ConfigError, LabctlError, SubmissionError
from labctl.model.submission import load_submission
from tests.conftest import FIXTURES

REFERENCE = FIXTURES / "url-shortener" / "reference"
VARIANT = FIXTURES / "url-shortener" / "memory-store"


def project(tmp_path: Path, service: str, dockerfile: bool = True) -> Path:
    (tmp_path / "labctl.toml").write_text(f"[service]\n{service}\n")
    if dockerfile:
        (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    return tmp_path


def test_the_fixtures_name_their_dockerfile_and_build_context() -> None:
    reference = load_submission(REFERENCE)
    assert reference.dockerfile == "Dockerfile"
    assert reference.context_dir == REFERENCE
    variant = load_submission(VARIANT)
    assert variant.context_dir == VARIANT.parent
    assert (variant.context_dir / str(variant.dockerfile)).is_file()
    assert dict(variant.build_args) == {"SOLUTION": "memory-store"}


def test_a_dockerfile_only_project_needs_no_start_command(tmp_path: Path) -> None:
    submission = load_submission(project(tmp_path, 'dockerfile = "Dockerfile"'))
    assert submission.run == ""
    with pytest.raises(SubmissionError, match="no start command"):
        choose("local", submission)


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ('dockerfile = "Nope"', "no such file"),
        ('dockerfile = "Dockerfile"\ncontext = "missing"', "is not a directory"),
        ('dockerfile = "Dockerfile"\nbuild_args = { A = 1 }', "table of strings"),
    ],
)
def test_bad_docker_keys_are_clear_errors(tmp_path: Path, service: str, message: str) -> None:
    with pytest.raises(SubmissionError, match=message):
        load_submission(project(tmp_path, service))


def test_auto_is_local_without_a_dockerfile(tmp_path: Path) -> None:
    submission = load_submission(project(tmp_path, 'run = "x"', dockerfile=False))
    assert choose("auto", submission).name == "local"


def test_auto_is_local_when_no_engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert engine_status()[0] is False
    assert choose("auto", load_submission(REFERENCE)).name == "local"
    with pytest.raises(LabctlError, match="no Docker engine") as caught:
        choose("docker", load_submission(REFERENCE))
    assert caught.value.exit_code == 3


def test_an_unknown_backend_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="--backend 'podman'"):
        choose("podman", load_submission(REFERENCE))
