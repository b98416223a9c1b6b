"""The pass mark: ``--min-points N`` decides a run's verdict and exit code by its points.

Stage statuses stay as graded; only the run's verdict follows the mark. A run whose environment
could not start, or whose graders broke, keeps its error: points earned there mean nothing.
"""

from __future__ import annotations

import dataclasses

from labctl.errors import ConfigError
from labctl.results import ExitCode, Result, Status, number, verdict_of


def apply_pass_mark(result: Result, mark: float | None) -> Result:
    """``result`` with its verdict and exit code decided by ``mark`` (``None``: unchanged)."""
    if mark is None:
        return result
    if result.error or any(s.status is Status.ERROR for s in result.stages):
        return dataclasses.replace(result, pass_mark=number(mark))
    if result.points_possible and mark > result.points_possible:
        raise ConfigError(
            f"--min-points {mark:g} is more than the {result.points_possible} points "
            "the graded stages are worth",
            hint="lower --min-points, or grade more stages",
        )
    if result.points_earned >= mark:
        verdict, code = Status.PASS, ExitCode.PASS
    else:
        verdict, code = verdict_of(result.stages)
        if verdict is Status.PASS:  # every stage passed, yet too few points were on offer
            verdict, code = Status.FAIL, ExitCode.FAIL
    return dataclasses.replace(result, verdict=verdict, exit_code=code, pass_mark=number(mark))
