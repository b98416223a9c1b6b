"""Key presses from the learner's terminal while the watch loop waits.

In a terminal, stdin is put in cbreak mode (each key arrives at once, without echo; Ctrl-C still
interrupts) and put back as it was on the way out, whatever happened. Without a terminal (stdin
piped or closed) there are no keys and the loop only watches files.
"""

from __future__ import annotations

import os
import sys
import termios
import tty
from types import TracebackType
from typing import Any


class Keys:
    def __init__(self) -> None:
        self._fd: int | None = None
        self._saved: list[Any] | None = None

    def __enter__(self) -> Keys:
        if sys.stdin is not None and sys.stdin.isatty():
            self._fd = sys.stdin.fileno()
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd, termios.TCSANOW)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None and self._saved is not None:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    @property
    def available(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int | None:
        return self._fd

    def read(self) -> str:
        """The keys pressed so far (call when fileno() is readable)."""
        if self._fd is None:
            return ""
        data = os.read(self._fd, 64)
        if not data:  # the terminal went away
            self._fd = None
        return data.decode(errors="ignore")
