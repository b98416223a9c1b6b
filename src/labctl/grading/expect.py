"""Assertions for graders. Each raises a ``Failure`` with what was expected, what came back, a hint,
and the exchange as a ``curl`` line; common mistakes get a message of their own.

    resp = http.post("/links", json={"url": url})
    expect.status(resp, 201)
    body = expect.json_object(resp, {"code": str, "url": str})
    expect.equal(body["url"], url, what="the url in the answer", response=resp)
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httpx

from labctl.errors import Failure, Inconclusive

# Load budgets live in _budgets; re-exported so graders find every assertion under expect.
from labctl.grading._budgets import achieved_rate_at_least as achieved_rate_at_least
from labctl.grading._budgets import error_rate_at_most as error_rate_at_most
from labctl.grading._budgets import p99_at_most as p99_at_most
from labctl.grading._budgets import schedule_held as schedule_held
from labctl.grading._budgets import within_budget as within_budget
from labctl.grading.http import body_text, exchange, headers_got
from labctl.history import Anomaly

if TYPE_CHECKING:  # grpcio loads only for gRPC labs
    from labctl.grading.grpc import GrpcAnswer

REDIRECTS = (301, 302, 307, 308)


def fail(
    summary: str,
    *,
    expected: object = None,
    got: object = None,
    hint: str = "",
    response: httpx.Response | GrpcAnswer | None = None,
) -> Failure:
    """A ``Failure`` ready to raise; ``expected``/``got`` of None are left out. ``response``
    (an HTTP response, or a gRPC answer) is shown as the line that reproduces it."""
    fields: dict[str, Any] = {"hint": hint}
    if expected is not None:
        fields["expected"] = expected
    if got is not None:
        fields["got"] = got
    if isinstance(response, httpx.Response):
        fields["exchanges"] = (exchange(response),)
    elif response is not None:
        fields["exchanges"] = (response.exchange,)
    return Failure(summary, **fields)


def inconclusive(summary: str, *, details: str = "") -> Inconclusive:
    """An ``Inconclusive`` ready to raise: no fair verdict (the machine, not the service)."""
    return Inconclusive(summary, details=details)


def no_anomalies(anomalies: Sequence[Anomaly], *, what: str, hint: str = "") -> None:
    """A history checker found nothing: else a failure naming the first anomaly, with the
    operations that show it (and how many other anomalies there were)."""
    if not anomalies:
        return
    first = anomalies[0]
    more = len(anomalies) - 1
    summary = f"{what}: {first.message}"
    if more:
        summary += f" ({more} more {'anomaly' if more == 1 else 'anomalies'} of this history)"
    raise fail(
        summary, expected=f"no {first.rule} anomaly", got="\n".join(first.excerpt()), hint=hint
    )


def grpc_status(answer: GrpcAnswer, expected: str | Collection[str], *, hint: str = "") -> None:
    """The call ended with gRPC status ``expected`` (a name such as ``"INVALID_ARGUMENT"``, or
    several); the failure shows the call as a ``grpcurl`` line."""
    allowed = (expected,) if isinstance(expected, str) else tuple(expected)
    if answer.code.name in allowed:
        return
    got = answer.code.name + (f": {answer.details}" if answer.details else "")
    if answer.ok:
        got += f", reply: {answer.exchange.body}"
    raise Failure(
        f"{answer.method} answered {answer.code.name}",
        expected=" or ".join(allowed),
        got=got,
        hint=hint or _grpc_hint(answer, allowed),
        exchanges=(answer.exchange,),
    )


def grpc_ok(answer: GrpcAnswer, *, hint: str = "") -> Any:
    """The call succeeded; returns its reply message."""
    grpc_status(answer, "OK", hint=hint)
    return answer.reply


def _grpc_hint(answer: GrpcAnswer, allowed: tuple[str, ...]) -> str:
    code = answer.code.name
    if code == "UNIMPLEMENTED":
        return "the method is not served: check the package, service and method names"
    if code == "UNKNOWN":
        return "your handler raised an exception: its log lines below show where"
    if code == "DEADLINE_EXCEEDED":
        return "no answer in time: something in the handler is waiting"
    if code == "OK" and all(a != "OK" for a in allowed):
        return "this request must be refused with the status named above"
    return ""


def status(response: httpx.Response, expected: int | Collection[int], *, hint: str = "") -> None:
    """The answer's status is ``expected`` (or one of them)."""
    allowed = (expected,) if isinstance(expected, int) else tuple(expected)
    if response.status_code in allowed:
        return
    request = response.request
    raise fail(
        f"{request.method} {_path(request)} answered {response.status_code}",
        expected=" or ".join(_status_name(s) for s in allowed),
        got=_answer(response),
        hint=hint or _status_hint(response, allowed),
        response=response,
    )


def json_body(response: httpx.Response, *, hint: str = "") -> Any:
    """The answer's body parsed as JSON."""
    try:
        return json.loads(response.content)
    except ValueError:
        raise fail(
            f"{response.request.method} {_path(response.request)}: the body is not JSON",
            expected="a JSON body",
            got=body_text(response, 200) or "(an empty body)",
            hint=hint or "send the body with json.dumps (or your framework's JSON response)",
            response=response,
        ) from None


def json_object(response: httpx.Response, fields: Mapping[str, type | tuple[type, ...]]) -> Any:
    """The body is a JSON object holding ``fields`` with those types; returns the object."""
    body = json_body(response)
    where = f"{response.request.method} {_path(response.request)}"
    if not isinstance(body, dict):
        raise fail(
            f"{where}: the body is not a JSON object",
            expected="{...}",
            got=body_text(response, 200),
            response=response,
        )
    for name, kind in fields.items():
        if name not in body:
            raise fail(
                f"{where}: the JSON body has no {name!r} field",
                expected=f"a field {name!r}",
                got=body_text(response, 200),
                response=response,
            )
        if not isinstance(body[name], kind) or (kind is int and isinstance(body[name], bool)):
            raise fail(
                f"{where}: field {name!r} has the wrong type",
                expected=_type_name(kind),
                got=f"{body[name]!r}",
                response=response,
            )
    return body


def error_body(response: httpx.Response) -> None:
    """An error answer carries a JSON body ``{"error": "..."}``."""
    body = json_body(
        response, hint='errors answer with a JSON body like {"error": "what was wrong"}'
    )
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        raise fail(
            f"{response.request.method} {_path(response.request)}: the error body has no "
            "'error' string",
            expected='{"error": "..."}',
            got=body_text(response, 200),
            response=response,
        )


def equal(
    got: object,
    expected: object,
    *,
    what: str,
    response: httpx.Response | GrpcAnswer | None = None,
    hint: str = "",
) -> None:
    if got != expected:
        raise fail(f"{what} is wrong", expected=expected, got=got, hint=hint, response=response)


def matches(
    value: str, pattern: str, *, what: str, response: httpx.Response | None = None, hint: str = ""
) -> None:
    if not re.fullmatch(pattern, value):
        raise fail(
            f"{what} does not match {pattern}",
            expected=f"a value matching {pattern}",
            got=value,
            hint=hint,
            response=response,
        )


def redirect(response: httpx.Response, location: str) -> None:
    """The answer redirects to ``location``, byte for byte (UTF-8 for non-ASCII)."""
    status(response, REDIRECTS)
    raw = [v for k, v in response.headers.raw if k.lower() == b"location"]
    if len(raw) != 1:
        raise fail(
            f"GET {_path(response.request)}: the redirect has {len(raw)} Location headers",
            expected="exactly one Location header",
            got=_headers(response),
            response=response,
        )
    if raw[0] != location.encode("utf-8"):
        raise fail(
            f"GET {_path(response.request)}: Location is not the URL that was shortened",
            expected=location,
            got=raw[0].decode("utf-8", "backslashreplace"),
            hint=_location_hint(location, raw[0]),
            response=response,
        )


def _location_hint(expected: str, got: bytes) -> str:
    text = got.decode("utf-8", "replace")
    if text.lower() == expected.lower() and text != expected:
        return "the case changed: store and return the URL exactly as it was sent"
    if expected.split("#")[0] == text:
        return "the #fragment was dropped: keep the URL exactly as sent, fragment included"
    if expected.split("?")[0] == text.split("?")[0]:
        return "the query string changed: do not parse and rebuild the URL, return it as sent"
    if any(ord(c) > 127 for c in expected) and got != expected.encode("utf-8"):
        return (
            "non-ASCII characters were changed: send the URL's UTF-8 bytes in Location "
            "as they were sent, without re-encoding (no punycode, no percent-escaping)"
        )
    return "redirect to exactly the URL that was shortened: do not normalise or re-encode it"


def _status_hint(response: httpx.Response, allowed: tuple[int, ...]) -> str:
    got = response.status_code
    if set(allowed) <= set(REDIRECTS) and got == 200:
        return (
            "the redirect answered 200 with a body; a redirect is a 301/302/307/308 "
            "with a Location header"
        )
    if got == 500:
        return "your service raised an error: its log lines below show where"
    if got == 404 and 404 not in allowed:
        return "no route answered: check the method and the path"
    if got == 405:
        return "the route exists but not for this method"
    if 200 <= got < 300 and all(a >= 400 for a in allowed):
        return "this input must be rejected: validate it before storing anything"
    return ""


def _answer(response: httpx.Response) -> str:
    body = body_text(response, 200)
    return f"{_status_name(response.status_code)}" + (f", body: {body}" if body else "")


def _headers(response: httpx.Response) -> str:
    return "; ".join(f"{name}: {value}" for name, value in headers_got(response))


def _status_name(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "an object",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _path(request: httpx.Request) -> str:
    return request.url.raw_path.decode("ascii", "replace")
