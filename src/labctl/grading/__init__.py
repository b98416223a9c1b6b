"""What a grader imports: markers, the ``expect`` helpers and the types its fixtures have.

    from labctl.grading import expect, points, stage

    pytestmark = stage("shorten")

    @points(2)
    def test_creates_a_link(http):
        \"\"\"POST /links answers 201 with the code and the URL\"\"\"
        expect.status(http.post("/links", json={"url": "https://example.com/"}), 201)

Fixtures: ``service`` (a ``Service``: replica 0 of the learner's running service: ``url``,
``address``, ``terminate()``, ``kill()``, ``restart()``, ``start()``, ``pause()``,
``identity()``; ``service.replicas`` lists every replica), ``http`` (an ``Http`` client on it),
``grpc`` (a ``Grpc`` client on it, by method name; ``grpc_replicas`` one per replica;
``grpc_channel`` a plain channel; ``protos`` the lab's compiled .proto files), ``deps`` (name ->
``DependencyHandle``), ``upstreams`` (name -> ``Upstream`` stub: what it received, and
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
from labctl.backends import DependencyHandle
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
from labctl.services import Identity, Service
from labctl.upstreams import Reply, StubRequest, Upstream

F = TypeVar("F", bound=Callable[..., object])

_GRPC = ("Grpc", "GrpcAnswer", "Protos")  # grpcio loads only when a gRPC lab's grader asks


def __getattr__(name: str) -> object:
    if name in _GRPC:
        from labctl.grading import grpc

        return getattr(grpc, name)
    raise AttributeError(f"module 'labctl.grading' has no attribute {name!r}")


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
    "DependencyHandle",
    "Failure",
    "Fault",
    "Faults",
    "Grpc",
    "GrpcAnswer",
    "History",
    "Http",
    "Identity",
    "Lab",
    "Load",
    "LoadReport",
    "Op",
    "Protos",
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
