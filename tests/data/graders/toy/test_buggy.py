from __future__ import annotations

from labctl.grading import Http, stage

pytestmark = stage("buggy")


def test_grader_bug(http: Http) -> None:
    """A grader with a bug is an error, never the learner's failure"""
    http.get("/ok")
    {}["missing"]  # the bug
