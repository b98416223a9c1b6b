"""Concurrent clients that move money and take snapshots, every request recorded in a
``History`` for the checkers of ``labctl.history.bank``.

``Recorder`` turns one request into one operation: 201 is ``ok`` (it happened), any other
answer ``fail`` (it did not), and so is a refused connection (the request never left); no
answer ``info`` (either). ``run_clients`` runs client loops
on their own connections until a deadline or until told to stop; ``at_once`` sends a batch of
requests at the same moment (a barrier), the way races are provoked.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import httpx

from labctl.grading import Failure, History, Http, Op, Service, expect, history

from ._support import new_owner, open_account, transfer, withdraw

T = TypeVar("T")
Account = history.bank.Account
REFUSED = {"status": None, "error": "connection refused"}


@dataclass(frozen=True)
class Traffic:
    """What a concurrent stage judges: its accounts, every operation, the balances at the end."""

    accounts: tuple[Account, ...]
    ops: tuple[Op, ...]
    final: dict[str, int]


def open_accounts(
    service: Service, rng: random.Random, *, tag: str, owners: int, each: int, opening: int
) -> tuple[Account, ...]:
    """``owners`` new owners with ``each`` accounts of ``opening`` cents."""
    accounts = []
    with Http(service.url, service=service) as http:
        for _ in range(owners):
            owner = new_owner(rng, tag)
            for _ in range(each):
                accounts.append(Account(open_account(http, owner, opening), owner, opening))
    return tuple(accounts)


class Recorder:
    """Requests to the service, each recorded as one operation of ``history``."""

    def __init__(self, history: History) -> None:
        self.history = history

    def transfer(
        self, http: Http, client: str, source: str, target: str, amount: int, key: str | None = None
    ) -> Op:
        value = {"from": source, "to": target, "amount": amount, "key": key}
        pending = self.history.invoke(client, "transfer", value)
        return self._finish(pending, lambda: transfer(http, source, target, amount, key))

    def withdraw(
        self, http: Http, client: str, account: str, amount: int, key: str | None = None
    ) -> Op:
        value = {"account": account, "amount": amount, "key": key}
        pending = self.history.invoke(client, "withdraw", value)
        return self._finish(pending, lambda: withdraw(http, account, amount, key))

    def read(self, http: Http, client: str) -> Op:
        """GET /accounts as a snapshot: ok with ``{id: balance}``, else fail or info."""
        pending = self.history.invoke(client, "read")
        try:
            resp = http.get("/accounts")
        except Failure as exc:
            return pending.info(_lost(exc))
        snapshot = _snapshot(resp)
        if snapshot is None:
            return pending.fail({"status": resp.status_code, "body": resp.text[:120]})
        return pending.ok(snapshot)

    def _finish(self, pending: history.Pending, send: Callable[[], httpx.Response]) -> Op:
        try:
            resp = send()
        except Failure as exc:
            if _refused(exc):
                return pending.fail(REFUSED)
            return pending.info(_lost(exc))
        result = {"status": resp.status_code}
        if resp.status_code == 201:
            return pending.ok(result)
        return pending.fail({**result, "body": resp.text[:120]})


def run_clients(
    service: Service,
    clients: int,
    work: Callable[[Http, str], object],
    *,
    duration_s: float,
    stop: threading.Event | None = None,
    per_client: int | None = None,
    timeout_s: float = 5.0,
) -> None:
    """``clients`` loops of ``work(http, name)``, each on its own connection, until
    ``duration_s`` has passed, ``stop`` is set or each ran ``per_client`` times."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + duration_s

    def client(name: str) -> None:
        with Http(service.url, service=service, timeout_s=timeout_s) as http:
            n = 0
            while not stop.is_set() and time.monotonic() < deadline:
                if per_client is not None and n >= per_client:
                    break
                work(http, name)
                n += 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, [f"client-{i}" for i in range(clients)]))


def at_once(https: Sequence[Http], sends: Sequence[Callable[[Http], T]]) -> list[T]:
    """Each of ``sends`` on its own connection of ``https``, all released at one moment."""
    barrier = threading.Barrier(len(sends))

    def go(i: int) -> T:
        barrier.wait(timeout=10)
        return sends[i](https[i])

    with ThreadPoolExecutor(len(sends)) as pool:
        return list(pool.map(go, range(len(sends))))


def mover(
    recorder: Recorder,
    accounts: Sequence[Account],
    rng: random.Random,
    *,
    max_amount: int,
    withdrawals: float = 0.0,
) -> Callable[[Http, str], Op]:
    """A client step: a transfer between two random accounts (or, that share of the time, a
    withdrawal), of 1..max_amount cents."""
    lock = threading.Lock()

    def step(http: Http, client: str) -> Op:
        with lock:  # one seeded stream, drawn in turn
            pick = rng.random()
            source, target = rng.sample(list(accounts), 2)
            amount = rng.randint(1, max_amount)
        if pick < withdrawals:
            return recorder.withdraw(http, client, source.id, amount)
        return recorder.transfer(http, client, source.id, target.id, amount)

    return step


def final_read(recorder: Recorder, service: Service) -> Mapping[str, int]:
    """One last snapshot once traffic has stopped (recorded too): the balances at the end."""
    with Http(service.url, service=service) as http:
        op = recorder.read(http, "final")
    if not op.ok:
        raise expect.fail(
            "GET /accounts did not answer a snapshot after the traffic",
            expected="200 with every account",
            got=str(op.result),
        )
    snapshot: Mapping[str, int] = op.result
    return snapshot


def answered(op: Op) -> bool:
    """A move that got an answer of the contract's (201, or 422 for a rule refusal)."""
    return isinstance(op.result, dict) and op.result.get("status") in (201, 422)


def statuses(ops: Sequence[Op], f: str) -> dict[str, int]:
    """How many operations named ``f`` ended with each status (or no answer)."""
    counts: dict[str, int] = {}
    for op in ops:
        if op.f == f:
            status = str(op.result["status"]) if isinstance(op.result, dict) else "no answer"
            counts[status] = counts.get(status, 0) + 1
    return counts


def refused(op: Op) -> bool:
    """The request of ``op`` never reached the service: its connection was refused."""
    return op.result == REFUSED


def _refused(exc: Failure) -> bool:
    return any("Connection refused" in exchange.error for exchange in exc.exchanges)


def _lost(exc: Failure) -> str:
    return "timeout" if "no answer within" in exc.summary else "no answer"


def _snapshot(resp: httpx.Response) -> dict[str, int] | None:
    if resp.status_code != 200:
        return None
    try:
        body = resp.json()
        return {a["id"]: int(a["balance_cents"]) for a in body["accounts"]}
    except (ValueError, KeyError, TypeError):
        return None
