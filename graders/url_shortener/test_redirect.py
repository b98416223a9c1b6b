"""Stage `redirect`: GET /{code} redirects to exactly the URL that was shortened."""

from __future__ import annotations

import random

import pytest

from labctl.grading import Http, expect, points, stage

from ._support import follow, new_url, shorten, token

pytestmark = stage("redirect")

DISTINCT = 1000


@points(4)
def test_redirects_to_the_url(http: Http, rng: random.Random) -> None:
    """GET /{code} answers a redirect whose Location is the URL"""
    url = new_url(rng)
    follow(http, shorten(http, url), url)


@points(2)
def test_keeps_query_and_fragment(http: Http, rng: random.Random) -> None:
    """The query string and the #fragment are kept as sent"""
    url = f"https://example.com/search?q=a+b&lang=en&empty=&x=1&id={token(rng)}#section-2"
    follow(http, shorten(http, url), url)


@points(2)
def test_keeps_percent_escapes(http: Http, rng: random.Random) -> None:
    """Percent-escapes are kept exactly (not decoded, not re-encoded, case kept)"""
    url = f"https://example.com/a%2Fb/%E2%82%AC/{token(rng)}?path=%7Euser&q=%2f%2F"
    follow(http, shorten(http, url), url)


@points(2)
def test_keeps_non_ascii_host_and_path(http: Http, rng: random.Random) -> None:
    """A non-ASCII host and path come back as the same UTF-8 bytes"""
    url = f"http://bücher.example/straße/{token(rng)}?q=ä#übersicht"
    follow(http, shorten(http, url), url)


@points(2)
def test_unknown_code_is_404(http: Http, rng: random.Random) -> None:
    """GET /{code} for a code that was never created answers 404"""
    expect.status(
        http.get(f"/{token(rng, 14)}"), 404, hint="an unknown code is not found: answer 404"
    )


@points(2)
def test_codes_are_case_sensitive(http: Http, rng: random.Random) -> None:
    """A code with its letters' case swapped is a different code"""
    for _ in range(50):
        url = new_url(rng, "case")
        code = shorten(http, url)
        if code.swapcase() != code:
            break
    else:
        pytest.skip("50 generated codes had no letters: nothing to swap")
    resp = http.get(f"/{code.swapcase()}")
    location = resp.headers.get("location")
    if resp.status_code in expect.REDIRECTS and location == url:
        raise expect.fail(
            f"GET /{code.swapcase()} redirects to the URL of /{code}",
            expected=f"404 (or another link): {code.swapcase()!r} is not {code!r}",
            got=f"{resp.status_code} to {location}",
            hint="codes are case sensitive: do not lower-case them, and use a case-sensitive "
            "comparison (in MySQL, a binary collation)",
            response=resp,
        )


@points(6)
def test_thousand_urls_get_distinct_codes(http: Http, rng: random.Random) -> None:
    """1,000 different URLs get 1,000 distinct codes, each redirecting to its own URL"""
    urls = [new_url(rng, f"bulk/{i}") for i in range(DISTINCT)]
    codes = http.concurrently([lambda h, u=u: shorten(h, u) for u in urls], clients=8)
    repeated = len(codes) - len(set(codes))
    if repeated:
        raise expect.fail(
            f"{DISTINCT} different URLs got only {len(set(codes))} distinct codes",
            expected=f"{DISTINCT} distinct codes",
            got=f"{repeated} codes given twice",
            hint="generate codes from a unique sequence, or retry on a unique-constraint "
            "violation; never hand out a code that is taken",
        )
    http.concurrently(
        [lambda h, c=c, u=u: follow(h, c, u) for c, u in zip(codes, urls, strict=True)], clients=8
    )
