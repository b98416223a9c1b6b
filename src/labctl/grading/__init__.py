"""What a grader imports: markers, the ``expect`` helpers and the types its fixtures have.

    from labctl.grading import expect, points, stage

    pytestmark = stage("shorten")

    @points(2)
    def test_creates_a_link(http):
        \"\"\"POST /links answers 201 with the code and the URL\"\"\"
        expect.status(http.post("/links", json={"url": "https://example.com/"}), 201)

Fixtures: ``service`` (the learner's running service: ``url``, ``terminate()``, ``kill()``,
``restart()``, ``start()``), ``http`` (an ``Http`` client on it), ``deps`` (name -> dependency
handle), ``upstreams`` (name -> ``labctl.upstreams.Upstream`` stub: what it received, and
misbehaviour for the current check), ``rng`` (a ``random.Random`` seeded per check), ``seed``,
``lab``, ``load`` (a ``Load``: ``load.run(Scenario.get(...), budget=lab.budget("latency"))`` ->
``LoadReport``), ``faults`` (a ``Faults``: dependency, proxy and service faults plus steady
traffic, all undone when the check ends), ``proxies`` (name -> the dependency's fault ``Proxy``).
``toxics`` builds proxy faults: ``faults.toxic("redis", toxics.timeout())``. ``Window`` is what
steady traffic saw in a span of the check (``traffic.window(start_s, end_s)``). ``History``
records operations (invoke, then ok / fail / info) for the checkers in ``history``;
``expect.no_anomalies`` fails with the first anomaly they found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from labctl import history
from labctl.errors import Failure
from labctl.faults import Fault, Faults
from labctl.faults import proxy as toxics
from labctl.faults.traffic import Window
from labctl.grading import expect
from labctl.grading.http import Http
from labctl.grading.load import Load
from labctl.history import Anomaly, History, Op
from labctl.load import LoadReport, Scenario
from labctl.model.lab import Budget, Lab
from labctl.services import Service
from labctl.upstreams import Reply, StubRequest, Upstream

F = TypeVar("F", bound=Callable[..., object])


# Built on use, not at import: the markers exist once the labctl plugin registered them.
def stage(slug: str) -> pytest.MarkDecorator:
    """Mark a grader module's checks (``pytestmark = stage("shorten")``) as one stage's."""
    return pytest.mark.stage(slug)


def points(n: int) -> pytest.MarkDecorator:
    """What a check is worth (default 1)."""
    return pytest.mark.points(n)


def hidden(check: F) -> F:
    """The learner sees only this check's title and status."""
    marked: F = pytest.mark.hidden(check)
    return marked


__all__ = [
    "Anomaly",
    "Budget",
    "Failure",
    "Fault",
    "Faults",
    "History",
    "Http",
    "Lab",
    "Load",
    "LoadReport",
    "Op",
    "Reply",
    "Scenario",
    "Service",
    "StubRequest",
    "Upstream",
    "Window",
    "expect",
    "hidden",
    "history",
    "points",
    "stage",
    "toxics",
]
