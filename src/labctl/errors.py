"""Every error labctl raises: two families, and the one outcome that is neither (Inconclusive).

::

    LabctlError                  the harness's or the operator's problem; never the learner's code
    ├── ConfigError              exit 2: fix a file or a flag, then run again
    │   ├── LabError             a lab.toml or grader pack is invalid or missing
    │   └── SubmissionError      the learner's labctl.toml or --run/--path is invalid
    └── SetupError               exit 3: the environment could not be brought up
        ├── DependencyError      Postgres, Redis, ... could not be found or started
        ├── ServiceError         the learner's service could not be built or never became ready
        └── LoadError            the load generator's processes could not start or report

    Inconclusive(Exception)      exit 4: no fair verdict (the load generator fell behind)

    Failure(AssertionError)      exit 1: the learner's service did something wrong
                                 (expected, got, hint, and the exchanges that show it)

A ``LabctlError`` carries a ``hint`` that says what to do; a ``Failure`` carries what was
expected, what came back, a hint, and the HTTP exchanges (each reproducible as a ``curl`` line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class LabctlError(Exception):
    """Base of the harness's own errors. ``exit_code`` is what ``labctl`` exits with."""

    exit_code = 2
    log_source = "labctl"  # whose lines ``log`` holds, shown as their prefix

    def __init__(
        self, message: str, *, hint: str = "", log: Sequence[str] = (), log_source: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.log = tuple(log)
        if log_source:
            self.log_source = log_source

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(LabctlError):
    """A file or a flag is wrong; exit 2."""

    exit_code = 2


class LabError(ConfigError):
    """A lab definition (lab.toml, its graders) is invalid or missing."""


class SubmissionError(ConfigError):
    """The learner's labctl.toml or the flags that describe the submission are invalid."""


class SetupError(LabctlError):
    """The environment could not be brought up; exit 3."""

    exit_code = 3


class DependencyError(SetupError):
    """A dependency (Postgres, Redis, ...) could not be found, started or reached."""

    log_source = "dependency"


class ServiceError(SetupError):
    """The learner's service failed to build, exited early, or never became ready."""

    log_source = "your service"


class LoadError(SetupError):
    """The load generator's processes could not start, connect or report back."""

    log_source = "load generator"


class Inconclusive(Exception):
    """No fair verdict can be given: the load generator could not hold its schedule.

    Never a ``Failure``: the learner's service is not at fault. The check is ``inconclusive``.
    """

    def __init__(self, message: str, *, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and what came back (``status`` is None when nothing came back)."""

    curl: str
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    error: str = ""


_UNSET = object()


@dataclass(eq=False)
class Failure(AssertionError):
    """The learner's service did something wrong. Raised by the ``expect`` helpers."""

    summary: str
    expected: object = _UNSET
    got: object = _UNSET
    hint: str = ""
    exchanges: Sequence[Exchange] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    @property
    def has_expected(self) -> bool:
        return self.expected is not _UNSET

    @property
    def has_got(self) -> bool:
        return self.got is not _UNSET

    def __str__(self) -> str:
        lines = [self.summary]
        if self.has_expected:
            lines.append(f"  expected: {_show(self.expected)}")
        if self.has_got:
            lines.append(f"  got:      {_show(self.got)}")
        if self.hint:
            lines.append(f"  hint:     {self.hint}")
        return "\n".join(lines)


def _show(value: object) -> str:
    return value if isinstance(value, str) else repr(value)
