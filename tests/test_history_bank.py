"""The bank checkers on hand-made histories: totals in every snapshot (uncertain operations
counted either way), the owner rule, exactly-once at the end, and what each anomaly shows."""

from __future__ import annotations

from typing import Any

from labctl.history import History, Op, Outcome, bank
from labctl.history.bank import Account, Sums

ALICE = (Account("a1", "alice", 100), Account("a2", "alice", 100))
BOB = (Account("b1", "bob", 50),)
ACCOUNTS = (*ALICE, *BOB)


class Book:
    """A hand-written history: each operation at the times given."""

    def __init__(self) -> None:
        self.history = History(origin=0.0)

    def transfer(
        self,
        src: str,
        dst: str,
        amount: int,
        at: tuple[float, float | None],
        outcome: str,
        key: str | None = None,
    ) -> Op:
        value = {"from": src, "to": dst, "amount": amount, "key": key}
        return self._op("transfer", value, at, outcome)

    def withdraw(
        self,
        account: str,
        amount: int,
        at: tuple[float, float | None],
        outcome: str,
        key: str | None = None,
    ) -> Op:
        value = {"account": account, "amount": amount, "key": key}
        return self._op("withdraw", value, at, outcome)

    def read(self, at: tuple[float, float], **balances: int) -> Op:
        return self._op("read", None, at, "ok", result=balances)

    def ops(self) -> tuple[Op, ...]:
        return self.history.ops()

    def _op(
        self, f: str, value: Any, at: tuple[float, float | None], outcome: str, result: Any = None
    ) -> Op:
        return self.history.record(
            "c", f, value, start_s=at[0], end_s=at[1], outcome=Outcome(outcome), result=result
        )


def test_subset_sums_are_exact_for_small_amounts_and_an_interval_beyond() -> None:
    sums = Sums([5, -3, 10])
    assert [s for s in range(-5, 17) if s in sums] == [-3, 0, 2, 5, 7, 10, 12, 15]
    assert sums.shifted(100) == "97, 100, 102, 105, 107, 110, 112, 115"
    huge = Sums([1 << 30, 3])
    assert 7 in huge  # the interval [0, 2**30 + 3]: sound, no longer exact
    assert -1 not in huge
    assert huge.shifted(0) == f"between 0 and {(1 << 30) + 3}"
    assert 0 in Sums([])


def test_transfers_never_change_the_total_of_a_snapshot() -> None:
    book = Book()
    book.transfer("a1", "b1", 30, (0.0, 0.2), "ok")
    book.read((0.1, 0.15), a1=70, a2=100, b1=80)  # concurrent with the transfer: it shows it
    book.read((0.3, 0.4), a1=70, a2=100, b1=80)
    assert bank.check(book.ops(), ACCOUNTS) == []


def test_a_torn_snapshot_is_caught_with_the_transfer_concurrent_with_it() -> None:
    book = Book()
    book.transfer("a2", "b1", 20, (0.0, 0.5), "ok")
    moved = book.transfer("a1", "b1", 30, (0.1, 0.4), "ok")
    far = book.transfer("a2", "a1", 5, (2.0, 2.1), "ok")
    torn = book.read((0.2, 0.3), a1=70, a2=100, b1=50)  # a1 debited, b1 not yet credited
    [anomaly] = bank.check_totals(book.ops(), ACCOUNTS)
    assert anomaly.rule == "conservation"
    assert "adds up to 220" in anomaly.message
    assert anomaly.ops[0] == torn
    assert moved in anomaly.ops
    assert far not in anomaly.ops
    assert "possible totals: 250" in anomaly.details[1]


def test_a_withdrawal_answered_ok_before_a_snapshot_shows_in_it() -> None:
    book = Book()
    book.withdraw("a1", 40, (0.0, 0.1), "ok")
    book.read((0.2, 0.3), a1=100, a2=100, b1=50)  # the withdrawn money is still there
    [anomaly] = bank.check_totals(book.ops(), ACCOUNTS)
    assert "possible totals: 210" in anomaly.details[1]
    book.read((0.4, 0.5), a1=60, a2=100, b1=50)
    assert len(bank.check_totals(book.ops(), ACCOUNTS)) == 1  # the second read is right


def test_an_unanswered_withdrawal_counts_either_way_in_every_later_snapshot() -> None:
    book = Book()
    book.withdraw("a1", 40, (0.0, None), "info")
    book.withdraw("b1", 10, (0.0, 0.9), "info")
    book.read((1.0, 1.1), a1=100, a2=100, b1=50)  # neither happened (yet)
    book.read((2.0, 2.1), a1=60, a2=100, b1=50)  # one did
    book.read((3.0, 3.1), a1=60, a2=100, b1=40)  # both did
    assert bank.check_totals(book.ops(), ACCOUNTS) == []
    book.read((4.0, 4.1), a1=80, a2=100, b1=50)  # 20 gone: no set of the two explains it
    [anomaly] = bank.check_totals(book.ops(), ACCOUNTS)
    assert "possible totals: 200, 210, 240, 250" in anomaly.details[1]
    assert [op.f for op in anomaly.ops] == ["read", "withdraw", "withdraw"]


def test_operations_invoked_after_a_snapshot_and_failed_ones_never_count() -> None:
    book = Book()
    book.withdraw("a1", 40, (0.0, 0.1), "fail")
    book.withdraw("a2", 25, (0.5, None), "info")
    book.read((0.2, 0.3), a1=100, a2=75, b1=50)  # shows the info one, invoked after it
    [anomaly] = bank.check_totals(book.ops(), ACCOUNTS)
    assert "possible totals: 250" in anomaly.details[1]


def test_retries_with_one_key_are_one_operation() -> None:
    book = Book()
    book.withdraw("a1", 40, (0.0, None), "info", key="k1")
    book.withdraw("a1", 40, (1.0, 1.1), "ok", key="k1")
    book.read((2.0, 2.1), a1=60, a2=100, b1=50)
    assert bank.check(book.ops(), ACCOUNTS, final={"a1": 60, "a2": 100, "b1": 50}) == []
    # Applied twice: once for the lost attempt, once for the retry.
    [anomaly] = bank.check_final(book.ops(), ACCOUNTS, {"a1": 20, "a2": 100, "b1": 50})
    assert anomaly.rule == "exactly-once"
    assert "off by -40" in anomaly.message


def test_a_snapshot_without_an_account_is_an_anomaly() -> None:
    book = Book()
    book.read((0.0, 0.1), a1=100, b1=50)
    [anomaly] = bank.check_totals(book.ops(), ACCOUNTS)
    assert anomaly.rule == "snapshot"
    assert "has no account a2" in anomaly.message


def test_an_account_may_go_negative_but_not_its_owner() -> None:
    book = Book()
    book.transfer("a1", "b1", 150, (0.0, 0.1), "ok")
    book.read((0.2, 0.3), a1=-50, a2=100, b1=200)
    assert bank.check_owner_rule(book.ops(), ACCOUNTS) == []


def test_write_skew_shows_the_owner_and_the_debits_concurrent_with_the_snapshot() -> None:
    book = Book()
    first = book.withdraw("a1", 150, (0.0, 0.2), "ok")
    second = book.withdraw("a2", 150, (0.05, 0.25), "ok")
    book.withdraw("b1", 10, (0.0, 0.1), "fail")
    skewed = book.read((0.3, 0.4), a1=-50, a2=-50, b1=50)
    [anomaly] = bank.check_owner_rule(book.ops(), ACCOUNTS)
    assert anomaly.rule == "owner-rule"
    assert "owner 'alice' at -100" in anomaly.message
    assert anomaly.ops == (skewed,)  # the debits ended before it: no longer concurrent
    assert anomaly.details == ("owner 'alice': a1: -50, a2: -50",)
    late = book.read((0.1, 0.3), a1=-50, a2=-50, b1=50)
    anomalies = bank.check_owner_rule(book.ops(), ACCOUNTS)
    shown = next(a for a in anomalies if a.ops[0] == late).ops
    assert first in shown
    assert second in shown


def test_exactly_once_counts_ok_once_fail_never_and_info_either_way() -> None:
    book = Book()
    book.transfer("a1", "b1", 30, (0.0, 0.1), "ok")
    book.transfer("a2", "b1", 20, (0.0, 0.1), "fail")
    book.transfer("b1", "a2", 5, (0.0, None), "info")
    ok = {"a1": 70, "a2": 100, "b1": 80}
    assert bank.check_final(book.ops(), ACCOUNTS, ok) == []
    assert bank.check_final(book.ops(), ACCOUNTS, {"a1": 70, "a2": 105, "b1": 75}) == []
    # The failed transfer was applied anyway: a2 and b1 do not add up.
    wrong = {"a1": 70, "a2": 80, "b1": 100}
    anomalies = bank.check_final(book.ops(), ACCOUNTS, wrong)
    assert [a.details[0].split()[1] for a in anomalies] == ["a2", "b1"]
    assert "off by -20" in anomalies[0].message
    assert anomalies[0].ops[0].value["amount"] == 20  # the operation that explains it first


def test_a_lost_update_is_caught_at_the_end() -> None:
    book = Book()
    book.transfer("a1", "b1", 10, (0.0, 0.1), "ok")
    book.transfer("a2", "b1", 10, (0.0, 0.1), "ok")
    [anomaly] = bank.check_final(book.ops(), ACCOUNTS, {"a1": 90, "a2": 90, "b1": 60})
    assert "account b1 ended at 60" in anomaly.message
    assert "off by -10 from the 2 answered ok" in anomaly.message
    gone = bank.check_final(book.ops(), ACCOUNTS, {"a1": 90, "a2": 90})
    assert [a.message for a in gone] == ["account b1 is gone at the end"]


def test_an_unanswered_transfer_applied_by_half_is_caught_in_the_final_snapshot() -> None:
    book = Book()
    cut = book.transfer("a1", "b1", 30, (0.0, None), "info")
    # a1 was debited and b1 never credited: each account alone is explained either way...
    final = {"a1": 70, "a2": 100, "b1": 50}
    assert bank.check_final(book.ops(), ACCOUNTS, final) == []
    book.read((1.0, 1.1), **final)  # ...their sum is not
    [anomaly] = bank.check_totals(book.ops(), ACCOUNTS)
    assert "adds up to 220" in anomaly.message
    assert cut in anomaly.ops
