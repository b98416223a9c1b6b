"""Stage `health`: the service answers its health check."""

from __future__ import annotations

from labctl.grading import Http, expect, points, stage

pytestmark = stage("health")


@points(2)
def test_healthz_answers_200(http: Http) -> None:
    """GET /healthz answers 200"""
    expect.status(
        http.get("/healthz"),
        200,
        hint="add a GET /healthz route that answers 200 once the service can serve",
    )
