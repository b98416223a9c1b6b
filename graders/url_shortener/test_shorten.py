"""Stage `shorten`: POST /links creates short links and rejects bad input with 400."""

from __future__ import annotations

import random
from typing import Any

import pytest

from labctl.grading import Http, expect, points, stage

from ._support import new_url, shorten

pytestmark = stage("shorten")

MAX_URL = 2048


def _rejected(http: Http, body: Any, why: str) -> None:
    resp = http.post("/links", json=body)
    expect.status(resp, 400, hint=f'{why}: answer 400 with a JSON body {{"error": "..."}}')
    expect.error_body(resp)


def _url_of_length(n: int) -> str:
    base = "https://example.com/"
    return base + "a" * (n - len(base))


@points(4)
def test_creates_a_link(http: Http, rng: random.Random) -> None:
    """POST /links answers 201 with the code and the URL"""
    shorten(http, new_url(rng))


@points(2)
def test_rejects_missing_url(http: Http) -> None:
    """A body without "url" is rejected with 400"""
    _rejected(http, {"link": "https://example.com/"}, "the body has no url field")


@points(2)
@pytest.mark.parametrize(
    "value",
    [42, None, ["https://example.com/"], {"href": "https://x.io"}],
    ids=["number", "null", "list", "object"],
)
def test_rejects_non_string_url(http: Http, value: object) -> None:
    """A url that is not a string is rejected with 400"""
    _rejected(http, {"url": value}, "url must be a string")


@points(3)
@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://example.com/file.txt",
        "file:///etc/passwd",
        "mailto:someone@example.com",
        "example.com/no-scheme",
    ],
    ids=["javascript", "ftp", "file", "mailto", "no-scheme"],
)
def test_rejects_non_http_scheme(http: Http, url: str) -> None:
    """Only http and https URLs are accepted"""
    _rejected(http, {"url": url}, "only http:// and https:// URLs may be shortened")


@points(2)
@pytest.mark.parametrize(
    "url",
    ["http://", "https://?q=1", "http://:8080/path"],
    ids=["empty", "query-only", "port-only"],
)
def test_rejects_url_without_host(http: Http, url: str) -> None:
    """A URL without a host is rejected with 400"""
    _rejected(http, {"url": url}, "a URL needs a host")


@points(2)
def test_accepts_url_of_2048_characters(http: Http) -> None:
    """A URL of exactly 2048 characters is accepted"""
    shorten(http, _url_of_length(MAX_URL))


@points(2)
def test_rejects_url_over_2048_characters(http: Http) -> None:
    """A URL of 2049 characters is rejected with 400"""
    _rejected(http, {"url": _url_of_length(MAX_URL + 1)}, "URLs are at most 2048 characters")


@points(2)
@pytest.mark.parametrize(
    "body",
    [b"url=https://example.com/", b'{"url": "https://exa', b""],
    ids=["form-encoded", "truncated-json", "empty"],
)
def test_rejects_body_that_is_not_json(http: Http, body: bytes) -> None:
    """A body that is not JSON is rejected with 400, not a crash"""
    resp = http.post("/links", content=body, headers={"Content-Type": "application/json"})
    expect.status(resp, 400, hint="parse the body defensively: invalid JSON is the client's error")
    expect.error_body(resp)
