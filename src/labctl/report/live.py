"""The one-line live status of a running check: the start-up phase, then stage by stage, with
the report's own status glyphs. Fed with the grading process's progress events."""

from __future__ import annotations

from collections.abc import Mapping

from rich.markup import escape

from labctl.progress import Event
from labctl.results import Status, worst


class Progress:
    """The status line while a check runs: the start-up phase, then stage by stage."""

    def __init__(self, lab: str, marks: Mapping[Status, str]) -> None:
        self.lab = lab
        self.marks = marks
        self.phase = "starting"
        self.stages: dict[str, list[Status]] = {}  # slug -> statuses of its finished checks
        self.current: str | None = None

    def update(self, event: Event) -> str:
        if event.kind == "phase":
            self.phase = event.text
        elif event.kind == "stage":
            self.current = event.stage
            self.stages.setdefault(event.stage, [])
        elif event.kind == "check":
            self.stages.setdefault(event.stage, []).append(Status(event.status))
        return self.text()

    def text(self) -> str:
        if self.current is None:
            return escape(f"grading {self.lab}: {self.phase}…")
        return escape(
            f"grading {self.lab}: "
            + " · ".join(
                f"{slug} ({len(done)} checks)…"
                if slug == self.current
                else f"{slug} {self.marks[worst(done)]}"
                for slug, done in self.stages.items()
            )
        )
