"""Checkers for a bank's history, as in Jepsen's bank test: money moves between accounts and
must never be created, lost or overdrawn, whatever the concurrency.

The operations (``Op.f``) and what they carry:

- ``"transfer"``: value ``{"from": id, "to": id, "amount": cents, "key": str | None}``;
- ``"withdraw"``: value ``{"account": id, "amount": cents, "key": str | None}``;
- ``"read"``: a snapshot of every account, result ``{id: balance}`` (ok reads only count).

A transfer or withdrawal that is ``ok`` happened exactly once, one that is ``fail`` did not
happen, and one that is ``info`` (no answer) or still pending may have happened or not, at any
time after it was invoked: every checker allows both. Attempts that share an idempotency key
(``key``) are one operation: it happens at most once, exactly once if any attempt was ok.

``accounts`` are the accounts the history is about, with their owners and their balances at
the start; each owner's accounts must all be among them. Every checker is a pure function that
returns the ``Anomaly``s it found, each with the snapshot (or account) that breaks the rule and
the operations concurrent with it. Uncertainty never makes a false alarm: a rule is broken only
when no way of counting the uncertain operations explains what was read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from labctl.history._ops import Anomaly, Op, Outcome, overlapping

TRANSFER = "transfer"
WITHDRAW = "withdraw"
READ = "read"

# Above this spread of possible sums the exact set would be too large to hold: the checker
# falls back to the interval between the smallest and the largest (a weaker check, still sound).
_EXACT_SPREAD = 1 << 22
_SHOWN_TOTALS = 8


@dataclass(frozen=True)
class Account:
    id: str
    owner: str
    balance: int  # at the start of the history, in cents


@dataclass(frozen=True)
class Move:
    """One logical transfer or withdrawal: every attempt of it, and its effect on the accounts."""

    attempts: tuple[Op, ...]
    deltas: Mapping[str, int]  # account id -> change in cents if it happened

    @property
    def happened(self) -> bool | None:
        """True: exactly once; False: never; None: either (no attempt answered ok)."""
        if any(op.outcome is Outcome.OK for op in self.attempts):
            return True
        return None if any(op.outcome.uncertain for op in self.attempts) else False

    @property
    def start_s(self) -> float:
        return min(op.start_s for op in self.attempts)

    def ended_ok_before(self, t: float) -> bool:
        """An attempt was answered ok before ``t``: it had certainly happened by then."""
        return any(op.ok and op.end_s is not None and op.end_s < t for op in self.attempts)


class Sums:
    """Every sum of a subset of some integers: what the uncertain operations can add up to."""

    def __init__(self, values: Iterable[int]) -> None:
        self.values = tuple(v for v in values if v)
        self.low = sum(v for v in self.values if v < 0)
        self.high = sum(v for v in self.values if v > 0)
        self._bits: int | None = None
        if self.high - self.low <= _EXACT_SPREAD:
            bits = 1 << -self.low  # bit i stands for the sum low + i
            for v in self.values:
                bits |= bits << v if v > 0 else bits >> -v
            self._bits = bits

    def __contains__(self, total: int) -> bool:
        if not self.low <= total <= self.high:
            return False
        return self._bits is None or bool(self._bits >> (total - self.low) & 1)

    def shifted(self, base: int, limit: int = _SHOWN_TOTALS) -> str:
        """The possible totals ``base + sum``, as a short list or a range."""
        if self._bits is not None and self._bits.bit_count() <= limit:
            found = [self.low + i for i in range(self._bits.bit_length()) if self._bits >> i & 1]
            return ", ".join(str(base + s) for s in found)
        return f"between {base + self.low} and {base + self.high}"


def moves(ops: Iterable[Op]) -> list[Move]:
    """The history's transfers and withdrawals, attempts with one idempotency key grouped."""
    grouped: dict[tuple[str, str], list[Op]] = defaultdict(list)
    for op in ops:
        if op.f not in (TRANSFER, WITHDRAW):
            continue
        key = op.value.get("key")
        grouped[(op.f, key) if key else (op.f, f"#{op.index}")].append(op)
    return [Move(tuple(attempts), _deltas(attempts[0])) for attempts in grouped.values()]


def check_totals(ops: Sequence[Op], accounts: Iterable[Account]) -> list[Anomaly]:
    """Every snapshot holds every account, and its balances add up to what was deposited less
    what left through the operations before it (each uncertain one counted either way)."""
    known = {a.id: a for a in accounts}
    start = sum(a.balance for a in known.values())
    every = moves(ops)
    anomalies = []
    for read in _reads(ops):
        missing = sorted(set(known) - set(read.result))
        if missing:
            anomalies.append(_missing(read, missing, ops))
            continue
        total = sum(read.result[i] for i in known)
        base, sums = _bounds(every, read, known)
        if total - start - base not in sums:
            anomalies.append(_off_total(read, total, start + base, sums, ops, known))
    return anomalies


def check_owner_rule(ops: Sequence[Op], accounts: Iterable[Account]) -> list[Anomaly]:
    """In every snapshot, the balances of each owner's accounts add up to zero or more."""
    owners: dict[str, list[str]] = defaultdict(list)
    for account in accounts:
        owners[account.owner].append(account.id)
    anomalies = []
    for read in _reads(ops):
        for owner, ids in owners.items():
            held = {i: read.result[i] for i in ids if i in read.result}
            if sum(held.values()) < 0:
                anomalies.append(_overdrawn(read, owner, held, ops))
    return anomalies


def check_final(
    ops: Sequence[Op], accounts: Iterable[Account], final: Mapping[str, int]
) -> list[Anomaly]:
    """Exactly once: each account's final balance is its start plus every operation answered
    ok (once), none answered fail, and each uncertain one either way. An uncertain transfer
    applied by half (debited, never credited) is explained account by account: record the
    final balances as a read too, and ``check_totals`` finds the money missing from it."""
    every = moves(ops)
    anomalies = []
    for account in accounts:
        if account.id not in final:
            anomalies.append(Anomaly("exactly-once", f"account {account.id} is gone at the end"))
            continue
        touching = [m for m in every if account.id in m.deltas]
        applied = sum(m.deltas[account.id] for m in touching if m.happened)
        sums = Sums(m.deltas[account.id] for m in touching if m.happened is None)
        if final[account.id] - account.balance - applied not in sums:
            anomalies.append(_unexplained(account, final[account.id], applied, sums, touching))
    return anomalies


def check(
    ops: Sequence[Op], accounts: Sequence[Account], final: Mapping[str, int] | None = None
) -> list[Anomaly]:
    """Every bank rule: totals and the owner rule in every snapshot, exactly once at the end."""
    found = check_totals(ops, accounts) + check_owner_rule(ops, accounts)
    return found + (check_final(ops, accounts, final) if final is not None else [])


def _deltas(op: Op) -> dict[str, int]:
    amount = int(op.value["amount"])
    if op.f == WITHDRAW:
        return {op.value["account"]: -amount}
    deltas: dict[str, int] = defaultdict(int)
    deltas[op.value["from"]] -= amount
    deltas[op.value["to"]] += amount
    return dict(deltas)


def _reads(ops: Iterable[Op]) -> list[Op]:
    return [op for op in ops if op.f == READ and op.ok and isinstance(op.result, Mapping)]


def _bounds(every: Iterable[Move], read: Op, known: Mapping[str, Account]) -> tuple[int, Sums]:
    """What the operations before ``read`` certainly changed the total by, and what the ones
    that may or may not show in it (concurrent with it, or never answered) can add."""
    base, uncertain = 0, []
    assert read.end_s is not None
    for move in every:
        net = sum(d for i, d in move.deltas.items() if i in known)
        if not net or move.happened is False or move.start_s > read.end_s:
            continue
        if move.happened and move.ended_ok_before(read.start_s):
            base += net
        else:
            uncertain.append(net)
    return base, Sums(uncertain)


def _concurrent(ops: Sequence[Op], read: Op, ids: Iterable[str]) -> tuple[Op, ...]:
    """``read`` and the operations on ``ids`` that overlap it or never got an answer before
    it ended: the ones that could explain (or hide) what it saw."""
    wanted = set(ids)
    assert read.end_s is not None
    near = {op.index for op in overlapping(ops, read.start_s, read.end_s)}
    shown = [read]
    for op in ops:
        if op is read or op.f not in (TRANSFER, WITHDRAW) or not wanted & set(_deltas(op)):
            continue
        lost = op.outcome.uncertain and op.start_s <= read.end_s
        if op.index in near or lost:
            shown.append(op)
    return tuple(shown)


def _missing(read: Op, missing: list[str], ops: Sequence[Op]) -> Anomaly:
    return Anomaly(
        "snapshot",
        f"a snapshot at {read.start_s:.3f} s has no account {missing[0]}"
        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
        (read,),
        (f"accounts missing: {', '.join(missing[:10])}",),
    )


def _off_total(
    read: Op,
    total: int,
    base: int,
    sums: Sums,
    ops: Sequence[Op],
    known: Mapping[str, Account],
) -> Anomaly:
    balances = ", ".join(f"{i}: {read.result[i]}" for i in list(known)[:12])
    return Anomaly(
        "conservation",
        f"a snapshot at {read.start_s:.3f}-{read.end_s:.3f} s adds up to {total}, which no "
        "order of the operations explains",
        _concurrent(ops, read, known),
        (
            f"the snapshot: {balances}" + (" ..." if len(known) > 12 else ""),
            f"its total: {total}; possible totals: {sums.shifted(base)}",
        ),
    )


def _overdrawn(read: Op, owner: str, held: Mapping[str, int], ops: Sequence[Op]) -> Anomaly:
    balances = ", ".join(f"{i}: {b}" for i, b in held.items())
    return Anomaly(
        "owner-rule",
        f"a snapshot at {read.start_s:.3f} s shows owner {owner!r} at {sum(held.values())} "
        "in total, below zero",
        _concurrent(ops, read, held),
        (f"owner {owner!r}: {balances}",),
    )


def _unexplained(
    account: Account, final: int, applied: int, sums: Sums, touching: Sequence[Move]
) -> Anomaly:
    diff = final - account.balance - applied
    attempts = [op for m in touching for op in m.attempts]
    # Operations whose amount is the difference first: a lost or doubled one is among them.
    attempts.sort(key=lambda op: (abs(int(op.value["amount"])) != abs(diff), op.start_s))
    certain = sum(1 for m in touching if m.happened)
    return Anomaly(
        "exactly-once",
        f"account {account.id} ended at {final}, which no count of its operations explains "
        f"(off by {diff:+d} from the {certain} answered ok)",
        tuple(attempts),
        (
            f"account {account.id} (owner {account.owner!r}): started at {account.balance}, "
            f"operations answered ok add {applied:+d}, uncertain ones "
            f"{sums.shifted(0) if sums.values else 'none'}; it ended at {final}",
        ),
    )
