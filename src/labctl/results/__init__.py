"""The result of a check run, as frozen data. Reporters read it; nothing here does I/O.

``Result.to_dict()`` is the ``labctl.result/v1`` JSON contract; ``Result.from_dict()`` reads it
back (the grading child process hands its result to the CLI that way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA = "labctl.result/v1"


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    INCONCLUSIVE = "inconclusive"


class ExitCode:
    PASS = 0
    FAIL = 1
    CONFIG = 2
    ENVIRONMENT = 3
    INCONCLUSIVE = 4
    INTERRUPTED = 130


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    points: int = 0
    message: str = ""
    duration_s: float = 0.0
    hidden: bool = False
    expected: str | None = None
    got: str | None = None
    hint: str = ""
    curl: tuple[str, ...] = ()
    log: tuple[str, ...] = ()
    load: tuple[Mapping[str, Any], ...] = ()  # LoadReport.to_dict() of each load run
    # Fault checks: {"faults": [{kind, target, start_s, end_s, detail?}], "traffic": [per second]}
    timeline: Mapping[str, Any] | None = None

    @property
    def earned(self) -> int:
        return self.points if self.status is Status.PASS else 0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "points": self.points,
            "message": self.message,
            "duration_s": round(self.duration_s, 4),
        }
        if self.hidden:
            data["hidden"] = True
        for key in ("expected", "got"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.hint:
            data["hint"] = self.hint
        if self.curl:
            data["curl"] = list(self.curl)
        if self.log:
            data["log"] = list(self.log)
        if self.load:
            data["load"] = [dict(run) for run in self.load]
        if self.timeline is not None:
            data["timeline"] = dict(self.timeline)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            id=data["id"],
            title=data["title"],
            status=Status(data["status"]),
            points=data.get("points", 0),
            message=data.get("message", ""),
            duration_s=data.get("duration_s", 0.0),
            hidden=data.get("hidden", False),
            expected=data.get("expected"),
            got=data.get("got"),
            hint=data.get("hint", ""),
            curl=tuple(data.get("curl", ())),
            log=tuple(data.get("log", ())),
            load=tuple(data.get("load", ())),
            timeline=data.get("timeline"),
        )


@dataclass(frozen=True)
class StageResult:
    slug: str
    title: str
    status: Status
    reason: str = ""
    checks: tuple[CheckResult, ...] = ()
    # lab.toml's stage ``points``: what the stage is worth; its checks' points become weights.
    weight: float | None = None
    # lab.toml's stage ``partial``: false means all of the stage's points or none.
    partial: bool = True

    @property
    def points_possible(self) -> float:
        if self.weight is not None:
            return number(self.weight)
        return sum(c.points for c in self.checks)

    @property
    def points_earned(self) -> float:
        weights = sum(c.points for c in self.checks)
        earned = sum(c.earned for c in self.checks)
        if weights == 0 or (earned < weights and not self.partial):
            return 0
        if self.weight is None:
            return earned
        return number(round(self.weight * earned / weights, 2))

    def to_dict(self) -> dict[str, Any]:
        points: dict[str, Any] = {"earned": self.points_earned, "possible": self.points_possible}
        if self.weight is not None:
            points["weight"] = self.weight
        if not self.partial:
            points["partial"] = False
        return {
            "slug": self.slug,
            "title": self.title,
            "status": self.status.value,
            "reason": self.reason,
            "points": points,
            "checks": [c.to_dict() for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageResult:
        return cls(
            slug=data["slug"],
            title=data["title"],
            status=Status(data["status"]),
            reason=data.get("reason", ""),
            checks=tuple(CheckResult.from_dict(c) for c in data.get("checks", ())),
            weight=data.get("points", {}).get("weight"),
            partial=data.get("points", {}).get("partial", True),
        )


@dataclass(frozen=True)
class Result:
    lab: str
    seed: int
    verdict: Status
    exit_code: int
    duration_s: float
    stages: tuple[StageResult, ...] = ()
    error: str = ""
    error_hint: str = ""
    log: tuple[str, ...] = ()
    log_source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    # --min-points: the points that pass the run, whatever its checks' statuses.
    pass_mark: float | None = None

    @property
    def points_earned(self) -> float:
        return number(round(sum(s.points_earned for s in self.stages), 2))

    @property
    def points_possible(self) -> float:
        return number(sum(s.points_possible for s in self.stages))

    @property
    def points(self) -> dict[str, float]:
        """``{"earned", "possible"}``, and ``"pass_mark"`` when one is set."""
        data = {"earned": self.points_earned, "possible": self.points_possible}
        if self.pass_mark is not None:
            data["pass_mark"] = self.pass_mark
        return data

    def checks(self) -> Sequence[CheckResult]:
        return [c for s in self.stages for c in s.checks]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "lab": self.lab,
            "seed": self.seed,
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "points": self.points,
            "stages": [s.to_dict() for s in self.stages],
        }
        if self.error:
            data["error"] = {
                "message": self.error,
                "hint": self.error_hint,
                "log": list(self.log),
                "log_source": self.log_source,
            }
        if self.meta:
            data["meta"] = dict(self.meta)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        error = data.get("error") or {}
        return cls(
            lab=data["lab"],
            seed=data["seed"],
            verdict=Status(data["verdict"]),
            exit_code=data["exit_code"],
            duration_s=data["duration_s"],
            stages=tuple(StageResult.from_dict(s) for s in data.get("stages", ())),
            error=error.get("message", ""),
            error_hint=error.get("hint", ""),
            log=tuple(error.get("log", ())),
            log_source=error.get("log_source", ""),
            meta=data.get("meta", {}),
            pass_mark=data.get("points", {}).get("pass_mark"),
        )


def number(value: float) -> float:
    """``value`` as an int when it is whole, so points read 12, not 12.0, in every report."""
    return int(value) if float(value).is_integer() else value


def stage_status(checks: Sequence[CheckResult]) -> Status:
    """A stage's status from its checks: the worst one wins."""
    return worst(c.status for c in checks)


def worst(statuses: Iterable[Status]) -> Status:
    """The worst of ``statuses``: error, fail, inconclusive, pass; skip when none ran."""
    seen = set(statuses)
    for status in (Status.ERROR, Status.FAIL, Status.INCONCLUSIVE):
        if status in seen:
            return status
    return Status.PASS if Status.PASS in seen else Status.SKIP


def verdict_of(stages: Sequence[StageResult]) -> tuple[Status, int]:
    """The run's verdict and exit code from its stages (DESIGN.md's exit codes)."""
    statuses = {s.status for s in stages}
    if Status.ERROR in statuses:
        return Status.ERROR, ExitCode.ENVIRONMENT
    if Status.FAIL in statuses:
        return Status.FAIL, ExitCode.FAIL
    if Status.INCONCLUSIVE in statuses:
        return Status.INCONCLUSIVE, ExitCode.INCONCLUSIVE
    return Status.PASS, ExitCode.PASS
