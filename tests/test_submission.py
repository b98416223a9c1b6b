"""labctl.toml loading and the errors a learner sees for a wrong project setup."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.errors import SubmissionError
from labctl.model.submission import load_submission


def test_reads_run_and_build(tmp_path: Path) -> None:
    (tmp_path / "labctl.toml").write_text(
        'lab = "url-shortener"\n[service]\nbuild = "npm ci"\nrun = "node server.js"\n'
    )
    sub = load_submission(tmp_path)
    assert (sub.lab, sub.build, sub.run, sub.path) == (
        "url-shortener",
        "npm ci",
        "node server.js",
        tmp_path.resolve(),
    )


def test_run_flag_overrides_and_replaces_the_file(tmp_path: Path) -> None:
    assert load_submission(tmp_path, run="./server").run == "./server"


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("", "no start command", "--run"),
        ("[service]\nrun = 42\n", "'service.run'", "non-empty string"),
        (
            "[service]\nrun = 'x'\nstart = 'y'\n",
            "unknown key service.start",
            "build, build_args, context, dockerfile, run",
        ),
        ("[service\n", "not valid TOML", "fix"),
        ("service = 1\n", "must be a table", "[service]"),
    ],
)
def test_bad_labctl_toml(tmp_path: Path, text: str, message: str, hint: str) -> None:
    (tmp_path / "labctl.toml").write_text(text)
    with pytest.raises(SubmissionError) as info:
        load_submission(tmp_path)
    assert message in info.value.message
    assert hint in info.value.hint


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="no such directory"):
        load_submission(tmp_path / "nope")
