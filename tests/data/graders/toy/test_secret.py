from __future__ import annotations

from labctl.grading import expect, hidden, stage

pytestmark = stage("secret")


@hidden
def test_secret_check() -> None:
    """A hidden check"""
    expect.equal("the-secret-answer", "something else", what="the secret")
