"""The graders' HTTP client: httpx on the learner's service, with failures a learner can act on.

Every request that gets no answer raises a ``Failure`` carrying the request as a ``curl`` line and
what went wrong (refused, timed out, cut off), including whether the service process has died.
``exchange()`` turns a response into the ``Exchange`` that failures show.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import httpx

from labctl.errors import Exchange, Failure
from labctl.grading._transport import StdlibTransport

T = TypeVar("T")
BODY_SHOWN = 500
_QUIET_HEADERS = {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}


class ServiceState(Protocol):
    @property
    def running(self) -> bool: ...

    @property
    def returncode(self) -> int | None: ...


class Http:
    """HTTP requests to the service, as ``httpx.Request``/``httpx.Response`` objects.

    Requests go straight to a keep-alive transport, without ``httpx.Client``: nothing here needs
    its cookies, auth, redirects or proxies, and skipping them saves a third of the grader's CPU
    per request (graders send thousands). A request that gets no answer raises a ``Failure``.
    """

    def __init__(
        self, base_url: str, *, timeout_s: float = 5.0, service: ServiceState | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.service = service
        self._timeouts = {
            "connect": timeout_s,
            "read": timeout_s,
            "write": timeout_s,
            "pool": timeout_s,
        }
        self._transport = StdlibTransport()

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """``method`` on ``path`` (which starts with ``/``) with a JSON body or raw ``content``."""
        request = httpx.Request(
            method,
            self.base_url + path,
            json=json,
            content=content,
            headers=headers,
            params=params,
            extensions={"timeout": self._timeouts},
        )
        try:
            response = self._transport.handle_request(request)
            response.read()
        except httpx.TransportError as exc:
            raise self._no_answer(request, exc) from None
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def concurrently(self, tasks: Sequence[Callable[[Http], T]], *, clients: int) -> list[T]:
        """Run ``tasks`` as ``clients`` concurrent clients, each with its own connection, each
        working through its share in order; results come back in the order of ``tasks``."""
        shares = [list(range(i, len(tasks), clients)) for i in range(clients)]

        def client(share: list[int]) -> list[T]:
            with Http(self.base_url, timeout_s=self.timeout_s, service=self.service) as http:
                return [tasks[i](http) for i in share]

        with ThreadPoolExecutor(max_workers=clients) as pool:
            done = {
                i: value
                for share, values in zip(shares, pool.map(client, shares), strict=True)
                for i, value in zip(share, values, strict=True)
            }
        return [done[i] for i in range(len(tasks))]

    def _no_answer(self, request: httpx.Request, exc: httpx.TransportError) -> Failure:
        what = f"{request.method} {request.url.raw_path.decode('ascii', 'replace')}"
        if self.service is not None and not self.service.running:
            return Failure(
                f"{what}: your service is not running (it exited with code "
                f"{self.service.returncode})",
                hint="it crashed or exited: its last log lines are below",
                exchanges=(Exchange(curl_line(request), error=str(exc) or type(exc).__name__),),
            )
        summary, hint = _describe_transport_error(exc, self.timeout_s)
        return Failure(
            f"{what}: {summary}",
            hint=hint,
            exchanges=(Exchange(curl_line(request), error=str(exc) or type(exc).__name__),),
        )


def _describe_transport_error(exc: httpx.TransportError, timeout_s: float) -> tuple[str, str]:
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"no answer within {timeout_s:g} s",
            "a request must not hang: look for a blocking call or a lock in that handler",
        )
    if isinstance(exc, httpx.ConnectError):
        return ("the connection was refused", "is your service still listening on $PORT?")
    if isinstance(exc, httpx.RemoteProtocolError):
        return (
            "the connection closed without a complete HTTP response",
            "the handler may have crashed mid-request: see your service's log below",
        )
    return (f"the request failed: {exc or type(exc).__name__}", "see your service's log below")


def exchange(response: httpx.Response) -> Exchange:
    """The request behind ``response`` as a curl line, with the status, headers and body got."""
    return Exchange(
        curl_line(response.request),
        response.status_code,
        headers_got(response),
        body_text(response),
    )


def headers_got(response: httpx.Response) -> tuple[tuple[str, str], ...]:
    """The answer's headers as sent, values read as UTF-8 (what a learner's service writes)."""
    return tuple(
        (k.decode("latin-1"), v.decode("utf-8", "replace")) for k, v in response.headers.raw
    )


def body_text(response: httpx.Response, limit: int = BODY_SHOWN) -> str:
    text = response.content.decode("utf-8", "replace")
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def curl_line(request: httpx.Request) -> str:
    """A shell command that sends the same request: method, URL, non-default headers, body."""
    parts = ["curl", "-i"]
    if request.method not in ("GET", "POST") or (request.method == "POST" and not request.content):
        parts += ["-X", request.method]
    for name, value in request.headers.raw:
        if name.decode("latin-1").lower() not in _QUIET_HEADERS:
            header = f"{name.decode('latin-1')}: {value.decode('latin-1')}"
            parts += ["-H", shlex.quote(header)]
    if request.content:
        parts += ["--data-binary", _shell_bytes(request.content)]
    parts.append(shlex.quote(str(request.url)))
    return " ".join(parts)


def _shell_bytes(data: bytes) -> str:
    try:
        return shlex.quote(data.decode("utf-8"))
    except UnicodeDecodeError:
        escaped = "".join(
            chr(b) if 32 <= b < 127 and b not in (39, 92) else f"\\x{b:02x}" for b in data
        )
        return f"$'{escaped}'"
