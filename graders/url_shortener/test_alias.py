"""Stage `alias`: a link may ask for its own code; taken and malformed aliases are refused."""

from __future__ import annotations

import random

import pytest

from labctl.grading import Http, expect, points, stage

from ._support import follow, new_url, shorten, token

pytestmark = stage("alias")


@points(3)
def test_creates_a_link_with_an_alias(http: Http, rng: random.Random) -> None:
    """{"url": U, "alias": A} answers 201 with code A, and /A redirects to U"""
    url, alias = new_url(rng, "alias"), f"my_link-{token(rng, 8)}"
    expect.equal(
        shorten(http, url, alias=alias),
        alias,
        what="the code of an aliased link",
        hint="when an alias is given, it is the code",
    )
    follow(http, alias, url)


@points(3)
def test_taken_alias_is_409(http: Http, rng: random.Random) -> None:
    """An alias that is taken answers 409 and the first link keeps it"""
    first, second, alias = new_url(rng, "first"), new_url(rng, "second"), f"taken-{token(rng)}"
    shorten(http, first, alias=alias)
    resp = http.post("/links", json={"url": second, "alias": alias})
    expect.status(
        resp,
        409,
        hint="an alias already in use is a conflict: answer 409 and keep "
        "the existing link unchanged",
    )
    expect.error_body(resp)
    follow(http, alias, first)


@points(2)
@pytest.mark.parametrize(
    "alias",
    ["ab", "x" * 33, "has space", "slash/es", "dots.here", "ünïcode", "", 42],
    ids=["too-short", "too-long", "space", "slash", "dot", "non-ascii", "empty", "number"],
)
def test_rejects_invalid_alias(http: Http, rng: random.Random, alias: object) -> None:
    """An alias not matching [A-Za-z0-9_-]{3,32} is rejected with 400"""
    resp = http.post("/links", json={"url": new_url(rng, "bad-alias"), "alias": alias})
    expect.status(
        resp,
        400,
        hint="validate the alias against [A-Za-z0-9_-]{3,32} (the whole "
        "string) before storing anything",
    )
    expect.error_body(resp)


@points(2)
@pytest.mark.parametrize("length", [3, 32])
def test_accepts_alias_at_length_bounds(http: Http, rng: random.Random, length: int) -> None:
    """Aliases of 3 and of 32 characters are accepted"""
    alias = ("_-" + token(rng, 40))[:length]
    url = new_url(rng, "bounds")
    expect.equal(shorten(http, url, alias=alias), alias, what="the code of an aliased link")
    follow(http, alias, url)


@points(2)
def test_aliases_are_case_sensitive(http: Http, rng: random.Random) -> None:
    """An alias in another case is a different code: it is not found"""
    alias = f"CaseTest-{token(rng, 6).upper()}"
    shorten(http, new_url(rng, "case"), alias=alias)
    expect.status(
        http.get(f"/{alias.lower()}"), 404, hint="codes are case sensitive: compare them exactly"
    )
