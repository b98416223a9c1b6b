"""Cohort runs: grade many submissions, a bounded number at a time, into one aggregate.

Each submission is graded by its own ``labctl check`` child process (its own Ctrl-C handling
and clean-up, its own JSON result and terminal log), all with the same seed so every learner
gets the same inputs. ``Aggregate`` reads result JSONs only, so ``labctl report merge`` builds
the same table from results made elsewhere (one GitHub Actions job per submission).
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.errors import ConfigError
from labctl.processes import spawn, stop
from labctl.results.cohort import Aggregate, Row

GRADE_TIMEOUT_S = 1800.0
_INTERRUPT_GRACE_S = 30.0  # a check interrupted stops what it started, then exits
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_jobs() -> int:
    """Half the usable cores: each run is a service, its dependencies and the graders."""
    return max(1, len(os.sched_getaffinity(0)) // 2)


@dataclass(frozen=True)
class Submission:
    name: str
    path: Path


def submissions(paths: Sequence[Path], csv_file: Path | None) -> list[Submission]:
    """The submissions named on the command line and in ``csv_file`` (a ``path`` column)."""
    found = [*paths, *(_csv_paths(csv_file) if csv_file else [])]
    if not found:
        raise ConfigError("no submissions to grade", hint="pass directories, or --csv FILE")
    for path in found:
        if not path.is_dir():
            raise ConfigError(f"{path}: no such directory", hint="each submission is a directory")
    return _named([p.resolve() for p in found])


def grade_all(
    items: Sequence[Submission],
    check_args: Sequence[str],
    out: Path,
    jobs: int,
    on_done: Callable[[Row], None] = lambda row: None,
) -> Aggregate:
    """Grade every submission with ``labctl check ARGS``, ``jobs`` at a time, into ``out``.
    Ctrl-C: nothing new starts, the running checks are interrupted and clean up, and it raises."""
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be 1 or more", hint=f"try --jobs {default_jobs()}")
    out.mkdir(parents=True, exist_ok=True)
    grader = _Grader(check_args, out, on_done)
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(grader.grade, item) for item in items]
        rows = [future.result() for future in futures]
    except BaseException:
        grader.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return Aggregate.of(rows)


class _Grader:
    """Runs one ``labctl check`` child per submission; ``stop()`` interrupts them all."""

    def __init__(self, check_args: Sequence[str], out: Path, on_done: Callable[[Row], None]):
        self.check_args = check_args
        self.out = out
        self.on_done = on_done
        self.running: set[subprocess.Popen[bytes]] = set()
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def grade(self, item: Submission) -> Row:
        if self.stopping.is_set():
            return Row(item.name, None, "not graded: interrupted")
        row = self._run(item)
        self.on_done(row)
        return row

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            for proc in self.running:
                proc.send_signal(signal.SIGINT)  # each check stops what it started

    def _run(self, item: Submission) -> Row:
        result_path = self.out / f"{item.name}.json"
        log_path = self.out / f"{item.name}.log"
        result_path.unlink(missing_ok=True)  # a stale result must never pass for this run's
        # -P: the working directory (maybe a submission) never lands on the CLI's sys.path.
        command = [sys.executable, "-P", "-m", "labctl", "check", "--path", str(item.path)]
        command += [*self.check_args, "--json", str(result_path)]
        with log_path.open("wb") as log:
            # Wide: the log's error line stays whole for the aggregate's problem column.
            env = {**os.environ, "COLUMNS": "400"}
            # Its own process group, so our stop() alone interrupts it; it dies with us.
            proc = spawn(command, out=log, env=env, session=False)
            code = self._wait(proc)
        if code is None:
            return Row(item.name, None, f"not graded within {GRADE_TIMEOUT_S:g} s")
        if not result_path.is_file():
            return Row(item.name, None, _last_error(log_path, code))
        return Row(item.name, _read_result(result_path))

    def _wait(self, proc: subprocess.Popen[bytes]) -> int | None:
        with self.lock:
            self.running.add(proc)
        try:
            return proc.wait(timeout=GRADE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            stop(proc, grace_s=_INTERRUPT_GRACE_S, sig=signal.SIGINT, group=False)
            return None
        finally:
            with self.lock:
                self.running.discard(proc)


def check_args(
    *,
    lab: str | None,
    seed: int,
    stages: Sequence[str] = (),
    until: str | None = None,
    graders: str | None = None,
    min_points: float | None = None,
    reveal: bool = False,
) -> list[str]:
    """The ``labctl check`` flags every submission of a cohort is graded with."""
    args = [lab] if lab else []
    args += ["--seed", str(seed)]
    for slug in stages:
        args += ["--stage", slug]
    for flag, value in (("--until", until), ("--graders", graders), ("--min-points", min_points)):
        if value is not None:
            args += [flag, str(value)]
    return [*args, "--reveal"] if reveal else args


def result_files(paths: Sequence[Path]) -> list[Path]:
    """The files named, and every labctl result JSON below the directories named."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += [p for p in sorted(path.rglob("*.json")) if _is_result(p)]
        else:
            files.append(path)
    if not files:
        raise ConfigError("no result files to merge", hint="pass `labctl check --json` files")
    return files


def load_results(paths: Sequence[Path]) -> Aggregate:
    """An aggregate of result JSON files; each is named after its file (``alice.json``)."""
    rows = []
    for path in result_files(paths):
        try:
            rows.append(Row(path.stem, _read_result(path)))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{path}: not a labctl result ({exc})",
                hint="pass the files `labctl check --json` wrote",
            ) from None
    return Aggregate.of(rows)


def _read_result(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("labctl.result/"):
        raise ValueError("no labctl.result schema")
    return data


def _is_result(path: Path) -> bool:
    try:
        _read_result(path)
    except (OSError, ValueError):
        return False
    return True


def _last_error(log: Path, code: int) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    return (errors[-1] if errors else f"labctl check exited with {code}") + f" (see {log.name})"


def _csv_paths(path: Path) -> list[Path]:
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
    except OSError as exc:
        raise ConfigError(f"--csv {path}: {exc.strerror}", hint="pass a readable CSV") from None
    if rows and "path" not in rows[0]:
        raise ConfigError(
            f"--csv {path}: no 'path' column", hint="the first line is a header: path[,...]"
        )
    return [path.parent / row["path"] for row in rows if row.get("path")]


def _named(paths: list[Path]) -> list[Submission]:
    """Each submission named after its directory; clashes get the parent's name too."""
    names = [_UNSAFE.sub("_", p.name) for p in paths]
    named = []
    for path, name in zip(paths, names, strict=True):
        if names.count(name) > 1:
            name = _UNSAFE.sub("_", f"{path.parent.name}-{path.name}")
        named.append(Submission(name, path))
    if len({s.name for s in named}) < len(named):
        raise ConfigError("two submissions have the same name", hint="grade them separately")
    return named
