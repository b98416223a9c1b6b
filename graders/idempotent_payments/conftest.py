"""The ``bank`` fixture: the lab's stub bank (its ledger) and its upstream handle (behaviour)."""

from __future__ import annotations

import pytest

from labctl.grading import Upstream

from ._support import bank_of
from .bank import Bank


@pytest.fixture
def bank(upstreams: dict[str, Upstream]) -> Bank:
    return bank_of(upstreams)


@pytest.fixture
def bank_stub(upstreams: dict[str, Upstream]) -> Upstream:
    return upstreams["bank"]
