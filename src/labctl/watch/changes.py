"""What counts as a change to the learner's project, and waiting for one.

``ProjectFilter`` keeps watchfiles' own rules (``.git``, ``node_modules``, ``__pycache__``,
``.venv``, editors' swap and backup files, ...), adds the usual build output directories, the
patterns of the project's ``.gitignore`` (read again when it changes, so a Go binary written by
``go build`` is never a change) and the files labctl itself writes there (its reports).

``Changes`` runs watchfiles on a thread of its own and hands each batch to the loop, which waits
on ``fileno()`` (a pipe that becomes readable when a batch is queued) together with the
terminal. A batch is what changed until the project was quiet for ``QUIET_MS``: an editor's
save (write, rename, chmod) is one batch, not three.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import pathspec
import watchfiles

QUIET_MS = 50  # a batch ends after this long without a change
LONGEST_BATCH_MS = 1000  # ... or after this long, if changes keep coming
BUILD_DIRS = ("build", "dist", "target", "out", ".gradle", ".next")


class ProjectFilter:
    """Which changed paths count: watchfiles' default rules, build output, ``.gitignore`` and
    labctl's own files, all judged on the path inside the project (a project that itself lives
    under a directory named ``build`` is still watched)."""

    def __init__(self, root: Path, *, ignore_files: Iterable[Path] = ()) -> None:
        self.root = root.resolve()
        self._dirs = {*watchfiles.DefaultFilter.ignore_dirs, *BUILD_DIRS}
        self._names = [re.compile(p) for p in watchfiles.DefaultFilter.ignore_entity_patterns]
        self._files = {p.resolve() for p in ignore_files}
        self._gitignore = self._read_gitignore()

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        absolute = Path(path)
        try:
            relative = absolute.relative_to(self.root)
        except ValueError:
            return True
        if any(part in self._dirs for part in relative.parts):
            return False
        if any(name.search(absolute.name) for name in self._names) or absolute in self._files:
            return False
        if relative.as_posix() == ".gitignore":
            self._gitignore = self._read_gitignore()
        return not self._gitignore.match_file(relative.as_posix())

    def _read_gitignore(self) -> pathspec.GitIgnoreSpec:
        try:
            lines = (self.root / ".gitignore").read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        return pathspec.GitIgnoreSpec.from_lines(lines)


class Changes:
    """Batches of changed files (paths relative to the project), from a watching thread."""

    def __init__(self, root: Path, watch_filter: ProjectFilter) -> None:
        self.root = root.resolve()
        self._filter = watch_filter
        self._batches: queue.SimpleQueue[list[str]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._read_end, self._write_end = os.pipe()
        self._thread = threading.Thread(target=self._watch, name="labctl-watch", daemon=True)

    def __enter__(self) -> Changes:
        self._thread.start()
        self._ready.wait(5.0)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(5.0)
        os.close(self._read_end)
        os.close(self._write_end)

    def fileno(self) -> int:
        """Readable while a batch waits: select() on it with the terminal."""
        return self._read_end

    def pending(self) -> bool:
        return not self._batches.empty()

    def take(self) -> list[str]:
        """Every file changed in the batches queued so far (sorted, each once); [] when none."""
        changed: set[str] = set()
        while not self._batches.empty():
            changed.update(self._batches.get_nowait())
            os.read(self._read_end, 1)
        return sorted(changed)

    def _watch(self) -> None:
        batches = watchfiles.watch(
            self.root,
            watch_filter=self._filter,
            debounce=LONGEST_BATCH_MS,
            step=QUIET_MS,
            stop_event=self._stop,
            rust_timeout=200,
            yield_on_timeout=True,
            raise_interrupt=False,
        )
        for batch in batches:
            self._ready.set()  # the first (empty) yield: the watch is in place
            if kept := self._lasting(batch):
                self._batches.put(kept)
                os.write(self._write_end, b".")

    def _lasting(self, batch: set[tuple[watchfiles.Change, str]]) -> list[str]:
        """The batch's files, less those made and gone within it (an editor's or sed's temp
        file, renamed over the real one)."""
        kinds: dict[str, set[watchfiles.Change]] = {}
        for change, path in batch:
            kinds.setdefault(path, set()).add(change)
        return sorted(
            self._relative(path)
            for path, seen in kinds.items()
            if Path(path).exists() or watchfiles.Change.added not in seen
        )

    def _relative(self, path: str) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return path
