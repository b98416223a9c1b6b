"""Progress events: written by the grading process, read by the CLI while it waits."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from labctl.progress import Event, EventReader, EventWriter
from labctl.report.live import Progress
from labctl.report.terminal import status_glyphs


def test_reader_returns_each_event_once_and_waits_for_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    reader = EventReader(path)
    assert reader.read_new() == []  # nothing written yet
    EventWriter(path).emit(Event("phase", "starting postgres"))
    with path.open("a") as out:
        out.write('{"kind": "stage", "text": "", "st')  # a line the writer has not finished
    assert reader.read_new() == [Event("phase", "starting postgres")]
    with path.open("a") as out:
        out.write('age": "health", "status": ""}\n')
    assert reader.read_new() == [Event("stage", stage="health")]
    assert reader.read_new() == []


def test_status_line_follows_the_run() -> None:
    progress = Progress("url-shortener", status_glyphs(Console(file=io.StringIO())))
    assert progress.update(Event("phase", "starting postgres")).endswith("starting postgres…")
    progress.update(Event("stage", stage="health"))
    progress.update(Event("check", "health/healthz-answers-200", "health", "pass"))
    progress.update(Event("stage", stage="shorten"))
    progress.update(Event("check", "shorten/creates-a-link", "shorten", "fail"))
    text = progress.update(Event("check", "shorten/rejects-missing-url", "shorten", "pass"))
    assert text == "grading url-shortener: health ✔ · shorten (2 checks)…"
    progress.update(Event("stage", stage="redirect"))
    assert progress.text().startswith("grading url-shortener: health ✔ · shorten ✘ · redirect")
