"""A log file read incrementally: the lines a process appended since a mark, decoded leniently.

The learner's service writes to a file, never a pipe (nothing blocks on it); checks read the lines
that appeared while they ran.
"""

from __future__ import annotations

from pathlib import Path


class LogFile:
    """Lines appended to a log file after this object was made, read incrementally."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = path.stat().st_size if path.exists() else 0
        self._lines: list[str] = []
        self._partial = b""

    def mark(self) -> int:
        self._refresh()
        return len(self._lines)

    def lines(self, since: int = 0) -> list[str]:
        self._refresh()
        unfinished = [_decode(self._partial)] if self._partial else []
        return self._lines[since:] + unfinished

    def tail(self, n: int) -> list[str]:
        return self.lines()[-n:] if n > 0 else []

    def _refresh(self) -> None:
        try:
            with self._path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        if chunk:
            self._offset += len(chunk)
            # Splitting bytes on b"\n" is safe: that byte never occurs inside a UTF-8 sequence.
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            self._lines.extend(_decode(line) for line in complete)


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").removesuffix("\r")
