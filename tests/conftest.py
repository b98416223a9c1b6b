"""Shared test helpers: run the real ``labctl`` CLI in a child process, as a user would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Grader packs and services the tests run labctl on: material, not tests of this suite.
collect_ignore = ["data", "services"]

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    """Let the Ctrl-C tests' children hear SIGINT, as they would in a terminal.

    A non-interactive shell starts its background jobs with SIGINT ignored, and an ignored
    signal stays ignored across exec: a CI runner that starts the suite that way would start
    every labctl the tests interrupt deaf to Ctrl-C (as it should be under ``nohup``). A
    handler, unlike SIG_IGN, is reset to the default in each child, so Python's own
    KeyboardInterrupt comes back there."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None


def labctl_env(**extra: str) -> dict[str, str]:
    """The environment a learner's shell has, with this interpreter first on PATH (so the
    fixtures' ``python3`` has the same packages as the tests)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTEST_ADDOPTS", None)
    env.update(extra)
    return env


def labctl(
    args: Sequence[str], *, tmp_path: Path, timeout: float = 240, env: dict[str, str] | None = None
) -> Run:
    """``labctl ARGS --json FILE``; returns exit code, output and the parsed JSON report."""
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "labctl", *args, "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or labctl_env(),
        check=False,
    )
    data = json.loads(report.read_text()) if report.exists() else None
    return Run(proc.returncode, proc.stdout, proc.stderr, data)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A TMPDIR for one labctl run that every user can traverse (Postgres runs unprivileged
    when the tests run as root; pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="labctl-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)
