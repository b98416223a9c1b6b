"""What a learner does after a check: the next thing to do, from the result.

In lab order, the first stage that failed is to be fixed, with the command that prints its part
of the spec; an inconclusive one is to be run again on a quieter machine. When all that ran
passed, the next stage to build is one that was skipped, or the first after the last that ran
(``--until``, ``--stage``); when every stage of the lab passed, a lab whose ``builds_on`` names
this one.
``checkrun`` stores the step in the result's ``meta["next"]`` (``text`` and ``commands``), so
every reporter can print it without knowing the lab.
"""

from __future__ import annotations

from typing import Any

from labctl.model.lab import Lab, Stage, labs_building_on
from labctl.results import Result, Status


def next_step(lab: Lab, result: Result) -> dict[str, Any] | None:
    """The next thing to do after ``result`` (a run of ``lab``); None when the run's own error
    says it (the environment could not start, or a grader is broken)."""
    ran = {stage.slug: stage for stage in result.stages}
    if result.error or any(s.status is Status.ERROR for s in ran.values()):
        return None
    for stage in lab.stages:
        got = ran.get(stage.slug)
        if got is not None and got.status is Status.FAIL:
            return _step("fix", stage, f"fix `{stage.slug}`: {stage.title}", _show(lab, stage))
        if got is not None and got.status is Status.INCONCLUSIVE:
            text = f"`{stage.slug}` could not be judged fairly: run it again on a quieter machine"
            return _step("retry", stage, text, f"labctl check --stage {stage.slug}")
    last = max((i for i, s in enumerate(lab.stages) if s.slug in ran), default=-1)
    later = [s for s in lab.stages[last + 1 :]]
    skipped = [s for s in lab.stages if s.slug in ran and ran[s.slug].status is Status.SKIP]
    if upcoming := (skipped or later):
        stage = upcoming[0]
        text = f"build `{stage.slug}`: {stage.title}"
        return _step("stage", stage, text, _show(lab, stage), f"labctl check --until {stage.slug}")
    if len(ran) < len(lab.stages):
        text = "every stage you ran passes: run them all"
        return {"kind": "all", "text": text, "commands": ["labctl check"]}
    return _after_the_lab(lab)


def _step(kind: str, stage: Stage, text: str, *commands: str) -> dict[str, Any]:
    return {"kind": kind, "stage": stage.slug, "text": text, "commands": list(commands)}


def _show(lab: Lab, stage: Stage) -> str:
    return f"labctl show {lab.id} --stage {stage.slug}"


def _after_the_lab(lab: Lab) -> dict[str, Any]:
    following = labs_building_on(lab)
    if not following:
        text = f"every stage of {lab.id} passes: pick another lab"
        return {"kind": "done", "text": text, "commands": ["labctl list"]}
    names = ", ".join(other.id for other in following)
    commands = []
    for other in following:
        commands.append(f"labctl show {other.id}")
        commands.append(f"labctl init {other.id} {other.id} --lang LANG")
    text = f"every stage of {lab.id} passes; {names} builds on it (see `labctl list` for LANG)"
    return {
        "kind": "lab",
        "labs": [other.id for other in following],
        "text": text,
        "commands": commands,
    }
