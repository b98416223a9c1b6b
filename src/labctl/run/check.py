"""One ``labctl check`` as a user asks for it: a lab with its grader pack (bundled or private),
run once or ``--repeat`` times, stamped with what makes it reproducible, judged by the pass mark.

The CLI maps flags onto ``CheckRequest`` and calls ``check()``; the grading itself is
``runner.run_check``, in a child process per run.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.backends import Backend
from labctl.backends.local import LocalBackend
from labctl.errors import ConfigError
from labctl.model.lab import Lab, load_lab
from labctl.model.packs import grader_pack
from labctl.model.submission import Submission
from labctl.progress import Event
from labctl.results import Result, worst
from labctl.results.scoring import apply_pass_mark
from labctl.run.guide import next_step
from labctl.run.parent import run_check
from labctl.run.provenance import describe_run


@dataclass(frozen=True)
class CheckRequest:
    lab: str
    submission: Submission
    seed: int
    only: tuple[str, ...] = ()
    until: str | None = None
    graders: str | None = None  # a directory or a git URL; None: the lab's bundled pack
    ready_timeout_s: float | None = None
    min_points: float | None = None
    repeat: int = 1
    backend: Backend = field(default_factory=LocalBackend)  # chosen by the CLI
    worker_log: Path | None = None


def check(request: CheckRequest, on_event: Callable[[Event], None]) -> Result:
    """Grade the request's submission. Raises ``LabctlError``s and ``KeyboardInterrupt``."""
    if request.repeat < 1:
        raise ConfigError(f"--repeat {request.repeat}: must be 1 or more", hint="use --repeat 3")
    with grader_pack(request.graders) as pack:
        lab = load_lab(request.lab, graders=pack)
        stages = lab.select(request.only, request.until)
        runs = []
        for _ in range(request.repeat):
            result = run_check(
                lab,
                request.submission,
                stages,
                seed=request.seed,
                ready_timeout_s=request.ready_timeout_s,
                worker_log=request.worker_log,
                on_event=on_event,
                backend=request.backend,
            )
            runs.append(stamped(result, lab, request))
        return finished(combined(runs), lab, request)


def finished(result: Result, lab: Lab, request: CheckRequest) -> Result:
    """``result`` judged by the pass mark, with the learner's next step (``meta["next"]``)."""
    result = apply_pass_mark(result, request.min_points)
    step = next_step(lab, result)
    return dataclasses.replace(result, meta={**result.meta, "next": step}) if step else result


def stamped(result: Result, lab: Lab, request: CheckRequest) -> Result:
    """``result`` with what reproduces it (``meta["run"]``: versions, seed, backend, limits)."""
    run = describe_run(
        lab, seed=request.seed, ready_timeout_s=request.ready_timeout_s, backend=request.backend
    )
    if request.graders is not None:
        run["graders"] = "private pack"  # never its location: the report may reach the learner
    return dataclasses.replace(result, meta={**result.meta, "run": run})


def combined(runs: Sequence[Result]) -> Result:
    """One run as it is; repeated runs as the worst of them, with each stage's stability."""
    if len(runs) == 1:
        return runs[0]
    verdict = worst(r.verdict for r in runs)
    chosen = next(r for r in runs if r.verdict is verdict)
    return dataclasses.replace(chosen, meta={**chosen.meta, "stability": stability(runs)})


def stability(runs: Sequence[Result]) -> dict[str, Any]:
    """Per stage, how many runs gave each status; a stage is stable when all gave the same."""
    stages: dict[str, Counter[str]] = {}
    for run in runs:
        for stage in run.stages:
            stages.setdefault(stage.slug, Counter())[stage.status.value] += 1
    table = {
        slug: {"statuses": dict(counts), "stable": len(counts) == 1}
        for slug, counts in stages.items()
    }
    return {
        "runs": len(runs),
        "verdicts": dict(Counter(r.verdict.value for r in runs)),
        "stable": all(row["stable"] for row in table.values()),
        "stages": table,
    }


def unstable_stages(result: Result) -> list[str]:
    stages = result.meta.get("stability", {}).get("stages", {})
    return [slug for slug, row in stages.items() if not row["stable"]]
