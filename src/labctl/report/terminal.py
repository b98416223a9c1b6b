"""The report a learner reads in the terminal after ``labctl check``.

Header (lab, seed), one line per stage and per check, then the details of every failed,
errored or inconclusive check (message, expected/got/hint, curl lines, the service's log),
then a summary and a one-line verdict. Status is carried by a symbol as well as a colour, so
the report reads the same without colour. Learner-controlled text is cleaned and rendered as
``rich.text.Text``, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from labctl.report._common import (
    NEEDS_DETAILS,
    clean,
    curl_lines,
    field_lines,
    service_line,
    shown,
)
from labctl.report._timeline import summary
from labctl.results import CheckResult, Result, StageResult, Status

LOG_LINES = 20
SERVICE_PREFIX = "[your service] "

_STYLE: Mapping[Status, str] = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.ERROR: "red",
    Status.SKIP: "dim",
    Status.INCONCLUSIVE: "yellow",
}

# A part of a line: plain text, or text and a rich style.
_Part = str | tuple[str, str]


@dataclass(frozen=True)
class _Glyphs:
    status: Mapping[Status, str]
    dot: str
    then: str


_UNICODE = _Glyphs(
    status={
        Status.PASS: "✔",
        Status.FAIL: "✘",
        Status.ERROR: "!",
        Status.SKIP: "↷",
        Status.INCONCLUSIVE: "?",
    },
    dot="·",
    then="›",
)
_ASCII = _Glyphs(
    status={
        Status.PASS: "+",
        Status.FAIL: "x",
        Status.ERROR: "!",
        Status.SKIP: "-",
        Status.INCONCLUSIVE: "?",
    },
    dot="-",
    then=">",
)


def render_terminal(
    result: Result, console: Console, *, verbose: bool = False, reveal: bool = False
) -> None:
    """Print the report for ``result`` on ``console``; ``verbose`` shows whole service logs,
    ``reveal`` hidden checks' details (the grader's report)."""
    report = _Report(console, verbose)
    result = shown(result, reveal=reveal)
    report.header(result)
    if result.error:
        report.environment_error(result)
        return
    report.stages(result.stages)
    report.details(result.stages)
    report.summary(result)


def render_compact(result: Result, console: Console, *, log_lines: int = 8) -> None:
    """The short report of one watch run: a line of stages, the first failed check in full
    (expected, got, hint, curl, the service's last ``log_lines`` lines), then what to do next.
    Stages the run did not reach are counted, not listed."""
    report = _Report(console, verbose=False, log_lines=log_lines)
    result = shown(result, reveal=False)
    if result.error:
        report.environment_error(result)
        return
    report.stage_strip(result.stages)
    failed = next(
        ((stage, check) for stage in result.stages for check in stage.checks
         if check.status in NEEDS_DETAILS),
        None,
    )  # fmt: skip
    if failed is not None:
        report.blank()
        report.check_details(*failed)
    report.next_step(result.meta.get("next"))


def _glyphs_for(console: Console) -> _Glyphs:
    return _UNICODE if console.encoding.startswith("utf") else _ASCII


def status_glyphs(console: Console) -> Mapping[Status, str]:
    """The status symbols the terminal report uses on ``console`` (ASCII when not UTF-8)."""
    return _glyphs_for(console).status


class _Report:
    def __init__(self, console: Console, verbose: bool, log_lines: int = LOG_LINES) -> None:
        self.console = console
        self.verbose = verbose
        self.log_lines = log_lines
        self.encoding = console.encoding
        self.glyphs = _glyphs_for(console)

    # -- sections ------------------------------------------------------------------------

    def header(self, result: Result) -> None:
        seed = f"seed {result.seed} (replay with --seed {result.seed})"
        self.line((result.lab, "bold"), "  ", seed)
        self.blank()

    def environment_error(self, result: Result) -> None:
        self.line(("! the environment could not start: ", "bold red"), (result.error, "bold"))
        if result.error_hint:
            for line in f"hint: {result.error_hint}".splitlines():
                self.line("  ", line)
        source = f"[{result.log_source}] " if result.log_source else SERVICE_PREFIX
        self.service_log(result.log, indent="  ", prefix=source)

    def stages(self, stages: Sequence[StageResult]) -> None:
        width = max((len(stage.slug) for stage in stages), default=0)
        for stage in stages:
            self.stage(stage, width)

    def details(self, stages: Sequence[StageResult]) -> None:
        for stage in stages:
            for check in stage.checks:
                if check.status in NEEDS_DETAILS:
                    self.blank()
                    self.check_details(stage, check)

    def summary(self, result: Result) -> None:
        passed = sum(stage.status is Status.PASS for stage in result.stages)
        dot = f" {self.glyphs.dot} "
        self.blank()
        self.line(
            f"{passed} of {len(result.stages)} stages passed",
            dot,
            f"{result.points_earned}/{result.points_possible} points" + _pass_mark(result),
            dot,
            f"{result.duration_s:.1f} s",
        )
        self.line((_verdict(result), f"bold {_STYLE[result.verdict]}"))
        self.next_step(result.meta.get("next"))

    def next_step(self, step: Mapping[str, Any] | None) -> None:
        """What to do now (``labctl.guide``): a sentence and the commands for it."""
        if not step:
            return
        self.blank()
        self.line(("next: ", "bold"), step["text"])
        for command in step.get("commands", ()):
            self.line("  ", (command, "bold"))

    def stage_strip(self, stages: Sequence[StageResult]) -> None:
        """One line: each stage that ran with its symbol, then how many were not reached."""
        parts: list[_Part] = []
        unreached = 0
        for stage in stages:
            if stage.status is Status.SKIP and not stage.checks:
                unreached += 1
                continue
            parts += [self.symbol(stage.status), " ", (stage.slug, "bold"), "  "]
        passed = sum(stage.status is Status.PASS for stage in stages)
        tally = f"{passed} of {len(stages)} stages passed"
        if unreached:
            tally += f", {unreached} not run"
        self.line(*parts, (tally, "dim"))

    # -- pieces --------------------------------------------------------------------------

    def stage(self, stage: StageResult, width: int) -> None:
        slug = (stage.slug.ljust(width), "bold")
        if stage.status is Status.SKIP and (stage.reason or not stage.checks):
            reason = f"skipped: {stage.reason}" if stage.reason else "skipped"
            self.line(self.symbol(stage.status), " ", slug, "  ", (reason, "dim"))
            return
        points = f"  {stage.points_earned}/{stage.points_possible}" if stage.points_possible else ""
        self.line(self.symbol(stage.status), " ", slug, "  ", stage.title, points)
        if stage.reason:
            self.line("  ", (stage.reason, "dim"))
        for check in stage.checks:
            self.check_line(check)

    def check_line(self, check: CheckResult) -> None:
        if check.hidden:
            self.line("  ", self.symbol(check.status), " ", check.title)
        elif check.status is Status.SKIP:
            reason = check.message.strip().splitlines()[:1] or [""]
            self.line("  ", self.symbol(check.status), " ", check.id, "  ", (reason[0], "dim"))
        else:
            duration = f"{check.duration_s:.2f}s"
            self.line("  ", self.symbol(check.status), " ", check.id, "  ", (duration, "dim"))
            for line in summary(check.timeline) if check.timeline else ():
                self.line("      ", (line, "dim"))

    def check_details(self, stage: StageResult, check: CheckResult) -> None:
        where = f"{stage.slug} {self.glyphs.then} "
        if check.hidden:
            self.line(self.symbol(check.status), " ", where, (check.title, "bold"))
            self.line("    ", ("hidden check: no details are shown", "dim"))
            return
        name = check.id.partition("/")[2] or check.id
        self.line(self.symbol(check.status), " ", where, (name, "bold"), "  ", check.title)
        for text in [check.message.rstrip(), *field_lines(check), *curl_lines(check)]:
            for line in text.splitlines():
                self.line("    ", line)
        self.service_log(check.log, indent="    ")

    def service_log(self, log: Sequence[str], *, indent: str, prefix: str = SERVICE_PREFIX) -> None:
        shown = list(log) if self.verbose else list(log[-self.log_lines :])
        if len(shown) < len(log):
            omitted = len(log) - len(shown)
            note = f"{prefix}... {omitted} earlier lines (--verbose shows all)"
            self.line(indent, (note, "dim"))
        for entry in shown:
            self.line(indent, (service_line(entry, prefix), "dim"))

    def symbol(self, status: Status) -> tuple[str, str]:
        return self.glyphs.status[status], _STYLE[status]

    # -- output --------------------------------------------------------------------------

    def line(self, *parts: _Part) -> None:
        text = Text()
        for part in parts:
            plain, style = (part, "") if isinstance(part, str) else part
            text.append(self.printable(plain), style=style)
        # soft_wrap: long curl and log lines stay whole, so they can be copied.
        self.console.print(text, soft_wrap=True)

    def blank(self) -> None:
        self.console.print()

    def printable(self, text: str) -> str:
        """``text`` cleaned, and reduced to what the console's encoding can write."""
        text = clean(text)
        if self.glyphs is _UNICODE:
            return text
        return text.encode(self.encoding, errors="replace").decode(self.encoding)


def _pass_mark(result: Result) -> str:
    return "" if result.pass_mark is None else f" (pass mark {result.pass_mark:g})"


def _verdict(result: Result) -> str:
    if result.verdict is not Status.FAIL:
        return result.verdict.value.upper()
    failed = next((stage.slug for stage in result.stages if stage.status is Status.FAIL), None)
    return f"FAIL: fix {failed} first" if failed else "FAIL"
