"""The public surface is pinned: graders and users import from labctl and labctl.grading only."""

from __future__ import annotations

import labctl
import labctl.grading


def test_labctl_exports() -> None:
    assert labctl.__all__ == [
        "CheckResult",
        "ConfigError",
        "DependencyError",
        "Failure",
        "LabError",
        "LabctlError",
        "Result",
        "ServiceError",
        "SetupError",
        "StageResult",
        "Status",
        "SubmissionError",
        "__version__",
    ]


def test_grading_exports() -> None:
    assert labctl.grading.__all__ == [
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
    for name in labctl.grading.__all__:
        assert getattr(labctl.grading, name) is not None
