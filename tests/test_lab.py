"""lab.toml loading: the bundled labs are valid, and every mistake names file, key and fix."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from labctl.errors import LabError
from labctl.model.lab import labs_building_on, list_labs, load_lab
from tests.conftest import ROOT


def test_bundled_labs_load() -> None:
    labs = {lab.id: lab for lab in list_labs()}
    lab = labs["url-shortener"]
    assert [s.slug for s in lab.stages] == [
        "health",
        "shorten",
        "redirect",
        "alias",
        "stats",
        "persistence",
        "latency",
        "cache-outage",
        "graceful-shutdown",
        "db-outage",
    ]
    assert {d.env for d in lab.dependencies} == {"DATABASE_URL", "REDIS_URL"}
    assert lab.spec_path.is_file()


@pytest.mark.parametrize("lab", list_labs(), ids=lambda lab: lab.id)
def test_grader_markers_match_lab_stages(lab: object) -> None:
    """Every stage has checks in its own grader file, and every grader file names a real stage."""
    stages = {s.slug for s in lab.stages}  # type: ignore[attr-defined]
    marked = {}
    for path in sorted(lab.graders_dir.glob("test_*.py")):  # type: ignore[attr-defined]
        marked[path.name] = _module_stage(path)
    assert set(marked.values()) == stages
    assert all(name == f"test_{slug.replace('-', '_')}.py" for name, slug in marked.items())


def _module_stage(path: Path) -> str:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            call = node.value
            assert isinstance(call, ast.Call)
            assert isinstance(call.args[0], ast.Constant)
            return str(call.args[0].value)
    raise AssertionError(f"{path} has no pytestmark = stage(...)")


def test_select_adds_needs_and_keeps_lab_order() -> None:
    lab = load_lab("url-shortener")
    assert [s.slug for s in lab.select(("alias",))] == ["shorten", "redirect", "alias"]
    assert [s.slug for s in lab.select((), "redirect")] == ["health", "shorten", "redirect"]
    assert len(lab.select()) == len(lab.stages)


def test_unknown_stage_names_the_known_ones() -> None:
    with pytest.raises(LabError, match="no stage 'redirects'") as info:
        load_lab("url-shortener").select(("redirects",))
    assert "redirect" in info.value.hint


def test_budgets_are_read_from_lab_toml() -> None:
    budget = load_lab("url-shortener").budget("latency")
    assert (budget.rate, budget.p99_ms, budget.max_error_rate) == (100, 100, 0.0)
    assert budget.min_achieved_rps == 95
    with pytest.raises(LabError, match="no budget 'throughput'") as info:
        load_lab("url-shortener").budget("throughput")
    assert "[budgets.throughput]" in info.value.hint


def test_labs_building_on_a_lab_come_from_their_builds_on() -> None:
    shortener, payments = load_lab("url-shortener"), load_lab("idempotent-payments")
    assert payments.builds_on == ("url-shortener",)
    assert [lab.id for lab in labs_building_on(shortener)] == ["idempotent-payments"]
    assert [lab.id for lab in labs_building_on(payments)] == ["bank-transfers"]
    assert labs_building_on(load_lab("bank-transfers")) == []


def test_a_closed_model_budget_names_its_clients_and_needs_a_rate_to_reach() -> None:
    budget = load_lab("bank-transfers").budget("throughput")
    assert (budget.clients, budget.rate, budget.duration_s) == (50, 0.0, 10)
    assert (budget.p99_ms, budget.min_achieved_rps) == (200, 400)


def test_unknown_lab_lists_the_labs() -> None:
    with pytest.raises(LabError) as info:
        load_lab("url-shortner")
    assert "url-shortener" in info.value.hint


def _broken_lab(tmp_path: Path, old: str, new: str) -> Path:
    lab = tmp_path / "labs" / "url-shortener"
    shutil.copytree(ROOT / "labs" / "url-shortener", lab)
    shutil.copytree(ROOT / "graders", tmp_path / "graders")
    text = (lab / "lab.toml").read_text()
    assert old in text
    (lab / "lab.toml").write_text(text.replace(old, new, 1))
    return lab


@pytest.mark.parametrize(
    ("old", "new", "key", "fix"),
    [
        ('kind = "postgres"', 'kind = "mysql"', "dependencies.postgres.kind", "postgres, redis"),
        ('env = "DATABASE_URL"', 'env = "database-url"', "dependencies.postgres.env", "upper-case"),
        ('needs = ["shorten"]', 'needs = ["stats"]', "stages.redirect.needs", "listed before"),
        ('slug = "alias"', 'slug = "Alias!"', "stages[3].slug", "lower-case"),
        ("timeout = 10", "timeout = -1", "stages[0].timeout", "positive number"),
        ('title = "URL shortener"', "", "title", "add title"),
        ('graders = "url_shortener"', 'graders = "nope"', "", "--graders"),
        ('id = "url-shortener"', 'id = "shortener"', "id", "same"),
        ("[[stages]]", "[[stages]", "", "fix the syntax"),
        ("p99_ms = 100", 'p99_ms = "fast"', "budgets.latency.p99_ms", "positive number"),
        ("rate = 100 ", "ratee = 100 ", "budgets.latency.rate", "add rate"),
        ("max_error_rate = 0.0", "max_error_rate = 2", "budgets.latency.max_error_rate", "0 to 1"),
        (
            "min_achieved_rps = 95",
            "min_achieved_rps = 500",
            "budgets.latency.min_achieved_rps",
            "lower",
        ),
        ("rate = 100 ", "clients = 5\nrate = 100 ", "budgets.latency.rate", "closed model"),
        (
            "[budgets.latency]",
            "[budgets]\nlatency = 3\n[budgetz]",
            "budgets.latency",
            "[budgets.latency]",
        ),
        (
            'graders = "url_shortener"',
            'graders = "url_shortener"\nbuilds_on = ["nope"]',
            "builds_on",
            "labs here: url-shortener",
        ),
        (
            'graders = "url_shortener"',
            'graders = "url_shortener"\nbuilds_on = ["url-shortener"]',
            "builds_on",
            "before it",
        ),
        (
            'graders = "url_shortener"',
            'graders = "url_shortener"\nbuilds_on = "x"',
            "builds_on",
            "list of strings",
        ),
    ],
)
def test_invalid_lab_toml_names_file_key_and_fix(
    tmp_path: Path, old: str, new: str, key: str, fix: str
) -> None:
    lab = _broken_lab(tmp_path, old, new)
    with pytest.raises(LabError) as info:
        load_lab(lab)
    assert str(lab / "lab.toml") in info.value.message
    assert f"'{key}'" in info.value.message or not key
    assert fix in info.value.hint
