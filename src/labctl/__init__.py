"""labctl: hands-on backend labs, graded against the learner's real running service."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from labctl.errors import (
    ConfigError,
    DependencyError,
    Failure,
    LabctlError,
    LabError,
    ServiceError,
    SetupError,
    SubmissionError,
)
from labctl.results import CheckResult, Result, StageResult, Status

try:
    __version__ = version("labctl")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
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
