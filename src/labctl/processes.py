"""Every child process labctl starts goes through here: ``spawn()`` starts it so that it dies with
labctl, ``stop()`` ends it (a signal to its group, a grace period, then SIGKILL), ``ProcessGroup``
follows the learner's service and every process it starts, and ``describe_exit()`` tells a
learner how a process ended ("was killed by SIGKILL").

Linux's parent-death signal is armed in each child before exec, so a harness killed by SIGKILL
leaves nothing running. The kernel ties the signal to the *thread* that forked the child
(prctl(2)), and a uid change clears it: CPython runs ``preexec_fn`` after setuid, so that is
where it is armed. Call ``spawn()`` from a thread that lives as long as the child should.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO, Literal, Protocol, overload

import psutil

__all__ = [
    "ProcessGroup",
    "RunAs",
    "arm",
    "describe_exit",
    "dies_with_parent",
    "signal_name",
    "spawn",
    "stop",
]

_PR_SET_PDEATHSIG = 1
_KILL_WAIT_S = 2.0  # SIGKILL cannot be ignored; this only covers a process stuck in the kernel

Output = Path | IO[bytes] | int | None  # a log file (appended to), an open file, PIPE, or nothing


class RunAs(Protocol):
    """An account to run a child as (labctl as root runs Postgres unprivileged)."""

    @property
    def uid(self) -> int: ...

    @property
    def gid(self) -> int: ...


@overload
def spawn(
    argv: Sequence[str],
    *,
    out: Output = ...,
    stdin: int | None = ...,
    cwd: Path | None = ...,
    env: Mapping[str, str] | None = ...,
    session: bool = ...,
    death: signal.Signals = ...,
    user: RunAs | None = ...,
    pass_fds: Sequence[int] = ...,
    setup: Callable[[], None] | None = ...,
    text: Literal[False] = ...,
) -> subprocess.Popen[bytes]: ...


@overload
def spawn(
    argv: Sequence[str],
    *,
    out: Output = ...,
    stdin: int | None = ...,
    cwd: Path | None = ...,
    env: Mapping[str, str] | None = ...,
    session: bool = ...,
    death: signal.Signals = ...,
    user: RunAs | None = ...,
    pass_fds: Sequence[int] = ...,
    setup: Callable[[], None] | None = ...,
    text: Literal[True],
) -> subprocess.Popen[str]: ...


def spawn(
    argv: Sequence[str],
    *,
    out: Output = None,
    stdin: int | None = subprocess.DEVNULL,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    session: bool = True,
    death: signal.Signals = signal.SIGTERM,
    user: RunAs | None = None,
    pass_fds: Sequence[int] = (),
    setup: Callable[[], None] | None = None,
    text: bool = False,
) -> subprocess.Popen[bytes] | subprocess.Popen[str]:
    """Start ``argv`` as labctl's child: stdout and stderr both to ``out``; in a session of its
    own (``session``: its pid is its process group, and a terminal's Ctrl-C does not reach it),
    else in a process group of its own; ``death`` sent by the kernel when this thread exits;
    ``setup`` run in the child just before exec (after the uid switch and the death signal)."""
    parent = os.getpid()

    def preexec() -> None:
        arm(death, parent)
        if setup is not None:
            setup()

    sink = out.open("ab") if isinstance(out, Path) else out
    try:
        return subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=sink,
            stderr=subprocess.STDOUT if sink is not None else None,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=session,
            process_group=None if session else 0,
            preexec_fn=preexec,
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
            pass_fds=tuple(pass_fds),
            text=text,
        )
    finally:
        if isinstance(out, Path) and sink is not None and not isinstance(sink, int):
            sink.close()  # the child keeps its own copy of the descriptor


def stop(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str],
    *,
    grace_s: float,
    sig: signal.Signals | None = signal.SIGTERM,
    group: bool = True,
) -> int | None:
    """End a child spawned by ``spawn()``: ``sig`` (None: none, the child ends by itself, say
    when its stdin closes) to its process group (``group``) or to it alone, up to ``grace_s`` to
    exit, then SIGKILL to the same. Returns its exit code, or None when it had to be killed."""
    if proc.poll() is None and sig is not None:
        _send(proc, sig, group)
    try:
        return proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        pass
    _send(proc, signal.SIGKILL, group)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(_KILL_WAIT_S)
    return None


def _send(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str], sig: signal.Signals, group: bool
) -> None:
    with suppress(ProcessLookupError, PermissionError):
        if group and proc.returncode is None:  # while unreaped, its group id cannot be reused
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


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


class ProcessGroup:
    """The processes of one spawned command: its process group, plus the descendants seen so far
    (a descendant may leave the group with setsid, but must not outlive the service)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._pgid = proc.pid  # start_new_session: the leader's pid is the group's id
        self._seen: dict[int, psutil.Process] = {}
        with suppress(psutil.Error):
            self._seen[proc.pid] = psutil.Process(proc.pid)

    def members(self) -> list[psutil.Process]:
        """The living (not zombie) processes of the group and the descendants seen before."""
        self._seen = {pid: proc for pid, proc in self._seen.items() if _same(proc)}
        for pid in psutil.pids():
            if pgid(pid) == self._pgid and not _same(self._seen.get(pid)):
                with suppress(psutil.Error):
                    self._seen[pid] = psutil.Process(pid)
        return [p for p in self._seen.values() if _alive(p)]

    def remember_descendants(self) -> None:
        leader = self._seen.get(self._proc.pid)
        if leader is None or self._proc.poll() is not None:
            return
        with suppress(psutil.Error):
            for child in leader.children(recursive=True):
                self._seen.setdefault(child.pid, child)

    def listening(self, port: int) -> tuple[set[str], set[int]]:
        """Addresses the processes listen on at ``port``, and the other TCP ports they listen on."""
        on_port: set[str] = set()
        others: set[int] = set()
        self.remember_descendants()
        for proc in self.members():
            with suppress(psutil.Error):
                for conn in proc.net_connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN and conn.laddr:
                        if conn.laddr.port == port:
                            on_port.add(conn.laddr.ip)
                        else:
                            others.add(conn.laddr.port)
        return on_port, others

    def signal(self, sig: signal.Signals) -> None:
        """Signal the group at once (no member can fork past it), then each one that left it.
        Nobody gets a signal twice: a second SIGTERM can land after a handler already ran."""
        outside = []
        in_group = self._proc.returncode is None  # while unreaped, the group id cannot be reused
        for proc in self.members():
            if pgid(proc.pid) == self._pgid:
                in_group = True
            else:
                outside.append(proc)
        if in_group:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pgid, sig)
        for proc in outside:
            with suppress(psutil.Error):
                proc.send_signal(sig)

    def stop(self, grace_s: float) -> int | None:
        """SIGTERM everything, wait up to grace_s, SIGKILL what is left. Returns the leader's exit
        code, or None if it had to be killed (a grace of 0 means SIGKILL at once)."""
        self.remember_descendants()
        deadline = time.monotonic() + grace_s
        code: int | None = None
        if grace_s > 0:
            self.signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(grace_s)
            self.wait_gone(deadline)
        if self.members() or self._proc.poll() is None:
            self.signal(signal.SIGKILL)
        killed = self._proc.wait()
        self.wait_gone(time.monotonic() + _KILL_WAIT_S)
        return killed if grace_s <= 0 else code

    def wait_gone(self, deadline: float) -> None:
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.01)


def pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return -1


def _same(proc: psutil.Process | None) -> bool:
    """Whether a remembered process is still the one we saw (its pid may have been reused)."""
    return proc is not None and proc.is_running()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def describe_exit(code: int, *, verb: str) -> str:
    """'exited with code 1', 'was killed by SIGSEGV', 'exited with code 139 (...)'."""
    if code < 0:
        return f"was killed by {signal_name(-code)}"
    text = f"{verb} {code}"
    if 128 < code < 128 + signal.NSIG:
        # A shell reports a child killed by signal N as 128+N.
        name = signal_name(code - 128)
        text += f" (128+{code - 128}: a process it ran was probably killed by {name})"
    return text


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
