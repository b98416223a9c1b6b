"""Progress events from the grading process to the CLI, as JSON lines in a file of the run.

The worker appends one line per event (a phase of start-up, a stage begun, a check done); the
CLI reads what is new while it waits and shows it. A file, not a pipe: the worker can never
block on a reader that stopped reading, and an event cut off mid-line is simply read later.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Event:
    kind: str  # "phase" (text), "stage" (stage), "check" (stage, text = check id, status)
    text: str = ""
    stage: str = ""
    status: str = ""


class EventWriter:
    def __init__(self, path: Path) -> None:
        self.path = path

    def emit(self, event: Event) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(event)) + "\n")


class EventReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def read_new(self) -> list[Event]:
        """Events written since the last call; a line still being written waits for the next."""
        try:
            with self.path.open("rb") as source:
                source.seek(self._offset)
                chunk = source.read()
        except FileNotFoundError:
            return []
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        return [Event(**json.loads(line)) for line in complete.splitlines() if line.strip()]
