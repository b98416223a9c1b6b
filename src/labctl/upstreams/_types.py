"""The plain data of upstream stubs: a request as a stub received it, a reply, a handler, and
what became of each request. At the bottom of the package: everything else imports it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Handler", "Received", "Reply", "StubRequest"]


@dataclass(frozen=True)
class StubRequest:
    """One request as a stub received it."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError if it is not JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What a stub answers."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        content = (("Content-Type", "application/json"), *headers)
        return cls(status, json.dumps(payload).encode(), content)


class Handler(Protocol):
    def __call__(self, request: StubRequest) -> Reply: ...


@dataclass(frozen=True)
class Received:
    """A request and what became of it: ``answered`` (by the handler), ``injected`` (an error
    the grader programmed, handler not run), ``hung`` (no answer), or ``error`` (the handler
    raised: a bug in the lab's stub). ``executed`` says whether the handler ran."""

    request: StubRequest
    at: float  # time.monotonic() when it arrived
    outcome: str = "pending"
    status: int | None = None
    executed: bool = False
