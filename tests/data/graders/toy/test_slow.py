from __future__ import annotations

from labctl.grading import Http, expect, stage

pytestmark = stage("slow")


def test_hangs(http: Http) -> None:
    """GET /sleep answers (after 3 s, past the stage's 1 s)"""
    expect.status(http.get("/sleep"), 200)
