"""Stage `deadlocks`: transfers A->B and B->A between the same pairs of accounts, from many
clients at once. Locking the two accounts in the order the request names them makes some of
these transactions wait for each other in a cycle; Postgres aborts one of them. The service
must avoid that (lock in a fixed order) or retry it: every answer is 201 or 422, never a 5xx,
and every 201 is applied once."""

from __future__ import annotations

import random
import threading

from labctl.grading import Http, Service, expect, history, points, stage

from ._support import new_owner, open_account
from ._traffic import Account, Recorder, answered, final_read, run_clients, statuses

pytestmark = stage("deadlocks")

PAIRS = 2
CLIENTS = 8  # 4 per pair, 2 in each direction
PER_CLIENT = 25  # transfers each client sends
DURATION_S = 6.0  # at most; the reference needs well under 1 s
# A service that retries its deadlocks answers right, only late (Postgres waits 1 s before it
# aborts one): no request fails for that alone.
TIMEOUT_S = 15.0
OPENING = 100_000


@points(8)
def test_opposite_transfers_never_fail(service: Service, seed: int) -> None:
    """8 clients send A->B and B->A at once: every answer 201 or 422, each 201 applied once"""
    rng = random.Random(f"{seed}/deadlocks")
    pairs = _open_pairs(service, rng)
    recorder = Recorder(history.History())
    sent: dict[str, int] = {}
    lock = threading.Lock()

    def work(http: Http, client: str) -> None:
        n = int(client.removeprefix("client-"))
        with lock:
            i = sent[client] = sent.get(client, 0) + 1
            amount = rng.randint(1, 50)
        a, b = pairs[(n // 2 + i) % PAIRS]
        source, target = (a, b) if n % 2 == 0 else (b, a)
        if not answered(recorder.transfer(http, client, source.id, target.id, amount)):
            wrong.set()  # one is enough to fail: stop sending

    wrong = threading.Event()
    run_clients(
        service,
        CLIENTS,
        work,
        duration_s=DURATION_S,
        stop=wrong,
        per_client=PER_CLIENT,
        timeout_s=TIMEOUT_S,
    )
    ops = recorder.history.ops()
    odd = [op for op in ops if op.f == "transfer" and not answered(op)]
    if odd:
        raise expect.fail(
            f"{len(odd)} of {len(ops)} opposite transfers did not answer 201 or 422",
            expected="201 or 422 for every transfer",
            got=f"statuses {statuses(ops, 'transfer')}; first: " + odd[0].describe(),
            hint="two transactions that lock the same two accounts in opposite orders "
            "deadlock: lock accounts in one fixed order (ORDER BY id), and retry a "
            "transaction that failed with a deadlock or serialization failure",
        )
    accounts = [account for pair in pairs for account in pair]
    final = final_read(recorder, service)
    expect.no_anomalies(
        history.bank.check_final(recorder.history.ops(), accounts, final),
        what="the balances after the opposite transfers",
        hint="a retried transaction must start again from the beginning, in a new transaction",
    )


def _open_pairs(service: Service, rng: random.Random) -> list[tuple[Account, Account]]:
    pairs = []
    with Http(service.url, service=service) as http:
        for _ in range(PAIRS):
            a, b = new_owner(rng, "deadlock-a"), new_owner(rng, "deadlock-b")
            pairs.append(
                (
                    Account(open_account(http, a, OPENING), a, OPENING),
                    Account(open_account(http, b, OPENING), b, OPENING),
                )
            )
    return pairs
