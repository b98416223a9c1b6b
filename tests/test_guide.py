"""What next: the step a report ends with, from the stages that passed, failed or did not run."""

from __future__ import annotations

from labctl.model.lab import Stage, load_lab
from labctl.results import Result, StageResult, Status
from labctl.run.guide import next_step

SHORTENER = load_lab("url-shortener")
PAYMENTS = load_lab("idempotent-payments")


def _result(statuses: dict[str, Status], error: str = "") -> Result:
    stages = tuple(StageResult(slug, slug, status) for slug, status in statuses.items())
    return Result("url-shortener", 1, Status.PASS, 0, 1.0, stages, error=error)


def _all(stages: tuple[Stage, ...]) -> dict[str, Status]:
    return {stage.slug: Status.PASS for stage in stages}


def test_the_first_failing_stage_in_lab_order_is_to_be_fixed() -> None:
    statuses = {"health": Status.PASS, "shorten": Status.PASS, "redirect": Status.FAIL}
    step = next_step(SHORTENER, _result({**statuses, "alias": Status.FAIL}))
    assert step is not None
    assert step["kind"] == "fix"
    assert step["stage"] == "redirect"
    assert step["commands"] == ["labctl show url-shortener --stage redirect"]


def test_after_until_the_next_stage_is_the_one_after_the_last_that_ran() -> None:
    step = next_step(SHORTENER, _result({"health": Status.PASS, "shorten": Status.PASS}))
    assert step is not None
    assert (step["kind"], step["stage"]) == ("stage", "redirect")
    assert "labctl check --until redirect" in step["commands"]


def test_a_stage_run_alone_leads_to_the_one_after_it() -> None:
    step = next_step(PAYMENTS, _result({"create": Status.PASS}))
    assert step is not None
    assert step["stage"] == "validate"


def test_inconclusive_is_run_again_not_fixed() -> None:
    statuses = _all(SHORTENER.stages)
    step = next_step(SHORTENER, _result({**statuses, "latency": Status.INCONCLUSIVE}))
    assert step is not None
    assert (step["kind"], step["stage"]) == ("retry", "latency")


def test_every_stage_passing_leads_to_the_lab_that_builds_on_this_one() -> None:
    step = next_step(SHORTENER, _result(_all(SHORTENER.stages)))
    assert step is not None
    assert step["kind"] == "lab"
    assert step["labs"] == ["idempotent-payments"]
    assert "labctl show idempotent-payments" in step["commands"]


def test_the_last_lab_says_to_pick_another() -> None:
    last = load_lab("bank-transfers")
    step = next_step(last, _result(_all(last.stages)))
    assert step is not None
    assert (step["kind"], step["commands"]) == ("done", ["labctl list"])


def test_a_pass_of_some_stages_only_asks_for_a_full_run() -> None:
    statuses = {s.slug: Status.PASS for s in SHORTENER.stages if s.slug != "health"}
    step = next_step(SHORTENER, _result(statuses))
    assert step is not None
    assert (step["kind"], step["commands"]) == ("all", ["labctl check"])


def test_no_step_when_the_run_could_not_grade() -> None:
    assert next_step(SHORTENER, _result({}, error="postgres did not start")) is None
    assert next_step(SHORTENER, _result({"health": Status.ERROR})) is None
