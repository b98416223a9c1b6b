"""`labctl check --watch`: what counts as a change, the order of a run, runs started ahead that
leave nothing behind, and the loop itself driven in a real terminal: a failing stage, a fix
that is graded first and passes, Ctrl-C that exits 130 with nothing left running."""

from __future__ import annotations

import json
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect
import pytest
import watchfiles

from labctl.backends.local import LocalBackend
from labctl.model.lab import load_lab
from labctl.model.submission import Submission
from labctl.progress import Event, EventReader
from labctl.results import Result, StageResult, Status
from labctl.run import parent
from labctl.run.parent import EVENTS_FILE, GradingRun, run_spec
from labctl.watch.changes import Changes, ProjectFilter
from labctl.watch.session import failed_first
from tests.conftest import FIXTURES, ROOT, labctl_env
from tests.test_grading_runtime import TOY_LABS, TOY_SERVICE
from tests.test_hygiene import _descendants_and_strays, _wait_until_gone

REFERENCE = FIXTURES / "url-shortener" / "reference"
LOCAL = LocalBackend()
ALIAS_OK = 'ALIAS = re.compile(r"[A-Za-z0-9_-]{3,32}")'
ALIAS_BROKEN = 'ALIAS = re.compile(r"[A-Za-z0-9-]{3,32}")'  # refuses "_": fails `alias`
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


# -- the order of a run --------------------------------------------------------------------


def _last(statuses: dict[str, Status], error: str = "") -> Result:
    stages = tuple(StageResult(slug, slug, status) for slug, status in statuses.items())
    return Result("url-shortener", 1, Status.FAIL, 1, 1.0, stages, error=error)


def test_the_stage_that_failed_last_time_goes_first() -> None:
    stages = load_lab("url-shortener").stages
    assert failed_first(stages, None) == ()
    failed = _last({"health": Status.PASS, "shorten": Status.PASS, "redirect": Status.FAIL})
    assert failed_first(stages, failed) == ("redirect",)
    assert failed_first(stages, _last({"health": Status.PASS})) == ()
    assert failed_first(stages, _last({}, error="postgres did not start")) == ()


# -- what counts as a change ---------------------------------------------------------------


def test_build_output_ignored_files_and_labctls_reports_are_not_changes(tmp_path: Path) -> None:
    root = tmp_path / "build" / "project"  # a project may itself live under "build"
    root.mkdir(parents=True)
    (root / ".gitignore").write_text("/server\n*.log\n")
    ignores = ProjectFilter(root, ignore_files=[root / "result.json"])
    counted = {
        name: ignores(watchfiles.Change.modified, str(root / name))
        for name in [
            "main.go",
            "src/app.py",
            "server",
            "out.log",
            "node_modules/pg/index.js",
            "__pycache__/app.cpython-311.pyc",
            ".git/index",
            ".venv/bin/python",
            "dist/bundle.js",
            "target/debug/app",
            ".app.py.swp",
            "result.json",
        ]
    }
    assert [name for name, counts in counted.items() if counts] == ["main.go", "src/app.py"]
    (root / ".gitignore").write_text("/server\n")
    assert ignores(watchfiles.Change.modified, str(root / ".gitignore"))  # read again
    assert ignores(watchfiles.Change.modified, str(root / "out.log"))


def test_a_save_is_one_batch_without_the_editors_temp_file(tmp_path: Path) -> None:
    with Changes(tmp_path, ProjectFilter(tmp_path)) as changes:
        (tmp_path / ".app.py.tmp1234").write_text("new")  # write a temp file, rename it over
        (tmp_path / ".app.py.tmp1234").rename(tmp_path / "app.py")
        (tmp_path / "lib.py").write_text("x")
        ready, _, _ = select.select([changes.fileno()], [], [], 5)
        assert ready
        time.sleep(0.2)
        assert changes.take() == ["app.py", "lib.py"]
        assert not changes.pending()


# -- runs started ahead --------------------------------------------------------------------


def test_a_run_started_ahead_grades_what_it_is_told_in_that_order(tmp_path: Path) -> None:
    lab = load_lab(TOY_LABS / "toy")
    submission = Submission(path=tmp_path, run=TOY_SERVICE)
    stages = lab.select((), "slow")  # basics, after-basics, slow
    events: list[Event] = []
    with GradingRun(
        run_spec(lab, submission, stages, seed=5, backend=LOCAL, warm=True), LOCAL
    ) as run:
        told = run_spec(
            lab,
            submission,
            stages,
            seed=5,
            backend=LOCAL,
            order=["after-basics"],
            stop_after_failure=True,
        )
        run.go(told)
        result = run.result(events.append, early=True)
    ran = [e.stage for e in events if e.kind == "stage"]
    assert ran == ["after-basics", "basics"]  # first as told; judged without what it needs
    statuses = {s.slug: (s.status, s.reason) for s in result.stages}
    assert statuses["after-basics"] == (Status.PASS, "")
    assert statuses["basics"][0] is Status.FAIL
    assert statuses["slow"] == (
        Status.SKIP,
        "not run: basics failed first (--all runs every stage)",
    )


def test_a_run_started_ahead_and_never_told_to_go_leaves_nothing(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("LABCTL_DATA_DIR", str(scratch))
    lab = load_lab("url-shortener")
    submission = Submission(path=REFERENCE, run="python3 app.py")
    with GradingRun(
        run_spec(lab, submission, lab.stages, seed=1, backend=LOCAL, warm=True), LOCAL
    ) as run:
        events = EventReader(run.run_dir / EVENTS_FILE)
        deadline = time.monotonic() + 60
        while "ready" not in [e.text for e in events.read_new()]:
            assert time.monotonic() < deadline, "the run never got its dependencies up"
            time.sleep(0.05)
        assert any("postgres" in " ".join(p.cmdline()) for p in _descendants_and_strays(scratch))
    _wait_until_gone(scratch)
    assert _descendants_and_strays(scratch) == []
    assert list(scratch.iterdir()) == []


def test_ctrl_c_while_a_run_tears_down_still_waits_for_it(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verdict is shown while the run tears down: a Ctrl-C then must not delete the run's
    directories under the child's feet, nor leave the child running."""
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("LABCTL_DATA_DIR", str(scratch))
    lab = load_lab("url-shortener")
    submission = Submission(path=REFERENCE, run="python3 app.py")
    stages = lab.select(("health",))
    real_stop = parent.stop
    calls: list[int | None] = []

    def interrupted_once(proc: subprocess.Popen[bytes], **kwargs: object) -> int | None:
        if not calls:
            calls.append(None)
            raise KeyboardInterrupt
        calls.append(real_stop(proc, **kwargs))  # type: ignore[arg-type]
        return calls[-1]

    monkeypatch.setattr(parent, "stop", interrupted_once)
    verdicts = []
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012, SIM117 (raised on the way out)
        with GradingRun(
            run_spec(lab, submission, stages, seed=1, backend=LOCAL, warm=True), LOCAL
        ) as run:
            run.go(run_spec(lab, submission, stages, seed=1, backend=LOCAL))
            verdicts.append(run.result(early=True).verdict)
    assert verdicts == [Status.PASS]
    assert len(calls) == 2  # interrupted, then drained
    _wait_until_gone(scratch)
    assert _descendants_and_strays(scratch) == []
    assert list(scratch.iterdir()) == []


# -- the loop in a terminal ----------------------------------------------------------------


class Terminal:
    """labctl in a pseudo-terminal, its screen read with the colours taken out."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "labctl", *args],
            cwd=str(cwd),
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            dimensions=(50, 200),
        )
        self.screen = ""

    def wait_for(self, text: str, timeout_s: float = 90) -> str:
        """The screen up to ``text``; what follows stays for the next wait."""
        deadline = time.monotonic() + timeout_s
        while text not in self.screen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared on:\n{self.screen}")
            try:
                self.screen += ANSI.sub("", self.child.read_nonblocking(4096, timeout=0.2))
            except pexpect.TIMEOUT:
                continue
        seen, _, self.screen = self.screen.partition(text)
        return seen + text

    def exit_code(self, timeout_s: float = 40) -> int | None:
        self.child.expect(pexpect.EOF, timeout=timeout_s)
        self.screen += ANSI.sub("", self.child.before or "")
        self.child.close()
        return self.child.exitstatus


def test_watch_regrades_the_fixed_stage_first_and_ctrl_c_leaves_nothing(
    tmp_path: Path, scratch: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("app.py", "labctl.toml", "Dockerfile"):
        shutil.copy(REFERENCE / name, project / name)
    source = (project / "app.py").read_text()
    assert ALIAS_OK in source
    (project / "app.py").write_text(source.replace(ALIAS_OK, ALIAS_BROKEN))
    report = tmp_path / "result.json"
    env = labctl_env(TMPDIR=str(scratch), LABCTL_DATA_DIR=str(scratch), TERM="xterm")
    terminal = Terminal(
        ["check", "--watch", "--until", "alias", "--json", str(report)], project, env
    )
    try:
        first = terminal.wait_for("run took")
        assert "✘ alias" in first
        assert "expected: 201 Created" in first
        assert "labctl show url-shortener --stage alias" in first
        assert json.loads(report.read_text())["verdict"] == "fail"

        (project / "app.py").write_text(source)  # the fix, saved
        second = terminal.wait_for("after your save ·")
        assert "run 2 · app.py changed" in second
        assert "✔ alias passes now" in second
        assert "4 of 4 stages passed" in second
        graded = json.loads(report.read_text())
        assert graded["verdict"] == "pass"
        assert graded["meta"]["watch"]["graded_in_order"] == [
            "alias",
            "health",
            "shorten",
            "redirect",
        ]

        terminal.child.sendcontrol("c")
        assert terminal.exit_code() == 130, terminal.screen
        assert "interrupted" in terminal.screen
    finally:
        if terminal.child.isalive():
            terminal.child.terminate(force=True)
    _wait_until_gone(scratch)
    assert _descendants_and_strays(scratch) == []
    assert list(scratch.iterdir()) == []


def test_a_broken_labctl_toml_waits_and_a_new_run_command_gets_a_run_of_its_own(
    tmp_path: Path, scratch: Path
) -> None:
    """The toy lab (no dependencies): labctl.toml is read again on every change; a file that
    does not parse is reported and waited out, a changed run command starts its own run; q
    quits with the last verdict's exit code."""
    project = tmp_path / "project"
    project.mkdir()
    service = (ROOT / "tests" / "services" / "toy.py").read_text()
    (project / "toy.py").write_text(service)
    assert "time.sleep(3)" in service
    (project / "fixed.py").write_text(service.replace("time.sleep(3)", "time.sleep(0)"))
    config = project / "labctl.toml"
    config.write_text(f'lab = "toy"\n[service]\nrun = "{sys.executable} toy.py"\n')
    env = labctl_env(
        TMPDIR=str(scratch), LABCTL_DATA_DIR=str(scratch), LABCTL_LABS_DIR=str(TOY_LABS)
    )
    terminal = Terminal(["check", "--watch", "--stage", "slow"], project, env)
    try:
        assert "✘ slow" in terminal.wait_for("run took")  # /sleep answers past the timeout
        config.write_text("lab = [")
        assert "not valid TOML" in terminal.wait_for("waiting for your next change")
        config.write_text(f'lab = "toy"\n[service]\nrun = "{sys.executable} fixed.py"\n')
        run = terminal.wait_for("after your save ·")
        assert "run 2 · labctl.toml changed" in run
        assert "✔ slow passes now" in run
        terminal.child.send("q")
        assert terminal.exit_code() == 0, terminal.screen
    finally:
        if terminal.child.isalive():
            terminal.child.terminate(force=True)
    _wait_until_gone(scratch)
    assert list(scratch.iterdir()) == []
