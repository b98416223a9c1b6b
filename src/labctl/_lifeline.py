"""Children that die with labctl: Linux's parent-death signal, armed in the child before exec.

Every process labctl starts (the grading process, dependency servers, the learner's service, the
load generator, the Docker backend's helpers) is armed with it, so a harness killed by SIGKILL
leaves nothing running. The kernel ties the signal to the *thread* that forked the child
(prctl(2)), and a uid change clears it: CPython runs ``preexec_fn`` after setuid, so that is
where it is armed.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def dies_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``sig`` when the calling thread of this process exits."""
    return functools.partial(arm, sig, os.getpid())


def arm(sig: signal.Signals, parent: int) -> None:
    """In a forked child: ``sig`` when ``parent`` goes, or now if it already has."""
    prctl = _prctl()
    if prctl is None:  # not Linux: no parent-death signal; callers still stop children
        return
    prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:  # orphaned before the prctl took effect
        os.kill(os.getpid(), sig)


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl
