"""A lab's spec cut into stage sections: what `labctl show LAB --stage SLUG` prints."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labctl.errors import LabError
from labctl.model.lab import Lab, list_labs, load_lab
from labctl.model.spec import section_text, stage_sections
from tests.conftest import ROOT


@pytest.mark.parametrize("lab", list_labs(), ids=lambda lab: lab.id)
def test_every_stage_has_one_section_in_stage_order(lab: Lab) -> None:
    sections = stage_sections(lab.spec_path.read_text(encoding="utf-8"))
    assert [s.slug for s in sections] == [s.slug for s in lab.stages]
    for stage in lab.stages:
        assert section_text(lab, stage.slug).splitlines()[0].startswith("#")


def test_a_section_keeps_its_sub_headings_and_stops_at_the_next_stage() -> None:
    text = section_text(load_lab("url-shortener"), "redirect")
    assert text.startswith("### 3. `redirect`")
    assert "#### Non-ASCII URLs" in text
    assert "`alias`" not in text.splitlines()[-1]
    assert "### 4." not in text


def test_headings_in_code_blocks_and_other_headings_are_not_sections() -> None:
    text = "# Lab\n\n## `health`: up\n\nok\n\n```md\n## `shorten`: fake\n```\n\n## Hints\n\nx\n"
    sections = stage_sections(text)
    assert [(s.slug, s.start, s.end) for s in sections] == [("health", 2, 10)]


def test_a_stage_without_a_section_says_how_to_write_one(tmp_path: Path) -> None:
    lab_dir = tmp_path / "labs" / "url-shortener"
    shutil.copytree(ROOT / "labs" / "url-shortener", lab_dir)
    shutil.copytree(ROOT / "graders", tmp_path / "graders")
    spec = lab_dir / "README.md"
    spec.write_text(spec.read_text().replace("### 4. `alias`", "### 4. Aliases"))
    with pytest.raises(LabError, match="no section for stage 'alias'") as info:
        section_text(load_lab(lab_dir), "alias")
    assert "### 2. `alias`" in info.value.hint
    with pytest.raises(LabError, match="no stage 'aliases'"):
        section_text(load_lab(lab_dir), "aliases")
