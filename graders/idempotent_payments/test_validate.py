"""Stage `validate`: a missing or malformed Idempotency-Key and an invalid body answer 400 with
an error, and the bank is never called."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from labctl.grading import Http, Upstream, expect, points, stage

from ._support import new_order

pytestmark = stage("validate")

# Bytes, sent as they are: httpx would refuse to encode a non-ASCII header value given as text.
BAD_KEYS: dict[str, bytes | None] = {
    "missing": None,
    "empty": b"",
    "256-characters": b"k" * 256,
    "with-a-space": b"order 42",
    "non-ascii": "clé-42".encode(),
}

BAD_BODIES: dict[str, Any] = {
    "not-json": b"amount=100&currency=EUR",
    "a-list": [100, "EUR", "tok_visa"],
    "no-amount": {"currency": "EUR", "source": "tok_visa"},
    "amount-zero": {"amount": 0, "currency": "EUR", "source": "tok_visa"},
    "amount-negative": {"amount": -500, "currency": "EUR", "source": "tok_visa"},
    "amount-decimal": {"amount": 10.5, "currency": "EUR", "source": "tok_visa"},
    "amount-string": {"amount": "100", "currency": "EUR", "source": "tok_visa"},
    "amount-true": {"amount": True, "currency": "EUR", "source": "tok_visa"},
    "currency-lower-case": {"amount": 100, "currency": "eur", "source": "tok_visa"},
    "currency-four-letters": {"amount": 100, "currency": "EURO", "source": "tok_visa"},
    "no-source": {"amount": 100, "currency": "EUR"},
    "source-empty": {"amount": 100, "currency": "EUR", "source": ""},
}


def _expect_rejected(resp: httpx.Response, bank_stub: Upstream, mark: int) -> None:
    expect.status(resp, 400, hint="reject the request before anything is stored or charged")
    expect.error_body(resp)
    calls = len(bank_stub.received(mark))
    expect.equal(
        calls, 0, what="calls to the bank", response=resp, hint="validate before calling the bank"
    )


@points(1)
@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_rejects_a_bad_key(
    http: Http, bank_stub: Upstream, rng: random.Random, key: bytes | None
) -> None:
    """A missing key, or one that is not 1-255 visible ASCII characters, answers 400"""
    mark = bank_stub.mark()
    headers = {} if key is None else {"Idempotency-Key": key}
    resp = http.request("POST", "/payments", json=new_order(rng), headers=headers)
    _expect_rejected(resp, bank_stub, mark)


@points(1)
@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_rejects_a_bad_body(http: Http, bank_stub: Upstream, rng: random.Random, body: Any) -> None:
    """A body that is not a valid payment request answers 400"""
    mark = bank_stub.mark()
    headers = {"Idempotency-Key": f"key-{rng.randrange(10**12)}"}
    if isinstance(body, bytes):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        resp = http.post("/payments", content=body, headers=headers)
    else:
        resp = http.post("/payments", json=body, headers=headers)
    _expect_rejected(resp, bank_stub, mark)
