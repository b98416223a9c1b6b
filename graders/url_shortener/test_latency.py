"""Stage `latency`: redirects hold their latency budget at a steady rate.

Requests leave on a fixed schedule (an open model) whether or not earlier ones have answered,
and latency counts from each request's intended send time, so a stall cannot hide by slowing
the load down. The budget (rate, duration, p99, error rate, achieved rate) is lab.toml's
``[budgets.latency]``.
"""

from __future__ import annotations

import random

from labctl.grading import Http, Lab, Load, Scenario, expect, points, stage

from ._support import new_url, shorten

pytestmark = stage("latency")

LINKS = 50


@points(5)
def test_redirects_hold_their_latency_budget(
    http: Http, load: Load, lab: Lab, rng: random.Random
) -> None:
    """Redirects over 50 links at a constant rate stay within the p99 and error budget"""
    codes = [shorten(http, new_url(rng, "latency")) for _ in range(LINKS)]
    budget = lab.budget("latency")
    scenario = Scenario.get(*(f"/{code}" for code in codes), ok_status=expect.REDIRECTS)
    report = load.run(scenario, budget=budget)
    expect.within_budget(report, budget)
