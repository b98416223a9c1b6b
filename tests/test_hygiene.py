"""Nothing is left behind: an interrupted or failed check stops every process labctl started,
deletes its temporary directories and writes no half report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import FIXTURES, ROOT, labctl_env

HANGS = ROOT / "tests" / "services" / "hangs.py"


def _descendants_and_strays(tmp: Path) -> list[psutil.Process]:
    """Processes whose command line or working directory lies under ``tmp``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        except psutil.Error:
            continue
        if str(tmp) in text:
            found.append(proc)
    return found


def check_reference(run: str, *extra: str) -> list[str]:
    """``labctl check`` of the url-shortener lab, its service started by ``run``."""
    reference = str(FIXTURES / "url-shortener" / "reference")
    return [
        sys.executable,
        "-m",
        "labctl",
        "check",
        "url-shortener",
        "--path",
        reference,
        "--run",
        run,
        *extra,
    ]


def _wait_for(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _start_hanging_check(tmp_path: Path, scratch: Path) -> subprocess.Popen[bytes]:
    """``labctl check`` (its own session, as a terminal's foreground job) stuck in a check."""
    marker = tmp_path / "check-started"
    env = labctl_env(TMPDIR=str(scratch), LABCTL_DATA_DIR=str(scratch), MARKER=str(marker))
    reports = ["--json", str(tmp_path / "out.json"), "--junit", str(tmp_path / "out.xml")]
    cli = subprocess.Popen(
        check_reference(f"{sys.executable} {HANGS}", *reports),
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(marker, 60)
    except BaseException:
        os.killpg(cli.pid, signal.SIGKILL)
        cli.communicate()
        raise
    assert _descendants_and_strays(scratch), "the check should be running now"
    return cli


def _finish(cli: subprocess.Popen[bytes], timeout_s: float = 30) -> str:
    try:
        return cli.communicate(timeout=timeout_s)[0].decode()
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.communicate()


def _assert_nothing_left(tmp_path: Path, scratch: Path) -> None:
    assert _descendants_and_strays(scratch) == []
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "out.json").exists()
    assert not (tmp_path / "out.xml").exists()


@pytest.mark.parametrize("how", ["terminal", "kill"], ids=["ctrl-c-in-terminal", "sigint-to-cli"])
def test_interrupt_mid_check_leaves_nothing(tmp_path: Path, scratch: Path, how: str) -> None:
    cli = _start_hanging_check(tmp_path, scratch)
    if how == "terminal":
        os.killpg(cli.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    else:
        cli.send_signal(signal.SIGINT)
    output = _finish(cli)
    assert cli.returncode == 130, output
    assert "interrupted" in output
    _assert_nothing_left(tmp_path, scratch)


def test_killed_grading_process_leaves_nothing(tmp_path: Path, scratch: Path) -> None:
    """SIGKILL gives the grading process no chance to clean up: its children die with it and
    the CLI deletes what it had on disk."""
    cli = _start_hanging_check(tmp_path, scratch)
    worker = next(
        p for p in psutil.Process(cli.pid).children() if "labctl.run.child" in " ".join(p.cmdline())
    )
    worker.kill()
    output = _finish(cli)
    assert cli.returncode == 3, output
    assert "without a result" in output
    _wait_until_gone(scratch)
    _assert_nothing_left(tmp_path, scratch)


def test_killed_cli_leaves_nothing(tmp_path: Path, scratch: Path) -> None:
    """SIGKILL of the CLI: the grading process notices, stops everything and deletes the run."""
    cli = _start_hanging_check(tmp_path, scratch)
    cli.kill()
    _finish(cli)
    _wait_until_gone(scratch)
    _assert_nothing_left(tmp_path, scratch)


def _wait_until_gone(scratch: Path, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while (_descendants_and_strays(scratch) or list(scratch.iterdir())) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)


def test_service_that_exits_early_is_an_environment_error(tmp_path: Path, scratch: Path) -> None:
    proc = subprocess.run(
        check_reference(
            "echo 'cannot connect to the database' >&2; exit 7",
            "--json",
            str(tmp_path / "out.json"),
        ),
        env=labctl_env(TMPDIR=str(scratch), LABCTL_DATA_DIR=str(scratch)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "code 7" in proc.stdout + proc.stderr
    assert "[your service] cannot connect to the database" in proc.stdout + proc.stderr
    assert list(scratch.iterdir()) == []
    assert _descendants_and_strays(scratch) == []
