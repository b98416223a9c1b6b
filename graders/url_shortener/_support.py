"""Flows the url-shortener stages repeat: make a URL, shorten it, follow it, read its stats."""

from __future__ import annotations

import random
import string
import time
from typing import Any

from labctl.grading import Http, expect

CODE = r"[0-9A-Za-z]{1,16}"
ALPHABET = string.ascii_letters + string.digits


def token(rng: random.Random, n: int = 10) -> str:
    return "".join(rng.choices(ALPHABET, k=n))


def new_url(rng: random.Random, path: str = "page") -> str:
    """A URL no other check shortens, realistic enough to catch careless parsing."""
    return f"https://example.com/{path}/{token(rng)}?ref={token(rng, 4)}"


def shorten(http: Http, url: str, alias: str | None = None) -> str:
    """POST /links and check the 201 answer; returns the code."""
    body: dict[str, Any] = {"url": url}
    if alias is not None:
        body["alias"] = alias
    resp = http.post("/links", json=body)
    expect.status(resp, 201)
    link = expect.json_object(resp, {"code": str, "url": str})
    expect.matches(
        link["code"],
        CODE if alias is None else r"[A-Za-z0-9_-]{3,32}",
        what="the code",
        response=resp,
    )
    expect.equal(
        link["url"],
        url,
        what="the url in the answer",
        response=resp,
        hint="answer with the URL exactly as it was sent",
    )
    return str(link["code"])


def follow(http: Http, code: str, url: str) -> None:
    """GET /{code} redirects to exactly ``url``."""
    expect.redirect(http.get(f"/{code}"), url)


def clicks(http: Http, code: str, url: str) -> int:
    """GET /links/{code}/stats, checked; returns the click count."""
    resp = http.get(f"/links/{code}/stats")
    expect.status(resp, 200)
    stats = expect.json_object(resp, {"code": str, "url": str, "clicks": int})
    expect.equal(stats["code"], code, what="the code in the stats", response=resp)
    expect.equal(stats["url"], url, what="the url in the stats", response=resp)
    return int(stats["clicks"])


def clicks_settle(http: Http, code: str, url: str, expected: int, within_s: float) -> int:
    """The click count, polled until it equals ``expected`` or ``within_s`` has passed."""
    deadline = time.monotonic() + within_s
    while True:
        count = clicks(http, code, url)
        if count == expected or time.monotonic() >= deadline:
            return count
        time.sleep(0.05)
