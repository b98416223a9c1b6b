from __future__ import annotations

from labctl.grading import Lab, Load, Scenario, expect, stage

pytestmark = stage("load")


def test_overloaded_generator_is_inconclusive(load: Load, lab: Lab) -> None:
    """30000 req/s from one process: the generator falls behind, so no verdict"""
    budget = lab.budget("overload")
    report = load.run(Scenario.get("/ok"), budget=budget, processes=1)
    expect.within_budget(report, budget)
