"""The bank the learner's service charges: the handler of the lab's ``[upstreams.bank]`` stub.

``POST /charges`` with an ``Idempotency-Key`` header and ``{"amount", "currency", "source"}``
executes a charge (201 ``{"charge_id": "ch_...", "status": "succeeded"}``) or declines the card
``tok_declined`` (402 ``{"error": "card_declined"}``). A key the bank has seen gets the first
answer again, without a new charge, whatever the body. ``charges`` is the ledger graders count.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass

from labctl.grading import Reply, StubRequest

CURRENCY = re.compile(r"[A-Z]{3}")
DECLINED = "tok_declined"


@dataclass(frozen=True)
class Charge:
    """One executed charge: money moved."""

    id: str
    key: str
    amount: int
    currency: str
    source: str


class Bank:
    def __init__(self) -> None:
        self.charges: list[Charge] = []
        self._answers: dict[str, Reply] = {}  # Idempotency-Key -> the first answer
        self._lock = threading.Lock()

    def __call__(self, request: StubRequest) -> Reply:
        if (request.method, request.path) != ("POST", "/charges"):
            return Reply.json(404, {"error": f"no route for {request.method} {request.path}"})
        key = request.header("Idempotency-Key")
        if not key:
            return Reply.json(400, {"error": "send an Idempotency-Key header"})
        body, problem = _parse(request.body)
        if problem:
            return Reply.json(400, {"error": problem})
        with self._lock:
            if key in self._answers:
                first = self._answers[key]
                return Reply(
                    first.status, first.body, (*first.headers, ("Idempotent-Replayed", "true"))
                )
            reply = self._execute(key, body)
            self._answers[key] = reply
            return reply

    def _execute(self, key: str, body: dict[str, object]) -> Reply:
        if body["source"] == DECLINED:
            return Reply.json(402, {"error": "card_declined"})
        charge = Charge(
            id=f"ch_{secrets.token_hex(12)}",
            key=key,
            amount=int(str(body["amount"])),  # validated: a positive int
            currency=str(body["currency"]),
            source=str(body["source"]),
        )
        self.charges.append(charge)
        return Reply.json(201, {"charge_id": charge.id, "status": "succeeded"})

    def charges_from(self, source: str) -> list[Charge]:
        """The charges executed on ``source`` (graders give every check its own sources)."""
        with self._lock:
            return [c for c in self.charges if c.source == source]

    def ledger(self) -> list[Charge]:
        with self._lock:
            return list(self.charges)


def _parse(raw: bytes) -> tuple[dict[str, object], str]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {}, "send a JSON body"
    if not isinstance(body, dict):
        return {}, "send a JSON object"
    amount, currency, source = body.get("amount"), body.get("currency"), body.get("source")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return body, "amount must be a positive integer (minor units)"
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        return body, "currency must be three upper-case letters"
    if not isinstance(source, str) or not source:
        return body, "source must be a non-empty string"
    return body, ""
