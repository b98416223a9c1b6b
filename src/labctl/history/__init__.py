"""Histories: every operation the graders' clients performed, when, and how it ended; and the
checkers that judge them, as pure functions over that data.

An operation is recorded when it is invoked and again when it completes, as in Jepsen:
``ok`` (it happened), ``fail`` (it certainly did not happen) or ``info`` (the answer never
came: it may or may not have happened, and checkers must allow both)::

    history = History()
    op = history.invoke("client-3", "transfer", {"from": a, "to": b, "amount": 5})
    ...                                  # send it
    op.ok({"id": "t1"})                  # or op.fail({"status": 422}), or op.info("timed out")

``history.ops()`` is the frozen record: ``Op``s ordered by invocation, times in seconds since
the history began (client-side, from one monotonic clock). A checker takes ops and returns the
``Anomaly``s it found; each names the rule, says what broke it in one sentence and carries the
smallest piece of history that shows it, which ``Anomaly.excerpt()`` prints. The grader turns
anomalies into a failure with ``expect.no_anomalies``.

Checkers per lab topic live beside this module (``labctl.history.bank``, ...); what they share
is here.
"""

from labctl.history import bank
from labctl.history._ops import (
    Anomaly,
    History,
    Op,
    Outcome,
    Pending,
    around,
    overlapping,
)

__all__ = [
    "Anomaly",
    "History",
    "Op",
    "Outcome",
    "Pending",
    "around",
    "bank",
    "overlapping",
]
