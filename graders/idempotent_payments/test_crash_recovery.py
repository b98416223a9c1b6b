"""Stage `crash-recovery`: the service is SIGKILLed after the bank executed a charge and before
it answered; after a restart, the retry answers 201 without charging again."""

from __future__ import annotations

import random
import threading

from labctl import ServiceError
from labctl.grading import (
    Http,
    Reply,
    Service,
    StubRequest,
    Upstream,
    expect,
    points,
    stage,
)

from ._support import attempt, expect_charges, expect_replay, new_key, new_order, pay, post
from .bank import Bank

pytestmark = stage("crash-recovery")

KILL_WAIT_S = 10.0


@points(8)
def test_charge_survives_a_crash(
    http: Http, service: Service, bank: Bank, bank_stub: Upstream, rng: random.Random
) -> None:
    """Killed right after the bank charged: after a restart the retry answers 201, one charge"""
    key, order = new_key(rng), new_order(rng)
    killed = threading.Event()

    def kill(request: StubRequest, reply: Reply) -> None:
        service.kill()
        killed.set()

    bank_stub.after_next(kill, when=lambda request, reply: reply.status == 201)
    lost = attempt(http, key, order)
    if lost is not None:
        raise expect.fail(
            "the service answered although labctl killed it while the bank was charging",
            expected="no answer (the service was SIGKILLed)",
            got=f"{lost.status_code}",
            hint="the payment must charge the bank (POST $BANK_URL/charges) before it answers",
            response=lost,
        )
    # The request fails as soon as SIGKILL lands; kill() returns once the service is reaped.
    killed.wait(KILL_WAIT_S)
    _restart(service)
    retry = pay(http, key, order)
    expect_charges(
        bank,
        order,
        1,
        response=retry,
        why="the bank charged before the crash: store the payment (and the key you send the "
        "bank) before calling it, and send the same bank key when the retry resumes it",
    )
    expect_replay(post(http, key, order), retry)


def _restart(service: Service) -> None:
    try:
        service.start()
    except ServiceError as exc:
        raise expect.fail(
            "the service did not start again after a crash",
            expected="it answers on $PORT after a restart",
            got=exc.message,
            hint=exc.hint,
        ) from None
    service.wait_ready(10.0)
