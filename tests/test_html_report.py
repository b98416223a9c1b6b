"""The HTML report: self-contained, escaped, every stage, and plots for every load run."""

from __future__ import annotations

import re
from pathlib import Path

from labctl.load._judge import Plan, report
from labctl.load._model import Scenario
from labctl.load._tally import Tally
from labctl.report.html import CHECK_SECTIONS, render_html, write_html
from labctl.results import CheckResult, Result, StageResult, Status
from tests.test_grading_runtime import toy


def load_run(seconds: int = 5) -> dict[str, object]:
    tally = Tally()
    for t in range(seconds):
        for i in range(100):
            tally.record(t, 0.0002, 0.002 + (0.3 if i == 99 else 0), 0.002)
            tally.answered(302)
    tally.first_slot, tally.last_done, tally.cpu_s, tally.wall_s = 100.0, 105.0, 0.5, 5.0
    plan = Plan("http://127.0.0.1:1", Scenario.get("/x"), rate=100, duration_s=seconds, warmup_s=0)
    return report(plan, tally).to_dict()


def result() -> Result:
    latency = CheckResult(
        "latency/budget",
        "Redirects hold <their> budget",
        Status.FAIL,
        points=5,
        message="p99 latency at 100 req/s was 300.0 ms <script>alert(1)</script>",
        load=(load_run(),),
    )
    secret = CheckResult("latency/secret", "secret", Status.PASS, hidden=True, load=(load_run(),))
    stages = (
        StageResult(
            "health", "Health", Status.PASS, checks=(CheckResult("health/ok", "ok", Status.PASS),)
        ),
        StageResult("latency", "Latency", Status.FAIL, checks=(latency, secret)),
    )
    return Result("url-shortener", 7, Status.FAIL, 1, 12.5, stages)


def test_the_page_is_self_contained_and_escaped() -> None:
    page = render_html(result())
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Redirects hold &lt;their&gt; budget" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert page.count("http://www.w3.org/2000/svg") == 2  # two plots, of the visible run only


def test_every_stage_and_check_appears_with_its_status() -> None:
    page = render_html(result())
    for text in ("health", "latency/budget", "latency/secret", "seed 7"):
        assert text in page
    assert ">fail<" in page
    assert ">pass<" in page


def test_a_load_run_shows_percentiles_over_time_and_the_distribution() -> None:
    page = render_html(result())
    assert "Load run 1: 100 req/s offered" in page
    assert "second of the run" in page
    assert "latency from intended send" in page
    assert page.count("<polyline") == 3  # p50, p99, max over time
    assert "<rect" in page


def test_sections_are_small_functions_another_module_can_add_to() -> None:
    def points(check: CheckResult) -> str:
        return f"<p>points: {check.points}</p>"

    CHECK_SECTIONS.append(points)
    try:
        assert "<p>points: 5</p>" in render_html(result())
    finally:
        CHECK_SECTIONS.remove(points)


def test_the_file_is_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    write_html(result(), target)
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_check_writes_the_html_report(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    run = toy(tmp_path, "--stage", "basics", "--seed", "5", "--html", str(page))
    assert run.code == 1, run.stdout
    text = page.read_text(encoding="utf-8")
    assert "basics/ok-answers-201" in text
    assert "201 Created" in text
