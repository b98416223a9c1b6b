from __future__ import annotations

import random

from labctl.grading import Http, expect, points, stage

pytestmark = stage("basics")


@points(2)
def test_ok_answers_200(http: Http) -> None:
    """GET /ok answers 200"""
    expect.status(http.get("/ok"), 200)


@points(3)
def test_ok_answers_201(http: Http, rng: random.Random) -> None:
    """GET /ok answers 201 (it does not)"""
    print(f"random input: {rng.randrange(10**9)}")
    expect.status(http.get(f"/ok?n={rng.randrange(10**9)}"), 201)
