from __future__ import annotations

from labctl.grading import Http, expect, stage

pytestmark = stage("after-basics")


def test_runs_only_when_basics_passed(http: Http) -> None:
    expect.status(http.get("/ok"), 200)
